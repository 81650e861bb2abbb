"""The class comes from the stack, not from the config chosen by stack name: dev's config says
internal, but a team's bucket next to the platform holds restricted data, so the whole stack is
restricted, and the platform's text-embedder canary version 2 (cleared up to confidential), served
by a team Deployment, is refused."""
import json

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from _platform import platform

EXPECT = {"stack": "dev", "refused": [
    ("model-approval", "team-embedder-v2", "not for this stack's 'restricted'"),
]}

V2 = {"name": "text-embedder", "version": "2", "track": "stable",
      "digest": "sha256:952e57ff62d3bb6fbecd73f4dfd511b0b400721a1b3bba6d6439d084f87dde1c"}

p = platform()
region = p.regions["us-east-1"]
aws.s3.BucketV2("team-patient-notes", bucket="acme-team-patient-notes-use1",
                tags={"owner": "care-ml", "team": "care", "cost-center": "cc-7001",
                      "data-classification": "restricted"},
                opts=pulumi.ResourceOptions(provider=region.provider))
k8s.core.v1.ConfigMap("team-embedder-v2", metadata={"name": "team-embedder-v2", "namespace": "default"},
                      data={"aiplat-models.json": json.dumps([V2])},
                      opts=pulumi.ResourceOptions(provider=region.cluster.kube_provider))
