"""Capacity planner: the reserved GPU baseline that minimises cost for an hourly demand series.

Model. Demand ``d_1..d_H`` is the number of nodes needed in each of ``H`` hours. Reserving
``R`` nodes costs ``R * H * r`` (a commitment is paid every hour, used or not); hours above
the baseline run on-demand at ``o`` per node-hour::

    cost(R) = R*H*r + o * sum_h max(0, d_h - R)

Why a quantile is exact. ``cost(R+1) - cost(R) = H*r - o * c(R)`` where ``c(R)`` is the
number of hours with ``d_h > R``. ``c`` never increases with ``R``, so the differences never
decrease: ``cost`` is convex on the integers and its minimum is the smallest ``R`` whose next
step does not pay, i.e. ``c(R) <= k`` with ``k = floor(H * r / o)``. With demand sorted in
descending order ``s_0 >= s_1 >= ...``, that is ``R* = s_k`` (0 when ``k >= H``): exactly
``k`` or fewer hours lie above it, and any smaller ``R`` leaves at least ``k+1`` above.
In words: the ``(R+1)``-th node is worth reserving iff it is busy in more than ``r/o`` of
the hours -- ``r/o`` is the break-even utilisation. Ties (the step is exactly zero) go to
the smaller ``R``: same cost, less commitment.

Arithmetic is exact (``Fraction`` of the decimal prices), so the choice never flips on a
floating-point rounding and a brute-force check can compare costs with ``==``. One sort:
O(H log H); a year of hourly data plans in milliseconds (benchmarks/planner_speed.py).

CSV contract (``parse_demand_csv``): header ``timestamp,nodes``; one row per hour, ISO 8601
timestamps (``2026-01-01T00:00:00Z``), each exactly one hour after the previous one; nodes
a non-negative integer. Gaps, duplicates and out-of-order rows are errors, not zeros:
a missing hour is ambiguous (no load, or lost data?) and a commitment is paid for it
anyway, so the user fills it explicitly (``nodes`` 0 if nothing ran). Blank lines are
ignored. Every bad line is reported in one ``ConfigError``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Sequence

from aiplat.errors import ConfigError, Problem, UsageError

HEADER = ("timestamp", "nodes")
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Demand:
    """An hourly series of nodes needed; ``timestamps[i]`` is the start of hour ``i``."""

    timestamps: tuple[datetime, ...]
    nodes: tuple[int, ...]

    @property
    def hours(self) -> int:
        return len(self.nodes)


@dataclass(frozen=True)
class Plan:
    """The cost-minimising reserved baseline and what it costs, against two alternatives.

    Costs are USD over the whole series. ``break_even_utilisation`` = reserved/on-demand
    hourly price: a reserved node pays off when busy in more than that share of hours.
    """

    hours: int
    peak_nodes: int
    mean_nodes: float
    reserved_nodes: int
    reserved_hourly_usd: float
    on_demand_hourly_usd: float
    break_even_utilisation: float
    reserved_cost_usd: float
    on_demand_burst_cost_usd: float
    total_cost_usd: float
    on_demand_only_cost_usd: float
    peak_reserved_cost_usd: float
    savings_vs_on_demand_usd: float
    savings_vs_on_demand_pct: float
    savings_vs_peak_usd: float
    savings_vs_peak_pct: float
    reserved_node_hours: int
    idle_reserved_node_hours: int
    reserved_utilisation: float
    on_demand_node_hours: int
    on_demand_peak_nodes: int

    def to_dict(self) -> dict:
        return asdict(self)


def _exact(price: float | Fraction | str) -> Fraction:
    # Fraction(str(0.6338)) == 6338/10000: the decimal price as written in the catalog,
    # not its binary approximation.
    return price if isinstance(price, Fraction) else Fraction(str(price))


def _check_prices(r: Fraction, o: Fraction) -> None:
    if r <= 0 or o <= 0:
        raise ValueError(f"prices must be positive (reserved {r}, on-demand {o})")


def optimal_reserved_nodes(demand: Sequence[int], reserved_hourly, on_demand_hourly) -> int:
    """Smallest R minimising ``cost(R)`` (see module docstring): the k-th largest demand."""
    r, o = _exact(reserved_hourly), _exact(on_demand_hourly)
    _check_prices(r, o)
    hours = len(demand)
    if hours == 0:
        return 0
    # k = how many hours may lie above the baseline: each costs o per node, the node
    # costs H*r reserved, so the node pays off when more than H*r/o hours need it.
    k = (hours * r) // o
    if k >= hours:
        return 0  # reserved is not cheaper than on-demand even at 100% use
    return sorted(demand, reverse=True)[int(k)]


def total_cost(demand: Sequence[int], reserved_nodes: int, reserved_hourly, on_demand_hourly) -> Fraction:
    """Exact ``cost(R)``: R reserved for every hour + on-demand for hours above R."""
    r, o = _exact(reserved_hourly), _exact(on_demand_hourly)
    excess = sum(d - reserved_nodes for d in demand if d > reserved_nodes)
    return reserved_nodes * len(demand) * r + excess * o


def plan(demand: Sequence[int], reserved_hourly, on_demand_hourly) -> Plan:
    """The optimal plan for ``demand`` (nodes per hour) at the given USD per node-hour prices."""
    r, o = _exact(reserved_hourly), _exact(on_demand_hourly)
    _check_prices(r, o)
    hours = len(demand)
    if hours == 0:
        raise ValueError("demand needs at least one hour")
    R = optimal_reserved_nodes(demand, r, o)
    peak = max(demand)
    node_hours = sum(demand)
    excess = sum(d - R for d in demand if d > R)
    reserved_cost = R * hours * r
    burst_cost = excess * o
    total = reserved_cost + burst_cost
    od_only = node_hours * o
    peak_cost = peak * hours * r
    used_reserved = node_hours - excess  # sum of min(d, R)
    idle = R * hours - used_reserved

    def pct(saved: Fraction, base: Fraction) -> float:
        return round(float(saved / base * 100), 2) if base else 0.0

    return Plan(
        hours=hours,
        peak_nodes=peak,
        mean_nodes=round(node_hours / hours, 3),
        reserved_nodes=R,
        reserved_hourly_usd=float(r),
        on_demand_hourly_usd=float(o),
        break_even_utilisation=round(float(r / o), 4),
        reserved_cost_usd=round(float(reserved_cost), 2),
        on_demand_burst_cost_usd=round(float(burst_cost), 2),
        total_cost_usd=round(float(total), 2),
        on_demand_only_cost_usd=round(float(od_only), 2),
        peak_reserved_cost_usd=round(float(peak_cost), 2),
        savings_vs_on_demand_usd=round(float(od_only - total), 2),
        savings_vs_on_demand_pct=pct(od_only - total, od_only),
        savings_vs_peak_usd=round(float(peak_cost - total), 2),
        savings_vs_peak_pct=pct(peak_cost - total, peak_cost),
        reserved_node_hours=R * hours,
        idle_reserved_node_hours=idle,
        reserved_utilisation=round(used_reserved / (R * hours), 4) if R else 0.0,
        on_demand_node_hours=excess,
        on_demand_peak_nodes=peak - R,
    )


# ---- CSV input --------------------------------------------------------------------------


def parse_demand_csv(text: str, source: str = "<demand>") -> Demand:
    """Parse ``timestamp,nodes`` CSV text; one ConfigError lists every bad line (see module doc)."""
    problems: list[Problem] = []
    text = text.lstrip("\ufeff")  # spreadsheets write a BOM
    rows = [(n, row) for n, row in enumerate(csv.reader(io.StringIO(text)), 1) if any(c.strip() for c in row)]
    if not rows:
        raise ConfigError([Problem("line 1", "empty file: expected header 'timestamp,nodes' and hourly rows")], source)
    header_line, header = rows[0]
    # ConfigError sorts problems by path: right-align line numbers so "line  9" sorts
    # before "line 10" and the report reads in file order.
    width = len(str(rows[-1][0]))
    if tuple(c.strip() for c in header) != HEADER:
        problems.append(
            Problem(f"line {header_line:>{width}}", f"header must be 'timestamp,nodes', got {','.join(header)!r}")
        )
    if len(rows) == 1 and not problems:
        raise ConfigError([Problem(f"line {header_line}", "no data rows after the header")], source)
    timestamps: list[datetime] = []
    nodes: list[int] = []
    prev: tuple[int, datetime] | None = None  # last good (line, timestamp), for gap checks
    aware: bool | None = None  # whether the file's first timestamp carries a time zone
    for line, row in rows[1:]:
        where = f"line {line:>{width}}"
        if len(row) != 2:
            problems.append(Problem(where, f"expected 2 fields 'timestamp,nodes', got {len(row)}: {','.join(row)!r}"))
            # Keep the hour sequence going when the timestamp is fine, so one stray comma
            # does not also flag the next row as a gap.
            try:
                stray = datetime.fromisoformat(row[0].strip())
                prev = (line, stray) if aware is None or aware == (stray.tzinfo is not None) else None
            except ValueError:
                prev = None
            continue
        ts_text, n_text = row[0].strip(), row[1].strip()
        ts = None
        try:
            ts = datetime.fromisoformat(ts_text)
        except ValueError:
            problems.append(Problem(where, f"timestamp {ts_text!r} is not ISO 8601 (e.g. 2026-01-01T00:00:00Z)"))
        # Digits only: int() would also take "1_000" and "+3", which no exporter means.
        n = int(n_text) if n_text.isascii() and n_text.isdigit() else None
        if n is None:
            if n_text.startswith("-") and n_text[1:].isascii() and n_text[1:].isdigit():
                problems.append(Problem(where, f"nodes {n_text!r} is negative"))
            else:
                problems.append(Problem(where, f"nodes {n_text!r} is not a whole number"))
        if ts is not None:
            if aware is None:
                aware = ts.tzinfo is not None
            elif aware != (ts.tzinfo is not None):
                # Subtracting naive from aware is undefined: an hour could silently vanish.
                problems.append(Problem(where, f"timestamp {ts_text}: mixes time-zone-aware and naive times"))
                ts = None
        if ts is not None and prev is not None:
            step = ts - prev[1]
            if step != HOUR:
                if step > HOUR and step % HOUR == timedelta(0):
                    missing = step // HOUR - 1
                    why = f"{missing} missing hour{'s' if missing != 1 else ''} after line {prev[0]} (fill them, 0 if idle)"
                elif step == timedelta(0):
                    why = f"duplicate of line {prev[0]}"
                elif step < timedelta(0):
                    why = f"earlier than line {prev[0]} ({prev[1].isoformat()}); rows must be in time order"
                else:
                    why = f"not a whole hour after line {prev[0]} ({prev[1].isoformat()})"
                problems.append(Problem(where, f"timestamp {ts_text}: {why}"))
        prev = (line, ts) if ts is not None else None
        if ts is not None and n is not None:
            timestamps.append(ts)
            nodes.append(n)
    if problems:
        raise ConfigError(problems, source)
    return Demand(tuple(timestamps), tuple(nodes))


def read_demand_csv(path: str | Path) -> Demand:
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise UsageError(f"demand file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read demand file {path}: {exc}") from None
    return parse_demand_csv(text, str(path))
