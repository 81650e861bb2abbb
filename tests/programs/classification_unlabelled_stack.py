"""A stack that declares no class at all cannot be judged: a program serving an approved model
through its own provider and cluster, without the platform and without any data-classification
tag or label, is refused as "cannot judge" instead of being judged against a class from the
policy config. (The platform itself labels everything; this program does not build it.)"""
import json

import pulumi
import pulumi_kubernetes as k8s

EXPECT = {"stack": "dev", "refused": [
    ("model-approval", "bare-embedder", "cannot judge: the stack declares no data-classification tag or label"),
]}

V1 = {"name": "text-embedder", "version": "1", "track": "stable",
      "digest": "sha256:b3759ee087a442adba07024ae672f16c70fd7236c98869a11b8194ac620723f3"}

kube = k8s.Provider("bare-k8s", kubeconfig="{}")
k8s.core.v1.ConfigMap("bare-embedder", metadata={"name": "bare-embedder", "namespace": "default"},
                      data={"aiplat-models.json": json.dumps([V1])}, opts=pulumi.ResourceOptions(provider=kube))
