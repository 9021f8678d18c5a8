"""The files of the offline commands (`crucible scrub|score|dedup [IN] [--out OUT] [--json]`).

- IN `-` (or none) reads stdin; OUT `-` (or none) writes stdout, so they chain with pipes.
- A file is written whole or not at all (`OUT.partial`, renamed at the end), and a folder that
  does not exist is a one-line usage error before any work starts.
- Progress (rich) goes to stderr when stderr is a terminal; nothing otherwise.
- The summary goes to stderr as a line for people, or to stdout as JSON with `--json` (then the
  records must go to a file: stdout holds one document).
"""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from crucible.common.errors import UsageError

STDIO = "-"


def is_stdio(path: Path | str | None) -> bool:
    return path is None or str(path) == STDIO


def check_paths(input_path: Path | None, out: Path | None, *, as_json: bool = False, in_name: str = "IN") -> None:
    """Refuse, before any work, an input that is not a readable file, an output whose folder
    does not exist, and `--json` with the records on stdout."""
    if not is_stdio(input_path):
        assert input_path is not None
        if not input_path.exists():
            raise UsageError(f"{in_name} {input_path} does not exist (give a JSON-lines file, or - for stdin)")
        if input_path.is_dir():
            raise UsageError(f"{in_name} {input_path}: is a folder; give a JSON-lines file")
    if not is_stdio(out):
        assert out is not None
        if out.is_dir():
            raise UsageError(f"--out {out}: is a folder; give a file name")
        if not out.parent.is_dir():
            raise UsageError(f"--out {out}: folder {out.parent} does not exist")
    elif as_json:
        raise UsageError("--json prints the summary on stdout, where the records go: give --out FILE")


def input_size(input_path: Path | None) -> int | None:
    """Bytes to read (for the progress bar), or None for stdin."""
    return None if is_stdio(input_path) or input_path is None else input_path.stat().st_size


@contextmanager
def open_input(input_path: Path | None, *, errors: str = "replace") -> Iterator[TextIO]:
    """The input as UTF-8 text: the file, or stdin for `-`/None."""
    if is_stdio(input_path):
        stream = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors=errors)
        try:
            yield stream
        finally:
            stream.detach()  # stdin stays open for whoever owns it
        return
    assert input_path is not None
    with input_path.open(encoding="utf-8", errors=errors) as f:
        yield f


@contextmanager
def open_output(out: Path | None) -> Iterator[TextIO]:
    """The output as UTF-8 text: stdout for `-`/None, else `OUT.partial` renamed to OUT when
    the block ends without an error (removed when it raises)."""
    if is_stdio(out):
        stream = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="\n", write_through=True)
        try:
            yield stream
        finally:
            stream.flush()
            stream.detach()
        return
    assert out is not None
    tmp = out.with_name(out.name + ".partial")
    try:
        with tmp.open("w", encoding="utf-8", newline="\n") as f:
            yield f
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def tracked(lines: Iterable[str], advance: Callable[[int, int], None]) -> Iterator[str]:
    """The lines, advancing the progress bar by each one read."""
    for line in lines:
        advance(len(line), 1)
        yield line


@contextmanager
def progress(label: str, total_bytes: int | None) -> Iterator[Callable[[int, int], None]]:
    """`advance(bytes_read, records)`: a rich progress bar on stderr when it is a terminal and
    logs are for people; a no-op otherwise (pipes, CI, JSON logs)."""
    from crucible.common.logs import current_output

    output = current_output()
    if not _stderr_is_terminal() or output.log_format == "json":
        yield lambda _bytes, _records: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

    columns: list[Any] = [TextColumn("[bold]{task.description}"), BarColumn()]
    if total_bytes:
        columns.append(DownloadColumn())
    columns += [TextColumn("{task.fields[records]:,} records"), TimeElapsedColumn()]
    bar = Progress(*columns, console=Console(stderr=True), transient=True)
    task = bar.add_task(label, total=total_bytes or None, records=0)
    counted = [0]

    def advance(bytes_read: int, records: int) -> None:
        counted[0] += records
        bar.update(task, advance=bytes_read, records=counted[0])

    with bar:
        yield advance


def emit_summary(summary: dict[str, Any], *, as_json: bool, text: str) -> None:
    """The summary: JSON on stdout with `--json`, else one line for people on stderr."""
    if as_json:
        sys.stdout.write(json.dumps(summary, sort_keys=True, default=str) + "\n")
        sys.stdout.flush()
    else:
        sys.stderr.write(text + "\n")
