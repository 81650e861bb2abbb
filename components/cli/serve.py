"""``aiplat serve REPO``: a local tritonserver (CPU) on a model repository, until Ctrl-C."""

from __future__ import annotations

import signal
import sys
import threading


def register(sub) -> None:
    p = sub.add_parser("serve", help="run a local tritonserver (CPU) on a model repository")
    p.add_argument("repo")
    p.add_argument("--http-port", type=int, default=0, help="default: a free port")
    p.add_argument("--grpc-port", type=int, default=0, help="default: a free port")
    p.add_argument("--metrics-port", type=int, default=0, help="default: a free port")
    p.add_argument("--ready-timeout", type=float, default=120.0, metavar="SECONDS")
    p.set_defaults(func=run)


def run(args) -> int:
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
