"""Adapters on the serving fleet's disk: which the registry wants there, checking one, and
putting it in place atomically.

The serving fleet (TGI or vLLM) runs one base model and reads LoRA adapters from a folder,
one sub-folder per model name (`DIR/<model name>/adapter_config.json` + weights). Two commands
fill that folder (`crucible serving prepare` for TGI at pod start, `crucible serving sync` as
vLLM's sidecar); the decisions are the pure functions here (`plan_prepare`, `plan_sync`,
`same_base`, `check_adapter`), the file work is `install_adapter` and `remove_adapter`.

An adapter is written into a hidden temporary folder beside its destination, checked there, and
renamed into place, so a server never sees half an adapter; a name present in DIR is therefore a
complete adapter. Model names are versions: an adapter's content never changes under its name.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import struct
import uuid
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from crucible.common.lifecycle import CANARY, EVALUATED, REJECTED, RETIRED, ROLLED_BACK, SERVING

if TYPE_CHECKING:
    from crucible.common.artifacts import ArtifactStore

log = logging.getLogger(__name__)

# TGI's launcher loads what the registry serves or canaries at start; vLLM's sidecar also keeps
# evaluated models on disk, so the gateway's runtime load call finds the files already there.
PREPARE_STATUSES = (SERVING, CANARY)
SYNC_STATUSES = (SERVING, CANARY, EVALUATED)
LEAVING_STATUSES = (RETIRED, ROLLED_BACK, REJECTED)

ADAPTER_CONFIG = "adapter_config.json"
WEIGHT_FILES = ("adapter_model.safetensors", "adapter_model.bin")
TEMP_PREFIX = ".tmp-"
TRASH_PREFIX = ".trash-"
# TGI's LORA_ADAPTERS is `id=path@revision,...` and vLLM takes the name as a request's `model`:
# a name with `,` `=` `@` `/` or spaces cannot be passed through either.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


class AdapterError(ValueError):
    """An adapter that cannot be served: missing, corrupt, or for another base model."""


@dataclass(frozen=True)
class Adapter:
    """What the registry says about one model version's adapter."""

    name: str
    status: str
    base_model: str
    adapter_uri: str


@dataclass(frozen=True)
class SyncPlan:
    fetch: tuple[Adapter, ...]
    remove: tuple[str, ...]
    keep: tuple[str, ...]


def valid_name(name: str) -> bool:
    return bool(_SAFE_NAME.match(name))


def plan_prepare(adapters: Sequence[Adapter]) -> list[Adapter]:
    """The adapters TGI starts with: the serving one first, then the canaries, by registry order."""
    chosen = [a for a in adapters if a.status in PREPARE_STATUSES]
    return sorted(chosen, key=lambda a: PREPARE_STATUSES.index(a.status))


def plan_sync(adapters: Sequence[Adapter], present: Iterable[str]) -> SyncPlan:
    """What to fetch and what to remove so DIR holds exactly the pool's wanted adapters.

    `adapters` are the pool's models (any status); `present` the names already in DIR. Only a
    model the registry says has left (retired, rolled back, rejected) is removed: a folder the
    registry does not know, or a model still `trained`, is left alone (someone put it there)."""
    on_disk = set(present)
    wanted = {a.name for a in adapters if a.status in SYNC_STATUSES}
    fetch = tuple(a for a in adapters if a.status in SYNC_STATUSES and a.name not in on_disk)
    remove = tuple(
        sorted(a.name for a in adapters if a.status in LEAVING_STATUSES and a.name in on_disk and a.name not in wanted)
    )
    keep = tuple(sorted(wanted & on_disk))
    return SyncPlan(fetch=fetch, remove=remove, keep=keep)


def base_name(ref: str) -> str:
    """A base model reference reduced to what identifies it: `org/name` for a hub id or a
    Hugging Face cache folder (`.../models--org--name/snapshots/<sha>`), else the path as given."""
    ref = ref.strip().rstrip("/")
    for part in ref.split("/"):
        if part.startswith("models--"):
            return part.removeprefix("models--").replace("--", "/")
    return ref


def same_base(expected: str, actual: str) -> bool:
    """Whether two references name the same base model. The trainer records a hub id, a short
    name (`tiny-base`) or the path it loaded from, and the fleet may load the same weights from
    another path, so equal names or equal last path components count as the same base."""
    a, b = base_name(expected), base_name(actual)
    return a == b or a.rsplit("/", 1)[-1] == b.rsplit("/", 1)[-1]


def check_adapter(folder: Path, *, expected_base: str = "", registry_base: str = "", max_rank: int = 0) -> None:
    """Raise AdapterError unless `folder` holds a LoRA adapter a server can load on `expected_base`.

    Checks the config (JSON, peft_type LORA, rank within `max_rank` when given), a weights file
    that is whole (a safetensors header that parses and whose tensors fill the file exactly, or
    a torch zip archive), and that both the registry's and the adapter's own base model match
    the fleet's (`expected_base`; empty = not checked)."""
    config_path = folder / ADAPTER_CONFIG
    if not config_path.is_file():
        raise AdapterError(f"{ADAPTER_CONFIG} is missing")
    try:
        config = json.loads(config_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise AdapterError(f"{ADAPTER_CONFIG} is not valid JSON: {err}") from None
    if not isinstance(config, dict):
        raise AdapterError(f"{ADAPTER_CONFIG} is not a JSON object")
    peft_type = str(config.get("peft_type", ""))
    if peft_type.upper() != "LORA":
        raise AdapterError(f"{ADAPTER_CONFIG} has peft_type {peft_type!r}, not LORA")
    rank = config.get("r")
    if max_rank and isinstance(rank, int) and rank > max_rank:
        raise AdapterError(f"LoRA rank {rank} is above the server's maximum {max_rank}")
    weights = [folder / w for w in WEIGHT_FILES if (folder / w).is_file()]
    if not weights:
        raise AdapterError(f"no weights file ({' or '.join(WEIGHT_FILES)})")
    _check_weights(weights[0])
    if expected_base:
        if registry_base and not same_base(expected_base, registry_base):
            raise AdapterError(f"registry base {registry_base!r} does not match the fleet's base {expected_base!r}")
        recorded = str(config.get("base_model_name_or_path") or "")
        if not recorded:
            raise AdapterError(f"{ADAPTER_CONFIG} names no base_model_name_or_path")
        if not same_base(expected_base, recorded):
            raise AdapterError(f"adapter was trained on {recorded!r}, the fleet serves {expected_base!r}")


def _check_weights(path: Path) -> None:
    """A weights file that is whole. Safetensors: an 8-byte header length, a JSON header, then the
    tensors' bytes, which must end exactly at the end of the file (a truncated download does not).
    The gateway image has neither torch nor numpy, which the safetensors library needs to open a
    file; tests hold this check against the library."""
    size = path.stat().st_size
    if path.suffix == ".bin":
        if not zipfile.is_zipfile(path):
            raise AdapterError(f"{path.name} is not a torch archive")
        return
    with path.open("rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise AdapterError(f"{path.name} is truncated ({size} bytes)")
        (header_len,) = struct.unpack("<Q", head)
        if header_len > size - 8 or header_len > 100_000_000:
            raise AdapterError(f"{path.name} header length {header_len} exceeds the file ({size} bytes)")
        try:
            header = json.loads(fh.read(header_len))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise AdapterError(f"{path.name} header is not valid JSON") from None
    if not isinstance(header, dict):
        raise AdapterError(f"{path.name} header is not a JSON object")
    ends = [int(t["data_offsets"][1]) for k, t in header.items() if k != "__metadata__" and isinstance(t, dict)]
    data = size - 8 - header_len
    if not ends:
        raise AdapterError(f"{path.name} holds no tensors")
    if max(ends) != data:
        raise AdapterError(f"{path.name} tensors end at byte {max(ends)} of {data}: truncated or corrupt")


def present_adapters(folder: Path) -> list[str]:
    """Adapter names already in `folder` (complete ones: temporary folders are hidden)."""
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def clean_leftovers(folder: Path) -> None:
    """Remove temporary and trash folders a killed run left behind."""
    if not folder.is_dir():
        return
    for p in folder.iterdir():
        if p.is_dir() and p.name.startswith((TEMP_PREFIX, TRASH_PREFIX)):
            shutil.rmtree(p, ignore_errors=True)


def download(store: ArtifactStore, uri: str, dest: Path) -> None:
    """Copy an adapter folder from the artifact store (or any fsspec URL or path) into `dest`."""
    import fsspec

    if not uri:
        raise AdapterError("the registry holds no adapter_uri for it")
    root = store.root_url.rstrip("/") + "/"
    if uri.startswith(root):
        key = uri[len(root) :]
        if not store.exists(key):
            raise AdapterError(f"{uri} is not in the artifact store")
        store.get_dir(key, dest)
        return
    fs, path = fsspec.core.url_to_fs(uri)
    if not fs.exists(path):
        raise AdapterError(f"{uri} does not exist")
    dest.mkdir(parents=True, exist_ok=True)
    fs.get(path.rstrip("/") + "/", str(dest), recursive=True)


def install_adapter(
    store: ArtifactStore, adapter: Adapter, folder: Path, *, expected_base: str = "", max_rank: int = 0
) -> Path:
    """Download, check and rename `adapter` into `folder/<name>`; returns that path. On any
    failure nothing changes in `folder` and AdapterError says why."""
    if not valid_name(adapter.name):
        raise AdapterError(f"model name {adapter.name!r} cannot be an adapter id (letters, digits, . _ - only)")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / adapter.name
    tmp = folder / f"{TEMP_PREFIX}{adapter.name}-{uuid.uuid4().hex[:8]}"
    try:
        try:
            download(store, adapter.adapter_uri, tmp)
        except (OSError, ValueError) as err:
            if isinstance(err, AdapterError):
                raise
            raise AdapterError(f"cannot download {adapter.adapter_uri}: {err}") from None
        check_adapter(tmp, expected_base=expected_base, registry_base=adapter.base_model, max_rank=max_rank)
        if target.exists():
            remove_adapter(folder, adapter.name)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def remove_adapter(folder: Path, name: str) -> None:
    """Take `folder/<name>` away in one rename (a reader sees it or not), then delete it."""
    target = folder / name
    if not target.exists():
        return
    trash = folder / f"{TRASH_PREFIX}{name}-{uuid.uuid4().hex[:8]}"
    os.replace(target, trash)
    shutil.rmtree(trash, ignore_errors=True)


def lora_adapters_value(paths: Sequence[tuple[str, Path]]) -> str:
    """TGI's LORA_ADAPTERS: `name=path,...` (its launcher splits on `,` and `=`)."""
    for name, path in paths:
        if any(c in str(path) for c in ",=@ \n"):
            raise AdapterError(f"adapter path {path} has a character LORA_ADAPTERS cannot carry")
        if not valid_name(name):
            raise AdapterError(f"model name {name!r} cannot be an adapter id")
    return ",".join(f"{name}={path}" for name, path in paths)


def write_env_file(path: Path, env: dict[str, str]) -> None:
    """`KEY=value` lines, readable by `set -a; . FILE` and by Docker's --env-file; written atomically.
    Values are checked by their producers to need no quoting."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# written by `crucible serving prepare`"] + [f"{k}={v}" for k, v in env.items()]
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, path)
