"""``aiplat smoke URL --model NAME``: live, ready, metadata, one inference, output shapes (exit 1 on a failure)."""

from __future__ import annotations

from aiplat.cli._common import add_json_option, emit_json, human_stream


def register(sub) -> None:
    p = sub.add_parser("smoke", help="live, ready, metadata, one inference, output shapes")
    p.add_argument("url", help="host:port of Triton's HTTP endpoint")
    p.add_argument("--model", required=True)
    p.add_argument("--version", default="", help="default: the server's choice (latest)")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                   help="connection and network timeout per call (default 10)")
    add_json_option(p, "the checks")
    p.set_defaults(func=run)


def run(args) -> int:
    from aiplat.serving.smoke import smoke

    res = smoke(args.url, args.model, args.version, timeout=args.timeout,
                batch_size=args.batch_size)
    out = human_stream(args)
    for name, ok, detail in res.checks:
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}", file=out)
    print(f"smoke {'passed' if res.ok else 'FAILED'}: {res.model}"
          f"{' v' + res.version if res.version else ''} at {res.url}", file=out)
    emit_json(args.json_path, res.as_dict())
    return 0 if res.ok else 1
