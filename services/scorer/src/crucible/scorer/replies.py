"""The coach's replies: a static encoder distilled from MiniLM, mapped into MiniLM's own space.

Why: a reply is read only by coherence (does it answer the person's message?) and category, yet it is
two thirds of a record's tokens (about 52 of 80 in `crucible bench score`), and on one core the MiniLM
graph spends ~0.17 ms per token. So replies take a cheaper path:

1. `model2vec.distill` turns all-MiniLM-L6-v2 into one vector per word piece (each token passed through
   the model alone, PCA to 256 dimensions, Zipf/SIF weighting); a reply is the mean of its tokens'
   vectors: microseconds, no transformer pass.
2. Those vectors live in another space than MiniLM's sentence vectors, and coherence is the cosine of a
   person's MiniLM vector with the reply's. A linear map W (ridge regression, no intercept) is fitted from
   the static vectors of the labelled sets' training and validation texts to their MiniLM vectors, and
   folded into the token table (mean pooling is linear: mean(E[t]) W = mean(E[t] W)), so serving is still
   one lookup and a mean, done by model2vec's own `StaticModel`.

The person's turns keep the full MiniLM pass: the safety head, whose misses matter most, reads them.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

PCA_DIMS = 256
RIDGE_ALPHA = 1.0


@dataclass
class ReplyEncoder:
    """Unit vectors in MiniLM's sentence space for replies, from the folded static token table."""

    model: Any  # model2vec.StaticModel
    max_tokens: int

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.model.dim), dtype=np.float32)
        vectors = np.asarray(
            # max_tokens counts [CLS] and [SEP], as MiniLM's limit does; the static model adds neither.
            self.model.encode(list(texts), max_length=max(self.max_tokens - 2, 1), use_multiprocessing=False),
            dtype=np.float32,
        )
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        arrays: dict[str, np.ndarray] = {
            "vectors": np.asarray(self.model.embedding, dtype=np.float16),
            "tokenizer": np.frombuffer(self.model.tokenizer.to_str().encode(), dtype=np.uint8),
            "max_tokens": np.array(self.max_tokens),
        }
        if getattr(self.model, "weights", None) is not None:
            arrays["weights"] = np.asarray(self.model.weights, dtype=np.float32)
        if getattr(self.model, "token_mapping", None) is not None:
            arrays["token_mapping"] = np.asarray(self.model.token_mapping)
        np.savez(buf, **arrays)  # type: ignore[arg-type]
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> ReplyEncoder:
        from model2vec import StaticModel
        from tokenizers import Tokenizer

        with np.load(io.BytesIO(data)) as z:
            tokenizer = Tokenizer.from_str(bytes(z["tokenizer"]).decode())
            model = StaticModel(
                vectors=z["vectors"].astype(np.float32),
                tokenizer=tokenizer,
                normalize=True,
                weights=z["weights"] if "weights" in z.files else None,
                token_mapping=z["token_mapping"] if "token_mapping" in z.files else None,
            )
            return cls(model, int(z["max_tokens"]))


def distill_reply_encoder(
    minilm_dir: str, texts: Sequence[str], targets: np.ndarray, *, max_tokens: int = 64
) -> tuple[ReplyEncoder, dict[str, Any]]:
    """Distill the static encoder from MiniLM at `minilm_dir` and fit its map into MiniLM's space on
    `texts` (their MiniLM vectors are `targets`, unit length). Returns the encoder and fit figures."""
    from model2vec import StaticModel
    from model2vec.distill import distill
    from sklearn.linear_model import Ridge

    static = distill(model_name=minilm_dir, pca_dims=PCA_DIMS)
    plain = ReplyEncoder(static, max_tokens)
    x = plain.encode(list(texts))
    ridge = Ridge(alpha=RIDGE_ALPHA, fit_intercept=False).fit(x, targets)
    table = np.asarray(static.embedding, dtype=np.float32) @ ridge.coef_.T.astype(np.float32)
    folded = StaticModel(
        vectors=table,
        tokenizer=static.tokenizer,
        normalize=True,
        weights=getattr(static, "weights", None),
        token_mapping=getattr(static, "token_mapping", None),
    )
    encoder = ReplyEncoder(folded, max_tokens)
    fitted = (encoder.encode(list(texts)) * targets).sum(axis=1)
    figures = {
        "static_dims": int(x.shape[1]),
        "fit_texts": len(texts),
        "ridge_alpha": RIDGE_ALPHA,
        "fit_cosine_to_minilm": {"mean": round(float(fitted.mean()), 4), "min": round(float(fitted.min()), 4)},
    }
    return encoder, figures
