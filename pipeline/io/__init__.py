"""File readers and writers (video, frameData, DAQ sync, ALF). Never imports DataJoint."""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import sys
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


def atomic_write(path: Path, write: Callable[[str], object], *, suffix: str = ".partial") -> Path:
    """Write ``path`` atomically: ``write(tmp)`` fills a temporary file beside it, then it is renamed.

    On any failure (or interrupt) the temporary file is removed and ``path`` is left as it was.
    The file gets the mode any new file of the user gets (``0o666`` less the umask, and the
    folder's default ACL), as if ``write`` had created ``path`` itself: the temporary file is
    created with ``os.open(..., 0o666)``, not ``tempfile.mkstemp`` (always ``0o600``).
    ``suffix`` ends the temporary file's name (for writers that look at it, e.g. ``.partial.nwb``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _create_temporary(path, suffix)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _create_temporary(path: Path, suffix: str) -> str:
    """Create an empty, new ``.<name>.<random><suffix>`` beside ``path``, mode ``0o666 & ~umask``."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}{suffix}"
        try:
            fd = os.open(tmp, flags, 0o666)  # the kernel applies the umask
        except FileExistsError:
            continue
        os.close(fd)
        return str(tmp)
    raise FileExistsError(f"no free temporary file name beside {path}")


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
