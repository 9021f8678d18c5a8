"""The text a record is compared on, normalised exactly as the dedup definition says:
Unicode NFKC, lower case, every punctuation character (Unicode category P*) removed,
runs of white space collapsed to one space, trimmed.

`normalise_text` is the plain reference. `normalise_codes` does the same for a whole batch
at once (NFKC and lower per text in Python, then punctuation removal and white-space
collapsing in one compiled pass over the concatenated code points) and returns the code
points the signatures are computed from; the tests check both agree on every input.
"""

from __future__ import annotations

import sys
import unicodedata
from functools import lru_cache

import numpy as np

from crucible.dedup.compiled import compiled
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
    out = np.empty(codes.size, dtype=np.uint32)
    out_lens = np.empty(n, dtype=np.int64)
    used = compiled(_squeeze)(codes, lens, _char_classes(), out, out_lens)
    return out[:used], out_lens


def _squeeze(
    codes: np.ndarray, lengths: np.ndarray, classes: np.ndarray, out: np.ndarray, out_lengths: np.ndarray
) -> int:
    """Per record: drop punctuation, turn each run of white space between two kept characters
    into one space, drop leading and trailing white space. Writes `out` and `out_lengths`,
    returns the code points written (a compiled loop; `normalise_text` is the reference)."""
    src = 0
    dst = 0
    for r in range(lengths.size):
        start = dst
        space = False  # white space seen since the last kept character of this record
        for i in range(src, src + lengths[r]):
            c = codes[i]
            kind = classes[c]
            if kind == _PUNCT:
                continue
            if kind == _SPACE:
                space = dst > start
                continue
            if space:
                out[dst] = SPACE
                dst += 1
                space = False
            out[dst] = c
            dst += 1
        src += lengths[r]
        out_lengths[r] = dst - start
    return dst


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
