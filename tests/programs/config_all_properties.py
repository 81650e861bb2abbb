"""Properties under `all`: the CLI reads only `all`'s enforcement level, so a residency zone put
there reaches no policy. Refused: exit 2 naming `all.<property>`."""

from _platform import platform

EXPECT = {
    "stack": "dev",
    "policy_config": {
        "all": {"enforcementLevel": "mandatory", "residencyZone": "us"},
    },
    "errors": ["all.residencyZone"],
    "exit": 2,
}

platform()
