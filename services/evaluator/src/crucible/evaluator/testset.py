"""The test split: chat `messages` JSONL (OpenAI fine-tuning format) turned into examples.

An example is the conversation up to its last assistant turn (the prompt) and that turn's
text (the reference answer). The split comes from a dataset version's manifest in the
artifact store, or from a JSONL path for offline use.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Message = dict[str, str]


@dataclass(frozen=True)
class Example:
    example_id: str
    prompt: tuple[Mapping[str, str], ...]
    reference: str

    def prompt_messages(self) -> list[Message]:
        return [dict(m) for m in self.prompt]

    def last_user_text(self) -> str:
        for m in reversed(self.prompt):
            if m.get("role") == "user":
                return m.get("content", "")
        return ""


class TestSetError(ValueError):
    """The test split is missing, empty or not chat JSONL."""


def example_from_messages(messages: Any, example_id: str) -> Example:
    if not isinstance(messages, list) or not messages:
        raise TestSetError(f"{example_id}: 'messages' must be a non-empty list")
    for m in messages:
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise TestSetError(f"{example_id}: every message needs 'role' and 'content'")
    last = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=-1)
    if last <= 0:
        raise TestSetError(f"{example_id}: needs an assistant turn after at least one prompt message")
    prompt = tuple({"role": str(m["role"]), "content": str(m["content"])} for m in messages[:last])
    return Example(example_id=example_id, prompt=prompt, reference=str(messages[last]["content"]))


def examples_from_lines(lines: Iterable[str], source: str) -> list[Example]:
    out: list[Example] = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise TestSetError(f"{source}:{n}: not JSON ({err.msg})") from None
        ident = str(row.get("id") or row.get("record_id") or (row.get("metadata") or {}).get("record_id") or n)
        out.append(example_from_messages(row.get("messages"), f"{source}:{ident}"))
    if not out:
        raise TestSetError(f"{source}: the test split is empty")
    return out


def load_jsonl(path: Path) -> list[Example]:
    if not path.exists():
        raise TestSetError(f"test file {path} does not exist")
    with path.open(encoding="utf-8") as fh:
        return examples_from_lines(fh, path.name)


def find_test_split_key(manifest: Mapping[str, Any]) -> str:
    """The artifact key (or URI) of the test split's chat JSONL inside a dataset manifest.

    Looks for the chat format of the `test` split under the common shapes
    (`files` / `splits` / `outputs` lists or maps of entries with a `path`/`key`/`uri`),
    so the evaluator does not break on a cosmetic change of the manifest layout. The dataset
    service's layout is `files: {"test.chat.jsonl": {"split": "test", "format": "chat"}}`, with
    names relative to the manifest's folder."""
    files = manifest.get("files")
    if isinstance(files, Mapping):
        exact = sorted(
            name
            for name, meta in files.items()
            if isinstance(meta, Mapping) and meta.get("split") == "test" and meta.get("format") == "chat"
        )
        if exact:
            return exact[0]
    candidates: list[tuple[str, str]] = []

    def visit(node: Any, trail: tuple[str, ...]) -> None:
        if isinstance(node, Mapping):
            for k, v in node.items():
                if str(k).endswith(".jsonl"):
                    candidates.append((str(k), "/".join(trail).lower()))
                visit(v, (*trail, str(k)))
        elif isinstance(node, list):
            for v in node:
                visit(v, trail)
        elif isinstance(node, str) and node.endswith(".jsonl"):
            candidates.append((node, "/".join(trail).lower()))

    visit(manifest, ())

    def rank(item: tuple[str, str]) -> tuple[int, int]:
        path, trail = item
        name = path.rsplit("/", 1)[-1].lower()
        where = f"{trail}/{path.lower()}"
        is_test = name.startswith("test") or "/test/" in f"/{where}/" or ".test." in name or "test" in trail.split("/")
        is_chat = any(w in where for w in ("chat", "messages", "openai"))
        return (0 if is_test else 1, 0 if is_chat else 1)

    ranked = sorted(set(candidates), key=lambda item: (rank(item), item[0]))
    if not ranked or rank(ranked[0])[0] != 0:
        raise TestSetError("the dataset manifest names no test split JSONL file")
    return ranked[0][0]
