"""What this machine gives topicclf: the cores it may run on and the physical memory, for
the rules that size work to the machine (worker counts, threads, network size checks)."""

from __future__ import annotations

import os


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system tells)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def machine_memory() -> int:
    """The machine's physical memory in bytes, or 0 where the system does not say."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # not every system reports it
        return 0
