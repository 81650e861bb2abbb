"""A GCP ingress firewall rule with no source ranges, tags or service accounts: GCP applies it to
0.0.0.0/0, so in production it opens the inference port to the whole Internet."""
import pulumi
import pulumi_gcp as gcp

from _platform import platform

plat = platform()
raw = gcp.Provider("raw-gcp", project="acme-inference-prod", region="us-central1")
# wait for the API, as the deploy analysis requires of every resource in the project
opts = pulumi.ResourceOptions(provider=raw, depends_on=[plat.apis.service("compute.googleapis.com")])

EXPECT = {"stack": "gcp-prod", "refused": [
    ("security-baseline", "raw-triton-fw", "sourceRanges 0.0.0.0/0 admits the public Internet")]}

gcp.compute.Firewall("raw-triton-fw", network="default", direction="INGRESS",
                     allows=[{"protocol": "tcp", "ports": ["8000"]}], opts=opts)
