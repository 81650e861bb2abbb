"""Seconds per capacity plan for hourly demand series of growing length.

Measures ``components.capacity.plan`` (exact rational arithmetic, one sort) on the shipped
year (8,760 hours) and on 10 / 100 years of the same generator's shape, plus CSV parsing
of the shipped file. Best of N runs (the minimum is the least noisy estimate of cost).

    .venv/bin/python benchmarks/planner_speed.py
"""

from __future__ import annotations

import importlib.util
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from aiplat.tools import capacity  # noqa: E402
from aiplat.catalog import gpu  # noqa: E402

EXAMPLE = ROOT / "examples" / "capacity" / "demand-2026.csv"


def best_of(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    spec = importlib.util.spec_from_file_location("make_demand", EXAMPLE.with_name("make_demand.py"))
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    year = [n for _, n in gen.demand()]
    price = gpu.get_instance_type("aws", "g6e.xlarge").price("us-east-1")
    r, o = price.reserved_1y_hourly, price.on_demand_hourly

    print(f"python {platform.python_version()} on {platform.machine()} ({platform.processor() or 'cpu'})")
    print(f"{'series':<28}{'points':>12}{'seconds/plan':>16}")
    text = EXAMPLE.read_text()
    t = best_of(lambda: capacity.parse_demand_csv(text), 5)
    print(f"{'parse demand-2026.csv':<28}{len(year):>12,}{t:>16.4f}")
    for label, series, repeat in (
        ("plan 1 year", year, 20),
        ("plan 10 years", year * 10, 5),
        ("plan 100 years", year * 100, 3),
    ):
        t = best_of(lambda: capacity.plan(series, r, o), repeat)
        print(f"{label:<28}{len(series):>12,}{t:>16.4f}")


if __name__ == "__main__":
    main()
