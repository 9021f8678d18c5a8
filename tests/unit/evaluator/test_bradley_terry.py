"""Bradley-Terry MLE with bootstrap CIs on a synthetic win matrix with known strengths."""

from __future__ import annotations

import numpy as np
import pytest

from crucible.evaluator.bradley_terry import bradley_terry

TRUE = {"strong": 1250.0, "good": 1120.0, "anchor": 1000.0, "weak": 820.0}


def synthetic_battles(n: int, seed: int) -> list[tuple[str, str, str]]:
    rng = np.random.default_rng(seed)
    names = list(TRUE)
    out = []
    for _ in range(n):
        i, j = rng.choice(len(names), 2, replace=False)
        a, b = names[i], names[j]
        p = 1 / (1 + 10 ** ((TRUE[b] - TRUE[a]) / 400))
        out.append((a, b, "a" if rng.random() < p else "b"))
    return out


def test_recovers_the_known_order_with_sane_intervals() -> None:
    r = bradley_terry(synthetic_battles(4000, seed=3), anchor="anchor", rounds=200, seed=1)
    order = sorted(r.elo, key=r.elo.get, reverse=True)
    assert order == ["strong", "good", "anchor", "weak"]
    assert r.elo["anchor"] == 1000.0
    for name, true in TRUE.items():
        lo, hi = r.ci_low[name], r.ci_high[name]
        assert lo <= r.elo[name] <= hi
        assert abs(r.elo[name] - true) < 40
        if name != "anchor":
            assert 5 < hi - lo < 120  # neither degenerate nor useless
            d_lo, d_hi = r.diff_ci[name]
            assert d_lo <= true - 1000 + 40 and d_hi >= true - 1000 - 40


def test_intervals_shrink_with_more_battles() -> None:
    few = bradley_terry(synthetic_battles(400, seed=5), anchor="anchor", rounds=200)
    many = bradley_terry(synthetic_battles(6400, seed=5), anchor="anchor", rounds=200)
    width = lambda r: r.diff_ci["good"][1] - r.diff_ci["good"][0]  # noqa: E731
    assert width(many) < width(few) / 2


def test_ties_count_half_and_an_even_record_gives_equal_ratings() -> None:
    battles = [("x", "y", "a")] * 30 + [("x", "y", "b")] * 30 + [("x", "y", "tie")] * 40
    r = bradley_terry(battles, anchor="y", rounds=100)
    assert r.elo["x"] == pytest.approx(1000.0, abs=1e-6)
    lo, hi = r.diff_ci["x"]
    assert lo < 0 < hi


def test_a_clean_sweep_stays_finite_and_is_reproducible() -> None:
    battles = [("x", "y", "a")] * 50
    r1 = bradley_terry(battles, anchor="y", rounds=50, seed=3)
    r2 = bradley_terry(battles, anchor="y", rounds=50, seed=3)
    assert np.isfinite(r1.elo["x"]) and r1.elo["x"] > 1400
    assert r1 == r2


def test_bad_input_is_an_error() -> None:
    with pytest.raises(ValueError, match="no battles"):
        bradley_terry([], anchor="y")
    with pytest.raises(ValueError, match="anchor"):
        bradley_terry([("x", "y", "a")], anchor="z")
    with pytest.raises(ValueError, match="winner"):
        bradley_terry([("x", "y", "x")], anchor="y")
