"""Quality control of camera recordings and of pose, as pure functions (DESIGN.md section 4).

Each ``check_*`` function takes arrays (and expected values) and returns a :class:`QCResult`:
an outcome, one headline value and a few details. Outcomes are IBL's (``one.alf.spec.QC``),
ordered by severity ``NOT_SET < PASS < WARNING < FAIL < CRITICAL``; :func:`overall_outcome`
returns the worst, as IBL's ``QC.overall_outcome`` does (so NOT_SET never hides a result).

Camera checks follow ibllib's ``ibllib.qc.camera.CameraQC`` (thresholds included); pose checks
follow ``ibllib.qc.dlc.DlcQC``. Differences are listed in each docstring. Images are uint8
grey frames ``(k, h, w)`` (rows = y, columns = x); positions are pixels; times are seconds.
No OpenCV: the few image operations IBL takes from OpenCV (Laplacian, histogram equalisation,
template matching) are done here with NumPy, the last replaced by phase correlation.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "OUTCOMES",
    "POSE_BOX",
    "QCResult",
    "brightness_roi",
    "check_brightness",
    "check_camera_times",
    "check_dropped_frames",
    "check_file_headers",
    "check_focus",
    "check_framerate",
    "check_histogram",
    "check_lick_rate",
    "check_paws_nan",
    "check_pin_state",
    "check_points_in_box",
    "check_position",
    "check_pupil_blocked",
    "check_pupil_diameter_snr",
    "check_resolution",
    "check_time_trace_length_match",
    "check_timestamps",
    "check_tongue_hidden",
    "check_trace_all_nan",
    "equalize_hist",
    "highpass_mean",
    "histogram_correlation",
    "laplacian_variance",
    "overall_outcome",
    "phase_correlation_shift",
    "trial_window_mask",
]

#: Outcome names and their severity (IBL's ``one.alf.spec.QC`` values).
OUTCOMES: dict[str, int] = {"NOT_SET": 0, "PASS": 10, "WARNING": 30, "FAIL": 40, "CRITICAL": 50}

#: IBL's empirical boxes (``PoseQC.bbox``) the mean pose must fall in, per camera, as half-open
#: pixel ranges ``(x_min, x_max, y_min, y_max)``: ``x_min <= x < x_max`` (IBL tests
#: ``int(x) in range(x_min, x_max)``). In IBL's video coordinates; other rigs need their own.
POSE_BOX: dict[str, tuple[float, float, float, float]] = {
    "body": (201, 500, 81, 330),
    "left": (301, 700, 181, 470),
    "right": (301, 600, 110, 275),
}


@dataclass(frozen=True)
class QCResult:
    """Outcome of one QC check.

    Attributes
    ----------
    check : str
        Check name (e.g. ``"brightness"``), as IBL names its ``check_<name>`` metrics.
    outcome : str
        One of ``OUTCOMES``: ``"NOT_SET"``, ``"PASS"``, ``"WARNING"``, ``"FAIL"``,
        ``"CRITICAL"``.
    value : float, int, str or None
        The headline number of the check (its unit is in the check's docstring).
    details : dict
        Other numbers the outcome was decided on.
    """

    check: str
    outcome: str
    value: float | int | str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {list(OUTCOMES)}, got {self.outcome!r}")


def _outcome_name(x: Any) -> str | None:
    if x is None:
        return None
    if isinstance(x, QCResult):
        return x.outcome
    if isinstance(x, tuple) and x:  # IBL-style (outcome, value, ...)
        return _outcome_name(x[0])
    if isinstance(x, str):
        name = x.upper()
        if name not in OUTCOMES:
            raise ValueError(f"unknown QC outcome {x!r}; known: {list(OUTCOMES)}")
        return name
    if isinstance(x, float) and np.isnan(x):
        return None
    for name, sev in OUTCOMES.items():
        if x == sev:
            return name
    raise ValueError(f"unknown QC outcome {x!r}; known: {list(OUTCOMES)}")


def overall_outcome(outcomes: Iterable[Any]) -> str:
    """The worst of several outcomes (IBL's ``QC.overall_outcome`` with ``agg=max``).

    Parameters
    ----------
    outcomes : iterable of str, QCResult, int or None
        Outcome names (any case), :class:`QCResult` objects, IBL severity integers, or
        ``(outcome, ...)`` tuples. ``None`` and NaN are skipped.

    Returns
    -------
    str
        The most severe outcome; ``"NOT_SET"`` if there is none. Note ``NOT_SET`` ranks below
        ``PASS`` (IBL's order), so a skipped check never masks a pass or a failure.
    """
    names = [n for n in (_outcome_name(x) for x in outcomes) if n is not None]
    if not names:
        return "NOT_SET"
    return max(names, key=OUTCOMES.__getitem__)


def _graded(value: float, pass_below: float, warn_below: float) -> str:
    if value < pass_below:
        return "PASS"
    if value < warn_below:
        return "WARNING"
    return "FAIL"


def _frames(frames: Any, name: str = "frames") -> np.ndarray:
    f = np.asarray(frames)
    if f.ndim == 2:
        f = f[None]
    if f.ndim != 3:
        raise ValueError(f"{name} must be (k, h, w) grey frames, got shape {f.shape}")
    if f.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    return f


# --------------------------------------------------------------------------------------------
# Camera QC: files and timing
# --------------------------------------------------------------------------------------------


def brightness_roi(label: str, height: int, width: int) -> tuple[slice, slice]:
    """IBL's brightness region per camera: ``(rows, columns)`` slices of a frame.

    ``body``: right half; ``left``: top half, left two thirds; ``right``: top half, right third
    (IBL's ``check_brightness(roi=True)``).
    """
    if label == "body":
        return slice(None), slice(int(width / 2), None)
    if label == "left":
        return slice(None, int(height / 2)), slice(None, int(width * 0.66))
    if label == "right":
        return slice(None, int(height / 2)), slice(int(width * 0.66), None)
    raise ValueError(f"unknown camera label {label!r}; known: body, left, right")


def check_brightness(
    frames: Any,
    *,
    bounds: tuple[float, float] = (40.0, 200.0),
    max_std: float = 20.0,
    pct_pass: float = 0.75,
    roi: tuple[slice, slice] | None = None,
) -> QCResult:
    """Mean intensity of sampled frames within bounds (IBL's ``check_brightness``).

    PASS needs more than ``pct_pass`` of frames with ``bounds[0] < mean < bounds[1]``
    (otherwise WARNING); FAIL if at most ``pct_pass`` of frames are within twice the range
    ``(bounds[0] / 2, bounds[1] * 2)`` or the standard deviation of the frame means is at
    least ``max_std``.

    Parameters
    ----------
    frames : (k, h, w) array_like
        Sampled grey frames, 0-255.
    bounds : (float, float)
        Warning bounds of the mean intensity, grey levels.
    max_std : float
        Largest standard deviation of frame means, grey levels.
    pct_pass : float
        Fraction of frames that must be within bounds (IBL: 0.75).
    roi : (slice, slice), optional
        Region of each frame to average (:func:`brightness_roi` gives IBL's). Default: all.

    Returns
    -------
    QCResult
        ``value``: fraction of frames within ``bounds``; details: mean and std of the frame
        means (grey levels), fraction within twice the bounds.

    Notes
    -----
    IBL divides by the number of frames it meant to sample (``n_samples``), not the number it
    got; here the fraction is of the frames given.
    """
    f = _frames(frames)
    region = f if roi is None else f[(slice(None), *roi)]
    if region.size == 0:
        raise ValueError(f"roi {roi} selects no pixels of frames of shape {f.shape[1:]}")
    means = region.mean(axis=(1, 2), dtype=np.float64)
    k = means.size
    in_warn = np.mean((means > bounds[0]) & (means < bounds[1]))
    in_fail = np.mean((means > bounds[0] / 2) & (means < bounds[1] * 2))
    std = float(np.std(means))
    warn = "PASS" if in_warn > pct_pass else "WARNING"
    fail = "PASS" if (in_fail > pct_pass and std < max_std) else "FAIL"
    return QCResult(
        "brightness",
        overall_outcome([warn, fail]),
        float(in_warn),
        {"mean": float(means.mean()), "std": std, "fraction_within_2x": float(in_fail), "n": k},
    )


def check_file_headers(video_fps: float, expected_fps: float, *, tol_hz: float = 0.01) -> QCResult:
    """Frame rate written in the video file equals the camera's setting (IBL's
    ``check_file_headers``, which compares with ``==``; here within ``tol_hz``).

    ``value``: the file's frame rate, Hz.
    """
    if video_fps is None or not np.isfinite(video_fps):
        return QCResult("file_headers", "NOT_SET", None)
    ok = abs(float(video_fps) - float(expected_fps)) <= tol_hz
    return QCResult(
        "file_headers", "PASS" if ok else "FAIL", float(video_fps), {"expected": expected_fps}
    )


def check_framerate(
    frame_times_s: Any, expected_fps: float, *, threshold_hz: float = 1.0
) -> QCResult:
    """Frame rate from the frame times within ``threshold_hz`` of expected (IBL's
    ``check_framerate``: ``1 / median(diff(times))``; dropped frames do not move the median).

    Parameters
    ----------
    frame_times_s : (n,) array_like
        Frame times, seconds (any clock).
    expected_fps : float
        Camera setting, Hz.
    threshold_hz : float
        Largest allowed absolute difference, Hz (IBL: 1).

    Returns
    -------
    QCResult
        ``value``: measured frame rate, Hz. NOT_SET with fewer than 2 finite times.
    """
    t = np.asarray(frame_times_s, dtype=float).ravel()
    dt = np.diff(t)
    dt = dt[np.isfinite(dt)]
    if dt.size == 0:
        return QCResult("framerate", "NOT_SET", None, {"expected": expected_fps})
    med = float(np.median(dt))
    if med <= 0:
        return QCResult("framerate", "FAIL", float("nan"), {"median_interval_s": med})
    fs = 1.0 / med
    outcome = "PASS" if abs(fs - expected_fps) < threshold_hz else "FAIL"
    return QCResult("framerate", outcome, fs, {"expected": expected_fps})


def check_resolution(
    width: int, height: int, expected_width: int, expected_height: int
) -> QCResult:
    """Video resolution equals the camera's setting (IBL's ``check_resolution``).

    ``value``: ``"<width>x<height>"`` of the file, pixels.
    """
    ok = int(width) == int(expected_width) and int(height) == int(expected_height)
    return QCResult(
        "resolution",
        "PASS" if ok else "FAIL",
        f"{int(width)}x{int(height)}",
        {"expected": f"{int(expected_width)}x{int(expected_height)}"},
    )


def _size_outcome(size_diff: int) -> str:
    return "PASS" if size_diff == 0 else ("WARNING" if abs(size_diff) < 5 else "FAIL")


def check_dropped_frames(
    frame_counter: Any, n_video_frames: int, *, threshold_pct: float = 0.1
) -> QCResult:
    """Frames the camera dropped, from its embedded frame counter (IBL's
    ``check_dropped_frames``).

    Outcome: CRITICAL if the counter is not strictly increasing; otherwise the worse of
    (PASS if one counter value per video frame, WARNING if fewer than 5 off, else FAIL) and
    (PASS if the dropped percentage is below ``threshold_pct``, else FAIL).

    Parameters
    ----------
    frame_counter : (n,) array_like of int
        Embedded frame counter, one per saved frame (frameData column 3).
    n_video_frames : int
        Frames in the video file.
    threshold_pct : float
        Largest allowed percentage of dropped frames (IBL: 0.1 %).

    Returns
    -------
    QCResult
        ``value``: number of dropped frames; details: ``pct_dropped`` (percent of the
        exposures the counter spans), ``size_diff`` (counter values minus video frames).

    Notes
    -----
    IBL's percentage is dropped / (n - 1) (counter intervals); here it is dropped / exposures
    (``counter[-1] - counter[0] + 1``), the share of frames lost. They differ negligibly.
    """
    c = np.asarray(frame_counter).astype(np.int64).ravel()
    if c.size == 0:
        return QCResult("dropped_frames", "NOT_SET", None)
    size_diff = int(c.size - int(n_video_frames))
    steps = np.diff(c)
    if np.any(steps <= 0):
        n_bad = int(np.sum(steps <= 0))
        return QCResult(
            "dropped_frames",
            "CRITICAL",
            None,
            {"n_not_increasing": n_bad, "size_diff": size_diff},
        )
    dropped = int(np.sum(steps - 1))
    exposures = int(c[-1] - c[0] + 1)
    pct = 100.0 * dropped / exposures
    outcome = overall_outcome([_size_outcome(size_diff), "PASS" if pct < threshold_pct else "FAIL"])
    return QCResult(
        "dropped_frames", outcome, dropped, {"pct_dropped": pct, "size_diff": size_diff}
    )


def check_timestamps(frame_times_s: Any, n_video_frames: int) -> QCResult:
    """One finite, strictly increasing time per video frame (IBL's ``check_timestamps``).

    ``value``: number of times; details: ``size_diff`` (times minus frames), ``n_nan``,
    ``n_not_increasing``. PASS only if all three are zero, else FAIL.
    """
    t = np.asarray(frame_times_s, dtype=float).ravel()
    if t.size == 0:
        return QCResult("timestamps", "CRITICAL", 0, {"size_diff": -int(n_video_frames)})
    size_diff = int(t.size - int(n_video_frames))
    n_nan = int(np.isnan(t).sum())
    with np.errstate(invalid="ignore"):
        n_bad = int(np.sum(~(np.diff(t) > 0)))
    ok = size_diff == 0 and n_nan == 0 and n_bad == 0
    return QCResult(
        "timestamps",
        "PASS" if ok else "FAIL",
        int(t.size),
        {"size_diff": size_diff, "n_nan": n_nan, "n_not_increasing": n_bad},
    )


def check_camera_times(n_camera_times: int, n_video_frames: int) -> QCResult:
    """Number of per-frame camera timestamps equals the number of video frames (IBL's
    ``check_camera_times``): PASS if equal, else WARNING. ``value``: the difference.
    """
    diff = int(n_camera_times) - int(n_video_frames)
    return QCResult("camera_times", "PASS" if diff == 0 else "WARNING", diff)


def check_pin_state(pin_state: Any, n_video_frames: int, n_ttl_events: int) -> QCResult:
    """GPIO pin state against the frame count and the TTL events it should record (IBL's
    ``check_pin_state``).

    Outcome: the worse of (one pin-state sample per video frame: PASS, fewer than 5 off:
    WARNING, else FAIL) and (number of low-to-high changes within 5 of ``n_ttl_events``:
    PASS, else WARNING).

    Parameters
    ----------
    pin_state : (n,) or (n, k) array_like of bool
        Pin state per frame; for 2-D input the last column is used (as IBL does).
    n_video_frames : int
        Frames in the video file.
    n_ttl_events : int
        Number of TTL pulses (rising edges) the DAQ recorded on the line wired to that pin
        (IBL: audio TTLs, ``audio[::2].size``).

    Returns
    -------
    QCResult
        ``value``: ``n_ttl_events`` minus the number of low-to-high pin changes; details:
        ``n_low2high``, ``size_diff``.
    """
    ps = np.asarray(pin_state)
    if ps.ndim == 2:
        ps = ps[:, -1]
    if ps.ndim != 1:
        raise ValueError(f"pin_state must be (n,) or (n, k), got shape {np.shape(pin_state)}")
    if ps.size == 0:
        return QCResult("pin_state", "NOT_SET", None)
    state = ps.astype(bool).astype(np.int8)
    n_low2high = int(np.sum(np.diff(state) == 1))
    ndiff = int(n_ttl_events) - n_low2high
    size_diff = int(ps.size - int(n_video_frames))
    outcome = overall_outcome([_size_outcome(size_diff), "PASS" if abs(ndiff) < 5 else "WARNING"])
    return QCResult("pin_state", outcome, ndiff, {"n_low2high": n_low2high, "size_diff": size_diff})


# --------------------------------------------------------------------------------------------
# Camera QC: image comparisons against a reference frame
# --------------------------------------------------------------------------------------------


def _histograms(frames: np.ndarray) -> np.ndarray:
    """256-bin grey histograms of ``(k, h, w)`` frames, ``(k, 256)`` int64."""
    k = frames.shape[0]
    vals = np.clip(frames.reshape(k, -1), 0, 255).astype(np.int64)
    vals += (np.arange(k, dtype=np.int64) * 256)[:, None]
    return np.bincount(vals.ravel(), minlength=256 * k).reshape(k, 256)


_CHUNK = 8  # frames processed together by the FFT / filter functions (bounds memory)


def histogram_correlation(frames: Any, reference: Any) -> np.ndarray:
    """Pearson correlation of each frame's 256-bin grey histogram with the reference's.

    Same as OpenCV's ``compareHist(..., HISTCMP_CORREL)`` on ``calcHist`` with 256 bins over
    [0, 256) (1 where a histogram is flat). Returns ``(k,)`` floats in [-1, 1].
    """
    f = _frames(frames)
    hist = _histograms(f).astype(float)
    ref_h = _histograms(_frames(reference, "reference"))[0].astype(float)
    hc = hist - hist.mean(axis=1, keepdims=True)
    rc = ref_h - ref_h.mean()
    denom = np.sqrt((hc**2).sum(axis=1) * (rc**2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, hc @ rc / denom, 1.0)  # OpenCV returns 1 when undefined


def phase_correlation_shift(
    frames: Any, reference: Any, *, roi: tuple[slice, slice] | None = None
) -> np.ndarray:
    """Translation of each frame relative to a reference, by phase correlation, pixels.

    Parameters
    ----------
    frames : (k, h, w) array_like
        Grey frames.
    reference : (h, w) array_like
        Reference grey frame (same shape).
    roi : (slice, slice), optional
        Region of both images to compare (e.g. around the face); default the whole frame.

    Returns
    -------
    (k, 2) float ndarray
        ``(dx, dy)`` per frame: the frame's content sits ``dx`` pixels right and ``dy`` pixels
        down of where it is in the reference. Sub-pixel by a 3-point parabola at the peak.
    """
    f = _frames(frames)
    ref = np.asarray(reference, dtype=np.float64)
    if ref.shape != f.shape[1:]:
        raise ValueError(f"reference shape {ref.shape} differs from frame shape {f.shape[1:]}")
    if roi is not None:
        f = f[(slice(None), *roi)]
        ref = ref[roi]
    h, w = ref.shape
    if h < 4 or w < 4:
        raise ValueError(f"images of {h}x{w} px are too small for phase correlation")
    win = np.outer(np.hanning(h), np.hanning(w))
    rr_conj = np.conj(np.fft.rfft2((ref - ref.mean()) * win))
    k = f.shape[0]
    flat = np.empty(k, dtype=np.int64)
    peak = np.empty((k, 5))  # c0, left, right, up, down
    for s in range(0, k, _CHUNK):
        c = f[s : s + _CHUNK]
        cross = np.fft.rfft2((c - c.mean(axis=(1, 2), keepdims=True)) * win) * rr_conj
        cross /= np.maximum(np.abs(cross), 1e-12)
        corr = np.fft.irfft2(cross, s=(h, w))  # peak at the shift
        idx = corr.reshape(corr.shape[0], -1).argmax(axis=1)
        flat[s : s + _CHUNK] = idx
        py, px = np.unravel_index(idx, (h, w))
        r = np.arange(corr.shape[0])
        peak[s : s + _CHUNK] = np.column_stack(
            [
                corr[r, py, px],
                corr[r, py, (px - 1) % w],
                corr[r, py, (px + 1) % w],
                corr[r, (py - 1) % h, px],
                corr[r, (py + 1) % h, px],
            ]
        )
    py, px = np.unravel_index(flat, (h, w))

    def refine(c0: np.ndarray, cm: np.ndarray, cp: np.ndarray) -> np.ndarray:
        den = cm - 2 * c0 + cp
        with np.errstate(invalid="ignore", divide="ignore"):
            off = np.where(np.abs(den) > 1e-12, 0.5 * (cm - cp) / den, 0.0)
        return np.clip(off, -0.5, 0.5)

    dx = px + refine(peak[:, 0], peak[:, 1], peak[:, 2])
    dy = py + refine(peak[:, 0], peak[:, 3], peak[:, 4])
    dx = np.where(dx > w / 2, dx - w, dx)
    dy = np.where(dy > h / 2, dy - h, dy)
    return np.column_stack([dx, dy])


def check_position(
    frames: Any,
    reference: Any,
    *,
    pos_thresh_pct: tuple[float, float] = (10.0, 15.0),
    roi: tuple[slice, slice] | None = None,
) -> QCResult:
    """Camera position: shift of the sampled frames against a reference frame.

    The median ``(dx, dy)`` of :func:`phase_correlation_shift` over the frames, as a percentage
    of the frame width / height; PASS if both are below ``pos_thresh_pct[0]``, WARNING if
    below ``pos_thresh_pct[1]``, else FAIL (IBL's thresholds, 10 % and 15 %).

    Parameters
    ----------
    frames : (k, h, w) array_like
        Sampled grey frames.
    reference : (h, w) array_like
        Grey frame from a correctly positioned camera of the same rig type and label.
    pos_thresh_pct : (float, float)
        PASS and WARNING limits, percent of the frame size.
    roi : (slice, slice), optional
        Region to compare (IBL uses a face template; default: whole frame).

    Returns
    -------
    QCResult
        ``value``: the larger of the two shifts, percent; details: ``dx_px``, ``dy_px``.

    Notes
    -----
    IBL (``CameraQC.check_position``) locates a face template with OpenCV template matching;
    phase correlation measures the same translation without OpenCV. IBL also combines the
    result with the histogram correlation taking the *better* of the two outcomes (``agg=min``),
    so a moved camera with a normal histogram passes; here the histogram is its own check
    (:func:`check_histogram`). IBL also pairs the x error with the frame height and the y
    error with the width; here x goes with width and y with height.
    """
    shifts = phase_correlation_shift(frames, reference, roi=roi)
    dx, dy = np.median(shifts, axis=0)
    ref = np.asarray(reference)
    h, w = ref.shape if roi is None else ref[roi].shape
    pct = max(abs(dx) / w * 100.0, abs(dy) / h * 100.0)
    lo, hi = sorted(pos_thresh_pct)
    return QCResult(
        "position", _graded(pct, lo, hi), float(pct), {"dx_px": float(dx), "dy_px": float(dy)}
    )


def check_histogram(
    frames: Any, reference: Any, *, hist_thresh_pct: tuple[float, float] = (75.0, 80.0)
) -> QCResult:
    """Grey-level histograms of the sampled frames correlate with the reference's (the
    histogram half of IBL's ``check_position``).

    PASS if every frame's correlation (percent) is above ``max(hist_thresh_pct)``, WARNING if
    above ``min(hist_thresh_pct)``, else FAIL. ``value``: the lowest correlation, percent.
    """
    corr = histogram_correlation(frames, reference) * 100.0
    lo, hi = sorted(hist_thresh_pct)
    n_passed = int(np.all(corr > lo)) + int(np.all(corr > hi))
    outcome = ("FAIL", "WARNING", "PASS")[n_passed]
    return QCResult(
        "histogram", outcome, float(np.nanmin(corr)), {"mean_pct": float(np.nanmean(corr))}
    )


def equalize_hist(frames: Any) -> np.ndarray:
    """Histogram equalisation of uint8 grey frames, OpenCV's ``equalizeHist`` per frame.

    Returns ``(k, h, w)`` uint8 (a new array).
    """
    f = _frames(frames)
    if f.dtype != np.uint8:
        f = np.clip(np.rint(f), 0, 255).astype(np.uint8)
    k = f.shape[0]
    flat = f.reshape(k, -1)
    hist = _histograms(f)
    cdf = np.cumsum(hist, axis=1)
    total = flat.shape[1]
    first = (hist > 0).argmax(axis=1)
    h_first = hist[np.arange(k), first]
    c_first = cdf[np.arange(k), first]
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = 255.0 / (total - h_first)
        lut = np.rint((cdf - c_first[:, None]) * scale[:, None])
    lut = np.clip(np.nan_to_num(lut), 0, 255)
    constant = h_first == total  # one grey level: OpenCV sets every pixel to it
    lut[constant] = first[constant][:, None]
    lut[np.arange(256)[None, :] < first[:, None]] = 0
    lut = lut.astype(np.uint8)
    return np.take_along_axis(lut, flat.astype(np.int64), axis=1).reshape(f.shape)


def laplacian_variance(frames: Any, *, roi: tuple[slice, slice] | None = None) -> np.ndarray:
    """Variance of the 4-neighbour Laplacian of each frame (sharpness), grey levels squared.

    Same as ``cv2.Laplacian(frame, cv2.CV_16S, ksize=1).var()`` (borders reflected without
    repeating the edge pixel), computed over ``roi`` of the filtered frame if given.
    Returns ``(k,)`` floats.
    """
    f = _frames(frames)
    out = np.empty(f.shape[0])
    for s in range(0, f.shape[0], _CHUNK):
        c = f[s : s + _CHUNK].astype(np.float32)  # exact: |Laplacian| <= 1020 for uint8
        p = np.pad(c, ((0, 0), (1, 1), (1, 1)), mode="reflect")
        lap = p[:, :-2, 1:-1] + p[:, 2:, 1:-1] + p[:, 1:-1, :-2] + p[:, 1:-1, 2:] - 4.0 * c
        if roi is not None:
            lap = lap[(slice(None), *roi)]
        out[s : s + _CHUNK] = lap.reshape(lap.shape[0], -1).var(axis=1, dtype=np.float64)
    return out


def highpass_mean(frames: Any, *, size: int = 60) -> np.ndarray:
    """IBL's Fourier focus measure: mean of the high-pass-filtered frame rescaled to 0-255.

    The centred spectrum's ``2*size`` square of low frequencies is removed, the inverse's
    magnitude is min-max scaled to [0, 256] and cast to uint8 (as ``cv2.normalize(...,
    NORM_MINMAX, CV_8U)``), and averaged. Returns ``(k,)`` floats, grey levels.
    """
    f = _frames(frames)
    k, h, w = f.shape
    cy, cx = h // 2, w // 2
    out = np.empty(k)
    for s in range(0, k, _CHUNK):
        spec = np.fft.fftshift(np.fft.fft2(f[s : s + _CHUNK].astype(np.float64)), axes=(1, 2))
        spec[:, max(cy - size, 0) : cy + size, max(cx - size, 0) : cx + size] = 0
        mag = np.abs(np.fft.ifft2(np.fft.ifftshift(spec, axes=(1, 2))))
        lo = mag.min(axis=(1, 2), keepdims=True)
        hi = mag.max(axis=(1, 2), keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            scaled = np.where(hi - lo > 1e-6, (mag - lo) * 256.0 / (hi - lo), 0.0)
        out[s : s + _CHUNK] = np.clip(np.rint(scaled), 0, 255).mean(axis=(1, 2))
    return out


def check_focus(
    frames: Any,
    reference: Any = None,
    *,
    roi: tuple[slice, slice] | None = None,
    equalize: bool = True,
    threshold: tuple[float, float] = (100.0, 6.0),
    ratio_thresh: tuple[float, float] = (0.25, 0.5),
) -> QCResult:
    """Focus from image sharpness, absolute (IBL) or relative to a reference frame.

    Frames (and the reference) are histogram-equalised first if ``equalize`` (IBL does, so that
    brightness does not change the measure).

    * Without ``reference`` (IBL's ``check_focus``): PASS if every frame's Laplacian variance
      exceeds ``threshold[0]`` (100) or every frame's high-pass mean exceeds ``threshold[1]``
      (6), else FAIL. ``value``: the lowest Laplacian variance.
    * With ``reference``: ``value`` is the ratio of the frames' median Laplacian variance to
      the reference's; FAIL below ``ratio_thresh[0]``, WARNING below ``ratio_thresh[1]``, else
      PASS (this project's rule: a blurred lens loses most of the Laplacian's energy, noise
      does not lower it).

    Parameters
    ----------
    frames : (k, h, w) array_like
        Sampled grey frames, uint8.
    reference : (h, w) array_like, optional
        Well-focused frame of the same camera setup.
    roi : (slice, slice), optional
        Region the Laplacian variance is measured on (IBL: the face).
    equalize : bool
        Equalise histograms first.
    threshold : (float, float)
        IBL's absolute limits: Laplacian variance, high-pass mean.
    ratio_thresh : (float, float)
        FAIL and WARNING limits of the ratio to the reference.

    Returns
    -------
    QCResult
    """
    f = _frames(frames)
    if equalize:
        f = equalize_hist(f)
    lap = laplacian_variance(f, roi=roi)
    if reference is None:
        hp = highpass_mean(f)
        passes = bool(np.all(lap > threshold[0]) or np.all(hp > threshold[1]))
        return QCResult(
            "focus",
            "PASS" if passes else "FAIL",
            float(lap.min()),
            {"min_highpass_mean": float(hp.min())},
        )
    ref = _frames(reference, "reference")
    if equalize:
        ref = equalize_hist(ref)
    ref_lap = float(laplacian_variance(ref, roi=roi)[0])
    if ref_lap <= 0:
        raise ValueError("reference frame has no texture (Laplacian variance 0)")
    ratio = float(np.median(lap)) / ref_lap
    lo, hi = sorted(ratio_thresh)
    outcome = "FAIL" if ratio < lo else ("WARNING" if ratio < hi else "PASS")
    return QCResult(
        "focus",
        outcome,
        ratio,
        {"median_laplacian_var": float(np.median(lap)), "reference": ref_lap},
    )


# --------------------------------------------------------------------------------------------
# Pose QC
# --------------------------------------------------------------------------------------------


def _xy(name: str, arr: Any) -> np.ndarray:
    a = np.asarray(arr, dtype=float)
    if a.ndim != 2 or a.shape[1] not in (2, 3):
        raise ValueError(f"points[{name!r}] must have shape (n, 2), got {a.shape}")
    return a[:, :2]


def check_time_trace_length_match(n_times: int, points: Mapping[str, Any]) -> QCResult:
    """Every pose trace has one row per frame time (IBL's ``check_time_trace_length_match``).

    ``value``: number of traces whose length differs from ``n_times``; FAIL if any.
    """
    bad = {k: int(np.shape(v)[0]) for k, v in points.items() if np.shape(v)[0] != int(n_times)}
    return QCResult(
        "time_trace_length_match", "FAIL" if bad else "PASS", len(bad), {"mismatched": bad}
    )


def check_trace_all_nan(
    points: Mapping[str, Any], *, exclude: tuple[str, ...] = ("tube",)
) -> QCResult:
    """No pose trace (except those whose name contains an ``exclude`` string) is all NaN (IBL's
    ``check_trace_all_nan``). ``value``: number of all-NaN traces; FAIL if any.
    """
    empty = []
    for name, arr in points.items():
        if any(e in name for e in exclude):
            continue
        xy = _xy(name, arr)
        if np.isnan(xy[:, 0]).all() or np.isnan(xy[:, 1]).all():
            empty.append(name)
    return QCResult("trace_all_nan", "FAIL" if empty else "PASS", len(empty), {"all_nan": empty})


def check_points_in_box(
    points: Mapping[str, Any],
    box: tuple[float, float, float, float],
    *,
    min_fraction: float = 0.5,
) -> QCResult:
    """Pose points inside the expected box (IBL's ``check_mean_in_bbox``, plus a fraction).

    IBL's rule: the mean over points of each point's mean x (and y) must be inside ``box``,
    else FAIL. Added here: if fewer than ``min_fraction`` of the non-NaN point samples lie in
    the box, WARNING (a mean can sit inside the box while most points are outside).

    Parameters
    ----------
    points : mapping of str to (n, 2) array
        Likelihood-thresholded pose, pixels.
    box : (x_min, x_max, y_min, y_max)
        Half-open pixel box (``POSE_BOX`` has IBL's per camera).
    min_fraction : float
        Smallest fraction of present point samples inside the box for PASS.

    Returns
    -------
    QCResult
        ``value``: fraction of non-NaN point samples inside the box; details: ``mean_x``,
        ``mean_y`` (pixels), ``mean_in_box``.
    """
    if not points:
        return QCResult("points_in_box", "NOT_SET", None)
    x0, x1, y0, y1 = box
    means_x, means_y, inside, present = [], [], 0, 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for name, arr in points.items():
            xy = _xy(name, arr)
            means_x.append(np.nanmean(xy[:, 0]))
            means_y.append(np.nanmean(xy[:, 1]))
            ok = ~np.isnan(xy).any(axis=1)
            present += int(ok.sum())
            x, y = xy[ok, 0], xy[ok, 1]
            inside += int(np.sum((x >= x0) & (x < x1) & (y >= y0) & (y < y1)))
        mx, my = float(np.nanmean(means_x)), float(np.nanmean(means_y))
    if present == 0:
        return QCResult(
            "points_in_box", "FAIL", 0.0, {"mean_x": mx, "mean_y": my, "mean_in_box": False}
        )
    frac = inside / present
    mean_in = bool(x0 <= mx < x1 and y0 <= my < y1)
    outcome = "FAIL" if not mean_in else ("PASS" if frac >= min_fraction else "WARNING")
    return QCResult(
        "points_in_box", outcome, frac, {"mean_x": mx, "mean_y": my, "mean_in_box": mean_in}
    )


def check_pupil_blocked(
    diameter_raw_px: Any, *, max_nan_fraction: float = 0.9, max_std_px: float = 10.0
) -> QCResult:
    """Pupil visible: raw diameter present in enough frames and stable (IBL's
    ``check_pupil_blocked``).

    FAIL if more than ``max_nan_fraction`` of frames have no diameter, or if its standard
    deviation exceeds ``max_std_px`` (IBL: 10 px for the left camera, 5 px for the
    half-resolution right camera); else PASS.

    Returns
    -------
    QCResult
        ``value``: fraction of frames with a pupil diameter; details: ``std_px``.
    """
    d = np.asarray(diameter_raw_px, dtype=float).ravel()
    if d.size == 0:
        return QCResult("pupil_blocked", "NOT_SET", None)
    present = float(np.mean(~np.isnan(d)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        std = float(np.nanstd(d)) if present > 0 else float("nan")
    bad = (1.0 - present) > max_nan_fraction or (np.isfinite(std) and std > max_std_px)
    return QCResult("pupil_blocked", "FAIL" if bad else "PASS", present, {"std_px": std})


def check_pupil_diameter_snr(
    diameter_raw_px: Any, diameter_smooth_px: Any, *, min_snr: float = 10.0
) -> QCResult:
    """Signal-to-noise of the pupil trace: var(smooth) / var(smooth - raw) (IBL's
    ``check_pupil_diameter_snr``; IBL uses 10 for the left camera, 5 for the right, and
    leaves this check out of the aggregate outcome).

    ``value``: the ratio; FAIL below ``min_snr``. NOT_SET without frames where both exist.
    """
    raw = np.asarray(diameter_raw_px, dtype=float).ravel()
    sm = np.asarray(diameter_smooth_px, dtype=float).ravel()
    if raw.shape != sm.shape:
        raise ValueError(f"raw and smooth traces differ in length: {raw.size} vs {sm.size}")
    both = ~np.isnan(raw) & ~np.isnan(sm)
    if both.sum() < 2:
        return QCResult("pupil_diameter_snr", "NOT_SET", None)
    noise = np.var(sm[both] - raw[both])
    snr = float(np.var(sm[both]) / noise) if noise > 0 else float("inf")
    return QCResult("pupil_diameter_snr", "FAIL" if snr < min_snr else "PASS", snr)


def check_tongue_hidden(
    tongue_points: Mapping[str, Any], *, max_visible_fraction: float = 0.9
) -> QCResult:
    """The tongue is hidden most of the time (IBL's ``check_lick_detection``).

    A tongue point detected in almost every frame is in fact something else (spout or mouth
    edge). FAIL if every tongue point is visible (non-NaN x) in more than
    ``max_visible_fraction`` of frames (IBL: NaN in less than 10 %), else PASS.

    Returns
    -------
    QCResult
        ``value``: the smallest visible fraction over the tongue points; details: per point.
    """
    if not tongue_points:
        return QCResult("tongue_hidden", "NOT_SET", None)
    vis = {k: float(np.mean(~np.isnan(_xy(k, v)[:, 0]))) for k, v in tongue_points.items()}
    lowest = min(vis.values())
    return QCResult(
        "tongue_hidden",
        "FAIL" if lowest > max_visible_fraction else "PASS",
        lowest,
        {"visible": vis},
    )


def trial_window_mask(
    frame_times_s: Any, event_times_s: Any, *, pre_s: float = 0.5, post_s: float = 1.5
) -> np.ndarray:
    """Frames within ``[event - pre_s, event + post_s)`` of any event, e.g. stimulus onsets.

    IBL's paw checks look at -0.5 s to +1.5 s around each stimulus onset.

    Parameters
    ----------
    frame_times_s : (n,) array_like
        Frame times, seconds, increasing.
    event_times_s : (k,) array_like
        Event times, seconds, same clock; NaN events are ignored.

    Returns
    -------
    (n,) bool ndarray
    """
    t = np.asarray(frame_times_s, dtype=float).ravel()
    ev = np.asarray(event_times_s, dtype=float).ravel()
    ev = ev[~np.isnan(ev)]
    mark = np.zeros(t.size + 1, dtype=np.int64)
    np.add.at(mark, np.searchsorted(t, ev - pre_s, side="left"), 1)
    np.add.at(mark, np.searchsorted(t, ev + post_s, side="left"), -1)
    return np.cumsum(mark[:-1]) > 0


def check_paws_nan(
    paw_points: Mapping[str, Any],
    *,
    frame_mask: Any = None,
    thresholds: tuple[float, float] = (0.1, 0.2),
) -> QCResult:
    """Paws are not mostly NaN (IBL's ``check_paw_close_nan`` / ``check_paw_far_nan``).

    For each paw point, the fraction of frames (within ``frame_mask``) where it is NaN; the
    worst point decides: PASS up to ``thresholds[0]`` (10 %), WARNING up to ``thresholds[1]``
    (20 %), else FAIL.

    Parameters
    ----------
    paw_points : mapping of str to (n, 2) array
        Paw (or finger) points, pixels, likelihood-thresholded.
    frame_mask : (n,) bool array_like, optional
        Frames to consider; IBL uses :func:`trial_window_mask` around stimulus onsets.
    thresholds : (float, float)
        WARNING and FAIL limits of the NaN fraction.

    Returns
    -------
    QCResult
        ``value``: the largest NaN fraction; details: per point.
    """
    if not paw_points:
        return QCResult("paws_nan", "NOT_SET", None)
    fracs = {}
    for name, arr in paw_points.items():
        x = _xy(name, arr)[:, 0]
        if frame_mask is not None:
            mask = np.asarray(frame_mask, dtype=bool)
            if mask.shape != x.shape:
                raise ValueError(f"frame_mask has {mask.size} frames, {name!r} has {x.size}")
            x = x[mask]
        fracs[name] = float(np.mean(np.isnan(x))) if x.size else float("nan")
    worst = max((v for v in fracs.values() if not np.isnan(v)), default=float("nan"))
    if np.isnan(worst):
        return QCResult("paws_nan", "NOT_SET", None, {"nan_fraction": fracs})
    warn, fail = sorted(thresholds)
    outcome = "FAIL" if worst > fail else ("WARNING" if worst > warn else "PASS")
    return QCResult("paws_nan", outcome, worst, {"nan_fraction": fracs})


def check_lick_rate(
    onset_times_s: Any, duration_s: float, *, rate_range_hz: tuple[float, float] = (0.01, 5.0)
) -> QCResult:
    """Lick detection sane: the session's mean lick rate is plausible (this project's check).

    Mice lick in bouts at up to ~10 Hz but average far less over a session. A mean rate above
    ``rate_range_hz[1]`` means detections are spurious (FAIL); below ``rate_range_hz[0]``
    (almost no licks) the tongue may not be tracked (WARNING); otherwise PASS.

    Parameters
    ----------
    onset_times_s : (k,) array_like
        Lick onsets, seconds (one per lick, :func:`pipeline.features.lick_onsets`).
    duration_s : float
        Duration of the recording, seconds.

    Returns
    -------
    QCResult
        ``value``: licks per second; details: ``n_licks``.
    """
    n = int(np.asarray(onset_times_s).size)
    if not duration_s > 0:
        return QCResult("lick_rate", "NOT_SET", None, {"n_licks": n})
    rate = n / float(duration_s)
    lo, hi = rate_range_hz
    outcome = "FAIL" if rate > hi else ("WARNING" if rate < lo else "PASS")
    return QCResult("lick_rate", outcome, rate, {"n_licks": n})


# ---- the whole camera QC of one recording ------------------------------------------------------


@dataclass(frozen=True)
class CameraQCParams:
    """Thresholds of :func:`camera_qc` (IBL's defaults).

    Attributes
    ----------
    brightness_bounds : (float, float)
        Accepted mean grey level of a frame.
    brightness_pct_pass : float
        Fraction of sampled frames that must be within the bounds.
    framerate_tolerance_hz : float
        Largest difference of the measured from the expected frame rate, Hz.
    dropped_threshold_pct : float
        Largest accepted percentage of dropped frames.
    position_thresh_pct : (float, float)
        PASS / WARNING limits of the image shift against the reference, % of the frame size.
    focus_ratio_thresh : (float, float)
        FAIL / WARNING limits of the sharpness ratio to the reference.
    """

    brightness_bounds: tuple[float, float] = (40.0, 200.0)
    brightness_pct_pass: float = 0.75
    framerate_tolerance_hz: float = 1.0
    dropped_threshold_pct: float = 0.1
    position_thresh_pct: tuple[float, float] = (10.0, 15.0)
    focus_ratio_thresh: tuple[float, float] = (0.25, 0.5)


def camera_qc(
    frames: np.ndarray,
    *,
    frame_times_s: np.ndarray,
    n_video_frames: int,
    video_fps: float,
    width: int,
    height: int,
    expected_fps: float,
    expected_width: int,
    expected_height: int,
    frame_counter: np.ndarray | None = None,
    pin_state: np.ndarray | None = None,
    n_ttl_events: int | None = None,
    reference: np.ndarray | None = None,
    params: CameraQCParams | None = None,
) -> list[QCResult]:
    """IBL's camera QC checks on one recording; each check's value and outcome.

    Parameters
    ----------
    frames : (k, h, w) uint8
        Frames sampled evenly through the video.
    frame_times_s : (n,) float
        Frame times, seconds on the DAQ clock.
    n_video_frames : int
        Frames in the video file.
    video_fps : float
        The file's frame rate, Hz.
    width, height, expected_width, expected_height : int
        Pixels.
    expected_fps : float
        The camera's configured rate, Hz.
    frame_counter : (n,) int, optional
        Embedded frame counter (frameData); without it the dropped-frame check is NOT_SET.
    pin_state : (n,) bool, optional
        The GPIO pin carrying the Bpod signal, per frame; with ``n_ttl_events`` (the DAQ's
        count of that signal's rising edges) the pin-state check runs.
    reference : (h, w) uint8, optional
        Reference frame of this camera set-up; without it position and focus are NOT_SET.
    params : CameraQCParams, optional
        Thresholds (IBL's by default).

    Returns
    -------
    list of QCResult
        ``brightness, file_headers, framerate, resolution, dropped_frames, timestamps,
        pin_state, position, focus``, in that order.
    """
    p = params or CameraQCParams()
    results = [
        check_brightness(frames, bounds=p.brightness_bounds, pct_pass=p.brightness_pct_pass),
        check_file_headers(video_fps, expected_fps),
        check_framerate(frame_times_s, expected_fps, threshold_hz=p.framerate_tolerance_hz),
        check_resolution(width, height, expected_width, expected_height),
        check_dropped_frames(frame_counter, n_video_frames, threshold_pct=p.dropped_threshold_pct)
        if frame_counter is not None
        else QCResult("dropped_frames", "NOT_SET"),
        check_timestamps(frame_times_s, n_video_frames),
        check_pin_state(pin_state, n_video_frames, n_ttl_events)
        if pin_state is not None and n_ttl_events is not None
        else QCResult("pin_state", "NOT_SET"),
    ]
    usable_reference = reference is not None and np.asarray(reference).shape == tuple(np.asarray(frames).shape[1:])
    if usable_reference:
        results.append(check_position(frames, reference, pos_thresh_pct=p.position_thresh_pct))
        results.append(check_focus(frames, reference, ratio_thresh=p.focus_ratio_thresh))
    else:
        results += [QCResult("position", "NOT_SET"), QCResult("focus", "NOT_SET")]
    return results
