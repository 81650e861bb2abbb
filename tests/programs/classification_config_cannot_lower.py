"""A policy config may raise the class, never lower it: the stack (platform.data_classification)
says restricted, dev's policy config still says internal. linear-classifier version 1 is cleared up
to confidential, so the ConfigMap that serves it is refused for the stack's restricted class."""
import json

import pulumi
import pulumi_kubernetes as k8s

from _platform import platform

EXPECT = {
    "stack": "dev",
    "platform_patch": {"data_classification": "restricted"},
    "refused": [("model-approval", "team-classifier", "not for this stack's 'restricted'")],
}

CLASSIFIER = {"name": "linear-classifier", "version": "1", "track": "stable",
              "digest": "sha256:d875ea4ded014fcd112957d096ac6e26972b78496f7638d29f78dae4cd96e8ad"}

p = platform()
k8s.core.v1.ConfigMap("team-classifier", metadata={"name": "team-classifier", "namespace": "default"},
                      data={"aiplat-models.json": json.dumps([CLASSIFIER])},
                      opts=pulumi.ResourceOptions(provider=p.regions["us-east-1"].cluster.kube_provider))
