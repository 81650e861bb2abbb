"""`maxMonthlyUSD` for `maxMonthlyUsd`: the stack's real cap never reached spend-cap, which priced
against its default. Refused: exit 2 naming the property and the spelling it meant."""

from _platform import platform

EXPECT = {
    "stack": "dev",
    "policy_config": {
        "all": {"enforcementLevel": "advisory"},
        "data-residency": {"enforcementLevel": "mandatory", "residencyZone": "us"},
        "spend-cap": {"enforcementLevel": "mandatory", "maxMonthlyUSD": 3000},
    },
    "errors": ["spend-cap.maxMonthlyUSD", "did you mean 'maxMonthlyUsd'?"],
    "exit": 2,
}

platform()
