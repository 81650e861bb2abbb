"""Providers that do not say where: a topic on the default GCP provider (dev's stack config sets
no gcp:region, so the engine's default provider has none), a GCP provider with only a zone in the
EU (its topic lands in europe-west4), and a Kubernetes provider whose kubeconfig names no cluster
anyone can place."""
import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from _platform import platform

EXPECT = {"stack": "dev", "refused": [
    ("data-residency", "team-default-topic",
     "its default provider (no explicit provider: stack config gcp:region) sets no region or zone"),
    ("data-residency", "team-zonal-topic", "provider zone = 'europe-west4-a' is in jurisdiction 'eu'"),
    ("data-residency", "team-elsewhere", "names no cluster this policy can place"),
]}

p = platform()
gcp.pubsub.Topic("team-default-topic")  # no provider: the engine's default gcp provider
zonal = gcp.Provider("team-zonal", project="acme-team", zone="europe-west4-a")
gcp.pubsub.Topic("team-zonal-topic", opts=pulumi.ResourceOptions(provider=zonal))
far = k8s.Provider("team-far-cluster", kubeconfig='{"clusters": [{"cluster": {"server": "https://10.1.2.3"}}]}')
k8s.core.v1.ConfigMap("team-elsewhere", metadata={"name": "team-elsewhere"}, data={"a": "b"},
                      opts=pulumi.ResourceOptions(provider=far))
