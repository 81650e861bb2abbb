"""An empty policy config: data-residency has no residency zone to judge against (it used to
default to `global`, i.e. no residency at all). The zone is required: exit 2 naming it."""

from _platform import platform

EXPECT = {
    "stack": "dev",
    "policy_config": {},
    "errors": ["data-residency.residencyZone"],
    "exit": 2,
}

platform()
