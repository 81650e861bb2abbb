"""Import SageMaker Model Registry approvals into the model-approval catalog (``aiplat models approve``).

SageMaker Model Registry is where many ML teams record "this version may ship". This
command reads the Approved versions of one model package group (boto3) and writes them
into ``policies/approved_models.yaml``, the catalog the ``model-approval`` policy checks.

What a package must carry (``CustomerMetadataProperties``), because the registry has no
field for them:
    aiplat:digest           sha256:<64 hex>, the content digest `aiplat models digest` prints (required)
    aiplat:model            Triton model name (default: the group name)
    aiplat:version          Triton model version (default: the package's ModelPackageVersion)
    aiplat:classifications  comma list, e.g. "internal,confidential" (or --classification)
Versions without a valid digest or any classification are listed and skipped (exit 1),
never imported half-described. Re-importing replaces entries with the same name and
version; other entries are kept.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from aiplat.policies.model_approval import CLASSIFICATIONS, DIGEST_RE, ApprovedModel, load_catalog

META = "aiplat:"


def _who(desc: dict[str, Any]) -> str | None:
    for key in ("LastModifiedBy", "CreatedBy"):
        who = desc.get(key) or {}
        if who.get("UserProfileName"):
            return who["UserProfileName"]
        if (who.get("IamIdentity") or {}).get("Arn"):
            return who["IamIdentity"]["Arn"]
    return None


def fetch_approved(client, group: str) -> list[dict[str, Any]]:
    """Full descriptions of the group's Approved packages, oldest version first."""
    # Listing an unknown group returns nothing; describing it fails. A typo must not look
    # like "no approved versions".
    client.describe_model_package_group(ModelPackageGroupName=group)
    summaries, token = [], None
    while True:
        kwargs = {"ModelPackageGroupName": group, "ModelApprovalStatus": "Approved", "MaxResults": 100}
        if token:
            kwargs["NextToken"] = token
        page = client.list_model_packages(**kwargs)
        summaries += page.get("ModelPackageSummaryList", [])
        token = page.get("NextToken")
        if not token:
            break
    out = [client.describe_model_package(ModelPackageName=s["ModelPackageArn"]) for s in summaries]
    return sorted(out, key=lambda d: d.get("ModelPackageVersion", 0))


def to_entries(group: str, packages: list[dict[str, Any]], classifications: list[str] | None, approver: str | None,
               today: dt.date, valid_days: int) -> tuple[list[ApprovedModel], list[str]]:
    entries, skipped = [], []
    for d in packages:
        meta = d.get("CustomerMetadataProperties") or {}
        arn = d["ModelPackageArn"]
        digest = meta.get(f"{META}digest", "")
        classes = classifications or [c.strip() for c in meta.get(f"{META}classifications", "").split(",")
                                      if c.strip()]
        bad = [c for c in classes if c not in CLASSIFICATIONS]
        if not DIGEST_RE.match(digest):
            skipped.append(f"{arn}: no valid {META}digest (sha256:<64 hex>) in CustomerMetadataProperties")
            continue
        if not classes or bad:
            skipped.append(f"{arn}: classifications {bad or 'missing'}; pass --classification or set "
                           f"{META}classifications")
            continue
        entries.append(ApprovedModel(
            name=meta.get(f"{META}model", group),
            version=str(meta.get(f"{META}version", d.get("ModelPackageVersion"))),
            digest=digest,
            classifications=classes,
            approver=approver or _who(d) or f"sagemaker:{group}",
            approved=today,
            expires=today + dt.timedelta(days=valid_days),
            source=arn,
        ))
    return entries, skipped


def merge_into_catalog(path: Path, entries: list[ApprovedModel], today: dt.date) -> None:
    """Replace same name+version entries, keep the rest, keep the file's comment header."""
    catalog = load_catalog(path)
    new = {(e.name, e.version): e for e in entries}
    models = [m for m in catalog.models if (m.name, m.version) not in new] + list(new.values())
    header = "".join(line for line in path.read_text().splitlines(keepends=True)
                     if line.startswith("#")) if path.exists() else ""
    doc = {"source": catalog.source, "date": today.isoformat(),
           "models": [m.model_dump(mode="json", exclude_none=True) for m in models]}
    text = header + yaml.safe_dump(doc, sort_keys=False, width=120)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".approved-", suffix=".yaml")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)
    load_catalog(path)  # what we wrote must read back
