"""A data-residency entry that sets only its level: the required residency zone is missing, and
no default stands in for it. Refused: exit 2 naming `data-residency.residencyZone`."""

from _platform import platform

EXPECT = {
    "stack": "dev",
    "policy_config": {
        "all": {"enforcementLevel": "advisory"},
        "data-residency": {"enforcementLevel": "mandatory"},
    },
    "errors": ["data-residency.residencyZone"],
    "exit": 2,
}

platform()
