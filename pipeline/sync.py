"""Frame times: exactly one DAQ time per video frame (DESIGN.md sections 2, 4, 9 and 10).

A camera emits one TTL pulse per exposure; the DAQ (the ephys FPGA on recording rigs, the
Bpod on training rigs) timestamps its rising edges. The video holds fewer images than there
were exposures when the camera dropped frames (a pulse with no image; the embedded frame
counter jumps), and the DAQ may hold pulses from before the first or after the last saved
frame, or miss pulses (it started late, stopped early or lost some). This module turns the
pulses and the video's per-frame metadata into one time per video frame, on the DAQ's
clock, and says how it did so.

Model and assumptions (all documented per function):

- Every exposure emits exactly one pulse, in order, and the frame counter increments by one
  per exposure; so the video frame with counter ``c`` belongs to pulse
  ``(c - c[0]) + shift``, where ``shift`` is one integer for the whole recording.
- ``shift`` is found from the camera's GPIO pin (on IBL's rigs pin 4 carries the audio TTL,
  which the DAQ records too: FPGA channel ``audio`` of the wiring, Bpod ``BNC2``): a low-to-high pin change first visible in frame ``i`` belongs
  to the first pulse at or after the DAQ's time of that rising edge (the camera latches its
  GPIO at the start of an exposure). The mode over all pairs of pin changes and DAQ edges is
  taken, so no pairing is needed and missed or extra edges on either side do not matter.
  Independently, the camera's own timestamps give the frame-to-frame intervals, whose
  jitter is a fingerprint of the pulse train: the lag that best correlates them with the
  DAQ's intervals is ``shift``. When both are available and disagree, the timestamps win
  (hundreds of thousands of intervals against a few hundred edges) and a warning is given.
- Pulses the DAQ missed inside the train (a gap of more than 1.5 periods) are filled evenly
  (``round(gap / period) - 1`` pulses), which is also how the Bpod's gaps between trials are
  filled; frames before the first or after the last pulse are extrapolated at the measured
  period. Those frames are flagged ``is_extrapolated``. With camera timestamps, the number
  of exposures in each gap is then checked against the camera's clock and corrected (a
  long gap whose length is not a clean multiple of the period can be miscounted).

Where IBL's ``ibllib.io.extractors.camera`` differs (DESIGN.md section 10), this module:
fills missing leading times at the right frame (``align_with_gpio`` fills them one frame too
early and with a period rounded to a whole frame rate); never pairs a GPIO change with "the
first TTL within 2 s" (``groom_pin_state``); extrapolates ``k * period``, not
``k / period`` (``CameraTimestampsBpod`` fallback); and never returns a times array of a
different length than the video: it returns one time per frame or raises
:class:`SyncError`.

All times are seconds; the clock is the clock of the pulses given (FPGA or Bpod), unless a
function says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import scipy.signal

from pipeline.io.daq import (
    BPOD_AUDIO_CHANNEL,
    BPOD_CAMERA_CHANNEL,
    BPOD_TRIAL_CHANNEL,
    load_daq_files,
)
from pipeline.io.framedata import gpio_pin_state, unwrap_camera_timestamps
from pipeline.io.iblrig import TASK_DATA
from pipeline.io.spikeglx import Wiring
from pipeline.layout import RAW_BEHAVIOR_DIR
from pipeline.rigs import camera_signal

#: Methods :func:`frame_times_from_pulses` may report, best first.
METHODS: tuple[str, ...] = (
    "counter+gpio+timestamps",  # frame counter; shift from GPIO, confirmed by camera timestamps
    "counter+timestamps",  # frame counter; shift from camera-timestamp intervals
    "counter+gpio",  # frame counter; shift from GPIO pin changes
    "timestamps",  # no usable counter: exposure numbers (and shift) from camera timestamps
    "counter",  # frame counter; shift from counts only (extra pulses assumed at the start)
    "ibl-fallback",  # no metadata: IBL's trimming (drop first pulses / extrapolate at end)
)

#: Relative deviation of the measured pulse rate from ``fps`` that is an error.
MAX_RATE_DEVIATION = 0.10
#: An interval longer than this many periods is a gap (missed pulses).
GAP_PERIODS = 1.5
#: An interval shorter than this many periods is a spurious pulse.
SPURIOUS_PERIODS = 0.5
#: Largest clock drift :func:`fit_clock` finds without help, parts per million.
MAX_CLOCK_DRIFT_PPM = 1000.0


class SyncError(ValueError):
    """Pulses that cannot be matched to the video's frames.

    Attributes
    ----------
    n_pulses : int or None
        Number of pulses given.
    n_frames : int or None
        Number of video frames.
    counter_span : int or None
        Exposures spanned by the frame counter (``counter[-1] - counter[0] + 1``), if known.
    """

    def __init__(
        self,
        message: str,
        *,
        n_pulses: int | None = None,
        n_frames: int | None = None,
        counter_span: int | None = None,
    ) -> None:
        super().__init__(message)
        self.n_pulses = n_pulses
        self.n_frames = n_frames
        self.counter_span = counter_span


@dataclass(frozen=True)
class FrameTimesResult:
    """One time per video frame, and how they were found.

    Attributes
    ----------
    frame_times_s : (n_frames,) float64
        Time of each video frame's exposure start, seconds, on the pulses' clock (FPGA or
        Bpod); strictly increasing.
    is_extrapolated : (n_frames,) bool
        True where the time is not a measured pulse: filled inside a gap of the pulse train
        (missed DAQ pulses, Bpod inter-trial gaps) or extrapolated before the first or after
        the last pulse.
    pulse_index : (n_frames,) int64
        Index into the given ``pulse_times_s`` of each frame's pulse; -1 where
        ``is_extrapolated``.
    n_frames : int
        Video frames.
    n_pulses : int
        Pulses given.
    n_extra_pulses_start, n_extra_pulses_end : int
        Measured pulses before the first and after the last video frame.
    n_dropped_frames : int
        Exposures the camera made but did not save, between the first and last video
        frame (gaps of the frame counter).
    n_extrapolated : int
        ``is_extrapolated.sum()``.
    n_filled : int
        Frames whose time was filled inside a gap of the pulse train (a subset of
        ``n_extrapolated``; for the Bpod, mostly the frames between trials).
    n_missing_pulses : int
        Pulses inserted into gaps of the pulse train (whether or not a frame uses them).
    n_spurious_pulses : int
        Pulses removed because they followed the previous one by less than half a period.
    period_s : float
        Measured exposure period, seconds on the pulses' clock.
    shift : int
        Index of the first video frame's exposure in the groomed pulse train (after
        spurious pulses were removed and gaps filled); negative when the DAQ started after
        the camera.
    method : str
        How frames were matched to pulses; one of :data:`METHODS`.
    warnings : tuple of str
        Anything unusual (assumptions made, inputs trimmed or ignored).
    ambiguity : str
        Non-empty when the pulses and exposures differ in number and the GPIO and/or camera
        timestamps were there but could not place the difference (why they could not):
        the frames were then matched by IBL's assumption, which :func:`sync_qc` fails.
    """

    frame_times_s: np.ndarray
    is_extrapolated: np.ndarray
    pulse_index: np.ndarray
    n_frames: int
    n_pulses: int
    n_extra_pulses_start: int
    n_extra_pulses_end: int
    n_dropped_frames: int
    n_extrapolated: int
    n_filled: int
    n_missing_pulses: int
    n_spurious_pulses: int
    period_s: float
    shift: int
    method: str
    warnings: tuple[str, ...] = field(default_factory=tuple)
    ambiguity: str = ""

    def counts(self) -> dict[str, int]:
        """The counts as a dict (for a table row or a log line)."""
        keys = (
            "n_frames",
            "n_pulses",
            "n_extra_pulses_start",
            "n_extra_pulses_end",
            "n_dropped_frames",
            "n_extrapolated",
            "n_filled",
            "n_missing_pulses",
            "n_spurious_pulses",
        )
        return {k: int(getattr(self, k)) for k in keys}


# --------------------------------------------------------------------------------------
# internals
# --------------------------------------------------------------------------------------


def _prefix(name: str) -> str:
    return f"{name}: " if name else ""


@dataclass(frozen=True)
class _Groomed:
    """The DAQ's pulse train, one entry per exposure the DAQ saw or should have seen."""

    times: np.ndarray  # (G,) strictly increasing
    real: np.ndarray  # (G,) bool: a measured pulse (False: filled into a gap)
    orig_index: np.ndarray  # (G,) int64 index into the caller's pulses, -1 if filled
    period: float
    n_spurious: int
    kept: np.ndarray  # (K,) the measured pulses kept (spurious ones removed)
    kept_orig: np.ndarray  # (K,) their indices into the caller's pulses
    n_ins: np.ndarray  # (K - 1,) pulses inserted after each kept pulse
    ambiguous: np.ndarray  # (K - 1,) bool: interval not close to a whole number of periods

    @property
    def gap_after(self) -> np.ndarray:
        """(k,) index into ``kept`` of the pulse before each gap."""
        return np.flatnonzero(self.n_ins > 0)

    @property
    def gap_n_inserted(self) -> np.ndarray:
        return self.n_ins[self.n_ins > 0]

    @property
    def gap_ambiguous(self) -> np.ndarray:
        return self.ambiguous[self.n_ins > 0]


def _period(diffs: np.ndarray, med: float | None = None) -> float:
    """Mean of the intervals within (0.5, 1.5) x their median (robust to gaps, precise)."""
    med = float(np.median(diffs)) if med is None else med
    normal = diffs[(diffs > SPURIOUS_PERIODS * med) & (diffs < GAP_PERIODS * med)]
    return float(normal.mean()) if normal.size else med


def _groom_pulses(pulses: np.ndarray) -> _Groomed:
    """Remove spurious pulses and fill gaps of the pulse train (vectorised)."""
    d = np.diff(pulses)
    med = float(np.median(d))
    short = d < SPURIOUS_PERIODS * med
    if short.any():
        keep = np.concatenate([[True], ~short])
        orig = np.flatnonzero(keep)
        p = pulses[keep]
        d = np.diff(p)
        period = _period(d)
    else:
        orig = np.arange(pulses.size)
        p = pulses
        period = _period(d, med)
    ratio = d / period
    big = ratio > GAP_PERIODS
    n_ins = np.zeros(d.size, dtype=np.int64)
    n_ins[big] = np.rint(ratio[big]).astype(np.int64) - 1
    ambiguous = big & (np.abs(ratio - np.rint(ratio)) > 0.3)
    return _build_train(p, orig, period, int(pulses.size - p.size), n_ins, ambiguous)


def _build_train(
    p: np.ndarray,
    orig: np.ndarray,
    period: float,
    n_spurious: int,
    n_ins: np.ndarray,
    ambiguous: np.ndarray,
) -> _Groomed:
    """The groomed train: ``n_ins[k]`` pulses spaced evenly after kept pulse ``k``."""
    total = int(n_ins.sum())
    orig = orig.astype(np.int64)
    if total == 0:
        times, real, orig_index = p, np.ones(p.size, bool), orig
    else:
        d = np.diff(p)
        pos = np.arange(p.size) + np.concatenate([[0], np.cumsum(n_ins)])
        times = np.empty(p.size + total)
        real = np.zeros(times.size, dtype=bool)
        orig_index = np.full(times.size, -1, dtype=np.int64)
        times[pos], real[pos], orig_index[pos] = p, True, orig
        gap = np.repeat(np.arange(d.size), n_ins)
        within = np.arange(total) - np.repeat(np.cumsum(n_ins) - n_ins, n_ins) + 1
        times[~real] = p[gap] + d[gap] / (n_ins[gap] + 1) * within
    return _Groomed(
        times=times,
        real=real,
        orig_index=orig_index,
        period=period,
        n_spurious=n_spurious,
        kept=p,
        kept_orig=orig,
        n_ins=n_ins,
        ambiguous=ambiguous,
    )


def _refine_gaps(
    e: np.ndarray, cam: np.ndarray, shift: int, g: _Groomed
) -> tuple[_Groomed, int, int]:
    """Check (and correct) the number of exposures filled into each gap with the camera clock.

    A frame's camera timestamp and its pulse are the same exposure on two clocks, so after a
    linear detrend their difference is flat, whatever the jitter. A gap filled with one
    pulse too few or too many makes it jump by one period between the segments either side.
    Per segment (a run of measured pulses between gaps) the mean detrended difference is
    taken; jumps between consecutive segments, in whole periods, are the corrections (local
    differences, so slow non-linear clock drift does not matter). The mapping of the
    segments holding most frames is kept.

    Returns ``(groomed, shift, n_gaps_corrected)``.
    """
    G = g.times.size
    j = e + shift
    ok = (j >= 0) & (j < G)
    ok[ok] = g.real[j[ok]]
    n_gaps = g.gap_after.size
    if n_gaps == 0 or ok.sum() < 3:
        return g, shift, 0
    # segment of every groomed index: a new one starts at each measured pulse after a gap
    starts = g.real & np.concatenate([[True], ~g.real[:-1]])
    seg_of = np.cumsum(starts) - 1
    seg = seg_of[j[ok]]
    t, c = g.times[j[ok]], cam[ok]
    dt = t - c
    n_seg = n_gaps + 1
    count = np.bincount(seg, minlength=n_seg)
    n = np.maximum(count, 1)
    # clock drift from the variation within segments only (a staircase of miscounted gaps
    # would bias a global fit), then each segment's mean offset
    cc = c - (np.bincount(seg, weights=c, minlength=n_seg) / n)[seg]
    dd = dt - (np.bincount(seg, weights=dt, minlength=n_seg) / n)[seg]
    den = float(np.sum(cc * cc))
    slope = float(np.sum(cc * dd)) / den if den > 0 else 0.0
    resid = dt - slope * (c - c[0])
    mean = np.bincount(seg, weights=resid, minlength=n_seg) / n
    have = count > 0
    idx = np.where(have, np.arange(n_seg), -1)
    idx = np.maximum.accumulate(idx)
    idx[idx < 0] = int(np.flatnonzero(have)[0])
    mean = mean[idx]  # segments without frames take the previous segment's value
    jumps = np.rint(np.diff(mean) / g.period).astype(np.int64)
    if not np.any(jumps):
        return g, shift, 0
    m = np.concatenate([[0], np.cumsum(jumps)])
    vals, inv = np.unique(m, return_inverse=True)
    m = m - vals[np.argmax(np.bincount(inv, weights=count))]  # keep the majority's mapping
    n_ins = g.n_ins.copy()
    n_ins[g.gap_after] += np.diff(m)
    if np.any(n_ins[g.gap_after] < 0):
        return g, shift, 0
    ambiguous = g.ambiguous.copy()
    ambiguous[g.gap_after] = False
    new = _build_train(g.kept, g.kept_orig, g.period, g.n_spurious, n_ins, ambiguous)
    return new, shift - int(m[0]), int(np.count_nonzero(jumps))


def _validated_pulses(pulse_times_s, n_frames: int, fps: float | None, name: str) -> np.ndarray:
    p = np.asarray(pulse_times_s, dtype=np.float64).ravel()
    pre = _prefix(name)
    if int(n_frames) != n_frames or n_frames < 1:
        raise SyncError(f"{pre}the video has {n_frames} frames; need at least 1", n_frames=n_frames)
    if fps is not None and not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"{pre}fps must be a positive number, got {fps!r}")
    if p.size < 2:
        raise SyncError(
            f"{pre}{p.size} pulses for {n_frames} video frames: cannot sync "
            "(wrong channel or no camera TTL recorded?)",
            n_pulses=int(p.size),
            n_frames=int(n_frames),
        )
    if not np.all(np.isfinite(p)):
        raise SyncError(
            f"{pre}{int((~np.isfinite(p)).sum())} of {p.size} pulse times are not finite",
            n_pulses=int(p.size),
            n_frames=int(n_frames),
        )
    if np.any(np.diff(p) <= 0):
        n_bad = int((np.diff(p) <= 0).sum())
        raise SyncError(
            f"{pre}pulse times are not strictly increasing ({n_bad} of {p.size - 1} intervals "
            f"<= 0) for {n_frames} video frames",
            n_pulses=int(p.size),
            n_frames=int(n_frames),
        )
    return p


def _check_rate(g: _Groomed, fps: float | None, n_pulses: int, n_frames: int, name: str) -> None:
    if fps is None:
        return
    rate = 1.0 / g.period
    if abs(rate - fps) > MAX_RATE_DEVIATION * fps:
        raise SyncError(
            f"{_prefix(name)}pulse rate {rate:.3f} Hz is inconsistent with the camera's "
            f"{fps:g} fps ({n_pulses} pulses, {n_frames} frames): wrong channel?",
            n_pulses=n_pulses,
            n_frames=n_frames,
        )


def _max_span(n_frames: int) -> int:
    """Most exposures a video of ``n_frames`` may span (fewer than half dropped)."""
    return 2 * n_frames + 100


def _exposure_index(
    n_frames: int,
    frame_counter,
    camera_timestamps,
    warnings: list[str],
) -> tuple[np.ndarray | None, np.ndarray | None, str]:
    """Exposure index of each frame (0 for the first) and camera times in seconds.

    Returns ``(e, cam_times_s, source)`` with ``source`` "counter", "timestamps" or "none".
    """
    cam = None
    if camera_timestamps is not None:
        raw = np.asarray(camera_timestamps).ravel()
        if raw.size < n_frames:
            warnings.append(
                f"camera timestamps ignored: {raw.size} entries for {n_frames} video frames"
            )
        else:
            if raw.size > n_frames:
                warnings.append(
                    f"{raw.size - n_frames} camera timestamps beyond the video's {n_frames} "
                    "frames ignored (assumed after the last frame)"
                )
            cam = unwrap_camera_timestamps(raw[:n_frames].astype(np.int64))
            if n_frames > 1 and np.any(np.diff(cam) <= 0):
                warnings.append("camera timestamps ignored: not strictly increasing")
                cam = None
    if frame_counter is not None:
        c = np.asarray(frame_counter).ravel()
        if c.size < n_frames:
            warnings.append(f"frame counter ignored: {c.size} entries for {n_frames} video frames")
        else:
            if c.size > n_frames:
                warnings.append(
                    f"{c.size - n_frames} frame-counter entries beyond the video's {n_frames} "
                    "frames ignored (assumed after the last frame, as IBL does)"
                )
            c = c[:n_frames].astype(np.int64)
            if n_frames > 1 and np.any(np.diff(c) <= 0):
                n_bad = int((np.diff(c) <= 0).sum())
                warnings.append(f"frame counter ignored: not strictly increasing ({n_bad} steps)")
            elif c[-1] - c[0] + 1 > _max_span(n_frames):
                warnings.append(
                    f"frame counter ignored: spans {c[-1] - c[0] + 1} exposures for {n_frames} "
                    "frames (more than half dropped: corrupt counter?)"
                )
            else:
                return c - c[0], cam, "counter"
    if cam is not None and n_frames > 2:
        d = np.diff(cam)
        steps = np.rint(d / _period(d)).astype(np.int64)
        if np.all(steps >= 1) and steps.sum() + 1 <= _max_span(n_frames):
            return np.concatenate([[0], np.cumsum(steps)]), cam, "timestamps"
        warnings.append(
            "camera timestamps cannot give exposure numbers (intervals < 1 period, or more "
            "than half the exposures dropped)"
        )
    return None, cam, "none"


def _pin_state(gpio, n_frames: int, gpio_pin: int | None, warnings: list[str]) -> np.ndarray | None:
    if gpio is None:
        return None
    g = np.asarray(gpio).ravel()
    if g.size < n_frames:
        warnings.append(f"GPIO ignored: {g.size} entries for {n_frames} video frames")
        return None
    g = g[:n_frames]
    if g.dtype == bool:
        return g
    g = g.astype(np.int64)
    if gpio_pin is not None:
        return gpio_pin_state(g, gpio_pin)
    states = [gpio_pin_state(g, pin) for pin in range(4)]
    changes = [int(np.count_nonzero(s[1:] != s[:-1])) for s in states]
    return states[int(np.argmax(changes))]


def _shift_from_gpio(
    e: np.ndarray, pin: np.ndarray, events: np.ndarray, g: _Groomed, max_events: int = 1500
) -> tuple[int | None, str]:
    """Shift from the pin's low-to-high changes vs the DAQ's rising-edge times.

    The mode over all (pin change, DAQ edge) pairs: the true shift collects one vote per
    matched edge, wrong pairings scatter. Only rising edges are used: a signal of fixed
    duration would otherwise give its falling edges a second, consistent shift.
    """
    chg = np.flatnonzero(~pin[:-1] & pin[1:]) + 1
    ev = np.asarray(events, dtype=np.float64).ravel()
    ev = ev[(ev > g.times[0]) & (ev <= g.times[-1])]
    if chg.size == 0:
        return None, "GPIO pin never changes"
    if ev.size == 0:
        return None, "no pin events within the pulse train"
    chg, ev = chg[:max_events], ev[:max_events]
    jev = np.searchsorted(g.times, ev, side="left")
    cand = (jev[None, :] - e[chg][:, None]).ravel()
    lo = int(cand.min())
    counts = np.bincount(cand - lo)
    k = int(np.argmax(counts))
    best, n_best = k + lo, int(counts[k])
    others = np.concatenate([counts[: max(0, k - 1)], counts[k + 2 :]])
    n_second = int(others.max()) if others.size else 0
    need = max(2, int(np.ceil(0.5 * min(chg.size, ev.size))))
    if n_best < need or n_best < 2 * n_second:
        return None, (
            f"GPIO alignment ambiguous ({n_best} of {chg.size} pin changes agree; next best "
            f"{n_second}; {ev.size} pin events)"
        )
    return best, f"{n_best} of {chg.size} pin changes matched {ev.size} pin events"


def _lag_scores(
    x: np.ndarray, y: np.ndarray, lo: int | None = None, hi: int | None = None, width: int = 8192
) -> tuple[np.ndarray, np.ndarray]:
    """Cross-correlation ``c[lag] = sum_n x[n] * y[n + lag]`` (FFT).

    With ``lo``/``hi``, only lags in ``[lo, hi]`` from a chunk of ``width`` samples of ``x``
    in its middle (clipped to what ``y`` holds); otherwise all lags of the full arrays.
    """
    if lo is None or hi is None:
        c = scipy.signal.correlate(y, x, mode="full", method="fft")
        return np.arange(c.size) - (x.size - 1), c
    w = min(width, x.size)
    a = (x.size - w) // 2
    lo, hi = max(lo, -a), min(hi, y.size - a - w)
    if hi < lo:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    c = scipy.signal.correlate(y[a + lo : a + w + hi], x[a : a + w], mode="valid", method="fft")
    return np.arange(lo, hi + 1), c


def _judge_lag(x: np.ndarray, y: np.ndarray, lags: np.ndarray, c: np.ndarray):
    """Best lag if unambiguous: correlation r >= 0.5 over the full overlap and a peak at
    least twice the best other lag (beyond +-1). Returns ``(lag or None, r, peak/next,
    best lag)``."""
    if c.size == 0:
        return None, 0.0, 0.0, None
    k = int(np.argmax(c))
    lag = int(lags[k])
    n0, n1 = max(0, -lag), min(x.size, y.size - lag)
    if n1 - n0 > 65536:  # r on the middle 65536 intervals of the overlap is plenty
        n0 = (n0 + n1) // 2 - 32768
        n1 = n0 + 65536
    xs, ys = x[n0:n1], y[n0 + lag : n1 + lag]
    # np.sum of products, not np.dot: OpenBLAS threads stall on busy machines
    denom = np.sqrt(np.sum(xs * xs) * np.sum(ys * ys))
    r = float(np.sum(xs * ys) / denom) if denom > 0 else 0.0
    others = np.concatenate([c[: max(0, k - 1)], c[k + 2 :]])
    second = float(np.max(np.abs(others))) if others.size else 0.0
    ratio = c[k] / second if second > 0 else np.inf
    return (lag if r >= 0.5 and ratio >= 2 else None), r, ratio, lag


def _shift_from_timestamps(
    e: np.ndarray, cam: np.ndarray, g: _Groomed
) -> tuple[int | None, str, int | None]:
    """Shift maximising the correlation of camera and DAQ frame-interval jitter.

    Lags between 0 and ``G - E`` (+-512) are tried first on an 8192-interval chunk (extra
    pulses at the start, a late DAQ or an early-stopping Bpod all fall there); if that is
    not conclusive, every lag of the full series. Returns ``(shift or None, message, best
    lag even if ambiguous)``.
    """
    consec = np.diff(e) == 1
    if consec.sum() < 16 or g.times.size < 17:
        return None, "too few intervals for camera-timestamp alignment", None
    x = np.zeros(int(e[-1]))
    # centred on the DAQ's period: the clocks differ by ppm, far below the jitter
    x[e[:-1][consec]] = np.diff(cam)[consec] - g.period
    x[np.abs(x) > 0.5 * g.period] = 0.0
    dg = np.diff(g.times)
    y = np.where(g.real[:-1] & g.real[1:], dg - g.period, 0.0)
    y[np.abs(y) > 0.5 * g.period] = 0.0
    if not np.any(x) or not np.any(y):
        return None, "no interval jitter to align camera timestamps with", None
    d0 = g.times.size - (int(e[-1]) + 1)
    lag, r, ratio, best = _judge_lag(x, y, *_lag_scores(x, y, min(0, d0) - 512, max(0, d0) + 512))
    if lag is None:
        lag, r, ratio, best = _judge_lag(x, y, *_lag_scores(x, y))
    if lag is None:
        return (
            None,
            (f"camera-timestamp alignment ambiguous (correlation {r:.2f}, peak/next {ratio:.1f})"),
            best,
        )
    return lag, f"camera-timestamp intervals correlate at r={r:.3f}", lag


def _find_shift(
    e: np.ndarray,
    cam: np.ndarray | None,
    pin: np.ndarray | None,
    pin_events_s,
    g: _Groomed,
    source: str,
) -> tuple[int | None, str, list[str], int | None]:
    """Shift from the GPIO and/or the camera timestamps.

    Returns ``(shift or None, method, messages, provisional lag)``; when both sources
    answer and disagree, the timestamps win (a fingerprint per frame against one per trial).
    """
    msgs: list[str] = []
    s_gpio = s_ts = provisional = None
    if pin is not None:
        s_gpio, why = _shift_from_gpio(e, pin, pin_events_s, g)
        if s_gpio is None:
            msgs.append(why)
    if cam is not None:
        s_ts, why, provisional = _shift_from_timestamps(e, cam, g)
        if s_ts is None:
            msgs.append(why)
    shift, method = None, ""
    if s_gpio is not None and s_ts is not None:
        if s_gpio == s_ts:
            shift, method = s_gpio, "counter+gpio+timestamps"
        else:
            shift, method = s_ts, "counter+timestamps"
            msgs.append(
                f"GPIO alignment (shift {s_gpio}) disagrees with camera timestamps "
                f"(shift {s_ts}); used the timestamps"
            )
    elif s_gpio is not None:
        shift, method = s_gpio, "counter+gpio"
    elif s_ts is not None:
        shift, method = s_ts, "counter+timestamps"
    if source == "timestamps" and method:
        method = "timestamps"
    return shift, method, msgs, provisional


def _sync(
    pulse_times_s,
    n_frames: int,
    frame_counter,
    *,
    gpio,
    pin_events_s,
    fps: float | None,
    camera_timestamps,
    gpio_pin: int | None,
    name: str,
    gap_warning,
    filled_is_measured: bool = False,
    warn_outside: bool = True,
) -> FrameTimesResult:
    """Shared core of :func:`frame_times_from_pulses` and :func:`frame_times_from_bpod`.

    ``filled_is_measured``: gap-filled pulses count as pulses for the "too few pulses" checks
    (the Bpod's inter-trial gaps are filled by design). ``warn_outside``: warn about frames
    extrapolated before the first / after the last pulse (expected for the Bpod).
    """
    warnings: list[str] = []
    pre = _prefix(name)
    p = _validated_pulses(pulse_times_s, n_frames, fps, name)
    n_frames = int(n_frames)
    n_pulses = int(p.size)
    g = _groom_pulses(p)
    n_real = int(g.times.size if filled_is_measured else g.real.sum())
    _check_rate(g, fps, n_pulses, n_frames, name)
    if g.n_spurious:
        warnings.append(f"{g.n_spurious} spurious pulses (< half a period apart) removed")

    e, cam, source = _exposure_index(n_frames, frame_counter, camera_timestamps, warnings)
    span = int(e[-1] + 1) if e is not None else None
    if n_real < n_frames / 2:
        raise SyncError(
            f"{pre}far too few pulses: {n_pulses} pulses for {n_frames} video frames"
            + (f" (frame counter spans {span} exposures)" if span is not None else "")
            + "; wrong channel or DAQ not recording?",
            n_pulses=n_pulses,
            n_frames=n_frames,
            counter_span=span,
        )

    shift: int | None = None
    method = ""
    unplaced: list[str] = []
    if e is not None:
        pin = None
        if (gpio is None) != (pin_events_s is None):
            warnings.append("GPIO alignment needs both gpio and pin_events_s; one was missing")
        elif gpio is not None:
            pin = _pin_state(gpio, n_frames, gpio_pin, warnings)
        shift, method, msgs, provisional = _find_shift(e, cam, pin, pin_events_s, g, source)
        if shift is None and provisional is not None and g.gap_after.size:
            # miscounted gaps split the votes between segments: correct them from the best
            # (ambiguous) lag, which the camera clock allows, and try again
            g2, _, n_fixed = _refine_gaps(e, cam, provisional, g)
            if n_fixed:
                shift2, method2, msgs2, _ = _find_shift(e, cam, pin, pin_events_s, g2, source)
                if shift2 is not None:
                    g, shift, method, msgs = g2, shift2, method2, msgs2
        warnings.extend(msgs)
        if shift is None and (pin is not None or cam is not None):
            unplaced = msgs or ["GPIO and camera timestamps gave no shift"]
    if shift is None:
        if e is None:
            e = np.arange(n_frames, dtype=np.int64)
            method = "ibl-fallback"
            warnings.append("no frame counter: dropped frames cannot be detected")
        else:
            method = "counter" if source == "counter" else "timestamps"
        span_ = int(e[-1] + 1)
        shift = max(g.times.size - span_, 0)
        if g.times.size == span_:
            unplaced = []
        if g.times.size != span_:
            warnings.append(
                f"{g.times.size} pulses for {span_} exposures and no usable GPIO or camera "
                "timestamps: "
                + (
                    f"assumed the {shift} extra pulses are at the start (as IBL does)"
                    if shift
                    else f"assumed the {span_ - g.times.size} missing pulses are at the end"
                )
            )

    verified = False
    if cam is not None and g.gap_after.size:
        g, shift, n_fixed = _refine_gaps(e, cam, shift, g)
        verified = True
        if n_fixed:
            warnings.append(
                f"camera timestamps corrected the number of exposures across {n_fixed} gaps "
                "of the pulse train"
            )
    warnings.extend(gap_warning(g, verified))
    result = _map_frames(
        e, shift, g, n_pulses, n_frames, method, warnings, name, span, filled_is_measured,
        warn_outside,
    )  # fmt: skip
    if unplaced:
        result = replace(result, ambiguity=f"{g.times.size} pulses for {int(e[-1] + 1)} exposures and the extra pulses cannot be placed: " + "; ".join(unplaced))
    return result


def _map_frames(
    e: np.ndarray,
    shift: int,
    g: _Groomed,
    n_pulses: int,
    n_frames: int,
    method: str,
    warnings: list[str],
    name: str,
    span: int | None,
    filled_is_measured: bool,
    warn_outside: bool,
) -> FrameTimesResult:
    """Times of frames at exposure indices ``e`` given the groomed train and the shift."""
    G = g.times.size
    j = e + shift
    inside = (j >= 0) & (j < G)
    jc = np.clip(j, 0, G - 1)
    t = g.times[jc]
    before, after = j < 0, j >= G
    if before.any():
        t[before] = g.times[0] + j[before] * g.period
    if after.any():
        t[after] = g.times[-1] + (j[after] - (G - 1)) * g.period
    own = inside & g.real[jc]
    n_own = int(inside.sum() if filled_is_measured else own.sum())
    if n_own < n_frames / 2:
        raise SyncError(
            f"{_prefix(name)}pulses cannot be matched to the video: only {n_own} of {n_frames} "
            f"frames fall on one of the {n_pulses} pulses"
            + (f" (frame counter spans {span} exposures)" if span is not None else "")
            + f"; alignment by {method}",
            n_pulses=n_pulses,
            n_frames=n_frames,
            counter_span=span,
        )
    pulse_index = np.where(own, g.orig_index[jc], -1)
    first, last = int(j[0]), int(j[-1])
    real_cum = np.concatenate([[0], np.cumsum(g.real)])
    n_start = int(real_cum[min(max(first, 0), G)])
    n_end = int(real_cum[G] - real_cum[min(max(last + 1, 0), G)])
    n_before = int((j < 0).sum())
    n_after = int((j >= G).sum())
    if n_before and warn_outside:
        warnings.append(f"{n_before} frames before the first pulse extrapolated (DAQ started late)")
    if n_after and warn_outside:
        warnings.append(f"{n_after} frames after the last pulse extrapolated (DAQ stopped early)")
    is_extrap = ~own
    return FrameTimesResult(
        frame_times_s=t,
        is_extrapolated=is_extrap,
        pulse_index=pulse_index.astype(np.int64),
        n_frames=n_frames,
        n_pulses=n_pulses,
        n_extra_pulses_start=n_start,
        n_extra_pulses_end=n_end,
        n_dropped_frames=int(e[-1] + 1 - n_frames),
        n_extrapolated=int(is_extrap.sum()),
        n_filled=int((inside & ~g.real[jc]).sum()),
        n_missing_pulses=int(G - g.real.sum()),
        n_spurious_pulses=g.n_spurious,
        period_s=g.period,
        shift=int(shift),
        method=method,
        warnings=tuple(warnings),
    )


def _daq_gap_warning(g: _Groomed, verified: bool) -> list[str]:
    out = []
    if g.gap_after.size:
        out.append(
            f"DAQ missed {int(g.gap_n_inserted.sum())} pulses in {g.gap_after.size} gaps; "
            "filled evenly at the measured period"
        )
    if g.gap_ambiguous.any() and not verified:
        out.append(
            f"{int(g.gap_ambiguous.sum())} gaps of the pulse train are not close to a whole "
            "number of periods: the frame count across them may be off by one"
        )
    return out


# --------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------


def frame_times_from_pulses(
    pulse_times_s,
    frame_counter,
    n_frames: int,
    *,
    gpio=None,
    pin_events_s=None,
    fps: float | None = None,
    camera_timestamps=None,
    gpio_pin: int | None = None,
    name: str = "",
) -> FrameTimesResult:
    """One DAQ time per video frame from the camera's TTL pulses and the frame metadata.

    Parameters
    ----------
    pulse_times_s : (P,) float
        Rising edges of the camera's TTL channel, seconds, DAQ clock (for the FPGA:
        quantised to its samples). Strictly increasing.
    frame_counter : (>= n_frames,) int or None
        The camera's embedded frame counter of each saved frame (frameData column 3); a
        jump of ``k > 1`` means ``k - 1`` dropped exposures. Entries beyond ``n_frames`` are
        ignored (assumed after the last frame, as IBL does). None when not recorded.
    n_frames : int
        Frames in the video file.
    gpio : (>= n_frames,) int or bool, optional
        Raw GPIO register per frame (frameData column 4; pin bits 28-31), or one pin's
        boolean state.
    pin_events_s : (M,) float, optional
        DAQ times (same clock as the pulses) of the rising edges of the signal wired to the
        camera's GPIO pin, e.g. the rising edges of the FPGA's audio channel; matched to the
        pin's low-to-high changes. Rising edges only (a signal of fixed width would make its
        falling edges a second consistent match); missing or extra edges (other TTLs on the
        channel, pulses too short for the camera to see) are tolerated.
    fps : float, optional
        The camera's configured frame rate, frames per second: the pulse rate must be within
        10% of it (else :class:`SyncError`, e.g. a wrong channel).
    camera_timestamps : (>= n_frames,) int, optional
        Raw 32-bit camera timestamps per frame (frameData column 2); their interval jitter
        aligns frames to pulses, and without a counter they give the exposure numbers.
    gpio_pin : int, optional
        GPIO pin (0-3, bit 28 + pin) carrying the signal; default: the pin that changes most.
    name : str
        Recording name for messages, e.g. ``"subject/2026-01-01/001 left camera"``.

    Returns
    -------
    FrameTimesResult
        ``frame_times_s`` has exactly ``n_frames`` strictly increasing entries.

    Raises
    ------
    SyncError
        Pulses that cannot be matched: fewer than two, not strictly increasing, fewer real
        pulses than half the frames, a rate more than 10% off ``fps``, or an alignment
        leaving fewer than half the frames on a pulse. The message gives the counts.

    Notes
    -----
    Assumptions: one pulse per exposure, in order; the frame counter counts exposures; the
    GPIO is latched at the start of an exposure, so a pin change first seen in frame ``i``
    belongs to the first pulse at or after the DAQ's edge time (a constant latch delay of a
    whole frame would shift every frame by one; the camera timestamps guard against it);
    pulses missing inside the train are filled evenly (``round(gap / period) - 1``), and with
    camera timestamps that count is checked (and corrected) against the camera's clock;
    frames outside the pulse train are extrapolated at the measured period. Without GPIO and
    camera timestamps, extra pulses are assumed to be at the start and missing ones at the
    end (IBL's fallback), and a warning says so.

    Examples
    --------
    >>> import numpy as np
    >>> pulses = np.arange(12) / 60.0          # 2 extra pulses at the start
    >>> counter = np.array([0, 1, 2, 4, 5, 6, 7, 8, 9])  # exposure 3 was dropped
    >>> r = frame_times_from_pulses(pulses, counter, 9, name="demo")
    >>> r.n_extra_pulses_start, r.n_dropped_frames, r.method
    (2, 1, 'counter')
    """
    return _sync(
        pulse_times_s,
        n_frames,
        frame_counter,
        gpio=gpio,
        pin_events_s=pin_events_s,
        fps=fps,
        camera_timestamps=camera_timestamps,
        gpio_pin=gpio_pin,
        name=name,
        gap_warning=_daq_gap_warning,
    )


def frame_times_from_bpod(
    pulse_times_s,
    trial_intervals_s,
    n_frames: int,
    frame_counter=None,
    *,
    gpio=None,
    pin_events_s=None,
    fps: float | None = None,
    camera_timestamps=None,
    gpio_pin: int | None = None,
    name: str = "",
    source: str = "",
) -> FrameTimesResult:
    """One Bpod-clock time per video frame from camera pulses the Bpod logged within trials.

    The Bpod logs the camera's TTL only while a trial runs. The gap between the last pulse
    of a trial and the first of the next is filled with ``round(gap * rate) - 1`` evenly
    spaced frames (IBL's ``CameraTimestampsBpod._times_from_bpod``; ``rate`` is the measured
    pulse rate, not the nominal ``fps``), then frames are matched to the video exactly as in
    :func:`frame_times_from_pulses`: the filled frames are flagged ``is_extrapolated`` (and
    counted in ``n_filled``), frames after the last trial are extrapolated at the measured
    period (the camera outlives the Bpod).

    Parameters
    ----------
    pulse_times_s : (P,) float
        Rising edges of the camera TTL on the Bpod, seconds, Bpod clock.
    trial_intervals_s : (m, 2) float
        ``[start, end]`` of each trial, seconds, Bpod clock (``_iblrig_trials.intervals``).
    n_frames, frame_counter, gpio, pin_events_s, fps, camera_timestamps, gpio_pin, name
        As in :func:`frame_times_from_pulses`; ``pin_events_s`` on the Bpod clock (the audio
        TTL, which the GPIO pin sees).
    source : str, optional
        The file the pulses came from, for messages.

    Returns
    -------
    FrameTimesResult
        Times on the Bpod clock; map them to the FPGA with :func:`fit_clock` where there is
        one.

    Raises
    ------
    ValueError
        If ``trial_intervals_s`` is not an (m, 2) array of increasing, ordered intervals.
    SyncError
        As in :func:`frame_times_from_pulses`; and when the video has more frames than the
        pulses and filled gaps explain (more than :data:`UNEXPLAINED_FRACTION` of its frames
        and :data:`UNEXPLAINED_S` seconds outside the pulse train).

    Notes
    -----
    Gaps of the pulse train inside a trial (the Bpod missed pulses) are filled the same way
    but reported in ``warnings``; so are pulses outside every trial. A filled gap is exact
    only while the accumulated jitter across it stays below half a period (a few seconds of
    gap at 150 Hz, much longer at 30 Hz).
    """
    pre = _prefix(name)
    iv = np.asarray(trial_intervals_s, dtype=np.float64)
    if iv.ndim != 2 or iv.shape[1] != 2 or iv.shape[0] < 1:
        raise ValueError(f"{pre}trial intervals must be an (m, 2) array, got shape {iv.shape}")
    if np.any(iv[:, 1] < iv[:, 0]) or np.any(np.diff(iv[:, 0]) < 0):
        raise ValueError(
            f"{pre}trial intervals must be ordered [start, end] rows with increasing starts "
            f"({iv.shape[0]} trials)"
        )
    p = _validated_pulses(pulse_times_s, n_frames, fps, name)
    trial = np.searchsorted(iv[:, 0], p, side="right") - 1
    outside = (trial < 0) | (p > iv[np.clip(trial, 0, None), 1])

    def gap_warning(g: _Groomed, verified: bool) -> list[str]:
        out = []
        if outside.any():
            out.append(f"{int(outside.sum())} of {p.size} Bpod camera pulses are outside trials")
        if g.gap_after.size:
            # gap after kept pulse k; map kept pulses back to trials
            kept_trial = trial[g.orig_index[g.real]]
            within = kept_trial[g.gap_after] == kept_trial[g.gap_after + 1]
            if within.any():
                out.append(
                    f"Bpod missed {int(g.gap_n_inserted[within].sum())} camera pulses in "
                    f"{int(within.sum())} gaps inside trials; filled evenly"
                )
            if g.gap_ambiguous.any() and not verified:
                out.append(
                    f"{int(g.gap_ambiguous.sum())} gaps between pulses are not close to a whole "
                    "number of periods: the frame count across them may be off by one"
                )
        return out

    result = _sync(
        p,
        n_frames,
        frame_counter,
        gpio=gpio,
        pin_events_s=pin_events_s,
        fps=fps,
        camera_timestamps=camera_timestamps,
        gpio_pin=gpio_pin,
        name=name,
        gap_warning=gap_warning,
        filled_is_measured=True,
        warn_outside=False,
    )
    # frames before the first / after the last trial are expected (the camera runs longer
    # than the task: IBL's rigs start it before the first trial and stop it after the last),
    # but not more than half a minute of it that is also a good part of the video
    beyond = result.n_extrapolated - result.n_filled
    if beyond > UNEXPLAINED_FRACTION * result.n_frames and beyond * result.period_s > UNEXPLAINED_S:
        last = int(trial[p.size - 1]) + 1 if p.size else 0
        raise SyncError(
            f"{pre}{beyond} frames ({beyond * result.period_s:.1f} s) have no pulse in {source or 'the Bpod data'} "
            f"(last pulse in trial {last} of {iv.shape[0]}): of the video's {result.n_frames} frames, the pulses "
            f"and the gaps between trials explain {result.n_frames - beyond}; wrong video or a task stopped early?",
            n_pulses=int(p.size), n_frames=int(n_frames),
        )  # fmt: skip
    return result


#: frame_times_from_bpod refuses a video whose frames outside the pulse train are more than
#: this fraction of its frames and this many seconds (the camera's lead and lag on the task).
UNEXPLAINED_FRACTION = 0.05
UNEXPLAINED_S = 30.0


# --------------------------------------------------------------------------------------
# clock alignment
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClockFit:
    """Linear map between two clocks, ``b = offset_s + (1 + drift_ppm * 1e-6) * a``.

    Attributes
    ----------
    offset_s : float
        Clock b's time at clock a's zero, seconds.
    drift_ppm : float
        How much faster clock b runs than clock a, parts per million.
    residual_std_s, residual_max_s : float
        Standard deviation and largest absolute residual of the matched events, seconds.
    n_points : int
        Matched event pairs used.
    index_a, index_b : (n_points,) int64
        Indices of the matched events in ``times_a`` and ``times_b``.
    """

    offset_s: float
    drift_ppm: float
    residual_std_s: float
    residual_max_s: float
    n_points: int
    index_a: np.ndarray
    index_b: np.ndarray

    def a_to_b(self, t) -> np.ndarray:
        """Convert times on clock a to clock b (seconds)."""
        return self.offset_s + (1.0 + self.drift_ppm * 1e-6) * np.asarray(t, dtype=np.float64)

    def b_to_a(self, t) -> np.ndarray:
        """Convert times on clock b to clock a (seconds)."""
        return (np.asarray(t, dtype=np.float64) - self.offset_s) / (1.0 + self.drift_ppm * 1e-6)


def _line(a: np.ndarray, b: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Least squares ``b - a = offset + k * a`` (centred, well conditioned)."""
    d = b - a
    am = a.mean()
    ac = a - am
    den = float(np.sum(ac * ac))
    k = float(np.sum(ac * (d - d.mean())) / den) if den > 0 else 0.0
    offset = float(d.mean() - k * am)
    return offset, k, d - (offset + k * a)


def _match_nearest(
    a_mapped: np.ndarray, b: np.ndarray, tol: float
) -> tuple[np.ndarray, np.ndarray]:
    """Mutually nearest pairs within ``tol`` (each b used once)."""
    i = (
        np.clip(np.searchsorted(b, a_mapped), 1, b.size - 1)
        if b.size > 1
        else np.zeros(a_mapped.size, dtype=np.int64)
    )
    if b.size > 1:
        left = np.abs(a_mapped - b[i - 1]) <= np.abs(a_mapped - b[i])
        i = np.where(left, i - 1, i)
    err = np.abs(a_mapped - b[i])
    ok = err <= tol
    ia, ib, err = np.flatnonzero(ok), i[ok], err[ok]
    # keep the closest a for each b
    order = np.lexsort((err, ib))
    ia, ib = ia[order], ib[order]
    first = np.concatenate([[True], ib[1:] != ib[:-1]]) if ib.size else np.zeros(0, bool)
    ia, ib = ia[first], ib[first]
    srt = np.argsort(ia)
    return ia[srt], ib[srt]


def fit_clock(
    times_a,
    times_b,
    *,
    tolerance_s: float | None = None,
    name: str = "",
) -> ClockFit:
    """Fit clock b against clock a from the same events timestamped on both.

    Typically the Bpod's trial-onset TTLs: ``a`` = Bpod clock, ``b`` = FPGA clock, so
    ``fit.a_to_b(bpod_times)`` puts Bpod-clock frame times on the FPGA clock.

    Parameters
    ----------
    times_a, times_b : (n_a,), (n_b,) float
        Event times, seconds, on clocks a and b; increasing. Counts may differ (an event
        missing or extra on one side).
    tolerance_s : float, optional
        Largest residual of a matched pair, seconds; default 10 ms (or a quarter of the
        shortest median inter-event interval if less).
    name : str
        Used in error messages.

    Returns
    -------
    ClockFit

    Raises
    ------
    ValueError
        Fewer than 2 events on a side, times not increasing, or fewer than half of the
        events (of the smaller side) matched; the message gives the counts.

    Notes
    -----
    With equal counts, the events are paired in order and fitted; if a residual exceeds the
    tolerance (an event missing on each side), or the counts differ, a coarse offset is
    found from the densest window of pairwise differences of the first 30 events of ``a``
    against all of ``b`` (the window allows a drift up to :data:`MAX_CLOCK_DRIFT_PPM`);
    events are then paired by mutual nearest neighbour within a coarse tolerance, the line
    fitted robustly (pairs beyond 5 MADs dropped), and pairs re-made, finally within
    ``tolerance_s``, so a drift of hundreds of ppm over hours is followed.
    Events should be irregular (trial onsets are); a perfectly periodic train has no unique
    offset.
    """
    pre = _prefix(name)
    a = np.asarray(times_a, dtype=np.float64).ravel()
    b = np.asarray(times_b, dtype=np.float64).ravel()
    if a.size < 2 or b.size < 2:
        raise ValueError(f"{pre}need at least 2 events on each clock, got {a.size} and {b.size}")
    if np.any(np.diff(a) <= 0) or np.any(np.diff(b) <= 0):
        raise ValueError(
            f"{pre}event times must be strictly increasing ({a.size} events on a, {b.size} on b)"
        )
    spacing = min(float(np.median(np.diff(a))), float(np.median(np.diff(b))))
    if tolerance_s is None:
        tolerance_s = min(0.01, 0.25 * spacing)
    need = max(2, int(np.ceil(0.5 * min(a.size, b.size))))

    ia = ib = None
    if a.size == b.size:
        offset, k, res = _line(a, b)
        if np.max(np.abs(res)) <= tolerance_s:
            ia = ib = np.arange(a.size)
    if ia is None:
        head = a[:30]
        # wide enough for the head's true pairs under a drift of up to MAX_CLOCK_DRIFT_PPM
        width = max(tolerance_s / 2, MAX_CLOCK_DRIFT_PPM * 1e-6 * (head[-1] - head[0]), 1e-3)
        diffs = np.sort((b[None, :] - head[:, None]).ravel())
        hi = np.searchsorted(diffs, diffs + width, side="right")
        best = int(np.argmax(hi - np.arange(diffs.size)))
        offset, k = float(np.median(diffs[best : hi[best]])), 0.0
        coarse = max(tolerance_s, min(0.25 * spacing, 2 * width + 20 * tolerance_s))
        # first pass only where no drift up to MAX_CLOCK_DRIFT_PPM can exceed the tolerance
        reach = max(coarse - width / 2, tolerance_s) / (MAX_CLOCK_DRIFT_PPM * 1e-6)
        near = (a >= head[0] - reach) & (a <= head[-1] + reach)
        for i, tol in enumerate((coarse, coarse, tolerance_s, tolerance_s, tolerance_s)):
            ia, ib = _match_nearest(a + offset + k * a, b, tol)
            if i == 0:
                keep = near[ia]
                ia, ib = ia[keep], ib[keep]
            if ia.size < 2:
                break
            offset, k, res = _line(a[ia], b[ib])
            med = np.median(res)
            good = np.abs(res - med) <= max(5 * 1.4826 * np.median(np.abs(res - med)), tolerance_s)
            if good.sum() >= 2 and not good.all():  # a robust refit without outlying pairs
                offset, k, _ = _line(a[ia][good], b[ib][good])
        if ia.size < need:
            raise ValueError(
                f"{pre}cannot match clock events: {a.size} on clock a, {b.size} on clock b, "
                f"only {ia.size} matched within {tolerance_s:.4f} s (need {need})"
            )
    offset, k, res = _line(a[ia], b[ib])
    return ClockFit(
        offset_s=offset,
        drift_ppm=k * 1e6,
        residual_std_s=float(np.std(res)),
        residual_max_s=float(np.max(np.abs(res))),
        n_points=int(ia.size),
        index_a=np.asarray(ia, dtype=np.int64),
        index_b=np.asarray(ib, dtype=np.int64),
    )


# --------------------------------------------------------------------------------------
# QC
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IntervalStats:
    """Frame-interval statistics.

    Attributes
    ----------
    jitter_us : float
        Standard deviation of the frame-to-frame interval, microseconds (intervals spanning
        a dropped frame excluded).
    median_fps : float
        ``1 / median interval``, frames per second.
    median_interval_s : float
        Median frame interval, seconds.
    n_intervals : int
        Intervals used for the jitter.
    n_excluded : int
        Intervals left out (outside 0.5-1.5 median intervals, or touching a frame not in
        ``valid``).
    """

    jitter_us: float
    median_fps: float
    median_interval_s: float
    n_intervals: int
    n_excluded: int


def _interval_selection(frame_times_s, valid=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Intervals, the candidates (finite, between two ``valid`` frames) and those used.

    Used: candidates within ``SPURIOUS_PERIODS``-``GAP_PERIODS`` of the candidates' median
    interval (all candidates when there are fewer than 2).
    """
    t = np.asarray(frame_times_s, dtype=np.float64).ravel()
    d = np.diff(t)
    candidates = np.isfinite(d)
    if valid is not None:
        v = np.asarray(valid, dtype=bool).ravel()
        if v.size != t.size:
            raise ValueError(f"valid has {v.size} entries for {t.size} frame times")
        candidates &= v[1:] & v[:-1]
    use = candidates.copy()
    if candidates.sum() >= 2:
        med = float(np.median(d[candidates]))
        use &= (d > SPURIOUS_PERIODS * med) & (d < GAP_PERIODS * med)
    return d, candidates, use


def usable_intervals(frame_times_s, valid=None) -> tuple[np.ndarray, np.ndarray]:
    """Frame-to-frame intervals and which of them measure the frame period.

    The intervals :func:`frame_interval_stats` computes its jitter from: finite, between two
    frames in ``valid``, and within 0.5-1.5 median intervals (an interval spanning a dropped
    frame, about two periods, and a spurious short one are left out).

    Parameters
    ----------
    frame_times_s : (n,) float
        Frame times, seconds (any clock).
    valid : (n,) bool, optional
        Frames to use, e.g. ``~is_extrapolated``.

    Returns
    -------
    intervals_s : (n - 1,) float64
        ``diff(frame_times_s)``, seconds.
    used : (n - 1,) bool
        The intervals used.
    """
    d, _, use = _interval_selection(frame_times_s, valid)
    return d, use


def frame_interval_stats(frame_times_s, valid=None) -> IntervalStats:
    """Jitter and frame rate of a series of frame times.

    Parameters
    ----------
    frame_times_s : (n,) float
        Frame times, seconds (any clock).
    valid : (n,) bool, optional
        Frames to use, e.g. ``~result.is_extrapolated`` (extrapolated times have no jitter).

    Returns
    -------
    IntervalStats
        NaN statistics when fewer than 2 intervals are usable.
    """
    d, candidates, use = _interval_selection(frame_times_s, valid)
    if candidates.sum() < 2:
        return IntervalStats(np.nan, np.nan, np.nan, int(candidates.sum()), int(d.size - candidates.sum()))
    med = float(np.median(d[use]))
    jit = float(np.std(d[use], ddof=1) * 1e6) if use.sum() >= 2 else np.nan
    return IntervalStats(
        jitter_us=jit,
        median_fps=1.0 / med if med > 0 else np.nan,
        median_interval_s=med,
        n_intervals=int(use.sum()),
        n_excluded=int(d.size - use.sum()),
    )


@dataclass(frozen=True)
class SyncQC:
    """Outcome of :func:`sync_qc`.

    Attributes
    ----------
    status : str
        ``"pass"``, ``"warning"`` or ``"fail"``.
    reasons : tuple of str
        Why it is not a pass (empty on pass).
    metrics : dict
        ``dropped_fraction``, ``extrapolated_fraction``, ``median_fps``, ``jitter_us``,
        ``n_frames``, ``n_times``.
    """

    status: str
    reasons: tuple[str, ...]
    metrics: dict


def sync_qc(
    result: FrameTimesResult,
    expected_fps: float,
    *,
    max_dropped_fraction: float = 0.001,
    fps_tolerance_hz: float = 1.0,
    max_extrapolated_fraction: float = 0.01,
    expected_jitter_us: float | None = None,
    max_jitter_factor: float = 2.0,
) -> SyncQC:
    """Quality control of frame times (IBL's camera QC checks on timing).

    Fail: not one time per frame, non-finite or non-increasing times, extra pulses that the
    GPIO and camera timestamps were there to place but could not (``result.ambiguity``: the
    frames would otherwise sit on a guessed shift), more than
    ``max_dropped_fraction`` of frames dropped (IBL: 0.1%; IBL fails at exactly 0.1%, this
    fails above it), median frame rate more than ``fps_tolerance_hz`` off ``expected_fps``.
    Warning: frames extrapolated beyond the pulse train (not gap-filled) above
    ``max_extrapolated_fraction``, jitter above ``max_jitter_factor * expected_jitter_us``,
    or any warning the sync gave (fallback alignment, pulse counts matched by assumption,
    missed pulses).

    Parameters
    ----------
    result : FrameTimesResult
    expected_fps : float
        Configured frame rate, frames per second.

    Returns
    -------
    SyncQC
    """
    fails: list[str] = []
    warns: list[str] = []
    t = np.asarray(result.frame_times_s)
    n = int(result.n_frames)
    if t.size != n:
        fails.append(f"{t.size} frame times for {n} video frames")
    if not np.all(np.isfinite(t)):
        fails.append(f"{int((~np.isfinite(t)).sum())} frame times are not finite")
    elif t.size > 1 and np.any(np.diff(t) <= 0):
        fails.append(f"frame times not strictly increasing ({int((np.diff(t) <= 0).sum())} steps)")
    if result.ambiguity:
        fails.append(result.ambiguity)
    dropped = result.n_dropped_frames / max(n, 1)
    if dropped > max_dropped_fraction:
        fails.append(
            f"{result.n_dropped_frames} dropped frames ({dropped:.3%} > {max_dropped_fraction:.3%})"
        )
    valid = ~np.asarray(result.is_extrapolated, dtype=bool)
    stats = frame_interval_stats(t, valid=valid if valid.size == t.size else None)
    if not np.isfinite(stats.median_fps):
        stats = frame_interval_stats(t)
    if not np.isfinite(stats.median_fps) or abs(stats.median_fps - expected_fps) > fps_tolerance_hz:
        fails.append(
            f"frame rate {stats.median_fps:.3f} Hz is more than {fps_tolerance_hz:g} Hz off "
            f"{expected_fps:g} Hz"
        )
    beyond = (result.n_extrapolated - result.n_filled) / max(n, 1)
    if beyond > max_extrapolated_fraction:
        warns.append(
            f"{result.n_extrapolated - result.n_filled} frames ({beyond:.2%}) extrapolated "
            "beyond the pulse train"
        )
    if expected_jitter_us is not None and stats.jitter_us > max_jitter_factor * expected_jitter_us:
        warns.append(
            f"jitter {stats.jitter_us:.1f} us above {max_jitter_factor:g} x {expected_jitter_us:g} us"
        )
    warns.extend(f"sync: {w}" for w in result.warnings)
    status = "fail" if fails else "warning" if warns else "pass"
    return SyncQC(
        status=status,
        reasons=tuple(fails + warns),
        metrics={
            "dropped_fraction": dropped,
            "extrapolated_fraction": result.n_extrapolated / max(n, 1),
            "median_fps": stats.median_fps,
            "jitter_us": stats.jitter_us,
            "n_frames": n,
            "n_times": int(t.size),
        },
    )


def frame_times_for_camera(
    session_dir: Path, n_frames: int, frame_data, camera: dict, params: dict, name: str, wiring: Wiring | None = None
) -> dict:
    """Frame times of one camera from a session's DAQ files, with QC and the clock fit.

    Parameters
    ----------
    session_dir : Path
        Session folder holding the DAQ files (:mod:`pipeline.io.daq`).
    n_frames : int
        Frames in the video.
    frame_data : pipeline.io.framedata.FrameData or None
        The recording's per-frame metadata (frame counter, GPIO, camera timestamps).
    camera : dict
        ``camera_label``, ``sync_device`` (``fpga``/``bpod``), ``expected_fps`` (frames/s),
        ``expected_jitter_us`` (microseconds).
    params : dict
        QC thresholds: ``max_dropped_fraction``, ``fps_tolerance_hz``,
        ``max_extrapolated_fraction``, ``max_jitter_factor``.
    name : str
        Recording name for messages.
    wiring : pipeline.io.spikeglx.Wiring, optional
        The session's FPGA channel map (needed when it has FPGA sync files): the camera's TTL
        is ``<label>_camera``, the GPIO's signal ``audio``, the Bpod's trial TTL ``bpod``.

    Returns
    -------
    dict
        The columns of ``schemas.sync.SyncPulses``: ``clock``, ``frame_times`` (seconds on
        that clock), ``is_extrapolated``, counts, ``jitter_us``, ``median_fps``, QC status and
        reasons, and the FPGA-to-Bpod clock fit (None on training rigs).

    Raises
    ------
    FileNotFoundError
        If the session has no DAQ files for the camera's sync device.
    pipeline.sync.SyncError
        If the pulses cannot be matched to the video's frames (the message gives the counts).
    """
    files = load_daq_files(session_dir)
    counter = gpio = timestamps = None
    if frame_data is not None:
        counter, gpio, timestamps = frame_data.frame_counter, frame_data.gpio, frame_data.camera_timestamp.astype(np.int64)
    fit = None
    notes: list[str] = []
    if files.fpga_sync is not None:
        if wiring is None:
            raise ValueError(f"{name}: {session_dir} has FPGA sync files but no wiring map was given")
        if files.bpod_sync is None:
            notes.append("no Bpod task data: no FPGA-Bpod clock fit")
        else:
            fpga_onsets = files.fpga_sync.edges(wiring.channel("bpod"))
            bpod_onsets = files.bpod_sync.edges(BPOD_TRIAL_CHANNEL)
            if len(fpga_onsets) >= 2 and len(bpod_onsets) >= 2:
                fit = fit_clock(fpga_onsets, bpod_onsets, name=name)
    if camera["sync_device"] == "fpga":
        if files.fpga_sync is None:
            raise FileNotFoundError(f"{name}: its TTL goes to the FPGA but {session_dir} has no FPGA sync files")
        channel = wiring.channel(camera_signal(camera["camera_label"]))
        result = frame_times_from_pulses(
            files.fpga_sync.edges(channel), counter, n_frames, gpio=gpio,
            pin_events_s=files.fpga_sync.edges(wiring.channel("audio")), fps=camera["expected_fps"],
            camera_timestamps=timestamps, name=f"{name} (FPGA channel {channel}, wiring {wiring.source})",
        )  # fmt: skip
        clock = "fpga"
    else:
        result = frame_times_from_bpod(
            files.bpod_sync.edges(BPOD_CAMERA_CHANNEL), files.trial_intervals_bpod_s, n_frames, counter,
            gpio=gpio, pin_events_s=files.bpod_sync.edges(BPOD_AUDIO_CHANNEL), fps=camera["expected_fps"],
            camera_timestamps=timestamps, name=name, source=f"{RAW_BEHAVIOR_DIR}/{TASK_DATA}",
        )  # fmt: skip
        clock = "bpod"
    qc = sync_qc(
        result, camera["expected_fps"], expected_jitter_us=camera["expected_jitter_us"],
        max_dropped_fraction=params["max_dropped_fraction"], fps_tolerance_hz=params["fps_tolerance_hz"],
        max_extrapolated_fraction=params["max_extrapolated_fraction"], max_jitter_factor=params["max_jitter_factor"],
    )  # fmt: skip
    stats = frame_interval_stats(result.frame_times_s)
    return dict(
        clock=clock,
        frame_times=result.frame_times_s,
        is_extrapolated=result.is_extrapolated,
        n_pulses=result.n_pulses,
        n_extra_pulses_start=result.n_extra_pulses_start,
        n_extra_pulses_end=result.n_extra_pulses_end,
        n_dropped_frames=result.n_dropped_frames,
        n_extrapolated=result.n_extrapolated,
        jitter_us=stats.jitter_us,
        median_fps=stats.median_fps,
        sync_method=result.method,
        sync_warnings="; ".join([*result.warnings, *notes])[:2000],
        sync_wiring=wiring.source if clock == "fpga" else None,
        qc_status=qc.status,
        qc_reasons="; ".join(qc.reasons)[:2000],
        clock_offset_s=None if fit is None else fit.offset_s,
        clock_drift_ppm=None if fit is None else fit.drift_ppm,
        clock_residual_us=None if fit is None else fit.residual_std_s * 1e6,
        n_clock_points=None if fit is None else fit.n_points,
    )
