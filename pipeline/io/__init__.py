"""File readers and writers (video, frameData, DAQ sync, ALF). Never imports DataJoint."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path


def link_or_copy(src: str | Path, dst: str | Path) -> str:
    """Hard-link ``src`` to ``dst`` (free, shares the data), or copy it across file systems.

    Usable as ``shutil.copytree``'s ``copy_function``; returns ``dst``.
    """
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
    return str(dst)


def atomic_write(path: Path, write: Callable[[str], object]) -> Path:
    """Write ``path`` atomically: ``write(tmp)`` fills a temporary file beside it, then it is renamed.

    On any failure (or interrupt) the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@contextlib.contextmanager
def file_lock(path: Path, *, waiting: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path``; say on stderr when another process holds it.

    Parameters
    ----------
    path : Path
        The lock file (created if missing, never removed: removing it would let a third
        process lock a new file while the second still waits on the old one).
    waiting : str
        What is being waited for, for the message ("waiting for <waiting> ...").
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for {waiting} (another process holds {path}) ...", file=sys.stderr, flush=True)
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
