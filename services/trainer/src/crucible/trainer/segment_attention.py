"""Attention over packed rows without the quadratic block mask, for CPUs (where flash-attention's
varlen kernels do not exist).

Transformers handles packed rows (positions restarting per sample) by building a block-diagonal
causal mask and running SDPA over the whole row: cost grows with the square of the row length,
most of it masked out. This attention runs causal SDPA on each sample's span instead, so the
cost is the sum of the squares of the sample lengths. Rows that are not packed go to
transformers' own SDPA unchanged. Registered as attention implementation `crucible_segments`;
transformers' `sdpa` (block mask) is the oracle it is tested against."""

from __future__ import annotations

from typing import Any

NAME = "crucible_segments"


def segment_bounds(position_ids: Any) -> list[list[tuple[int, int]]]:
    """Per row, the [start, end) spans where positions count up by one."""
    import torch

    bounds = []
    for row in position_ids:
        starts = [0, *(torch.nonzero(torch.diff(row) != 1).flatten() + 1).tolist()]
        ends = [*starts[1:], int(row.shape[0])]
        bounds.append(list(zip(starts, ends, strict=True)))
    return bounds


def segment_attention_forward(
    module: Any,
    query: Any,
    key: Any,
    value: Any,
    attention_mask: Any,
    dropout: float = 0.0,
    scaling: float | None = None,
    position_ids: Any = None,
    **kwargs: Any,
) -> tuple[Any, None]:
    import torch
    import torch.nn.functional as F
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    q_len = query.shape[2]
    packed = position_ids is not None and position_ids.shape[-1] == q_len and key.shape[2] == q_len
    bounds = segment_bounds(position_ids.expand(query.shape[0], -1)) if packed else []
    if not packed or all(len(b) == 1 for b in bounds):
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    gqa = key.shape[1] != query.shape[1]
    # unbind/split/cat rather than slice assignment: their backward is one concatenation, where
    # per-slice indexing would allocate and add a full-size zero gradient for every sample. Each
    # part is transposed to (1, len, heads, dim) before the one concatenation over all rows, which
    # then is already the (batch, len, heads, dim) layout the caller wants: no further copy.
    parts = []
    for r, (q_row, k_row, v_row) in enumerate(zip(query.unbind(0), key.unbind(0), value.unbind(0), strict=True)):
        lengths = [e - s for s, e in bounds[r]]
        for q, k, v in zip(
            q_row.split(lengths, dim=1), k_row.split(lengths, dim=1), v_row.split(lengths, dim=1), strict=True
        ):
            out = F.scaled_dot_product_attention(
                q.unsqueeze(0),
                k.unsqueeze(0),
                v.unsqueeze(0),
                dropout_p=dropout,
                is_causal=True,
                scale=scaling,
                enable_gqa=gqa,
            )
            parts.append(out.transpose(1, 2))
    batch, heads, length = query.shape[:3]
    return torch.cat(parts, dim=1).view(batch, length, heads, value.shape[-1]), None


def register() -> str:
    """Make `attn_implementation="crucible_segments"` loadable (idempotent)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    def segment_mask(*args: Any, attention_mask: Any = None, **kwargs: Any) -> Any:
        # Padded rows need transformers' mask; without a 2D mask (packed rows, or unpadded ones
        # where SDPA's own causal flag is enough) building the full L x L mask is wasted work.
        if attention_mask is None:
            return None
        return sdpa_mask(*args, attention_mask=attention_mask, **kwargs)

    AttentionInterface.register(NAME, segment_attention_forward)
    AttentionMaskInterface.register(NAME, segment_mask)
    return NAME
