"""Where a model's weights come from: a local folder, or a Hugging Face hub id pinned to a commit.

Every `from_pretrained` that may be given a hub id goes through `model_source`, so what was
evaluated is what is served: a hub id is written `org/name@<commit sha>` and loaded at exactly
that revision; an unpinned one (a branch or tag can move under you) is refused, naming the fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from crucible.common.config import ConfigError

_COMMIT = re.compile(r"^[0-9a-f]{7,64}$")


@dataclass(frozen=True)
class ModelSource:
    """`from_pretrained(source.path, revision=source.revision)`; revision is None for a local folder."""

    path: str
    revision: str | None


def is_local(name: str | Path) -> bool:
    text = str(name)
    return Path(text).expanduser().exists() or text.startswith((".", "/", "~"))


def model_source(name: str | Path) -> ModelSource:
    """A local folder as is; `org/name@<commit>` as the repo and its pinned revision."""
    text = str(name)
    if is_local(text):
        return ModelSource(str(Path(text).expanduser()), None)
    repo, sep, revision = text.partition("@")
    if not sep or not _COMMIT.match(revision):
        raise ConfigError(
            f"model {text!r} is neither a local folder nor a pinned hub id: write it as "
            f"{repo}@<commit sha> (the hub's 'Files' tab shows it), so the weights cannot change under you"
        )
    return ModelSource(repo, revision)
