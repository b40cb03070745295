"""Atomic file output: write to a temporary sibling, rename into place when complete."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def atomic_output(path: str | Path, *, newline: str | None = None) -> Iterator[IO[str]]:
    """Yield a text handle whose content replaces `path` only if the block completes."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    # mkstemp makes the file private (0600); give it the permissions a new file would get.
    os.chmod(tmp, 0o666 & ~current_umask())
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def current_umask() -> int:
    """The process umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write a whole text file atomically."""
    with atomic_output(path) as handle:
        handle.write(text)
