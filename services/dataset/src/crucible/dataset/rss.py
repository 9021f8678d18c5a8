"""Resident memory as the dataset bench reports it: this process's own peak (VmHWM) and the peak
of a whole process tree (the build and its workers) sampled together from /proc. Linux; elsewhere
the tree sampler reports 0 and `peak_rss_mib` falls back to getrusage.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path


def peak_rss_mib() -> float:
    """This process's peak RSS. VmHWM, not ru_maxrss: ru_maxrss survives exec, so a spawned child
    would report its (large) parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class TreeRssSampler:
    """Peak resident memory of this process and all its descendants together (the build's workers),
    summed from /proc every `interval` seconds in a thread: a true simultaneous peak, to within the
    sampling interval (Linux; elsewhere it reports 0 and the per-process peaks stand alone)."""

    def __init__(self, interval: float = 0.2) -> None:
        import threading

        self.interval, self.peak_bytes, self.samples = interval, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

    def __enter__(self) -> TreeRssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        try:
            total = sum(self._rss_pages(pid) for pid in descendants(os.getpid())) * self._page
        except OSError:
            return
        self.samples += 1
        self.peak_bytes = max(self.peak_bytes, total)

    @staticmethod
    def _rss_pages(pid: int) -> int:
        try:
            return int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            return 0  # exited between the listing and the read


def descendants(root: int) -> list[int]:
    """`root` and every process below it, from /proc/*/stat's parent ids."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out
