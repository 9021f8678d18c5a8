"""datasketch is the oracle: our vectorised signatures are its affine32 MinHash bit for bit,
and our (bands, rows) choice is its `_optimal_param`."""

from __future__ import annotations

import random

import numpy as np
import pytest
from datasketch import MinHash
from datasketch.lsh import _optimal_param

from crucible.dedup.banding import band_keys, optimal_bands_rows
from crucible.dedup.corpus import generate
from crucible.dedup.normalise import normalise_text
from crucible.dedup.signature import EMPTY, MinHasher, permutations, shingle_hash32, shingles


def _datasketch(text: str, num_perm: int, seed: int) -> np.ndarray:
    m = MinHash(num_perm=num_perm, seed=seed, hashfunc=shingle_hash32, scheme="affine32")
    m.update_batch(shingles(text))
    return m.hashvalues


@pytest.mark.parametrize(("num_perm", "seed"), [(128, 1), (64, 42), (256, 7)])
def test_signatures_equal_datasketch_minhash_bit_for_bit(num_perm: int, seed: int) -> None:
    texts, _ = generate(150, seed=seed)
    # Empty and short texts at the start, in the middle and at the end of one batch.
    norm = ["", "a", "hi", "abcd", "", "abcde", "😀 ünï"] + [normalise_text(t) for t in texts] + ["", "xy"]
    sigs = MinHasher(num_perm, seed).signatures(norm)
    for text, sig in zip(norm, sigs, strict=True):
        assert np.array_equal(sig, _datasketch(text, num_perm, seed)), text


def test_permutations_are_datasketchs() -> None:
    a, b = permutations(128, 3)
    ref = MinHash(num_perm=128, seed=3, scheme="affine32").permutations
    assert np.array_equal(a, ref[0]) and np.array_equal(b, ref[1])


def test_empty_text_has_datasketchs_empty_signature() -> None:
    sig = MinHasher(128, 1).signatures([""])[0]
    assert (sig == EMPTY).all()
    assert np.array_equal(sig, MinHash(num_perm=128, seed=1, scheme="affine32").hashvalues)


def test_estimates_track_exact_jaccard_like_datasketch_default_hashing() -> None:
    """Against datasketch with its own SHA-1 shingle hashing: both estimate exact Jaccard."""
    rng = random.Random(3)
    texts, planted = generate(600, seed=11)
    hasher = MinHasher(128, 1)
    ours_err, theirs_err = [], []
    for p in planted[:120]:
        a, b = normalise_text(texts[p.source]), normalise_text(texts[p.index])
        sa, sb = set(shingles(a)), set(shingles(b))
        exact = len(sa & sb) / len(sa | sb)
        sig = hasher.signatures([a, b])
        ours_err.append(float((sig[0] == sig[1]).mean()) - exact)
        ma, mb = MinHash(num_perm=128, seed=rng.randint(1, 1000)), None
        mb = MinHash(num_perm=128, seed=ma.seed)
        ma.update_batch([s.encode() for s in sa])
        mb.update_batch([s.encode() for s in sb])
        theirs_err.append(ma.jaccard(mb) - exact)
    # Unbiased and with the MinHash standard error (<= 0.045 at 128 permutations).
    assert abs(np.mean(ours_err)) < 0.02
    assert np.sqrt(np.mean(np.square(ours_err))) < 0.05
    assert np.sqrt(np.mean(np.square(ours_err))) < 2 * np.sqrt(np.mean(np.square(theirs_err))) + 0.01


@pytest.mark.parametrize("threshold", [0.5, 0.7, 0.8, 0.85, 0.9, 0.95])
@pytest.mark.parametrize("weights", [(0.5, 0.5), (0.1, 0.9), (0.3, 0.7)])
@pytest.mark.parametrize("num_perm", [64, 128, 256])
def test_bands_rows_match_datasketch_optimal_param(
    threshold: float, weights: tuple[float, float], num_perm: int
) -> None:
    assert optimal_bands_rows(threshold, num_perm, *weights) == _optimal_param(threshold, num_perm, *weights)


def test_band_keys_collide_exactly_when_a_band_is_equal() -> None:
    rng = np.random.default_rng(0)
    sigs = rng.integers(0, 2**32, size=(2, 128), dtype=np.uint32)
    sigs[1, 22:33] = sigs[0, 22:33]  # band 2 of 11 rows
    keys = band_keys(sigs, 11, 11)
    assert keys.shape == (2, 11)
    assert [bool(k) for k in keys[0] == keys[1]] == [i == 2 for i in range(11)]
    # the band number is mixed in: equal rows in different bands never collide
    same = np.tile(sigs[:1, :11], (1, 11))
    assert len(set(band_keys(same, 11, 11)[0].tolist())) == 11
