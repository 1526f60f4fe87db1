"""Features from pose: pupil diameter and lick events (DESIGN.md sections 4 and 10).

Everything here is pure computation on NumPy arrays (and, for :func:`likelihood_threshold`,
pandas DataFrames in IBL's ALF layout). Positions are in pixels of the camera's video frame;
times are seconds on the DAQ clock of the camera's frame times (FPGA on recording rigs, Bpod on
training rigs), whatever clock the caller's ``frame_times_s`` is on.

The algorithms follow IBL's ``brainbox.behavior.dlc`` (ibllib 4.x) and ``ibldsp.smooth``; where
IBL's code does what its documentation says, the numbers here match it; where it does not
(DESIGN.md section 10) each function's docstring says how and why this one differs.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.signal import savgol_coeffs

__all__ = [
    "FeatureParams",
    "LickResult",
    "PUPIL_WINDOW_FRAMES",
    "detect_licks",
    "lick_contact_distance",
    "lick_frames_ibl",
    "lick_onsets",
    "likelihood_threshold",
    "merge_camera_licks",
    "pupil_diameter_from_points",
    "pupil_diameter_raw",
    "pupil_window_frames",
    "smooth_pupil_diameter",
]

#: IBL's Savitzky-Golay windows (frames) for its two side cameras; ``pupil_window_frames``
#: reproduces both from a 0.5 s window made odd, and scales it for other rates.
PUPIL_WINDOW_FRAMES: dict[float, int] = {60.0: 31, 150.0: 75}

LICK_METHODS = ("ibl", "distance")

# running-moment Savitzky-Golay: windows per block, and the largest frame span of a block for
# which float prefix sums stay accurate to ~1e-7 px (longer blocks use the direct fit)
_BLOCK = 256
_MAX_BLOCK_SPAN = 2048.0

# frames per chunk of the per-frame arithmetic of pupil_diameter_raw, and irregular windows
# per chunk of _moment_fit: their temporaries stay in the CPU caches and are reused by the
# allocator, where whole-signal temporaries would be fresh pages (page faults) at every call
_ROW_CHUNK = 32768
_CENTRES_PER_CHUNK = 8192


# --------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureParams:
    """Thresholds and settings of the feature computations (one parameter-set row).

    Attributes
    ----------
    likelihood_threshold : float
        Points with a DeepLabCut likelihood below this (or NaN) are set to NaN. IBL: 0.9.
    pupil_window_s : float
        Savitzky-Golay window length in seconds, turned into an odd number of frames by
        :func:`pupil_window_frames` (0.5 s gives IBL's 31 frames at 60 Hz and 75 at 150 Hz).
    pupil_order : int
        Savitzky-Golay polynomial order. IBL: 3.
    pupil_std_thresh : float
        Raw samples further than this many standard deviations (of raw minus smooth) from the
        first smooth trace are dropped before smoothing again. IBL: 5.
    pupil_nan_thresh_s : float
        NaN runs longer than this (seconds) stay NaN in the smooth trace. IBL: 1.
    pupil_max_nan_fraction : float
        Smoothing raises ``ValueError`` when more than this fraction of frames is NaN. IBL: 0.9.
    lick_method : str
        ``"ibl"`` (tongue-tip jumps larger than std(diff)/``lick_std_divisor``, IBL's
        ``get_licks``) or ``"distance"`` (tongue tip within ``lick_distance_px`` of a spout
        point, the design note's definition).
    lick_std_divisor : float
        IBL's divisor of the standard deviation of the frame-to-frame differences. IBL: 4.
    lick_distance_px : float
        Contact distance of the ``"distance"`` method, pixels of a 1280-pixel-wide view (the
        left camera); ``LickEvents`` scales it to each camera's resolution (half for the
        640-wide right camera). Default 35: in the simulator the tongue tip comes within 18-27
        such pixels of the nearest spout point in every lick, and is hidden between licks.
    lick_min_gap_s : float
        Contact frames at most this far apart (seconds) belong to the same lick, unless the
        tongue was hidden in between (``lick_min_hidden_s``). The default, 55 ms, lies
        between frame-period multiples at 30, 60 and 150 Hz, so a jitter of a fraction of a
        millisecond cannot flip a decision.
    lick_min_hidden_s : float
        A run of frames with no tongue tip detected lasting at least this long (run length
        times the frame period, seconds) ends a lick: the next contact frame starts a new
        one however close in time. Mice lick with gaps of 30-40 ms between licks, shorter
        than ``lick_min_gap_s``; default 12 ms: one frame at 60 Hz, two at 150 Hz (a single
        missed detection at 150 Hz does not split a lick).
    lick_merge_tolerance_s : float
        Onsets of two cameras closer than this (seconds) are the same lick.
    """

    likelihood_threshold: float = 0.9
    pupil_window_s: float = 0.5
    pupil_order: int = 3
    pupil_std_thresh: float = 5.0
    pupil_nan_thresh_s: float = 1.0
    pupil_max_nan_fraction: float = 0.9
    lick_method: str = "ibl"
    lick_std_divisor: float = 4.0
    lick_distance_px: float = 35.0
    lick_min_gap_s: float = 0.055
    lick_min_hidden_s: float = 0.012
    lick_merge_tolerance_s: float = 0.04

    def __post_init__(self) -> None:
        if self.lick_method not in LICK_METHODS:
            raise ValueError(f"lick_method must be one of {LICK_METHODS}, got {self.lick_method!r}")
        if not 0.0 <= self.likelihood_threshold <= 1.0:
            raise ValueError(
                f"likelihood_threshold must be in [0, 1], got {self.likelihood_threshold}"
            )
        if not 0.0 < self.pupil_max_nan_fraction <= 1.0:
            raise ValueError(
                f"pupil_max_nan_fraction must be in (0, 1], got {self.pupil_max_nan_fraction}"
            )
        positive = {
            "pupil_window_s": self.pupil_window_s,
            "pupil_std_thresh": self.pupil_std_thresh,
            "lick_std_divisor": self.lick_std_divisor,
            "lick_distance_px": self.lick_distance_px,
        }
        nonneg = {
            "pupil_nan_thresh_s": self.pupil_nan_thresh_s,
            "lick_min_gap_s": self.lick_min_gap_s,
            "lick_min_hidden_s": self.lick_min_hidden_s,
            "lick_merge_tolerance_s": self.lick_merge_tolerance_s,
        }
        for name, value in positive.items():
            if not value > 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        for name, value in nonneg.items():
            if not value >= 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        if self.pupil_order < 0:
            raise ValueError(f"pupil_order must be >= 0, got {self.pupil_order}")


# --------------------------------------------------------------------------------------------
# Likelihood threshold
# --------------------------------------------------------------------------------------------


def likelihood_threshold(points: Any, threshold: float = 0.9) -> Any:
    """Return a copy of the pose with low-likelihood points set to NaN.

    Parameters
    ----------
    points : dict of str to (n, 3) array, or pandas.DataFrame
        Either a mapping from body-part name to an ``(n, 3)`` array of columns x (pixels),
        y (pixels), likelihood (0-1), or a DataFrame in IBL's ALF layout with columns
        ``<part>_x``, ``<part>_y``, ``<part>_likelihood`` (other columns are copied as-is).
    threshold : float
        Points whose likelihood is below ``threshold`` *or NaN* get x = y = NaN.

    Returns
    -------
    dict or pandas.DataFrame
        A new object of the same kind; likelihood values are kept. The input is not changed.

    Notes
    -----
    Differs from IBL's ``brainbox.behavior.dlc.likelihood_threshold`` in two ways (DESIGN.md
    section 10): IBL writes into the DataFrame it is given, and a NaN likelihood never blanks
    a point there (``NaN < 0.9`` is False). Here the input is never modified and a NaN
    likelihood counts as "not confident".

    Raises
    ------
    ValueError
        If an array is not ``(n, 3)``, a DataFrame has no ``<part>_likelihood`` column (e.g.
        DeepLabCut's MultiIndex layout: flatten it first), or a part lacks one of its three
        columns.
    """
    if hasattr(points, "columns"):  # pandas DataFrame (duck-typed to avoid importing pandas)
        df = points.copy()
        cols = [str(c) for c in df.columns]
        suffixes = ("_x", "_y", "_likelihood")
        parts = sorted(
            {c[: -len(s)] for c in cols for s in suffixes if c.endswith(s) and len(c) > len(s)}
        )
        if not any(f"{part}_likelihood" in cols for part in parts):
            raise ValueError(
                f"DataFrame has no '<part>_likelihood' columns (ALF layout expected); "
                f"columns: {cols[:6]}{'...' if len(cols) > 6 else ''}"
            )
        for part in parts:
            missing = [f"{part}{s}" for s in suffixes if f"{part}{s}" not in cols]
            if missing:
                raise ValueError(f"DataFrame part {part!r} lacks column(s) {missing}")
            lik = df[f"{part}_likelihood"].to_numpy(dtype=float)
            bad = ~(lik >= threshold)  # NaN likelihood -> bad
            for axis in ("_x", "_y"):
                col = df[f"{part}{axis}"].to_numpy(dtype=float, copy=True)
                col[bad] = np.nan
                df[f"{part}{axis}"] = col
        return df
    if not isinstance(points, Mapping):
        raise ValueError(
            f"points must be a mapping of part -> (n, 3) array or a DataFrame, got {type(points)}"
        )
    out: dict[str, np.ndarray] = {}
    for part, arr in points.items():
        a = np.array(arr, dtype=float, copy=True)
        if a.ndim != 2 or a.shape[1] != 3:
            raise ValueError(f"points[{part!r}] must have shape (n, 3), got {a.shape}")
        bad = ~(a[:, 2] >= threshold)
        # column by column: a boolean mask on the (n, 2) block would loop over rows of two
        np.copyto(a[:, 0], np.nan, where=bad)
        np.copyto(a[:, 1], np.nan, where=bad)
        out[part] = a
    return out


# --------------------------------------------------------------------------------------------
# Pupil diameter
# --------------------------------------------------------------------------------------------


def _as_xy(name: str, a: Any, n: int | None = None) -> np.ndarray:
    arr = np.asarray(a, dtype=float)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"{name} must have shape (n, 2), got {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} frames, expected {n}")
    return arr


# An optimal sorting network for six inputs: 12 compare-exchanges in 5 layers (Knuth, TAOCP
# 5.3.4). Compare-exchange ``(i, j)`` puts the smaller value in ``i``, the larger in ``j``.
_SORT6_LAYERS = (
    ((0, 5), (1, 3), (2, 4)),
    ((1, 2), (3, 4)),
    ((0, 3), (2, 5)),
    ((0, 1), (2, 3), (4, 5)),
    ((1, 2), (3, 4)),
)
_SORT6 = tuple(pair for layer in _SORT6_LAYERS for pair in layer)
# (4, 5) of layer 4 and (3, 4) of layer 5: their larger output only moves values among positions
# 4 and 5, which a median of at most six values never reads, so only their min is kept
_SORT6_MIN_ONLY = frozenset({9, 11})


def _nanmedian_of_six(columns: Any) -> np.ndarray:
    """Element-wise median of six arrays ignoring NaN; NaN where all six are NaN.

    Equal to ``np.nanmedian(np.stack(columns), axis=0)`` (without its all-NaN warning): the
    mean of the two middle values of the non-NaN ones (the middle one for an odd count).

    Parameters
    ----------
    columns : sequence of six (n,) array_like
        The values, one array per candidate (e.g. the six pupil-diameter estimates). Not
        modified.

    Returns
    -------
    (n,) float64 ndarray

    Notes
    -----
    A sorting network on whole columns (``np.minimum`` / ``np.maximum`` compare-exchanges),
    NaN sorted last as ``+inf``: several times faster than ``np.sort`` along the rows of an
    ``(n, 6)`` array. Only the four smallest values are needed (a median of at most six
    values reads positions 0-3), so two compare-exchanges keep only their minimum.
    """
    cols = [np.asarray(c, dtype=float) for c in columns]
    if len(cols) != 6:
        raise ValueError(f"expected six arrays, got {len(cols)}")
    isnan = [np.isnan(c) for c in cols]
    any_nan = isnan[0] | isnan[1]
    for m in isnan[2:]:
        any_nan |= m
    has_nan = bool(any_nan.any())
    if has_nan:  # NaN sorts last, as +inf (a real +inf still counts as a value)
        cols = [np.where(m, np.inf, c) if m.any() else c for c, m in zip(cols, isnan, strict=True)]
    s = cols
    for step, (i, j) in enumerate(_SORT6):
        if step in _SORT6_MIN_ONLY:
            s[i] = np.minimum(s[i], s[j])
        else:
            s[i], s[j] = np.minimum(s[i], s[j]), np.maximum(s[i], s[j])
    med = s[2] + s[3]  # six values: mean of the 3rd and 4th
    med *= 0.5
    if has_nan:  # rows with 0-5 values: positions (count - 1) // 2 and count // 2 (at most 2)
        rows = np.flatnonzero(any_nan)
        count = 6 - sum(m[rows].view(np.int8) for m in isnan)
        low3 = np.stack([c[rows] for c in s[:3]])
        col = np.arange(len(rows))
        lo = np.maximum((count - 1) // 2, 0)
        vals = 0.5 * (low3[lo, col] + low3[count // 2, col])
        vals[count == 0] = np.nan
        med[rows] = vals
    return med


def pupil_diameter_raw(top: Any, right: Any, bottom: Any, left: Any) -> np.ndarray:
    """Per-frame pupil diameter from the four pupil-edge points, pixels.

    The median of six estimates, as IBL's ``get_pupil_diameter``: the two direct diameters
    ``|top - bottom|`` and ``|left - right|``, and ``sqrt(2)`` times each of the four
    "adjacent" distances top-left, top-right, bottom-left, bottom-right (exact for a circle with
    the points 90 degrees apart). Estimates involving a missing (NaN) point are ignored, so any
    two points are enough; a frame with fewer than two points is NaN.

    Parameters
    ----------
    top, right, bottom, left : (n, 2) array_like
        x, y pixel positions of the pupil's top, right, bottom and left edge points, NaN where
        missing (e.g. after :func:`likelihood_threshold`).

    Returns
    -------
    (n,) float64 ndarray
        Diameter in pixels, NaN where fewer than two points are present.
    """
    t = _as_xy("top", top)
    n = t.shape[0]
    r, b, lf = _as_xy("right", right, n), _as_xy("bottom", bottom, n), _as_xy("left", left, n)
    root2 = math.sqrt(2.0)

    def dist(p: np.ndarray, q: np.ndarray, factor: float = 1.0) -> np.ndarray:
        # sqrt(dx^2 + dy^2), as IBL's np.linalg.norm (np.hypot is ~10x slower)
        d = p[:, 0] - q[:, 0]
        dy = p[:, 1] - q[:, 1]
        d *= d
        dy *= dy
        d += dy
        np.sqrt(d, out=d)
        if factor != 1.0:
            d *= factor
        return d

    out = np.empty(n)
    # in chunks of frames small enough for the CPU cache: the arithmetic is cheap, memory is not
    for start in range(0, n, _ROW_CHUNK):
        c = slice(start, start + _ROW_CHUNK)
        tc, rc, bc, lc = t[c], r[c], b[c], lf[c]
        est = [
            dist(tc, bc),
            dist(lc, rc),
            dist(tc, lc, root2),
            dist(tc, rc, root2),
            dist(bc, lc, root2),
            dist(bc, rc, root2),
        ]
        out[c] = _nanmedian_of_six(est)
    return out


def pupil_diameter_from_points(points: Mapping[str, Any], suffix: str = "r") -> np.ndarray:
    """Raw pupil diameter (pixels) from a pose mapping with ``pupil_<edge>_<suffix>`` parts.

    Parameters
    ----------
    points : mapping of str to (n, 2) or (n, 3) array
        Body part -> x, y[, likelihood] in pixels, already likelihood-thresholded.
    suffix : str
        ``"r"`` or ``"l"`` (the eye, as in ``pupil_top_r``).

    Returns
    -------
    (n,) float64 ndarray
        See :func:`pupil_diameter_raw`.
    """
    edges = ("top", "right", "bottom", "left")
    names = [f"pupil_{e}_{suffix}" for e in edges]
    missing = [nm for nm in names if nm not in points]
    if missing:
        raise ValueError(f"pose lacks pupil point(s) {missing}; has {sorted(points)}")
    xy = [np.asarray(points[nm], dtype=float)[:, :2] for nm in names]
    return pupil_diameter_raw(*xy)


def pupil_window_frames(
    fps: float, *, window_s: float | None = None, window: int | None = None, order: int = 3
) -> int:
    """Savitzky-Golay window in frames for a frame rate.

    Parameters
    ----------
    fps : float
        Frame rate, frames per second.
    window_s : float, optional
        Window length in seconds; default 0.5 s. ``round(window_s * fps)`` is made odd by adding
        one if even, which gives IBL's 31 frames at 60 Hz and 75 at 150 Hz (its two
        hard-coded values) and scales them to other rates (e.g. 15 at 30 Hz).
    window : int, optional
        Explicit window in frames (odd); overrides ``window_s``.
    order : int
        Polynomial order; the window is at least ``order + 2`` (odd).

    Returns
    -------
    int
        Odd window length, frames.
    """
    if window is not None:
        if int(window) != window or window % 2 == 0 or window <= order:
            raise ValueError(f"window must be an odd integer > order ({order}), got {window}")
        return int(window)
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    ws = 0.5 if window_s is None else float(window_s)
    if not ws > 0:
        raise ValueError(f"window_s must be > 0, got {window_s}")
    w = int(math.floor(ws * fps + 0.5))
    if w % 2 == 0:
        w += 1
    min_w = order + 2 if (order + 2) % 2 == 1 else order + 3
    return max(w, min_w)


# ---- non-uniform Savitzky-Golay, vectorised ------------------------------------------------


def _solve_hankel(mom: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve a batch of least-squares normal equations with Hankel Gram matrices.

    Parameters
    ----------
    mom : (2p-1, k) float array
        ``mom[i + j]`` is entry (i, j) of each of the k Gram matrices (moments of the scaled
        positions), symmetric positive definite.
    rhs : (p, k) float array
        Right-hand sides.

    Returns
    -------
    (p, k) float ndarray
        Polynomial coefficients. A Cholesky factorisation written on (k,) vectors (p is 4 for a
        cubic), much faster than ``np.linalg.solve`` on a hundred thousand 4x4 systems. The
        inputs are not modified.
    """
    p, k = rhs.shape
    tiny = np.finfo(float).tiny
    low = np.empty((p, p, k))  # low[i, j], i > j: the factor below the diagonal
    inv_diag = np.empty((p, k))  # 1 / low[j, j]
    for j in range(p):
        # column j, rows i = j..p-1 at once: mom[i + j] - sum_q low[i, q] * low[j, q]
        col = mom[2 * j : j + p].copy()
        for q in range(j):
            col -= low[j:, q] * low[j, q]
        np.sqrt(np.maximum(col[0], tiny), out=inv_diag[j])
        np.divide(1.0, inv_diag[j], out=inv_diag[j])
        np.multiply(col[1:], inv_diag[j], out=low[j + 1 :, j])
    z = rhs.copy()  # forward substitution L z = rhs, row q final once rows < q are done
    for q in range(p):
        z[q] *= inv_diag[q]
        if q + 1 < p:
            z[q + 1 :] -= low[q + 1 :, q] * z[q]
    coef = np.empty((p, k))  # back substitution L^T coef = z
    for i in range(p - 1, -1, -1):
        v = z[i]
        for q in range(i + 1, p):
            v -= low[q, i] * coef[q]
        np.multiply(v, inv_diag[i], out=coef[i])
    return coef


def _direct_fit(
    x: np.ndarray, y: np.ndarray, centres: np.ndarray, h: int, p: int, *, full: bool = False
) -> np.ndarray:
    """Least-squares polynomial fit on the windows of good points around ``centres``.

    Builds each window's Vandermonde matrix explicitly (memory ``len(centres) * (2h+1) * p``,
    done in blocks) and solves by QR, the most accurate option for windows spanning long gaps;
    used for windows :func:`_moment_fit` flags and for the two border windows. Returns the
    fitted value at each centre, or with ``full=True`` the ``(k, p)`` coefficients in powers
    of ``x - x[centre]`` (unscaled).
    """
    offsets = np.arange(-h, h + 1)
    out = np.empty((len(centres), p) if full else len(centres))
    block = 8192
    for start in range(0, len(centres), block):
        c = centres[start : start + block]
        idx = c[:, None] + offsets[None, :]
        t = (x[idx] - x[c][:, None]).astype(float)
        scale = np.maximum(np.abs(t).max(axis=1), 1.0)
        u = t / scale[:, None]
        vander = u[:, :, None] ** np.arange(p)[None, None, :]  # (k, w, p)
        q_mat, r_mat = np.linalg.qr(vander)  # batched, reduced: (k, w, p), (k, p, p)
        qty = np.einsum("kwi,kw->ki", q_mat, y[idx])
        coef = np.empty((p, len(c)))
        for i in range(p - 1, -1, -1):  # back-substitution R c = Q^T y
            v = qty[:, i].copy()
            for j in range(i + 1, p):
                v -= r_mat[:, i, j] * coef[j]
            coef[i] = v / r_mat[:, i, i]
        if full:
            out[start : start + block] = (coef / scale[None, :] ** np.arange(p)[:, None]).T
        else:
            out[start : start + block] = coef[0]
    return out


def _block_rows(v: np.ndarray, blocks: np.ndarray, length: int) -> np.ndarray:
    """``v[min(b * _BLOCK + l, len(v) - 1)]`` for each block ``b`` (increasing) and ``l < length``.

    Returns an ``(len(blocks), length)`` array; rows inside ``v`` are copied whole from a
    strided view, only a block running past the end is gathered element by element.
    """
    m = len(v)
    rows = np.empty((len(blocks), length), dtype=v.dtype)
    n_inside = (m - length) // _BLOCK + 1 if m >= length else 0  # blocks ending inside v
    k_in = int(np.searchsorted(blocks, n_inside))
    if k_in:
        view = np.lib.stride_tricks.as_strided(
            v, shape=(n_inside, length), strides=(_BLOCK * v.strides[0], v.strides[0])
        )
        rows[:k_in] = view[blocks[:k_in]]  # (np.take would copy the whole view first)
    if k_in < len(blocks):
        idx = np.minimum(blocks[k_in:, None] * _BLOCK + np.arange(length)[None, :], m - 1)
        rows[k_in:] = v[idx]
    return rows


def _moment_fit(
    x: np.ndarray, y: np.ndarray, centres: np.ndarray, h: int, p: int
) -> tuple[np.ndarray, np.ndarray]:
    """Fitted value at ``centres`` from running moments; returns ``(values, ok)``.

    For window ``i`` (good points ``i-h .. i+h``, offsets ``t_j = x_j - x_i``) the normal
    equations need ``S_k = sum t^k`` (k < 2p-1) and ``T_k = sum t^k y`` (k < p). Both come from
    prefix sums over blocks of ``_BLOCK`` consecutive centres: block ``b`` holds the good
    points of its windows, indices ``b*_BLOCK .. b*_BLOCK + _BLOCK + 2h - 1``, with the
    block-local origin ``a = x - x[b*_BLOCK]``; only blocks holding a centre are built, so the
    work scales with the number of irregular windows, not with the signal.

    * ``S_k`` are integers: they are computed exactly with int64 prefix sums of ``a^q`` and the
      binomial expansion of ``(a_j - a_i)^k``. Intermediate values may wrap around 2^64, which
      is harmless in modular arithmetic as long as the final ``S_k`` fits in int64; windows
      spanning too many frames for that are flagged ``ok = False``.
    * ``T_k`` are float: prefix sums of ``a^q y`` keep rounding errors below ~1e-6 px; blocks
      spanning more than ``_MAX_BLOCK_SPAN`` frames (long NaN gaps) are flagged ``ok = False``.

    ``centres`` (increasing) are processed in chunks of whole blocks, about
    ``_CENTRES_PER_CHUNK`` at a time, so that the temporaries stay small (cache-sized, reused
    by the allocator instead of fresh pages); every block's arithmetic is independent of the
    chunking. Flagged windows are recomputed by :func:`_direct_fit` (their ``values`` are
    meaningless).
    """
    k_centres = len(centres)
    values = np.empty(k_centres)
    ok = np.empty(k_centres, dtype=bool)
    if k_centres == 0:
        return values, ok
    xi = np.ascontiguousarray(x, dtype=np.int64)
    yf = np.ascontiguousarray(y, dtype=float)
    blk = (centres - h) // _BLOCK
    block_start = np.flatnonzero(np.diff(blk, prepend=-1))  # first centre of each block
    # a chunk starts at the first block starting in each run of _CENTRES_PER_CHUNK centres
    _, first_of_chunk = np.unique(block_start // _CENTRES_PER_CHUNK, return_index=True)
    bounds = [*block_start[first_of_chunk].tolist(), k_centres]
    for a, b in zip(bounds[:-1], bounds[1:], strict=False):
        values[a:b], ok[a:b] = _moment_fit_blocks(xi, yf, centres[a:b], blk[a:b], h, p)
    return values, ok


def _moment_fit_blocks(
    xi: np.ndarray, y: np.ndarray, centres: np.ndarray, blk: np.ndarray, h: int, p: int
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_moment_fit` on the centres of some blocks (``blk``: their block numbers)."""
    w = 2 * h + 1
    n_mom = 2 * p - 1
    k_centres = len(centres)
    present = np.zeros(blk[-1] - blk[0] + 1, dtype=bool)
    present[blk - blk[0]] = True
    blocks = np.flatnonzero(present)
    row = (np.cumsum(present) - 1)[blk - blk[0]]
    blocks += blk[0]
    first = blocks * _BLOCK
    length = _BLOCK + 2 * h
    x_first = xi[first]
    a_int = _block_rows(xi, blocks, length)  # (n_blocks, length)
    a_int -= x_first[:, None]
    a_c = xi[centres] - x_first[row]  # each centre's own offset in its block
    # a window's sum is prefix[lo + w] - prefix[lo] of its block's row (flat indices)
    stride = length + 1
    lo_flat = row * stride + (centres - h - first[row])
    hi_flat = lo_flat + w
    # -- S_k exactly (int64, modular); S_0 = w --
    prefix_i = np.zeros((len(blocks), stride), dtype=np.int64)
    flat_i = prefix_i.ravel()
    with np.errstate(over="ignore"):
        win: list[np.ndarray] = [None]  # type: ignore[list-item]  # sum of a^q over the window
        aq = a_int
        for q in range(1, n_mom):
            np.cumsum(aq, axis=1, out=prefix_i[:, 1:])
            win.append(flat_i[hi_flat] - flat_i[lo_flat])
            if q == 1:
                aq = a_int * a_int
            elif q < n_mom - 1:
                aq *= a_int
        neg_pow = [None, -a_c]  # (-a_c)^q
        for _ in range(2, n_mom):
            neg_pow.append(neg_pow[-1] * neg_pow[1])
        s_int: list[np.ndarray] = [None]  # type: ignore[list-item]
        for k in range(1, n_mom):
            acc = neg_pow[k] * w
            for q in range(1, k):
                acc += math.comb(k, q) * neg_pow[k - q] * win[q]
            acc += win[k]
            s_int.append(acc)
    xc = xi[centres]
    max_t = np.maximum(xi[centres + h] - xc, xc - xi[centres - h]).astype(float)
    # exact iff every |S_k| < 2^63: bound by w * max_t^(2p-2)
    ok = np.log2(w) + (n_mom - 1) * np.log2(np.maximum(max_t, 1.0)) < 62.0
    # -- T_k with block-local origins (float) --
    a = a_int.astype(float)
    ok &= a[row, -1] <= _MAX_BLOCK_SPAN
    prefix = np.zeros((len(blocks), stride))
    flat = prefix.ravel()
    term = _block_rows(y, blocks, length)
    tw: list[np.ndarray] = []  # sum of a^q y over the window
    for q in range(p):
        np.cumsum(term, axis=1, out=prefix[:, 1:])
        tw.append(flat[hi_flat] - flat[lo_flat])
        if q < p - 1:
            term *= a
    a_c = a_c.astype(float)
    neg_a = [None, -a_c]  # (-a_c)^q
    for _ in range(2, p):
        neg_a.append(neg_a[-1] * neg_a[1])
    t_sum = [tw[0]]  # binomial expansion of (a_j - a_c)^k, terms in increasing q
    for k in range(1, p):
        acc = neg_a[k] * tw[0]
        for q in range(1, k):
            acc += math.comb(k, q) * (neg_a[k - q] * tw[q])
        acc += tw[k]
        t_sum.append(acc)
    # -- solve the normal equations in positions scaled to [-1, 1] --
    # (all windows at once: the flagged ones give garbage, maybe inf/NaN, that is not used)
    with np.errstate(all="ignore"):
        inv_scale = 1.0 / np.maximum(max_t, 1.0)
        sp = [None, inv_scale]  # inv_scale^k
        for _ in range(2, n_mom):
            sp.append(sp[-1] * inv_scale)
        mom = np.empty((n_mom, k_centres))
        mom[0] = w
        for k in range(1, n_mom):
            mom[k] = s_int[k]  # (int64 -> float64, as astype)
            mom[k] *= sp[k]
        rhs = np.empty((p, k_centres))
        rhs[0] = t_sum[0]
        for k in range(1, p):
            np.multiply(t_sum[k], sp[k], out=rhs[k])
        values = _solve_hankel(mom, rhs)[0]
    return values, ok


def _nonuniform_savgol(
    x: np.ndarray,
    y: np.ndarray,
    window: int,
    order: int,
    *,
    frame_fit: np.ndarray | None = None,
) -> np.ndarray:
    """Savitzky-Golay smoothing of samples ``y`` taken at increasing integer positions ``x``.

    Same definition as IBL's ``ibldsp.smooth.non_uniform_savgol``: for each sample with ``h``
    samples on both sides (``h = window // 2``, counted in *samples*, not frames), fit a
    polynomial of ``order`` to those ``window`` samples by least squares against their
    positions and take its value at the sample's position; the first and last ``h`` samples
    take the value of the first/last full window's polynomial at their position.

    Windows whose samples are consecutive frames are a plain convolution with
    ``scipy.signal.savgol_coeffs``; the others (near NaN) are solved from running moments.
    ``frame_fit``, if given, is that convolution already done on a signal indexed by position
    (``frame_fit[f - h]`` = fit of the window of positions ``f-h .. f+h``, where those hold
    these same ``y`` values; :func:`smooth_pupil_diameter` shares one between its two passes).
    """
    m = len(x)
    h = window // 2
    p = order + 1
    if m < window:
        raise ValueError(
            f"only {m} non-NaN samples, fewer than the Savitzky-Golay window of {window}"
        )
    out = np.empty(m)
    # centres h .. m-h-1; a window is uniform when its samples are consecutive positions
    span = np.subtract(x[2 * h :], x[: m - 2 * h])
    irregular = np.flatnonzero(span != 2 * h)
    irregular += h
    # every centre gets the uniform fit; the irregular ones are overwritten below
    if frame_fit is None:
        coeffs = savgol_coeffs(window, order)  # symmetric for the value (deriv 0)
        out[h : m - h] = np.convolve(y, coeffs[::-1], mode="valid")  # [c - h]: centre c
    else:
        np.subtract(x[h : m - h], h, out=span)
        np.take(frame_fit, span, out=out[h : m - h], mode="clip")  # (in range: no clipping)
    if len(irregular):
        vals, ok = _moment_fit(x, y, irregular, h, p)
        if ok.all():
            out[irregular] = vals
        else:
            out[irregular[ok]] = vals[ok]
            out[irregular[~ok]] = _direct_fit(x, y, irregular[~ok], h, p)
    # borders: evaluate the first / last full window's polynomial
    edge_centres = np.array([h, m - h - 1])
    coef = _direct_fit(x, y, edge_centres, h, p, full=True)
    powers = np.arange(p)
    if h > 0:
        t0 = (x[:h] - x[h]).astype(float)
        out[:h] = (t0[:, None] ** powers[None, :]) @ coef[0]
        t1 = (x[m - h :] - x[m - h - 1]).astype(float)
        out[m - h :] = (t1[:, None] ** powers[None, :]) @ coef[1]
    return out


def _smooth_interpolate(
    signal: np.ndarray,
    window: int,
    order: int,
    *,
    isnan: np.ndarray | None = None,
    frame_fit: np.ndarray | None = None,
) -> np.ndarray:
    """Savitzky-Golay on the non-NaN samples, linear interpolation (and extrapolation) of NaN.

    Same as IBL's ``smooth_interpolate_savgol(..., interp_kind='linear')``: positions outside
    the first/last non-NaN sample are extrapolated along the line through the two nearest
    smoothed samples (``scipy.interpolate.interp1d(fill_value='extrapolate')``). ``isnan``
    (``np.isnan(signal)``) and ``frame_fit`` (see :func:`_nonuniform_savgol`) may be passed
    when already computed.
    """
    n = len(signal)
    if isnan is None:
        isnan = np.isnan(signal)
    good = np.flatnonzero(~isnan)
    sm = _nonuniform_savgol(good, signal[good], window, order, frame_fit=frame_fit)
    if len(good) == n:
        return sm
    out = np.empty(n)
    out[good] = sm
    g0, g1 = good[0], good[-1]
    inner = np.flatnonzero(isnan[g0:g1])
    if len(inner):  # between good samples: linear interpolation
        inner += g0
        after = np.searchsorted(good, inner)  # good[after - 1] < frame < good[after]
        # np.interp on just the bracketing samples (the same pairs, fewer to convert)
        after = after[np.diff(after, prepend=-1) != 0]  # one per NaN run (increasing)
        used = np.unique(np.concatenate([after - 1, after]))
        out[inner] = np.interp(inner.astype(float), good[used].astype(float), sm[used])
    if g0 > 0:
        slope = (sm[1] - sm[0]) / (good[1] - good[0])
        out[:g0] = sm[0] + slope * (np.arange(g0, dtype=float) - g0)
    if g1 < n - 1:
        slope = (sm[-1] - sm[-2]) / (good[-1] - good[-2])
        out[g1 + 1 :] = sm[-1] + slope * (np.arange(g1 + 1, n, dtype=float) - g1)
    return out


def _nan_runs(isnan: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start indices and lengths of the runs of True in a 1-D bool array (vectorised)."""
    padded = np.concatenate([[False], isnan, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    starts, stops = edges[0::2], edges[1::2]
    return starts, stops - starts


def smooth_pupil_diameter(
    diameter_px: Any,
    fps: float,
    *,
    window: int | None = None,
    window_s: float | None = None,
    order: int = 3,
    std_thresh: float = 5.0,
    nan_thresh_s: float = 1.0,
    max_nan_fraction: float = 0.9,
) -> np.ndarray:
    """Smooth a raw pupil-diameter trace, IBL's way, vectorised.

    1. Savitzky-Golay (``order``, ``window`` samples) on the non-NaN samples, using their
       frame positions, with NaN frames linearly interpolated between smoothed samples.
    2. Raw samples more than ``std_thresh`` standard deviations (of raw minus smooth) from the
       smooth trace are set to NaN, and step 1 is repeated.
    3. NaN runs (after step 2) longer than ``nan_thresh_s`` seconds stay NaN; runs of at most
       ``nan_thresh_s * fps`` frames are interpolated.

    Parameters
    ----------
    diameter_px : (n,) array_like
        Raw diameter per frame, pixels, NaN where unknown (:func:`pupil_diameter_raw`).
    fps : float
        Frame rate, frames per second (turns ``nan_thresh_s`` and ``window_s`` into frames).
    window, window_s : int or float, optional
        Window in frames (odd) or seconds; see :func:`pupil_window_frames` (default 0.5 s:
        31 frames at 60 Hz, 75 at 150 Hz, IBL's values).
    order : int
        Savitzky-Golay polynomial order (IBL: 3).
    std_thresh : float
        Outlier threshold in standard deviations (IBL: 5).
    nan_thresh_s : float
        Longest NaN run that is interpolated, seconds (IBL: 1); longer runs stay NaN.
    max_nan_fraction : float
        Raise if more than this fraction of frames is NaN (IBL: 0.9).

    Returns
    -------
    (n,) float64 ndarray
        Smoothed diameter, pixels; NaN inside NaN runs longer than ``nan_thresh_s``.

    Raises
    ------
    ValueError
        If more than ``max_nan_fraction`` of the frames are NaN (the message gives the
        fraction and counts), if fewer non-NaN samples than the window remain, or on bad
        arguments.

    Notes
    -----
    Matches ibllib's ``get_smooth_pupil_diameter`` (which calls ``ibldsp.smooth
    .smooth_interpolate_savgol`` with ``interp_kind='linear'``) to rounding error on traces
    without leading/trailing NaN runs longer than ``nan_thresh_s``, with these differences
    (DESIGN.md section 10):

    * IBL loops in Python over every sample, twice (about 22 s for 90,000 frames at 150 Hz);
      this is vectorised (well under 1 s for 540,000 frames).
    * IBL pairs the starts and ends of NaN runs by position: a trace that starts with NaN
      never blanks any run, and a trailing run is never blanked (it is extrapolated). Here
      every run longer than ``nan_thresh_s`` is blanked, wherever it is. Leading/trailing runs
      of at most ``nan_thresh_s`` are extrapolated linearly, as IBL does.
    * IBL takes the window from the camera name ('left' 31, 'right' 75); here it comes from
      the frame rate, giving the same values at 60 and 150 Hz.
    * The normal equations are solved with positions scaled to [-1, 1] (IBL inverts the
      unscaled Gram matrix), so values can differ from IBL's in the last few digits (ours are
      the closer to an exact least-squares fit).

    On a noise-free synthetic trace the 5 SD rule (IBL's too) flags the fit's own tiny bias
    near gaps as outliers, which lengthens NaN runs; add noise to synthetic test traces.
    """
    d = np.asarray(diameter_px, dtype=float)
    if d.ndim != 1:
        raise ValueError(f"diameter_px must be 1-D, got shape {d.shape}")
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    if not std_thresh > 0:
        raise ValueError(f"std_thresh must be > 0, got {std_thresh}")
    if not nan_thresh_s >= 0:
        raise ValueError(f"nan_thresh_s must be >= 0, got {nan_thresh_s}")
    w = pupil_window_frames(fps, window_s=window_s, window=window, order=order)
    n = d.size
    isnan = np.isnan(d)
    n_nan = int(isnan.sum())
    frac = n_nan / n if n else 1.0
    if n == 0 or frac > max_nan_fraction:
        raise ValueError(
            f"raw pupil diameter is NaN in {frac:.1%} of frames ({n_nan} of {n}); more than "
            f"{max_nan_fraction:.0%} NaN cannot be smoothed"
        )
    # the fits of the windows without NaN, by frame: one convolution serves both passes (a
    # window without NaN after the outlier step had none before it, with the same values)
    frame_fit = None
    if n >= w:
        coeffs = savgol_coeffs(w, order)
        frame_fit = np.convolve(np.where(isnan, 0.0, d), coeffs[::-1], mode="valid")
    first = _smooth_interpolate(d, w, order, isnan=isnan, frame_fit=frame_fit)
    diff = d - first
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        thresh = std_thresh * np.nanstd(diff)
    cleaned = np.where(np.abs(diff, out=diff) > thresh, np.nan, d)
    del first, diff
    cleaned_nan = np.isnan(cleaned)
    out = _smooth_interpolate(cleaned, w, order, isnan=cleaned_nan, frame_fit=frame_fit)
    starts, lengths = _nan_runs(cleaned_nan)
    long_run = lengths > fps * nan_thresh_s
    if long_run.any():
        mark = np.zeros(n + 1, dtype=np.int64)
        np.add.at(mark, starts[long_run], 1)
        np.add.at(mark, starts[long_run] + lengths[long_run], -1)
        out[np.cumsum(mark[:n]) > 0] = np.nan
    return out


# --------------------------------------------------------------------------------------------
# Licks
# --------------------------------------------------------------------------------------------


def lick_frames_ibl(tongue_points: Mapping[str, Any], std_divisor: float = 4.0) -> np.ndarray:
    """Per-frame lick flag from tongue-tip jumps (IBL's ``get_licks`` criterion).

    For each coordinate (x and y of every tongue point) the threshold is the standard
    deviation of its frame-to-frame differences (NaN ignored) divided by ``std_divisor``;
    frame ``i`` is a lick frame when any coordinate changes by more than its threshold between
    frames ``i`` and ``i + 1``. Differences involving a NaN (tongue not detected) never count.

    Parameters
    ----------
    tongue_points : mapping of str to (n, 2) array
        Tongue-tip positions in pixels, NaN where not detected (likelihood-thresholded), e.g.
        ``{"tongue_end_l": ..., "tongue_end_r": ...}``. (n, 3) arrays are accepted (the
        likelihood column is ignored).
    std_divisor : float
        IBL: 4.

    Returns
    -------
    (n,) bool ndarray
        True on lick frames. As in IBL, a jump between frames ``i`` and ``i+1`` marks frame
        ``i`` (IBL's lick times are ``frame_times[i]``); the last frame is never marked.

    Notes
    -----
    IBL returns the *time of every such frame* (several per lick) and concatenates both side
    cameras; use :func:`lick_onsets` and :func:`merge_camera_licks` for one event per lick.
    """
    if not tongue_points:
        raise ValueError("tongue_points is empty")
    if not std_divisor > 0:
        raise ValueError(f"std_divisor must be > 0, got {std_divisor}")
    cols = []
    n = None
    for name, arr in tongue_points.items():
        a = np.asarray(arr, dtype=float)
        if a.ndim != 2 or a.shape[1] not in (2, 3):
            raise ValueError(f"tongue_points[{name!r}] must have shape (n, 2), got {a.shape}")
        if n is not None and a.shape[0] != n:
            raise ValueError(f"tongue_points[{name!r}] has {a.shape[0]} frames, expected {n}")
        n = a.shape[0]
        cols.extend((a[:, 0], a[:, 1]))
    out = np.zeros(n, dtype=bool)
    if n < 2:
        return out
    for col in cols:  # one coordinate at a time, as IBL (1-D arrays: no (n, 2k) copies)
        step = np.diff(col)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN: threshold NaN, no lick
            thresh = np.nanstd(step) / std_divisor
        np.abs(step, out=step)
        out[:-1] |= step > thresh  # NaN never compares greater
    return out


def lick_contact_distance(
    tongue_tips: Mapping[str, Any], spout_points: Mapping[str, Any], max_distance_px: float
) -> np.ndarray:
    """Per-frame tongue-spout contact: any tongue tip within a distance of any spout point.

    The design note's definition of a lick (DESIGN.md section 4).

    Parameters
    ----------
    tongue_tips : mapping of str to (n, 2) array
        Tongue-tip positions, pixels, NaN where not detected.
    spout_points : mapping of str to (n, 2) or (2,) array
        Spout points (e.g. ``tube_top``, ``tube_bottom``), pixels. A per-frame array may have
        NaN frames (the tongue often hides the spout); those frames use the point's median
        position over the session (the spout does not move). A (2,) array is a fixed position.
    max_distance_px : float
        Contact distance, pixels (inclusive).

    Returns
    -------
    (n,) bool ndarray
        True where some tongue tip is within ``max_distance_px`` of some spout point. Frames
        with no tongue tip detected are False.
    """
    if not tongue_tips:
        raise ValueError("tongue_tips is empty")
    if not spout_points:
        raise ValueError("spout_points is empty")
    if not max_distance_px > 0:
        raise ValueError(f"max_distance_px must be > 0, got {max_distance_px}")
    tips = []
    n = None
    for name, arr in tongue_tips.items():
        a = np.asarray(arr, dtype=float)
        if a.ndim != 2 or a.shape[1] not in (2, 3):
            raise ValueError(f"tongue_tips[{name!r}] must have shape (n, 2), got {a.shape}")
        if n is not None and a.shape[0] != n:
            raise ValueError(f"tongue_tips[{name!r}] has {a.shape[0]} frames, expected {n}")
        n = a.shape[0]
        tips.append((a[:, 0], a[:, 1]))
    spouts: list[tuple[Any, Any]] = []  # x, y: (n,) arrays or floats (a fixed point)
    for name, arr in spout_points.items():
        s = np.asarray(arr, dtype=float)
        if s.shape == (2,):
            spouts.append((float(s[0]), float(s[1])))
        elif s.ndim == 2 and s.shape[1] in (2, 3) and s.shape[0] == n:
            sx, sy = s[:, 0], s[:, 1]
            miss = np.isnan(sx) | np.isnan(sy)
            if miss.all():
                raise ValueError(f"spout point {name!r} is NaN in all {n} frames")
            if miss.any():
                med = np.nanmedian(s[~miss, :2], axis=0)
                sx, sy = np.where(miss, med[0], sx), np.where(miss, med[1], sy)
            spouts.append((sx, sy))
        else:
            raise ValueError(
                f"spout_points[{name!r}] must have shape (2,) or ({n}, 2), got {s.shape}"
            )
    contact = np.zeros(n, dtype=bool)
    max_sq = float(max_distance_px) ** 2
    for tx, ty in tips:
        # only frames with a detected tip can touch (a NaN distance is never <= max)
        idx = np.flatnonzero(~(np.isnan(tx) | np.isnan(ty)))
        tx, ty = tx[idx], ty[idx]
        near = np.zeros(len(idx), dtype=bool)
        for sx, sy in spouts:
            dx = tx - (sx if isinstance(sx, float) else sx[idx])
            dy = ty - (sy if isinstance(sy, float) else sy[idx])
            dx *= dx
            dy *= dy
            dx += dy  # squared distance: no sqrt (np.hypot is ~10x slower)
            near |= dx <= max_sq
        contact[idx[near]] = True
    return contact


def lick_onsets(
    contact: Any,
    frame_times_s: Any,
    *,
    min_gap_s: float = 0.055,
    tongue_hidden: Any = None,
    min_hidden_s: float = 0.012,
    onset_at_appearance: bool = False,
) -> np.ndarray:
    """One time per lick: the first contact frame of each group of nearby contact frames.

    Contact frames whose times are at most ``min_gap_s`` apart belong to the same lick
    (debouncing: a frame or two of missed detection inside a lick does not split it),
    unless the tongue was hidden between them for at least ``min_hidden_s``: licks follow
    each other with 30-40 ms gaps, and the tongue going back in is what separates them.

    Parameters
    ----------
    contact : (n,) bool array_like
        Per-frame lick/contact flag (:func:`lick_frames_ibl` or :func:`lick_contact_distance`).
    frame_times_s : (n,) array_like
        Time of every frame, seconds on the DAQ clock, strictly increasing.
    min_gap_s : float
        Largest gap between contact frames inside one lick, seconds.
    tongue_hidden : (n,) bool array_like, optional
        Frames where no tongue tip is detected (all NaN after the likelihood threshold).
        None: licks are separated by ``min_gap_s`` alone.
    min_hidden_s : float
        Shortest hidden run that ends a lick: run length in frames times the median frame
        period, seconds.
    onset_at_appearance : bool
        With ``tongue_hidden``: a lick's onset is the first frame of the run of frames with
        the tongue out that holds its first contact frame (when the tongue came out, not
        when it reached the spout, 2-3 frames later at 60 Hz). A second lick within the
        same run keeps its own first contact frame.

    Returns
    -------
    (k,) float64 ndarray
        Lick onset times, seconds, increasing.
    """
    c = np.asarray(contact, dtype=bool)
    t = np.asarray(frame_times_s, dtype=float)
    if c.ndim != 1 or t.ndim != 1 or c.shape != t.shape:
        raise ValueError(
            f"contact and frame_times_s must be 1-D of equal length, got {c.shape} and {t.shape}"
        )
    if not min_gap_s >= 0:
        raise ValueError(f"min_gap_s must be >= 0, got {min_gap_s}")
    tc = t[c]
    if tc.size == 0:
        return np.zeros(0)
    if np.isnan(tc).any():
        raise ValueError(f"{int(np.isnan(tc).sum())} contact frames have NaN times")
    new = np.empty(tc.size, dtype=bool)
    new[0] = True
    new[1:] = np.diff(tc) > min_gap_s
    if tongue_hidden is not None:
        hidden = np.asarray(tongue_hidden, dtype=bool)
        if hidden.shape != c.shape:
            raise ValueError(f"tongue_hidden has shape {hidden.shape}, contact {c.shape}")
        if not min_hidden_s >= 0:
            raise ValueError(f"min_hidden_s must be >= 0, got {min_hidden_s}")
        period = float(np.median(np.diff(t))) if t.size > 1 else 0.0
        starts, lengths = _nan_runs(hidden)
        long = lengths * period >= min_hidden_s
        # ends[i]: number of long hidden runs that ended at or before frame i
        ended = np.zeros(c.size + 1, dtype=np.int64)
        np.add.at(ended, starts[long] + lengths[long], 1)
        ended = np.cumsum(ended)[: c.size]
        idx = np.flatnonzero(c)
        new[1:] |= ended[idx[1:]] > ended[idx[:-1]]
        if onset_at_appearance:
            first = idx[new]
            out_start = ~hidden & np.concatenate([[True], hidden[:-1]])  # first frame of a run out
            run_start = np.maximum.accumulate(np.where(out_start, np.arange(c.size), 0))[first]
            run_start = np.where(hidden[first], first, run_start)  # contact without a tongue: as is
            same_run = np.concatenate([[False], run_start[1:] == run_start[:-1]])
            return t[np.where(same_run, first, run_start)]
    return tc[new]


def merge_camera_licks(times_a: Any, times_b: Any, tolerance_s: float = 0.04) -> np.ndarray:
    """Merge lick onsets seen by two cameras without counting a lick twice.

    An onset of camera B is the same lick as an onset of camera A when each is the other's
    nearest onset and they are at most ``tolerance_s`` apart (mutual nearest neighbours, so
    one lick of A never absorbs two licks of B). Matched pairs keep A's time; unmatched
    onsets of either camera are kept.

    Parameters
    ----------
    times_a, times_b : (k,) array_like
        Onset times of each camera, seconds on the same clock. Pass the camera with the higher
        frame rate (finer timing) as ``times_a``.
    tolerance_s : float
        Largest time difference of a matched pair, seconds; keep it below half the shortest
        inter-lick interval (~100 ms in mice).

    Returns
    -------
    (k,) float64 ndarray
        Sorted merged onset times, seconds.

    Notes
    -----
    IBL's ``licks.times`` concatenates both cameras' lick frames, so each lick seen by both
    cameras is counted (at least) twice (DESIGN.md section 10).
    """
    a = np.sort(np.asarray(times_a, dtype=float).ravel())
    b = np.sort(np.asarray(times_b, dtype=float).ravel())
    if np.isnan(a).any() or np.isnan(b).any():
        raise ValueError(
            f"onset times contain NaN ({int(np.isnan(a).sum())} in a, {int(np.isnan(b).sum())} in b)"
        )
    if not tolerance_s >= 0:
        raise ValueError(f"tolerance_s must be >= 0, got {tolerance_s}")
    if a.size == 0 or b.size == 0:
        return np.sort(np.concatenate([a, b]))

    def nearest(ref: np.ndarray, q: np.ndarray) -> np.ndarray:
        i = (
            np.clip(np.searchsorted(ref, q), 1, len(ref) - 1)
            if len(ref) > 1
            else np.zeros(len(q), dtype=np.int64)
        )
        if len(ref) == 1:
            return i
        left_closer = np.abs(q - ref[i - 1]) <= np.abs(ref[i] - q)
        return np.where(left_closer, i - 1, i)

    nb_for_a = nearest(b, a)  # index into b of a's nearest
    na_for_b = nearest(a, b)
    mutual = nb_for_a[na_for_b] == np.arange(b.size)
    close = np.abs(a[na_for_b] - b) <= tolerance_s
    duplicate_b = mutual & close
    return np.sort(np.concatenate([a, b[~duplicate_b]]))


@dataclass(frozen=True)
class LickResult:
    """Licks of one camera.

    Attributes
    ----------
    contact : (n,) bool ndarray
        Per-frame lick/contact flag.
    onset_times : (k,) float64 ndarray
        One time per lick, seconds on the clock of the frame times given.
    method : str
        ``"ibl"`` or ``"distance"``.
    """

    contact: np.ndarray
    onset_times: np.ndarray
    method: str


def detect_licks(
    tongue_points: Mapping[str, Any],
    frame_times_s: Any,
    params: FeatureParams | None = None,
    *,
    spout_points: Mapping[str, Any] | None = None,
) -> LickResult:
    """Per-frame contact and lick onsets of one camera with the method chosen in ``params``.

    Parameters
    ----------
    tongue_points : mapping of str to (n, 2) array
        Tongue-tip positions, pixels, likelihood-thresholded (NaN where not detected).
    frame_times_s : (n,) array_like
        Frame times, seconds on the DAQ clock.
    params : FeatureParams, optional
        ``lick_method`` selects :func:`lick_frames_ibl` or :func:`lick_contact_distance`.
    spout_points : mapping of str to (n, 2) or (2,) array, optional
        Required by the ``"distance"`` method.

    Returns
    -------
    LickResult
    """
    prm = FeatureParams() if params is None else params
    if prm.lick_method == "ibl":
        contact = lick_frames_ibl(tongue_points, prm.lick_std_divisor)
    else:
        if spout_points is None:
            raise ValueError("lick_method 'distance' needs spout_points")
        contact = lick_contact_distance(tongue_points, spout_points, prm.lick_distance_px)
    hidden = np.ones(len(contact), dtype=bool)
    for arr in tongue_points.values():
        hidden &= np.isnan(np.asarray(arr, dtype=float)[:, :2]).any(axis=1)
    onsets = lick_onsets(contact, frame_times_s, min_gap_s=prm.lick_min_gap_s, tongue_hidden=hidden,
                         min_hidden_s=prm.lick_min_hidden_s, onset_at_appearance=prm.lick_method == "distance")  # fmt: skip
    return LickResult(contact=contact, onset_times=onsets, method=prm.lick_method)
