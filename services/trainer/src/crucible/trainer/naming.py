"""Model names, per the seeds: `crucible-v{n}-{date}-{base}`."""

from __future__ import annotations

import datetime as dt
import re


def base_slug(base_model: str) -> str:
    """`meta-llama/Llama-3.1-8B-Instruct` -> `llama-3.1-8b-instruct`; a local path -> its folder name."""
    last = base_model.rstrip("/").rsplit("/", 1)[-1] or "base"
    slug = re.sub(r"[^a-z0-9.]+", "-", last.lower()).strip("-.")
    return slug[:60] or "base"


def model_name(seq: int, base_model: str, when: dt.date) -> str:
    return f"crucible-v{seq}-{when:%Y%m%d}-{base_slug(base_model)}"
