"""Dedup against a real Redis (and a real nats-server for the two-worker stream test).

The shared index must give the clusters one worker would give, however records interleave
between replicas: the band claims and the decision are one atomic Redis script."""

from __future__ import annotations

import asyncio
import random
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from crucible.common import subjects
from crucible.common.bus import Bus
from crucible.common.config import BusPolicy
from crucible.common.worker import StageWorker
from crucible.dedup.core import DedupStage, Preparer, dedup_texts
from crucible.dedup.corpus import edited_copy, generate
from crucible.dedup.index import Decision
from crucible.dedup.memory_index import MemoryIndex, SnapshotMismatch
from crucible.dedup.params import DedupParams
from crucible.dedup.redis_index import RedisIndex
from crucible.v1 import records_pb2

pytestmark = pytest.mark.redis

PARAMS = DedupParams.for_threshold()


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own (one hash-tag slot), deleted afterwards."""
    value = f"test:{{dedup-{uuid.uuid4().hex[:12]}}}"
    yield value
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"{value}:*", count=1000):
        client.delete(key)
    client.close()


def _index(redis_url: str, prefix: str, **kw: object) -> RedisIndex:
    return RedisIndex(PARAMS, redis.Redis.from_url(redis_url), prefix, **kw)  # type: ignore[arg-type]


def clustered_corpus(roots: int, copies: int, seed: int) -> tuple[list[str], list[str], list[frozenset[str]]]:
    """`roots` unrelated texts, each with `copies` one-edit copies: every pair inside a group
    is far above the threshold and every pair across groups far below it, so the grouping does
    not depend on the order records are processed in."""
    short, _ = generate(2 * roots, seed=seed, duplicate_share=0.0)
    # Two generated texts per root (~600 characters): one edit then changes ~2% of the 5-grams,
    # so copies of one root are ~0.95 alike (estimates never near 0.85), and any two roots ~0.
    base = [short[2 * i] + " " + short[2 * i + 1] for i in range(roots)]
    ids, texts, groups = [], [], []
    for g, text in enumerate(base):
        members = [f"g{g:03d}-0"]
        ids.append(members[0])
        texts.append(text)
        for c in range(1, copies + 1):
            members.append(f"g{g:03d}-{c}")
            ids.append(members[-1])
            texts.append(edited_copy(text, 1, seed=seed * 1000 + g * 10 + c))
        groups.append(frozenset(members))
    order = list(range(len(ids)))
    random.Random(seed).shuffle(order)
    return [ids[i] for i in order], [texts[i] for i in order], groups


def partition(decisions: dict[str, Decision]) -> set[frozenset[str]]:
    clusters: dict[str, set[str]] = {}
    for rid, d in decisions.items():
        clusters.setdefault(d.cluster_id, set()).add(rid)
    return {frozenset(m) for m in clusters.values()}


def test_the_redis_index_decides_exactly_like_the_memory_index(redis_url: str, prefix: str) -> None:
    texts, _ = generate(1500, seed=21)
    ids = [f"r{i}" if i % 3 else f'rec "ü✓" {i}:\\' for i in range(len(texts))]  # ids travel as JSON
    in_memory = dedup_texts(ids, texts, MemoryIndex(PARAMS), PARAMS, batch_size=200)
    in_redis = dedup_texts(ids, texts, _index(redis_url, prefix, records_per_call=64), PARAMS, batch_size=200)
    assert in_redis == in_memory
    assert sum(1 for d in in_memory if d.duplicate_of) > 150  # the corpus has real work in it


def test_two_workers_against_redis_produce_the_same_clusters_as_one(redis_url: str, prefix: str) -> None:
    ids, texts, groups = clustered_corpus(roots=120, copies=4, seed=5)
    one = dict(zip(ids, dedup_texts(ids, texts, MemoryIndex(PARAMS), PARAMS), strict=True))
    assert partition(one) == set(groups)

    # Two replicas, each with its own connection, pulling small batches off one shared queue.
    prep = Preparer(PARAMS)
    queue = [(ids[i : i + 6], texts[i : i + 6]) for i in range(0, len(ids), 6)]
    lock = threading.Lock()
    two: dict[str, Decision] = {}

    def replica() -> None:
        index = _index(redis_url, prefix, records_per_call=3)
        while True:
            with lock:
                if not queue:
                    return
                batch_ids, batch_texts = queue.pop(0)
            for rid, d in zip(batch_ids, index.assign(prep.prepare(batch_ids, batch_texts)), strict=True):
                with lock:
                    two[rid] = d

    with ThreadPoolExecutor(2) as pool:
        for f in [pool.submit(replica), pool.submit(replica)]:
            f.result()
    assert partition(two) == partition(one)
    for rid, d in two.items():  # the cluster is named after a member that joined no one
        assert two[d.cluster_id].duplicate_of == "" and (d.duplicate_of == "") == (d.cluster_id == rid)


def test_near_duplicates_processed_at_the_same_moment_end_in_one_cluster(redis_url: str, prefix: str) -> None:
    base, _ = generate(40, seed=8, duplicate_share=0.0)
    prep = Preparer(PARAMS)
    replicas = [_index(redis_url, prefix), _index(redis_url, prefix)]
    barrier = threading.Barrier(2)

    def decide(which: int, rid: str, text: str) -> Decision:
        batch = prep.prepare([rid], [text])
        barrier.wait()
        return replicas[which].assign(batch)[0]

    with ThreadPoolExecutor(2) as pool:
        for i, text in enumerate(base):
            a = pool.submit(decide, 0, f"p{i}-a", text)
            b = pool.submit(decide, 1, f"p{i}-b", edited_copy(text, 1, seed=i))
            da, db = a.result(), b.result()
            assert da.cluster_id == db.cluster_id, (i, da, db)
            assert {da.duplicate_of, db.duplicate_of} in ({"", f"p{i}-a"}, {"", f"p{i}-b"})


def test_the_redis_index_survives_a_restart_and_refuses_another_layout(redis_url: str, prefix: str) -> None:
    texts, _ = generate(50, seed=2, duplicate_share=0.0)
    ids = [f"r{i}" for i in range(50)]
    first = dedup_texts(ids, texts, _index(redis_url, prefix), PARAMS)
    restarted = _index(redis_url, prefix)
    assert len(restarted) == 50
    again = dedup_texts(["new", "r4"], [edited_copy(texts[4], 1), texts[4]], restarted, PARAMS)
    assert again[0].duplicate_of == "r4" and again[1] == first[4]
    with pytest.raises(SnapshotMismatch, match="layout"):
        RedisIndex(DedupParams(0.85, 64, 1, 8, 8), redis.Redis.from_url(redis_url), prefix)


def test_two_stage_workers_on_one_stream_with_redis_give_one_workers_clusters(
    redis_url: str, prefix: str, embedded_nats
) -> None:
    ids, texts, groups = clustered_corpus(roots=60, copies=3, seed=9)

    async def scenario() -> dict[str, records_pb2.DedupInfo]:
        policy = BusPolicy(batch_size=2, records_per_message=4)
        bus = await Bus.connect(embedded_nats.url, policy)
        for i in range(0, len(ids), 4):
            batch = records_pb2.RecordBatch()
            for rid, text in zip(ids[i : i + 4], texts[i : i + 4], strict=True):
                batch.records.add(record_id=rid).turns.add(role="user", text=text)
            await bus.publish(subjects.SCORED, batch.SerializeToString(), msg_id=f"in-{ids[i]}")
        stop = asyncio.Event()
        workers = [
            StageWorker(
                DedupStage(PARAMS, _index(redis_url, prefix, records_per_call=2)),
                bus,
                consumes="records.scored",
                produces="records.curated",
                policy=policy,
            )
            for _ in range(2)
        ]
        tasks = [asyncio.create_task(w.run(stop)) for w in workers]
        deadline = time.monotonic() + 60
        while sum(w.stats.records_in for w in workers) < len(ids) or any(w.busy for w in workers):
            assert time.monotonic() < deadline, "workers did not drain the stream"
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.gather(*tasks)
        assert all(w.stats.records_in > 0 for w in workers), "both replicas must have taken part"
        sub = await bus.js.pull_subscribe(subjects.CURATED, durable="dedup-test-reader", stream=subjects.STREAM_RECORDS)
        out: dict[str, records_pb2.DedupInfo] = {}
        while len(out) < len(ids):
            for msg in await sub.fetch(64, timeout=5):
                for r in records_pb2.RecordBatch.FromString(msg.data).records:
                    out[r.record_id] = r.dedup
                await msg.ack_sync()
        await bus.close()
        return out

    out = asyncio.run(scenario())
    got = {rid: Decision(info.cluster_id, info.duplicate_of, info.similarity) for rid, info in out.items()}
    assert partition(got) == set(groups)


def test_a_deleted_record_is_no_candidate_and_breaks_nothing(redis_url: str, prefix: str) -> None:
    texts, _ = generate(3, seed=4, duplicate_share=0.0)
    index = _index(redis_url, prefix)
    dedup_texts(["gone", "kept"], texts[:2], index, PARAMS)
    index.client.delete(f"{prefix}:r:gone")  # e.g. a forgotten subject's record
    d = dedup_texts(["near", "same"], [edited_copy(texts[0], 1), texts[0]], index, PARAMS)
    assert d[0].duplicate_of == "" and d[0].cluster_id == "near"
    assert d[1].duplicate_of in ("", "near")  # not "gone": it no longer exists
    # the deleted record's exact and band keys were taken over by live records
    later = dedup_texts(["later"], [edited_copy(texts[0], 1, seed=9)], index, PARAMS)[0]
    assert later.duplicate_of in ("near", "same")
    assert dedup_texts(["again"], [texts[0]], index, PARAMS)[0].duplicate_of in ("near", "same")


def test_forgetting_in_redis_leaves_what_forgetting_in_memory_leaves(redis_url: str, prefix: str) -> None:
    texts, _ = generate(600, seed=8)
    base = texts[0] + " " + texts[1]
    texts = [base, edited_copy(base, 1, seed=1), edited_copy(base, 1, seed=2), base, *texts]
    ids = ["gone-0", "k1", "k2", "gone-1"] + [f"r{i}" for i in range(len(texts) - 4)]
    removed = {"gone-0", "gone-1"}
    memory = MemoryIndex(PARAMS)
    dedup_texts(ids, texts, memory, PARAMS, batch_size=100)
    shared = _index(redis_url, prefix, records_per_call=64)
    dedup_texts(ids, texts, shared, PARAMS, batch_size=100)

    counts = shared.forget(removed)

    assert counts["records"] == 2 and counts["repointed"] >= 2
    kept = [i for i in ids if i not in removed]
    kept_texts = [t for i, t in zip(ids, texts, strict=True) if i not in removed]
    # Asking again returns the stored decisions (redelivery): both indexes hold the same ones.
    in_memory = dedup_texts(kept, kept_texts, memory.without(removed), PARAMS)
    in_redis = dedup_texts(kept, kept_texts, shared, PARAMS)
    assert in_redis == in_memory
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        assert b"gone-" not in key
        value = client.hgetall(key) if client.type(key) == b"hash" else {b"v": client.get(key) or b""}
        assert not any(b"gone-" in v for v in value.values()), key
    client.close()
