"""The scorer's versioned diversity state on a real (SQLite) registry: a redelivered record is scored against
the snapshot it was first scored against and counted once; a later version of it is scored afresh and still
counted once; two replicas committing from one snapshot both land (the second rebases)."""

from __future__ import annotations

from pathlib import Path

import pytest

from crucible.common.registry import Registry
from crucible.scorer.diversity import RunningDistribution
from crucible.scorer.diversity_state import Decided, DiversityLedger, decision_key
from crucible.scorer.policy import DiversityPolicy
from crucible.v1 import records_pb2

POLICY = DiversityPolicy()
CONTEXT = {"relationship_stage": "married", "relationship_type": "heterosexual"}


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    reg = Registry(f"sqlite:///{tmp_path / 'r.db'}")
    reg.migrate()
    return reg


def record(rid: str, revision: str = "") -> records_pb2.Record:
    r = records_pb2.Record(record_id=rid, category="personalization")
    r.context.update(CONTEXT)
    if revision:
        r.context["revision"] = revision
    return r


def score_batch(ledger: DiversityLedger, registry: Registry, batch: list[records_pb2.Record]) -> dict[str, float]:
    """What the core does around its decisions (every record kept), then the sink's commit."""
    known = ledger.basis(batch)
    seen, decided, observed = {}, [], []
    counted = set(known.observed)
    for r in batch:
        key = decision_key(r)
        basis = known.snapshots.get(key, ledger.current)
        seen[key] = basis.assess(r.category, r.context).measures["diversity.context_seen"]
        if key not in known.snapshots:
            counts = r.record_id not in counted
            decided.append(Decided(key, r.record_id, counts))
            if counts:
                counted.add(r.record_id)
                observed.append((r.category, dict(r.context)))
    ledger.propose(decided, observed)
    with registry.session() as s:
        settle = ledger.commit(s)
    if settle:
        settle()
    return seen


def fresh(registry: Registry) -> DiversityLedger:
    return DiversityLedger.load(registry, POLICY, lambda: RunningDistribution(POLICY))


def test_a_redelivered_batch_sees_its_first_snapshot_and_counts_once(registry: Registry) -> None:
    ledger = fresh(registry)
    score_batch(ledger, registry, [record("a"), record("b")])
    first = score_batch(ledger, registry, [record("c"), record("d")])
    restarted = fresh(registry)  # a crash after the sink, before the ack: a new process, the same batch
    again = score_batch(restarted, registry, [record("c"), record("d")])
    assert again == first == {"c": 2.0, "d": 2.0}
    assert restarted.current.total == 4 and restarted.version == 3


def test_a_later_version_is_scored_afresh_and_counted_once(registry: Registry) -> None:
    ledger = fresh(registry)
    score_batch(ledger, registry, [record("a")])
    score_batch(ledger, registry, [record("b")])
    seen = score_batch(ledger, registry, [record("a", revision="2")])
    assert seen == {"a@2": 2.0}  # against the newest snapshot, not the one "a" first saw
    assert ledger.current.total == 2


def test_two_replicas_committing_from_one_snapshot_both_land(registry: Registry) -> None:
    one, two = fresh(registry), fresh(registry)
    score_batch(one, registry, [record("a")])
    score_batch(two, registry, [record("b")])  # proposed from version 0, rebased on 1
    assert (one.version, two.version) == (1, 2)
    assert fresh(registry).current.total == 2
