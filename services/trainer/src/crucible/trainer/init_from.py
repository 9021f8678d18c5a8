"""Where a job's LoRA weights start: the adapter serving the pool, or fresh on the base.

With `init_from: serving` a job continues from the adapter the registry marks `serving` in the
trainer's pool, so each model learns on top of the last one instead of from scratch. That is
only sound when the adapter sits on the same base and has the shape the policy asks for (rank
and target modules); otherwise the job starts from the base and the card says why.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crucible.common import lifecycle
from crucible.trainer.policy import TrainerPolicy

if TYPE_CHECKING:
    from crucible.common.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InitFrom:
    kind: str  # "serving" | "base"
    model: str  # the serving model's name, or the base model as recorded
    reason: str = ""  # why the base, when the policy asked for the serving adapter
    adapter_dir: Path | None = None  # the serving adapter, fetched locally

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "model": self.model}
        if self.reason:
            out["reason"] = self.reason
        return out


def shape_mismatch(adapter_config: dict[str, Any], policy: TrainerPolicy) -> str:
    """Why an adapter cannot carry on under the policy's LoRA shape; empty when it can."""
    r = adapter_config.get("r")
    targets = adapter_config.get("target_modules") or []
    targets = sorted([targets] if isinstance(targets, str) else targets)
    wanted = sorted(policy.target_modules)
    if r != policy.lora_r or targets != wanted:
        ours = f"r={policy.lora_r}, targets={wanted}"
        return f"its LoRA shape (r={r}, targets={targets}) differs from the policy's ({ours})"
    return ""


def choose_init(runtime: Runtime, policy: TrainerPolicy, base_name: str, work: Path) -> InitFrom:
    """The starting point for a job on `base_name`; fetches the serving adapter under `work`."""
    if policy.init_from == "base":
        return InitFrom("base", base_name)
    with runtime.registry.session() as s:
        mv = lifecycle.serving_model(s, policy.pool)
        serving = (mv.name, mv.base_model, mv.adapter_uri) if mv is not None else None
    if serving is None:
        return _base(base_name, f"no model serves pool {policy.pool!r}")
    name, serving_base, adapter_uri = serving
    if not adapter_uri:  # the gateway registers a pool's base model as serving until an adapter is promoted
        return _base(base_name, f"{name} serves pool {policy.pool!r} without an adapter (the base model)")
    if serving_base != base_name:
        return _base(base_name, f"serving model {name} is on base {serving_base}, this job trains on {base_name}")
    local = work / f"init-adapter-rank{os.environ.get('RANK', '0')}"  # every rank of a launcher fetches its own
    shutil.rmtree(local, ignore_errors=True)
    try:
        runtime.artifacts.get_dir(_key(runtime, adapter_uri), local)
        config = json.loads((local / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return _base(base_name, f"serving model {name}'s adapter could not be read ({type(exc).__name__}: {exc})")
    why = shape_mismatch(config, policy)
    if why:
        return _base(base_name, f"serving model {name}: {why}")
    log.info("job starts from the adapter of %s, serving pool %s", name, policy.pool)
    return InitFrom("serving", name, adapter_dir=local)


def _base(base_name: str, reason: str) -> InitFrom:
    log.warning("training starts from the base %s, not the serving adapter: %s", base_name, reason)
    return InitFrom("base", base_name, reason=reason)


def _key(runtime: Runtime, uri: str) -> str:
    root = runtime.artifacts.root_url.rstrip("/") + "/"
    if not uri.startswith(root):
        raise ValueError(f"adapter {uri} is not in the artifact store {root}")
    return uri[len(root) :]
