"""Scorer decisions do not depend on crash history (issue 25, item 11): a worker SIGKILLed after it
persisted a batch but before it published and acked it is restarted; the redelivered records get
exactly the decisions (outcome and every quality point, diversity included) of their first scoring,
and no record's observation is counted twice."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pytest
from bus_reading import batch_records, drain_messages

from crucible.common import subjects
from crucible.common.artifacts import ArtifactStore
from crucible.common.bus import Bus
from crucible.common.config import BusPolicy
from crucible.common.registry import DiversitySnapshot, Registry
from crucible.scorer.models import load_models
from crucible.scorer.policy import ScorerPolicy
from crucible.scorer.training import inputs_digest
from crucible.v1 import records_pb2

HERE = Path(__file__).parent
EMPATHIC = ("That sounds really frustrating, and it makes sense you'd feel unheard when your partner doesn't listen "
            "about work. It seems like being listened to matters a lot to you. Would you like to think about how to "
            "share that with them?")  # fmt: skip
MESSAGES, PER_MESSAGE, KILL_AFTER = 6, 4, 4


@pytest.fixture(scope="module")
def models_root() -> Path:
    root = Path(tempfile.gettempdir()) / f"crucible-scorer-test-models-{inputs_digest()[:16]}"
    load_models(ArtifactStore(root.as_uri()), ScorerPolicy(), train_if_missing=True)
    return root


def record(i: int) -> records_pb2.Record:
    r = records_pb2.Record(record_id=f"c{i:04d}", subject_token=f"tok-{i}")
    r.turns.add(role="user", text=f"I feel like my partner doesn't listen to me when I talk about work ({i}).")
    r.turns.add(role="assistant", text=EMPATHIC)
    # One context for all: its "seen" count, and so the unique-context point, moves with every kept record.
    r.context.update({"relationship_stage": "married", "relationship_type": "heterosexual", "topic": "work"})
    r.signals.satisfaction, r.signals.action_taken, r.signals.positive_outcome = 9.0, True, True
    return r


def start(args: list[str], tmp: Path) -> subprocess.Popen:
    ready = tmp / f"ready-{time.monotonic_ns()}"
    log = (tmp / f"{ready.name}.log").open("w")
    env = dict(os.environ, PYTHONPATH=str(HERE), OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, str(HERE / "scorer_worker_main.py"), *args, str(ready)], env=env,
                            stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    deadline = time.monotonic() + 120
    while not ready.exists():
        assert proc.poll() is None or proc.returncode == -9, Path(log.name).read_text()
        assert time.monotonic() < deadline, "scorer worker did not start"
        time.sleep(0.1)
    return proc


def test_redelivery_after_sigkill_gets_the_same_decisions(embedded_nats, models_root: Path, tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'registry.db'}"
    decisions = tmp_path / "decisions.jsonl"
    records = [record(i) for i in range(MESSAGES * PER_MESSAGE)]

    async def publish() -> None:
        bus = await Bus.connect(embedded_nats.url, BusPolicy())
        for m in range(MESSAGES):
            chunk = records[m * PER_MESSAGE : (m + 1) * PER_MESSAGE]
            payload = records_pb2.RecordBatch(records=chunk).SerializeToString()
            await bus.publish(subjects.SCRUBBED, payload, msg_id=f"in-{m}")
        await bus.close()

    asyncio.run(publish())
    args = [embedded_nats.url, db_url, str(models_root), str(decisions)]
    first = start([*args, str(KILL_AFTER)], tmp_path)
    assert first.wait(timeout=300) == -9, "the worker was not killed where the test meant"
    second = start([*args, "0"], tmp_path)

    async def drain() -> list[records_pb2.Record]:
        bus = await Bus.connect(embedded_nats.url, BusPolicy())
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            pending, unacked = await bus.consumer_pending(subjects.STREAM_RECORDS, subjects.durable("scorer"))
            if pending == 0 and unacked == 0:
                break
            await asyncio.sleep(0.2)
        msgs = await drain_messages(bus, subjects.SCORED, subjects.STREAM_RECORDS, "reader")
        await bus.close()
        return [r for m in msgs for r in batch_records(m)]

    scored = asyncio.run(drain())
    second.terminate()
    second.wait(timeout=30)

    seen: dict[str, list[str]] = defaultdict(list)
    for line in decisions.read_text().splitlines():
        d = json.loads(line)
        seen[d["id"]].append(json.dumps([d["outcome"], d["quality"]], sort_keys=True))
    redone = {rid: v for rid, v in seen.items() if len(v) > 1}
    assert len(redone) == PER_MESSAGE, "the killed batch was not scored twice"
    for rid, versions in redone.items():
        assert len(set(versions)) == 1, f"{rid} changed its decision after the crash: {versions}"
    assert set(seen) == {r.record_id for r in records}
    kept = [rid for rid, v in seen.items() if json.loads(v[0])[0] == "kept"]
    assert sorted(r.record_id for r in scored) == sorted(kept)
    # Each kept record counted once in the diversity state, although one batch was scored twice.
    with Registry(db_url).session() as s:
        newest = s.query(DiversitySnapshot).order_by(DiversitySnapshot.version.desc()).first()
        assert newest is not None and newest.state["total"] == len(kept)
