"""Passing fixture: a team's ConfigMap labelled public cannot lower the stack below the platform's
internal class, and the text-embedder version 1 it serves is cleared for internal data (indeed for
every class), so model-approval passes."""
import json

import pulumi
import pulumi_kubernetes as k8s

from _platform import platform

EXPECT = {"stack": "dev", "passes": ["model-approval"]}

V1 = {"name": "text-embedder", "version": "1", "track": "stable",
      "digest": "sha256:b3759ee087a442adba07024ae672f16c70fd7236c98869a11b8194ac620723f3"}

p = platform()
k8s.core.v1.ConfigMap("team-embedder", metadata={"name": "team-embedder", "namespace": "default",
                                                 "labels": {"aiplat.io/data-classification": "public"}},
                      data={"aiplat-models.json": json.dumps([V1])},
                      opts=pulumi.ResourceOptions(provider=p.regions["us-east-1"].cluster.kube_provider))
