"""The passing fixture: dev with its own, correctly spelled policy config, plus a raw bucket
next to the platform in the stack's region. Strict config checking refuses nothing here."""

import pulumi_aws as aws

from _platform import platform

EXPECT = {
    "stack": "dev",
    "passes": ["data-residency", "spend-cap", "model-approval"],
}

platform()
aws.s3.Bucket("config-fixture-notes", tags={"owner": "ml-platform", "team": "inference", "cost-center": "cc-4410",
                                            "data-classification": "internal"})
