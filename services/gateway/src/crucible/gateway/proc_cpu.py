"""What the gateway bench reads from and sets in /proc: a process's CPU time (ticks and the
scheduler's per-thread nanoseconds), its run-queue wait, and CPU pinning of every thread. Linux
only, like the bench's pinned placement (`placement.py` decides where; this applies and measures).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path


def cpu_seconds(pid: int) -> float:
    """The process's CPU time, utime + stime, in clock ticks (10 ms): the whole process, exited
    threads included, but too coarse for one short measurement (see `CpuClock`)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def thread_cpu_ns(pid: int) -> dict[int, int]:
    """Each live thread's CPU time in nanoseconds (/proc schedstat: the scheduler's own count)."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            out[int(task.name)] = int((task / "schedstat").read_text().split()[0])
    return out


class CpuClock:
    """CPU seconds a process used between `start` and `stop`. From the threads' nanosecond counts
    when every thread seen at the start is still there at the stop; from the 10 ms ticks otherwise
    (a thread's time leaves schedstat when it exits). Ticks alone were a flaw: at concurrency 1
    a 4 s measurement is ~0.1-0.3 s of gateway CPU, so one tick either way moved the per-request
    figure by up to 8 % and the ratio to the relay by twice that."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._threads0: dict[int, int] = {}
        self._ticks0 = 0.0
        self.source = ""  # which count the last `stop` used: schedstat_ns | ticks

    def start(self) -> None:
        self._threads0, self._ticks0 = thread_cpu_ns(self.pid), cpu_seconds(self.pid)

    def stop(self) -> float:
        threads, ticks = thread_cpu_ns(self.pid), cpu_seconds(self.pid)
        if set(self._threads0) <= set(threads):
            self.source = "schedstat_ns"
            return sum(threads.values()) / 1e9 - sum(self._threads0.values()) / 1e9
        self.source = "ticks"
        return ticks - self._ticks0


def run_queue_wait_seconds(pid: int) -> float:
    """Time the process's threads were runnable but waiting for a CPU (/proc schedstat): on a
    shared machine this is the CPU other tenants took from it while it had work to do."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            total += int((task / "schedstat").read_text().split()[1])
    return total / 1e9


def pin(pid: int, cpus: tuple[int, ...]) -> None:
    """Pin every thread of `pid` (sched_setaffinity on a pid moves only its main thread)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(int(task.name), cpus)


@contextlib.contextmanager
def pinned_self(cpus: tuple[int, ...]) -> Iterator[None]:
    before = os.sched_getaffinity(0)
    pin(os.getpid(), cpus)
    try:
        yield
    finally:
        pin(os.getpid(), tuple(before))
