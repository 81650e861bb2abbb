"""Passing fixture: a GCP ingress firewall rule limited to the VPC's own ranges and a health-check
source is judged and passes; the CIDR check does not refuse GCP firewalls wholesale."""
import pulumi
import pulumi_gcp as gcp

from _platform import platform

plat = platform()
raw = gcp.Provider("raw-gcp", project="acme-inference-prod", region="us-central1")
# wait for the API, as the deploy analysis requires of every resource in the project
opts = pulumi.ResourceOptions(provider=raw, depends_on=[plat.apis.service("compute.googleapis.com")])

EXPECT = {"stack": "gcp-prod", "passes": ["security-baseline"]}

gcp.compute.Firewall("raw-internal-fw", network="default", direction="INGRESS",
                     source_ranges=["10.50.0.0/16", "10.51.0.0/16"],
                     allows=[{"protocol": "tcp", "ports": ["8000"]}], opts=opts)
