"""The artifact store: one fsspec-backed tree (`file://` by default, `s3://` in production).

Paths are relative keys such as `datasets/v3_20261122/train.chat.jsonl`; the store
joins them to its root URL. Writes go to a temporary key and are renamed into place
on file systems that support it, so a reader never sees half a file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import fsspec


class ArtifactStore:
    def __init__(self, root_url: str) -> None:
        self.root_url = root_url.rstrip("/")
        self.fs, self._root = fsspec.core.url_to_fs(self.root_url)
        if self.fs.protocol in ("file", ("file", "local")) or "file" in _protocols(self.fs):
            Path(self._root).mkdir(parents=True, exist_ok=True)

    def uri(self, key: str) -> str:
        return f"{self.root_url}/{safe_key(key)}"

    def path(self, key: str) -> str:
        """The file system path (or bucket path) of a key, for libraries that want one."""
        return f"{self._root}/{safe_key(key)}"

    def local_path(self, key: str) -> Path:
        """A local Path for a key; only for the `file://` store (e.g. `save_pretrained`)."""
        if "file" not in _protocols(self.fs):
            raise ValueError(f"{self.root_url} is not a local store; use put_dir/get_dir")
        return Path(self.path(key))

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self.path(key)))

    def write_bytes(self, key: str, data: bytes) -> str:
        target = self.path(key)
        self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
        tmp = target + ".partial"
        with self.fs.open(tmp, "wb") as fh:
            fh.write(data)
        self.fs.mv(tmp, target)
        return self.uri(key)

    def write_text(self, key: str, text: str) -> str:
        return self.write_bytes(key, text.encode("utf-8"))

    def write_json(self, key: str, obj: Any) -> str:
        return self.write_text(key, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")

    def read_bytes(self, key: str) -> bytes:
        with self.fs.open(self.path(key), "rb") as fh:
            data: bytes = fh.read()
        return data

    def read_text(self, key: str) -> str:
        return self.read_bytes(key).decode("utf-8")

    def read_json(self, key: str) -> Any:
        return json.loads(self.read_text(key))

    def list(self, prefix: str) -> list[str]:
        base = self.path(prefix)
        if not self.fs.exists(base):
            return []
        root = self._root.rstrip("/") + "/"
        return sorted(p.removeprefix(root) if p.startswith(root) else p for p in self.fs.find(base))

    def put_dir(self, local_dir: Path, key: str) -> str:
        """Upload a local folder (a model, a checkpoint) under `key`."""
        self.fs.put(str(local_dir).rstrip("/") + "/", self.path(key), recursive=True)
        return self.uri(key)

    def get_dir(self, key: str, local_dir: Path) -> Path:
        local_dir.mkdir(parents=True, exist_ok=True)
        self.fs.get(self.path(key).rstrip("/") + "/", str(local_dir), recursive=True)
        return local_dir

    def delete(self, key: str) -> None:
        if self.fs.exists(self.path(key)):
            self.fs.rm(self.path(key), recursive=True)

    def sha256(self, key: str) -> str:
        h = hashlib.sha256()
        with self.fs.open(self.path(key), "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()


class ArtifactKeyError(ValueError):
    """A key that would leave the store's root (`..`, a backslash, a control character)."""


def safe_key(key: str) -> str:
    """`key` relative to the root (leading `/` dropped, as always), refused if any part of it is
    `..`, or it holds a backslash or a control character: a key must never leave the root,
    whatever a bus field put into it."""
    if "\\" in key or any(ord(c) < 32 for c in key):
        raise ArtifactKeyError(f"artifact key {key[:120]!r} holds a backslash or a control character")
    parts = key.lstrip("/").split("/")
    if ".." in parts:
        raise ArtifactKeyError(f"artifact key {key[:120]!r} leaves the artifact root")
    return key.lstrip("/")


def _protocols(fs: Any) -> tuple[str, ...]:
    proto = fs.protocol
    return (proto,) if isinstance(proto, str) else tuple(proto)
