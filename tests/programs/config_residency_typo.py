"""A typo in the residency key: `residencyzone` used to be accepted and ignored, so data-residency
judged the stack against its permissive default zone. Refused: exit 2 naming the property."""

from _platform import platform

EXPECT = {
    "stack": "dev",
    "policy_config": {
        "all": {"enforcementLevel": "advisory"},
        "data-residency": {"enforcementLevel": "mandatory", "residencyzone": "us"},
    },
    "errors": ["data-residency.residencyzone", "did you mean 'residencyZone'?"],
    "exit": 2,
}

platform()
