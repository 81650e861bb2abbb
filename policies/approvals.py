"""Write approvals into the model-approval catalog (``aiplat models approve``): SageMaker imports, evaluations.

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
version; other entries are kept, and so are the evaluations of a re-imported entry whose
digest did not change (they belong to the artifact).

``attach_evaluation`` records an ``aiplat eval --json`` report on an entry that is
already approved (``aiplat models approve --model M --version V --evaluation REPORT``):
the report must be of that model and version and carry the entry's digest as its
``model_digest``; it replaces an earlier evaluation on the same dataset.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from pydantic import ValidationError

from aiplat.errors import ConfigError, Problem, UsageError, format_path
from aiplat.policies.model_approval import (CLASSIFICATIONS, DIGEST_RE, ApprovedModel, EvaluationRecord,
                                            load_catalog)

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
    for old in catalog.models:
        e = new.get((old.name, old.version))
        if e is not None and not e.evaluations and old.evaluations and e.digest == old.digest:
            new[(e.name, e.version)] = e.model_copy(update={"evaluations": old.evaluations})
    models = [m for m in catalog.models if (m.name, m.version) not in new] + list(new.values())
    header = "".join(line for line in path.read_text().splitlines(keepends=True)
                     if line.startswith("#")) if path.exists() else ""
    doc = {"source": catalog.source, "date": today.isoformat(), "models": [_entry_doc(m) for m in models]}
    text = header + yaml.safe_dump(doc, sort_keys=False, width=120)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".approved-", suffix=".yaml")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)
    load_catalog(path)  # what we wrote must read back


def _entry_doc(m: ApprovedModel) -> dict[str, Any]:
    doc = m.model_dump(mode="json", exclude_none=True)
    if not doc.get("evaluations"):
        doc.pop("evaluations", None)  # entries without evaluations stay as they were written
    return doc


def evaluation_record(report: Any, report_bytes: bytes, source: str) -> tuple[str, str, EvaluationRecord]:
    """(model, version, record) from an ``aiplat eval --json`` report; ConfigError naming the report's bad keys."""
    if not isinstance(report, dict) or report.get("kind") != "aiplat-eval-report":
        raise ConfigError([Problem("kind", "not an aiplat eval report (expected kind: aiplat-eval-report)")], source)
    problems = []
    for key in ("model", "version", "model_digest", "server", "date", "passed"):
        if report.get(key) in (None, ""):
            hint = ("; run aiplat eval with --model-digest or --repository" if key == "model_digest"
                    else "; run aiplat eval with --version" if key == "version" else "")
            problems.append(Problem(key, f"missing{hint}"))
    dataset = report.get("dataset") if isinstance(report.get("dataset"), dict) else {}
    if not dataset:
        problems.append(Problem("dataset", "missing"))
    if problems:
        raise ConfigError(problems, source)
    baseline = report.get("baseline")
    outputs = report.get("outputs") if isinstance(report.get("outputs"), dict) else {}
    metrics: dict[str, Any] = {}
    for name, out in outputs.items():
        # expected-value and baseline metrics have distinct names (accuracy, agreement, ...) but "rows"
        metrics[name] = {k: v for ref in ("expected", "baseline") if isinstance(out, dict)
                         for k, v in (out.get(ref) or {}).items() if k != "rows"}
    metrics["latency_ms"] = report.get("latency_ms") or {}
    requests = report.get("requests") or {}
    metrics["requests"] = {k: requests[k] for k in ("sent", "failed") if k in requests}
    try:
        record = EvaluationRecord(
            dataset=dataset.get("name"), dataset_digest=dataset.get("digest"), rows=dataset.get("rows"),
            passed=report["passed"], evaluated=report["date"], server=report["server"],
            model_digest=report["model_digest"],
            baseline=(f"{baseline.get('server')} {baseline.get('model')} v{baseline.get('version')}"
                      if isinstance(baseline, dict) else None),
            thresholds=report.get("thresholds"),
            checks=[{k: c.get(k) for k in ("threshold", "output", "limit", "measured", "passed")}
                    for c in report.get("checks") or [] if isinstance(c, dict)],
            metrics=metrics,
            report_digest="sha256:" + hashlib.sha256(report_bytes).hexdigest())
    except ValidationError as exc:
        raise ConfigError([Problem(format_path(tuple(e["loc"])), e["msg"]) for e in exc.errors()], source) from None
    return str(report["model"]), str(report["version"]), record


def read_report(path: str | Path) -> tuple[str, str, EvaluationRecord]:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"evaluation report {path}: {exc.strerror or exc}") from None
    try:
        report = json.loads(data)
    except ValueError as exc:
        raise ConfigError([Problem("", f"not valid JSON: {exc}")], str(path)) from None
    return evaluation_record(report, data, str(path))


def attach_evaluation(path: Path, model: str, version: str, report_path: str | Path,
                      today: dt.date) -> tuple[ApprovedModel, EvaluationRecord]:
    """Record the report on catalog entry (model, version); refuse one that is not of that entry's artifact."""
    r_model, r_version, record = read_report(report_path)
    if (r_model, r_version) != (model, version):
        raise UsageError(f"the report is of {r_model} version {r_version}, not of {model} version {version}")
    catalog = load_catalog(path)
    entry = catalog.find(model, version)
    if entry is None:
        raise UsageError(f"{model} version {version} is not in {path}; approve the version first "
                         "(an evaluation is evidence for an approval, not one)")
    if record.model_digest != entry.digest:
        raise UsageError(f"the report evaluated artifact {record.model_digest}, but {model} version {version} "
                         f"is approved as {entry.digest}; evaluate the approved artifact")
    evaluations = [e for e in entry.evaluations if e.dataset != record.dataset] + [record]
    updated = entry.model_copy(update={"evaluations": evaluations})
    merge_into_catalog(path, [updated], today)
    return updated, record
