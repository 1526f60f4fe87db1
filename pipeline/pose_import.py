"""Pose made by other tools, checked and merged for one camera recording (``ibl-video pose import``).

A lab may already have pose for its videos: DeepLabCut's ``analyze_videos`` output,
Lightning Pose's predictions, or IBL's ``_ibl_<label>Camera.dlc.pqt``. The readers are in
:mod:`pipeline.io.dlc` (:func:`pipeline.io.dlc.read_pose_file`); this module checks what
they read against the recording and turns it into what the pipeline stores:

1. :func:`merge_pose_files`: every file must have one row per frame of the recording, and
   several files of one camera (an eye network's and a tongue network's) merge their body
   parts; one body part in two files is an error.
2. :func:`import_anchors`: the ``AnchorPoints`` of imported pose (pupil centre, nose tip,
   spout top), defined as the pipeline's own anchors are: the mean of confident detections
   (likelihood >= 0.9), here over every frame. An anchor the files do not track is None.

Nothing here touches a database (:func:`schemas.pose_import.import_pose` inserts).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from pipeline.io.dlc import PoseFile
from pipeline.pose import ANCHOR_BODYPARTS

__all__ = ["file_md5", "import_anchors", "merge_pose_files"]

_PUPIL_PAIRS = (("top", "bottom"), ("left", "right"))


def file_md5(path: Path | str, chunk: int = 1 << 20) -> str:
    """MD5 (hex) of a file's bytes, read in ``chunk``-byte pieces."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


#: Pixels a point may lie outside the frame (a network's sub-pixel refinement at the border).
FRAME_MARGIN_PX = 2.0


def check_inside_frame(points: dict[str, np.ndarray], width: int, height: int, what: str) -> None:
    """Refuse pose whose points lie outside the recording's frame (wrong camera or offset).

    Parameters
    ----------
    points : dict of str to (n, 3) array
        Body part -> x, y (full-frame pixels) and likelihood.
    width, height : int
        The recording's frame size, pixels.
    what : str
        The recording, for messages.

    Raises
    ------
    ValueError
        Naming the body part, how many frames are outside, the largest coordinates and the
        frame size. NaN points are not checked.
    """
    for bp, a in points.items():
        x, y = a[:, 0], a[:, 1]
        with np.errstate(invalid="ignore"):
            out = (x < -FRAME_MARGIN_PX) | (x > width + FRAME_MARGIN_PX) | (y < -FRAME_MARGIN_PX) | (y > height + FRAME_MARGIN_PX)
        if out.any():
            raise ValueError(
                f"{what}: {bp!r} lies outside the {width}x{height} frame in {int(out.sum())} of {len(a)} frames "
                f"(x {np.nanmin(x):.1f}..{np.nanmax(x):.1f}, y {np.nanmin(y):.1f}..{np.nanmax(y):.1f} px): "
                "pose of another camera, or coordinates of a crop without its offset? nothing imported"
            )


def merge_pose_files(files: Sequence[PoseFile], n_frames: int, what: str) -> dict[str, np.ndarray]:
    """Check imported pose files against a recording and merge their body parts.

    Parameters
    ----------
    files : sequence of PoseFile
        What :func:`pipeline.io.dlc.read_pose_file` returned, one per file.
    n_frames : int
        Frames of the recording (``CameraRecording.n_frames``).
    what : str
        The recording, for messages (e.g. ``"SW001/2026-01-01/001 left camera"``).

    Returns
    -------
    dict of str to (n_frames, 3) float64
        Body part -> x, y (full-frame pixels) and likelihood; parts in file order.

    Raises
    ------
    ValueError
        No files; a file whose row count differs from ``n_frames`` (naming the file and both
        counts); one body part in two files (naming the part and both files).
    """
    if not files:
        raise ValueError(f"{what}: no pose files to import")
    for f in files:
        if f.n_frames != int(n_frames):
            raise ValueError(
                f"{f.path} has {f.n_frames} frames but the {what} recording has {int(n_frames)}; nothing imported"
            )
    merged: dict[str, np.ndarray] = {}
    source: dict[str, Path] = {}
    for f in files:
        for bp, a in f.points.items():
            if bp in merged:
                raise ValueError(
                    f"body part {bp!r} is in two files, {source[bp]} and {f.path}; import each body part from one file"
                )
            merged[bp] = np.asarray(a, dtype=np.float64)
            source[bp] = f.path
    return merged


def _confident_mean(xy: np.ndarray, ok: np.ndarray) -> tuple[tuple[float, float] | None, int]:
    n = int(ok.sum())
    if n == 0:
        return None, 0
    m = xy[ok].mean(axis=0)
    return (float(m[0]), float(m[1])), n


def import_anchors(
    points: Mapping[str, np.ndarray], camera_label: str, likelihood_threshold: float = 0.9
) -> tuple[dict[str, tuple[float, float] | None], dict[str, int]]:
    """Anchor points of imported pose: mean of confident detections over every frame.

    The pipeline's anchor network finds ``pupil_center``, ``nose_tip`` and ``tube_top``
    (:data:`pipeline.pose.ANCHOR_BODYPARTS`); the specialised networks do not track those
    exact points, so for imported pose they are defined from what the files track:

    - ``pupil_center``: per frame, the midpoint of each opposite pair of pupil edges
      (top/bottom, left/right) whose two points are both confident, averaged; the anchor is
      the mean over frames with at least one such pair. The eye is the camera's
      (``pupil_*_l`` on the left camera, ``pupil_*_r`` on the right), else whichever eye
      the pose has.
    - ``nose_tip``: the point ``nose_tip`` (IBL's files track it), where confident.
    - ``tube_top``: the point ``tube_top``, where confident.

    Parameters
    ----------
    points : mapping of str to (n, 3) array
        Body part -> x, y (pixels) and likelihood.
    camera_label : str
    likelihood_threshold : float
        Detections below it (or NaN) are not used (IBL: 0.9).

    Returns
    -------
    anchors : dict of str to (x, y) or None
        Every name of :data:`pipeline.pose.ANCHOR_BODYPARTS`; None where the pose has no
        confident detection of it (e.g. a tongue-only import has no pupil centre).
    n_confident : dict of str to int
        Frames each anchor was averaged over.
    """
    pts = {k: np.asarray(v, dtype=np.float64) for k, v in points.items()}

    def confident(name: str) -> np.ndarray:
        a = pts[name]
        return (a[:, 2] >= likelihood_threshold) & np.isfinite(a[:, :2]).all(axis=1)

    anchors: dict[str, tuple[float, float] | None] = {}
    counts: dict[str, int] = {}
    preferred = {"left": "l", "right": "r"}.get(camera_label)
    suffixes = [s for s in (preferred, "l", "r") if s] if preferred else ["l", "r"]
    eye = next((s for s in suffixes if any(f"pupil_{e}_{s}" in pts for p in _PUPIL_PAIRS for e in p)), None)
    anchors["pupil_center"], counts["pupil_center"] = None, 0
    if eye is not None:
        mids, oks = [], []
        for a, b in _PUPIL_PAIRS:
            na, nb = f"pupil_{a}_{eye}", f"pupil_{b}_{eye}"
            if na in pts and nb in pts:
                mids.append((pts[na][:, :2] + pts[nb][:, :2]) / 2.0)
                oks.append(confident(na) & confident(nb))
        if mids:
            stack = np.stack([np.where(ok[:, None], m, np.nan) for m, ok in zip(mids, oks, strict=True)])
            any_ok = np.any(oks, axis=0)
            per_frame = np.full(stack.shape[1:], np.nan)
            if any_ok.any():
                per_frame[any_ok] = np.nanmean(stack[:, any_ok], axis=0)
            anchors["pupil_center"], counts["pupil_center"] = _confident_mean(per_frame, any_ok)
    for name in ANCHOR_BODYPARTS:
        if name == "pupil_center":
            continue
        if name in pts:
            anchors[name], counts[name] = _confident_mean(pts[name][:, :2], confident(name))
        else:
            anchors[name], counts[name] = None, 0
    return {k: anchors[k] for k in ANCHOR_BODYPARTS}, {k: counts[k] for k in ANCHOR_BODYPARTS}
