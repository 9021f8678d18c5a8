"""Per-token int8 quantization on a small graph built here: close to float, independent of the batch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from crucible.scorer.token_quant import quantize_per_token

VOCAB, DIM, HIDDEN = 5000, 32, 48


def _float_graph(path: Path, rng: np.random.Generator) -> None:
    """ids -> vocabulary lookup -> MatMul -> Relu -> MatMul, plus a MatMul of two activations (stays float)."""
    table = rng.normal(size=(VOCAB, DIM)).astype(np.float32)
    w1 = rng.normal(scale=0.2, size=(DIM, HIDDEN)).astype(np.float32)
    w2 = rng.normal(scale=0.2, size=(HIDDEN, DIM)).astype(np.float32)
    nodes = [
        helper.make_node("Gather", ["table", "ids"], ["emb"], axis=0),
        helper.make_node("MatMul", ["emb", "w1"], ["h"]),
        helper.make_node("Relu", ["h"], ["a"]),
        helper.make_node("MatMul", ["a", "w2"], ["y"]),
        helper.make_node("Transpose", ["y"], ["yt"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["y", "yt"], ["gram"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "seq"])],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "seq", DIM]),
            helper.make_tensor_value_info("gram", TensorProto.FLOAT, ["batch", "seq", "seq"]),
        ],
        [numpy_helper.from_array(a, n) for a, n in ((table, "table"), (w1, "w1"), (w2, "w2"))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _run(path: Path, ids: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["y"], {"ids": ids})[0]


def test_quantized_graph_is_close_to_float_and_batch_invariant(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    fp32, int8 = tmp_path / "f.onnx", tmp_path / "q.onnx"
    _float_graph(fp32, rng)
    assert quantize_per_token(fp32, int8) == 3  # the lookup table and both weight MatMuls, not the Gram

    ops = [n.op_type for n in onnx.load(str(int8)).graph.node]
    assert ops.count("MatMulIntegerToFloat") == 2 and ops.count("MatMul") == 1

    ids = rng.integers(0, VOCAB, size=(4, 9))
    ref, got = _run(fp32, ids), _run(int8, ids)
    cos = (ref * got).sum(-1) / (np.linalg.norm(ref, axis=-1) * np.linalg.norm(got, axis=-1))
    # With full 8-bit weights ORT's AVX2 kernel saturated int16 pair sums here: 0.969 min.
    assert cos.min() > 0.999

    # One row alone, the same row among others, the same tokens one at a time: the integers a row is
    # multiplied with depend on that row only.
    alone = _run(int8, ids[:1])
    assert np.abs(alone - got[:1]).max() < 1e-5
    single = np.concatenate([_run(int8, ids[:1, i : i + 1]) for i in range(ids.shape[1])], axis=1)
    assert np.abs(single - alone).max() < 1e-5

    # A per-tensor scale would not be: one row with huge activations squeezes every other row's integers.
    loud = ids.copy()
    table = numpy_helper.to_array(onnx.load(str(fp32)).graph.initializer[0])
    loud[1] = int(np.abs(table).sum(1).argmax())
    assert np.abs(_run(int8, loud)[:1] - alone).max() < 1e-5
