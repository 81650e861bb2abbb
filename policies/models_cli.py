"""``aiplat models approve --from-sagemaker GROUP``: import approvals into approved_models.yaml.

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

import argparse
import datetime as dt
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from aiplat.errors import ConfigError, UsageError
from aiplat.policies.model_approval import CATALOG_PATH, CLASSIFICATIONS, DIGEST_RE, ApprovedModel, load_catalog

META = "aiplat:"


def register(sub) -> None:
    """Add ``approve`` under ``models`` (serving.cli owns the ``models`` parser when loaded first)."""
    models = sub.choices.get("models")
    if models is None:
        models = sub.add_parser("models", help="model repositories and approvals")
        actions = models.add_subparsers(dest="models_command", metavar="ACTION", parser_class=type(models))
        actions.required = True
    else:
        actions = next(a for a in models._actions if isinstance(a, argparse._SubParsersAction))
    p = actions.add_parser("approve", help="import Approved versions of a SageMaker Model Registry group")
    p.add_argument("--from-sagemaker", dest="group", metavar="GROUP", required=True,
                   help="model package group name")
    p.add_argument("--region", help="AWS region of the registry (default: the AWS SDK's)")
    p.add_argument("--classification", action="append", choices=CLASSIFICATIONS, default=None,
                   help="data classification the versions are approved for (repeatable; overrides the "
                        "packages' aiplat:classifications)")
    p.add_argument("--approver", help="who approved (default: the registry's LastModifiedBy/CreatedBy)")
    p.add_argument("--valid-days", type=int, default=365, help="approval lifetime from today (default 365)")
    p.add_argument("--catalog", default=str(CATALOG_PATH), help="catalog file (default policies/approved_models.yaml)")
    p.add_argument("--endpoint-url", help="SageMaker endpoint (tests, VPC endpoints)")
    p.set_defaults(func=run)


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


def run(args) -> int:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    path = Path(args.catalog)
    if not path.is_file():
        raise UsageError(f"catalog not found: {path}")
    if args.valid_days <= 0:
        raise UsageError("--valid-days must be positive")
    load_catalog(path)  # refuse to merge into a broken catalog (ConfigError, exit 2)
    try:
        client = boto3.client("sagemaker", region_name=args.region, endpoint_url=args.endpoint_url)
        packages = fetch_approved(client, args.group)
    except ClientError as exc:
        raise UsageError(f"SageMaker: {exc.response['Error'].get('Message', exc)}") from None
    except BotoCoreError as exc:
        raise UsageError(f"SageMaker: {exc}") from None
    today = dt.date.today()
    entries, skipped = to_entries(args.group, packages, args.classification, args.approver, today, args.valid_days)
    if entries:
        merge_into_catalog(path, entries, today)
    for e in entries:
        print(f"approved {e.name} version {e.version} {e.digest} for {', '.join(e.classifications)} "
              f"until {e.expires} ({e.source})")
    for s in skipped:
        print(f"skipped {s}", file=sys.stderr)
    if not packages:
        print(f"no Approved versions in model package group {args.group!r}", file=sys.stderr)
    return 1 if skipped else 0


__all__ = ["register", "run", "fetch_approved", "to_entries", "merge_into_catalog", "ConfigError"]
