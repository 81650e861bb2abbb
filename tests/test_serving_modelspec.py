"""ModelSpec -> config.pbtxt through Triton's protobuf, and back (pure, no server)."""

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tritonclient.grpc import model_config_pb2 as mc

from aiplat.errors import ConfigError
from aiplat.serving.modelspec import (DynamicBatching, InstanceGroup, ModelSpec, QueuePolicy,
                               TensorSpec, VersionPolicy, config_problems, load_spec,
                               parse_pbtxt)

EXAMPLES = Path(__file__).resolve().parent.parent / "serving" / "examples" / "models"

# A config.pbtxt as people write it by hand (Triton docs style), not produced by us.
HANDWRITTEN = """
name: "densenet"
platform: "onnxruntime_onnx"
max_batch_size: 8
version_policy: { specific: { versions: [1, 3] } }
input [
  { name: "data_0", data_type: TYPE_FP32, dims: [ 3, 224, 224 ] }
]
output [
  { name: "fc6_1", data_type: TYPE_FP32, dims: [ 1000 ] }
]
instance_group [ { count: 2, kind: KIND_GPU } ]
dynamic_batching {
  preferred_batch_size: [ 4, 8 ]
  max_queue_delay_microseconds: 100
  default_queue_policy { timeout_action: REJECT, max_queue_size: 32 }
}
"""


def embedder() -> ModelSpec:
    return load_spec(EXAMPLES / "text-embedder" / "spec.yaml")


def test_render_uses_triton_message_and_round_trips():
    spec = embedder()
    text = spec.to_pbtxt()
    cfg = parse_pbtxt(text)
    assert cfg == spec.to_config()
    assert ModelSpec.from_config(cfg) == spec
    assert cfg.backend == "python" and cfg.max_batch_size == 8
    assert list(cfg.version_policy.specific.versions) == [1, 2]
    q = cfg.dynamic_batching.default_queue_policy
    assert (q.max_queue_size, q.timeout_action) == (64, mc.ModelQueuePolicy.REJECT)
    assert [(t.name, mc.DataType.Name(t.data_type), list(t.dims)) for t in cfg.input] == [
        ("TEXT", "TYPE_STRING", [1])]
    assert [(g.kind, g.count) for g in cfg.instance_group] == [(mc.ModelInstanceGroup.KIND_CPU, 1)]


def test_handwritten_config_parses_to_the_same_message_after_rerender():
    cfg = parse_pbtxt(HANDWRITTEN)
    spec = ModelSpec.from_config(cfg)
    assert spec.platform == "onnxruntime_onnx"
    assert spec.version_policy == VersionPolicy(kind="specific", versions=[1, 3])
    assert spec.dynamic_batching.queue_policy == QueuePolicy(max_queue_size=32)
    assert parse_pbtxt(spec.to_pbtxt()) == cfg
    assert config_problems(cfg) == []


def test_default_queue_policy_is_bounded_and_rejects():
    db = DynamicBatching()
    assert db.queue_policy.max_queue_size == 64
    assert db.queue_policy.timeout_action == "REJECT"


def test_syntax_error_names_file_and_position():
    with pytest.raises(ConfigError) as exc:
        parse_pbtxt('name: "x"\nmax_batch_size: eight\n', source="m/config.pbtxt")
    assert exc.value.problems[0].path == "m/config.pbtxt"
    assert "2:" in exc.value.problems[0].message


def test_spec_file_errors_carry_key_paths(tmp_path):
    bad = tmp_path / "spec.yaml"
    bad.write_text(
        "name: m\nbackend: python\nmax_batch_size: 4\n"
        "inputs: [{name: X, data_type: TYPE_FP99, dims: [0]}]\n"
        "outputs: [{name: Y, data_type: TYPE_FP32, dims: [1]}]\n"
        "colour: blue\n")
    with pytest.raises(ConfigError) as exc:
        load_spec(bad)
    paths = {p.path for p in exc.value.problems}
    assert {"inputs[0].data_type", "inputs[0].dims", "colour"} <= paths
    assert exc.value.source == str(bad)


@pytest.mark.parametrize("kwargs, message", [
    (dict(backend="python", platform="onnxruntime_onnx"), "exactly one of backend or platform"),
    (dict(backend="python", dynamic_batching=DynamicBatching()), "needs max_batch_size > 0"),
    (dict(backend="python", max_batch_size=4,
          dynamic_batching=DynamicBatching(preferred_batch_sizes=[8])), "within 1..max_batch_size"),
])
def test_inconsistent_specs_are_rejected(kwargs, message):
    io = dict(inputs=[TensorSpec(name="X", data_type="TYPE_FP32", dims=[1])],
              outputs=[TensorSpec(name="Y", data_type="TYPE_FP32", dims=[1])])
    with pytest.raises(ValueError, match=message):
        ModelSpec(name="m", **io, **kwargs)


def test_evaluation_section_is_typed_strict_and_not_rendered(tmp_path):
    spec = load_spec(Path(__file__).resolve().parent / "models" / "eval-classifier" / "spec.yaml")
    assert spec.evaluation.thresholds() == {"max_abs_error": 0.0001, "min_accuracy": 0.99, "min_cosine": 0.999}
    assert spec.evaluation.agreement_tolerance == 1e-6
    assert spec.to_config() == spec.model_copy(update={"evaluation": None}).to_config()
    assert "0.99" not in spec.to_pbtxt()

    bad = tmp_path / "spec.yaml"
    bad.write_text(
        "name: m\nbackend: python\n"
        "inputs: [{name: X, data_type: TYPE_FP32, dims: [1]}]\n"
        "outputs: [{name: Y, data_type: TYPE_FP32, dims: [1]}]\n"
        "evaluation: {min_accuracy: '0.9', max_abs_eror: 0.1, min_cosine: 2, max_p99_ms: 0}\n")
    with pytest.raises(ConfigError) as exc:
        load_spec(bad)
    assert {p.path: p.message for p in exc.value.problems} == {
        "evaluation.min_accuracy": "Input should be a valid number",
        "evaluation.max_abs_eror": "Extra inputs are not permitted",
        "evaluation.min_cosine": "Input should be less than or equal to 1",
        "evaluation.max_p99_ms": "Input should be greater than 0",
    }


def test_specific_policy_needs_versions():
    with pytest.raises(ValueError, match="needs at least one version"):
        VersionPolicy(kind="specific")


def test_config_problems_reports_each_bad_field_with_its_path():
    cfg = parse_pbtxt('name: "m"\nmax_batch_size: 0\n'
                      'input { name: "X" data_type: TYPE_FP32 dims: [0, -2] }\n'
                      'input { name: "X" dims: [1] }\n'
                      'dynamic_batching { }\n')
    got = {(p.path, p.message) for p in config_problems(cfg)}
    assert got == {
        ("backend", "set backend or platform"),
        ("output", "at least one output is required"),
        ("input[0].dims[0]", "0 is not a valid dim (-1 or >= 1)"),
        ("input[0].dims[1]", "-2 is not a valid dim (-1 or >= 1)"),
        ("input[1].name", "duplicate tensor name 'X'"),
        ("input[1].data_type", "missing or TYPE_INVALID"),
        ("dynamic_batching", "needs max_batch_size > 0"),
    }


DTYPES = ["TYPE_FP32", "TYPE_FP16", "TYPE_INT64", "TYPE_INT8", "TYPE_STRING", "TYPE_BOOL", "TYPE_UINT8"]
dims = st.lists(st.one_of(st.just(-1), st.integers(1, 4096)), min_size=1, max_size=4)
tensors = st.lists(st.builds(TensorSpec, name=st.from_regex(r"[A-Z][A-Z0-9_]{0,8}", fullmatch=True),
                             data_type=st.sampled_from(DTYPES), dims=dims),
                   min_size=1, max_size=3, unique_by=lambda t: t.name)


@st.composite
def specs(draw):
    mbs = draw(st.integers(0, 64))
    db = None
    if mbs and draw(st.booleans()):
        db = DynamicBatching(
            preferred_batch_sizes=draw(st.lists(st.integers(1, mbs), max_size=3)),
            max_queue_delay_microseconds=draw(st.integers(0, 10_000)),
            queue_policy=QueuePolicy(max_queue_size=draw(st.integers(1, 1000)),
                                     timeout_action=draw(st.sampled_from(["REJECT", "DELAY"]))))
    policy = draw(st.sampled_from([
        VersionPolicy(), VersionPolicy(kind="all"), VersionPolicy(kind="latest", num_versions=2),
        VersionPolicy(kind="specific", versions=[1, 2])]))
    return ModelSpec(
        name=draw(st.from_regex(r"[a-z][a-z0-9_-]{0,15}", fullmatch=True)),
        backend=draw(st.sampled_from(["python", "onnxruntime", "pytorch"])),
        max_batch_size=mbs, inputs=draw(tensors), outputs=draw(tensors), dynamic_batching=db,
        instance_groups=draw(st.lists(st.builds(InstanceGroup, kind=st.sampled_from(["KIND_CPU", "KIND_GPU"]),
                                                count=st.integers(1, 8)), max_size=2)),
        version_policy=policy)


@settings(max_examples=60, deadline=None)
@given(specs())
def test_every_valid_spec_round_trips_and_has_no_config_problems(spec):
    cfg = parse_pbtxt(spec.to_pbtxt())
    assert cfg == spec.to_config()
    assert ModelSpec.from_config(cfg) == spec
    assert config_problems(cfg) == []
