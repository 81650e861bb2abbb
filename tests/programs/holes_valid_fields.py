"""The passing fixture: every field the holes class validates, set to a valid value (a listed
system node type, a larger system pool, extra tags that are GCP labels, a pool zone
subset). The stack builds and the pack passes it."""

from _platform import platform

EXPECT = {
    "stack": "dev",
    "platform_patch": {
        "cluster": {"system_nodes": {"instance_type": "m6i.xlarge", "min_nodes": 2, "max_nodes": 6}},
        "tags": {"extra": {"service": "assistant-inference", "tier": "dev"}},
        "regions": [{"name": "us-east-1", "cidr": "10.10.0.0/16", "zones": ["us-east-1a", "us-east-1b"],
                     "gpu_pools": [{"name": "llm", "instance_type": "g6.xlarge", "reserved_nodes": 0,
                                    "max_nodes": 2, "zones": ["us-east-1a"]}]}],
    },
    "passes": ["data-residency", "required-tags", "model-approval"],
}

platform()
