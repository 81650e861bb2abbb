"""Closed-loop load test of any Triton model over HTTP, bounded in time.

``concurrency`` workers each hold one keep-alive connection and send one request after
another until ``duration`` seconds have passed. The request is encoded once, by
tritonclient itself (``InferenceServerClient.generate_request_body``: the JSON header plus
the binary tensors, as ``tritonclient.http`` would send it), from inputs generated from the
model metadata (as in ``aiplat.serving.smoke``). Per request a worker only writes those
bytes and reads the response (status line, headers, body) from a raw socket, and checks
it: HTTP 200, the body length, and the JSON header naming every requested output with the
expected batch size. That is the whole client cost, so on a machine shared with the server
the load generator takes little CPU from it (a tritonclient call per request costs several
times more and capped throughput at 40-80 % of perf_analyzer's). The result is throughput
(successful requests per second over the measured window), latency percentiles
p50/p95/p99 (nearest rank, successful requests only) and the error count with a few
samples.

Bounded in time, always: a preflight (live + metadata, with short timeouts) fails fast
on a dead server; every request has a network timeout; workers stop at the deadline and
are abandoned (daemon threads) if a request outlives ``deadline + timeout``. A run with
errors, or without a single success, is a failed load test (exit 1 in the CLI).
"""

from __future__ import annotations

import json
import math
import socket
import threading
import time
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

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
    request = InferRequest.build(url, model, version, io, batch)

    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors: list[list[str]] = [[] for _ in range(concurrency)]
    end_times = [0.0] * concurrency
    barrier = threading.Barrier(concurrency + 1)
    start_box: list[float] = []

    def worker(i: int) -> None:
        conn = _Connection(request.host, request.port, timeout)
        try:
            barrier.wait(timeout=timeout)
            deadline = start_box[0] + duration
            lat, errs = latencies[i], errors[i]
            send, check = conn.exchange, request.check
            while True:
                t0 = time.perf_counter()
                if t0 >= deadline:
                    break
                try:
                    status, header_len, body = send(request.payload)
                    problem = check(status, header_len, body)
                    if problem is None:
                        lat.append(time.perf_counter() - t0)
                        continue
                    errs.append(problem)
                except (OSError, ValueError) as exc:  # counted, sampled, reported
                    errs.append(describe_error(exc))
                    conn.close()
                # A refused connection fails in microseconds; pause briefly so a dead
                # server yields a handful of errors, not millions.
                time.sleep(0.05)
            end_times[i] = time.perf_counter()
        except threading.BrokenBarrierError:
            errors[i].append("worker could not start")
        finally:
            conn.close()

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


# -- the request, encoded once, and a minimal keep-alive HTTP/1.1 connection ----------------
@dataclass(frozen=True)
class InferRequest:
    host: str
    port: int
    payload: bytes            # request line, headers and body, exactly what goes on the wire
    outputs: tuple[str, ...]  # what a good response must name
    batch: int                # its batch dimension, for batched models (0: not batched)

    @classmethod
    def build(cls, url: str, model: str, version: str, io: ModelIO, batch: int) -> "InferRequest":
        import tritonclient.http as httpclient

        body, json_size = httpclient.InferenceServerClient.generate_request_body(
            io.build_inputs(batch), outputs=io.requested_outputs())
        parts = urlsplit(f"http://{normalize_url(url)}")  # normalize_url gives host:port
        path = f"/v2/models/{model}" + (f"/versions/{version}" if version else "") + "/infer"
        head = [f"POST {path} HTTP/1.1", f"Host: {parts.netloc}", "Content-Type: application/octet-stream",
                f"Content-Length: {len(body)}"]
        if json_size is not None:
            head.append(f"Inference-Header-Content-Length: {json_size}")
        payload = ("\r\n".join(head) + "\r\n\r\n").encode() + body
        return cls(parts.hostname or "127.0.0.1", parts.port or 80, payload,
                   tuple(o["name"] for o in io.outputs), batch if io.max_batch_size > 0 else 0)

    def check(self, status: int, header_len: int | None, body: bytes) -> str | None:
        """None for a good response, else what was wrong (Triton's own message for errors)."""
        header = body[:header_len] if header_len is not None else body
        try:
            doc = json.loads(header)
        except ValueError:
            return f"HTTP {status}: response is not Triton's JSON"
        if status != 200:
            return f"HTTP {status}: {doc.get('error', doc) if isinstance(doc, dict) else doc}"
        got = {o.get("name"): o.get("shape") for o in doc.get("outputs", ())}
        for name in self.outputs:
            shape = got.get(name)
            if shape is None:
                return f"output {name} missing from the response"
            if self.batch and (not shape or shape[0] != self.batch):
                return f"output {name}: batch dim {shape[:1]}, expected {self.batch}"
        return None


class _Connection:
    """One keep-alive connection; reconnects after an error. Not thread-safe (one per worker)."""

    def __init__(self, host: str, port: int, timeout: float):
        self.host, self.port, self.timeout = host, port, timeout
        self.sock: socket.socket | None = None
        self.buf = b""

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock, self.buf = None, b""

    def exchange(self, payload: bytes) -> tuple[int, int | None, bytes]:
        if self.sock is None:
            self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock = self.sock
        sock.sendall(payload)
        buf = self.buf
        end = buf.find(b"\r\n\r\n")
        while end < 0:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            buf += chunk
            end = buf.find(b"\r\n\r\n")
        head = buf[:end].decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        fields = {}
        for line in head[1:]:
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        if "content-length" not in fields:
            raise ValueError(f"HTTP {status} without Content-Length (chunked responses are not expected from Triton)")
        length = int(fields["content-length"])
        rest = buf[end + 4:]
        while len(rest) < length:
            chunk = sock.recv(max(65536, length - len(rest)))
            if not chunk:
                raise ConnectionError("server closed the connection mid-response")
            rest += chunk
        self.buf = rest[length:]
        if fields.get("connection", "").lower() == "close":
            self.close()
        header_len = fields.get("inference-header-content-length")
        return status, int(header_len) if header_len else None, rest[:length]
