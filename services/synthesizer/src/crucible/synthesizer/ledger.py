"""The plan ledger in the artifact store: the plan, one outcome per finished item, the batch's
validation and admission. It is what makes plan items idempotent across runs and replicas
(an outcome is written once, under the item's id)."""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass
from typing import Any

from crucible.common.artifacts import ArtifactStore
from crucible.synthesizer.plan import Plan

PREFIX = "synthesizer/plans"


@dataclass(frozen=True)
class ItemOutcome:
    item_id: str
    category: str
    status: str  # generated | rejected
    endpoint: str = ""
    model: str = ""
    reason: str = ""
    detail: str = ""
    record: bytes = b""  # serialized Record when generated

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["record"] = base64.b64encode(self.record).decode()
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ItemOutcome:
        return cls(**{**data, "record": base64.b64decode(data.get("record", ""))})


class Ledger:
    def __init__(self, artifacts: ArtifactStore, plan_id: str) -> None:
        self.artifacts = artifacts
        self.plan_id = plan_id
        self.prefix = f"{PREFIX}/{plan_id}"

    def write_plan(self, plan: Plan) -> None:
        key = f"{self.prefix}/plan.json"
        if not self.artifacts.exists(key):
            self.artifacts.write_json(key, plan.to_dict())

    def read_plan(self) -> dict[str, Any]:
        return dict(self.artifacts.read_json(f"{self.prefix}/plan.json"))

    def _item_key(self, item_id: str) -> str:
        return f"{self.prefix}/items/{item_id}.json"

    def write_outcome(self, outcome: ItemOutcome) -> None:
        key = self._item_key(outcome.item_id)
        if self.artifacts.exists(key):  # a concurrent replica finished it first: keep the first
            return
        self.artifacts.write_text(key, json.dumps(outcome.to_json(), sort_keys=True))

    def done_items(self) -> set[str]:
        keys = self.artifacts.list(f"{self.prefix}/items")
        return {k.rsplit("/", 1)[-1].removesuffix(".json") for k in keys if k.endswith(".json")}

    def outcomes(self) -> list[ItemOutcome]:
        out = []
        for key in sorted(self.artifacts.list(f"{self.prefix}/items")):
            if key.endswith(".json"):
                out.append(ItemOutcome.from_json(json.loads(self.artifacts.read_text(key))))
        return out

    def write_state(self, name: str, data: dict[str, Any]) -> None:
        self.artifacts.write_json(f"{self.prefix}/{name}.json", data)

    def read_state(self, name: str) -> dict[str, Any] | None:
        key = f"{self.prefix}/{name}.json"
        return dict(self.artifacts.read_json(key)) if self.artifacts.exists(key) else None


def list_plans(artifacts: ArtifactStore) -> list[str]:
    keys = artifacts.list(PREFIX)
    return sorted({k.split("/")[2] for k in keys if k.count("/") >= 3 and k.endswith("plan.json")})
