"""``aiplat canary analyze STACK --prometheus URL``: promote, hold or roll back each canary.

The logic is ``aiplat.tools.canary`` (metrics, checks, the weight ladder); this module is the
command line: flags for the window, the region and every threshold, a table on the terminal,
``--json [PATH|-]`` for CI. Exit 0 when no canary should roll back (promote, hold, or no
canary at all), 1 when one should, 2 for bad input or a Prometheus that cannot answer.
"""

from __future__ import annotations

import argparse

from rich.table import Table

from aiplat.cli._common import add_json_option, add_stack_arguments, console_for, emit_json, human_stream
from aiplat.errors import UsageError
from aiplat.project import load_platform_config
from aiplat.tools import canary

VERDICT_STYLE = {"promote": ("promote", "green"), "hold": ("hold", "yellow"), "roll_back": ("roll back", "red")}


def register(sub) -> None:
    group = sub.add_parser("canary", help="judge model canaries on live metrics: promote, hold or roll back")
    actions = group.add_subparsers(dest="canary_command", metavar="ACTION", parser_class=type(group))
    actions.required = True
    ladder = ",".join(map(str, canary.LADDER))
    p = actions.add_parser(
        "analyze",
        help="compare every canary with its stable version over a window of Prometheus metrics",
        description=(
            "For every endpoint model with a canary (weight > 0) in the stack, compare the canary and stable "
            "versions over the window from Triton's metrics in the region's Prometheus: request rate, error "
            "ratio (every failure reason, queue timeouts included), p99 latency (Triton's latency summaries), "
            "queue time per request. Verdict per model: promote (the next weight step, or the version at the "
            "top of the ladder), hold (too little traffic, or nothing to judge p99 by) or roll back "
            "(weight: 0). Thresholds default to the stack's monitoring.slo."),
        epilog="Exit codes: 0 nothing should roll back, 1 a canary should roll back, 2 bad input or Prometheus "
               "unreachable / answering errors.",
    )
    add_stack_arguments(p)
    p.add_argument("--prometheus", required=True, metavar="URL",
                   help="the Prometheus of the region's cluster, e.g. http://localhost:9090 after "
                        "kubectl -n monitoring port-forward svc/kps-prometheus 9090")
    p.add_argument("--window", default=canary.DEFAULT_WINDOW, metavar="DURATION",
                   help=f"Prometheus duration to judge over (default {canary.DEFAULT_WINDOW})")
    p.add_argument("--region", metavar="REGION",
                   help="the stack region that Prometheus watches (default: its external label 'region', "
                        "else the stack's only region)")
    t = p.add_argument_group("thresholds (defaults from the stack's monitoring.slo)")
    t.add_argument("--max-error-ratio", type=float, metavar="RATIO",
                   help="canary failed/all requests at most (default slo.error_ratio)")
    t.add_argument("--max-p99-ms", type=float, metavar="MS", help="canary p99 at most (default slo.p99_latency_ms)")
    t.add_argument("--max-p99-ratio", type=float, metavar="RATIO",
                   help=f"canary p99 / stable p99 at most (default {canary.DEFAULT_P99_RATIO:g})")
    t.add_argument("--p99-slack-ms", type=float, metavar="MS",
                   help=f"a canary p99 at most this far above stable's always passes "
                        f"(default {canary.P99_SLACK_FRACTION:.0%}% of slo.p99_latency_ms)")  # %% for argparse
    t.add_argument("--max-queue-ms", type=float, metavar="MS",
                   help="canary queue time per request at most, else hold (default slo.queue_time_warning_ms)")
    t.add_argument("--min-requests", type=int, metavar="N",
                   help="requests per track in the window to judge at all, else hold "
                        "(default ceil(3 / max error ratio))")
    t.add_argument("--ladder", metavar="W,W,...", type=_ladder,
                   help=f"canary weights a rollout climbs; promote the version past the last (default {ladder})")
    p.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                   help="per Prometheus request (default 10)")
    add_json_option(p, "the verdicts")
    p.set_defaults(func=run)


def _ladder(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of weights") from None


def run(args: argparse.Namespace) -> int:
    cfg = load_platform_config(args.stack, args.stack_file)
    problems, th = [], None
    if not args.timeout > 0:
        problems.append(f"--timeout: {args.timeout:g} must be a positive number of seconds")
    try:
        canary.check_window(args.window)
    except UsageError as exc:
        problems.append(str(exc))
    try:
        th = canary.Thresholds.from_slo(
            cfg.monitoring.slo, max_error_ratio=args.max_error_ratio, max_p99_ms=args.max_p99_ms,
            max_p99_ratio=args.max_p99_ratio, p99_slack_ms=args.p99_slack_ms, max_queue_ms=args.max_queue_ms,
            min_requests=args.min_requests, ladder=args.ladder)
    except UsageError as exc:
        problems.append(str(exc))
    if problems:  # every bad option at once
        raise UsageError("; ".join(problems))
    report = canary.analyze(cfg, args.stack, args.prometheus, window=args.window, region=args.region,
                            thresholds=th, timeout=args.timeout)
    render(report, console_for(human_stream(args)))
    emit_json(args.json_path, report.as_dict())
    return report.exit_code


def _num(x: float | None, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def render(report: canary.CanaryReport, console) -> None:
    if report.message:
        console.print(report.message)
        for t in report.rolled_back:
            console.print(f"  {t.endpoint}/{t.model}: canary v{t.canary_version} at weight 0 (rolled back)")
        return
    th = report.thresholds
    table = Table(title=f"Canaries · {report.stack} · {report.region} · last {report.window}", header_style="bold")
    for col in ("endpoint", "model", "track", "version", "weight", "requests", "req/s", "errors", "p99 ms",
                "queue ms", "verdict"):
        table.add_column(col, justify="left" if col in ("endpoint", "model", "track", "verdict") else "right",
                         no_wrap=col == "verdict")
    w = report.window_s
    for v in report.verdicts:
        label, style = VERDICT_STYLE[v.verdict]
        for track, s, weight in (("canary", v.canary, v.target.weight), ("stable", v.stable, 100 - v.target.weight)):
            first = track == "canary"
            table.add_row(
                v.target.endpoint if first else "", v.target.model if first else "", track, str(s.version),
                f"{weight}%", f"{s.requests:.0f}", f"{s.requests / w:.2f}", _num(s.error_ratio, ".2%"),
                _num(s.p99_ms, ".1f"), _num(s.queue_ms, ".1f"), f"[{style}]{label}[/{style}]" if first else "",
                end_section=not first)
    console.print(table)
    for v in report.verdicts:
        label, style = VERDICT_STYLE[v.verdict]
        console.print(f"[{style}]{label}[/{style}] {v.target.endpoint}/{v.target.model}:")
        for reason in v.reasons:
            console.print(f"  - {reason}", highlight=False, soft_wrap=True)
        if v.change is not None:
            console.print(f"  next: {v.change.summary}", highlight=False, soft_wrap=True)
        else:
            console.print(f"  next: no change; keep weight {v.target.weight} and analyze again", highlight=False)
    for t in report.rolled_back:
        console.print(f"{t.endpoint}/{t.model}: canary v{t.canary_version} at weight 0 (rolled back), not analyzed")
    n = report.counts()
    console.print(f"thresholds: error ratio <= {th.max_error_ratio:g}, p99 <= {th.max_p99_ms:g} ms and <= "
                  f"{th.max_p99_ratio:g}x stable (or +{th.p99_slack_ms:g} ms), queue <= {th.max_queue_ms:g} ms, "
                  f">= {th.min_requests} requests per track; ladder {','.join(map(str, th.ladder))}",
                  highlight=False, soft_wrap=True)
    console.print(f"{n['promote']} promote, {n['hold']} hold, {n['roll_back']} roll back")
