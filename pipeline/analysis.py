"""Analysis helpers on arrays: values at given times, peri-event windows, binning, clocks.

Pure NumPy (and pandas for :func:`pose_frame`); no database. The DataJoint side that feeds
these from the tables is :mod:`schemas.analysis`.

Times are seconds. A series is sampled at ``times`` (strictly increasing, e.g. one time per
video frame on the DAQ clock); queries (``at``, events, spikes) must be on the same clock.
Clocks: an ephys rig's FPGA clock and its Bpod clock are related by the fit of
:class:`schemas.sync.SyncPulses`, ``bpod = offset_s + (1 + drift_ppm * 1e-6) * fpga``
(:func:`fpga_to_bpod`, :func:`bpod_to_fpga`, :func:`convert_clock`).

Examples
--------
>>> import numpy as np
>>> t = np.arange(5) / 10.0                        # 10 Hz series, s
>>> v = np.array([0.0, 1.0, np.nan, 3.0, 4.0])
>>> interpolate_at(t, v, [0.05, 0.15, 0.35, 0.5])  # NaN across the gap and outside
array([0.5, nan, 3.5, nan])
>>> counts = peri_event_rate([1.01, 1.02, 2.01], [1.0, 2.0], window=(-0.1, 0.1), bin_s=0.05)
>>> counts.rates
array([[ 0.,  0., 40.,  0.],
       [ 0.,  0., 20.,  0.]])
>>> counts.time_axis
array([-0.075, -0.025,  0.025,  0.075])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "CLOCKS",
    "PeriEvent",
    "bin_counts",
    "bin_mean",
    "bpod_to_fpga",
    "convert_clock",
    "fpga_to_bpod",
    "interpolate_at",
    "nan_corrcoef",
    "peri_event",
    "peri_event_axis",
    "peri_event_rate",
    "pose_frame",
    "regular_grid",
]

#: The DAQ clocks a time can be on.
CLOCKS: tuple[str, ...] = ("fpga", "bpod")

INTERP_METHODS = ("linear", "nearest", "previous")
PERI_STATISTICS = ("mean", "interp")


# --------------------------------------------------------------------------------------------
# Clocks
# --------------------------------------------------------------------------------------------


def fpga_to_bpod(t_fpga: Any, offset_s: float, drift_ppm: float) -> np.ndarray:
    """FPGA-clock times to the Bpod clock: ``offset_s + (1 + drift_ppm * 1e-6) * t``.

    Parameters
    ----------
    t_fpga : array_like
        Seconds on the FPGA clock (any shape; NaN stays NaN).
    offset_s : float
        Bpod time at FPGA time 0, s (``SyncPulses.clock_offset_s``).
    drift_ppm : float
        Bpod rate error, parts per million (``SyncPulses.clock_drift_ppm``).

    Returns
    -------
    ndarray
        Seconds on the Bpod clock, float64, same shape.

    Examples
    --------
    >>> fpga_to_bpod([0.0, 100.0], offset_s=3.2, drift_ppm=50.0)
    array([  3.2  , 103.205])
    """
    _check_fit(offset_s, drift_ppm)
    return float(offset_s) + (1.0 + float(drift_ppm) * 1e-6) * np.asarray(t_fpga, dtype=np.float64)


def bpod_to_fpga(t_bpod: Any, offset_s: float, drift_ppm: float) -> np.ndarray:
    """Bpod-clock times to the FPGA clock, the inverse of :func:`fpga_to_bpod`.

    Examples
    --------
    >>> bpod_to_fpga([3.2, 103.205], offset_s=3.2, drift_ppm=50.0)
    array([  0., 100.])
    """
    _check_fit(offset_s, drift_ppm)
    return (np.asarray(t_bpod, dtype=np.float64) - float(offset_s)) / (
        1.0 + float(drift_ppm) * 1e-6
    )


def convert_clock(
    t: Any,
    from_clock: str,
    to_clock: str,
    offset_s: float | None = None,
    drift_ppm: float | None = None,
) -> np.ndarray:
    """Times from one DAQ clock to another (``"fpga"`` or ``"bpod"``).

    Parameters
    ----------
    t : array_like
        Seconds on ``from_clock``.
    from_clock, to_clock : {"fpga", "bpod"}
    offset_s, drift_ppm : float, optional
        The session's fit ``bpod = offset_s + (1 + drift_ppm * 1e-6) * fpga``; needed only
        when the clocks differ.

    Returns
    -------
    ndarray
        Seconds on ``to_clock``, float64 (a copy when the clocks are the same).

    Raises
    ------
    ValueError
        Unknown clock, or different clocks without a fit.
    """
    for name, c in (("from_clock", from_clock), ("to_clock", to_clock)):
        if c not in CLOCKS:
            raise ValueError(f"{name} must be one of {CLOCKS}, got {c!r}")
    if from_clock == to_clock:
        return np.array(t, dtype=np.float64, copy=True)
    if offset_s is None or drift_ppm is None:
        raise ValueError(
            f"converting {from_clock} to {to_clock} times needs the clock fit (offset_s, drift_ppm)"
        )
    if from_clock == "fpga":
        return fpga_to_bpod(t, offset_s, drift_ppm)
    return bpod_to_fpga(t, offset_s, drift_ppm)


def _check_fit(offset_s: float, drift_ppm: float) -> None:
    if (
        offset_s is None
        or drift_ppm is None
        or not (np.isfinite(offset_s) and np.isfinite(drift_ppm))
    ):
        raise ValueError(
            f"clock fit must be finite numbers, got offset_s={offset_s}, drift_ppm={drift_ppm}"
        )


# --------------------------------------------------------------------------------------------
# Values at given times
# --------------------------------------------------------------------------------------------


def _series(times: Any, values: Any, what: str = "series") -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(times, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if t.ndim != 1:
        raise ValueError(f"{what}: times must be 1-D, got shape {t.shape}")
    if v.shape[:1] != t.shape:
        raise ValueError(f"{what}: {len(t)} times but values of shape {v.shape}")
    if not np.isfinite(t).all():
        raise ValueError(
            f"{what}: {int((~np.isfinite(t)).sum())} of {len(t)} times are NaN or infinite"
        )
    if len(t) > 1 and not np.all(np.diff(t) > 0):
        bad = int(np.count_nonzero(np.diff(t) <= 0))
        raise ValueError(
            f"{what}: times must be strictly increasing ({bad} of {len(t) - 1} steps are not)"
        )
    return t, v


def interpolate_at(times: Any, values: Any, at: Any, *, method: str = "linear") -> np.ndarray:
    """Values of a sampled series at other times.

    Parameters
    ----------
    times : (n,) array_like
        Sample times, seconds, strictly increasing.
    values : (n,) or (n, k) array_like
        Samples; NaN marks a missing sample.
    at : array_like
        Query times, seconds, same clock (any shape, e.g. spike times or a regular grid;
        need not be sorted; NaN gives NaN).
    method : {"linear", "nearest", "previous"}
        ``"linear"``: straight line between the two samples around each query; NaN when
        either of them is NaN (no interpolation across a NaN gap). A query exactly on a sample
        gets that sample. ``"nearest"``: the closer of the two (ties to the earlier).
        ``"previous"``: the last sample at or before the query (for states such as a per-frame
        contact flag).

    Returns
    -------
    ndarray, float64
        Shape ``at.shape`` (or ``at.shape + (k,)``); NaN outside ``[times[0], times[-1]]``.

    Raises
    ------
    ValueError
        Bad shapes, unsorted or non-finite sample times, or an unknown method.

    Examples
    --------
    >>> interpolate_at([0.0, 1.0, 2.0], [0.0, 10.0, np.nan], [0.25, 1.0, 1.5, 3.0])
    array([ 2.5, 10. ,  nan,  nan])
    >>> interpolate_at([0.0, 1.0, 2.0], [0.0, 10.0, 20.0], [0.4, 0.6], method="nearest")
    array([ 0., 10.])
    """
    if method not in INTERP_METHODS:
        raise ValueError(f"method must be one of {INTERP_METHODS}, got {method!r}")
    t, v = _series(times, values)
    q = np.asarray(at, dtype=np.float64)
    out_shape = q.shape + v.shape[1:]
    if len(t) == 0:
        return np.full(out_shape, np.nan)
    qf = q.ravel()
    vf = v.reshape(len(t), -1)
    # i: index of the last sample at or before each query
    i = np.searchsorted(t, qf, side="right") - 1
    inside = (qf >= t[0]) & (qf <= t[-1])
    i = np.clip(i, 0, len(t) - 1)
    j = np.clip(i + 1, 0, len(t) - 1)
    exact = inside & (t[i] == qf)
    if method == "previous":
        out = vf[i]
    elif method == "nearest":
        take_j = (t[j] - qf) < (qf - t[i])
        out = np.where(take_j[:, None], vf[j], vf[i])
    else:
        span = t[j] - t[i]
        with np.errstate(invalid="ignore", divide="ignore"):
            w = np.where(span > 0, (qf - t[i]) / span, 0.0)[:, None]
            out = vf[i] + w * (vf[j] - vf[i])
        # a query exactly on a sample takes it even if the next sample is NaN
        out = np.where(exact[:, None], vf[i], out)
    out = np.where(inside[:, None], out, np.nan)
    return out.reshape(out_shape)


def regular_grid(start_s: float, stop_s: float, rate_hz: float) -> np.ndarray:
    """Times ``start_s, start_s + 1/rate_hz, ...`` up to ``stop_s`` (inclusive within 1e-9 s).

    Examples
    --------
    >>> regular_grid(0.0, 0.5, 4.0)
    array([0.  , 0.25, 0.5 ])
    """
    if not rate_hz > 0:
        raise ValueError(f"rate_hz must be > 0, got {rate_hz}")
    if not (np.isfinite(start_s) and np.isfinite(stop_s)) or stop_s < start_s:
        raise ValueError(f"need finite start_s <= stop_s, got {start_s}, {stop_s}")
    n = int(np.floor((stop_s - start_s) * rate_hz + 1e-9)) + 1
    return start_s + np.arange(n) / rate_hz


def _edges(edges: Any) -> np.ndarray:
    e = np.asarray(edges, dtype=np.float64)
    if e.ndim != 1 or len(e) < 2:
        raise ValueError(f"edges must be 1-D with at least 2 values, got shape {e.shape}")
    if not np.all(np.diff(e) > 0):
        raise ValueError(f"edges must be strictly increasing ({len(e)} edges)")
    return e


def bin_counts(point_times: Any, edges: Any) -> np.ndarray:
    """Number of events (spikes, licks) in each bin ``[edges[k], edges[k+1])``.

    Returns
    -------
    (len(edges) - 1,) int64

    Examples
    --------
    >>> bin_counts([0.1, 0.2, 1.5, 3.0], [0.0, 1.0, 2.0, 3.0])
    array([2, 1, 0])
    """
    e = _edges(edges)
    p = np.sort(np.asarray(point_times, dtype=np.float64).ravel())
    return np.diff(np.searchsorted(p, e, side="left")).astype(np.int64)


def bin_mean(times: Any, values: Any, edges: Any) -> np.ndarray:
    """Mean of the finite samples of a series within each bin ``[edges[k], edges[k+1])``.

    Use it to bring a fast series (pupil at 150 Hz) onto a coarse grid without aliasing.

    Returns
    -------
    (len(edges) - 1,) float64
        NaN for bins without a finite sample.

    Examples
    --------
    >>> bin_mean([0.1, 0.2, 0.6, 1.2], [1.0, 3.0, np.nan, 5.0], [0.0, 1.0, 2.0, 3.0])
    array([ 2.,  5., nan])
    """
    t, v = _series(times, values, "bin_mean")
    if v.ndim != 1:
        raise ValueError(f"bin_mean: values must be 1-D, got shape {v.shape}")
    e = _edges(edges)
    return _window_means(t, v, e[:-1], e[1:])


def _window_means(t: np.ndarray, v: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Mean of finite ``v`` with ``lo <= t < hi``, elementwise over ``lo``/``hi`` (any shape)."""
    finite = np.isfinite(v)
    csum = np.concatenate([[0.0], np.cumsum(np.where(finite, v, 0.0))])
    ccount = np.concatenate([[0], np.cumsum(finite)])
    i0 = np.searchsorted(t, lo, side="left")
    i1 = np.searchsorted(t, hi, side="left")
    n = ccount[i1] - ccount[i0]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (csum[i1] - csum[i0]) / np.maximum(n, 1), np.nan)


def nan_corrcoef(a: Any, b: Any) -> float:
    """Pearson correlation over the pairs where both values are finite.

    Returns NaN when fewer than 3 pairs remain or either side is constant.

    Examples
    --------
    >>> round(nan_corrcoef([1, 2, 3, np.nan], [2, 4, 7, 1]), 4)
    0.9934
    """
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"nan_corrcoef: arrays of {x.size} and {y.size} values")
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3:
        return float("nan")
    x, y = x[ok] - x[ok].mean(), y[ok] - y[ok].mean()
    den = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / den) if den > 0 else float("nan")


# --------------------------------------------------------------------------------------------
# Peri-event windows
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PeriEvent:
    """Values in windows around events.

    Attributes
    ----------
    values : (n_events, n_bins) float64
        One row per event, one column per bin (:func:`peri_event`: the feature;
        :func:`peri_event_rate`: events per second).
    time_axis : (n_bins,) float64
        Bin centres relative to the event, seconds.
    event_times : (n_events,) float64
        The events, seconds, in the order given.
    bin_s : float
        Bin width, seconds.
    """

    values: np.ndarray
    time_axis: np.ndarray
    event_times: np.ndarray
    bin_s: float

    @property
    def rates(self) -> np.ndarray:
        """Alias of ``values`` for :func:`peri_event_rate` (Hz)."""
        return self.values

    def __iter__(self):
        """Unpack as ``values, time_axis = peri_event(...)``."""
        return iter((self.values, self.time_axis))

    def mean(self) -> np.ndarray:
        """(n_bins,) mean over events (NaN ignored)."""
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(self.values, axis=0)


def peri_event_axis(window: Sequence[float], bin_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Bin edges and centres of a peri-event window, seconds relative to the event.

    Parameters
    ----------
    window : (float, float)
        Start and end relative to the event, s (``(-1, 2)``: 1 s before to 2 s after).
    bin_s : float
        Bin width, s; must divide the window into a whole number of bins (within 1e-6).

    Returns
    -------
    edges : (n_bins + 1,) float64
    centres : (n_bins,) float64

    Examples
    --------
    >>> edges, centres = peri_event_axis((-0.1, 0.2), 0.1)
    >>> centres
    array([-0.05,  0.05,  0.15])
    """
    if len(window) != 2:
        raise ValueError(f"window must be (start, end), got {window!r}")
    w0, w1 = float(window[0]), float(window[1])
    if not (np.isfinite(w0) and np.isfinite(w1)) or not w1 > w0:
        raise ValueError(f"window must be (start, end) with start < end, got {window!r}")
    if not bin_s > 0:
        raise ValueError(f"bin_s must be > 0, got {bin_s}")
    n = (w1 - w0) / bin_s
    n_bins = int(round(n))
    if n_bins < 1 or abs(n - n_bins) > 1e-6:
        raise ValueError(f"bin_s {bin_s} s does not divide the window {window!r} ({n:.4f} bins)")
    edges = w0 + np.arange(n_bins + 1) * bin_s
    return edges, edges[:-1] + bin_s / 2


def _events(event_times: Any) -> np.ndarray:
    e = np.asarray(event_times, dtype=np.float64)
    if e.ndim != 1:
        raise ValueError(f"event_times must be 1-D, got shape {e.shape}")
    if not np.isfinite(e).all():
        raise ValueError(
            f"{int((~np.isfinite(e)).sum())} of {len(e)} event times are NaN or infinite"
        )
    return e


def peri_event(
    times: Any,
    values: Any,
    event_times: Any,
    window: Sequence[float] = (-1.0, 2.0),
    bin_s: float = 0.05,
    *,
    statistic: str = "mean",
) -> PeriEvent:
    """A continuous feature (pupil diameter, a coordinate) in windows around events.

    Parameters
    ----------
    times : (n,) array_like
        Sample times of the feature, seconds, strictly increasing (e.g. frame times).
    values : (n,) array_like
        The feature; NaN for missing samples.
    event_times : (n_events,) array_like
        Events (lick onsets, trial onsets, stimuli), seconds on the same clock as ``times``.
    window : (float, float)
        Start and end of the window relative to each event, seconds.
    bin_s : float
        Bin width, seconds.
    statistic : {"mean", "interp"}
        ``"mean"``: the mean of the finite samples whose times fall in each bin
        ``[event + edge_k, event + edge_k+1)`` (NaN if none: use bins at least one sample
        interval wide). ``"interp"``: the linearly interpolated value at each bin centre
        (:func:`interpolate_at`; NaN across NaN gaps).

    Returns
    -------
    PeriEvent
        ``values`` (n_events, n_bins) and ``time_axis`` (bin centres, s, relative to the
        event); unpacks as ``matrix, time_axis = peri_event(...)``. Bins outside the
        recording are NaN.

    Examples
    --------
    >>> t = np.arange(0, 10, 0.01)
    >>> m, axis = peri_event(t, t, [2.0, 5.0], window=(-0.1, 0.1), bin_s=0.1, statistic="interp")
    >>> m
    array([[1.95, 2.05],
           [4.95, 5.05]])
    """
    if statistic not in PERI_STATISTICS:
        raise ValueError(f"statistic must be one of {PERI_STATISTICS}, got {statistic!r}")
    t, v = _series(times, values, "peri_event")
    if v.ndim != 1:
        raise ValueError(f"peri_event: values must be 1-D, got shape {v.shape}")
    e = _events(event_times)
    edges, centres = peri_event_axis(window, bin_s)
    if statistic == "interp":
        out = interpolate_at(t, v, e[:, None] + centres[None, :])
    else:
        lo = e[:, None] + edges[None, :-1]
        hi = e[:, None] + edges[None, 1:]
        out = _window_means(t, v, lo, hi) if len(t) else np.full(lo.shape, np.nan)
    return PeriEvent(
        values=out.reshape(len(e), len(centres)),
        time_axis=centres,
        event_times=e,
        bin_s=float(bin_s),
    )


def peri_event_rate(
    point_times: Any, event_times: Any, window: Sequence[float] = (-1.0, 2.0), bin_s: float = 0.05
) -> PeriEvent:
    """Rate of point events (spikes, licks) in windows around other events (a PSTH per event).

    Parameters
    ----------
    point_times : (m,) array_like
        Spike (or lick) times, seconds; need not be sorted.
    event_times : (n_events,) array_like
        Reference events, seconds on the same clock.
    window : (float, float)
        Window relative to each event, seconds.
    bin_s : float
        Bin width, seconds.

    Returns
    -------
    PeriEvent
        ``values`` (= ``rates``): counts in ``[event + edge_k, event + edge_k+1)`` divided by
        ``bin_s`` (Hz), shape (n_events, n_bins); ``time_axis``: bin centres, s.

    Examples
    --------
    >>> r = peri_event_rate([0.51, 1.02], [0.5, 1.0], window=(0.0, 0.05), bin_s=0.025)
    >>> r.rates
    array([[40.,  0.],
           [40.,  0.]])
    """
    e = _events(event_times)
    edges, centres = peri_event_axis(window, bin_s)
    p = np.sort(np.asarray(point_times, dtype=np.float64).ravel())
    if not np.isfinite(p).all():
        raise ValueError(
            f"{int((~np.isfinite(p)).sum())} of {len(p)} point times are NaN or infinite"
        )
    idx = np.searchsorted(p, e[:, None] + edges[None, :], side="left")
    counts = np.diff(idx, axis=1).astype(np.float64)
    return PeriEvent(values=counts / bin_s, time_axis=centres, event_times=e, bin_s=float(bin_s))


# --------------------------------------------------------------------------------------------
# Pose as a table
# --------------------------------------------------------------------------------------------


def pose_frame(points: Mapping[str, Any], times: Any, *, order: Sequence[str] | None = None):
    """Pose as IBL's table: columns ``<point>_x``, ``<point>_y``, ``<point>_likelihood``.

    Parameters
    ----------
    points : mapping of str to (n, 3) array_like
        Body part to x, y (full-frame pixels) and likelihood per frame.
    times : (n,) array_like
        Frame times, seconds (the index).
    order : sequence of str, optional
        Body parts in this order first (e.g. :data:`pipeline.rigs.TRACKED_POINTS`), the
        others after them, sorted.

    Returns
    -------
    pandas.DataFrame
        One row per frame, indexed by ``times`` (index name ``"times"``), float64 columns.

    Examples
    --------
    >>> df = pose_frame({"nose": np.array([[1.0, 2.0, 0.9], [1.5, 2.5, 0.8]])}, [0.0, 0.1])
    >>> list(df.columns)
    ['nose_x', 'nose_y', 'nose_likelihood']
    """
    import pandas as pd

    t = np.asarray(times, dtype=np.float64)
    if t.ndim != 1:
        raise ValueError(f"times must be 1-D, got shape {t.shape}")
    names = [p for p in (order or ()) if p in points] + sorted(
        p for p in points if p not in set(order or ())
    )
    cols: dict[str, np.ndarray] = {}
    for name in names:
        a = np.asarray(points[name], dtype=np.float64)
        if a.ndim != 2 or a.shape[1] != 3:
            raise ValueError(
                f"{name!r}: expected an (n, 3) array of x, y, likelihood, got {a.shape}"
            )
        if len(a) != len(t):
            raise ValueError(f"{name!r} has {len(a)} frames but there are {len(t)} frame times")
        cols[f"{name}_x"], cols[f"{name}_y"], cols[f"{name}_likelihood"] = a[:, 0], a[:, 1], a[:, 2]
    return pd.DataFrame(cols, index=pd.Index(t, name="times"))
