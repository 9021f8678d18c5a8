"""Text fragments for the demo app database, kept as data in `fragments.json`.

Texts are assembled from fragments with slots ({partner}, {friend}, {workplace}, {place},
{day}, {title}, ...) so the same fragment rarely yields the same sentence twice, and so the
personal details the scrubber must remove (names, workplaces, emails, phones) appear *inside*
the free text at realistic rates. The coach replies are written to be sensible and
empathetic: they become training data.

`fragments()` reads the file once: every list becomes a tuple (so a fragment table cannot be
changed by accident) and `POSITIVE_MOODS` a frozenset; attribute names are the file's keys
(`fragments().TOPICS`, `fragments().CHECKIN_EVENTS[topic]`, ...).
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from types import SimpleNamespace
from typing import Any

SETS = frozenset({"POSITIVE_MOODS"})


def _frozen(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, dict):
        return {k: _frozen(v) for k, v in value.items()}
    return value


@cache
def fragments() -> SimpleNamespace:
    raw = json.loads(files(__package__).joinpath("fragments.json").read_text(encoding="utf-8"))
    return SimpleNamespace(**{k: frozenset(v) if k in SETS else _frozen(v) for k, v in raw.items()})
