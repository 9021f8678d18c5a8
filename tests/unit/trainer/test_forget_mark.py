"""A model inherits its dataset version's forget mark, unless it read the redacted revision."""

from __future__ import annotations

from crucible.common.registry import DatasetVersion
from crucible.trainer.registry_rows import inherits_forget_mark


def _version(marked: bool, revision: str | None, sha: str = "new") -> DatasetVersion:
    counts = {"total": 10} if revision is None else {"total": 10, "revision": revision}
    return DatasetVersion(version="v1", seq=1, contains_forgotten_subject=marked, manifest_sha256=sha, counts=counts)


def test_marked_version_marks_the_model() -> None:
    assert inherits_forget_mark(_version(True, None), "new")
    assert inherits_forget_mark(_version(True, "deleted"), "new")


def test_unmarked_or_missing_version_does_not() -> None:
    assert not inherits_forget_mark(_version(False, None), "new")
    assert not inherits_forget_mark(None, "")


def test_the_redacted_revision_is_clean_but_an_earlier_read_is_not() -> None:
    assert not inherits_forget_mark(_version(True, "redacted", sha="new"), "new")
    assert inherits_forget_mark(_version(True, "redacted", sha="new"), "old")  # read before the redaction
    assert inherits_forget_mark(_version(True, "redacted", sha="new"), "")
