"""How fast is `aiplat check`? Seconds and resources/second, end to end and engine only.

    .venv/bin/python benchmarks/check_speed.py [--repeat 3]
    .venv/bin/python benchmarks/check_speed.py --baseline REF [--candidate HEAD] [--pairs 11] [--stack prod]

Measures (a) the CLI in a fresh interpreter (`aiplat check prod`, what a user waits for,
imports included) and (b) the recording engine alone on the prod stack and on a synthetic
stack over every AWS region the instance catalog prices, built from prod's settings. Prints a Markdown table for the README.

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
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aiplat import catalog
from aiplat.catalog import instances
from aiplat.config.cluster import SYSTEM_NODE_TYPES
from aiplat.project import CONFIG_KEY, load_project, read_stack_config
from aiplat.testing import engine

ROOT = Path(__file__).resolve().parents[1]
PROJECT = load_project(ROOT / "Pulumi.yaml")


def stack_file_path(stack: str) -> Path:
    return PROJECT.stack_file(stack)


def run_stack(stack: str, config: dict) -> engine.Recording:
    return engine.run_stack(stack, config, PROJECT.program, project=PROJECT.name)


def synthetic(n_regions: int) -> dict:
    """prod's config spread over up to n AWS regions (global residency), two zones each: the regions
    where the catalog prices the system node type (the config refuses a region it cannot price)."""
    config = read_stack_config(stack_file_path("prod"))
    platform = copy.deepcopy(config[CONFIG_KEY])
    platform["residency"] = "global"
    template = platform["regions"][0]
    system = instances.get("aws", SYSTEM_NODE_TYPES["aws"])
    names = [r for r in sorted(catalog.regions("aws")) if system.offered_in(r)][:n_regions]
    platform["regions"] = []
    for i, name in enumerate(names):
        region = copy.deepcopy(template)
        region.update(name=name, cidr=f"10.{100 + i}.0.0/16", zones=[f"{name}a", f"{name}b"])
        # GPU pools and other regional extras are dropped: not every type is offered everywhere.
        region = {k: region[k] for k in ("name", "cidr", "zones")}
        platform["regions"].append(region)
    for key in list(platform):
        if key not in ("cloud", "environment", "tags", "data_classification", "residency", "regions", "network", "cluster",
                       "deployer"):
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


def run_checkout(pkg: Path, stack: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system of the child) of one ``aiplat check``. On a shared
    machine the wall time swings with the other load; the CPU time is what the run itself costs."""
    env = {**os.environ, "PYTHONPATH": str(pkg)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "aiplat.cli", "check", stack], cwd=pkg.parent / "src", env=env,
                   check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def compare(baseline: str, candidate: str, pairs: int, stack: str) -> None:
    with tempfile.TemporaryDirectory(prefix="check-speed-") as tmp:
        base = checkout(baseline, Path(tmp) / "baseline")
        cand = checkout(candidate, Path(tmp) / "candidate")
        for pkg in (base, cand):  # each imports its own tree, not this checkout's editable install
            where = subprocess.run([sys.executable, "-c", "import aiplat; print(aiplat.__file__)"],
                                   env={**os.environ, "PYTHONPATH": str(pkg)}, capture_output=True, text=True,
                                   check=True).stdout.strip()
            assert where.startswith(str(pkg)), where
        run_checkout(base, stack)  # warm the file cache (and the bytecode caches) for both
        run_checkout(cand, stack)
        rows = []  # (baseline (wall, cpu), candidate (wall, cpu))
        for i in range(pairs):
            order = [("b", base), ("c", cand)] if i % 2 == 0 else [("c", cand), ("b", base)]
            t = {k: run_checkout(pkg, stack) for k, pkg in order}
            rows.append((t["b"], t["c"]))
            print(f"pair {i + 1:2d} ({'base first' if i % 2 == 0 else 'cand first'}): "
                  f"wall {t['b'][0]:.2f}s / {t['c'][0]:.2f}s ratio {t['c'][0] / t['b'][0]:.3f}; "
                  f"CPU {t['b'][1]:.2f}s / {t['c'][1]:.2f}s ratio {t['c'][1] / t['b'][1]:.3f}", flush=True)
    print(f"\n`aiplat check {stack}`, {pairs} alternating pairs, baseline {baseline}, candidate {candidate}, "
          f"{sys.platform}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs\n")
    print("| | baseline median s (min-max) | candidate median s (min-max) | ratio median | ratio interquartile | "
          "ratio min-max |\n|---|---:|---:|---:|---:|---:|")
    for name, k in (("wall", 0), ("CPU (user+sys)", 1)):
        b, c = [r[0][k] for r in rows], [r[1][k] for r in rows]
        ratios = sorted(y / x for x, y in zip(b, c))
        q = statistics.quantiles(ratios, n=4)
        print(f"| {name} | {statistics.median(b):.2f} ({min(b):.2f}-{max(b):.2f}) | "
              f"{statistics.median(c):.2f} ({min(c):.2f}-{max(c):.2f}) | {statistics.median(ratios):.3f} | "
              f"{q[0]:.3f}-{q[2]:.3f} | {ratios[0]:.3f}-{ratios[-1]:.3f} |")


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
    config = synthetic(20)
    n_regions = len(config[CONFIG_KEY]["regions"])
    secs, n = time_engine(f"synthetic-{n_regions}", config, args.repeat)
    rows.append((f"engine: synthetic {n_regions}-region stack (every region the catalog prices)", n, secs))
    print(f"median of {args.repeat} runs, {sys.platform}, Python {sys.version.split()[0]}\n")
    print("| what | resources | seconds | resources/s |\n|---|---:|---:|---:|")
    for what, count, seconds in rows:
        print(f"| {what} | {count} | {seconds:.2f} | {count / seconds:.0f} |")


if __name__ == "__main__":
    main()
