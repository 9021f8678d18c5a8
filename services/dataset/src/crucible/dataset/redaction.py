"""Re-materialise a dataset version without some records: same version id, revision `redacted`,
new files and sha256s in the manifest (the previous manifest's sha256 is kept in `revisions`).

Files list records in manifest order (`record_ids[split]`, line i is record i), so a record is
removed by dropping its line in every format of its split. Pure over bytes; the shell reads and
writes the artifact store."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from crucible.dataset.builder import MANIFEST, REPORT
from crucible.dataset.report import render_report

REDACTED = "redacted"


def manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    # The same serialisation as the build (builder.build_version), so sha256s compare alike.
    return (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def redact_files(
    manifest: Mapping[str, Any],
    read: Callable[[str], bytes],
    write: Callable[[str, bytes], None],
    removed: set[str],
    categories: Mapping[str, str],
    *,
    at: str,
) -> tuple[dict[str, Any], bytes, int]:
    """Rewrite every file of the version without the `removed` record ids.
    Returns (new manifest, its bytes, records removed). `categories` gives removed records'
    categories (for the counts); unknown ones leave the category counts as they were."""
    new = copy.deepcopy(dict(manifest))
    dropped_total = 0
    for split, ids in manifest["record_ids"].items():
        keep = [rid not in removed for rid in ids]
        gone = [rid for rid in ids if rid in removed]
        if not gone:
            continue
        dropped_total += len(gone)
        for name, info in manifest["files"].items():
            if info.get("split") != split:
                continue
            lines = read(name).splitlines(keepends=True)
            if len(lines) != len(ids):
                raise ValueError(f"{name}: {len(lines)} lines for {len(ids)} records: cannot redact safely")
            data = b"".join(line for line, k in zip(lines, keep, strict=True) if k)
            write(name, data)
            new["files"][name].update(records=sum(keep), bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
        new["record_ids"][split] = [rid for rid in ids if rid not in removed]
        row = new["counts"]["splits"][split]
        row["total"] -= len(gone)
        for rid in gone:
            category = categories.get(rid)
            if category and row["by_category"].get(category):
                row["by_category"][category] -= 1
                new["counts"]["by_category"][category] -= 1
        row["by_category"] = {k: v for k, v in row["by_category"].items() if v}
        row["synthetic_share"] = round(row["synthetic"] / row["total"], 6) if row["total"] else 0.0
    if not dropped_total:
        return new, manifest_bytes(new), 0
    new["counts"]["total"] -= dropped_total
    new["counts"]["by_category"] = {k: v for k, v in new["counts"]["by_category"].items() if v}
    new["revision"] = REDACTED
    new.setdefault("revisions", []).append(
        {"revision": REDACTED, "at": at, "removed_records": dropped_total,
         "previous_manifest_sha256": hashlib.sha256(manifest_bytes(manifest)).hexdigest()}
    )  # fmt: skip
    report = render_report(new).encode("utf-8")
    write(REPORT, report)
    new["files"][REPORT] = {"bytes": len(report), "sha256": hashlib.sha256(report).hexdigest()}
    data = manifest_bytes(new)
    write(MANIFEST, data)
    return new, data, dropped_total
