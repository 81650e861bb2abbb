"""Passing fixture: a team's own Triton Deployment next to the platform that publishes the approved
text-embedder version 1 under its own prefix of the platform's model bucket and declares exactly
what its args load."""
import json

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from aiplat.refs import TRITON_IMAGE  # the image the platform's own Triton runs
from _platform import PROJECT_ROOT, platform

EXPECT = {"stack": "dev", "passes": ["model-approval", "data-residency"]}

DIGEST = "sha256:b3759ee087a442adba07024ae672f16c70fd7236c98869a11b8194ac620723f3"
BUCKET = "acme-aiplat-dev-us-east-1-embed"
PREFIX = "team/text-embedder/v1"
APPROVED = {"name": "text-embedder", "version": "1", "track": "stable", "digest": DIGEST,
            "repository": f"s3://{BUCKET}/{PREFIX}"}
ANNOTATIONS = {"aiplat.io/models": json.dumps([APPROVED])}
TAGS = {"owner": "ml-platform", "team": "inference", "cost-center": "cc-4410", "environment": "dev",
        "data-classification": "internal"}

p = platform()
region = p.regions["us-east-1"]
endpoint = region.endpoints["embed"]
models = PROJECT_ROOT / "build" / "models" / "text-embedder"
objects = [aws.s3.BucketObjectv2(f"team-{key}", bucket=endpoint.bucket, key=f"{PREFIX}/text-embedder/{key}",
                                 source=pulumi.FileAsset(str(models / path)), kms_key_id=endpoint.kms_key,
                                 server_side_encryption="aws:kms", tags=TAGS,
                                 metadata={"aiplat-model": "text-embedder", "aiplat-version": "1",
                                           "aiplat-digest": DIGEST},
                                 opts=pulumi.ResourceOptions(provider=region.provider))
           for key, path in (("config.pbtxt", "configs/v1.pbtxt"), ("1/model.py", "1/model.py"))]
k8s.apps.v1.Deployment("team-triton", metadata={"name": "team-triton", "namespace": "triton-embed",
                                                 "annotations": ANNOTATIONS},
    spec={"replicas": 1, "selector": {"matchLabels": {"app": "team-triton"}},
          "template": {"metadata": {"labels": {"app": "team-triton"}, "annotations": ANNOTATIONS}, "spec": {
              "automountServiceAccountToken": False,
              "volumes": [{"name": "tmp", "emptyDir": {}}],
              "securityContext": {"runAsNonRoot": True, "runAsUser": 1000,
                                  "seccompProfile": {"type": "RuntimeDefault"}},
              "containers": [{
                  "name": "triton", "command": ["tritonserver"],
                  "image": TRITON_IMAGE,
                  "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                  "args": [f"--model-repository={APPROVED['repository']}", "--model-control-mode=explicit",
                           "--load-model=text-embedder", "--exit-on-error=true"],
                  "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True,
                                      "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": True},
                  "resources": {"requests": {"cpu": "1", "memory": "2Gi"},
                                "limits": {"cpu": "1", "memory": "2Gi"}}}]}}},
    opts=pulumi.ResourceOptions(provider=region.cluster.kube_provider, depends_on=objects))
