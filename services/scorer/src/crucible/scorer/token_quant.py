"""int8 quantization of an ONNX graph's weight MatMuls with **per-token** activation scales.

Why not ONNX Runtime's own quantizers: `quantize_dynamic` scales activations per tensor, i.e. over the
whole batch, so a sentence's vector moves a little with whatever else is in its batch (cosine 0.97-1.0):
the scorer then had to run every sentence as its own batch to stay deterministic, and on this machine a
call of one short sentence costs ~2 ms just to stream the weights. `quantize_static` (fixed, calibrated
scales) is batch-invariant but lost too much (cosine to float32 0.93 mean; 0.99 only with the FFN output
layer left in float, which then ran 40 % slower). Scaling each token's activation row by its own
maximum is both: a row's integers depend on that row alone (batch- and padding-invariant to ~1e-7), and
it is closer to float32 than per-tensor scales (cosine to the float32 graph 0.995 mean, 0.982 min on
the bench's sentences).

Each `Y = X @ W` with a constant W (K x N) becomes, in standard ONNX plus one ONNX Runtime contrib op:

    s   = max(|X|, over K) / 127                     one scale per token row
    Xq  = QuantizeLinear(X / s, scale 1, zero 128)   uint8, symmetric around 128
    Y   = MatMulIntegerToFloat(Xq, Wq, 1, w_scale, 128) * s

with Wq = round(W / w_scale) in int8 (7 bits used, see _WEIGHT_LEVELS) and w_scale per output
column. Tests check it against the float graph. MatMuls of two activations (attention scores) stay in
float. The word-piece embedding table is stored in int8 with a scale per row. (Quantizing the
query/key/value input once and multiplying one joint matrix measured no faster on one core, 243-297
vs 243-273 µs per token, so each MatMul is rewritten on its own.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

_ZERO_POINT = 128
# Weights use 7 bits (+-63). ONNX Runtime's uint8 x int8 kernel on x86 without VNNI (AVX2, this machine)
# adds pairs of products in int16 (vpmaddubsw), and 255 * 127 * 2 overflows it: full 8-bit weights
# saturate silently there and compute exactly on VNNI CPUs, so the same text would get different vectors
# on different nodes. With +-63 every sum fits: exact everywhere (ORT's `reduce_range` remedy). Measured
# on the bench sentences: cosine to float32 0.9948 mean / 0.982 min vs 0.9956 / 0.980 saturating, same
# speed; uint8 x uint8 weights were exact too but 15-20 % slower. A random 32-wide graph showed it
# plainly: 0.969 min saturating, 0.9997 with 7 bits (tests/unit/scorer/test_token_quant.py).
_WEIGHT_LEVELS = 63.0
_MIN_TABLE_ROWS = 4096  # a Gather from a table this big is a vocabulary lookup


def quantize_per_token(src: Path, dst: Path) -> int:
    """Rewrite the float graph at `src` into `dst`; returns how many MatMuls and lookup tables were quantized."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(src))
    graph = model.graph
    initializers = {i.name: i for i in graph.initializer}
    shared = [
        numpy_helper.from_array(np.array(1.0 / 127.0, dtype=np.float32), "tq_inv127"),
        numpy_helper.from_array(np.array(1e-8, dtype=np.float32), "tq_eps"),
        numpy_helper.from_array(np.array(1.0, dtype=np.float32), "tq_one"),
        numpy_helper.from_array(np.array(_ZERO_POINT, dtype=np.uint8), "tq_zero"),
    ]
    added = list(shared)
    nodes = []
    count = 0
    for node in graph.node:
        table = initializers.get(node.input[0]) if node.op_type == "Gather" else None
        if table is not None and len(table.dims) == 2 and table.dims[0] >= _MIN_TABLE_ROWS:
            # The word-piece table (30k x 384, 47 MB in float): int8 with one scale per row; a lookup
            # dequantizes only the rows it reads.
            rows = numpy_helper.to_array(table).astype(np.float32)
            r_scale = (np.maximum(np.abs(rows).max(axis=1, keepdims=True), 1e-12) / 127.0).astype(np.float32)
            p = f"tq{count}"
            count += 1
            added += [
                numpy_helper.from_array(np.round(rows / r_scale).astype(np.int8), f"{p}_rows"),
                numpy_helper.from_array(r_scale, f"{p}_rscale"),
            ]
            nodes += [
                helper.make_node("Gather", [f"{p}_rows", node.input[1]], [f"{p}_int8"], axis=0),
                helper.make_node("Gather", [f"{p}_rscale", node.input[1]], [f"{p}_scale"], axis=0),
                helper.make_node("Cast", [f"{p}_int8"], [f"{p}_float"], to=TensorProto.FLOAT),
                helper.make_node("Mul", [f"{p}_float", f"{p}_scale"], [node.output[0]]),
            ]
            continue
        if node.op_type != "MatMul" or node.input[1] not in initializers:
            nodes.append(node)
            continue
        x = node.input[0]
        weight = numpy_helper.to_array(initializers[node.input[1]]).astype(np.float32)
        w_scale = (np.maximum(np.abs(weight).max(axis=0), 1e-12) / _WEIGHT_LEVELS).astype(np.float32)
        w_int8 = np.clip(np.round(weight / w_scale), -_WEIGHT_LEVELS, _WEIGHT_LEVELS).astype(np.int8)
        q = f"tq{count}"
        count += 1
        added += [numpy_helper.from_array(w_int8, f"{q}_w"), numpy_helper.from_array(w_scale, f"{q}_wscale")]
        nodes += [
            helper.make_node("Abs", [x], [f"{q}_abs"]),
            helper.make_node("ReduceMax", [f"{q}_abs"], [f"{q}_max"], axes=[-1], keepdims=1),
            helper.make_node("Max", [f"{q}_max", "tq_eps"], [f"{q}_max_eps"]),
            helper.make_node("Mul", [f"{q}_max_eps", "tq_inv127"], [f"{q}_scale"]),
            helper.make_node("Div", [x, f"{q}_scale"], [f"{q}_scaled"]),
            helper.make_node("QuantizeLinear", [f"{q}_scaled", "tq_one", "tq_zero"], [f"{q}_uint8"]),
            helper.make_node(
                "MatMulIntegerToFloat",
                [f"{q}_uint8", f"{q}_w", "tq_one", f"{q}_wscale", "tq_zero"],
                [f"{q}_y"],
                domain="com.microsoft",
            ),
            helper.make_node("Mul", [f"{q}_y", f"{q}_scale"], [node.output[0]]),
        ]
    del graph.node[:]
    graph.node.extend(nodes)
    used = {name for node in graph.node for name in node.input}
    kept = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept + added)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    onnx.save(model, str(dst))
    return count
