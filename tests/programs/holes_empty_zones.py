"""A GPU pool with `zones: []`: an empty list silently meant every zone of the region. Refused:
exit 2 naming `regions[0].gpu_pools[0].zones`."""

from _platform import platform

EXPECT = {
    "stack": "dev",
    "platform_patch": {"regions": [{"name": "us-east-1", "cidr": "10.10.0.0/16", "zones": ["us-east-1a", "us-east-1b"],
                                    "gpu_pools": [{"name": "llm", "instance_type": "g6.xlarge", "reserved_nodes": 0,
                                                   "max_nodes": 2, "zones": []}]}]},
    "errors": ["regions[0].gpu_pools[0].zones", "an empty list is not 'all'"],
    "exit": 2,
}

platform()
