"""IBL's point names in ``_ibl_<label>Camera.dlc.pqt`` and the note's names: one mapping, both ways.

Our tables keep the note's 23 names (:data:`pipeline.rigs.TRACKED_POINTS`), named per camera by
:func:`pipeline.pose.camera_point_name`: on the left camera the eye is ``pupil_*_l`` and the near
paw's fingertips are ``*_l``; the right camera sees the mouse mirrored, so its eye is ``pupil_*_r``
with the pupil's image left and right swapped, and its near paw's fingertips are ``*_r``. Our
coordinates are pixels of the camera's own, unflipped frame on both cameras.

IBL's ALF table uses eleven names on every camera: ``pupil_top_r``, ``pupil_right_r``,
``pupil_bottom_r``, ``pupil_left_r``, ``nose_tip``, ``paw_l``, ``paw_r``, ``tube_top``,
``tube_bottom``, ``tongue_end_l``, ``tongue_end_r`` (:data:`IBL_POINTS`). What they mean, from
IBL's own code:

- **The right camera is tracked flipped and its x coordinates are flipped back.** iblvideo
  (``pose_dlc.py``: ``_s00_transform_rightCam`` runs ffmpeg ``hflip`` and upsamples to
  1280x1024; ``_s06_extract_dlc_alf`` maps every ``*_x`` back with
  ``x = original_size[0] - x`` for ``RIGHT_VIDEO``, ``flip: True``, ``original_size`` 640x512)
  keeps the left-camera network's names on the right camera. So IBL's x and y are pixels of
  each camera's own unflipped frame, as ours are, but a name says where the point is in the
  *flipped* (left-camera-like) view: on the right camera IBL's ``pupil_right_r`` is the
  pupil's edge at image-left, which is our ``pupil_left_r``.
- **``paw_r`` is the near paw, ``paw_l`` the far paw, on both side cameras.** ibllib's DLC QC
  (``ibllib/qc/dlc.py``: ``check_paw_close_nan`` uses ``paw_r``, ``check_paw_far_nan`` uses
  ``paw_l``) and its paw-state QC plots (``ibllib/pipes/video_tasks.py``: ``paw_pos = 'near'
  if paw == 'paw_r' else 'far'``) say so. IBL's ``_l``/``_r`` are therefore not the mouse's
  left and right: on the left camera IBL's ``paw_r`` is the mouse's left (near) paw, which
  the note names by its fingertips ``*_l``.
- **The pupil's ``_r`` suffix is the same on every camera** (the eye the camera sees).
- **Tube and tongue names are identical** in IBL's table and ours, on both cameras (they are
  the network's names, unchanged by mirroring here and there).

The mapping, ours -> IBL's (``<p>`` is ``top``, ``right``, ``bottom``, ``left``; ``swap`` exchanges
``left`` and ``right``):

====================================  ==============================  =========================
IBL's point                           left camera (ours)              right camera (ours)
====================================  ==============================  =========================
``pupil_<p>_r``                       ``pupil_<p>_l``                 ``pupil_swap(<p>)_r``
``tube_top``, ``tube_bottom``         same name                       same name
``tongue_end_l``, ``tongue_end_r``    same name                       same name
``nose_tip``                          ``nostril_edge_high`` + ``nostril_edge_low`` (both cameras)
``paw_r`` (near paw)                  fingertips ``*_l``              fingertips ``*_r``
``paw_l`` (far paw)                   fingertips ``*_r``              fingertips ``*_l``
====================================  ==============================  =========================

Combined points (the likelihood rule):

- ``nose_tip`` is the midpoint of the two nostril edges and its likelihood is the *smaller* of
  theirs: a midpoint needs both edges, and IBL's readers (``likelihood_threshold`` at 0.9) then
  drop it whenever either edge is unsure, so the point never jumps by half a nostril when
  one edge drops out (IBL's sniff detection thresholds frame-to-frame jumps of ``nose_tip_y``).
  It lies on the nostril, a few pixels from where IBL's network puts the tip of the nose.
- ``paw_l`` / ``paw_r`` are the mean of that paw's fingertips whose likelihood is at least
  ``likelihood_threshold`` (default 0.9, IBL's threshold and our ``FeatureParams`` ``ibl``
  set), and the likelihood is the *largest* fingertip likelihood: the paw is seen when any
  fingertip is. When no fingertip reaches the threshold, the position is the mean of all
  fingertips (NaN-ignoring) and the likelihood, being below the threshold, tells IBL's readers
  to drop it. The mean of the fingertips lies a few pixels distal of the paw centre IBL's
  network was trained on.

Points with no IBL counterpart (``chin_l``, the anchor network's points, anything else) are
left out of :func:`to_ibl`'s result. :func:`from_ibl` renames the one-to-one points (pupil,
tube, tongue) to ours and keeps IBL-only points (``nose_tip``, ``paw_l``, ``paw_r``,
``tail_start`` of the body camera, ...) under IBL's names. The body camera has no mapping: its
names pass through unchanged both ways.

Examples
--------
>>> import numpy as np
>>> pts = {"pupil_right_r": np.zeros((2, 3)), "tube_top": np.ones((2, 3))}
>>> sorted(from_ibl(pts, "right"))
['pupil_left_r', 'tube_top']
>>> sorted(to_ibl(from_ibl(pts, "right"), "right"))
['pupil_right_r', 'tube_top']
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np

from pipeline.pose import ROLE_BODYPARTS, camera_point_name

__all__ = [
    "IBL_POINTS",
    "IBL_LIKELIHOOD_THRESHOLD",
    "combined_sources",
    "from_ibl",
    "one_to_one",
    "to_ibl",
]

#: IBL's point names in ``_ibl_<label>Camera.dlc.pqt`` (side cameras), in IBL's column order.
IBL_POINTS: tuple[str, ...] = (
    "pupil_top_r", "pupil_right_r", "pupil_bottom_r", "pupil_left_r",
    "nose_tip", "paw_l", "paw_r",
    "tube_top", "tube_bottom", "tongue_end_l", "tongue_end_r",
)  # fmt: skip

#: IBL's likelihood threshold (brainbox ``likelihood_threshold``), the default of :func:`to_ibl`.
IBL_LIKELIHOOD_THRESHOLD = 0.9

_SIDE_CAMERAS = ("left", "right")
_CAMERAS = ("left", "right", "body")


def _check_camera(camera_label: str) -> bool:
    """True for a side camera (mapped), False for the body camera (names pass through)."""
    if camera_label not in _CAMERAS:
        raise ValueError(f"unknown camera label {camera_label!r}; labels: {', '.join(_CAMERAS)}")
    return camera_label in _SIDE_CAMERAS


def _network_ibl_name(network_name: str) -> str:
    """IBL's name of a left-camera network body part (eye: ``pupil_<p>_l`` -> ``pupil_<p>_r``)."""
    if network_name.startswith("pupil_") and network_name.endswith("_l"):
        return network_name[:-2] + "_r"
    return network_name


def one_to_one(camera_label: str) -> dict[str, str]:
    """Our name -> IBL's name of the points that map one to one (pupil, tube, tongue).

    Derived from the networks' left-camera names (:data:`pipeline.pose.ROLE_BODYPARTS`):
    ours is :func:`pipeline.pose.camera_point_name` of the network's name on this camera, IBL's
    is the network's name with the eye's suffix ``_r`` (IBL keeps the network's names on the
    flipped right camera).

    Parameters
    ----------
    camera_label : {"left", "right", "body"}
        The body camera has none (empty mapping).
    """
    if not _check_camera(camera_label):
        return {}
    mirror = camera_label == "right"
    return {
        camera_point_name(n, mirror): _network_ibl_name(n)
        for role in ("eye", "tongue")
        for n in ROLE_BODYPARTS[role]
    }


def combined_sources(camera_label: str) -> dict[str, tuple[str, ...]]:
    """IBL's combined point -> our points it is made from, on one camera.

    ``nose_tip`` from the two nostril edges; ``paw_r`` (near paw) from the near paw's four
    fingertips, ``paw_l`` (far paw) from the far paw's. The body camera has none.
    """
    if not _check_camera(camera_label):
        return {}
    mirror = camera_label == "right"
    paws = ROLE_BODYPARTS["paws"]
    # the networks' near paw is "_l" (left-camera names); camera_point_name mirrors it
    near = tuple(camera_point_name(n, mirror) for n in paws if n.endswith("_l"))
    far = tuple(camera_point_name(n, mirror) for n in paws if n.endswith("_r"))
    return {
        "nose_tip": tuple(ROLE_BODYPARTS["nostril"]),
        "paw_l": far,
        "paw_r": near,
    }


def _as_points(points: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    n = None
    for name, a in points.items():
        a = np.asarray(a, dtype=np.float64)
        if a.ndim != 2 or a.shape[1] != 3:
            raise ValueError(
                f"point {name!r}: expected an (n, 3) array of x, y, likelihood, got shape {a.shape}"
            )
        if n is not None and a.shape[0] != n:
            raise ValueError(f"point {name!r} has {a.shape[0]} frames, the others {n}")
        n = a.shape[0]
        out[str(name)] = a
    return out


def _midpoint(parts: list[np.ndarray]) -> np.ndarray:
    """Mean position of all parts, likelihood the smallest (NaN when any is NaN)."""
    stack = np.stack(parts)  # (k, n, 3)
    out = np.empty(stack.shape[1:])
    out[:, :2] = stack[:, :, :2].mean(axis=0)
    out[:, 2] = stack[:, :, 2].min(axis=0)
    return out


def _paw(parts: list[np.ndarray], threshold: float) -> np.ndarray:
    """Mean of the confident fingertips (all of them when none is), likelihood the largest."""
    stack = np.stack(parts)  # (k, n, 3)
    lik = stack[:, :, 2]
    confident = lik >= threshold  # NaN likelihood is never confident
    any_conf = confident.any(axis=0)
    use = np.where(any_conf[None, :], confident, True)
    xy = np.where(use[:, :, None], stack[:, :, :2], np.nan)
    out = np.empty(stack.shape[1:])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)  # all-NaN frames stay NaN
        out[:, :2] = np.nanmean(xy, axis=0)
        out[:, 2] = np.nanmax(lik, axis=0)
    return out


def to_ibl(
    points: Mapping[str, np.ndarray],
    camera_label: str,
    *,
    likelihood_threshold: float = IBL_LIKELIHOOD_THRESHOLD,
) -> dict[str, np.ndarray]:
    """Our points (the note's names) as IBL's ``dlc.pqt`` points on one camera.

    Parameters
    ----------
    points : mapping of str to (n, 3) array_like
        Our body part name (as in ``DLCPose``) -> x, y (full-frame pixels) and likelihood per
        frame.
    camera_label : {"left", "right", "body"}
        The camera; the body camera's points pass through unchanged.
    likelihood_threshold : float
        A fingertip counts for its paw when its likelihood is at least this (see the module
        docstring); default IBL's 0.9.

    Returns
    -------
    dict of str to (n, 3) float64
        IBL's names in :data:`IBL_POINTS` order. A combined point is present when all its
        sources are (``nose_tip``: both nostril edges; a paw: its four fingertips); a
        one-to-one point when its source is. An IBL-only point already under its IBL name
        (``nose_tip``, ``paw_l``, ``paw_r`` of imported IBL pose, :func:`from_ibl`) is kept
        where it is not built from our points, so ``to_ibl(from_ibl(p))`` gives ``p`` back.
        Points with no IBL name are left out.

    Raises
    ------
    ValueError
        Unknown camera label, an array that is not (n, 3), or arrays of different lengths
        (naming the point).
    """
    pts = _as_points(points)
    if not _check_camera(camera_label):
        return pts
    out: dict[str, np.ndarray] = {}
    for ours, ibl in one_to_one(camera_label).items():
        if ours in pts:
            out[ibl] = pts[ours].copy()
    for ibl, sources in combined_sources(camera_label).items():
        if all(s in pts for s in sources):
            parts = [pts[s] for s in sources]
            out[ibl] = _midpoint(parts) if ibl == "nose_tip" else _paw(parts, likelihood_threshold)
    for ibl in IBL_POINTS:
        if ibl not in out and ibl in pts:
            out[ibl] = pts[ibl].copy()
    return {p: out[p] for p in IBL_POINTS if p in out}


def from_ibl(points: Mapping[str, np.ndarray], camera_label: str) -> dict[str, np.ndarray]:
    """IBL's ``dlc.pqt`` points of one camera under our names where the mapping is one to one.

    Pupil, tube and tongue points are renamed to ours (on the right camera the pupil's
    ``right``/``left`` swap, see the module docstring); IBL-only points (``nose_tip``,
    ``paw_l``, ``paw_r``, the body camera's ``tail_start``, any other) keep IBL's names.

    Parameters
    ----------
    points : mapping of str to (n, 3) array_like
        IBL's point name -> x, y (pixels of the camera's own frame) and likelihood per frame
        (e.g. :func:`pipeline.io.dlc.read_alf_dlc` of IBL's file).
    camera_label : {"left", "right", "body"}

    Returns
    -------
    dict of str to (n, 3) float64

    Raises
    ------
    ValueError
        Unknown camera label, an array that is not (n, 3), arrays of different lengths, or
        two IBL points that would get one name (naming both).
    """
    pts = _as_points(points)
    if not _check_camera(camera_label):
        return pts
    back = {ibl: ours for ours, ibl in one_to_one(camera_label).items()}
    out: dict[str, np.ndarray] = {}
    came_from: dict[str, str] = {}
    for name, a in pts.items():
        ours = back.get(name, name)
        if ours in out:
            raise ValueError(
                f"{camera_label} camera: IBL points {came_from[ours]!r} and {name!r} would both be named {ours!r}"
            )
        out[ours] = a
        came_from[ours] = name
    return out
