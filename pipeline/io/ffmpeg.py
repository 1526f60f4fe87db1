"""Locating and running the ffmpeg binary.

A system ffmpeg on ``PATH`` is preferred; otherwise the binary shipped by the
``imageio-ffmpeg`` wheel is used, so a fresh machine needs no system package. The
environment variable ``IBL_VIDEO_FFMPEG`` names a specific binary. Programs always run
with an argument list (never a shell) and a failure raises with ffmpeg's own message.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path


class FFmpegError(RuntimeError):
    """ffmpeg exited with an error; the message names the file and quotes ffmpeg."""


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Return the path of the ffmpeg binary to use."""
    explicit = os.environ.get("IBL_VIDEO_FFMPEG")
    if explicit:
        return explicit
    system = shutil.which("ffmpeg")
    if system:
        return system
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def run_ffmpeg(args: list[str], *, path: Path | str | None = None, input: bytes | None = None) -> str:
    """Run ffmpeg with ``args`` (without the program name) and return its stderr text.

    Parameters
    ----------
    args : list of str
        Arguments after ``ffmpeg``; ``-hide_banner -nostdin`` are added.
    path : path, optional
        The file the command is about, named in the error message.
    input : bytes, optional
        Data for ffmpeg's standard input.

    Raises
    ------
    FFmpegError
        If ffmpeg exits non-zero; the message names ``path`` and ends with ffmpeg's last lines.
    """
    return _run(args, path=path, input=input)[1]


def run_ffmpeg_output(args: list[str], *, path: Path | str | None = None) -> tuple[bytes, str]:
    """Run ffmpeg with ``args`` (an output to ``-`` or ``pipe:1``) and return (what it wrote
    to stdout, its stderr text); errors as :func:`run_ffmpeg`."""
    return _run(args, path=path, input=None)


def _run(args: list[str], *, path: Path | str | None, input: bytes | None) -> tuple[bytes, str]:
    cmd = [ffmpeg_exe(), "-hide_banner", *([] if input is not None else ["-nostdin"]), *args]
    proc = subprocess.run(cmd, input=input, capture_output=True)
    err = proc.stderr.decode(errors="replace")
    if proc.returncode != 0:
        tail = "\n".join(err.strip().splitlines()[-5:])
        what = f" on {path}" if path is not None else ""
        raise FFmpegError(f"ffmpeg failed{what} (exit {proc.returncode}): {tail}")
    return proc.stdout, err
