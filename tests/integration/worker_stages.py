"""Stage cores for the worker tests (plain, deterministic, no I/O)."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

from crucible.common.stage import Rejection, Sink, StageResult
from crucible.v1 import records_pb2


class PassThrough:
    """Keeps every record; rejects those marked `reject`, raises on those marked `poison`."""

    name = "scrubber"  # consumes records.raw like the real first stage
    version = "test"

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay

    def process(self, batch: Sequence[records_pb2.Record]) -> StageResult:
        if self.delay:
            time.sleep(self.delay)
        out = StageResult()
        for r in batch:
            mark = r.context.get("mark", "")
            if mark == "poison":
                raise ValueError(f"cannot process {r.record_id}")
            if mark == "reject":
                out.rejected.append(Rejection(r, "marked_reject", "the test marked it"))
            elif mark == "residual":
                out.rejected.append(Rejection(r, "residual_pii", "a name survived", dlq=True))
            else:
                kept = records_pb2.Record()
                kept.CopyFrom(r)
                kept.context["seen_by"] = self.name
                out.kept.append(kept)
        return out


class FlakySink(Sink):
    """Fails the first `failures` persists, recording the time of each attempt in a file."""

    def __init__(self, failures: int, log_path: Path) -> None:
        self.failures = failures
        self.log_path = log_path
        self.calls = 0

    def persist(self, result: StageResult) -> None:
        self.calls += 1
        with self.log_path.open("a") as fh:
            fh.write(f"{time.monotonic()}\n")
        if self.calls <= self.failures:
            raise ConnectionError(f"sink down (attempt {self.calls})")


def make_records(n: int, prefix: str = "r", marks: dict[int, str] | None = None) -> list[records_pb2.Record]:
    marks = marks or {}
    out = []
    for i in range(n):
        r = records_pb2.Record(record_id=f"{prefix}{i:06d}", subject_token="t")
        r.turns.add(role="user", text=f"hello {i}")
        if i in marks:
            r.context["mark"] = marks[i]
        out.append(r)
    return out


def pid_marker(path: Path) -> None:
    path.write_text(str(os.getpid()))
