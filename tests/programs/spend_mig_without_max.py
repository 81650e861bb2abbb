"""A regional managed instance group of GPU machines with no target size and no autoscaler: its size
has no maximum the graph shows, so it cannot be priced at full scale and is refused."""
import pulumi
import pulumi_gcp as gcp

from _platform import platform

plat = platform()
raw = gcp.Provider("raw-gcp", project="acme-inference-prod", region="us-central1")
# wait for the API, as the deploy analysis requires of every resource in the project
opts = pulumi.ResourceOptions(provider=raw, depends_on=[plat.apis.service("compute.googleapis.com")])
LABELS = {"owner": "ml-platform", "team": "inference", "cost-center": "cc-4410", "data-classification": "confidential"}

EXPECT = {"stack": "gcp-prod", "refused": [
    ("spend-cap", "raw-gpu-mig", "no targetSize and no autoscaler with maxReplicas")]}

template = gcp.compute.InstanceTemplate(
    "raw-gpu-template", machine_type="g2-standard-8", labels=LABELS,
    disks=[{"source_image": "debian-cloud/debian-12", "boot": True}],
    network_interfaces=[{"network": "default"}], scheduling={"on_host_maintenance": "TERMINATE"}, opts=opts)
gcp.compute.RegionInstanceGroupManager(
    "raw-gpu-mig", base_instance_name="raw-gpu", region="us-central1",
    versions=[{"instance_template": template.self_link_unique}], opts=opts)
