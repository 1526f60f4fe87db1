"""The design note's measurements, computed from arrays: frame jitter (Figure 2), file
size per hour (Table 1), and per-point train and test error over random splits (Figure 5).

Jitter and sizes are pure computation (no database, no files): :mod:`schemas.studies`
gathers the inputs from the ``SyncPulses`` and ``CompressedVideo`` tables. The keypoint
study (:func:`keypoint_study`) trains networks with :mod:`pipeline.training` and reads
DeepLabCut's evaluation files (:mod:`pipeline.io.dlc`); :func:`point_errors` and the tables
are pure. ``ibl-video study jitter|sizes|keypoints`` writes the results;
:mod:`pipeline.plots` draws the figures.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from pipeline.sync import frame_interval_stats, usable_intervals

__all__ = [
    "ALL_POINTS", "KEYPOINT_COLUMNS", "KEYPOINT_SPLIT_COLUMNS", "SIZE_COLUMNS", "FrameJitter", "SplitErrors",
    "file_size_table", "frame_jitter", "keypoint_error_table", "keypoint_split_table", "keypoint_study",
    "point_errors", "split_errors",
]  # fmt: skip

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


# --------------------------------------------------------------------------------------
# per-point train and test error over random splits (the note's Figure 5)


def point_errors(labels, predictions) -> tuple[np.ndarray, np.ndarray, float]:
    """Mean distance between prediction and label per body part, and over every labelled point.

    This is DeepLabCut's error (``evaluate_network``; it calls it RMSE): per body part, the
    mean Euclidean distance over the frames in which the point is labelled; over all points,
    the sum of every labelled point's distance over their number, i.e. the mean of the body
    parts' errors weighted by their label counts.

    Parameters
    ----------
    labels : (n, k, 2) float
        x, y per frame and body part, pixels; NaN where not labelled.
    predictions : (n, k, 2) or (n, k, 3) float
        The network's x, y (and likelihood, ignored) on the same frames, pixels.

    Returns
    -------
    errors : (k,) float64
        Per body part, pixels; NaN where it has no label.
    counts : (k,) int
        Labelled frames per body part.
    overall : float
        Over every labelled point, pixels (NaN without any).

    Raises
    ------
    ValueError
        If the shapes do not match.

    Examples
    --------
    >>> labels = np.array([[[0.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [np.nan, np.nan]]])
    >>> errors, counts, overall = point_errors(labels, labels + [3.0, 4.0])
    >>> errors.tolist(), counts.tolist(), overall
    ([5.0, 5.0], [2, 1], 5.0)
    """
    lab = np.asarray(labels, dtype=np.float64)
    pred = np.asarray(predictions, dtype=np.float64)
    if lab.ndim != 3 or lab.shape[2] != 2 or pred.ndim != 3 or pred.shape[:2] != lab.shape[:2] or pred.shape[2] < 2:
        raise ValueError(f"labels must be (n, k, 2) and predictions (n, k, 2|3) of the same n, k; got {lab.shape} and {pred.shape}")
    labelled = np.isfinite(lab).all(axis=2)
    dist = np.hypot(*(pred[..., :2] - lab).transpose(2, 0, 1))
    dist = np.where(labelled, dist, np.nan)
    counts = labelled.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        errors = np.where(counts > 0, np.nansum(dist, axis=0) / counts, np.nan)
    total = int(counts.sum())
    overall = float(np.nansum(dist) / total) if total else float("nan")
    return errors, counts.astype(int), overall


@dataclass(frozen=True)
class SplitErrors:
    """Train and test error of one network trained on one random train/test split.

    Attributes
    ----------
    group : str
        What the network tracks (e.g. its pose role, or the project's name).
    split : int
        The split's number; the seed of the split and of the network's initialisation.
    bodyparts : tuple of str
    train_error_px, test_error_px : (k,) float64
        Per body part (:func:`point_errors` from the network's predictions), pixels.
    n_train_labels, n_test_labels : (k,) int
        Labelled frames per body part in each split.
    train_overall_px, test_overall_px : float
        Over every labelled point of the split, pixels.
    dlc_train_error_px, dlc_test_error_px : (k,) float64
        DeepLabCut's own per-body-part figures (``-keypoint-results.csv``), pixels.
    dlc_train_overall_px, dlc_test_overall_px : float
        DeepLabCut's own overall figures (``train rmse``, ``test rmse``; it rounds them to 0.01 px).
    n_train, n_test : int
        Frames in each split.
    train_seconds : float
        Wall time of the network's training, s (the stored figure when it came from the cache).
    """

    group: str
    split: int
    bodyparts: tuple[str, ...]
    train_error_px: np.ndarray
    test_error_px: np.ndarray
    n_train_labels: np.ndarray
    n_test_labels: np.ndarray
    train_overall_px: float
    test_overall_px: float
    dlc_train_error_px: np.ndarray
    dlc_test_error_px: np.ndarray
    dlc_train_overall_px: float
    dlc_test_overall_px: float
    n_train: int
    n_test: int
    train_seconds: float


#: The ``body_part`` of the rows over every labelled point in the keypoint tables.
ALL_POINTS = "all points"

#: Columns of :func:`keypoint_split_table`.
KEYPOINT_SPLIT_COLUMNS: tuple[str, ...] = (
    "group", "split", "body_part", "n_train", "n_test", "n_train_labels", "n_test_labels",
    "train_error_px", "test_error_px", "dlc_train_error_px", "dlc_test_error_px", "train_seconds",
)  # fmt: skip

#: Columns of :func:`keypoint_error_table`.
KEYPOINT_COLUMNS: tuple[str, ...] = (
    "group", "body_part", "n_splits", "n_train_labels", "n_test_labels",
    "train_error_px", "train_sd_px", "train_min_px", "train_max_px",
    "test_error_px", "test_sd_px", "test_min_px", "test_max_px",
)  # fmt: skip


def keypoint_split_table(splits) -> object:
    """One row per split and body part, and per split a row over every labelled point.

    Parameters
    ----------
    splits : iterable of SplitErrors

    Returns
    -------
    pandas.DataFrame
        Columns :data:`KEYPOINT_SPLIT_COLUMNS`. The row of body part :data:`ALL_POINTS` has
        the split's overall errors (ours in ``train_error_px``/``test_error_px``,
        DeepLabCut's rounded ones beside them) and the label counts summed.
    """
    import pandas as pd

    rows = []
    for s in splits:
        common = dict(group=s.group, split=int(s.split), n_train=int(s.n_train), n_test=int(s.n_test),
                      train_seconds=float(s.train_seconds))  # fmt: skip
        for j, bp in enumerate(s.bodyparts):
            rows.append(dict(common, body_part=bp, n_train_labels=int(s.n_train_labels[j]), n_test_labels=int(s.n_test_labels[j]),
                             train_error_px=float(s.train_error_px[j]), test_error_px=float(s.test_error_px[j]),
                             dlc_train_error_px=float(s.dlc_train_error_px[j]), dlc_test_error_px=float(s.dlc_test_error_px[j])))  # fmt: skip
        rows.append(dict(common, body_part=ALL_POINTS, n_train_labels=int(np.sum(s.n_train_labels)),
                         n_test_labels=int(np.sum(s.n_test_labels)), train_error_px=float(s.train_overall_px),
                         test_error_px=float(s.test_overall_px), dlc_train_error_px=float(s.dlc_train_overall_px),
                         dlc_test_error_px=float(s.dlc_test_overall_px)))  # fmt: skip
    return pd.DataFrame(rows, columns=list(KEYPOINT_SPLIT_COLUMNS))


def keypoint_error_table(splits) -> object:
    """Per body part, the train and test error over random splits: mean, spread, range (Figure 5).

    Parameters
    ----------
    splits : iterable of SplitErrors
        One per network (split), of one or more groups.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`KEYPOINT_COLUMNS`: one row per group and body part (in the networks'
        order), then per group a row :data:`ALL_POINTS` of the overall errors. ``*_error_px``
        is the mean over the splits, ``*_sd_px`` their standard deviation (``ddof=1``; NaN
        with one split), ``*_min_px``/``*_max_px`` their range; ``n_*_labels`` are the label
        counts summed over the splits. A split without a label of a point does not count
        for it (``n_splits`` counts those that do, on the test side).

    Raises
    ------
    ValueError
        If there is no split.
    """
    import pandas as pd

    long = keypoint_split_table(splits)
    if long.empty:
        raise ValueError("no splits to tabulate")

    def spread(values: pd.Series) -> dict:
        v = values.to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        if v.size == 0:
            return dict(mean=np.nan, sd=np.nan, lo=np.nan, hi=np.nan)
        return dict(mean=float(v.mean()), sd=float(v.std(ddof=1)) if v.size > 1 else np.nan,
                    lo=float(v.min()), hi=float(v.max()))  # fmt: skip

    rows = []
    for (group, bp), g in long.groupby(["group", "body_part"], sort=False):
        tr, te = spread(g["train_error_px"]), spread(g["test_error_px"])
        rows.append(dict(
            group=group, body_part=bp, n_splits=int(np.isfinite(g["test_error_px"].to_numpy(dtype=float)).sum()),
            n_train_labels=int(g["n_train_labels"].sum()), n_test_labels=int(g["n_test_labels"].sum()),
            train_error_px=tr["mean"], train_sd_px=tr["sd"], train_min_px=tr["lo"], train_max_px=tr["hi"],
            test_error_px=te["mean"], test_sd_px=te["sd"], test_min_px=te["lo"], test_max_px=te["hi"],
        ))  # fmt: skip
    table = pd.DataFrame(rows, columns=list(KEYPOINT_COLUMNS))
    groups = {g: i for i, g in enumerate(dict.fromkeys(table["group"]))}
    table["_g"] = table["group"].map(groups)
    table["_all"] = table["body_part"] == ALL_POINTS
    return table.sort_values(["_g", "_all"], kind="stable").drop(columns=["_g", "_all"]).reset_index(drop=True)


def split_errors(info, group: str, split: int) -> SplitErrors:
    """The errors of one trained and evaluated network, from DeepLabCut's files.

    Our per-body-part and overall figures are :func:`point_errors` of the predictions
    ``evaluate_network`` stored for the snapshot against the project's labels, on the
    split's train and test frames (DeepLabCut's record of the split); DeepLabCut's own
    figures are read beside them.

    Parameters
    ----------
    info : pipeline.training.ModelInfo
        A network :func:`pipeline.training.train_project` trained and evaluated.
    group : str
        What the network tracks (a role, a project name).
    split : int
        The split's number (its seed).

    Raises
    ------
    FileNotFoundError
        A file of DeepLabCut's evaluation missing (naming it).
    ValueError
        Predictions and labels that do not cover the same images or body parts.
    """
    from pipeline.io import dlc

    proj = dlc.read_project(info.project_dir)
    labelled = dlc.read_labelled_data(proj)
    images, predictions, bodyparts = dlc.read_evaluation_predictions(proj, 1, info.snapshot)
    if list(bodyparts) != list(labelled.bodyparts):
        raise ValueError(f"{proj.project_path}: predictions of body parts {list(bodyparts)}, labels of {list(labelled.bodyparts)}")
    row_of = {"/".join(k): i for i, k in enumerate(images)}
    label_of = {"/".join(k): i for i, k in enumerate(labelled.images)}
    split_images = dlc.read_split(proj, 1)
    per_part = dlc.read_keypoint_evaluation(proj, 1, info.snapshot)
    overall = dlc.read_evaluation(proj, 1)
    out = {}
    for side in ("train", "test"):
        names = split_images[f"{side}_images"]
        missing = [n for n in names if n not in row_of or n not in label_of]
        if missing:
            raise ValueError(f"{proj.project_path}: {len(missing)} {side} image(s) without a prediction or label, e.g. {missing[0]}")
        errors, counts, total = point_errors(labelled.labels[[label_of[n] for n in names]],
                                             predictions[[row_of[n] for n in names]])  # fmt: skip
        out[side] = (errors, counts, total, len(names))
    dlc_part = {side: np.array([per_part.get(bp, (np.nan, np.nan))[k] for bp in bodyparts], dtype=float)
                for k, side in enumerate(("train", "test"))}  # fmt: skip
    return SplitErrors(
        group=group, split=int(split), bodyparts=tuple(bodyparts),
        train_error_px=out["train"][0], test_error_px=out["test"][0],
        n_train_labels=out["train"][1], n_test_labels=out["test"][1],
        train_overall_px=out["train"][2], test_overall_px=out["test"][2],
        dlc_train_error_px=dlc_part["train"], dlc_test_error_px=dlc_part["test"],
        dlc_train_overall_px=float(overall["train_error_px"]), dlc_test_overall_px=float(overall["test_error_px"]),
        n_train=out["train"][3], n_test=out["test"][3], train_seconds=float(info.train_seconds),
    )  # fmt: skip


def keypoint_study(projects, *, n_splits: int = 4, train_fraction: float = 0.7, training=None,
                   net_type: str = "cspnext_s", device: str = "cpu", progress=True,
                   on_split=None) -> list[SplitErrors]:  # fmt: skip
    """Train and evaluate a fresh network on each of ``n_splits`` random splits of each project.

    Split ``i`` is :func:`pipeline.training.train_project` with ``seed=i`` (a different
    random train/test split and initialisation each; cached by settings, so a rerun with the
    same settings trains nothing), then :func:`split_errors`. The note: 400 frames split
    280/120 over 4 splits, hence the defaults.

    Parameters
    ----------
    projects : sequence of (str, str, path)
        ``(group, role, project)``: a name for the table, the pose role passed to
        :func:`pipeline.training.train_project`, and the labelled DeepLabCut project.
    n_splits : int
        Splits (networks) per project, >= 1.
    train_fraction : float
        Fraction of the labelled frames each network trains on, in (0, 1).
    training : pipeline.training.NetworkTraining, optional
    net_type, device : str
    progress : bool or callable
        See :func:`pipeline.training.say`.
    on_split : callable, optional
        Called after each split (e.g. to advance a progress bar).

    Returns
    -------
    list of SplitErrors

    Raises
    ------
    FileNotFoundError, ValueError
        Bad projects or settings, refused before any training (naming the project).
    """
    from pipeline.training import NetworkTraining, project_settings, train_project

    if int(n_splits) < 1:
        raise ValueError(f"the number of splits must be >= 1, got {n_splits}")
    training = training or NetworkTraining()
    for _, role, project in projects:  # every project checked before anything trains
        project_settings(project, role, training, seed=0, net_type=net_type, train_fraction=train_fraction)
    out = []
    for group, role, project in projects:
        for split in range(int(n_splits)):
            info = train_project(project, role, training, seed=split, net_type=net_type, train_fraction=train_fraction,
                                 device=device, progress=progress)  # fmt: skip
            out.append(split_errors(info, group, split))
            if on_split is not None:
                on_split()
    return out
