"""gcp-prod with an AWS type for its system nodes: the type was never validated (any string, any
cloud). Refused: exit 2 naming `cluster.system_nodes.instance_type`."""

from _platform import platform

EXPECT = {
    "stack": "gcp-prod",
    "platform_patch": {"cluster": {"system_nodes": {"instance_type": "m6i.large"}}},
    "errors": ["cluster.system_nodes.instance_type", "is not a GCP type of the instance catalog"],
    "exit": 2,
}

platform()
