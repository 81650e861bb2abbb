"""Serving subcommands: ``models build|validate|digest|push``, ``serve``, ``smoke``, ``loadtest``.

Exit codes follow the CLI contract: 0 fine; 1 a finding (failed smoke or load test,
push that did not verify, Triton that would not start); 2 bad usage or configuration
(raised as ``UsageError``/``ConfigError`` and printed without a traceback).
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path

from aiplat.errors import UsageError


def register(sub) -> None:
    models = sub.add_parser("models", help="build, validate, digest and push Triton model repositories")
    msub = models.add_subparsers(dest="models_command", metavar="ACTION", parser_class=type(models))
    msub.required = True

    p = msub.add_parser("build", help="lay out a repository from <src>/<model>/spec.yaml + version dirs")
    p.add_argument("src", help="model sources: <src>/<model>/spec.yaml and <src>/<model>/<version>/")
    p.add_argument("out", help="repository directory to write (models in it are replaced)")
    p.set_defaults(func=run_build)

    p = msub.add_parser("validate", help="report every problem in a model repository")
    p.add_argument("repo")
    p.set_defaults(func=run_validate)

    p = msub.add_parser("digest", help="sha256 content digest per model version")
    p.add_argument("repo")
    p.add_argument("--model", help="only this model")
    p.add_argument("--version", type=int, help="only this version (with --model)")
    p.add_argument("--json", dest="json_path", metavar="PATH", help="write JSON ('-' for stdout)")
    p.set_defaults(func=run_digest)

    p = msub.add_parser("push", help="upload changed files to s3://bucket/prefix and verify")
    p.add_argument("repo")
    p.add_argument("uri", metavar="s3://BUCKET/PREFIX")
    p.add_argument("--delete", action="store_true",
                   help="delete objects under the prefix that the repository does not have")
    p.add_argument("--endpoint-url", help="S3 endpoint (S3-compatible stores, tests)")
    p.set_defaults(func=run_push)

    p = sub.add_parser("serve", help="run a local tritonserver (CPU) on a model repository")
    p.add_argument("repo")
    p.add_argument("--http-port", type=int, default=0, help="default: a free port")
    p.add_argument("--grpc-port", type=int, default=0, help="default: a free port")
    p.add_argument("--metrics-port", type=int, default=0, help="default: a free port")
    p.add_argument("--ready-timeout", type=float, default=120.0, metavar="SECONDS")
    p.set_defaults(func=run_serve)

    p = sub.add_parser("smoke", help="live, ready, metadata, one inference, output shapes")
    p.add_argument("url", help="host:port of Triton's HTTP endpoint")
    p.add_argument("--model", required=True)
    p.add_argument("--version", default="", help="default: the server's choice (latest)")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                   help="connection and network timeout per call (default 10)")
    p.add_argument("--json", dest="json_path", metavar="PATH", help="write JSON ('-' for stdout)")
    p.set_defaults(func=run_smoke)

    p = sub.add_parser("loadtest", help="closed-loop load: throughput, p50/p95/p99, errors")
    p.add_argument("url", help="host:port of Triton's HTTP endpoint")
    p.add_argument("--model", required=True)
    p.add_argument("--version", default="")
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--duration", type=float, default=10.0, metavar="SECONDS")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS",
                   help="connection and network timeout per request (default 5)")
    p.add_argument("--json", dest="json_path", metavar="PATH", help="write JSON ('-' for stdout)")
    p.set_defaults(func=run_loadtest)


def _write_json(path: str | None, data) -> None:
    if not path:
        return
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    if path == "-":
        sys.stdout.write(text)
    else:
        Path(path).write_text(text)


def _out(args):
    # With --json -, stdout carries only the JSON; the human summary goes to stderr.
    return sys.stderr if getattr(args, "json_path", None) == "-" else sys.stdout


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
    out = _out(args)
    for model, versions in digests.items():
        for version, digest in versions.items():
            print(f"{model}/{version} {digest}", file=out)
    _write_json(args.json_path, {m: {str(v): d for v, d in vs.items()} for m, vs in digests.items()})
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


def run_serve(args) -> int:
    from aiplat.serving.repository import validate
    from aiplat.serving.triton_local import TritonServer

    validate(args.repo)  # our error report (all problems, with paths) beats Triton's log
    server = TritonServer(args.repo, http_port=args.http_port, grpc_port=args.grpc_port,
                          metrics_port=args.metrics_port, ready_timeout=args.ready_timeout)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with server:
        print(f"triton ready: http {server.http_url}, grpc 127.0.0.1:{server.grpc_port}, "
              f"metrics {server.metrics_url}", flush=True)
        while not stop.is_set():
            if server.proc.poll() is not None:
                print(f"tritonserver exited with code {server.proc.returncode}", file=sys.stderr)
                return 1
            stop.wait(0.5)
    return 0


def run_smoke(args) -> int:
    from aiplat.serving.smoke import smoke

    res = smoke(args.url, args.model, args.version, timeout=args.timeout,
                batch_size=args.batch_size)
    out = _out(args)
    for name, ok, detail in res.checks:
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}", file=out)
    print(f"smoke {'passed' if res.ok else 'FAILED'}: {res.model}"
          f"{' v' + res.version if res.version else ''} at {res.url}", file=out)
    _write_json(args.json_path, res.as_dict())
    return 0 if res.ok else 1


def run_loadtest(args) -> int:
    from aiplat.serving.loadtest import loadtest

    if args.concurrency < 1:
        raise UsageError("--concurrency must be >= 1")
    if args.duration <= 0 or args.timeout <= 0:
        raise UsageError("--duration and --timeout must be > 0")
    res = loadtest(args.url, args.model, concurrency=args.concurrency, duration=args.duration,
                   version=args.version, timeout=args.timeout, batch_size=args.batch_size)
    out = _out(args)
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
    _write_json(args.json_path, res.as_dict())
    return 0 if res.ok else 1
