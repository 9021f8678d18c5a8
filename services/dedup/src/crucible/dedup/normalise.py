"""The text a record is compared on, normalised exactly as the dedup definition says:
Unicode NFKC, lower case, every punctuation character (Unicode category P*) removed,
runs of white space collapsed to one space, trimmed.

`normalise_text` is the plain reference. `normalise_codes` does the same for a whole batch
at once (NFKC and lower per text in Python, then punctuation removal and white-space
collapsing as numpy masks over the concatenated code points) and returns the code points the
signatures are computed from; the tests check both agree on every input.
"""

from __future__ import annotations

import sys
import unicodedata
from functools import lru_cache

import numpy as np

from crucible.v1 import records_pb2

_OTHER, _PUNCT, _SPACE = 0, 1, 2
SPACE = 32


@lru_cache(maxsize=1)
def _char_classes() -> np.ndarray:
    # Built from this interpreter's Unicode database, once per process (~0.5 s): the definition
    # says "category P*", and "white space" is what str.split() splits on.
    lut = np.zeros(sys.maxunicode + 1, dtype=np.uint8)
    for cp in range(sys.maxunicode + 1):
        ch = chr(cp)
        if unicodedata.category(ch)[0] == "P":
            lut[cp] = _PUNCT
        elif ch.isspace():
            lut[cp] = _SPACE
    return lut


@lru_cache(maxsize=1)
def _punctuation_table() -> dict[int, None]:
    return dict.fromkeys(np.flatnonzero(_char_classes() == _PUNCT).tolist())


def normalise_text(text: str) -> str:
    """NFKC, lower, P* removed, white space collapsed, trimmed."""
    text = unicodedata.normalize("NFKC", text).lower().translate(_punctuation_table())
    return " ".join(text.split())


def normalise_codes(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The normalised texts of a batch as one uint32 array of code points and the length of each."""
    n = len(texts)
    pre = [unicodedata.normalize("NFKC", t).lower() for t in texts]
    lens = np.fromiter(map(len, pre), dtype=np.int64, count=n)
    codes = np.frombuffer("".join(pre).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    if codes.size == 0:
        return codes.copy(), np.zeros(n, dtype=np.int64)
    rec = np.repeat(np.arange(n), lens)
    cls = _char_classes()[codes]
    keep = cls != _PUNCT
    codes, rec, space = codes[keep], rec[keep], cls[keep] == _SPACE
    if codes.size:
        # A space survives only right after a non-space of the same record: this drops leading
        # and repeated white space and leaves at most one trailing space, dropped next.
        after_char = np.zeros(codes.size, dtype=bool)
        after_char[1:] = ~space[:-1] & (rec[1:] == rec[:-1])
        keep = ~space | after_char
        codes, rec, space = codes[keep], rec[keep], space[keep]
    if codes.size:
        last = np.ones(codes.size, dtype=bool)
        last[:-1] = rec[1:] != rec[:-1]
        keep = ~(space & last)
        codes, rec, space = codes[keep], rec[keep], space[keep]
    codes = np.where(space, np.uint32(SPACE), codes).astype(np.uint32)
    return codes, np.bincount(rec, minlength=n).astype(np.int64)


def decode_codes(codes: np.ndarray, lengths: np.ndarray) -> list[str]:
    """The texts back from `normalise_codes` (tests, reports)."""
    out, pos = [], 0
    for length in lengths.tolist():
        out.append(codes[pos : pos + length].tobytes().decode("utf-32-le", "surrogatepass"))
        pos += length
    return out


def encode_codes(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Already normalised texts as code points and lengths (the inverse of `decode_codes`)."""
    lens = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    return np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32), lens


def record_text(record: records_pb2.Record) -> str:
    """The record's turns joined (the separator becomes one space after normalisation)."""
    return "\n".join(turn.text for turn in record.turns)
