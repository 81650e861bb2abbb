"""`tags.extra` overriding the chargeback and classification tags (with values GCP rejects): the
platform's own tags were silently replaced. Refused: exit 2, each key named."""

from _platform import platform

EXPECT = {
    "stack": "dev",
    "platform_patch": {"tags": {"extra": {"owner": "Someone Else", "cost-center": "cc-0000",
                                          "data-classification": "public", "Service": "x"}}},
    "errors": ["tags.extra.owner", "tags.extra.cost-center", "tags.extra.data-classification", "tags.extra.Service",
               "is set by the platform"],
    "exit": 2,
}

platform()
