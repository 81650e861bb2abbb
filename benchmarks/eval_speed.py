"""How long ``aiplat eval`` takes on a 10,000-line dataset of each example model.

Starts one local CPU tritonserver on the example repository (built from the specs),
writes a dataset per model whose expected values come from the models' documented
algorithms (linear-classifier v1: softmax(x @ W + b) and its argmax; text-embedder v1:
hashed bag of bytes), then runs the real command line (``python -m aiplat.cli eval``, a
fresh interpreter as a user runs it) ``--repeat`` times per model and concurrency, and
prints the wall time (interpreter start-up and imports, dataset checks, inference,
metrics, report) as a Markdown table: median, min and max of the runs, and the median of
the time inside the evaluation (the report's ``elapsed_s``: connect, dataset checks,
inference). Runs alternate between the settings so that load from
other work on a shared machine spreads over all of them.

Run: ``.venv/bin/python benchmarks/eval_speed.py [--rows 10000] [--repeat 5] [--concurrency 1 4]``
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

from aiplat.serving import repository  # noqa: E402
from aiplat.serving.triton_local import TritonServer  # noqa: E402

W = np.array([[1.0, -0.5, 0.2], [0.3, 0.8, -1.0], [-0.7, 0.1, 0.9], [0.2, 0.2, 0.2]], dtype=np.float32)
B = np.array([0.1, 0.0, -0.1], dtype=np.float32)


def classifier_dataset(path: Path, rows: int) -> list[str]:
    x = np.random.default_rng(1).random((rows, 4), dtype=np.float32)
    logits = x @ W + B
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    with path.open("w") as fh:
        for xi, pi, k in zip(x, p, p.argmax(axis=1)):
            fh.write(json.dumps({"inputs": {"FEATURES": xi.tolist()},
                                 "expected": {"PROBS": pi.tolist(), "LABEL": [int(k)]}}) + "\n")
    return ["--version", "1", "--max-abs-error", "1e-5", "--min-accuracy", "1", "--min-cosine", "0.9999"]


def embedder_dataset(path: Path, rows: int) -> list[str]:
    with path.open("w") as fh:
        for i in range(rows):
            text = f"document {i}: {'lorem ipsum ' * (i % 5)}".encode()
            e = np.zeros(16, np.float32)
            for byte in text:
                e[byte % 16] += 1
            fh.write(json.dumps({"inputs": {"TEXT": [text.decode()]},
                                 "expected": {"EMBEDDING": (e / np.linalg.norm(e)).tolist()}}) + "\n")
    return ["--version", "1", "--max-abs-error", "1e-5", "--min-cosine", "0.9999"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--json", metavar="PATH", help="raw timings as JSON")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="aiplat-eval-bench-") as tmp:
        work = Path(tmp)
        repo = work / "repo"
        repository.build(ROOT / "serving" / "examples" / "models", repo)
        datasets = {"linear-classifier": classifier_dataset(work / "linear-classifier.jsonl", args.rows),
                    "text-embedder": embedder_dataset(work / "text-embedder.jsonl", args.rows)}
        settings = [(m, c) for m in datasets for c in args.concurrency]
        times: dict[tuple[str, int], list[float]] = {s: [] for s in settings}
        elapsed: dict[tuple[str, int], list[float]] = {s: [] for s in settings}  # eval's own, from its report
        reports: dict[tuple[str, int], dict] = {}
        with TritonServer(repo) as server:
            for _ in range(args.repeat):
                for model, conc in settings:
                    out = work / f"{model}-{conc}.json"
                    cmd = [sys.executable, "-m", "aiplat.cli", "eval", server.http_url, "--model", model,
                           "--dataset", str(work / f"{model}.jsonl"), *datasets[model],
                           "--concurrency", str(conc), "--json", str(out)]
                    t0 = time.perf_counter()
                    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
                    times[(model, conc)].append(time.perf_counter() - t0)
                    if proc.returncode != 0:
                        print(proc.stdout, proc.stderr, file=sys.stderr)
                        raise SystemExit(f"aiplat eval exited {proc.returncode} on {model}")
                    reports[(model, conc)] = json.loads(out.read_text())
                    elapsed[(model, conc)].append(reports[(model, conc)]["elapsed_s"])

    print(f"{args.rows} rows per dataset, {args.repeat} runs per setting, {platform.machine()} "
          f"{platform.python_version()}\n")
    print("| model | concurrency | rows/request | requests | wall s (median) | min | max | in-eval s (median) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for model, conc in settings:
        t = times[(model, conc)]
        rep = reports[(model, conc)]
        print(f"| {model} | {conc} | {rep['batch_size']} | {rep['requests']['sent']} | {statistics.median(t):.2f} "
              f"| {min(t):.2f} | {max(t):.2f} | {statistics.median(elapsed[(model, conc)]):.2f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({f"{m}/{c}": {"wall_s": times[(m, c)], "elapsed_s": elapsed[(m, c)]}
                                               for m, c in settings}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
