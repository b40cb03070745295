"""What this machine gives topicclf: the cores it may run on and the memory it may use, for
the rules that size work to the machine (worker counts, threads, network size checks)."""

from __future__ import annotations

import os
import resource
from pathlib import Path


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


def address_space_limit() -> int:
    """The process's address-space limit in bytes (RLIMIT_AS, `ulimit -v`), 0 when unlimited."""
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    return 0 if soft == resource.RLIM_INFINITY else int(soft)


CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroup_memory_limit() -> tuple[int, str]:
    """The memory limit of the process's cgroup in bytes and the file that sets it, (0, "")
    when none is set or readable: cgroup v2's memory.max, or v1's memory.limit_in_bytes
    (inside a container the process's cgroup is the root of what it sees)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:  # not Linux
        return 0, ""
    candidates = []
    for line in lines:
        hierarchy, _, rest = line.partition(":")
        controllers, _, own = rest.partition(":")
        own = own.lstrip("/")
        if hierarchy == "0" and not controllers:
            candidates += [CGROUP_ROOT / own / "memory.max", CGROUP_ROOT / "memory.max"]
        elif "memory" in controllers.split(","):
            v1 = CGROUP_ROOT / "memory"
            candidates += [v1 / own / "memory.limit_in_bytes", v1 / "memory.limit_in_bytes"]
    for path in candidates:
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        # "max" (v2) means none; v1 says none with a huge number, which the minimum skips.
        return (int(text), str(path)) if text.isdigit() else (0, "")
    return 0, ""


def memory_limit() -> tuple[int, str]:
    """The most memory this process may use in bytes (0 when the system does not say) and
    what sets it, as messages say it: the least of the machine's physical memory, the
    process's address-space limit (`ulimit -v`) and its cgroup's limit.

    Memory the process already uses is not subtracted: the size checks that compare with
    this are estimates before anything is allocated, and an allocation that fails anyway is
    explained where training runs (`training.network.out_of_memory_explained`)."""
    gib = 1024**3
    found = []
    memory = machine_memory()
    if memory:
        found.append((memory, f"this machine has {memory / gib:,.1f} GiB"))
    rlimit = address_space_limit()
    if rlimit:
        found.append(
            (rlimit, f"this process's address-space limit (ulimit -v) is {rlimit / gib:,.1f} GiB")
        )
    cgroup, where = cgroup_memory_limit()
    if cgroup:
        found.append((cgroup, f"this process's cgroup allows {cgroup / gib:,.1f} GiB ({where})"))
    return min(found) if found else (0, "")
