"""Our ``aiplat loadtest`` against Triton's own ``perf_analyzer``, same model and concurrency.

Starts a local CPU tritonserver on the example repository (built from the specs), then
for each (model, concurrency) runs our closed-loop load test and perf_analyzer (HTTP,
``--concurrency-range N:N``, batch 1) one after the other, and prints throughput and p99
of both as a Markdown table (``--json PATH`` for the raw numbers).

perf_analyzer comes from the tritonclient 2.41 Linux wheel (the last that ships it),
installed apart from the venv (``make bench-serving`` does it) because the venv must keep
tritonclient 2.71. It needs Debian's ``libb64-0d`` and a ``libcudart.so.12``; the latter
is taken from the nvidia-pytriton wheel's libraries through a symlink in a temp dir.

Run: ``make bench-serving`` or
``.venv/bin/python benchmarks/loadtest_vs_perf_analyzer.py --duration 10 --concurrency 1 4``
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from aiplat.serving import repository  # noqa: E402
from aiplat.serving.loadtest import loadtest  # noqa: E402
from aiplat.serving.triton_local import TritonServer, find_install  # noqa: E402

DEFAULT_PA = ROOT / ".triton" / "tritonclient-2.41" / "bin" / "perf_analyzer"


def perf_analyzer_env(workdir: Path) -> dict:
    libs = find_install().libs
    cudart = sorted(libs.glob("libcudart*.so.12*"))
    if not cudart:
        raise SystemExit(f"no libcudart.so.12 in {libs}")
    link_dir = workdir / "cudart"
    link_dir.mkdir()
    (link_dir / "libcudart.so.12").symlink_to(cudart[0])
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [str(link_dir), env.get("LD_LIBRARY_PATH")]))
    return env


def run_perf_analyzer(pa: Path, env: dict, url: str, model: str, concurrency: int,
                      duration: float, workdir: Path) -> dict:
    out = workdir / f"pa-{model}-{concurrency}.csv"
    cmd = [str(pa), "-m", model, "-u", url, "-i", "http", "-b", "1",
           f"--concurrency-range={concurrency}:{concurrency}",
           "--measurement-mode=time_windows", f"--measurement-interval={int(duration * 1000)}",
           "--stability-percentage=100", "--max-trials=10", "-f", str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True,
                          timeout=duration * 6 + 60)
    if proc.returncode != 0:
        raise SystemExit(f"perf_analyzer failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    row = next(csv.DictReader(out.open()))
    return {"throughput_rps": float(row["Inferences/Second"]),
            "p50_ms": float(row["p50 latency"]) / 1000.0,
            "p99_ms": float(row["p99 latency"]) / 1000.0,
            "command": " ".join(["perf_analyzer", *cmd[1:-2]])}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["linear-classifier", "text-embedder"])
    ap.add_argument("--concurrency", nargs="+", type=int, default=[1, 4])
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    ap.add_argument("--perf-analyzer", type=Path, default=DEFAULT_PA)
    ap.add_argument("--json", dest="json_path")
    args = ap.parse_args(argv)
    if not args.perf_analyzer.exists():
        raise SystemExit(f"{args.perf_analyzer} not found: run `make bench-serving`")

    rows = []
    with tempfile.TemporaryDirectory(prefix="aiplat-bench-") as tmp:
        work = Path(tmp)
        repo = work / "repo"
        repository.build(ROOT / "serving" / "examples" / "models", repo)
        env = perf_analyzer_env(work)
        with TritonServer(repo) as server:
            for model in args.models:
                for c in args.concurrency:
                    # Warm up (first requests load code paths, fill the batcher).
                    loadtest(server.http_url, model, concurrency=c, duration=1)
                    ours = loadtest(server.http_url, model, concurrency=c, duration=args.duration)
                    if not ours.ok:
                        raise SystemExit(f"our loadtest failed: {ours.as_dict()}")
                    pa = run_perf_analyzer(args.perf_analyzer, env, server.http_url, model, c,
                                           args.duration, work)
                    rows.append({"model": model, "concurrency": c,
                                 "loadtest": {"throughput_rps": ours.throughput_rps,
                                              "p50_ms": ours.latency_ms["p50"],
                                              "p99_ms": ours.latency_ms["p99"],
                                              "requests": ours.requests},
                                 "perf_analyzer": pa})
                    print(f"{model} c={c}: ours {ours.throughput_rps:.0f} req/s p99 "
                          f"{ours.latency_ms['p99']:.2f} ms | perf_analyzer "
                          f"{pa['throughput_rps']:.0f} req/s p99 {pa['p99_ms']:.2f} ms",
                          file=sys.stderr, flush=True)

    print(f"\nCPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"{args.duration:.0f} s per measurement, batch 1, HTTP\n")
    print("| model | concurrency | loadtest req/s | loadtest p99 ms | perf_analyzer infer/s | perf_analyzer p99 ms |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        lt, pa = r["loadtest"], r["perf_analyzer"]
        print(f"| {r['model']} | {r['concurrency']} | {lt['throughput_rps']:.0f} | {lt['p99_ms']:.2f} "
              f"| {pa['throughput_rps']:.0f} | {pa['p99_ms']:.2f} |")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
