"""dev's system pool on an 8-GPU type with no real cap: the system nodes run only the add-ons, and
`max_nodes` was unbounded. Both refused at once: exit 2, each key path named."""

from _platform import platform

EXPECT = {
    "stack": "dev",
    "platform_patch": {"cluster": {"system_nodes": {"instance_type": "p5.48xlarge", "max_nodes": 400}}},
    "errors": ["cluster.system_nodes.instance_type", "is a GPU type", "cluster.system_nodes.max_nodes",
               "at most 20"],
    "exit": 2,
}

platform()
