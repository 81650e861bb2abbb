"""How fast is `aiplat check`? Seconds and resources/second, end to end and engine only.

    .venv/bin/python benchmarks/check_speed.py [--repeat 3]

Measures (a) the CLI in a fresh interpreter (`aiplat check prod`, what a user waits for,
imports included) and (b) the recording engine alone on the prod stack and on a synthetic
20-region stack built from prod's settings. Prints a Markdown table for the README.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import subprocess
import sys
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
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
