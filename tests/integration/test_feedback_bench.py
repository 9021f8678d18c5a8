"""`crucible bench feedback` in its quick form: both gateways answer, every exchange served with
publishing on reaches the RAW stream of a real nats-server (none lost in the background publisher),
and every signed response id's feedback is accepted once. No timing is asserted."""

from __future__ import annotations

from crucible.gateway.feedback_bench import bench_feedback


def test_quick_feedback_bench_publishes_every_exchange_and_takes_every_feedback() -> None:
    out = bench_feedback(quick=True)
    assert out["publishing_on"]["errors"] == 0 and out["publishing_off"]["errors"] == 0
    assert out["publishing_on"]["requests"] > 0 and out["publishing_off"]["requests"] > 0
    assert out["interaction_records_in_raw"] == out["exchanges_served_with_publishing_on"]
    fb = out["feedback_ingest"]
    assert fb["refused"] == 0 and fb["accepted"] == fb["requests"] + 3  # + the warm-up posts
    assert "throughput_ratio_on_vs_off" in out and "accepted_per_second" in fb
