"""Our ``aiplat loadtest`` against Triton's own ``perf_analyzer``, same model and concurrency.

Starts a local CPU tritonserver on the example repository (built from the specs), then
for each (model, concurrency) runs our closed-loop load test and perf_analyzer (HTTP,
``--concurrency-range N:N``, batch 1) as ``--pairs`` alternating pairs (ours first in odd
pairs, perf_analyzer first in even ones, so drift on a shared machine hits both alike), and
prints per setting the median of the per-pair ratios (ours / perf_analyzer) for throughput
and p99 with their spread (min..max), as a Markdown table (``--json PATH`` for every run).
One run each cannot tell on a shared 2-core machine: single pairs ranged from 39 % to 324 %.

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
import statistics
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
                          timeout=duration * 12 + 60)  # up to --max-trials=10 windows, then the report
    if proc.returncode != 0:
        raise SystemExit(f"perf_analyzer failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    row = next(csv.DictReader(out.open()))
    return {"throughput_rps": float(row["Inferences/Second"]),
            "p50_ms": float(row["p50 latency"]) / 1000.0,
            "p99_ms": float(row["p99 latency"]) / 1000.0,
            "command": " ".join(["perf_analyzer", *cmd[1:-2]])}


def _ours(url: str, model: str, c: int, duration: float) -> dict:
    res = loadtest(url, model, concurrency=c, duration=duration)
    if not res.ok:
        raise SystemExit(f"our loadtest failed: {res.as_dict()}")
    return {"throughput_rps": res.throughput_rps, "p50_ms": res.latency_ms["p50"],
            "p99_ms": res.latency_ms["p99"], "requests": res.requests}


def _spread(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["linear-classifier", "text-embedder"])
    ap.add_argument("--concurrency", nargs="+", type=int, default=[1, 4])
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    ap.add_argument("--pairs", type=int, default=5, help="alternating pairs per setting (default 5)")
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
                    loadtest(server.http_url, model, concurrency=c, duration=2)  # warm up both paths
                    pairs = []
                    for k in range(args.pairs):
                        run_ours = lambda: _ours(server.http_url, model, c, args.duration)  # noqa: E731
                        run_pa = lambda: run_perf_analyzer(args.perf_analyzer, env, server.http_url,  # noqa: E731
                                                           model, c, args.duration, work)
                        if k % 2 == 0:
                            ours, pa = run_ours(), run_pa()
                        else:
                            pa, ours = run_pa(), run_ours()
                        pairs.append({"loadtest": ours, "perf_analyzer": pa,
                                      "throughput_ratio": ours["throughput_rps"] / pa["throughput_rps"],
                                      "p99_ratio": ours["p99_ms"] / pa["p99_ms"]})
                        print(f"{model} c={c} pair {k + 1}: ours {ours['throughput_rps']:.0f} req/s p99 "
                              f"{ours['p99_ms']:.2f} ms | perf_analyzer {pa['throughput_rps']:.0f} req/s p99 "
                              f"{pa['p99_ms']:.2f} ms", file=sys.stderr, flush=True)
                    rows.append({"model": model, "concurrency": c, "pairs": pairs,
                                 "throughput_ratio": _spread([p["throughput_ratio"] for p in pairs]),
                                 "p99_ratio": _spread([p["p99_ratio"] for p in pairs]),
                                 "loadtest_rps": statistics.median(p["loadtest"]["throughput_rps"] for p in pairs),
                                 "perf_analyzer_rps": statistics.median(p["perf_analyzer"]["throughput_rps"]
                                                                        for p in pairs),
                                 "loadtest_p99_ms": statistics.median(p["loadtest"]["p99_ms"] for p in pairs),
                                 "perf_analyzer_p99_ms": statistics.median(p["perf_analyzer"]["p99_ms"]
                                                                           for p in pairs)})

    print(f"\nCPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"{args.duration:.0f} s per measurement, {args.pairs} alternating pairs per setting, batch 1, HTTP\n")
    print("| model | concurrency | loadtest req/s | perf_analyzer infer/s | throughput ratio, median (min..max) "
          "| loadtest p99 ms | perf_analyzer p99 ms | p99 ratio, median (min..max) |")
    print("|---|---:|---:|---:|---|---:|---:|---|")
    for r in rows:
        t, q = r["throughput_ratio"], r["p99_ratio"]
        print(f"| {r['model']} | {r['concurrency']} | {r['loadtest_rps']:.0f} | {r['perf_analyzer_rps']:.0f} "
              f"| {t['median']:.0%} ({t['min']:.0%}..{t['max']:.0%}) | {r['loadtest_p99_ms']:.2f} "
              f"| {r['perf_analyzer_p99_ms']:.2f} | {q['median']:.2f} ({q['min']:.2f}..{q['max']:.2f}) |")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
