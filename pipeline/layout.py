"""The data root and IBL's folder and file names.

A session lives in ``<data root>/<subject>/<date>/<number>/`` (number zero-padded to three
digits), with raw videos in ``raw_video_data/_iblrig_<label>Camera.raw.<ext>`` and their
metadata in ``raw_video_data/_iblrig_<label>Camera.frameData.bin``; the DAQ's sync in
``raw_ephys_data/_spikeglx_sync.{times,channels,polarities}.npy``; Bpod data in
``raw_behavior_data/``; derived datasets (ALF) in ``alf/``.

Tables store paths relative to the data root; :func:`to_relative` refuses any path that
resolves outside it (symlinks and ``..`` included).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path, PurePosixPath

RAW_VIDEO_DIR = "raw_video_data"
RAW_EPHYS_DIR = "raw_ephys_data"
RAW_BEHAVIOR_DIR = "raw_behavior_data"
ALF_DIR = "alf"
VIDEO_EXTENSIONS = (".avi", ".mkv", ".mp4", ".mov", ".nut")
_RAW_VIDEO_RE = re.compile(r"^_iblrig_(?P<label>[A-Za-z0-9]+)Camera\.raw\.(?P<ext>\w+)$")


class DataRootError(ValueError):
    """A path resolves outside the configured data root."""


def session_folder(subject: str, date: dt.date | str, number: int) -> PurePosixPath:
    """Session folder relative to the data root: ``<subject>/<YYYY-MM-DD>/<NNN>``."""
    if isinstance(date, dt.date):
        date = date.isoformat()
    return PurePosixPath(subject, str(date), f"{int(number):03d}")


def raw_video_name(label: str, ext: str = "avi") -> str:
    """``_iblrig_<label>Camera.raw.<ext>``."""
    return f"_iblrig_{label}Camera.raw.{ext.lstrip('.')}"


def framedata_name(label: str) -> str:
    """``_iblrig_<label>Camera.frameData.bin``."""
    return f"_iblrig_{label}Camera.frameData.bin"


def find_raw_videos(session_dir: Path) -> dict[str, Path]:
    """Map camera label to raw video file in ``session_dir/raw_video_data``.

    Raises
    ------
    FileNotFoundError
        If the session folder or its ``raw_video_data`` folder does not exist.
    ValueError
        If one camera has two raw videos.
    """
    session_dir = Path(session_dir)
    if not session_dir.is_dir():
        raise FileNotFoundError(f"session folder not found: {session_dir}")
    video_dir = session_dir / RAW_VIDEO_DIR
    if not video_dir.is_dir():
        raise FileNotFoundError(f"no {RAW_VIDEO_DIR} folder in session folder {session_dir}")
    found: dict[str, Path] = {}
    for path in sorted(video_dir.iterdir()):
        m = _RAW_VIDEO_RE.match(path.name)
        if not m or path.suffix.lower() not in VIDEO_EXTENSIONS:
            continue
        label = m.group("label")
        if label in found:
            raise ValueError(f"two raw videos for camera {label!r}: {found[label]} and {path}")
        found[label] = path
    return found


def resolve_under(root: Path, relative: str | PurePosixPath) -> Path:
    """Absolute path of ``relative`` under ``root``; refuses paths that escape the root.

    Raises
    ------
    DataRootError
        If the path resolves outside ``root`` (absolute paths, ``..``, symlinks out).
    """
    root = Path(root).resolve()
    rel = PurePosixPath(str(relative))
    if rel.is_absolute():
        raise DataRootError(f"path {relative!r} is absolute; tables hold paths relative to the data root {root}")
    full = (root / rel).resolve()
    if full != root and root not in full.parents:
        raise DataRootError(f"path {relative!r} resolves to {full}, outside the data root {root}")
    return full


def to_relative(root: Path, path: Path | str) -> str:
    """Path of ``path`` relative to ``root`` as a POSIX string, for storing in a table.

    Raises
    ------
    DataRootError
        If ``path`` resolves outside ``root``.
    """
    root = Path(root).resolve()
    full = Path(path)
    full = (full if full.is_absolute() else root / full).resolve()
    try:
        rel = full.relative_to(root)
    except ValueError:
        raise DataRootError(f"path {path} resolves to {full}, outside the data root {root}") from None
    return rel.as_posix()
