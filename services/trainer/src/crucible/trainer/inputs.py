"""Where training data comes from: a dataset version in the registry (its manifest in the
artifact store points at chat `messages` JSONL files per split), or a train/val pair of local
chat JSONL files. Every problem is a `TrainingInputError` with a reason a person can act on."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crucible.trainer.samples import read_chat_jsonl

if TYPE_CHECKING:
    from crucible.common.artifacts import ArtifactStore
    from crucible.common.runtime import Runtime

SPLIT_ALIASES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "dev": "val", "test": "test"}


class TrainingInputError(ValueError):
    """The job cannot start: missing dataset version, empty split, base model without weights."""


@dataclass
class TrainingData:
    dataset_version: str
    train: list[list[dict[str, str]]]
    val: list[list[dict[str, str]]]
    files: dict[str, dict[str, str]] = field(default_factory=dict)  # split -> {uri, sha256}
    manifest_sha256: str = ""


def data_from_files(train: Path, val: Path, *, label: str = "") -> TrainingData:
    files = {}
    for split, path in (("train", train), ("val", val)):
        if not path.exists():
            raise TrainingInputError(f"{split} file {path} does not exist")
        files[split] = {"uri": path.resolve().as_uri(), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    data = TrainingData(
        dataset_version=label or f"files:{train.name}",
        train=_read(train, "train"),
        val=_read(val, "val"),
        files=files,
    )
    check_splits(data)
    return data


def data_from_registry(runtime: Runtime, version: str) -> TrainingData:
    from crucible.common.registry import DatasetVersion

    with runtime.registry.session() as s:
        row = s.get(DatasetVersion, version)
        manifest_uri = row.manifest_uri if row else None
        manifest_sha = row.manifest_sha256 if row else ""
    if manifest_uri is None:
        raise TrainingInputError(f"dataset version {version!r} does not exist in the registry")
    if not manifest_uri:
        raise TrainingInputError(f"dataset version {version!r} has no manifest")
    store = runtime.artifacts
    try:
        manifest = store.read_json(_artifact_key(store, manifest_uri))
    except FileNotFoundError:
        raise TrainingInputError(f"dataset version {version!r}: manifest {manifest_uri} is missing") from None
    found = split_files(manifest)
    chats: dict[str, list[list[dict[str, str]]]] = {}
    files: dict[str, dict[str, str]] = {}
    for split in ("train", "val"):
        if split not in found:
            raise TrainingInputError(f"dataset version {version!r}: the manifest names no {split} chat file")
        ref, sha = found[split]
        key = _artifact_key(store, ref, relative_to=_artifact_key(store, manifest_uri))
        if not store.exists(key):
            raise TrainingInputError(f"dataset version {version!r}: {split} file {ref} is missing")
        local = _local_copy(store, key)
        chats[split] = _read(local, split)
        files[split] = {"uri": store.uri(key), "sha256": sha or store.sha256(key)}
    data = TrainingData(version, chats["train"], chats["val"], files, manifest_sha)
    check_splits(data)
    return data


@dataclass
class PreferenceData:
    """Preference pairs per split: {"prompt": [messages], "chosen": [assistant message],
    "rejected": [assistant message]} (TRL's conversational preference format), as the dataset
    service writes them in `{split}.pairs.jsonl`. The val split may be empty: a small preference
    set whose leakage groups all landed in train still trains (without best-by-validation)."""

    dataset_version: str
    train: list[dict[str, Any]]
    val: list[dict[str, Any]]
    files: dict[str, dict[str, str]] = field(default_factory=dict)
    manifest_sha256: str = ""


def preference_data_from_files(train: Path, val: Path, *, label: str = "") -> PreferenceData:
    files = {}
    for split, path in (("train", train), ("val", val)):
        if not path.exists():
            raise TrainingInputError(f"{split} file {path} does not exist")
        files[split] = {"uri": path.resolve().as_uri(), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    data = PreferenceData(label or f"files:{train.name}", _read_pairs(train, "train"), _read_pairs(val, "val"), files)
    if not data.train:
        raise TrainingInputError(f"dataset {data.dataset_version}: the train split has no preference pairs")
    return data


def preference_data_from_registry(runtime: Runtime, version: str) -> PreferenceData:
    from crucible.common.registry import DatasetVersion

    with runtime.registry.session() as s:
        row = s.get(DatasetVersion, version)
        manifest_uri = row.manifest_uri if row else None
        manifest_sha = row.manifest_sha256 if row else ""
    if manifest_uri is None:
        raise TrainingInputError(f"dataset version {version!r} does not exist in the registry")
    store = runtime.artifacts
    manifest_key = _artifact_key(store, manifest_uri)
    try:
        manifest = store.read_json(manifest_key)
    except FileNotFoundError:
        raise TrainingInputError(f"dataset version {version!r}: manifest {manifest_uri} is missing") from None
    found = split_files(manifest, "preference")
    if "train" not in found:
        raise TrainingInputError(f"dataset version {version!r} names no preference pairs (is it a preference version?)")
    pairs: dict[str, list[dict[str, Any]]] = {"train": [], "val": []}
    files: dict[str, dict[str, str]] = {}
    for split in ("train", "val"):
        if split not in found:
            continue
        ref, sha = found[split]
        key = _artifact_key(store, ref, relative_to=manifest_key)
        if not store.exists(key):
            raise TrainingInputError(f"dataset version {version!r}: {split} file {ref} is missing")
        pairs[split] = _read_pairs(_local_copy(store, key), split)
        files[split] = {"uri": store.uri(key), "sha256": sha or store.sha256(key)}
    if not pairs["train"]:
        raise TrainingInputError(f"dataset {version}: the train split has no preference pairs")
    return PreferenceData(version, pairs["train"], pairs["val"], files, manifest_sha)


def _read_pairs(path: Path, split: str) -> list[dict[str, Any]]:
    import json

    out = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            obj = json.loads(line)
            try:
                prompt = [{"role": str(m["role"]), "content": str(m["content"])} for m in obj["prompt"]]
                chosen = [{"role": "assistant", "content": _answer(obj["chosen"])}]
                rejected = [{"role": "assistant", "content": _answer(obj["rejected"])}]
            except (KeyError, TypeError, ValueError) as exc:
                raise TrainingInputError(
                    f"{split} file {path.name}:{n} is not a preference pair (prompt, chosen, rejected): {exc}"
                ) from None
            if not prompt:
                raise TrainingInputError(f"{split} file {path.name}:{n}: empty prompt")
            out.append({"prompt": prompt, "chosen": chosen, "rejected": rejected})
    return out


def _answer(value: Any) -> str:
    """The answer text from a string or a one-message list (both shapes are common)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and isinstance(value[-1], dict):
        return str(value[-1]["content"])
    raise ValueError(f"expected a string or a list of messages, got {type(value).__name__}")


def check_splits(data: TrainingData) -> None:
    for split in ("train", "val"):
        if not getattr(data, split):
            raise TrainingInputError(f"dataset {data.dataset_version}: the {split} split is empty")


def split_files(manifest: Any, fmt: str = "chat") -> dict[str, tuple[str, str]]:
    """split -> (file reference, sha256) for the chat-format JSONL files a manifest names.

    The dataset service owns the manifest's shape (today: `files` maps `train.chat.jsonl`, a
    name relative to the manifest, to its split, format and sha256). This reads that and any
    JSON naming `.jsonl` files as values, takes the split from a `split` field, an enclosing key
    or the file name, and prefers files whose name says `chat`. With `fmt="preference"` it takes
    the preference pairs files (`train.pairs.jsonl`, format `preference`) instead, and only those."""
    best: dict[str, tuple[int, str, str]] = {}
    for ref, sha, hints in _jsonl_refs(manifest, ()):
        split = _split_of(hints, ref)
        if split is None:
            continue
        is_pairs = "preference" in hints or ".pairs." in ref.rsplit("/", 1)[-1]
        if is_pairs != (fmt == "preference"):
            continue
        word = "pairs" if fmt == "preference" else "chat"
        score = 2 if word in ref.rsplit("/", 1)[-1] else 1 if fmt in " ".join(hints) else 0
        if split not in best or score > best[split][0]:
            best[split] = (score, ref, sha)
    return {k: (v[1], v[2]) for k, v in best.items()}


def _jsonl_refs(node: Any, hints: tuple[str, ...]) -> Iterator[tuple[str, str, tuple[str, ...]]]:
    if isinstance(node, dict):
        sha = str(node.get("sha256", ""))
        local_hints = hints + tuple(str(node[k]) for k in ("split", "format", "name") if isinstance(node.get(k), str))
        for key, value in node.items():
            if str(key).endswith(".jsonl") and isinstance(value, dict):
                # {"train.chat.jsonl": {"split": "train", "format": "chat", "sha256": ...}} (the dataset's shape)
                meta = tuple(str(value[k]) for k in ("format", "split") if isinstance(value.get(k), str))
                yield str(key), str(value.get("sha256", "")), (*local_hints, *meta)
            elif isinstance(value, str) and value.endswith(".jsonl"):
                yield value, sha, (*local_hints, str(key))
            elif isinstance(value, dict | list):
                yield from _jsonl_refs(value, (*local_hints, str(key)))
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, str) and item.endswith(".jsonl"):
                yield item, "", hints
            else:
                yield from _jsonl_refs(item, hints)


def _split_of(hints: tuple[str, ...], ref: str) -> str | None:
    for hint in reversed(hints):
        if hint.lower() in SPLIT_ALIASES:
            return SPLIT_ALIASES[hint.lower()]
    for word in re.split(r"[^a-z]+", ref.rsplit("/", 1)[-1].lower()):
        if word in SPLIT_ALIASES:
            return SPLIT_ALIASES[word]
    return None


def _artifact_key(store: ArtifactStore, ref: str, *, relative_to: str = "") -> str:
    """An artifact key from a URI under the store's root, a key, or a path relative to the manifest."""
    root = store.root_url.rstrip("/") + "/"
    if ref.startswith(root):
        return ref[len(root) :]
    if "://" in ref:
        raise TrainingInputError(f"{ref} is outside the artifact store {store.root_url}")
    if relative_to and "/" not in ref:
        return relative_to.rsplit("/", 1)[0] + "/" + ref if "/" in relative_to else ref
    return ref.lstrip("/")


def _local_copy(store: ArtifactStore, key: str) -> Path:
    try:
        return store.local_path(key)
    except ValueError:
        import tempfile

        tmp = Path(tempfile.mkdtemp(prefix="crucible-train-data-")) / key.rsplit("/", 1)[-1]
        tmp.write_bytes(store.read_bytes(key))
        return tmp


def _read(path: Path, split: str) -> list[list[dict[str, str]]]:
    try:
        return read_chat_jsonl(path)
    except (ValueError, KeyError) as exc:
        raise TrainingInputError(f"{split} file {path.name} is not chat JSONL: {exc}") from None
