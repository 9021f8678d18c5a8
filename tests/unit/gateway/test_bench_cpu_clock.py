"""The gateway bench's CPU clock counts what the kernel's own per-process clock counts."""

from __future__ import annotations

import os
import time

from crucible.gateway.proc_cpu import CpuClock


def test_cpu_clock_agrees_with_the_process_clock() -> None:
    clock = CpuClock(os.getpid())
    clock.start()
    cpu0 = time.process_time()
    x = 0
    while time.process_time() - cpu0 < 0.2:  # burn CPU, not wall time
        x += 1
    measured = clock.stop()
    reference = time.process_time() - cpu0
    assert clock.source == "schedstat_ns"
    assert abs(measured - reference) < 0.02 + 0.1 * reference, (measured, reference)
