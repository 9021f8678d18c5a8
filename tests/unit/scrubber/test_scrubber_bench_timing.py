"""The bench's interleaved timing (baselines.throughput_interleaved): every contestant sees every
text each round, plus one untimed warm-up text per chunk, and the collector is left as it was."""

from __future__ import annotations

import gc

from crucible.scrubber.baselines import throughput_interleaved


def test_each_contestant_sees_every_text_and_the_collector_is_restored() -> None:
    texts = [f"text {i}" for i in range(10)]
    seen: list[list[str]] = [[], []]
    enabled = gc.isenabled()
    rates = throughput_interleaved([seen[0].append, seen[1].append], texts, rounds=2, chunk=4)
    assert len(rates) == 2 and all(r > 0 for r in rates)
    for calls in seen:
        # 3 chunks a round, each opened by the text before it (untimed), then the chunk itself
        assert len(calls) == 2 * (len(texts) + 3)
        assert sorted(set(calls)) == sorted(texts)
    assert calls[:5] == ["text 9", "text 0", "text 1", "text 2", "text 3"]
    assert gc.get_freeze_count() == 0
    assert gc.isenabled() == enabled
