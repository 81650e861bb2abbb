"""``aiplat models``: build, validate, digest and push Triton model repositories; approve versions.

The whole group lives here: ``build|validate|digest|push`` work on repositories
(``aiplat.serving.repository``), ``approve --from-sagemaker`` imports approvals into the
model-approval catalog and ``approve --model M --version V --evaluation REPORT`` records an
``aiplat eval`` report on an approved version (``aiplat.policies.approvals``). Exit codes follow the CLI contract:
0 fine; 1 a finding (a push that did not verify, skipped approvals); 2 bad usage or
configuration (every problem with its path).
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

from aiplat.cli._common import add_json_option, emit_json, human_stream
from aiplat.errors import UsageError
from aiplat.policies.model_approval import CATALOG_PATH, CLASSIFICATIONS


def register(sub) -> None:
    models = sub.add_parser("models", help="build, validate, digest and push model repositories; approve versions")
    actions = models.add_subparsers(dest="models_command", metavar="ACTION", parser_class=type(models))
    actions.required = True

    p = actions.add_parser("build", help="lay out a repository from <src>/<model>/spec.yaml + version dirs")
    p.add_argument("src", help="model sources: <src>/<model>/spec.yaml and <src>/<model>/<version>/")
    p.add_argument("out", help="repository directory to write (models in it are replaced)")
    p.set_defaults(func=run_build)

    p = actions.add_parser("validate", help="report every problem in a model repository")
    p.add_argument("repo")
    p.set_defaults(func=run_validate)

    p = actions.add_parser("digest", help="sha256 content digest per model version")
    p.add_argument("repo")
    p.add_argument("--model", help="only this model")
    p.add_argument("--version", type=int, help="only this version (with --model)")
    add_json_option(p, "the digests")
    p.set_defaults(func=run_digest)

    p = actions.add_parser("push", help="upload changed files to s3://bucket/prefix and verify")
    p.add_argument("repo")
    p.add_argument("uri", metavar="s3://BUCKET/PREFIX")
    p.add_argument("--delete", action="store_true",
                   help="delete objects under the prefix that the repository does not have")
    p.add_argument("--endpoint-url", help="S3 endpoint (S3-compatible stores, tests)")
    p.set_defaults(func=run_push)

    p = actions.add_parser(
        "approve", help="import Approved versions of a SageMaker Model Registry group, or attach an evaluation",
        description="Either import the Approved versions of a SageMaker Model Registry group "
                    "(--from-sagemaker GROUP), or record an 'aiplat eval --json' report on a version already in "
                    "the catalog (--model M --version V --evaluation REPORT.json): the report must be of that "
                    "model, version and digest; it replaces an earlier evaluation on the same dataset.")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--from-sagemaker", dest="group", metavar="GROUP", help="model package group name")
    mode.add_argument("--evaluation", metavar="REPORT.json",
                      help="an 'aiplat eval --json' report to record on --model/--version")
    p.add_argument("--model", help="with --evaluation: the catalog entry's model name")
    p.add_argument("--version", help="with --evaluation: the catalog entry's version")
    p.add_argument("--region", help="AWS region of the registry (default: the AWS SDK's)")
    p.add_argument("--classification", action="append", choices=CLASSIFICATIONS, default=None,
                   help="data classification the versions are approved for (repeatable; overrides the "
                        "packages' aiplat:classifications)")
    p.add_argument("--approver", help="who approved (default: the registry's LastModifiedBy/CreatedBy)")
    p.add_argument("--valid-days", type=int, default=365, help="approval lifetime from today (default 365)")
    p.add_argument("--catalog", default=None,
                   help="catalog file (default: the project's policies/approved_models.yaml, else the pack's own)")
    p.add_argument("--endpoint-url", help="SageMaker endpoint (tests, VPC endpoints)")
    p.set_defaults(func=run_approve)


def run_build(args) -> int:
    from aiplat.serving.repository import build

    names = build(args.src, args.out)
    print(f"built {len(names)} model(s) in {args.out}: {', '.join(names)}")
    return 0


def run_validate(args) -> int:
    from aiplat.serving.repository import validate

    for info in validate(args.repo):
        print(f"{info.name}: versions {list(info.versions)}, served {list(info.served)}")
    print("repository ok")
    return 0


def run_digest(args) -> int:
    from aiplat.serving.repository import digest_repository, digest_version, validate

    if args.version is not None and not args.model:
        raise UsageError("--version needs --model")
    if args.model and args.version is not None:
        validate(args.repo)
        digests = {args.model: {args.version: digest_version(args.repo, args.model, args.version)}}
    else:
        digests = digest_repository(args.repo)
        if args.model:
            if args.model not in digests:
                raise UsageError(f"no model {args.model!r} in {args.repo}")
            digests = {args.model: digests[args.model]}
    out = human_stream(args)
    for model, versions in digests.items():
        for version, digest in versions.items():
            print(f"{model}/{version} {digest}", file=out)
    emit_json(args.json_path, {m: {str(v): d for v, d in vs.items()} for m, vs in digests.items()})
    return 0


def run_push(args) -> int:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from aiplat.serving.repository import push

    s3 = boto3.client("s3", endpoint_url=args.endpoint_url) if args.endpoint_url else None
    try:
        report = push(args.repo, args.uri, s3=s3, delete_extra=args.delete)
    except (BotoCoreError, ClientError) as exc:
        print(f"aiplat models push: {exc}", file=sys.stderr)
        return 1
    print(f"uploaded {len(report.uploaded)}, unchanged {len(report.unchanged)}, "
          f"deleted {len(report.deleted)}")
    for key in report.extra:
        print(f"extra (not in the repository; --delete removes it): {key}")
    for key in report.mismatched:
        print(f"verification failed: {key}", file=sys.stderr)
    return 0 if report.ok else 1


def run_approve(args) -> int:
    from aiplat.policies.model_approval import load_catalog

    path = Path(args.catalog) if args.catalog else _default_catalog()
    if not path.is_file():
        raise UsageError(f"catalog not found: {path}")
    load_catalog(path)  # refuse to merge into a broken catalog (ConfigError, exit 2)
    if args.evaluation:
        return _attach_evaluation(args, path)
    if args.model or args.version:
        raise UsageError("--model and --version go with --evaluation")
    return _import_sagemaker(args, path)


def _attach_evaluation(args, path: Path) -> int:
    from aiplat.policies.approvals import attach_evaluation

    if not args.model or not args.version:
        raise UsageError("--evaluation needs --model and --version (the catalog entry it is evidence for)")
    entry, record = attach_evaluation(path, args.model, args.version, args.evaluation, dt.date.today())
    verdict = "passed" if record.passed else "FAILED (" + "; ".join(record.failures()) + ")"
    print(f"recorded evaluation of {entry.name} version {entry.version} on dataset {record.dataset} "
          f"({record.dataset_digest[:19]}…, {record.rows} rows, {record.evaluated.isoformat()}): {verdict}")
    return 0


def _import_sagemaker(args, path: Path) -> int:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from aiplat.policies.approvals import fetch_approved, merge_into_catalog, to_entries

    if args.valid_days <= 0:
        raise UsageError("--valid-days must be positive")
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


def _default_catalog() -> Path:
    from aiplat.project import find_project

    try:
        own = find_project().root / "policies" / CATALOG_PATH.name
    except UsageError:  # not in a project: the catalog that ships with the pack
        return CATALOG_PATH
    return own if own.is_file() else CATALOG_PATH
