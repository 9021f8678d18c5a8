"""Where rollout state and per-replica figures live: NATS JetStream KV (production, and the
embedded run) or memory (a single process: unit tests, the benchmark).

Keys: `rollout` (the state document, updated by compare-and-set on its revision) and
`figures.<rollout_id>.<stage>.<replica>` (each replica's cumulative figures for a stage, so
writes are idempotent and the analysis sums them).
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from crucible.gateway.figures import StageFigures
from crucible.gateway.state import RolloutState

STATE_KEY = "rollout"


class StaleStateError(RuntimeError):
    """Another replica changed the state since it was read: reload and decide again."""


class StateStore(Protocol):
    async def load(self) -> tuple[RolloutState, int]: ...

    async def save(self, state: RolloutState, revision: int) -> int: ...

    async def put_figures(self, rollout_id: str, stage: int, replica: str, figures: StageFigures) -> None: ...

    async def figures(self, rollout_id: str) -> dict[int, StageFigures]: ...

    async def drop_figures_except(self, rollout_id: str) -> int: ...


def _merge_into(out: dict[int, StageFigures], stage: int, figures: StageFigures) -> None:
    out[stage] = out[stage].merge(figures) if stage in out else figures


class MemoryStore:
    def __init__(self) -> None:
        self._state = RolloutState()
        self._revision = 0
        self._figures: dict[tuple[str, int, str], StageFigures] = {}

    async def load(self) -> tuple[RolloutState, int]:
        return self._state, self._revision

    async def save(self, state: RolloutState, revision: int) -> int:
        if revision != self._revision:
            raise StaleStateError(f"revision {revision} is stale (now {self._revision})")
        self._state = state
        self._revision += 1
        return self._revision

    async def put_figures(self, rollout_id: str, stage: int, replica: str, figures: StageFigures) -> None:
        self._figures[(rollout_id, stage, replica)] = StageFigures.from_json(figures.to_json())

    async def figures(self, rollout_id: str) -> dict[int, StageFigures]:
        out: dict[int, StageFigures] = {}
        for (rid, stage, _), fig in self._figures.items():
            if rid == rollout_id:
                _merge_into(out, stage, fig)
        return out

    async def drop_figures_except(self, rollout_id: str) -> int:
        stale = [k for k in self._figures if k[0] != rollout_id]
        for key in stale:
            del self._figures[key]
        return len(stale)


class KVStore:
    """State in a JetStream key-value bucket (`runtime.require_bus().key_value(bucket)`)."""

    def __init__(self, kv: Any) -> None:
        self.kv = kv

    async def load(self) -> tuple[RolloutState, int]:
        from nats.js.errors import KeyNotFoundError

        try:
            entry = await self.kv.get(STATE_KEY)
        except KeyNotFoundError:
            return RolloutState(), 0
        if not entry.value:  # deleted
            return RolloutState(), int(entry.revision or 0)
        return RolloutState.from_json(json.loads(entry.value)), int(entry.revision or 0)

    async def save(self, state: RolloutState, revision: int) -> int:
        from nats.js.errors import KeyWrongLastSequenceError

        data = json.dumps(state.to_json(), sort_keys=True).encode()
        try:
            if revision == 0:
                return int(await self.kv.create(STATE_KEY, data))
            return int(await self.kv.update(STATE_KEY, data, last=revision))
        except KeyWrongLastSequenceError as exc:
            raise StaleStateError(str(exc)) from exc
        except Exception as exc:
            # create() on an existing key reports "wrong last sequence" as an APIError on some servers.
            if "wrong last sequence" in str(exc).lower() or "key exists" in str(exc).lower():
                raise StaleStateError(str(exc)) from exc
            raise

    async def put_figures(self, rollout_id: str, stage: int, replica: str, figures: StageFigures) -> None:
        await self.kv.put(f"figures.{rollout_id}.{stage}.{replica}", json.dumps(figures.to_json()).encode())

    async def figures(self, rollout_id: str) -> dict[int, StageFigures]:
        from nats.js.errors import KeyNotFoundError, NoKeysError

        # nats-py 2.16's `keys(filters=...)` answers NoKeysError even when keys match: filter here.
        prefix = f"figures.{rollout_id}."
        try:
            keys = [k for k in await self.kv.keys() if k.startswith(prefix)]
        except NoKeysError:
            return {}
        out: dict[int, StageFigures] = {}
        for key in keys:
            try:
                entry = await self.kv.get(key)
            except KeyNotFoundError:
                continue
            if not entry.value:
                continue
            stage = int(key.split(".")[2])
            _merge_into(out, stage, StageFigures.from_json(json.loads(entry.value)))
        return out

    async def drop_figures_except(self, rollout_id: str) -> int:
        """Purge earlier rollouts' figures (the decision history keeps what they showed)."""
        from nats.js.errors import NoKeysError

        try:
            keys = await self.kv.keys()
        except NoKeysError:
            return 0
        stale = [k for k in keys if k.startswith("figures.") and not k.startswith(f"figures.{rollout_id}.")]
        for key in stale:
            await self.kv.purge(key)
        return len(stale)
