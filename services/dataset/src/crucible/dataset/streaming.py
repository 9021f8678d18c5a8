"""The out-of-core build: the same version as `builder.build_version` (byte for byte), with the
store's records never held in memory.

1. One pass over the store (`scan`): each usable record's columns and its blob go into DuckDB,
   a database file in a work folder, with a memory limit; DuckDB spills to disk beyond it.
2. Selection and splits run as queries (`plan`).
3. Files are written split by split, streaming the chosen blobs in file order out of DuckDB;
   each record is parsed once more, rendered in every format and written line by line.
4. The report, then the manifest (its record-id lists streamed), written last. A build that
   fails at any point removes what it wrote (`FileSink.discard`): never a partial version.

`builder.build_version` stays as the in-memory reference the tests compare this with.
About 465 lines on purpose: the four steps share one work folder and one discard-on-failure path,
which read best in order in one module.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, ExitStack
from multiprocessing import get_context
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import duckdb
import orjson

from crucible.dataset.audit import bias_audit_counts
from crucible.dataset.builder import MANIFEST, REPORT, BuiltVersion, DatasetBuildError, Member, file_name
from crucible.dataset.formats import encode_example, to_example
from crucible.dataset.plan import Plan, plan_version
from crucible.dataset.policy import SPLITS, DatasetPolicy
from crucible.dataset.report import render_report
from crucible.dataset.scan import SPAN_FIELDS, ScanCounts, candidate_schema, chunked, scan_chunk, with_spans
from crucible.dataset.selection import max_synthetic
from crucible.v1 import records_pb2

log = logging.getLogger(__name__)

# What the Python side holds per record in the store at its peak (the subject/cluster id arrays
# and group labels of the leakage step); the rest of the build is bounded by batch sizes.
PYTHON_BYTES_PER_RECORD = 64
BASE_MIB = 320  # interpreter, protobuf, DuckDB, Arrow, SciPy loaded
DUCKDB_MIN_MIB = 256  # below this DuckDB's sorts and joins spill so much the build crawls
WORKER_MIB = 256  # one worker process (protobuf, Arrow, orjson loaded) with a chunk in flight (234 MiB measured)
PARALLEL_MIN_RECORDS = 50_000  # below this, starting worker processes costs more than it saves
_FETCH_ROWS = 2_000
_LS, _PS = "\u2028".encode(), "\u2029".encode()


class FileSink(Protocol):
    """Where a version's files go: `open` gives a binary file that is in place once closed without
    error; `discard` removes everything the build wrote."""

    def open(self, name: str) -> AbstractContextManager[BinaryIO]: ...

    def discard(self) -> None: ...


def memory_needed_mib(records: int, workers: int = 0) -> int:
    return BASE_MIB + DUCKDB_MIN_MIB + workers * WORKER_MIB + -(-records * PYTHON_BYTES_PER_RECORD // (1 << 20))


def default_workers(records: int) -> int:
    """Worker processes that parse and render beside the main one (DuckDB threads on its own)."""
    return min(os.cpu_count() or 1, 4) if records >= PARALLEL_MIN_RECORDS else 0


def check_memory(records: int, limit_mib: int, workers: int = 0) -> int:
    """DuckDB's share of the limit; a clear error, before any work, when the limit is too small."""
    needed = memory_needed_mib(records, workers)
    if needed > limit_mib:
        raise DatasetBuildError(
            f"building from {records} curated records needs about {needed} MiB; dataset.build_memory_mib is "
            f"{limit_mib}: raise it (or the pod's memory) and build again. Nothing was written."
        )
    # DuckDB's limit covers its buffers, not Python's arrays: what is left after those and the base,
    # less a fifth, since DuckDB's resident memory runs somewhat past its limit (allocator, results).
    return (limit_mib - needed) * 4 // 5 + DUCKDB_MIN_MIB


class _HashingWriter:
    def __init__(self, fh: BinaryIO) -> None:
        self.fh, self.sha, self.bytes = fh, hashlib.sha256(), 0

    def write(self, data: bytes) -> None:
        self.fh.write(data)
        self.sha.update(data)
        self.bytes += len(data)


class OutOfCoreBuild:
    """One build in its own work folder (deleted on exit). `build` writes the version; `members`
    then streams (record id, subject, split) for the registry."""

    def __init__(
        self,
        policy: DatasetPolicy,
        *,
        workdir: Path | None = None,
        memory_mib: int | None = None,
        workers: int | None = None,
    ) -> None:
        self.policy = policy
        self.memory_mib = memory_mib if memory_mib is not None else policy.build_memory_mib
        self.workers = workers  # None: default_workers(records in the store)
        self.duckdb_mib = 0  # DuckDB's share of memory_mib, set when the build starts
        self._pool: Any = None
        self._tmp = Path(tempfile.mkdtemp(prefix="crucible-dataset-build-", dir=workdir))
        self._spill = self._tmp / "blobs.bin"
        self.con: duckdb.DuckDBPyConnection | None = None
        self.names = list(policy.splits.as_dict())

    def __enter__(self) -> OutOfCoreBuild:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            # A clean exit lets the workers finish and be reaped, so their CPU time and peak memory
            # show in this process's RUSAGE_CHILDREN (the bench reports them).
            if exc[0] is None:
                self._pool.close()
            else:
                self._pool.terminate()
            self._pool.join()
            self._pool = None
        if self.con is not None:
            self.con.close()
            self.con = None
        shutil.rmtree(self._tmp, ignore_errors=True)

    def _ordered_map(
        self, fn: Callable[..., Any], items: Iterable[tuple[Any, ...]]
    ) -> Iterator[tuple[tuple[Any, ...], Any]]:
        """(item, fn(*item)) for each item, in input order; on the worker pool when there is one, with
        a bounded number of chunks in flight (memory stays flat however large the store)."""
        if self._pool is None:
            for item in items:
                yield item, fn(*item)
            return
        pending: deque[tuple[tuple[Any, ...], Any]] = deque()
        for item in items:
            pending.append((item, self._pool.apply_async(fn, item)))
            if len(pending) >= 2 * self._pool._processes:
                done, future = pending.popleft()
                yield done, future.get()
        while pending:
            done, future = pending.popleft()
            yield done, future.get()

    def _connect(self, records: int) -> duckdb.DuckDBPyConnection:
        workers = default_workers(records) if self.workers is None else self.workers
        self.duckdb_mib = duck_mib = check_memory(records, self.memory_mib, workers)
        if workers:
            self._pool = get_context("spawn").Pool(workers)
        # An in-memory database that spills to the work folder beyond its limit: the work tables are
        # written once and read once, so a database file's WAL, checkpoints and compression only cost
        # (the plan took twice the CPU on a file, measured at 1 M rows).
        con = duckdb.connect(":memory:")
        con.execute(f"SET memory_limit = '{duck_mib}MiB'")
        # One thread per core, said explicitly: the plan's sorts and windows run on every core the pod
        # has (2 in the target), between the scan's and the write's worker phases.
        con.execute(f"SET threads = {os.cpu_count() or 1}")
        con.execute(f"SET temp_directory = '{self._tmp / 'spill'}'")
        # Every result whose order matters says ORDER BY; without this DuckDB keeps insertion order at a memory cost.
        con.execute("SET preserve_insertion_order = false")
        return con

    def build(
        self,
        blobs: Iterable[bytes],
        *,
        records_in_store: int,
        version: str,
        created: dt.date,
        sink: FileSink,
    ) -> BuiltVersion:
        """Build from serialized records (`records_in_store` of them, for the memory check). On any error
        the sink is discarded and the error re-raised."""
        self.con = con = self._connect(records_in_store)
        self.phase_seconds: dict[str, float] = {}
        try:
            t0 = time.perf_counter()
            counts = self._load(con, blobs)
            self._phase("scan", t0, f"{counts.records_in_store} records read, {counts.usable} usable")
            if counts.usable < self.policy.min_records:
                raise DatasetBuildError(
                    f"only {counts.usable} eligible curated records (of {counts.records_in_store} in the store), "
                    f"dataset.min_records is {self.policy.min_records}: have records reached crucible.records.curated?"
                )
            t0 = time.perf_counter()
            plan = plan_version(
                con,
                category_mix=self.policy.category_mix,
                synthetic_cap=self.policy.synthetic_cap,
                shares=self.policy.splits.as_dict(),
            )
            self._phase("plan", t0, f"{plan.real + plan.synthetic} records selected and split")
            return self._write(con, counts, plan, version=version, created=created, sink=sink)
        except duckdb.OutOfMemoryException as err:
            # The estimate said it fits but DuckDB could not spill its way through (a store of unusually
            # large records, or a pod whose memory is shared): the same answer as the check's, no traceback.
            sink.discard()
            raise DatasetBuildError(
                f"building from {records_in_store} curated records needs more than its {self.duckdb_mib} MiB for "
                f"DuckDB (dataset.build_memory_mib is {self.memory_mib}, of which about "
                f"{self.memory_mib - self.duckdb_mib} MiB is the Python side's): raise it (or the pod's memory) "
                f"and build again. Nothing was published. DuckDB said: {str(err).splitlines()[0]}"
            ) from None
        except BaseException:
            sink.discard()
            raise

    def _phase(self, name: str, t0: float, what: str) -> None:
        self.phase_seconds[name] = round(time.perf_counter() - t0, 3)
        log.info("dataset build: %s in %.1f s (%s)", name, self.phase_seconds[name], what)

    def _load(self, con: duckdb.DuckDBPyConnection, blobs: Iterable[bytes]) -> ScanCounts:
        dims = self.policy.audit.dimensions
        schema = candidate_schema(dims)
        cols = ", ".join(f"{f.name} {_duck_type(str(f.type))}" for f in [*schema, *SPAN_FIELDS])
        con.execute(f"CREATE TABLE cand ({cols})")
        counts = ScanCounts()
        seed = self.policy.seed

        def chunks() -> Iterator[tuple[Any, ...]]:
            start = 0
            for chunk in chunked(blobs):
                yield (chunk, start, seed, list(dims))
                start += len(chunk)

        # The usable records' blobs go to a plain append-only file, not into DuckDB: writing them is
        # one buffered write per chunk, and the write step reads each back by offset (on the workers).
        offset = 0
        with self._spill.open("wb") as spill:
            for (chunk, *_), (columns, kept) in self._ordered_map(scan_chunk, chunks()):
                counts.records_in_store += len(chunk)
                counts.usable += len(kept)
                if columns is None:
                    continue
                kept_blobs = [chunk[k] for k in kept]
                con.register("cand_batch", with_spans(columns, [len(b) for b in kept_blobs], offset))
                con.execute("INSERT INTO cand SELECT * FROM cand_batch")
                con.unregister("cand_batch")
                data = b"".join(kept_blobs)
                spill.write(data)
                offset += len(data)
        return counts

    def _write(
        self,
        con: duckdb.DuckDBPyConnection,
        scan: ScanCounts,
        plan: Plan,
        *,
        version: str,
        created: dt.date,
        sink: FileSink,
    ) -> BuiltVersion:
        policy = self.policy
        dims = policy.audit.dimensions
        total = plan.real + plan.synthetic
        value_counts: dict[str, dict[str, int]] = {}
        for k, dim in enumerate(dims):
            value_counts[dim] = dict(
                con.execute(f"SELECT d{k}, count(*) FROM final WHERE d{k} <> '' GROUP BY 1").fetchall()
            )
        mix_report = plan.mix_report
        audit = bias_audit_counts(
            total,
            value_counts,
            policy.audit,
            policy.fairness_target,
            category_report=mix_report,
            synthetic_room=max(max_synthetic(plan.real, policy.synthetic_cap) - plan.synthetic, 0),
        )
        final_categories = dict(con.execute("SELECT cat, count(*) FROM final GROUP BY cat").fetchall())
        for category, row in mix_report.items():
            row["selected"] = final_categories.get(category, 0)
            row["share"] = round(row["selected"] / total, 6) if total else 0.0

        files: dict[str, dict[str, Any]] = {}
        for name in SPLITS:
            t0 = time.perf_counter()
            files.update(self._write_split(con, name, sink))
            self._phase(f"write_{name}", t0, f"{files[file_name(name, policy.formats[0])]['records']} records")

        manifest: dict[str, Any] = {
            "version": version,
            "created": created.isoformat(),
            "policy": policy.model_dump(mode="json"),
            "counts": self._counts(con),
            "selection": {
                "records_in_store": scan.records_in_store,
                "unusable": scan.records_in_store - scan.usable,
                "eligible_records": scan.usable,
                "duplicates_dropped": plan.duplicates_dropped,
                "synthetic_dropped": plan.synthetic_dropped,
                "category_mix": mix_report,
                "deficits": {k: v["deficit"] for k, v in mix_report.items() if v["deficit"]},
            },
            "audit": audit,
            "files": files,
        }
        report = render_report(manifest).encode("utf-8")
        with sink.open(REPORT) as fh:
            fh.write(report)
        files[REPORT] = {"bytes": len(report), "sha256": hashlib.sha256(report).hexdigest()}
        t0 = time.perf_counter()
        manifest_sha256 = self._write_manifest(con, manifest, sink)
        self._phase("manifest", t0, "written last")
        return BuiltVersion(version=version, manifest=manifest, manifest_sha256=manifest_sha256, members=[])

    def _write_split(self, con: duckdb.DuckDBPyConnection, name: str, sink: FileSink) -> dict[str, dict[str, Any]]:
        policy = self.policy
        formats = list(policy.formats)
        system_prompt = policy.system_prompt
        out: dict[str, dict[str, Any]] = {}
        with ExitStack() as stack:
            writers = [_HashingWriter(stack.enter_context(sink.open(file_name(name, f)))) for f in formats]
            records = 0
            k = self.names.index(name)
            reader = con.sql(f"SELECT off, len FROM final WHERE split = {k} ORDER BY ord, rid").to_arrow_reader(
                _FETCH_ROWS
            )
            spill = str(self._spill)

            def chunks() -> Iterator[tuple[Any, ...]]:
                for batch in reader:
                    yield (spill, batch.column(0).to_numpy(), batch.column(1).to_numpy(), formats, system_prompt)

            for _, (n, parts) in self._ordered_map(render_chunk, chunks()):
                records += n
                for writer, data in zip(writers, parts, strict=True):
                    writer.write(data)
        for fmt, writer in zip(formats, writers, strict=True):
            out[file_name(name, fmt)] = {
                "split": name,
                "format": fmt,
                "records": records,
                "bytes": writer.bytes,
                "sha256": writer.sha.hexdigest(),
            }
        return out

    def _counts(self, con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
        splits = {}
        all_categories: dict[str, int] = {}
        for name in SPLITS:
            k = self.names.index(name)
            n, syn = con.execute(
                "SELECT count(*), count(*) FILTER (syn) FROM final WHERE split = ?", [k]
            ).fetchone() or (0, 0)
            by_category = dict(
                sorted(con.execute("SELECT cat, count(*) FROM final WHERE split = ? GROUP BY cat", [k]).fetchall())
            )
            synthetic_by_category = dict(
                sorted(
                    con.execute("SELECT cat, count(*) FROM final WHERE split = ? AND syn GROUP BY cat", [k]).fetchall()
                )
            )
            for cat, m in by_category.items():
                all_categories[cat] = all_categories.get(cat, 0) + m
            splits[name] = {
                "total": n,
                "synthetic": syn,
                "synthetic_share": round(syn / n, 6) if n else 0.0,
                "by_category": by_category,
                "synthetic_by_category": synthetic_by_category,
            }
        return {
            "total": sum(row["total"] for row in splits.values()),
            "splits": splits,
            "by_category": dict(sorted(all_categories.items())),
        }

    def _record_ids_json(self, con: duckdb.DuckDBPyConnection, name: str) -> Iterator[list[bytes]]:
        """The split's record ids in file order, each as JSON (orjson: the same bytes as `json.dumps(rid,
        ensure_ascii=False)`, the formats' test shows), a chunk at a time."""
        result = con.execute("SELECT rid FROM final WHERE split = ? ORDER BY ord, rid", [self.names.index(name)])
        dumps = orjson.dumps
        while rows := result.fetchmany(50_000):
            yield [dumps(rid) for (rid,) in rows]

    def _write_manifest(self, con: duckdb.DuckDBPyConnection, manifest: dict[str, Any], sink: FileSink) -> str:
        """The manifest exactly as `json.dumps(indent=2, sort_keys=True)` writes it, with each split's
        record-id list streamed into its place instead of built in memory."""
        markers = {name: f"@@crucible-record-ids:{name}@@" for name in SPLITS}
        text = json.dumps({**manifest, "record_ids": markers}, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        with sink.open(MANIFEST) as fh:
            writer = _HashingWriter(fh)
            rest = text
            for name in sorted(markers):
                quoted = json.dumps(markers[name])
                if rest.count(quoted) != 1:
                    raise DatasetBuildError(f"manifest marker {quoted} is not unique; cannot stream record ids")
                head, rest = rest.split(quoted)
                writer.write(head.encode("utf-8"))
                first = True
                for ids in self._record_ids_json(con, name):
                    writer.write((b"[\n      " if first else b",\n      ") + b",\n      ".join(ids))
                    first = False
                writer.write(b"[]" if first else b"\n    ]")
            writer.write(rest.encode("utf-8"))
        return writer.sha.hexdigest()

    def members_for_registry(self) -> Iterator[Member]:
        """The version's records in record-id order: the registry's members table is keyed (version,
        record id), so its index grows at the end instead of at random places."""
        assert self.con is not None, "members_for_registry() after build()"
        names = self.names
        result = self.con.execute("SELECT rid, subj, split FROM final ORDER BY rid")
        while rows := result.fetchmany(50_000):
            for rid, subj, split in rows:
                yield Member(record_id=rid, subject_token=subj, split=names[split])

    def members(self) -> Iterator[Member]:
        """Every record of the version with its subject and split, in file order."""
        assert self.con is not None, "members() after build()"
        for name in SPLITS:
            result = self.con.execute(
                "SELECT rid, subj FROM final WHERE split = ? ORDER BY ord, rid", [self.names.index(name)]
            )
            while rows := result.fetchmany(50_000):
                for rid, subj in rows:
                    yield Member(record_id=rid, subject_token=subj, split=name)


def render_chunk(
    spill: str, offsets: Any, lengths: Any, formats: list[str], system_prompt: str
) -> tuple[int, list[bytes]]:
    """The records whose blobs lie at `offsets` (with `lengths`) in the spill file -> their lines in each
    format (one bytes per format), as `render_jsonl` writes them. Picklable, so worker processes share
    the rendering and read the blobs themselves (they never cross a pipe twice)."""
    with open(spill, "rb") as fh:
        fd = fh.fileno()
        blobs = [os.pread(fd, n, o) for o, n in zip(offsets.tolist(), lengths.tolist(), strict=True)]
    out: list[list[bytes]] = [[] for _ in formats]
    record = records_pb2.Record()
    for blob in blobs:
        record.ParseFromString(blob)
        for lines, line in zip(out, encode_example(to_example(record), formats, system_prompt), strict=True):
            lines.append(line)
    parts = []
    for lines in out:
        data = b"\n".join(lines) + b"\n" if lines else b""
        if _LS in data or _PS in data:
            data = data.replace(_LS, b"\\u2028").replace(_PS, b"\\u2029")
        parts.append(data)
    return len(blobs), parts


def _duck_type(arrow_type: str) -> str:
    return {"int64": "BIGINT", "string": "VARCHAR", "double": "DOUBLE", "bool": "BOOLEAN", "uint64": "UBIGINT"}[
        arrow_type
    ]
