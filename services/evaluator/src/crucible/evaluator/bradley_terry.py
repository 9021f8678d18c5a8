"""Bradley-Terry ratings by maximum likelihood, with bootstrap confidence intervals, on the
Elo scale: Chatbot Arena's method (Chiang et al., 2024, `compute_mle_elo`).

P(i beats j) = 1 / (1 + base ** ((R_j - R_i) / scale)). A tie counts as half a win for each
side (Arena duplicates tied battles as one win each way, the same likelihood). A small ridge
on the log-strengths keeps the estimate finite when one model wins every battle; ratings are
shifted so the anchor player (the serving model) sits at `anchor`. Intervals: refit on
battles resampled with replacement, 2.5th and 97.5th percentiles.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Battle = tuple[str, str, str]  # (player_a, player_b, winner: "a" | "b" | "tie")


@dataclass(frozen=True)
class Ratings:
    players: list[str]
    elo: dict[str, float]
    ci_low: dict[str, float]
    ci_high: dict[str, float]
    diff_ci: dict[str, tuple[float, float]]  # per player: 95 % CI of (player - anchor)
    battles: int
    rounds: int


def _cells(battles: Sequence[Battle], index: dict[str, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unique (i, j) pairs with i < j and their counts of wins for i, for j, and ties."""
    table: dict[tuple[int, int], list[float]] = {}
    for a, b, w in battles:
        i, j = index[a], index[b]
        if i == j:
            raise ValueError(f"a battle of {a} against itself")
        if w not in ("a", "b", "tie"):
            raise ValueError(f"winner must be 'a', 'b' or 'tie', got {w!r}")
        if i > j:
            i, j = j, i
            w = {"a": "b", "b": "a", "tie": "tie"}[w]
        row = table.setdefault((i, j), [0.0, 0.0, 0.0])
        row[{"a": 0, "b": 1, "tie": 2}[w]] += 1
    pairs = np.array(sorted(table), dtype=np.int64).reshape(-1, 2)
    counts = np.array([table[tuple(p)] for p in pairs.tolist()], dtype=np.float64).reshape(-1, 3)
    return pairs[:, 0], pairs[:, 1], counts


def fit_log_strengths(
    n: int, i: np.ndarray, j: np.ndarray, counts: np.ndarray, l2: float, iters: int = 100
) -> np.ndarray:
    """Newton's method on the penalised log-likelihood; theta sums to zero."""
    wins_i = counts[:, 0] + 0.5 * counts[:, 2]
    total = counts.sum(axis=1)
    theta = np.zeros(n)
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-(theta[i] - theta[j])))
        resid = wins_i - total * p
        grad = np.zeros(n)
        np.add.at(grad, i, resid)
        np.add.at(grad, j, -resid)
        grad -= l2 * theta
        w = total * p * (1.0 - p)
        hess = np.zeros((n, n))
        np.add.at(hess, (i, i), w)
        np.add.at(hess, (j, j), w)
        np.add.at(hess, (i, j), -w)
        np.add.at(hess, (j, i), -w)
        hess += (l2 + 1e-9) * np.eye(n)
        step = np.linalg.solve(hess + np.ones((n, n)) / n, grad)  # the ones term fixes the free shift
        theta += step
        theta -= theta.mean()
        if np.max(np.abs(step)) < 1e-10:
            break
    return theta


def bradley_terry(
    battles: Sequence[Battle],
    *,
    anchor: str,
    anchor_rating: float = 1000.0,
    scale: float = 400.0,
    base: float = 10.0,
    rounds: int = 1000,
    seed: int = 7,
    l2: float = 1e-3,
) -> Ratings:
    if not battles:
        raise ValueError("no battles to rate")
    players = sorted({p for a, b, _ in battles for p in (a, b)})
    if anchor not in players:
        raise ValueError(f"anchor {anchor!r} played no battle")
    index = {p: k for k, p in enumerate(players)}
    ci, cj, counts = _cells(battles, index)
    to_elo = scale / math.log(base)
    k = index[anchor]

    def elo_of(theta: np.ndarray) -> np.ndarray:
        return (theta - theta[k]) * to_elo + anchor_rating

    point = elo_of(fit_log_strengths(len(players), ci, cj, counts, l2))
    rng = np.random.default_rng(seed)
    # Resampling battles with replacement = a multinomial draw over the (pair, outcome) cells.
    flat = counts.reshape(-1)
    probs = flat / flat.sum()
    samples = np.empty((rounds, len(players)))
    for r in range(rounds):
        draw = rng.multinomial(int(flat.sum()), probs).reshape(counts.shape).astype(np.float64)
        samples[r] = elo_of(fit_log_strengths(len(players), ci, cj, draw, l2))
    low = np.percentile(samples, 2.5, axis=0)
    high = np.percentile(samples, 97.5, axis=0)
    diff = samples - samples[:, [k]]
    return Ratings(
        players=players,
        elo={p: float(point[index[p]]) for p in players},
        ci_low={p: float(low[index[p]]) for p in players},
        ci_high={p: float(high[index[p]]) for p in players},
        diff_ci={
            p: (float(np.percentile(diff[:, index[p]], 2.5)), float(np.percentile(diff[:, index[p]], 97.5)))
            for p in players
        },
        battles=len(battles),
        rounds=rounds,
    )
