"""Served exchanges as `interaction` records on crucible.records.raw (issue 18).

The router asks two cheap questions per request: at routing, `sample(...)` (is this exchange
published? the answer goes into the signed response id); once the answer is complete,
`served(...)` (append to a bounded in-memory buffer, no I/O). A background task drains the buffer
in batches of `batch_records` every `flush_seconds` and publishes one `RecordBatch` per batch, so
the request path never waits on the bus. When the buffer is full, exchanges are dropped and
counted: losing a training candidate is better than slowing a user's answer.

Raw text rests nowhere here: the buffer lives for at most `flush_seconds` (plus a slow publish),
then the records sit on the RAW work-queue until the scrubber takes them, like every record.

Never published: exchanges the caller opted out of (header, gRPC metadata or request field,
read by the front ends through `OPT_OUT`), exchanges not sampled, guarded (crisis) exchanges
(the serving guard answers them before routing; `crucible_gateway_guarded_total` counts them),
and failed ones. Late feedback on a published exchange is published by `feedback_update` as a
record of the same kind, which the scorer merges into the exchange (`crucible.scorer.feedback_merge`).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime as dt
import functools
import hashlib
import heapq
import hmac
import itertools
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from prometheus_client import Counter

from crucible.gateway.policy import InteractionPolicy
from crucible.gateway.responses import Route
from crucible.v1 import records_pb2

log = logging.getLogger(__name__)

SOURCE_TABLE = "interactions"
SOURCE_DATABASE = "gateway"
RUN_ID = "gateway-interactions"
FEEDBACK_UPDATE = "feedback_update"  # context key of a late-feedback record: the exchange's record id
FEEDBACK_SPEAKER = "feedback"
# Context key that makes a record's message ids differ from the earlier version's
# (`crucible.common.worker.output_msg_id`), so JetStream's duplicate window keeps the update.
REVISION = "revision"

# Set by a front end for the request it is serving: the caller opted this exchange out.
OPT_OUT: contextvars.ContextVar[bool] = contextvars.ContextVar("crucible_interaction_opt_out", default=False)

INTERACTIONS = Counter(
    "crucible_gateway_interactions_total",
    "Served exchanges by what happened to them as interaction records: published, opted_out, "
    "not_sampled, dropped (buffer full), failed (publish error).",
    ["outcome"],
)

OPT_OUT_HEADER = "x-crucible-no-log"  # HTTP header and gRPC metadata key
OPT_OUT_FIELD = "no_log"  # JSON body field (TGI and OpenAI routes; removed before validation)
_YES = frozenset({"1", "true", "yes", "on"})


def note_opt_out(header: str | None, body: dict[str, object] | None = None) -> None:
    """Record the caller's opt-out for the request being served (header value, or the body field,
    which is removed so OpenAI validation never sees an unknown field)."""
    field = body.pop(OPT_OUT_FIELD, None) if body is not None else None
    if (header is not None and header.strip().lower() in _YES) or field is True or str(field).lower() in _YES:
        OPT_OUT.set(True)


_BUILD_SLICE = 32  # records built between two yields to the event loop

# (records) -> published; raises on failure. The service publishes a RecordBatch to RAW.
PublishRecords = Callable[[list[records_pb2.Record]], Awaitable[None]]


def interaction_record_id(response_id: str) -> str:
    """The record id of the exchange a response id names: the extractor's `sha256(table:key)[:32]`."""
    return hashlib.sha256(f"{SOURCE_TABLE}:{response_id}".encode()).hexdigest()[:32]


def subject_token(secret: bytes, user_id: str) -> str:
    """HMAC-SHA256(secret, user_id), the token the extractor puts on records (so forget finds both)."""
    return hmac.new(secret, user_id.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Exchange:
    """One served exchange, as the router hands it over (no I/O, no encoding yet)."""

    route: Route
    user_id: str
    prompt: str
    answer: str
    latency_s: float
    tokens: int
    at: float  # time.time()


def feedback_record(
    issued_response_id: str,
    *,
    rating: int,
    advice_accepted: bool,
    positive_outcome: bool | None,
    action_taken: bool | None,
    text: str,
    user_id: str,
    secret: bytes,
) -> records_pb2.Record:
    """Late feedback on a published exchange, as a record the scrubber reads like any other (the
    feedback text is a turn, so it is scrubbed before it rests) and the scorer merges into the
    exchange: rating -> satisfaction, advice accepted -> action taken (unless the caller sent
    action_taken), positive outcome as sent."""
    base = interaction_record_id(issued_response_id)
    record = records_pb2.Record(
        record_id=f"{base}.feedback",
        kind=records_pb2.RECORD_KIND_INTERACTION,
        subject_token=subject_token(secret, user_id) if user_id else "",
    )
    record.source.table = SOURCE_TABLE
    record.source.key = issued_response_id
    record.source.database = SOURCE_DATABASE
    if text.strip():
        record.turns.add(role="user", text=text, speaker=FEEDBACK_SPEAKER)
    record.context.update({FEEDBACK_UPDATE: base, REVISION: "feedback"})
    record.signals.satisfaction = float(rating)
    record.signals.action_taken = advice_accepted if action_taken is None else action_taken
    if positive_outcome is not None:
        record.signals.positive_outcome = positive_outcome
    now = dt.datetime.now(dt.UTC)
    record.created_at.FromDatetime(now)
    record.extraction.run_id = RUN_ID
    record.extraction.extracted_at.FromDatetime(now)
    return record


def exchange_record(ex: Exchange, secret: bytes) -> records_pb2.Record:
    """The interaction record of an exchange: the caller's words and the model's answer as turns,
    where it was served as context, the caller as a subject token (never the id they sent).
    Built in the background publisher, never on the request path (about 30 µs)."""
    record = records_pb2.Record(
        record_id=interaction_record_id(ex.route.response_id),
        kind=records_pb2.RECORD_KIND_INTERACTION,
        subject_token=_cached_subject_token(secret, ex.user_id) if ex.user_id else "",
        source=records_pb2.Source(table=SOURCE_TABLE, key=ex.route.response_id, database=SOURCE_DATABASE),
        turns=[
            records_pb2.Turn(role="user", text=ex.prompt, speaker="user"),
            records_pb2.Turn(role="assistant", text=ex.answer, speaker="model"),
        ],
        context={
            "variant": ex.route.variant,
            "model": ex.route.model,
            "rollout_id": ex.route.rollout_id,
            "latency_ms": f"{ex.latency_s * 1000:.1f}",
            "generated_tokens": str(ex.tokens),
        },
    )
    nanos = int(ex.at * 1e9)
    record.created_at.FromNanoseconds(nanos)  # FromDatetime costs several times more
    record.extraction.run_id = RUN_ID
    record.extraction.extracted_at.FromNanoseconds(nanos)
    return record


@functools.lru_cache(maxsize=65_536)
def _cached_subject_token(secret: bytes, user_id: str) -> str:
    """Returning users are most of the traffic: one HMAC per user, not per exchange."""
    return subject_token(secret, user_id)


class InteractionLog:
    """The buffer and its background publisher. `sample` and `served` are the router's two calls."""

    def __init__(
        self,
        policy: InteractionPolicy,
        publish: PublishRecords,
        subject_secret: bytes,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
        excluded: Callable[[str], bool] | None = None,
    ) -> None:
        self.policy = policy
        # The opt-out list and forgotten subjects (`excluded_subjects.shared_excluded(...).excludes`):
        # their exchanges are never published, checked here in the publisher, off the request path.
        self._excluded = excluded
        self._publish = publish
        self._secret = subject_secret
        self._rng = rng or random.Random()
        self._buffer: deque[Exchange | records_pb2.Record] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._clock = clock
        self._later: list[tuple[float, int, records_pb2.Record]] = []  # feedback records by due time
        self._order = itertools.count()
        self.published = 0

    # ---------------------------------------------------------------- the router's calls

    def sample(self) -> bool:
        """Publish the exchange about to be served? (The caller's opt-out is read from `OPT_OUT`.)"""
        if not self.policy.enabled:
            return False
        if OPT_OUT.get():
            INTERACTIONS.labels("opted_out").inc()
            return False
        if self.policy.sample_rate < 1.0 and self._rng.random() >= self.policy.sample_rate:
            INTERACTIONS.labels("not_sampled").inc()
            return False
        return True

    def served(self, exchange: Exchange) -> None:
        """Queue a served exchange whose response id says it is published (O(1), no I/O)."""
        self._enqueue(exchange)

    def feedback_update(self, record: records_pb2.Record, answered_at: float) -> None:
        """Queue a late-feedback record, to be published once `feedback_settle_seconds` have passed
        since its answer (`answered_at`, time.time()), so the exchange it updates is through the
        scrubber and scorer first (the scorer merges the two)."""
        due = answered_at + self.policy.feedback_settle_seconds
        if due <= self._clock():
            self._enqueue(record)
        elif len(self._later) >= self.policy.buffer_records:
            INTERACTIONS.labels("dropped").inc()
        else:
            heapq.heappush(self._later, (due, next(self._order), record))

    def _release_due(self) -> None:
        now = self._clock()
        while self._later and self._later[0][0] <= now:
            self._enqueue(heapq.heappop(self._later)[2])

    def _enqueue(self, item: Exchange | records_pb2.Record) -> None:
        if len(self._buffer) >= self.policy.buffer_records:
            INTERACTIONS.labels("dropped").inc()
            return
        self._buffer.append(item)
        if len(self._buffer) >= self.policy.batch_records:
            self._wake.set()

    # ---------------------------------------------------------------- background

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="interaction-publisher")

    async def close(self) -> None:
        """Publish what is buffered, then stop. Feedback records not yet due are published too
        (the scorer rejects, with a reason, one whose exchange it cannot find)."""
        self._later, pending = [], self._later
        for _, _, record in sorted(pending):
            self._enqueue(record)
        self._closing = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def flush(self) -> int:
        """Publish everything buffered now (and feedback records that are due); returns how many went out."""
        self._release_due()
        sent = 0
        while self._buffer:
            sent += await self._publish_batch()
        return sent

    async def _run(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.policy.flush_seconds)
            self._wake.clear()
            try:
                await self.flush()
            except Exception:  # the bus is down: the batch is counted as failed, the loop goes on
                log.warning("could not publish interaction records", exc_info=True)
        with contextlib.suppress(Exception):
            await self.flush()

    async def _publish_batch(self) -> int:
        n = min(len(self._buffer), self.policy.batch_records)
        items = [self._buffer.popleft() for _ in range(n)]
        records: list[records_pb2.Record] = []
        for start in range(0, n, _BUILD_SLICE):
            if start:
                await asyncio.sleep(0)  # let waiting requests run between slices: no 10 ms stall
            records.extend(
                i if isinstance(i, records_pb2.Record) else exchange_record(i, self._secret)
                for i in items[start : start + _BUILD_SLICE]
            )
        if self._excluded is not None:
            kept = await asyncio.to_thread(self._drop_excluded, records)
            n -= len(records) - len(kept)
            records = kept
            if not records:
                return 0
        try:
            await self._publish(records)
        except Exception:
            INTERACTIONS.labels("failed").inc(n)
            raise
        INTERACTIONS.labels("published").inc(n)
        self.published += n
        return n

    def _drop_excluded(self, records: list[records_pb2.Record]) -> list[records_pb2.Record]:
        excluded = self._excluded
        assert excluded is not None
        kept = [r for r in records if not excluded(r.subject_token)]
        if len(kept) < len(records):
            INTERACTIONS.labels("opted_out").inc(len(records) - len(kept))
        return kept


def bus_record_publisher(bus: object) -> PublishRecords:
    """Publish records as one RecordBatch on crucible.records.raw, its msg-id naming the records
    (a retried publish of the same batch is dropped by JetStream's duplicate window)."""
    from crucible.common import subjects
    from crucible.common.worker import output_msg_id

    async def publish(records: list[records_pb2.Record]) -> None:
        batch = records_pb2.RecordBatch(records=records)
        msg_id = output_msg_id(records, "gateway")
        await bus.publish(subjects.RAW, batch.SerializeToString(), msg_id=msg_id)  # type: ignore[attr-defined]

    return publish
