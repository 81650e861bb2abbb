"""``aiplat eval URL --model NAME --dataset FILE.jsonl``: gate a served model version on a curated dataset.

Thresholds come from flags, else from the ``evaluation:`` section of the model's
``spec.yaml`` (``--spec``: the file, or a model-sources directory holding
``<model>/spec.yaml``); a flag overrides the spec's value of the same threshold. The logic
is in ``aiplat.serving.evaluate`` (dataset format, metrics and checks are documented
there). Exit 0 when every check holds, 1 when one fails (the table names it, with the
measured value and the worst examples by dataset line), 2 for a bad dataset (every bad
line), an unreachable server or bad usage.
"""

from __future__ import annotations

import re
from pathlib import Path

from aiplat.cli._common import add_json_option, console_for, emit_json, human_stream
from aiplat.errors import UsageError

DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
FLAGS = {  # threshold -> (flag, help)
    "max_abs_error": ("--max-abs-error", "float outputs: the largest |output - expected| allowed"),
    "min_accuracy": ("--min-accuracy", "integer/bool/string outputs: the least share of rows equal to expected"),
    "min_cosine": ("--min-cosine", "float outputs of >1 element: the least mean cosine similarity with expected"),
    "min_agreement": ("--min-agreement", "every output: the least share of rows agreeing with the baseline"),
    "max_p99_ms": ("--max-p99-ms", "the largest p99 request latency in milliseconds"),
}


def register(sub) -> None:
    p = sub.add_parser(
        "eval", help="evaluate a served model version on a dataset; gate on accuracy, error, agreement, p99",
        description="Run a JSON Lines dataset through a model version on a live Triton (batched, several "
                    "requests in flight), compare with the expected outputs and/or a baseline version, and "
                    "check the thresholds. Exit 0 when all hold, 1 when one fails, 2 for a bad dataset, an "
                    "unreachable server or bad usage.")
    p.add_argument("url", help="host:port (or http://host:port) of Triton's HTTP endpoint")
    p.add_argument("--model", required=True)
    p.add_argument("--version", default="", help="model version to evaluate (default: the server's choice)")
    p.add_argument("--dataset", required=True, metavar="FILE.jsonl",
                   help='one example per line: {"inputs": {NAME: value}, "expected": {OUTPUT: value}}')
    p.add_argument("--dataset-name", metavar="NAME",
                   help="the dataset's name in the report and the approval catalog (default: the file name "
                        "without its extension)")
    g = p.add_argument_group("thresholds (override the spec's evaluation: section)")
    for key, (flag, text) in FLAGS.items():
        g.add_argument(flag, dest=key, type=float, default=None, metavar="X", help=text)
    g.add_argument("--agreement-tolerance", dest="agreement_tolerance", type=float, default=None, metavar="X",
                   help="a float row agrees with the baseline when every element is within X (default 1e-6)")
    p.add_argument("--spec", metavar="PATH",
                   help="the model's spec.yaml, or a model-sources directory with <model>/spec.yaml: its "
                        "evaluation: section gives the thresholds no flag sets")
    p.add_argument("--baseline-version", metavar="V", help="compare with this version (on --baseline-url or URL)")
    p.add_argument("--baseline-url", metavar="URL",
                   help="compare with the model on this server (its --baseline-version, default the server's "
                        "choice)")
    d = p.add_mutually_exclusive_group()
    d.add_argument("--model-digest", metavar="sha256:HEX",
                   help="content digest of the evaluated version (aiplat models digest), recorded in the "
                        "report for aiplat models approve --evaluation")
    d.add_argument("--repository", metavar="DIR",
                   help="the model repository the server serves: the evaluated version's digest is computed "
                        "from it")
    p.add_argument("--concurrency", type=int, default=4, help="requests in flight (default 4)")
    p.add_argument("--batch-size", type=int, default=0,
                   help="rows per request (default: the model's max_batch_size)")
    p.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                   help="connection and network timeout per call (default 10)")
    add_json_option(p, "the evaluation report")
    p.set_defaults(func=run)


def _spec_evaluation(spec_arg: str | None, model: str):
    from aiplat.serving.modelspec import load_spec

    if not spec_arg:
        return None
    path = Path(spec_arg)
    if path.is_dir():
        path = path / "spec.yaml" if (path / "spec.yaml").is_file() else path / model / "spec.yaml"
    if not path.is_file():
        raise UsageError(f"--spec: no spec found at {path}")
    spec = load_spec(path)
    if spec.name != model:
        raise UsageError(f"--spec: {path} is the spec of {spec.name!r}, not of {model!r}")
    return spec.evaluation


def thresholds_from(args) -> tuple[object, dict[str, str]]:
    """The Evaluation in force (flags over the spec) and where each threshold came from."""
    from pydantic import ValidationError

    from aiplat.serving.modelspec import Evaluation

    spec_ev = _spec_evaluation(args.spec, args.model)
    values = spec_ev.model_dump(exclude_none=True) if spec_ev else {}
    sources = {k: "spec" for k in (spec_ev.thresholds() if spec_ev else {})}
    for key in (*FLAGS, "agreement_tolerance"):
        value = getattr(args, key)
        if value is not None:
            values[key] = value
            if key in FLAGS:
                sources[key] = "flag"
    try:
        ev = Evaluation.model_validate(values)
    except ValidationError as exc:
        names = {**{k: f for k, (f, _) in FLAGS.items()}, "agreement_tolerance": "--agreement-tolerance"}
        raise UsageError("; ".join(f"{names.get(str(e['loc'][0]), e['loc'][0])}: {e['msg']}"
                                   for e in exc.errors())) from None
    return ev, {k: sources[k] for k in ev.thresholds()}


def run(args) -> int:
    from aiplat.serving.evaluate import Target, evaluate

    if args.concurrency < 1 or args.batch_size < 0 or args.timeout <= 0:
        raise UsageError("--concurrency must be >= 1, --batch-size >= 0 and --timeout > 0")
    if args.model_digest and not DIGEST_RE.match(args.model_digest):
        raise UsageError("--model-digest must be sha256:<64 hex> (what `aiplat models digest` prints)")
    if args.repository and not Path(args.repository).is_dir():
        raise UsageError(f"--repository: not a directory: {args.repository}")
    evaluation, sources = thresholds_from(args)
    baseline = None
    if args.baseline_version or args.baseline_url:
        baseline = Target(args.baseline_url or args.url, args.model, args.baseline_version or "")
    report = evaluate(Target(args.url, args.model, args.version), args.dataset, evaluation,
                      threshold_sources=sources, baseline=baseline, dataset_name=args.dataset_name,
                      model_digest=args.model_digest, concurrency=args.concurrency,
                      batch_size=args.batch_size, timeout=args.timeout)
    if args.repository and report.candidate.version:
        from aiplat.serving.repository import digest_version

        report.model_digest = digest_version(args.repository, args.model, int(report.candidate.version))
    doc = report.as_dict()
    print_report(doc, human_stream(args))
    emit_json(args.json_path, doc)
    return 0 if report.passed else 1


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def print_report(doc: dict, stream) -> None:
    from rich.table import Table

    console = console_for(stream)
    ds = doc["dataset"]
    base = doc["baseline"]
    console.print(f"{doc['model']} v{doc['version'] or '?'} at {doc['server']} on dataset {ds['name']} "
                  f"({ds['rows']} rows, {ds['digest'][:19]}…)"
                  + (f", baseline v{base['version'] or '?'} at {base['server']}" if base else ""), highlight=False)
    req, lat = doc["requests"], doc["latency_ms"]
    console.print(f"{req['sent']} requests of up to {doc['batch_size']} rows, concurrency {doc['concurrency']}, "
                  f"{req['failed']} failed, {doc['elapsed_s']}s"
                  + (f"; latency ms p50 {lat['p50']} p95 {lat['p95']} p99 {lat['p99']}" if lat else ""),
                  highlight=False)
    table = Table(show_edge=False, pad_edge=False)
    for col in ("check", "output", "measured", "threshold", "result"):
        table.add_column(col, justify="right" if col in ("measured", "threshold") else "left")
    for c in doc["checks"]:
        limit = _fmt(c["limit"]) if not c["threshold"].endswith("failed_requests") else "0"
        table.add_row(c["threshold"], c["output"] or "", _fmt(c["measured"]), limit,
                      "ok" if c["passed"] else "[bold red]FAIL[/]")
    console.print(table)
    for c in doc["checks"]:
        if c["passed"]:
            continue
        what = c["threshold"] + (f" on {c['output']}" if c["output"] else "")
        if c["note"]:
            console.print(f"{what}: {c['note']}", highlight=False, markup=False)
        if c["worst"]:
            console.print(f"{what}: worst examples", highlight=False, markup=False)
        for ex in c["worst"]:
            where = f"line {ex['line']}" if "line" in ex else "lines " + ",".join(map(str, ex["lines"]))
            rest = ", ".join(f"{k} {v}" for k, v in ex.items() if k not in ("line", "lines"))
            console.print(f"  {where}: {rest}", highlight=False, markup=False)
    failed = [c for c in doc["checks"] if not c["passed"]]
    verdict = "PASSED" if doc["passed"] else f"FAILED ({len(failed)} of {len(doc['checks'])} checks)"
    console.print(f"eval {verdict}: {doc['model']} v{doc['version'] or '?'} on {ds['name']}", highlight=False)
