"""File readers and writers (video, frameData, DAQ sync, ALF). Never imports DataJoint."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
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
