"""How fast is `aiplat check`? Seconds and resources/second, end to end and engine only.

    .venv/bin/python benchmarks/check_speed.py [--repeat 3]
    .venv/bin/python benchmarks/check_speed.py --baseline REF [--candidate HEAD] [--pairs 11] [--stack prod]

Measures (a) the CLI in a fresh interpreter (`aiplat check prod`, what a user waits for,
imports included) and (b) the recording engine alone on the prod stack and on a synthetic
20-region stack built from prod's settings. Prints a Markdown table for the README.

``--baseline REF`` compares two commits instead: each is extracted (``git archive``) into a
directory laid out as the installed package (``aiplat`` = components/, with policies/ and
serving/ inside it, as pyproject's package-dir maps them) and run as
``python -m aiplat.cli check STACK`` from its own project root, with this checkout's
build/models. Runs alternate in pairs (baseline first, then candidate first, ...) so drift
on a shared machine hits both; it prints each pair's candidate/baseline ratio, their median
and spread.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aiplat import catalog
from aiplat.project import CONFIG_KEY, load_project, read_stack_config
from aiplat.testing import engine

ROOT = Path(__file__).resolve().parents[1]
PROJECT = load_project(ROOT / "Pulumi.yaml")


def stack_file_path(stack: str) -> Path:
    return PROJECT.stack_file(stack)


def run_stack(stack: str, config: dict) -> engine.Recording:
    return engine.run_stack(stack, config, PROJECT.program, project=PROJECT.name)


def synthetic(n_regions: int) -> dict:
    """prod's config spread over n AWS regions (global residency), two zones each."""
    config = read_stack_config(stack_file_path("prod"))
    platform = copy.deepcopy(config[CONFIG_KEY])
    platform["residency"] = "global"
    template = platform["regions"][0]
    names = sorted(catalog.regions("aws"))[:n_regions]
    platform["regions"] = []
    for i, name in enumerate(names):
        region = copy.deepcopy(template)
        region.update(name=name, cidr=f"10.{100 + i}.0.0/16", zones=[f"{name}a", f"{name}b"])
        # GPU pools and other regional extras are dropped: not every type is offered everywhere.
        region = {k: region[k] for k in ("name", "cidr", "zones")}
        platform["regions"].append(region)
    for key in list(platform):
        if key not in ("cloud", "environment", "tags", "data_classification", "residency", "regions", "network", "cluster"):
            platform.pop(key)
    return {**config, CONFIG_KEY: platform}


def time_engine(stack: str, config: dict, repeat: int) -> tuple[float, int]:
    times, count = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        count = len(run_stack(stack, config).resources)
        times.append(time.perf_counter() - start)
    return statistics.median(times), count


def time_cli(stack: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "aiplat.cli", "check", stack], cwd=ROOT, check=True,
                       capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def checkout(ref: str, into: Path) -> Path:
    """``ref`` extracted under ``into``; returns the sys.path entry that imports it as ``aiplat``."""
    src, pkg = into / "src", into / "pkg"
    src.mkdir(parents=True)
    pkg.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
    for sub in ("policies", "serving"):  # package-dir: aiplat.policies = policies/, aiplat.serving = serving/
        (src / "components" / sub).symlink_to(src / sub, target_is_directory=True)
    (pkg / "aiplat").symlink_to(src / "components", target_is_directory=True)
    (src / "build").symlink_to(ROOT / "build", target_is_directory=True)  # the same model repository
    return pkg


def run_checkout(pkg: Path, stack: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(pkg)}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "aiplat.cli", "check", stack], cwd=pkg.parent / "src", env=env,
                   check=True, capture_output=True)
    return time.perf_counter() - start


def compare(baseline: str, candidate: str, pairs: int, stack: str) -> None:
    with tempfile.TemporaryDirectory(prefix="check-speed-") as tmp:
        base = checkout(baseline, Path(tmp) / "baseline")
        cand = checkout(candidate, Path(tmp) / "candidate")
        for pkg in (base, cand):  # each imports its own tree, not this checkout's editable install
            where = subprocess.run([sys.executable, "-c", "import aiplat; print(aiplat.__file__)"],
                                   env={**os.environ, "PYTHONPATH": str(pkg)}, capture_output=True, text=True,
                                   check=True).stdout.strip()
            assert where.startswith(str(pkg)), where
        run_checkout(base, stack)  # warm the file cache for both
        run_checkout(cand, stack)
        rows = []
        for i in range(pairs):
            order = [("b", base), ("c", cand)] if i % 2 == 0 else [("c", cand), ("b", base)]
            t = {k: run_checkout(pkg, stack) for k, pkg in order}
            rows.append((t["b"], t["c"]))
            print(f"pair {i + 1:2d} ({'base first' if i % 2 == 0 else 'cand first'}): baseline {t['b']:.2f}s "
                  f"candidate {t['c']:.2f}s ratio {t['c'] / t['b']:.3f}", flush=True)
    ratios = sorted(c / b for b, c in rows)
    q = statistics.quantiles(ratios, n=4)
    print(f"\n`aiplat check {stack}`, {pairs} alternating pairs, baseline {baseline}, candidate {candidate}, "
          f"{sys.platform}, Python {sys.version.split()[0]}\n")
    print("| | median s | min s | max s |\n|---|---:|---:|---:|")
    for name, xs in (("baseline", [b for b, _ in rows]), ("candidate", [c for _, c in rows])):
        print(f"| {name} | {statistics.median(xs):.2f} | {min(xs):.2f} | {max(xs):.2f} |")
    print(f"\nratio candidate/baseline: median {statistics.median(ratios):.3f}, interquartile {q[0]:.3f}-{q[2]:.3f}, "
          f"min {ratios[0]:.3f}, max {ratios[-1]:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", metavar="REF", help="compare `aiplat check` of REF with --candidate")
    parser.add_argument("--candidate", metavar="REF", default="HEAD")
    parser.add_argument("--pairs", type=int, default=11)
    parser.add_argument("--stack", default="prod")
    args = parser.parse_args()
    if args.baseline:
        compare(args.baseline, args.candidate, args.pairs, args.stack)
        return
    rows = []
    cli_prod = time_cli("prod", args.repeat)
    secs, n = time_engine("prod", read_stack_config(stack_file_path("prod")), args.repeat)
    rows.append(("`aiplat check prod` (CLI, fresh process)", n, cli_prod))
    rows.append(("engine: prod", n, secs))
    secs, n = time_engine("synthetic-20", synthetic(20), args.repeat)
    rows.append(("engine: synthetic 20-region stack", n, secs))
    print(f"median of {args.repeat} runs, {sys.platform}, Python {sys.version.split()[0]}\n")
    print("| what | resources | seconds | resources/s |\n|---|---:|---:|---:|")
    for what, count, seconds in rows:
        print(f"| {what} | {count} | {seconds:.2f} | {count / seconds:.0f} |")


if __name__ == "__main__":
    main()
