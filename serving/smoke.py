"""Smoke test any Triton model over HTTP: live, ready, metadata, one inference.

Inputs are generated from the model's own metadata (datatype and shape; ``-1`` dims
become the batch size on the batch axis and 1 elsewhere), so the check works for models
we did not write. Each output's shape is compared with the metadata (a wrong rank, a
fixed dim that differs, or an empty tensor fails). Every call has a connection and a
network timeout, so a dead or hung server fails the smoke test instead of hanging it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from aiplat.errors import UsageError

DEFAULT_TIMEOUT = 10.0


def normalize_url(url: str) -> str:
    """tritonclient wants ``host:port``; accept ``http://host:port[/]`` as well."""
    if url.startswith("https://"):
        raise UsageError("https is not supported by the smoke/load tests; use host:port or http://")
    url = url.removeprefix("http://").rstrip("/")
    if not url or ":" not in url:
        raise UsageError(f"expected host:port or http://host:port, got {url!r}")
    return url


def make_client(url: str, timeout: float = DEFAULT_TIMEOUT, concurrency: int = 1):
    import tritonclient.http as httpclient

    return httpclient.InferenceServerClient(
        normalize_url(url), connection_timeout=timeout, network_timeout=timeout,
        concurrency=concurrency)


def concrete_shape(shape: list[int], batch_axis: bool, batch_size: int) -> list[int]:
    out = []
    for i, d in enumerate(shape):
        if d == -1:
            out.append(batch_size if (batch_axis and i == 0) else 1)
        else:
            out.append(int(d))
    return out


def generate_array(datatype: str, shape: list[int], rng: np.random.Generator) -> np.ndarray:
    """A deterministic tensor of the given Triton datatype and shape."""
    from tritonclient.utils import triton_to_np_dtype

    if datatype == "BYTES":
        return np.full(shape, b"aiplat smoke test", dtype=np.object_)
    if datatype == "BOOL":
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    np_dtype = triton_to_np_dtype(datatype)
    if np_dtype is None:
        raise UsageError(f"cannot generate inputs of datatype {datatype}")
    if np.issubdtype(np_dtype, np.integer):
        # Small non-negative values: valid as token ids, class ids and indices alike.
        return rng.integers(0, 10, size=shape).astype(np_dtype)
    return rng.random(size=shape, dtype=np.float32).astype(np_dtype)


@dataclass
class ModelIO:
    """What a client needs to call a model: batching and the tensor metadata."""

    name: str
    version: str
    max_batch_size: int
    inputs: list[dict]
    outputs: list[dict]

    @classmethod
    def fetch(cls, client, model: str, version: str = "") -> "ModelIO":
        meta = client.get_model_metadata(model, model_version=version)
        config = client.get_model_config(model, model_version=version)
        cfg = config.get("config", config)  # the HTTP client returns the bare config
        return cls(model, version, int(cfg.get("max_batch_size", 0)),
                   meta["inputs"], meta["outputs"])

    def build_inputs(self, batch_size: int = 1, seed: int = 0) -> list:
        import tritonclient.http as httpclient

        rng = np.random.default_rng(seed)
        batched = self.max_batch_size > 0
        if not batched:
            batch_size = 1
        tensors = []
        for meta in self.inputs:
            shape = concrete_shape(meta["shape"], batched, batch_size)
            t = httpclient.InferInput(meta["name"], shape, meta["datatype"])
            t.set_data_from_numpy(generate_array(meta["datatype"], shape, rng),
                                  binary_data=True)
            tensors.append(t)
        return tensors

    def requested_outputs(self) -> list:
        import tritonclient.http as httpclient

        return [httpclient.InferRequestedOutput(o["name"], binary_data=True)
                for o in self.outputs]

    def shape_problems(self, result, batch_size: int = 1) -> list[str]:
        batched = self.max_batch_size > 0
        problems = []
        for meta in self.outputs:
            arr = result.as_numpy(meta["name"])
            if arr is None:
                problems.append(f"output {meta['name']} missing from the response")
                continue
            want = meta["shape"]
            got = list(arr.shape)
            if len(got) != len(want):
                problems.append(f"output {meta['name']}: shape {got}, expected rank of {want}")
                continue
            for i, (g, w) in enumerate(zip(got, want)):
                if batched and i == 0 and g != batch_size:
                    problems.append(f"output {meta['name']}: batch dim {g}, expected {batch_size}")
                elif w != -1 and g != w:
                    problems.append(f"output {meta['name']}: shape {got}, expected {want}")
                    break
            if arr.size == 0:
                problems.append(f"output {meta['name']} is empty (shape {got})")
        return problems


@dataclass
class SmokeResult:
    url: str
    model: str
    version: str
    checks: list[tuple[str, bool, str]] = field(default_factory=list)  # (name, ok, detail)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(ok for _, ok, _ in self.checks)

    def add(self, name: str, ok: bool, detail: str = "") -> bool:
        self.checks.append((name, ok, detail))
        return ok

    def as_dict(self) -> dict:
        return {"url": self.url, "model": self.model, "version": self.version, "ok": self.ok,
                "checks": [{"check": n, "ok": o, "detail": d} for n, o, d in self.checks]}


def smoke(url: str, model: str, version: str = "", timeout: float = DEFAULT_TIMEOUT,
          batch_size: int = 1) -> SmokeResult:
    """Run the checks in order, stopping at the first failure (later ones depend on it)."""
    res = SmokeResult(normalize_url(url), model, version)
    what = f"model {model!r}" + (f" version {version}" if version else "")
    client = make_client(url, timeout)
    try:
        live, err = _call(client.is_server_live)
        if not res.add("live", bool(live), err or ("server live" if live else "server not live")):
            return res
        ready, err = _call(lambda: client.is_model_ready(model, version))
        if not res.add("ready", bool(ready), err or f"{what} {'ready' if ready else 'not ready'}"):
            return res
        io, err = _call(lambda: ModelIO.fetch(client, model, version))
        if not res.add("metadata", io is not None, err or (
                f"inputs {[(i['name'], i['datatype'], i['shape']) for i in io.inputs]}, "
                f"outputs {[(o['name'], o['datatype'], o['shape']) for o in io.outputs]}")):
            return res
        batch = batch_size if io.max_batch_size > 0 else 1
        result, err = _call(lambda: client.infer(model, io.build_inputs(batch),
                                                 model_version=version,
                                                 outputs=io.requested_outputs()))
        if not res.add("infer", result is not None, err or f"one inference, batch {batch}"):
            return res
        problems = io.shape_problems(result, batch)
        res.add("output-shapes", not problems, "; ".join(problems) or "as in metadata")
        return res
    finally:
        client.close()


def _call(fn):
    """(value, None) or (None, description): a failed check is a finding, not a crash.
    Broad on purpose: geventhttpclient raises its own socket/timeout types."""
    try:
        return fn(), None
    except Exception as exc:  # noqa: BLE001
        return None, describe_error(exc)


def describe_error(exc: BaseException) -> str:
    msg = exc.message() if callable(getattr(exc, "message", None)) else str(exc)
    return f"{type(exc).__name__}: {msg or repr(exc)}"
