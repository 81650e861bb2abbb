"""Closed-loop load test of any Triton model over HTTP, bounded in time.

``concurrency`` workers each hold their own ``tritonclient.http`` client (the client is
not thread-safe) and send one request after another until ``duration`` seconds have
passed; inputs are generated once from the model metadata (as in ``serving.smoke``).
The result is throughput (successful requests per second over the measured window),
latency percentiles p50/p95/p99 (nearest rank, successful requests only) and the error
count with a few samples.

Bounded in time, always: a preflight (live + metadata, with short timeouts) fails fast
on a dead server; every request has a network timeout; workers stop at the deadline and
are abandoned (daemon threads) if a request outlives ``deadline + timeout``. A run with
errors, or without a single success, is a failed load test (exit 1 in the CLI).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import asdict, dataclass, field

from aiplat.serving.smoke import DEFAULT_TIMEOUT, ModelIO, describe_error, make_client, normalize_url


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of an ascending list; None when empty."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass
class LoadResult:
    url: str
    model: str
    version: str
    concurrency: int
    duration_s: float            # requested
    batch_size: int = 1          # per request (1 for models without batching)
    elapsed_s: float = 0.0       # measured window, first send to last completion
    requests: int = 0            # successful
    errors: int = 0
    throughput_rps: float = 0.0
    latency_ms: dict = field(default_factory=dict)   # p50, p95, p99, mean, max
    error_samples: list[str] = field(default_factory=list)
    aborted: str = ""            # why the run stopped early (preflight, stuck workers)

    @property
    def ok(self) -> bool:
        return not self.aborted and self.errors == 0 and self.requests > 0

    def as_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def loadtest(url: str, model: str, *, concurrency: int = 1, duration: float = 10.0,
             version: str = "", timeout: float = DEFAULT_TIMEOUT, batch_size: int = 1,
             max_error_samples: int = 5) -> LoadResult:
    if concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    if duration <= 0:
        raise ValueError("duration must be > 0")
    res = LoadResult(normalize_url(url), model, version, concurrency, duration)

    # Preflight with one client: fail fast (and cheaply) on a dead server or bad model.
    client = make_client(url, timeout)
    try:
        live = client.is_server_live()
        if not live:
            res.aborted = "server not live"
            return res
        io = ModelIO.fetch(client, model, version)
    except Exception as exc:  # noqa: BLE001 - any failure here is a failed load test
        res.aborted = f"preflight failed: {describe_error(exc)}"
        return res
    finally:
        client.close()
    batch = batch_size if io.max_batch_size > 0 else 1
    res.batch_size = batch
    inputs = io.build_inputs(batch)
    outputs = io.requested_outputs()

    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors: list[list[str]] = [[] for _ in range(concurrency)]
    end_times = [0.0] * concurrency
    barrier = threading.Barrier(concurrency + 1)
    start_box: list[float] = []

    def worker(i: int) -> None:
        c = make_client(url, timeout)
        try:
            barrier.wait(timeout=timeout)
            deadline = start_box[0] + duration
            lat, errs = latencies[i], errors[i]
            while True:
                t0 = time.perf_counter()
                if t0 >= deadline:
                    break
                try:
                    c.infer(model, inputs, model_version=version, outputs=outputs)
                    lat.append(time.perf_counter() - t0)
                except Exception as exc:  # noqa: BLE001 - counted, sampled, reported
                    errs.append(describe_error(exc))
                    # A refused connection fails in microseconds; pause briefly so a dead
                    # server yields a handful of errors, not millions.
                    time.sleep(0.05)
            end_times[i] = time.perf_counter()
        except threading.BrokenBarrierError:
            errors[i].append("worker could not start")
        finally:
            c.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True, name=f"load-{i}")
               for i in range(concurrency)]
    for t in threads:
        t.start()
    start_box.append(time.perf_counter())
    try:
        barrier.wait(timeout=timeout)
    except threading.BrokenBarrierError:
        res.aborted = "workers did not start"
    start = start_box[0]
    hard_deadline = start + duration + timeout + 1.0
    for t in threads:
        t.join(max(0.0, hard_deadline - time.perf_counter()))
    stuck = [t.name for t in threads if t.is_alive()]
    if stuck:
        res.aborted = f"{len(stuck)} worker(s) still waiting after the deadline"

    all_lat = sorted(x for lst in latencies for x in lst)
    all_err = [e for lst in errors for e in lst]
    finished = [e for e in end_times if e] or [time.perf_counter()]
    res.elapsed_s = round(max(finished) - start, 3)
    res.requests = len(all_lat)
    res.errors = len(all_err)
    res.throughput_rps = round(res.requests / res.elapsed_s, 2) if res.elapsed_s > 0 else 0.0
    if all_lat:
        ms = [x * 1000.0 for x in all_lat]
        res.latency_ms = {
            "p50": round(percentile(ms, 50), 3), "p95": round(percentile(ms, 95), 3),
            "p99": round(percentile(ms, 99), 3), "mean": round(sum(ms) / len(ms), 3),
            "max": round(ms[-1], 3)}
    # Distinct messages first: one dead server should not fill the samples with one line.
    res.error_samples = list(dict.fromkeys(all_err))[:max_error_samples]
    return res
