"""Evaluate a served model version on a curated dataset and gate it on thresholds (``aiplat eval``).

A dataset is JSON Lines, one example per line::

    {"inputs": {"FEATURES": [0.1, 0.2, 0.3, 0.4]}, "expected": {"LABEL": [2], "PROBS": [0.2, 0.3, 0.5]}}

``inputs`` names every input of the model (nothing else), each value a nested list in the
input's shape without the batch dimension (``-1`` dims take any size); ``expected``
(optional when a baseline version is compared) names some or all outputs the same way.
Numbers for integer and float tensors (integers for integer ones), ``true``/``false`` for
BOOL, strings for BYTES. Blank lines are skipped. Every line is checked against the
server's own model metadata before anything is sent, and every bad line is reported with
its number (``DatasetError``, exit 2).

Rows are stacked into batches of up to the model's ``max_batch_size`` (rows whose input
shapes differ go into different batches) and sent by ``concurrency`` workers, each with
its own client, so several requests are in flight. Every call has a connection and a
network timeout; after 10 failed requests in a row the run stops sending (a dead server
yields a bounded, failed run instead of one timeout per batch).

Metrics, per output, chosen by its datatype and shape:

* integer, BOOL and BYTES outputs ("label" outputs): ``accuracy``, the share of rows whose
  output equals ``expected`` exactly (every element of the row).
* float outputs (FP16/FP32/FP64): ``max_abs_error`` and ``mean_abs_error`` over all elements
  of all rows with expected values; for outputs of more than one element per row also
  ``cosine_mean``/``cosine_min``, the cosine similarity of each row's output with its
  expected vector (1.0 when both are zero, 0.0 when only one is).
* against a baseline version (same or another server), for every output: ``agreement``,
  the share of rows equal to the baseline's answer on the same inputs (floats: every
  element within ``agreement_tolerance``, default 1e-6), plus, for floats,
  ``max_abs_diff``/``mean_abs_diff`` from the baseline.
* ``latency_ms`` p50/p95/p99/mean/max (nearest rank) of the evaluated version's requests,
  each a batch of up to ``max_batch_size`` rows at the given concurrency.
* failed requests: any failed request (or one whose answer lacks an output or has the
  wrong batch size) fails the evaluation; its rows are not judged.

Thresholds (``modelspec.Evaluation``: flags over the model spec's ``evaluation:``
section) become checks: ``max_abs_error`` and ``min_cosine`` for each float output with
expected values, ``min_accuracy`` for each label output with expected values,
``min_agreement`` for each output against the baseline, ``max_p99_ms`` once. A threshold
that applies to nothing on this run is a failed check ("not measured"), never a pass.
The report names each check's measured value and its worst examples with their dataset
line numbers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aiplat.errors import AiplatError, UsageError
from aiplat.serving.loadtest import percentile
from aiplat.serving.modelspec import Evaluation
from aiplat.serving.smoke import DEFAULT_TIMEOUT, ModelIO, describe_error, make_client, normalize_url

FLOAT_TYPES = frozenset({"FP16", "FP32", "FP64"})
INT_TYPES = frozenset({"INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"})
LABEL_TYPES = INT_TYPES | {"BOOL", "BYTES"}
DATASET_KEYS = ("inputs", "expected")
WORST = 5                 # worst examples kept per check
MAX_CONSECUTIVE_FAILURES = 10
SHOWN_ELEMENTS = 8        # elements of a tensor shown in a worst example


class DatasetError(AiplatError):
    """A dataset with bad lines: every one, in line order, with what is wrong (exit 2)."""

    def __init__(self, path: str, problems: list[tuple[int, str]]):
        self.path = path
        self.problems = sorted(problems, key=lambda p: p[0])
        lines = len({n for n, _ in self.problems})
        head = (f"bad dataset {path} ({len(self.problems)} problem{'s' if len(self.problems) != 1 else ''} "
                f"on {lines} line{'s' if lines != 1 else ''}):")
        super().__init__("\n".join([head, *(f"  line {n}: {m}" if n else f"  {m}" for n, m in self.problems)]))


class ServerError(AiplatError):
    """The server (or the model version on it) cannot be reached or used: exit 2."""


# ---- the dataset ---------------------------------------------------------------------------------


@dataclass
class Row:
    line: int
    inputs: dict[str, np.ndarray]
    expected: dict[str, np.ndarray]


@dataclass
class Dataset:
    path: str
    name: str
    digest: str           # sha256 of the file's bytes
    rows: list[Row]

    def summary(self) -> dict:
        return {"name": self.name, "path": self.path, "digest": self.digest, "rows": len(self.rows)}


def file_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _shape_and_leaves(value: Any) -> tuple[list[int], list[Any]] | None:
    """Shape and flat elements of a nested list; None when it is not rectangular."""
    shape: list[int] = []
    level = [value]
    while level and isinstance(level[0], list):
        n = len(level[0])
        if any(not isinstance(x, list) or len(x) != n for x in level):
            return None
        shape.append(n)
        level = [x for item in level for x in item]
    if any(isinstance(x, list) for x in level):
        return None
    return shape, level


def _leaf_problem(datatype: str, leaves: list[Any]) -> str | None:
    if datatype in FLOAT_TYPES:
        bad = next((x for x in leaves if type(x) is not float and type(x) is not int), None)
        return None if bad is None else f"{datatype} takes numbers, found {_json_type(bad)}"
    if datatype in INT_TYPES:
        bad = next((x for x in leaves if type(x) is not int), None)
        if bad is not None:
            return f"{datatype} takes integers, found {_json_type(bad)} {json.dumps(bad)}"
        info = np.iinfo(datatype.lower())
        out = next((x for x in leaves if not info.min <= x <= info.max), None)
        return None if out is None else f"{out} is out of range for {datatype} ({info.min}..{info.max})"
    if datatype == "BOOL":
        bad = next((x for x in leaves if type(x) is not bool), None)
        return None if bad is None else f"BOOL takes true/false, found {_json_type(bad)}"
    if datatype == "BYTES":
        bad = next((x for x in leaves if type(x) is not str), None)
        return None if bad is None else f"BYTES takes strings, found {_json_type(bad)}"
    return f"datatype {datatype} is not supported by aiplat eval"


def _json_type(x: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array",
            dict: "an object", type(None): "null"}.get(type(x), type(x).__name__)


def _np_dtype(datatype: str):
    if datatype == "BYTES":
        return np.object_
    if datatype == "BOOL":
        return np.bool_
    return np.dtype(datatype.lower().replace("fp", "float"))


def tensor_from_json(value: Any, datatype: str, shape: list[int]) -> np.ndarray | str:
    """The value as an array of the tensor's datatype and shape (no batch dim), or why not."""
    found = _shape_and_leaves(value)
    if found is None:
        return "not a rectangular array (nested lists of different lengths)"
    got, leaves = found
    if len(got) != len(shape) or any(w != -1 and g != w for g, w in zip(got, shape)) or 0 in got:
        hint = " (write the value inside a list)" if not got and shape == [1] else ""
        return f"shape {got}, the model's is {shape}{hint}"
    problem = _leaf_problem(datatype, leaves)
    if problem:
        return problem
    if datatype == "BYTES":
        leaves = [s.encode("utf-8") for s in leaves]
    return np.array(leaves, dtype=_np_dtype(datatype)).reshape(got)


def _row_shape(meta: dict, batched: bool) -> list[int]:
    shape = [int(d) for d in meta["shape"]]
    return shape[1:] if batched else shape


def _tensors(given: dict, specs: dict[str, tuple[str, list[int]]], section: str, number: int,
             problems: list[tuple[int, str]]) -> dict[str, np.ndarray]:
    """The named tensors of one line's ``inputs`` or ``expected``; what is wrong goes to ``problems``."""
    what = "input" if section == "inputs" else "output"
    arrays = {}
    for key, value in given.items():
        if key not in specs:
            problems.append((number, f"{section}.{key}: no such {what} (the model's {what}s: {', '.join(specs)})"))
            continue
        arr = tensor_from_json(value, *specs[key])
        if isinstance(arr, str):
            problems.append((number, f"{section}.{key}: {arr}"))
        else:
            arrays[key] = arr
    return arrays


def read_dataset(path: str | Path, io: ModelIO, *, name: str | None = None,
                 need_expected: bool = True) -> Dataset:
    """Parse and check every line against the model's metadata; DatasetError lists all bad lines."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"dataset {path}: {exc.strerror or exc}") from None
    batched = io.max_batch_size > 0
    inputs = {m["name"]: (m["datatype"], _row_shape(m, batched)) for m in io.inputs}
    outputs = {m["name"]: (m["datatype"], _row_shape(m, batched)) for m in io.outputs}
    rows: list[Row] = []
    problems: list[tuple[int, str]] = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            problems.append((number, "not UTF-8 text"))
            continue
        try:
            doc = json.loads(text, parse_constant=_reject_constant)
        except ValueError as exc:
            problems.append((number, f"not JSON: {exc}"))
            continue
        if not isinstance(doc, dict):
            problems.append((number, f"expected an object with inputs and expected, found {_json_type(doc)}"))
            continue
        before = len(problems)
        for key in doc:
            if key not in DATASET_KEYS:
                problems.append((number, f"unknown key {key!r} (a line has inputs and expected)"))
        given = doc.get("inputs")
        row_inputs: dict[str, np.ndarray] = {}
        if not isinstance(given, dict):
            problems.append((number, "inputs: missing" if given is None else
                             f"inputs: expected an object of input tensors, found {_json_type(given)}"))
        else:
            row_inputs = _tensors(given, inputs, "inputs", number, problems)
            problems += [(number, f"inputs: missing input {key!r}") for key in inputs if key not in given]
        expected = doc.get("expected")
        row_expected: dict[str, np.ndarray] = {}
        if expected is not None and not isinstance(expected, dict):
            problems.append((number, f"expected: expected an object of output tensors, found "
                                     f"{_json_type(expected)}"))
        elif expected:
            row_expected = _tensors(expected, outputs, "expected", number, problems)
        elif need_expected:
            problems.append((number, "no expected outputs: give \"expected\" or compare with a baseline "
                                     "(--baseline-version / --baseline-url)"))
        if len(problems) == before:
            rows.append(Row(number, row_inputs, row_expected))
    if problems:
        raise DatasetError(str(path), problems)
    if not rows:
        raise DatasetError(str(path), [(0, "no examples (every line is blank)")])
    return Dataset(str(path), name or path.stem, file_digest(data), rows)


# ---- inference -----------------------------------------------------------------------------------


def plan_batches(rows: list[Row], input_names: list[str], batch_size: int) -> list[list[int]]:
    """Row indices per request: rows with the same input shapes, in dataset order, up to batch_size."""
    groups: dict[tuple, list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault(tuple(row.inputs[n].shape for n in input_names), []).append(i)
    return [idx[k:k + batch_size] for idx in groups.values() for k in range(0, len(idx), batch_size)]


@dataclass
class Answer:
    outputs: dict[str, np.ndarray] | None = None   # name -> (rows, ...) array
    error: str | None = None
    latency_s: float = 0.0
    version: str = ""
    sent: bool = False


@dataclass
class Target:
    """One model version on one server."""

    url: str
    model: str
    version: str = ""

    def label(self) -> str:
        return f"{self.model}{' v' + self.version if self.version else ''} at {self.url}"


def connect(target: Target, timeout: float) -> ModelIO:
    """Live, ready, metadata: a dead or hung server, or a model not served, is a ServerError."""
    client = make_client(target.url, timeout)
    what = target.label()
    try:
        try:
            live = client.is_server_live()
        except Exception as exc:  # noqa: BLE001 - geventhttpclient raises its own socket/timeout types
            raise ServerError(f"cannot reach Triton at {target.url}: {describe_error(exc)}") from None
        if not live:
            raise ServerError(f"Triton at {target.url} is not live")
        try:
            ready = client.is_model_ready(target.model, target.version)
            io = ModelIO.fetch(client, target.model, target.version) if ready else None
        except Exception as exc:  # noqa: BLE001
            raise ServerError(f"{what}: {describe_error(exc)}") from None
        if io is None:
            raise ServerError(f"{what} is not ready (not loaded, or no such model/version)")
        unsupported = [f"{m['name']} ({m['datatype']})" for m in io.inputs + io.outputs
                       if m["datatype"] not in FLOAT_TYPES | LABEL_TYPES]
        if unsupported:
            raise ServerError(f"{what}: tensors of unsupported datatype: {', '.join(unsupported)}")
        return io
    finally:
        client.close()


def infer_all(target: Target, io: ModelIO, rows: list[Row], batches: list[list[int]], *,
              concurrency: int, timeout: float) -> list[Answer]:
    """One Answer per batch. Workers with their own clients (tritonclient is not thread-safe)."""
    import tritonclient.http as httpclient

    answers = [Answer() for _ in batches]
    batched = io.max_batch_size > 0
    requested = [httpclient.InferRequestedOutput(m["name"], binary_data=True) for m in io.outputs]
    order = itertools.count()
    lock = threading.Lock()
    state = {"consecutive": 0, "stop": False}

    def request(b: list[int]) -> list:
        tensors = []
        for meta in io.inputs:
            name = meta["name"]
            arr = np.stack([rows[i].inputs[name] for i in b]) if batched else rows[b[0]].inputs[name]
            t = httpclient.InferInput(name, list(arr.shape), meta["datatype"])
            t.set_data_from_numpy(arr, binary_data=True)
            tensors.append(t)
        return tensors

    def check(result, n: int) -> tuple[dict[str, np.ndarray] | None, str | None]:
        out = {}
        for meta in io.outputs:
            arr = result.as_numpy(meta["name"])
            if arr is None:
                return None, f"output {meta['name']} missing from the response"
            if batched and (arr.ndim == 0 or arr.shape[0] != n):
                return None, f"output {meta['name']}: shape {list(arr.shape)} for a batch of {n}"
            out[meta["name"]] = arr if batched else arr[np.newaxis, ...]
        return out, None

    def worker() -> None:
        client = make_client(target.url, timeout)
        try:
            while True:
                k = next(order)
                if k >= len(batches) or state["stop"]:
                    return
                ans = answers[k]
                ans.sent = True
                t0 = time.perf_counter()
                try:
                    result = client.infer(target.model, request(batches[k]), model_version=target.version,
                                          outputs=requested)
                    ans.latency_s = time.perf_counter() - t0
                    ans.version = str(result.get_response().get("model_version", ""))
                    ans.outputs, ans.error = check(result, len(batches[k]))
                except Exception as exc:  # noqa: BLE001 - a failed request is counted and reported
                    ans.latency_s = time.perf_counter() - t0
                    ans.error = describe_error(exc)
                with lock:
                    state["consecutive"] = state["consecutive"] + 1 if ans.error else 0
                    if state["consecutive"] >= MAX_CONSECUTIVE_FAILURES:
                        state["stop"] = True
        finally:
            client.close()

    threads = [threading.Thread(target=worker, daemon=True, name=f"eval-{i}")
               for i in range(min(concurrency, len(batches)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


# ---- metrics -------------------------------------------------------------------------------------


def _num(x: float | None, digits: int = 9) -> float | None:
    """JSON-safe: non-finite values (a shape mismatch, NaN outputs) become None."""
    if x is None or not math.isfinite(x):
        return None
    return round(float(x), digits)


def _show(arr: np.ndarray | None) -> Any:
    if arr is None:
        return None
    flat = arr.reshape(-1)
    items = [x.decode("utf-8", "replace") if isinstance(x, bytes) else x.item() for x in flat[:SHOWN_ELEMENTS]]
    items = [float(f"{x:.7g}") if isinstance(x, float) else x for x in items]  # readable, not bit-exact
    if flat.size > SHOWN_ELEMENTS:
        items.append(f"... ({flat.size} elements)")
    return items


def _float_rows(cand: list[np.ndarray], ref: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Per row: max |c - r|, sum |c - r|, cosine(c, r); and the element count. Shape mismatch: inf, nan."""
    n = len(cand)
    max_abs, sum_abs, cos = np.full(n, np.inf), np.full(n, np.inf), np.full(n, np.nan)
    if n == 0:
        return max_abs, sum_abs, cos, 0
    same = [c.shape == r.shape for c, r in zip(cand, ref)]
    if all(same) and len({c.shape for c in cand}) == 1:
        idx = np.arange(n)
        c = np.stack(cand).reshape(n, -1).astype(np.float64)
        r = np.stack(ref).reshape(n, -1).astype(np.float64)
    else:  # variable shapes: row by row
        idx = np.array([i for i, s in enumerate(same) if s], dtype=int)
        for i in idx:
            m, s, k = _float_rows([cand[i]], [ref[i]])[:3]
            max_abs[i], sum_abs[i], cos[i] = m[0], s[0], k[0]
        return max_abs, sum_abs, cos, int(sum(r.size for r, ok in zip(ref, same) if ok))
    d = np.abs(c - r)
    d[np.isnan(d)] = np.inf
    max_abs[idx], sum_abs[idx] = d.max(axis=1), d.sum(axis=1)
    nc, nr = np.linalg.norm(c, axis=1), np.linalg.norm(r, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        k = (c * r).sum(axis=1) / (nc * nr)
    k = np.where((nc == 0) & (nr == 0), 1.0, np.where((nc == 0) | (nr == 0), 0.0, k))
    cos[idx] = np.clip(k, -1.0, 1.0)
    return max_abs, sum_abs, cos, int(c.size)


def _equal_rows(cand: list[np.ndarray], ref: list[np.ndarray]) -> np.ndarray:
    return np.array([c.shape == r.shape and bool(np.all(c == r)) for c, r in zip(cand, ref)], dtype=bool)


@dataclass
class Check:
    threshold: str
    limit: float
    output: str | None = None
    measured: float | None = None
    passed: bool = False
    note: str = ""
    worst: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"threshold": self.threshold, "output": self.output, "limit": self.limit,
                "measured": _num(self.measured), "passed": self.passed, "note": self.note, "worst": self.worst}


class _Output:
    """Per-row answers of one output, compared with expected values and with the baseline."""

    def __init__(self, meta: dict, batched: bool, tolerance: float):
        self.name = meta["name"]
        self.tolerance = tolerance
        self.datatype = meta["datatype"]
        self.kind = "float" if self.datatype in FLOAT_TYPES else "label"
        shape = _row_shape(meta, batched)
        self.multi = not (all(d == 1 for d in shape))   # cosine only where a row is a vector
        self.metrics: dict[str, dict] = {}
        self.rows: dict[str, dict] = {}                  # "expected"/"baseline" -> per-row arrays

    def compare(self, ref_name: str, lines: list[int], cand: list[np.ndarray], ref: list[np.ndarray]) -> None:
        lines_a = np.array(lines, dtype=int)
        if self.kind == "float":
            max_abs, sum_abs, cos, elements = _float_rows(cand, ref)
            if ref_name == "expected":
                m = {"rows": len(lines), "max_abs_error": _num(max_abs.max()) if lines else None,
                     "mean_abs_error": _num(sum_abs.sum() / elements) if elements else None}
                if self.multi:  # a row that cannot be compared makes the cosine unmeasured, not better
                    finite = bool(lines) and bool(np.isfinite(cos).all())
                    m["cosine_mean"] = _num(cos.mean()) if finite else None
                    m["cosine_min"] = _num(cos.min()) if finite else None
            else:
                agree = max_abs <= self.tolerance
                m = {"rows": len(lines), "agreeing": int(agree.sum()), "agreement": _num(agree.mean()),
                     "max_abs_diff": _num(max_abs.max()), "mean_abs_diff": _num(sum_abs.sum() / elements)
                     if elements else None}
            self.rows[ref_name] = {"lines": lines_a, "max_abs": max_abs, "cos": cos, "cand": cand, "ref": ref}
        else:
            equal = _equal_rows(cand, ref)
            if ref_name == "expected":
                m = {"rows": len(lines), "correct": int(equal.sum()), "accuracy": _num(equal.mean())}
            else:
                m = {"rows": len(lines), "agreeing": int(equal.sum()), "agreement": _num(equal.mean())}
            self.rows[ref_name] = {"lines": lines_a, "equal": equal, "cand": cand, "ref": ref}
        self.metrics[ref_name] = m

    def example(self, ref_name: str, i: int, **extra) -> dict:
        r = self.rows[ref_name]
        return {"line": int(r["lines"][i]), **extra, ref_name: _show(r["ref"][i]), "got": _show(r["cand"][i])}

    def worst_by(self, ref_name: str, key: str, descending: bool) -> list[dict]:
        r = self.rows[ref_name]
        values = r[key]
        order = np.argsort(-np.nan_to_num(values, nan=np.inf) if descending
                           else np.nan_to_num(values, nan=-np.inf), kind="stable")
        label = {"max_abs": "abs_error" if ref_name == "expected" else "abs_diff", "cos": "cosine"}[key]
        return [self.example(ref_name, int(i), **{label: _num(values[i])}) for i in order[:WORST]]

    def mismatches(self, ref_name: str) -> list[dict]:
        r = self.rows[ref_name]
        if self.kind == "float":
            bad = np.flatnonzero(~(r["max_abs"] <= self.tolerance))
            return [self.example(ref_name, int(i), abs_diff=_num(r["max_abs"][i])) for i in bad[:WORST]]
        return [self.example(ref_name, int(i)) for i in np.flatnonzero(~r["equal"])[:WORST]]


@dataclass
class Report:
    candidate: Target
    baseline: Target | None
    dataset: Dataset
    evaluation: Evaluation
    thresholds: dict[str, float]
    threshold_sources: dict[str, str]
    checks: list[Check]
    outputs: dict[str, dict]
    latency_ms: dict[str, float]
    requests: dict[str, Any]
    baseline_requests: dict[str, Any] | None
    model_digest: str | None
    started: dt.datetime
    elapsed_s: float
    concurrency: int
    batch_size: int

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    def as_dict(self) -> dict:
        return {
            "kind": "aiplat-eval-report",
            "passed": self.passed,
            "date": self.started.isoformat().replace("+00:00", "Z"),
            "server": self.candidate.url,
            "model": self.candidate.model,
            "version": self.candidate.version,
            "model_digest": self.model_digest,
            "dataset": self.dataset.summary(),
            "baseline": None if self.baseline is None else
            {"server": self.baseline.url, "model": self.baseline.model, "version": self.baseline.version},
            "thresholds": self.thresholds,
            "threshold_sources": self.threshold_sources,
            "agreement_tolerance": self.evaluation.agreement_tolerance,
            "checks": [c.as_dict() for c in self.checks],
            "outputs": self.outputs,
            "latency_ms": self.latency_ms,
            "requests": self.requests,
            "baseline_requests": self.baseline_requests,
            "concurrency": self.concurrency,
            "batch_size": self.batch_size,
            "elapsed_s": round(self.elapsed_s, 3),
        }


def _request_summary(answers: list[Answer], batches: list[list[int]], rows: list[Row]) -> dict:
    failed = [(a, b) for a, b in zip(answers, batches) if a.sent and a.error]
    unsent = sum(len(b) for a, b in zip(answers, batches) if not a.sent)
    samples = []
    for a, b in failed:
        if len(samples) >= WORST:
            break
        samples.append({"lines": [rows[i].line for i in b], "error": a.error})
    return {"sent": sum(a.sent for a in answers), "failed": len(failed),
            "rows": len(rows), "rows_unanswered": sum(len(b) for _, b in failed) + unsent,
            "rows_not_sent": unsent, "errors": samples}


def _answered(answers: list[Answer], batches: list[list[int]], name: str) -> dict[int, np.ndarray]:
    out = {}
    for a, b in zip(answers, batches):
        if a.outputs is not None:
            arr = a.outputs[name]
            for j, i in enumerate(b):
                out[i] = arr[j]
    return out


def _served_version(target: Target, answers: list[Answer]) -> tuple[str, str | None]:
    versions = sorted({a.version for a in answers if a.outputs is not None and a.version})
    if len(versions) > 1:
        return target.version, f"answers came from versions {versions} of {target.model}"
    return (versions[0] if versions else target.version), None


def evaluate(candidate: Target, dataset_path: str | Path, evaluation: Evaluation, *,
             threshold_sources: dict[str, str] | None = None, baseline: Target | None = None,
             dataset_name: str | None = None, model_digest: str | None = None,
             concurrency: int = 4, batch_size: int = 0, timeout: float = DEFAULT_TIMEOUT) -> Report:
    """Check the dataset against the server's metadata, run it (and the baseline), judge the thresholds."""
    if concurrency < 1:
        raise UsageError("concurrency must be >= 1")
    if batch_size < 0 or timeout <= 0:
        raise UsageError("batch size must be >= 0 and timeout > 0")
    thresholds = evaluation.thresholds()
    if not thresholds:
        raise UsageError("no thresholds to gate on: pass --max-abs-error, --min-accuracy, --min-cosine, "
                         "--min-agreement or --max-p99-ms, or give the model spec an evaluation: section")
    candidate = Target(normalize_url(candidate.url), candidate.model, candidate.version)
    if baseline is not None:
        baseline = Target(normalize_url(baseline.url), baseline.model, baseline.version)
        if (baseline.url, baseline.version) == (candidate.url, candidate.version):
            raise UsageError("the baseline is the evaluated version itself; name another --baseline-version "
                             "or --baseline-url")
    started = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    t0 = time.perf_counter()
    io = connect(candidate, timeout)
    base_io = connect(baseline, timeout) if baseline is not None else None
    if base_io is not None:
        def sig(tensors):
            return [(m["name"], m["datatype"], list(m["shape"])) for m in tensors]
        if sig(base_io.inputs) != sig(io.inputs) or base_io.max_batch_size != io.max_batch_size:
            raise ServerError(f"baseline {baseline.label()} takes other inputs than {candidate.label()}: "
                              f"{sig(base_io.inputs)} vs {sig(io.inputs)}")
    dataset = read_dataset(dataset_path, io, name=dataset_name, need_expected=baseline is None)
    rows = dataset.rows
    limit = io.max_batch_size if io.max_batch_size > 0 else 1
    if batch_size > limit:
        raise UsageError(f"batch size {batch_size} exceeds the model's max_batch_size {io.max_batch_size}")
    size = batch_size or limit
    batches = plan_batches(rows, [m["name"] for m in io.inputs], size)
    answers = infer_all(candidate, io, rows, batches, concurrency=concurrency, timeout=timeout)
    base_answers = (infer_all(baseline, base_io, rows, batches, concurrency=concurrency, timeout=timeout)
                    if baseline is not None else None)
    elapsed = time.perf_counter() - t0

    version, mixed = _served_version(candidate, answers)
    candidate = Target(candidate.url, candidate.model, version)
    requests = _request_summary(answers, batches, rows)
    base_requests = None
    if baseline is not None:
        base_version, base_mixed = _served_version(baseline, base_answers)
        baseline = Target(baseline.url, baseline.model, base_version)
        base_requests = _request_summary(base_answers, batches, rows)
    lat = sorted(a.latency_s * 1000.0 for a in answers if a.outputs is not None)
    latency = {} if not lat else {
        "p50": round(percentile(lat, 50), 3), "p95": round(percentile(lat, 95), 3),
        "p99": round(percentile(lat, 99), 3), "mean": round(sum(lat) / len(lat), 3), "max": round(lat[-1], 3)}

    batched = io.max_batch_size > 0
    outputs: dict[str, _Output] = {}
    base_names = {m["name"] for m in base_io.outputs} if base_io is not None else set()
    for meta in io.outputs:
        out = _Output(meta, batched, evaluation.agreement_tolerance)
        got = _answered(answers, batches, out.name)
        idx = [i for i in sorted(got) if out.name in rows[i].expected]
        if idx:
            out.compare("expected", [rows[i].line for i in idx], [got[i] for i in idx],
                        [rows[i].expected[out.name] for i in idx])
        if baseline is not None and out.name in base_names:
            base = _answered(base_answers, batches, out.name)
            idx = [i for i in sorted(got) if i in base]
            if idx:
                out.compare("baseline", [rows[i].line for i in idx], [got[i] for i in idx],
                            [base[i] for i in idx])
        outputs[out.name] = out

    checks = _checks(evaluation, outputs, latency, answers, batches, rows, baseline is not None)
    failed_check = Check("failed_requests", 0, measured=requests["failed"], passed=requests["failed"] == 0
                         and requests["rows_not_sent"] == 0, worst=requests["errors"])
    if requests["rows_not_sent"]:
        failed_check.note = (f"stopped after {MAX_CONSECUTIVE_FAILURES} failed requests in a row; "
                             f"{requests['rows_not_sent']} rows not sent")
    checks.append(failed_check)
    if base_requests is not None:
        checks.append(Check("baseline_failed_requests", 0, measured=base_requests["failed"],
                            passed=base_requests["failed"] == 0 and base_requests["rows_not_sent"] == 0,
                            worst=base_requests["errors"]))
    for problem in filter(None, [mixed, base_mixed if baseline is not None else None]):
        checks.append(Check("single_version", 0, measured=None, passed=False, note=problem))

    return Report(
        candidate=candidate, baseline=baseline, dataset=dataset, evaluation=evaluation,
        thresholds=thresholds, threshold_sources=dict(threshold_sources or {k: "flag" for k in thresholds}),
        checks=checks,
        outputs={n: {"datatype": o.datatype, "kind": o.kind, **o.metrics} for n, o in outputs.items()},
        latency_ms=latency, requests=requests, baseline_requests=base_requests, model_digest=model_digest,
        started=started, elapsed_s=elapsed, concurrency=concurrency, batch_size=size)


def _checks(ev: Evaluation, outputs: dict[str, _Output], latency: dict, answers: list[Answer],
            batches: list[list[int]], rows: list[Row], has_baseline: bool) -> list[Check]:
    checks: list[Check] = []

    def per_output(threshold: str, limit: float, applies, metric: str, ref: str, lower_is_better: bool,
                   worst, why_none: str) -> None:
        matched = [o for o in outputs.values() if applies(o) and ref in o.metrics]
        for o in matched:
            value = o.metrics[ref].get(metric)
            ok = value is not None and (value <= limit if lower_is_better else value >= limit)
            c = Check(threshold, limit, output=o.name, measured=value, passed=ok,
                      note="" if value is not None else "not measurable (shape mismatch or non-finite output)")
            if not ok:
                c.worst = worst(o)
            checks.append(c)
        if not matched:
            checks.append(Check(threshold, limit, note=f"not measured: {why_none}"))

    if ev.max_abs_error is not None:
        per_output("max_abs_error", ev.max_abs_error, lambda o: o.kind == "float", "max_abs_error", "expected",
                   True, lambda o: o.worst_by("expected", "max_abs", True),
                   "no float output with expected values")
    if ev.min_cosine is not None:
        per_output("min_cosine", ev.min_cosine, lambda o: o.kind == "float" and o.multi, "cosine_mean",
                   "expected", False, lambda o: o.worst_by("expected", "cos", False),
                   "no float output of more than one element with expected values")
    if ev.min_accuracy is not None:
        per_output("min_accuracy", ev.min_accuracy, lambda o: o.kind == "label", "accuracy", "expected",
                   False, lambda o: o.mismatches("expected"),
                   "no integer, bool or string output with expected values")
    if ev.min_agreement is not None:
        per_output("min_agreement", ev.min_agreement, lambda o: True, "agreement", "baseline", False,
                   lambda o: o.mismatches("baseline"),
                   "no baseline answers (pass --baseline-version or --baseline-url)" if not has_baseline
                   else "no output answered by both versions")
    if ev.max_p99_ms is not None:
        p99 = latency.get("p99")
        c = Check("max_p99_ms", ev.max_p99_ms, measured=p99, passed=p99 is not None and p99 <= ev.max_p99_ms,
                  note="" if p99 is not None else "not measured: no successful request")
        if not c.passed and p99 is not None:
            slow = sorted(((a.latency_s, b) for a, b in zip(answers, batches) if a.outputs is not None),
                          key=lambda x: -x[0])[:WORST]
            c.worst = [{"lines": [rows[i].line for i in b], "latency_ms": round(s * 1000.0, 3)}
                       for s, b in slow]
        checks.append(c)
    return checks
