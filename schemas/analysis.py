"""The analyst's API: pose and features of a session as arrays and tables, on the clock you ask.

Every function takes a *restriction*: a key dict (``{"subject": "KS023", "session_date":
"2025-01-31", "session_number": 1}``), a list of them, or any DataJoint query
(``Session & {...}``, ``DLCPose & {...}``); it is applied to the table the function reads
(with DataJoint's semantic matching on primary keys), and ``camera=`` narrows it to one
camera. Functions that need one row (one camera's pose or pupil, one session's licks) raise
``ValueError`` naming the rows that matched when there are none or several.

Clocks: frame times are stored on the camera's DAQ clock (``SyncPulses.clock``: FPGA on
recording rigs, Bpod on training rigs). ``clock="fpga"`` or ``"bpod"`` converts them with the
session's clock fit (``SyncPulses``: ``bpod = offset + (1 + drift_ppm * 1e-6) * fpga``);
``clock=None`` keeps the stored clock. Spike times of a Neuropixels recording are on the
FPGA clock, so an ephys analysis asks for ``clock="fpga"``.

Examples
--------
>>> import schemas; schemas.activate()                                   # doctest: +SKIP
>>> from schemas import analysis
>>> from schemas.session import Session
>>> session = Session & {"subject": "KS023", "session_date": "2025-01-31"}  # doctest: +SKIP
>>> pose = analysis.pose_dataframe(session, camera="left", clock="fpga")   # doctest: +SKIP
>>> pupil = analysis.feature_at(spike_times, session, "pupil_diameter_px",
...                             camera="left", clock="fpga")               # doctest: +SKIP
>>> licks = analysis.lick_times(session, clock="fpga")                    # doctest: +SKIP
>>> psth = analysis.peri_event_rate(spike_times, licks, window=(-0.5, 1.0), bin_s=0.02)  # doctest: +SKIP

The array helpers (:func:`peri_event`, :func:`peri_event_rate`, :func:`interpolate_at`,
:func:`bin_mean`, :func:`bin_counts`, :func:`nan_corrcoef`, :func:`regular_grid`) are those
of :mod:`pipeline.analysis`, re-exported here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datajoint as dj
import numpy as np

from pipeline.analysis import (
    CLOCKS,
    PeriEvent,
    bin_counts,
    bin_mean,
    convert_clock,
    interpolate_at,
    nan_corrcoef,
    peri_event,
    peri_event_rate,
    pose_frame,
    regular_grid,
)
from pipeline.features import merge_camera_licks
from pipeline.rigs import TRACKED_POINTS
from schemas.features import FeatureParams, LickEvents, PupilDiameter
from schemas.pose import CropROI, DLCPose, pose_arrays
from schemas.session import Session, session_name
from schemas.sync import SyncPulses

__all__ = [
    "FEATURES",
    "PeriEvent",
    "bin_counts",
    "bin_mean",
    "clock_fit",
    "feature_at",
    "feature_trace",
    "frame_times",
    "interpolate_at",
    "lick_times",
    "nan_corrcoef",
    "one_key",
    "peri_event",
    "peri_event_rate",
    "plot_peri_event",
    "plot_session",
    "pose_dataframe",
    "regular_grid",
    "session_key",
    "session_overview_data",
]

SESSION_KEY = ("subject", "session_date", "session_number")

#: Per-frame features by name: (table, attribute, description). Pose coordinates are
#: features too: ``<point>_x``, ``<point>_y`` (pixels) and ``<point>_likelihood``.
FEATURES: dict[str, tuple[str, str, str]] = {
    "pupil_diameter_px": ("PupilDiameter", "pupil_diameter_px", "smoothed pupil diameter, pixels"),
    "pupil_diameter_raw_px": (
        "PupilDiameter",
        "pupil_diameter_raw_px",
        "raw pupil diameter, pixels",
    ),
    "lick_contact": ("LickEvents", "contact", "per-frame tongue contact (0 or 1)"),
}


# --------------------------------------------------------------------------------------------
# Restrictions and keys
# --------------------------------------------------------------------------------------------


def _restrict(table, restriction: Any, camera: str | None = None):
    """``table & restriction`` (a query restricts by its primary key only) and the camera."""
    query = table() if isinstance(table, type) else table
    if restriction is not None:
        if isinstance(restriction, dj.expression.QueryExpression):
            restriction = restriction.proj()
        query = query & restriction
    if camera is not None:
        query = query & {"camera_label": camera}
    return query


def _describe(restriction: Any, camera: str | None) -> str:
    text = (
        restriction.__class__.__name__
        if isinstance(restriction, dj.expression.QueryExpression)
        else repr(restriction)
    )
    return f"{text}" + (f", camera {camera!r}" if camera else "")


def _key_text(key: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in key.items())


def one_key(table, restriction: Any, camera: str | None = None, *, what: str | None = None) -> dict:
    """The primary key of the one row of ``table`` that the restriction (and camera) select.

    Raises
    ------
    ValueError
        If no row or several rows match; the message lists up to five of them and says how
        to narrow the restriction.
    """
    keys = _restrict(table, restriction, camera).proj().to_dicts()
    name = what or getattr(table, "__name__", type(table).__name__)
    if len(keys) == 1:
        return keys[0]
    if not keys:
        raise ValueError(f"no {name} row matches {_describe(restriction, camera)}")
    shown = "; ".join(_key_text(k) for k in keys[:5]) + (" ..." if len(keys) > 5 else "")
    raise ValueError(
        f"{len(keys)} {name} rows match {_describe(restriction, camera)}: {shown}. "
        f"Restrict to one (camera=..., or a key with the differing attributes)"
    )


def session_key(restriction: Any) -> dict:
    """The key (subject, session_date, session_number) of the one session the restriction selects."""
    keys = _restrict(Session, restriction).proj().to_dicts()
    if len(keys) != 1:
        shown = "; ".join(session_name(k) for k in keys[:5])
        raise ValueError(
            f"{len(keys)} sessions match {_describe(restriction, None)}"
            + (f": {shown}" if shown else "")
            + "; restrict to one session"
        )
    return keys[0]


# --------------------------------------------------------------------------------------------
# Clocks and frame times
# --------------------------------------------------------------------------------------------


def clock_fit(restriction: Any) -> tuple[float, float] | None:
    """The session's FPGA-Bpod clock fit ``(offset_s, drift_ppm)``, or None (training rigs).

    ``bpod = offset_s + (1 + drift_ppm * 1e-6) * fpga``, from the ``SyncPulses`` row of the
    session with the most trial-onset pulses in its fit.
    """
    skey = session_key(restriction)
    rows = (
        (SyncPulses & skey).proj("clock_offset_s", "clock_drift_ppm", "n_clock_points").to_dicts()
    )
    rows = [r for r in rows if r["clock_offset_s"] is not None and r["clock_drift_ppm"] is not None]
    if not rows:
        return None
    best = max(rows, key=lambda r: r["n_clock_points"] or 0)
    return float(best["clock_offset_s"]), float(best["clock_drift_ppm"])


def _to_clock(times: np.ndarray, native: str, clock: str | None, key: dict) -> np.ndarray:
    if clock is None or clock == native:
        return np.asarray(times, dtype=np.float64)
    if clock not in CLOCKS:
        raise ValueError(f"clock must be one of {CLOCKS} or None, got {clock!r}")
    fit = clock_fit({k: key[k] for k in SESSION_KEY})
    if fit is None:
        raise ValueError(
            f"session {session_name(key)} has no FPGA-Bpod clock fit (a training rig has only the Bpod clock); "
            f"its times are on the {native} clock"
        )
    return convert_clock(times, native, clock, *fit)


def frame_times(
    restriction: Any, clock: str | None = None, *, camera: str | None = None
) -> np.ndarray:
    """``(n_frames,)`` frame times of one camera recording, seconds on ``clock``.

    Parameters
    ----------
    restriction : dict, list or query
        Selects one ``SyncPulses`` row (with ``camera``).
    clock : {"fpga", "bpod"}, optional
        Default: the clock they are stored on.
    camera : str, optional
        Camera label.
    """
    key = one_key(SyncPulses, restriction, camera)
    times, native = (SyncPulses & key).fetch1("frame_times", "clock")
    return _to_clock(np.asarray(times), native, clock, key)


# --------------------------------------------------------------------------------------------
# Pose and features
# --------------------------------------------------------------------------------------------


def pose_dataframe(restriction: Any, clock: str | None = None, *, camera: str | None = None):
    """One camera's pose as IBL's ``dlc`` table, indexed by frame time.

    Parameters
    ----------
    restriction : dict, list or query
        Selects one ``DLCPose`` row (one camera, one pose run) together with ``camera``.
    clock : {"fpga", "bpod"}, optional
        Clock of the index; default the recording's own (``SyncPulses.clock``).
    camera : str, optional
        Camera label (``left``, ``right``).

    Returns
    -------
    pandas.DataFrame
        One row per video frame, index ``times`` (seconds on ``clock``), columns
        ``<point>_x``, ``<point>_y`` (full-frame pixels), ``<point>_likelihood`` in IBL's
        point order; ``df.attrs`` holds ``key`` and ``clock``.

    Raises
    ------
    ValueError
        If no pose or several pose rows match, or the pose and frame-time counts differ.

    Examples
    --------
    >>> df = pose_dataframe(Session & {"subject": "KS023"}, camera="left", clock="fpga")  # doctest: +SKIP
    >>> df["pupil_top_l_x"].loc[10.0:11.0]                                              # doctest: +SKIP
    """
    key = one_key(DLCPose, restriction, camera)
    points = pose_arrays(key)
    times, native = (SyncPulses & key).fetch1("frame_times", "clock")
    times = np.asarray(times)
    n = len(next(iter(points.values()))) if points else 0
    if n != len(times):
        raise ValueError(
            f"{session_name(key)} {key['camera_label']} camera: pose has {n} frames but SyncPulses has {len(times)} frame times"
        )
    df = pose_frame(points, _to_clock(times, native, clock, key), order=TRACKED_POINTS)
    df.attrs.update(key={k: str(v) for k, v in key.items()}, clock=clock or native)
    return df


def _check_feature(feature: str) -> None:
    if feature in FEATURES:
        return
    for suffix in ("_x", "_y", "_likelihood"):
        if feature.endswith(suffix):
            return
    raise ValueError(
        f"unknown feature {feature!r}: use one of {', '.join(FEATURES)} or <point>_x / _y / _likelihood"
    )


def feature_trace(
    restriction: Any,
    feature: str = "pupil_diameter_px",
    clock: str | None = None,
    *,
    camera: str | None = None,
    feature_params: str = "ibl",
) -> tuple[np.ndarray, np.ndarray]:
    """A per-frame feature of one camera and its frame times.

    Parameters
    ----------
    restriction : dict, list or query
        Selects one camera's row of the feature's table (with ``camera``).
    feature : str
        ``pupil_diameter_px`` (smoothed), ``pupil_diameter_raw_px``, ``lick_contact``
        (0/1 per frame), or a pose coordinate ``<point>_x`` / ``_y`` / ``_likelihood``.
    clock : {"fpga", "bpod"}, optional
        Clock of the returned times; default the recording's own.
    camera : str, optional
        Camera label.
    feature_params : str
        The ``FeatureParams`` set of pupil and lick features.

    Returns
    -------
    times : (n,) float64
        Frame times, seconds on ``clock``.
    values : (n,) float64
        The feature per frame (NaN where unknown).
    """
    _check_feature(feature)
    if feature in FEATURES:
        table_name, attribute, _ = FEATURES[feature]
        table = PupilDiameter if table_name == "PupilDiameter" else LickEvents
        key = one_key(
            table,
            _restrict(table, restriction) & {"feature_params": feature_params},
            camera,
            what=table_name,
        )
        values = np.asarray((table & key).fetch1(attribute), dtype=np.float64)
    else:
        part, coord = (
            feature.rsplit("_", 1)
            if not feature.endswith("_likelihood")
            else (feature[: -len("_likelihood")], "likelihood")
        )
        key = one_key(DLCPose, restriction, camera)
        rows = (DLCPose.BodyPart & key & {"body_part": part}).to_dicts()
        if not rows:
            have = ", ".join(sorted((DLCPose.BodyPart & key).to_arrays("body_part")))
            raise ValueError(
                f"{session_name(key)} {key['camera_label']} camera has no point {part!r} (points: {have})"
            )
        values = np.asarray(rows[0]["pose"], dtype=np.float64)[
            :, {"x": 0, "y": 1, "likelihood": 2}[coord]
        ]
    times, native = (SyncPulses & key).fetch1("frame_times", "clock")
    times = np.asarray(times)
    if len(times) != len(values):
        raise ValueError(
            f"{session_name(key)} {key['camera_label']} camera: {feature} has {len(values)} frames but {len(times)} frame times"
        )
    return _to_clock(times, native, clock, key), values


def feature_at(
    times: Any,
    restriction: Any,
    feature: str = "pupil_diameter_px",
    clock: str | None = None,
    *,
    camera: str | None = None,
    feature_params: str = "ibl",
    method: str = "linear",
) -> np.ndarray:
    """A per-frame feature at given times (spike times, a regular grid, trial events).

    Parameters
    ----------
    times : array_like
        Query times, seconds on ``clock`` (any shape).
    restriction, feature, camera, feature_params
        As in :func:`feature_trace`.
    clock : {"fpga", "bpod"}, optional
        Clock of ``times``; default the recording's own clock.
    method : {"linear", "nearest", "previous"}
        Interpolation between frames (:func:`pipeline.analysis.interpolate_at`); use
        ``"previous"`` for ``lick_contact``.

    Returns
    -------
    ndarray, float64
        ``times.shape``; NaN before the first frame, after the last, and between two frames
        of which one is NaN (no interpolation across gaps).

    Examples
    --------
    >>> grid = regular_grid(0, 60, rate_hz=10)                                    # doctest: +SKIP
    >>> pupil = feature_at(grid, session, "pupil_diameter_px", "fpga", camera="left")  # doctest: +SKIP
    """
    t, values = feature_trace(
        restriction, feature, clock, camera=camera, feature_params=feature_params
    )
    return interpolate_at(t, values, times, method=method)


def lick_times(
    restriction: Any, clock: str | None = None, *, feature_params: str = "ibl"
) -> np.ndarray:
    """Lick onsets of one session, side cameras merged without double counting.

    Parameters
    ----------
    restriction : dict, list or query
        Selects one session; it also restricts the ``LickEvents`` rows (e.g.
        ``DLCPose & {"pose_model_set": ...}`` picks one pose run when there are several).
    clock : {"fpga", "bpod"}, optional
        Clock of the result; default the one the licks were detected on.
    feature_params : str
        The ``FeatureParams`` set (lick method, merge tolerance).

    Returns
    -------
    (k,) float64
        Sorted onset times, seconds (empty if no camera has ``LickEvents``).

    Raises
    ------
    ValueError
        If the restriction selects several sessions, or several lick rows of one camera.

    Notes
    -----
    Cameras are merged highest frame rate first (:func:`pipeline.features.merge_camera_licks`
    keeps the first camera's time of a lick both saw), so the 150 Hz camera's finer onset
    wins. (``schemas.features.session_lick_times`` merges in camera-label order.)
    """
    skey = session_key(restriction)
    rows = (
        (_restrict(LickEvents, restriction) & skey & {"feature_params": feature_params})
        .proj("clock")
        .to_dicts()
    )
    if not rows:
        return np.zeros(0)
    by_camera: dict[str, list[dict]] = {}
    for r in rows:
        by_camera.setdefault(r["camera_label"], []).append(r)
    several = {c: len(v) for c, v in by_camera.items() if len(v) > 1}
    if several:
        raise ValueError(
            f"session {session_name(skey)} has several LickEvents rows per camera ({several}); restrict to one pose "
            f"run, e.g. DLCPose & {{'pose_model_set': ...}}"
        )
    params = FeatureParams.params({"feature_params": feature_params})
    onsets = []
    for r in rows:
        key = {k: v for k, v in r.items() if k != "clock"}
        fps = float((SyncPulses & key).fetch1("median_fps"))
        onsets.append(
            (
                -fps,
                r["camera_label"],
                np.asarray((LickEvents & key).fetch1("lick_onset_times"), dtype=np.float64),
            )
        )
    merged = np.zeros(0)
    for _, _, t in sorted(onsets, key=lambda x: (x[0], x[1])):
        merged = merge_camera_licks(merged, t, params.lick_merge_tolerance_s)
    return _to_clock(merged, rows[0]["clock"], clock, dict(skey))


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


def plot_session(
    restriction: Any,
    png: Path | str,
    *,
    feature_params: str = "ibl",
    frame_index: int | None = None,
) -> Path:
    """Overview figure of one session: tracked points and crop regions on a frame, pupil, licks, QC outcomes.

    Parameters
    ----------
    restriction : dict, list or query
        Selects one session.
    png : path
        The PNG to write.
    feature_params : str
        Feature parameter set of the pupil and lick traces.
    frame_index : int, optional
        Video frame to draw the points on (default: the middle frame).

    Returns
    -------
    Path
        ``png``.
    """
    from pipeline.plots_session import plot_session_overview

    return plot_session_overview(png, **session_overview_data(restriction, feature_params=feature_params,
                                                              frame_index=frame_index))  # fmt: skip


def session_overview_data(restriction: Any, *, feature_params: str = "ibl", frame_index: int | None = None) -> dict:
    """What :func:`plot_session` draws, read from the tables (and the frame from its video).

    The keyword arguments of :func:`pipeline.plots_session.plot_session_overview` but ``png``:
    the reading (database) and the drawing can happen apart, e.g. the web page draws outside
    its database lock. Parameters as :func:`plot_session`.
    """
    from pipeline import layout
    from pipeline.io.video import read_frames_at
    from schemas import config
    from schemas.compression import CompressedVideo
    from schemas.features import PoseQC
    from schemas.qc import CameraQC
    from schemas.session import CameraRecording

    skey = session_key(restriction)
    root = config.current().data_root
    views, pupils, licks, qc, rois = {}, {}, {}, {}, {}
    for pose_key in (DLCPose & skey).proj().to_dicts():
        label = pose_key["camera_label"]
        if label in views:
            continue
        # the autocrop boxes the pose was made in (the note's Figure 6)
        rois[label] = {r["region"]: (r["x"], r["y"], r["w"], r["h"]) for r in (CropROI.Region & pose_key).to_dicts()}
        points = pose_arrays(pose_key)
        n = len(next(iter(points.values())))
        i = n // 2 if frame_index is None else int(np.clip(frame_index, 0, n - 1))
        video = CompressedVideo & pose_key
        rel, width, height = (
            video.fetch1("compressed_video_path", "width", "height") if video
            else (CameraRecording & pose_key).fetch1("raw_video_path", "width", "height")
        )  # fmt: skip
        path = layout.resolve_under(root, rel)
        frame = (
            read_frames_at(path, int(width), int(height), np.array([i]))[0]
            if path.exists()
            else None
        )
        views[label] = (
            frame,
            {
                p: tuple(a[i, :2])
                for p, a in points.items()
                if a[i, 2] >= 0.9 and np.isfinite(a[i, :2]).all()
            },
            i,
        )
    for row in (PupilDiameter & skey & {"feature_params": feature_params}).proj().to_dicts():
        t, v = feature_trace(row, "pupil_diameter_px", feature_params=feature_params)
        _, raw = feature_trace(row, "pupil_diameter_raw_px", feature_params=feature_params)
        pupils.setdefault(row["camera_label"], (t, raw, v))
    for row in (LickEvents & skey & {"feature_params": feature_params}).proj().to_dicts():
        licks.setdefault(
            row["camera_label"], np.asarray((LickEvents & row).fetch1("lick_onset_times"))
        )
    if licks:
        licks["merged"] = lick_times(skey, feature_params=feature_params)
    for row in (CameraQC.Check & skey).proj("outcome").to_dicts():
        qc.setdefault(f"{row['camera_label']} camera", {})[row["check_name"]] = row["outcome"]
    for row in (PoseQC.Check & skey).proj("outcome").to_dicts():
        qc.setdefault(f"{row['camera_label']} pose", {})[row["check_name"]] = row["outcome"]
    clocks = sorted(set((SyncPulses & skey).to_arrays("clock")))
    return dict(views=views, pupil=pupils, licks=licks, qc=qc, clock="/".join(clocks) or "DAQ",
                title=f"{session_name(skey)}", rois=rois)  # fmt: skip


def plot_peri_event(
    restriction: Any,
    png: Path | str,
    *,
    feature: str = "pupil_diameter_px",
    events: Any = "licks",
    window: tuple[float, float] = (-1.0, 2.0),
    bin_s: float = 0.05,
    camera: str | None = None,
    clock: str | None = None,
    feature_params: str = "ibl",
) -> Path:
    """Peri-event figure: a feature (or the lick rate) around events, per event and averaged.

    Parameters
    ----------
    restriction : dict, list or query
        Selects one session (and, with ``camera``, the camera of the feature).
    png : path
        The PNG to write.
    feature : str
        A per-frame feature (:data:`FEATURES` or a pose coordinate), or ``"licks"`` for the lick
        rate (Hz).
    events : "licks" or array_like
        The events: the session's lick onsets, or times (seconds on ``clock``).
    window, bin_s
        Window around each event and bin width, seconds.
    camera : str, optional
        Camera of a per-frame feature.
    clock : {"fpga", "bpod"}, optional
        Clock of ``events`` given as times; default the recording's own.
    feature_params : str
        Feature parameter set.

    Returns
    -------
    Path
        ``png``.
    """
    from pipeline.plots_session import plot_peri_event as draw

    skey = session_key(restriction)
    if isinstance(events, str):
        if events != "licks":
            raise ValueError(f"events must be 'licks' or an array of times, got {events!r}")
        event_times, event_name = (
            lick_times(skey, clock, feature_params=feature_params),
            "lick onset",
        )
    else:
        event_times, event_name = np.asarray(events, dtype=np.float64), "event"
    if feature == "licks":
        result = peri_event_rate(
            lick_times(skey, clock, feature_params=feature_params), event_times, window, bin_s
        )
        ylabel = "lick rate (Hz)"
    else:
        t, v = feature_trace(_restrict(DLCPose, restriction) & skey, feature, clock, camera=camera,
                             feature_params=feature_params)  # fmt: skip
        result = peri_event(t, v, event_times, window, bin_s)
        ylabel = FEATURES.get(feature, ("", "", feature))[2]
    return draw(png, result.values, result.time_axis, ylabel=ylabel, event_name=event_name,
                title=f"{session_name(skey)}: {feature} around {event_name}s (n={len(event_times)})")  # fmt: skip
