"""The memory a server process may still take before a limit stops it, and the gate that
admits a large request only when the memory its body needs is there.

Past the limit an allocation fails wherever it happens: in Python a MemoryError (answered
503), but pydantic-core (Rust) aborts the whole process on one, and the event loop drops
connections whose reads cannot get a buffer. So a request is refused with a 503 before any
of that, while a refusal still costs nothing."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from topicclf.config import (
    SERVE_BODY_ALWAYS,
    SERVE_MEMORY_PER_BODY_BYTE,
    SERVE_MEMORY_RESERVE,
)
from topicclf.server.throttle import EveryMinute

# A limit at or above this is no limit (cgroup v1 says "none" with 2**63 rounded to pages).
_NO_LIMIT = 1 << 60
# How long a reading of the headroom is used again: reading takes a few file reads, and a
# body arrives in many pieces; admissions in the meantime are counted in `promised`.
_FRESH_SECONDS = 0.05


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except (OSError, ValueError):
        return None
    if not text.isdigit():
        return None  # cgroup v2's "max": no limit
    return int(text)


def _cgroup_files(root: Path = Path("/sys/fs/cgroup")) -> tuple[Path, Path, Path] | None:
    """(limit file, usage file, stat file) of the memory cgroup this process is in, v2 or
    v1, as the process sees it (a container sees its own cgroup at the mount's root)."""
    v1 = root / "memory"
    for limit, usage, stat in (
        (root / "memory.max", root / "memory.current", root / "memory.stat"),
        (v1 / "memory.limit_in_bytes", v1 / "memory.usage_in_bytes", v1 / "memory.stat"),
    ):
        if limit.is_file() and usage.is_file():
            return limit, usage, stat
    return None


def _reclaimable(stat: Path) -> int:
    """The cgroup's inactive file cache (memory.stat's inactive_file; v1's total_ one, which
    counts its children too), which its usage includes and the kernel gives back before it
    refuses memory: as container runtimes count a working set. 0 when unreadable."""
    found: dict[str, int] = {}
    try:
        with stat.open() as lines:
            for line in lines:
                key, _, value = line.partition(" ")
                if key in ("inactive_file", "total_inactive_file") and value.strip().isdigit():
                    found[key] = int(value)
    except OSError:
        return 0
    return found.get("total_inactive_file", found.get("inactive_file", 0))


class Headroom:
    """Bytes this process can still take: the least of what its address-space limit (ulimit
    -v) leaves beside its size, its share of what its cgroup's limit leaves beside the
    cgroup's usage (a container's memory limit), and its share of the system's available
    memory. None where nothing is known (not Linux). `shared_by`: the server processes
    (--workers) that take from the cgroup and the system alike, each its equal share: each
    counts only its own requests, and all counting the whole promised it N times over."""

    def __init__(self, shared_by: int = 1, cgroup_root: Path | None = None) -> None:
        self.shared_by = max(1, shared_by)
        linux = sys.platform.startswith("linux")
        self.statm = Path("/proc/self/statm") if linux else None
        self.meminfo = Path("/proc/meminfo") if linux else None
        self.page = os.sysconf("SC_PAGE_SIZE") if linux else 4096
        root = cgroup_root or Path("/sys/fs/cgroup")
        self.cgroup = _cgroup_files(root) if linux or cgroup_root else None
        self.cgroup_limit = _read_int(self.cgroup[0]) if self.cgroup else None
        self.read_at = -1.0
        self.value: int | None = None

    def __call__(self) -> int | None:
        """The headroom now (read again at most every _FRESH_SECONDS)."""
        now = time.monotonic()
        if now - self.read_at >= _FRESH_SECONDS:
            self.value = self.measure()
            self.read_at = now
        return self.value

    def measure(self) -> int | None:
        """The headroom, read now."""
        shared = [self._cgroup(), self._available()]
        rooms = [self._address_space()] + [r // self.shared_by for r in shared if r is not None]
        known = [room for room in rooms if room is not None]
        return max(0, min(known)) if known else None

    def _address_space(self) -> int | None:
        if self.statm is None:
            return None
        import resource  # not on Windows

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft == resource.RLIM_INFINITY or soft >= _NO_LIMIT:
            return None
        try:
            size = int(self.statm.read_text().split()[0]) * self.page
        except (OSError, ValueError, IndexError):
            return None
        return soft - size

    def _cgroup(self) -> int | None:
        if self.cgroup is None or self.cgroup_limit is None or self.cgroup_limit >= _NO_LIMIT:
            return None
        usage = _read_int(self.cgroup[1])
        if usage is None:
            return None
        # Page cache counts in the usage: a container whose files filled its limit with cache
        # refused bodies it had the memory for (the kernel drops inactive cache first).
        used = max(0, usage - _reclaimable(self.cgroup[2]))
        return self.cgroup_limit - used

    def _available(self) -> int | None:
        if self.meminfo is None:
            return None
        try:
            with self.meminfo.open() as lines:
                for line in lines:
                    if line.startswith("MemAvailable:"):
                        return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            return None
        return None


def body_need(size: int) -> int:
    """The memory a request with a body of `size` bytes is counted to need while it is
    answered (its parsed texts, their terms and features, the answer)."""
    return SERVE_MEMORY_PER_BODY_BYTE * size


class MemoryGate:
    """Admits a request's body only while the headroom, less the needs of the bodies admitted
    and not yet done (`promised`: their memory may not be taken yet) and a reserve for
    everything else the server does, covers its need. One per process; touched from the
    event loop only."""

    def __init__(self, headroom: Callable[[], int | None] | None = None) -> None:
        self.headroom = headroom if headroom is not None else Headroom()
        self.promised = 0
        self.refusals = EveryMinute()  # the log's "memory is short" line
        self.last_room: int | None = None  # the headroom when a body was last refused

    def claim(self) -> MemoryClaim:
        """A claim for one request's body, empty until it grows."""
        return MemoryClaim(self)


class MemoryClaim:
    """One request's share of a MemoryGate, until `release`."""

    def __init__(self, gate: MemoryGate) -> None:
        self.gate = gate
        self.need = 0

    def fits(self, size: int) -> bool:
        """Whether a body of `size` bytes in all would fit now, counting nothing: asked of a
        declared length before its bytes come, so one sure to be refused is not read, while
        a client that declares much and sends nothing holds no one else's room."""
        need = body_need(size)
        if need <= self.need or size <= SERVE_BODY_ALWAYS:
            return True
        gate = self.gate
        room = gate.headroom()
        if room is None or room - SERVE_MEMORY_RESERVE - (gate.promised - self.need) >= need:
            return True
        gate.last_room = room
        return False

    def grow(self, size: int) -> bool:
        """Whether a body of `size` bytes in all fits, its need counted if so: as its bytes
        arrive, so only bytes a client sent hold room. Bodies of at most SERVE_BODY_ALWAYS
        bytes always pass, as small requests must stay answered."""
        if not self.fits(size):
            return False
        need = body_need(size)
        if need > self.need:
            self.gate.promised += need - self.need
            self.need = need
        return True

    def release(self) -> None:
        """Give the need back (the request ended, however)."""
        self.gate.promised -= self.need
        self.need = 0


# glibc's mallopt parameter for the most malloc arenas (malloc.h).
_M_ARENA_MAX = -8
ARENAS_UNDER_ADDRESS_LIMIT = 2


def fit_allocator_to_limit() -> bool:
    """Under an address-space limit (ulimit -v), cap glibc's malloc arenas: each thread that
    allocates may get one of 64 MiB of address space, reserved, not used, and with the
    server's threads they took all the limit left. Memory then ran out in reading a
    connection (reset, a traceback each) while little was in use; with two arenas a load that
    had 3,700 such resets and 3 answers had none and 81. True when the cap was set."""
    if not sys.platform.startswith("linux"):
        return False
    import resource

    soft = resource.getrlimit(resource.RLIMIT_AS)[0]
    if soft == resource.RLIM_INFINITY or soft >= _NO_LIMIT:
        return False  # a cgroup's limit counts memory used, not address space reserved
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(_M_ARENA_MAX, ARENAS_UNDER_ADDRESS_LIMIT))
    except (OSError, AttributeError):  # not glibc (musl has no arenas to cap)
        return False


def is_panic(exc: BaseException) -> bool:
    """Whether `exc` is a Rust library's panic surfacing in Python (pyo3's PanicException, a
    BaseException, so `except Exception` misses it): pydantic-core panics when CPython cannot
    allocate an object it builds ("PyObject pointer is null")."""
    return type(exc).__name__ == "PanicException" and not isinstance(exc, Exception)


def caused_by_memory(exc: BaseException | None) -> bool:
    """Whether `exc`, or an exception it was raised from or while handling, is a MemoryError
    (a parser wraps a failure in its callback into an error of its own)."""
    seen = 0
    while exc is not None and seen < 16:  # a chain could loop
        if isinstance(exc, MemoryError):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False
