"""Where a model version's weights are: the registry row's base model and its adapter in the
artifact store, fetched to a local folder when the store is remote."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from crucible.common import lifecycle
from crucible.common.registry import ModelVersion

if TYPE_CHECKING:
    from crucible.common.artifacts import ArtifactStore
    from crucible.common.registry import Registry


class ModelNotFound(LookupError):
    pass


@dataclass(frozen=True)
class ModelRef:
    label: str  # model name, or "base:<path>"
    kind: str  # "candidate" | "serving" | "base"
    base_model: str
    adapter_uri: str
    merged_uri: str = ""
    # For the base model standing in for the serving one: the candidate's adapter, whose
    # adapter_config.json names the folder the base was loaded from at training time.
    hint_adapter_uri: str = ""
    pool: str = lifecycle.DEFAULT_POOL  # the serving pool the model is built for


def candidate_ref(registry: Registry, model_name: str) -> tuple[ModelRef, str]:
    """(the candidate, its dataset version)."""
    with registry.session() as s:
        mv = s.get(ModelVersion, model_name)
        if mv is None:
            raise ModelNotFound(f"model {model_name!r} is not in the registry")
        ref = ModelRef(model_name, "candidate", mv.base_model, mv.adapter_uri, mv.merged_uri, pool=mv.pool)
        return ref, mv.dataset_version


def serving_ref(registry: Registry, candidate: ModelRef) -> ModelRef:
    """What the candidate is rated against: the model the registry marks `serving` in the
    candidate's pool (what people get today), else the candidate's base model. The gateway
    registers a pool's base model as its first `serving` row (no adapter): that is the base."""
    with registry.session() as s:
        mv = lifecycle.serving_model(s, candidate.pool)
        if mv is not None and mv.name != candidate.label and mv.adapter_uri:
            return ModelRef(mv.name, "serving", mv.base_model, mv.adapter_uri, mv.merged_uri, pool=mv.pool)
    label = f"base:{Path(candidate.base_model).name or candidate.base_model}"
    return ModelRef(
        label, "base", candidate.base_model, "", hint_adapter_uri=candidate.adapter_uri, pool=candidate.pool
    )


def local_dir(artifacts: ArtifactStore, uri: str, scratch: Path) -> Path:
    """A local folder for an artifact URI (or plain path): the file itself for a local store,
    a copy under `scratch` for a remote one."""
    if not uri:
        raise ValueError("empty artifact URI")
    root = artifacts.root_url.rstrip("/") + "/"
    if uri.startswith(root):
        key = uri[len(root) :]
        try:
            return artifacts.local_path(key)
        except ValueError:
            return artifacts.get_dir(key, scratch / key.replace("/", "_"))
    if uri.startswith("file://"):
        return Path(uri.removeprefix("file://"))
    return Path(uri)


def resolve_base(artifacts: ArtifactStore, base_model: str, scratch: Path, home: Path, adapter: Path | None) -> str:
    """The folder (or hub id) to load a base model from. The registry may hold an artifact
    URI, a path, a hub id, or a short name such as the embedded `tiny-base`; for a name, the
    adapter's own `adapter_config.json` (`base_model_name_or_path`, written by peft at training
    time) and `$CRUCIBLE_HOME/models/<name>` are tried before treating it as a hub id."""
    if "://" in base_model:
        return str(local_dir(artifacts, base_model, scratch))
    if Path(base_model).expanduser().exists():
        return str(Path(base_model).expanduser())
    if adapter is not None and (adapter / "adapter_config.json").exists():
        recorded = json.loads((adapter / "adapter_config.json").read_text()).get("base_model_name_or_path") or ""
        if recorded and Path(recorded).exists():
            return recorded
    named = home / "models" / base_model
    if (named / "config.json").exists():
        return str(named.resolve())
    return base_model
