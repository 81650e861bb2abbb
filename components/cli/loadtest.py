"""``aiplat loadtest URL --model NAME``: closed-loop load, throughput and latency percentiles, a pass/fail gate."""

from __future__ import annotations

from aiplat.cli._common import add_json_option, emit_json, human_stream
from aiplat.errors import UsageError


def register(sub) -> None:
    p = sub.add_parser("loadtest", help="closed-loop load: throughput, p50/p95/p99, errors")
    p.add_argument("url", help="host:port of Triton's HTTP endpoint")
    p.add_argument("--model", required=True)
    p.add_argument("--version", default="")
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--duration", type=float, default=10.0, metavar="SECONDS")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS",
                   help="connection and network timeout per request (default 5)")
    add_json_option(p, "the result")
    p.set_defaults(func=run)


def run(args) -> int:
    from aiplat.serving.loadtest import loadtest

    if args.concurrency < 1:
        raise UsageError("--concurrency must be >= 1")
    if args.duration <= 0 or args.timeout <= 0:
        raise UsageError("--duration and --timeout must be > 0")
    res = loadtest(args.url, args.model, concurrency=args.concurrency, duration=args.duration,
                   version=args.version, timeout=args.timeout, batch_size=args.batch_size)
    out = human_stream(args)
    lat = res.latency_ms
    print(f"{res.model}{' v' + res.version if res.version else ''} at {res.url}: "
          f"concurrency {res.concurrency}, {res.elapsed_s}s, {res.requests} ok, "
          f"{res.errors} errors, {res.throughput_rps} req/s", file=out)
    if lat:
        print(f"latency ms: p50 {lat['p50']}  p95 {lat['p95']}  p99 {lat['p99']}  "
              f"mean {lat['mean']}  max {lat['max']}", file=out)
    for sample in res.error_samples:
        print(f"error: {sample}", file=out)
    if res.aborted:
        print(f"loadtest FAILED: {res.aborted}", file=out)
    elif not res.ok:
        print("loadtest FAILED: " + ("errors during the run" if res.errors else "no successful request"),
              file=out)
    emit_json(args.json_path, res.as_dict())
    return 0 if res.ok else 1
