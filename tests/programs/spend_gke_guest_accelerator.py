"""A GKE node pool that adds guest accelerators the catalog does not price (H100s on an L4 machine):
the accelerators are billed on top of the machine, so an unpriced accelerator is refused, not free."""
import pulumi
import pulumi_gcp as gcp

from _platform import platform

plat = platform()
raw = gcp.Provider("raw-gcp", project="acme-inference-prod", region="us-central1")
# wait for the API, as the deploy analysis requires of every resource in the project
opts = pulumi.ResourceOptions(provider=raw, depends_on=[plat.apis.service("container.googleapis.com")])

EXPECT = {"stack": "gcp-prod", "refused": [
    ("spend-cap", "raw-h100-pool", "guest accelerator 2x nvidia-h100-80gb on g2-standard-8 is not in the catalog")]}

gcp.container.NodePool(
    "raw-h100-pool", cluster="projects/acme-inference-prod/locations/us-central1/clusters/raw",
    location="us-central1", node_locations=["us-central1-a"], autoscaling={"min_node_count": 0, "max_node_count": 2},
    node_config={"machine_type": "g2-standard-8",
                 "guest_accelerators": [{"type": "nvidia-h100-80gb", "count": 2}]}, opts=opts)
