"""Generate ``demand-2026.csv``: a year of hourly GPU node demand for the capacity planner.

Shape of a typical inference service (one node = one g6e.xlarge serving replica):
- growth: 6 nodes of daytime traffic in January to 11 in December (linear);
- diurnal: a business-hours hump peaking at 15:00 UTC (EU afternoon, US morning),
  night trough at 35% of the peak;
- weekly: Saturdays and Sundays carry 65% of weekday traffic;
- noise: +-8% per hour; six launch days with 1.8x traffic for 10 hours.
Nodes = ceil(load), at least 1 (the service never scales to zero).

Deterministic (seed 2026): ``python examples/capacity/make_demand.py`` rewrites the same file.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

SEED = 2026
START = datetime(2026, 1, 1, tzinfo=timezone.utc)
HOURS = 365 * 24
OUT = Path(__file__).with_name("demand-2026.csv")


def demand(seed: int = SEED) -> list[tuple[datetime, int]]:
    rng = random.Random(seed)
    launch_days = sorted(rng.sample(range(20, 350), 6))
    rows = []
    for h in range(HOURS):
        ts = START + timedelta(hours=h)
        peak = 6 + 5 * h / (HOURS - 1)
        # Raised cosine: 1.0 at 15:00 UTC, 0.35 at 03:00 UTC.
        diurnal = 0.35 + 0.65 * (1 + math.cos(2 * math.pi * (ts.hour - 15) / 24)) / 2
        weekly = 0.65 if ts.weekday() >= 5 else 1.0
        launch = 1.8 if (h // 24) in launch_days and 9 <= ts.hour < 19 else 1.0
        noise = 1 + rng.uniform(-0.08, 0.08)
        rows.append((ts, max(1, math.ceil(peak * diurnal * weekly * launch * noise))))
    return rows


def main() -> None:
    lines = ["timestamp,nodes"] + [f"{ts.strftime('%Y-%m-%dT%H:%M:%SZ')},{n}" for ts, n in demand()]
    OUT.write_text("\n".join(lines) + "\n")
    print(f"wrote {OUT} ({HOURS} hours)")


if __name__ == "__main__":
    main()
