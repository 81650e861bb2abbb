"""aiplat eval without a server: dataset checks against model metadata, batching, row metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest

from aiplat.errors import UsageError
from aiplat.serving.evaluate import DatasetError, _float_rows, plan_batches, read_dataset
from aiplat.serving.smoke import ModelIO

# Metadata in the shape Triton's HTTP API returns it (batch dim first, -1 where variable).
IO = ModelIO("m", "", 8, inputs=[
    {"name": "IDS", "datatype": "INT8", "shape": [-1, -1]},
    {"name": "TEXT", "datatype": "BYTES", "shape": [-1, 1]},
], outputs=[
    {"name": "FLAG", "datatype": "BOOL", "shape": [-1, 1]},
    {"name": "VEC", "datatype": "FP16", "shape": [-1, 2]},
])
UNBATCHED = ModelIO("u", "", 0, inputs=[{"name": "X", "datatype": "FP32", "shape": [2, 2]}],
                    outputs=[{"name": "Y", "datatype": "UINT8", "shape": [1]}])


def dataset(tmp_path, *lines, io=IO, **kwargs):
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines))
    return read_dataset(path, io, **kwargs)


def test_rows_become_arrays_of_the_tensor_dtype_and_shape(tmp_path):
    ds = dataset(tmp_path,
                 {"inputs": {"IDS": [1, -2, 3], "TEXT": ["héllo"]}, "expected": {"FLAG": [True], "VEC": [1, 0.5]}},
                 "   ",
                 {"inputs": {"IDS": [4], "TEXT": ["x"]}, "expected": {}}, need_expected=False)
    assert [r.line for r in ds.rows] == [1, 3] and ds.name == "d"
    first = ds.rows[0]
    assert first.inputs["IDS"].dtype == np.int8 and first.inputs["IDS"].tolist() == [1, -2, 3]
    assert first.inputs["TEXT"].dtype == object and first.inputs["TEXT"].tolist() == ["héllo".encode()]
    assert first.expected["FLAG"].dtype == np.bool_ and first.expected["VEC"].dtype == np.float16
    assert ds.rows[1].expected == {}
    ds = dataset(tmp_path, {"inputs": {"X": [[1, 2], [3, 4.5]]}, "expected": {"Y": [255]}}, io=UNBATCHED)
    assert ds.rows[0].inputs["X"].shape == (2, 2) and ds.rows[0].expected["Y"].dtype == np.uint8


def test_every_kind_of_bad_value_is_named_with_its_line(tmp_path):
    with pytest.raises(DatasetError) as exc:
        dataset(tmp_path,
                {"inputs": {"IDS": [1, 300], "TEXT": ["a"]}, "expected": {"FLAG": [1]}},
                {"inputs": {"IDS": [True], "TEXT": [3]}, "expected": {"VEC": [[1, 2], [3]]}},
                {"inputs": {"IDS": [], "TEXT": "a"}, "expected": {"VEC": [1, 2, 3]}, "id": 1},
                {"inputs": [1], "expected": "x"},
                "[1, 2]",
                '{"inputs": {"IDS": [NaN]}}')
    assert exc.value.problems == [
        (1, "inputs.IDS: 300 is out of range for INT8 (-128..127)"),
        (1, "expected.FLAG: BOOL takes true/false, found an integer"),
        (2, "inputs.IDS: INT8 takes integers, found a boolean true"),
        (2, "inputs.TEXT: BYTES takes strings, found an integer"),
        (2, "expected.VEC: not a rectangular array (nested lists of different lengths)"),
        (3, "unknown key 'id' (a line has inputs and expected)"),
        (3, "inputs.IDS: shape [0], the model's is [-1]"),
        (3, "inputs.TEXT: shape [], the model's is [1] (write the value inside a list)"),
        (3, "expected.VEC: shape [3], the model's is [2]"),
        (4, "inputs: expected an object of input tensors, found an array"),
        (4, "expected: expected an object of output tensors, found a string"),
        (5, "expected an object with inputs and expected, found an array"),
        (6, "not JSON: NaN is not a JSON number"),
    ]
    assert str(exc.value).splitlines()[0].endswith("(13 problems on 6 lines):")
    assert exc.value.exit_code == 2


def test_empty_and_missing_datasets(tmp_path):
    with pytest.raises(DatasetError, match="no examples"):
        dataset(tmp_path, "", "  ")
    with pytest.raises(UsageError, match="No such file"):
        read_dataset(tmp_path / "absent.jsonl", IO)
    (tmp_path / "bin.jsonl").write_bytes(b'{"inputs": {"IDS": [1], "TEXT": ["a"]}}\n\xff\xfe\n')
    with pytest.raises(DatasetError) as exc:
        read_dataset(tmp_path / "bin.jsonl", IO, need_expected=False)
    assert exc.value.problems == [(2, "not UTF-8 text")]


def test_batches_hold_rows_of_one_input_shape_in_dataset_order(tmp_path):
    rows = dataset(tmp_path, *[{"inputs": {"IDS": [1] * (1 + i % 2), "TEXT": ["t"]}} for i in range(7)],
                   need_expected=False).rows
    assert plan_batches(rows, ["IDS", "TEXT"], 2) == [[0, 2], [4, 6], [1, 3], [5]]


def test_float_row_metrics():
    cand = [np.array([1.0, 0.0]), np.array([0.0, 0.0]), np.array([0.0, 0.0]), np.array([3.0, 4.0])]
    ref = [np.array([0.0, 1.0]), np.array([0.0, 0.0]), np.array([1.0, 0.0]), np.array([3.0, 4.5])]
    max_abs, sum_abs, cos, n = _float_rows(cand, ref)
    assert max_abs.tolist() == [1.0, 0.0, 1.0, 0.5] and sum_abs.tolist() == [2.0, 0.0, 1.0, 0.5] and n == 8
    # orthogonal, both zero (identical), one zero, nearly parallel
    assert cos[:3].tolist() == [0.0, 1.0, 0.0]
    assert cos[3] == pytest.approx((9 + 18) / (5 * np.hypot(3, 4.5)))
    # a row of another shape cannot be compared: infinite error, no cosine
    max_abs, _, cos, n = _float_rows([np.zeros(2), np.zeros(3)], [np.zeros(2), np.zeros(2)])
    assert max_abs.tolist() == [0.0, np.inf] and np.isnan(cos[1]) and n == 2
    # NaN in an output is never within a tolerance
    max_abs, *_ = _float_rows([np.array([np.nan])], [np.array([1.0])])
    assert max_abs.tolist() == [np.inf]


def test_a_row_that_cannot_be_compared_leaves_float_metrics_unmeasured_not_better():
    from aiplat.serving.evaluate import _Output

    out = _Output({"name": "VEC", "datatype": "FP32", "shape": [-1, 2]}, batched=True, tolerance=1e-6)
    out.compare("expected", [1, 2], [np.array([1.0, 0.0]), np.array([np.nan, 0.0])],
                [np.array([1.0, 0.0]), np.array([1.0, 0.0])])
    assert out.metrics["expected"] == {"rows": 2, "max_abs_error": None, "mean_abs_error": None,
                                       "cosine_mean": None, "cosine_min": None}
    assert [ex["line"] for ex in out.worst_by("expected", "max_abs", True)] == [2, 1]
    out.compare("baseline", [1, 2], [np.array([1.0, 0.0]), np.array([np.nan, 0.0])],
                [np.array([1.0, 0.0]), np.array([1.0, 0.0])])
    assert out.metrics["baseline"]["agreement"] == 0.5
    assert [ex["line"] for ex in out.mismatches("baseline")] == [2]
