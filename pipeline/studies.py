"""The design note's measurements, computed from arrays: frame jitter (Figure 2) and file
size per hour (Table 1).

Pure computation: no database, no files. :mod:`schemas.studies` gathers the inputs from the
``SyncPulses`` and ``CompressedVideo`` tables; ``ibl-video study jitter|sizes`` writes the
results; :func:`pipeline.plots.plot_jitter` draws Figure 2.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from pipeline.sync import frame_interval_stats, usable_intervals

__all__ = ["SIZE_COLUMNS", "FrameJitter", "file_size_table", "frame_jitter"]

BYTES_PER_MB = 1e6


@dataclass(frozen=True)
class FrameJitter:
    """Frame-to-frame interval statistics of one camera recording.

    Attributes
    ----------
    jitter_us : float
        Standard deviation of the frame-to-frame interval, microseconds (NaN with fewer than
        2 intervals).
    n_intervals : int
        Intervals used: both frames measured (not extrapolated or filled), and not spanning a
        dropped frame (within 0.5-1.5 median intervals).
    n_excluded : int
        Intervals left out (``n_frames - 1 - n_intervals``).
    n_extrapolated : int
        Frames whose time was extrapolated or filled, not measured.
    median_fps : float
        ``1 / median interval`` of the intervals used, frames/s.
    nominal_fps : float
        The camera's configured frame rate, frames/s.
    deviations_us : (n_intervals,) float64
        Each interval used minus the nominal period ``1 / nominal_fps``, microseconds (the
        histogram of the note's Figure 2).
    """

    jitter_us: float
    n_intervals: int
    n_excluded: int
    n_extrapolated: int
    median_fps: float
    nominal_fps: float
    deviations_us: np.ndarray


def frame_jitter(frame_times_s, is_extrapolated, nominal_fps: float) -> FrameJitter:
    """Jitter of a camera from its frame times, measured frames only.

    The jitter is :func:`pipeline.sync.frame_interval_stats` on the frames whose time is a
    measured pulse: a time extrapolated beyond the pulse train or filled into a gap (missed
    DAQ pulses, the Bpod's inter-trial gaps) sits at the median rate and has no jitter, so
    keeping it would lower the figure. (``SyncPulses.jitter_us`` is computed over every
    frame, filled ones included.)

    Parameters
    ----------
    frame_times_s : (n_frames,) float
        Frame times, seconds on the DAQ clock, increasing.
    is_extrapolated : (n_frames,) bool
        True where the time was extrapolated or filled, not measured.
    nominal_fps : float
        Configured frame rate, frames/s (> 0): the histogram's zero is ``1 / nominal_fps``.

    Returns
    -------
    FrameJitter

    Raises
    ------
    ValueError
        If the arrays are not 1-D of equal length, or ``nominal_fps`` is not positive.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> t = np.arange(100_000) / 60 + rng.normal(0, 100e-6, 100_000)
    >>> round(frame_jitter(t, np.zeros(t.size, bool), 60.0).jitter_us / np.sqrt(2))
    100
    """
    t = np.asarray(frame_times_s, dtype=np.float64)
    extrapolated = np.asarray(is_extrapolated, dtype=bool)
    if t.ndim != 1 or extrapolated.ndim != 1:
        raise ValueError(f"frame times and is_extrapolated must be 1-D, got shapes {t.shape} and {extrapolated.shape}")
    if t.size != extrapolated.size:
        raise ValueError(f"{t.size} frame times but {extrapolated.size} is_extrapolated flags")
    if not np.isfinite(nominal_fps) or nominal_fps <= 0:
        raise ValueError(f"nominal frame rate must be a positive number of frames/s, got {nominal_fps}")
    measured = ~extrapolated
    stats = frame_interval_stats(t, valid=measured)
    intervals, used = usable_intervals(t, valid=measured)
    n_used = int(used.sum()) if np.isfinite(stats.median_fps) else 0
    deviations = (intervals[used] - 1.0 / nominal_fps) * 1e6 if n_used else np.zeros(0)
    return FrameJitter(
        jitter_us=stats.jitter_us,
        n_intervals=n_used,
        n_excluded=int(max(t.size - 1, 0) - n_used),
        n_extrapolated=int(extrapolated.sum()),
        median_fps=stats.median_fps,
        nominal_fps=float(nominal_fps),
        deviations_us=deviations,
    )


#: Columns of :func:`file_size_table`'s result.
SIZE_COLUMNS: tuple[str, ...] = (
    "rig_type", "camera_label", "compression_params", "crf", "video_codec", "width", "height", "fps",
    "n_recordings", "hours", "mb_per_hour", "clips_mb_per_hour", "total_mb_per_hour",
    "scaled_mb_per_hour", "note_mb_per_hour",
)  # fmt: skip

#: ``camera_label`` of a rig's total row in :func:`file_size_table`.
RIG_TOTAL = "all"

_INPUT_COLUMNS = ("rig_type", "camera_label", "compression_params", "crf", "video_codec", "width", "height", "fps",
                  "duration_s", "file_size", "clips_size")  # fmt: skip


def file_size_table(
    videos,
    *,
    reference_width: int,
    reference_height: int,
    reference_fps: float,
    note_camera_mb_per_hour: Mapping[int | None, float] | None = None,
    note_rig_mb_per_hour: Mapping[tuple[str, int | None], float] | None = None,
    order: Iterable[str] = (),
):
    """MB per hour of video per rig type, camera and parameter set, and per rig (Table 1).

    A video's MB per hour is its size (10^6 bytes) over its duration in hours; videos of one
    group are pooled (total size over total hours). ``scaled_mb_per_hour`` rescales each video
    to the reference format before pooling, assuming the size is proportional to pixels per
    frame times frames per second (the note: "size scales about linearly with pixels and
    frame rate"): ``mb_per_hour * (W_ref * H_ref * fps_ref) / (W * H * fps)``.

    Parameters
    ----------
    videos : pandas.DataFrame
        One row per video: ``rig_type``, ``camera_label``, ``compression_params`` (a raw
        video: any name, e.g. ``raw``), ``crf`` (NaN for a raw video), ``video_codec``,
        ``width``, ``height`` (pixels), ``fps`` (frames/s), ``duration_s`` (s), ``file_size``
        (bytes), ``clips_size`` (bytes of the training clips kept with this encode; 0 if none).
    reference_width, reference_height : int
        Frame size the sizes are scaled to, pixels (the note's 944x956).
    reference_fps : float
        Frame rate they are scaled to, frames/s (the note's 150).
    note_camera_mb_per_hour : mapping, optional
        The note's MB per hour of one camera in the reference format, by crf (``None``: the
        uncompressed video); set beside a camera row of that crf (``None``: beside raw rows).
    note_rig_mb_per_hour : mapping, optional
        The note's MB per hour of a whole rig, by ``(rig_type, crf)``; set beside that rig's
        total row for the parameter set of that crf.
    order : iterable of str
        Camera labels in the order rows should list them (others after, by name).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`SIZE_COLUMNS`. One row per rig type, camera, parameter set, codec and
        format (``width``, ``height``, ``fps``), then per rig type and parameter set a total
        row (``camera_label`` ``"all"``): the sum over the rig's cameras of each camera's
        pooled MB per hour (no format, no scaled value). ``total_mb_per_hour`` is
        ``mb_per_hour + clips_mb_per_hour``; ``note_mb_per_hour`` is NaN where the note has no
        figure.

    Raises
    ------
    ValueError
        If a column is missing, a duration or frame size is not positive, or a size is negative.
    """
    import pandas as pd

    missing = [c for c in _INPUT_COLUMNS if c not in videos.columns]
    if missing:
        raise ValueError(f"video table lacks columns {missing}")
    if not (reference_width > 0 and reference_height > 0 and reference_fps > 0):
        raise ValueError(f"reference format must be positive, got {reference_width}x{reference_height} at {reference_fps} Hz")
    v = videos.loc[:, list(_INPUT_COLUMNS)].copy()
    v["clips_size"] = v["clips_size"].fillna(0)
    for col in ("duration_s", "width", "height", "fps"):
        bad = ~(v[col].astype(float) > 0)
        if bad.any():
            raise ValueError(f"{int(bad.sum())} video(s) with a non-positive {col}: {v.loc[bad, ['rig_type', 'camera_label', 'compression_params']].to_dict('records')}")
    if (v["file_size"] < 0).any() or (v["clips_size"] < 0).any():
        raise ValueError("negative file sizes in the video table")
    v["hours"] = v["duration_s"].astype(float) / 3600.0
    v["mb"] = v["file_size"].astype(float) / BYTES_PER_MB
    v["clips_mb"] = v["clips_size"].astype(float) / BYTES_PER_MB
    scale = (reference_width * reference_height * reference_fps) / (v["width"] * v["height"] * v["fps"]).astype(float)
    v["scaled_mb"] = v["mb"] * scale
    v["crf_key"] = v["crf"].astype(object).where(v["crf"].notna(), None)
    note_camera = dict(note_camera_mb_per_hour or {})
    note_rig = dict(note_rig_mb_per_hour or {})

    def crf_of(value):
        return None if value is None or (isinstance(value, float) and np.isnan(value)) else int(value)

    rows = []
    group_cols = ["rig_type", "camera_label", "compression_params", "video_codec", "width", "height", "fps"]
    for (rig, cam, params, codec, w, h, fps), g in v.groupby(group_cols, sort=False, dropna=False):
        hours = g["hours"].sum()
        crf = crf_of(g["crf_key"].iloc[0])
        rows.append(dict(
            rig_type=rig, camera_label=cam, compression_params=params, crf=crf, video_codec=codec,
            width=int(w), height=int(h), fps=float(fps), n_recordings=len(g), hours=hours,
            mb_per_hour=g["mb"].sum() / hours, clips_mb_per_hour=g["clips_mb"].sum() / hours,
            scaled_mb_per_hour=g["scaled_mb"].sum() / hours, note_mb_per_hour=note_camera.get(crf, np.nan),
        ))  # fmt: skip
    for (rig, params), g in v.groupby(["rig_type", "compression_params"], sort=False):
        per_camera = g.groupby("camera_label").agg(mb=("mb", "sum"), clips_mb=("clips_mb", "sum"), hours=("hours", "sum"))
        crf = crf_of(g["crf_key"].iloc[0])
        rows.append(dict(
            rig_type=rig, camera_label=RIG_TOTAL, compression_params=params, crf=crf,
            video_codec=",".join(sorted(set(g["video_codec"]))), width=None, height=None, fps=None,
            n_recordings=len(g), hours=g["hours"].sum(),
            mb_per_hour=float((per_camera["mb"] / per_camera["hours"]).sum()),
            clips_mb_per_hour=float((per_camera["clips_mb"] / per_camera["hours"]).sum()),
            scaled_mb_per_hour=np.nan, note_mb_per_hour=note_rig.get((rig, crf), np.nan),
        ))  # fmt: skip
    table = pd.DataFrame(rows, columns=[c for c in SIZE_COLUMNS if c != "total_mb_per_hour"])
    table["total_mb_per_hour"] = table["mb_per_hour"] + table["clips_mb_per_hour"]
    rank = {label: i for i, label in enumerate(order)}
    table["_cam"] = [len(rank) + 1 if c == RIG_TOTAL else rank.get(c, len(rank)) for c in table["camera_label"]]
    table["_crf"] = table["crf"].astype(float).fillna(-1.0)  # raw first
    table = table.sort_values(["rig_type", "_cam", "camera_label", "_crf", "compression_params"], kind="stable")
    table = table.drop(columns=["_cam", "_crf"]).reset_index(drop=True)
    table["crf"] = table["crf"].astype("Int64")
    for col in ("width", "height"):
        table[col] = table[col].astype("Int64")
    return table.loc[:, list(SIZE_COLUMNS)]
