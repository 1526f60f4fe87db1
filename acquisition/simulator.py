"""A synthetic mouse on an IBL rig, with exact ground truth.

:class:`Behaviour` is the continuous-time behaviour of one session (trial onsets, licks,
blinks, pupil diameter, gaze, sniffing, paw movements), deterministic from a seed and
sampled at any times. :class:`MouseScene` is one camera's view of it: :meth:`MouseScene.render`
draws grey ``uint8`` frames and :meth:`MouseScene.truth` returns, for the same times, where
each of the 23 tracked points (:data:`pipeline.rigs.TRACKED_POINTS`) is in the image, the
pupil diameter in pixels and whether the tongue is out (:class:`SceneTruth`).

Times are seconds on the session clock, which is the FPGA clock of :mod:`acquisition.daq`.
Image coordinates are ``(x, y)`` pixels, ``x`` to the right, ``y`` down, with the centre of
pixel ``(0, 0)`` at ``(0.0, 0.0)``.

The views (defaults; any size by argument, geometry scales with the image):

``"left"`` (1280x1024)
    The mouse's left side, facing right: head with the left eye, snout with nose pad and
    nostril, chin, a drinking spout in front of the mouth, the tongue during licks, both
    fore paws on the wheel (the near paw is the left one). Visible points: the ``_l`` pupil
    points, ``chin_l``, ``tube_top``, ``tube_bottom``, ``tongue_end_l``, ``tongue_end_r``,
    the eight finger points and the two nostril edges.
``"right"`` (640x512, half resolution)
    The other side: the same scene mirrored, with the right eye (``_r`` pupil points) and the
    right paw near; ``chin_l`` is not visible.
``"body"`` (1280x1024)
    The trunk, the tail and both hind paws on the wheel; none of the 23 points (all NaN);
    ``SceneTruth.extra_points`` has ``tail_start`` and the hind paws' centres.

Point definitions (what a labeller would click):

- ``pupil_top/right/bottom/left``: the pupil disc's edge straight above, right of, below
  and left of its centre (in image directions).
- ``tube_top``, ``tube_bottom``: the centres of the spout's two end faces (the top end
  meets the darker holder; the bottom end is the spout's free opening).
- ``tongue_end_l``, ``tongue_end_r``: the upper and lower corners of the tongue's rounded
  tip (on its outline, 40 degrees either side of the tongue's axis).
- finger points: the centre of each fingertip's round end (inside the finger).
- ``nostril_edge_high/low``: the ends of the nostril's minor axis (its upper and lower edge).
- ``chin_l``: the lowest point of the chin's outline.

Hidden points are NaN: pupil points during blinks, tongue points when the tongue is in,
and points of the side a camera does not see.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import cv2
import numpy as np

from pipeline.rigs import TRACKED_POINTS

__all__ = [
    "Behaviour",
    "MouseScene",
    "SceneTruth",
    "PUPIL_PX_PER_MM",
    "REFERENCE_SIZE",
    "SCENE_LABELS",
    "simulate_trial_onsets",
    "simulated_subject",
]

#: Width and height (pixels) at which the scene's geometry is defined; other sizes scale it.
REFERENCE_SIZE: tuple[int, int] = (1280, 1024)
#: Pupil scale at the reference size: 0.6-1.6 mm gives 15-40 px, as on IBL's side cameras.
PUPIL_PX_PER_MM = 25.0
#: Camera labels a scene can show.
SCENE_LABELS: tuple[str, ...] = ("left", "right", "body")
_DEFAULT_SIZES = {"left": (1280, 1024), "right": (640, 512), "body": (1280, 1024)}
_FINGERS = ("pointer_finger", "middle_finger", "ring_finger", "pinky")

# Grey levels (before lighting) of the scene's materials.
_LEVEL = {
    "background": 52.0,
    "fur": 122.0,
    "ear": 96.0,
    "inner_ear": 150.0,
    "eye_rim": 32.0,
    "iris": 158.0,
    "pupil": 22.0,
    "glint": 250.0,
    "nose_pad": 96.0,
    "nostril": 18.0,
    "lip": 55.0,
    "tongue": 206.0,
    "spout": 228.0,
    "holder": 88.0,
    "paw": 190.0,
    "paw_far": 168.0,
    "paw_outline": 58.0,
    "wheel": 70.0,
    "wheel_rim": 98.0,
    "bar": 92.0,
    "tail": 150.0,
}


def simulated_subject(subject: str) -> dict:
    """The simulated mouse's description, as Alyx would give it (:mod:`pipeline.io.subject`).

    A C57BL/6J *Mus musculus*, female or male and born in September 2024, both from the
    nickname only, so that every session of one simulated subject describes it alike (a
    ``Subject`` row that disagrees with a new session's description is refused).

    Parameters
    ----------
    subject : str
        Nickname.
    """
    import datetime as dt

    h = zlib.crc32(subject.encode())
    return {
        "subject": subject,
        "sex": "FM"[h % 2],
        "date_of_birth": (dt.date(2024, 9, 1) + dt.timedelta(days=h % 30)).isoformat(),
        "species": "Mus musculus",
        "strain": "C57BL/6J",
    }


# --------------------------------------------------------------------------------------
# Behaviour
# --------------------------------------------------------------------------------------


def _rng(seed: int, stream: str) -> np.random.Generator:
    """Independent, reproducible random stream ``stream`` of ``seed``."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(stream.encode())])


def _check_range(name: str, value: tuple[float, float], low: float = 0.0) -> tuple[float, float]:
    lo, hi = (float(v) for v in value)
    if not (low <= lo <= hi):
        raise ValueError(f"{name} must be an ordered pair ({low} <= low <= high), got {value!r}")
    return lo, hi


def simulate_trial_onsets(
    duration_s: float,
    seed: int = 0,
    *,
    first_onset_s: float = 1.0,
    trial_duration_s: tuple[float, float] = (3.0, 8.0),
    end_margin_s: float = 1.0,
) -> np.ndarray:
    """Trial onset times of a session, seconds on the FPGA (session) clock.

    Trials follow each other with durations drawn uniformly from ``trial_duration_s``; the
    first starts at ``first_onset_s`` and no trial starts later than ``duration_s -
    end_margin_s``. The same ``seed`` gives the same onsets in :class:`Behaviour` and in
    :func:`acquisition.daq.simulate_daq` (they both call this function).

    Returns
    -------
    (m,) float64
        Strictly increasing onset times, s.
    """
    if not duration_s > 0:
        raise ValueError(f"duration_s must be > 0, got {duration_s}")
    lo, hi = _check_range("trial_duration_s", trial_duration_s)
    if lo <= 0:
        raise ValueError(f"trial durations must be > 0 s, got {trial_duration_s!r}")
    last = duration_s - end_margin_s
    if last < first_onset_s:
        return np.zeros(0)
    n_max = int(np.ceil((last - first_onset_s) / lo)) + 2
    durations = _rng(seed, "trials").uniform(lo, hi, n_max)
    onsets = first_onset_s + np.concatenate([[0.0], np.cumsum(durations)])
    return onsets[onsets <= last]


def _in_intervals(intervals: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For sorted, disjoint ``[start, end)`` intervals: (inside mask, interval index or -1)."""
    t = np.asarray(t, dtype=np.float64)
    if len(intervals) == 0:
        return np.zeros(t.shape, bool), np.full(t.shape, -1, np.int64)
    idx = np.searchsorted(intervals[:, 0], t, side="right") - 1
    inside = (idx >= 0) & (t < intervals[np.clip(idx, 0, None), 1])
    return inside, np.where(inside, idx, -1)


class _Sines:
    """A smooth random signal: a sum of sines with amplitudes adding up to ``amplitude``."""

    def __init__(
        self, rng: np.random.Generator, n: int, f_range: tuple[float, float], amplitude=1.0
    ):
        self.freqs = np.exp(rng.uniform(np.log(f_range[0]), np.log(f_range[1]), n))
        self.phases = rng.uniform(0, 2 * np.pi, n)
        w = rng.uniform(0.5, 1.0, n)
        self.amps = amplitude * w / w.sum()

    def __call__(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64)[..., None]
        return np.sin(2 * np.pi * self.freqs * t + self.phases) @ self.amps


class Behaviour:
    """What the mouse does during one session, in continuous time; deterministic from ``seed``.

    Parameters
    ----------
    duration_s : float
        Session duration, s.
    seed : int
        Random seed; the same seed gives the same behaviour.
    trial_onsets_s : (m,) array, optional
        Trial onsets on the FPGA clock, s. Default: :func:`simulate_trial_onsets` with the
        same ``seed`` (so that :func:`acquisition.daq.simulate_daq` with ``DaqConfig(seed=seed)``
        has the same trials).
    lick_rate_hz : float
        Lick rate within a bout, licks per second; each inter-lick interval is ``1 /
        lick_rate_hz`` times a factor uniform in [0.92, 1.08] (default 7.4 Hz: 125-146 ms).
    lick_duration_s : (float, float)
        Range of the tongue-out time of one lick, s (uniform).
    licks_per_bout : (int, int)
        Range of the number of licks in a bout (uniform, inclusive).
    bout_probability : float
        Probability that a trial has a lick bout (the reward was given).
    bout_delay_s : (float, float)
        Range of the delay from trial onset to the first lick of its bout, s.
    spontaneous_lick_rate_hz : float
        Rate of single licks outside bouts (Poisson), per second.
    blink_rate_hz : float
        Rate of blinks (Poisson, at least 0.3 s apart), per second.
    blink_duration_s : (float, float)
        Range of blink durations (eye closed, pupil hidden), s.
    pupil_range_mm : (float, float)
        Range of the pupil diameter, mm (slow changes over the whole range plus a dilation
        after each trial onset).

    Attributes
    ----------
    duration_s : float
    seed : int
    trial_onsets_s : (m,) float64
        FPGA clock, s.
    lick_intervals_s : (k, 2) float64
        True ``[start, end)`` of each lick (tongue out), FPGA clock, s; sorted, disjoint.
    blink_intervals_s : (b, 2) float64
        ``[start, end)`` of each blink, s; sorted, disjoint.
    """

    def __init__(
        self,
        duration_s: float,
        seed: int = 0,
        *,
        trial_onsets_s: np.ndarray | None = None,
        lick_rate_hz: float = 7.4,
        lick_duration_s: tuple[float, float] = (0.05, 0.10),
        licks_per_bout: tuple[int, int] = (3, 10),
        bout_probability: float = 0.8,
        bout_delay_s: tuple[float, float] = (0.4, 1.5),
        spontaneous_lick_rate_hz: float = 0.02,
        blink_rate_hz: float = 0.1,
        blink_duration_s: tuple[float, float] = (0.1, 0.25),
        pupil_range_mm: tuple[float, float] = (0.6, 1.6),
    ) -> None:
        if not duration_s > 0:
            raise ValueError(f"duration_s must be > 0, got {duration_s}")
        if not lick_rate_hz > 0:
            raise ValueError(f"lick_rate_hz must be > 0, got {lick_rate_hz}")
        for name, rate in (
            ("spontaneous_lick_rate_hz", spontaneous_lick_rate_hz),
            ("blink_rate_hz", blink_rate_hz),
        ):
            if rate < 0:
                raise ValueError(f"{name} must be >= 0, got {rate}")
        if not 0 <= bout_probability <= 1:
            raise ValueError(f"bout_probability must be in [0, 1], got {bout_probability}")
        self.duration_s = float(duration_s)
        self.seed = int(seed)
        self.lick_rate_hz = float(lick_rate_hz)
        self.lick_duration_s = _check_range("lick_duration_s", lick_duration_s)
        self.licks_per_bout = tuple(
            int(v) for v in _check_range("licks_per_bout", licks_per_bout, 1)
        )
        self.bout_probability = float(bout_probability)
        self.bout_delay_s = _check_range("bout_delay_s", bout_delay_s)
        self.spontaneous_lick_rate_hz = float(spontaneous_lick_rate_hz)
        self.blink_rate_hz = float(blink_rate_hz)
        self.blink_duration_s = _check_range("blink_duration_s", blink_duration_s)
        self.pupil_range_mm = _check_range("pupil_range_mm", pupil_range_mm)
        if self.lick_duration_s[1] >= 0.92 / self.lick_rate_hz:
            raise ValueError(
                f"licks of up to {self.lick_duration_s[1]} s do not fit in inter-lick intervals "
                f"of {0.92 / self.lick_rate_hz:.3f} s (lick_rate_hz={lick_rate_hz})"
            )
        if trial_onsets_s is None:
            onsets = simulate_trial_onsets(self.duration_s, self.seed)
        else:
            onsets = np.array(trial_onsets_s, dtype=np.float64).ravel()
            if np.any(np.diff(onsets) <= 0):
                raise ValueError(
                    f"trial_onsets_s must be strictly increasing ({len(onsets)} onsets)"
                )
        self.trial_onsets_s = onsets
        self.lick_intervals_s = self._make_licks()
        self.blink_intervals_s = self._make_blinks()
        rng = _rng(self.seed, "signals")
        self._pupil_slow = _Sines(rng, 6, (0.004, 0.15), 3.0)
        self._gaze = _Sines(rng, 4, (0.05, 0.5)), _Sines(rng, 4, (0.05, 0.5))
        self._paws = {
            side: tuple(_Sines(rng, 4, (0.25, 2.0)) for _ in range(3)) for side in ("left", "right")
        }
        self._sniff_phase = rng.uniform(0, 2 * np.pi, 3)
        sacc = _rng(self.seed, "saccades")
        n_sacc = int(self.duration_s / 0.5) + 2
        self._saccade_times = np.cumsum(sacc.uniform(0.5, 3.0, n_sacc)) - 0.5
        self._saccade_targets = sacc.uniform(-0.6, 0.6, (n_sacc, 2))

    # -- events ---------------------------------------------------------------------------

    def _make_licks(self) -> np.ndarray:
        rng = _rng(self.seed, "licks")
        d_lo, d_hi = self.lick_duration_s
        ili = 1.0 / self.lick_rate_hz
        # each trial's licks end before the next trial (or the session) ends; no trials, no bouts
        ends_of_trials = np.append(self.trial_onsets_s[1:], self.duration_s)[: len(self.trial_onsets_s)] - 0.1
        licks = []
        for onset, limit in zip(self.trial_onsets_s, ends_of_trials, strict=True):
            has_bout = rng.random() < self.bout_probability
            n = int(rng.integers(self.licks_per_bout[0], self.licks_per_bout[1] + 1))
            start0 = onset + rng.uniform(*self.bout_delay_s)
            gaps = ili * rng.uniform(0.92, 1.08, n)
            starts = start0 + np.concatenate([[0.0], np.cumsum(gaps[:-1])])
            durations = rng.uniform(d_lo, d_hi, n)
            if has_bout:
                keep = starts + durations <= limit
                licks.append(np.column_stack([starts[keep], starts[keep] + durations[keep]]))
        n_sp = rng.poisson(self.spontaneous_lick_rate_hz * self.duration_s)
        sp_start = np.sort(rng.uniform(0, self.duration_s - d_hi, n_sp))
        spont = np.column_stack([sp_start, sp_start + rng.uniform(d_lo, d_hi, n_sp)])
        bouts = np.concatenate(licks) if licks else np.zeros((0, 2))
        if len(spont) and len(bouts):
            # drop spontaneous licks that come within 50 ms of a bout lick
            idx = np.searchsorted(bouts[:, 0], spont[:, 0])
            nxt = bouts[np.clip(idx, 0, len(bouts) - 1), 0]
            prv = bouts[np.clip(idx - 1, 0, len(bouts) - 1), 1]
            ok = ((idx == len(bouts)) | (spont[:, 1] + 0.05 < nxt)) & (
                (idx == 0) | (spont[:, 0] > prv + 0.05)
            )
            spont = spont[ok]
        if len(spont) > 1:  # spontaneous licks apart from each other too
            spont = spont[np.concatenate([[True], spont[1:, 0] > spont[:-1, 1] + 0.05])]
        out = np.concatenate([bouts, spont]) if len(spont) else bouts
        out = out[(out[:, 0] >= 0) & (out[:, 1] <= self.duration_s)]
        return out[np.argsort(out[:, 0], kind="stable")].reshape(-1, 2)

    def _make_blinks(self) -> np.ndarray:
        if self.blink_rate_hz == 0:
            return np.zeros((0, 2))
        rng = _rng(self.seed, "blinks")
        n = int(self.blink_rate_hz * self.duration_s * 2) + 5
        starts = np.cumsum(
            rng.exponential(1.0 / self.blink_rate_hz, n) + 0.3 + self.blink_duration_s[1]
        )
        starts -= 0.3 + self.blink_duration_s[1]
        ends = starts + rng.uniform(*self.blink_duration_s, n)
        keep = ends <= self.duration_s
        return np.column_stack([starts[keep], ends[keep]])

    # -- continuous signals ---------------------------------------------------------------

    def licking(self, t: np.ndarray) -> np.ndarray:
        """(n,) bool: the tongue is out at times ``t`` (s)."""
        return _in_intervals(self.lick_intervals_s, t)[0]

    def blinking(self, t: np.ndarray) -> np.ndarray:
        """(n,) bool: the eyes are closed at times ``t`` (s)."""
        return _in_intervals(self.blink_intervals_s, t)[0]

    def tongue_extension(self, t: np.ndarray) -> np.ndarray:
        """(n,) float in [0, 1]: ``sin(pi * phase)`` within a lick, 0 outside (tongue in)."""
        t = np.asarray(t, dtype=np.float64)
        inside, idx = _in_intervals(self.lick_intervals_s, t)
        if not inside.any():
            return np.zeros(t.shape)
        iv = self.lick_intervals_s[np.clip(idx, 0, None)]
        phase = (t - iv[..., 0]) / (iv[..., 1] - iv[..., 0])
        return np.where(inside, np.sin(np.pi * np.clip(phase, 0, 1)), 0.0)

    def pupil_diameter_mm(self, t: np.ndarray) -> np.ndarray:
        """(n,) float64: pupil diameter, mm, at times ``t`` (s); defined during blinks too.

        Slow fluctuations over ``pupil_range_mm`` plus a dilation (alpha function, peak
        0.12 mm at 0.8 s) after each trial onset.
        """
        t = np.asarray(t, dtype=np.float64)
        lo, hi = self.pupil_range_mm
        slow = 1.0 / (1.0 + np.exp(-self._pupil_slow(t)))
        d = lo + (hi - lo) * (0.06 + 0.86 * slow)
        onsets = self.trial_onsets_s
        if len(onsets):
            idx = np.searchsorted(onsets, t, side="right") - 1
            for back in (0, 1):
                j = idx - back
                dt = np.where(j >= 0, t - onsets[np.clip(j, 0, None)], -1.0)
                x = np.clip(dt, 0, None) / 0.8
                d = d + np.where(dt >= 0, 0.12 * x * np.exp(1 - x), 0.0)
        return np.clip(d, lo, hi)

    def gaze(self, t: np.ndarray) -> np.ndarray:
        """(n, 2) float64 in [-1, 1]: eye position (horizontal, vertical) relative to its range.

        Saccades (30 ms transitions to new targets every 0.5-3 s) plus slow drift.
        """
        t = np.asarray(t, dtype=np.float64)
        st, tg = self._saccade_times, self._saccade_targets
        i = np.clip(np.searchsorted(st, t, side="right") - 1, 0, len(st) - 1)
        w = np.clip((t - st[i]) / 0.03, 0, 1)[..., None]
        prev = tg[np.clip(i - 1, 0, None)]
        pos = prev + w * (tg[i] - prev)
        drift = np.stack([self._gaze[0](t), self._gaze[1](t)], axis=-1) * 0.35
        return np.clip(pos + drift, -1, 1)

    def nostril_opening(self, t: np.ndarray) -> np.ndarray:
        """(n,) float in [0, 1]: nostril opening; sniffing at 2.5-7.5 Hz."""
        t = np.asarray(t, dtype=np.float64)
        p = self._sniff_phase
        phase = 2 * np.pi * 5.0 * t + (2.5 / 0.07) * np.sin(2 * np.pi * 0.07 * t + p[0]) + p[1]
        return 0.5 + 0.5 * np.sin(phase)

    def paw_pose(self, t: np.ndarray, side: str) -> np.ndarray:
        """(n, 3) float64 in [-1, 1]: paw ``side`` ("left"/"right") offset x, offset y, rotation.

        The scene scales these by its paw motion range.
        """
        if side not in self._paws:
            raise ValueError(f"side must be 'left' or 'right', got {side!r}")
        return np.stack([s(t) for s in self._paws[side]], axis=-1)


# --------------------------------------------------------------------------------------
# Drawing helpers: signed distances on small patches, anti-aliased by coverage.
# --------------------------------------------------------------------------------------


def _unit(angle_deg: float) -> tuple[float, float]:
    a = np.deg2rad(angle_deg)
    return float(np.cos(a)), float(np.sin(a))


def _bbox(cx, cy, rx, ry, width, height, pad=2):
    x0 = max(int(np.floor(cx - rx)) - pad, 0)
    y0 = max(int(np.floor(cy - ry)) - pad, 0)
    x1 = min(int(np.ceil(cx + rx)) + pad + 1, width)
    y1 = min(int(np.ceil(cy + ry)) + pad + 1, height)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def _grid(box):
    x0, y0, x1, y1 = box
    return np.arange(x0, x1, dtype=np.float32)[None, :], np.arange(y0, y1, dtype=np.float32)[
        :, None
    ]


def _sdf_circle(xs, ys, cx, cy, r):
    return np.sqrt((xs - cx) ** 2 + (ys - cy) ** 2) - r


def _sdf_ellipse(xs, ys, cx, cy, a, b, ux, uy):
    """Approximate signed distance (px) to an ellipse; exact to first order near the outline."""
    dx, dy = xs - cx, ys - cy
    px = dx * ux + dy * uy
    py = dy * ux - dx * uy
    k = np.sqrt((px / a) ** 2 + (py / b) ** 2)
    g = np.sqrt((px / (a * a)) ** 2 + (py / (b * b)) ** 2) + 1e-6
    return (k - 1.0) * k / g


def _sdf_capsule(xs, ys, ax, ay, bx, by, r):
    vx, vy = bx - ax, by - ay
    den = vx * vx + vy * vy
    px, py = xs - ax, ys - ay
    h = np.clip((px * vx + py * vy) / den, 0.0, 1.0) if den > 0 else 0.0
    return np.sqrt((px - h * vx) ** 2 + (py - h * vy) ** 2) - r


def _sdf_box(xs, ys, cx, cy, half_len, half_wid, ux, uy):
    dx, dy = xs - cx, ys - cy
    qx = np.abs(dx * ux + dy * uy) - half_len
    qy = np.abs(dy * ux - dx * uy) - half_wid
    outside = np.sqrt(np.maximum(qx, 0) ** 2 + np.maximum(qy, 0) ** 2)
    return outside + np.minimum(np.maximum(qx, qy), 0)


def _paint(canvas, box, sdf, value) -> None:
    """Blend ``value`` (scalar or patch) into ``canvas[box]`` with anti-aliased coverage."""
    x0, y0, x1, y1 = box
    cov = np.clip(0.5 - sdf, 0.0, 1.0)
    region = canvas[y0:y1, x0:x1]
    if region.dtype == np.uint8:
        r = region.astype(np.float32)
        r += cov * (value - r)
        region[...] = r + 0.5
    else:
        region += cov * (value - region)


class _Drawer:
    """Draws primitives onto a canvas (float32 or uint8) of a given size."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height

    def circle(self, canvas, c, r, value, outline=None, outline_px=0.0):
        box = _bbox(c[0], c[1], r + outline_px, r + outline_px, self.width, self.height)
        if box is None:
            return
        xs, ys = _grid(box)
        sdf = _sdf_circle(xs, ys, c[0], c[1], r)
        self._fill(canvas, box, sdf, value, outline, outline_px)

    def ellipse(self, canvas, c, a, b, u, value, outline=None, outline_px=0.0):
        rr = max(a, b) + outline_px
        box = _bbox(c[0], c[1], rr, rr, self.width, self.height)
        if box is None:
            return
        xs, ys = _grid(box)
        sdf = _sdf_ellipse(xs, ys, c[0], c[1], a, b, u[0], u[1])
        self._fill(canvas, box, sdf, value, outline, outline_px)

    def capsule(self, canvas, p, q, r, value, outline=None, outline_px=0.0):
        rr = r + outline_px
        cx, cy = (p[0] + q[0]) / 2, (p[1] + q[1]) / 2
        hx, hy = abs(p[0] - q[0]) / 2 + rr, abs(p[1] - q[1]) / 2 + rr
        box = _bbox(cx, cy, hx, hy, self.width, self.height)
        if box is None:
            return
        xs, ys = _grid(box)
        sdf = _sdf_capsule(xs, ys, p[0], p[1], q[0], q[1], r)
        self._fill(canvas, box, sdf, value, outline, outline_px)

    def box(self, canvas, c, half_len, half_wid, u, value):
        rr = half_len + half_wid
        box = _bbox(c[0], c[1], rr, rr, self.width, self.height)
        if box is None:
            return
        xs, ys = _grid(box)
        _paint(canvas, box, _sdf_box(xs, ys, c[0], c[1], half_len, half_wid, u[0], u[1]), value)

    @staticmethod
    def _fill(canvas, box, sdf, value, outline, outline_px):
        if callable(value):
            value = value(box)
        if outline is not None and outline_px > 0:
            _paint(canvas, box, sdf - outline_px, outline)
        _paint(canvas, box, sdf, value)


def _texture(rng, height, width, sigma_x, sigma_y=None) -> np.ndarray:
    """Smooth random texture with unit standard deviation, (height, width) float32.

    Wide blurs are made on a coarser grid and resized (same look, a fraction of the time).
    """
    sigma_y = sigma_x if sigma_y is None else sigma_y
    k = max(int(min(sigma_x, sigma_y) / 3), 1)
    noise = rng.standard_normal((height // k + 2, width // k + 2), dtype=np.float32)
    tex = cv2.GaussianBlur(
        noise, (0, 0), sigmaX=max(sigma_x / k, 0.3), sigmaY=max(sigma_y / k, 0.3)
    )
    if k > 1:
        tex = cv2.resize(
            tex, ((width // k + 2) * k, (height // k + 2) * k), interpolation=cv2.INTER_LINEAR
        )
    tex = np.ascontiguousarray(tex[:height, :width])
    std = float(tex.std())
    return tex / std if std > 0 else tex


# --------------------------------------------------------------------------------------
# The scene
# --------------------------------------------------------------------------------------


@dataclass
class SceneTruth:
    """Ground truth of one camera's frames.

    Attributes
    ----------
    times_s : (n,) float64
        The exposure times asked for, FPGA clock, s.
    points : dict[str, (n, 2) float64]
        Every name of :data:`pipeline.rigs.TRACKED_POINTS`: full-frame pixels ``(x, y)``;
        NaN when hidden (blink, tongue in) or not visible from this camera.
    pupil_diameter_px : (n,) float64
        Pupil diameter, pixels; NaN during blinks (and on the body camera).
    tongue_out : (n,) bool
        The tongue is out (visible) in the frame.
    blinking : (n,) bool
        The eye is closed in the frame.
    extra_points : dict[str, (n, 2) float64]
        Further points (not tracked by the specialised networks): ``pupil_center``,
        ``nose_tip``, ``tongue_tip`` (the tip's extreme point), ``paw_l``, ``paw_r`` (palm
        centres) on side cameras; ``tail_start``, ``hindpaw_l``, ``hindpaw_r`` on the body
        camera. NaN when hidden.
    lick_intervals_s : (k, 2) float64
        True ``[start, end)`` of every lick of the session, FPGA clock, s.
    label : str
    width, height : int
        Image size, pixels.
    visible_points : tuple[str, ...]
        The tracked points this camera can see (the others are always NaN).
    """

    times_s: np.ndarray
    points: dict[str, np.ndarray]
    pupil_diameter_px: np.ndarray
    tongue_out: np.ndarray
    blinking: np.ndarray
    extra_points: dict[str, np.ndarray] = field(default_factory=dict)
    lick_intervals_s: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    label: str = ""
    width: int = 0
    height: int = 0
    visible_points: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.times_s)


class MouseScene:
    """One camera's view of a :class:`Behaviour`: renders frames and gives their ground truth.

    Parameters
    ----------
    behaviour : Behaviour
        The session's behaviour (shared by all cameras of the session).
    label : str
        ``"left"``, ``"right"`` or ``"body"`` (see the module docstring).
    width, height : int, optional
        Image size, pixels (default: the camera's real size, 1280x1024 for left and body,
        640x512 for right). The geometry scales with the size; the aspect ratio may differ
        from 5:4 (positions stretch, round things stay round).
    seed : int
        Seed of this view's texture, noise, small placement offsets (a few pixels) and grey
        levels; the same seed gives the same frames.
    noise_std : float
        Standard deviation of the additive sensor noise, grey levels.

    Notes
    -----
    The static background (rig, wheel, fur texture, lighting, the open eye) is drawn once
    here; :meth:`render` copies it and draws only the moving parts (pupil or closed lids,
    nostril, chin, tongue, paws) on small patches with exact anti-aliasing, then adds noise
    taken from a precomputed noise field at an offset that depends on the frame's time.
    Frames are drawn one after the other (each frame's moving parts are small), but every
    per-frame quantity is computed vectorised for all frames first.
    """

    def __init__(
        self,
        behaviour: Behaviour,
        label: str,
        width: int | None = None,
        height: int | None = None,
        seed: int = 0,
        *,
        noise_std: float = 3.0,
    ) -> None:
        if label not in SCENE_LABELS:
            raise ValueError(f"unknown camera label {label!r}; known: {', '.join(SCENE_LABELS)}")
        dw, dh = _DEFAULT_SIZES[label]
        width = dw if width is None else int(width)
        height = dh if height is None else int(height)
        if width < 32 or height < 24:
            raise ValueError(f"image size must be at least 32x24 pixels, got {width}x{height}")
        if noise_std < 0:
            raise ValueError(f"noise_std must be >= 0, got {noise_std}")
        self.behaviour = behaviour
        self.label = label
        self.width, self.height = width, height
        self.seed = int(seed)
        self.noise_std = float(noise_std)
        self.mirror = label == "right"
        self.sx = width / REFERENCE_SIZE[0]
        self.sy = height / REFERENCE_SIZE[1]
        self.s = min(self.sx, self.sy)
        rng = _rng(self.seed, f"scene-{label}")
        self._offset = rng.uniform(-12, 12, 2)  # reference px: where this session's mouse sits
        self._level = {k: float(np.clip(v + rng.uniform(-6, 6), 5, 250)) for k, v in _LEVEL.items()}
        self._draw = _Drawer(width, height)
        if label == "body":
            self._layout_body()
        else:
            self._layout_side()
        self._light = self._lighting()
        self._bg = self._background(rng)
        self._noise_pos, self._noise_neg = self._noise_field(rng)
        near, far = ("r", "l") if self.mirror else ("l", "r")
        self._near, self._far = near, far
        if label == "body":
            self.visible_points: tuple[str, ...] = ()
        else:
            eye = near
            vis = {f"pupil_{p}_{eye}" for p in ("top", "right", "bottom", "left")}
            vis |= {"tube_top", "tube_bottom", "tongue_end_l", "tongue_end_r"}
            vis |= {"nostril_edge_low", "nostril_edge_high"}
            vis |= {f"{f}_{side}" for f in _FINGERS for side in ("l", "r")}
            if not self.mirror:
                vis.add("chin_l")
            self.visible_points = tuple(p for p in TRACKED_POINTS if p in vis)

    # -- geometry --------------------------------------------------------------------------

    def _p(self, x: float, y: float) -> np.ndarray:
        """Reference-frame point -> this image's (unmirrored) pixel coordinates."""
        ox, oy = self._offset
        return np.array([(x + ox + 0.5) * self.sx - 0.5, (y + oy + 0.5) * self.sy - 0.5])

    def _layout_side(self) -> None:
        s, p = self.s, self._p
        g: dict = {}
        g["body"] = (p(180, 690), 430 * s, 290 * s, _unit(-8))
        g["head"] = (p(600, 460), 300 * s, 215 * s, _unit(12))
        snout_c, sa, sb, su = p(880, 545), 175 * s, 105 * s, _unit(22)
        g["snout"] = (snout_c, sa, sb, su)
        g["ear"] = (p(470, 250), 80 * s, 115 * s, _unit(-20))
        g["inner_ear"] = (p(474, 258), 52 * s, 82 * s, _unit(-20))
        tip = snout_c + sa * np.array(su)
        g["nose_tip"] = tip
        g["nose_pad"] = (tip + np.array([-18, -2]) * s, 27 * s, 23 * s, _unit(22))
        g["nostril"] = (tip + np.array([-24, -9]) * s, 10 * s, (2.5 * s, 5.5 * s), _unit(30))
        phi = np.deg2rad(50)
        loc = np.array([sa * np.cos(phi), sb * np.sin(phi)])
        mouth = snout_c + np.array(
            [loc[0] * su[0] - loc[1] * su[1], loc[0] * su[1] + loc[1] * su[0]]
        )
        g["mouth"] = mouth
        g["lip"] = (mouth, mouth + np.array([-40, -6]) * s, 2.2 * s)
        g["chin"] = (mouth + np.array([-62, 10]) * s, 62 * s, 30 * s, _unit(12), 8 * s)
        g["eye"] = (p(760, 420), 55 * s, 42 * s)
        g["gaze_px"] = np.array([12.0, 8.0]) * s
        g["glint"] = (g["eye"][0] + np.array([35, -25]) * s, 4 * s)
        top, bottom = p(1130, 560), p(1118, 690)
        g["spout"] = (top, bottom, 9 * s)
        g["holder"] = (top, p(1330, 380), 6 * s)
        # tongue: from the mouth to just touching the spout's near side, slightly downwards
        target_y = mouth[1] + 5 * s
        f = (target_y - top[1]) / (bottom[1] - top[1])
        spout_x = top[0] + f * (bottom[0] - top[0])
        target = np.array([spout_x - 9 * s + 2 * s, target_y])
        d = target - mouth
        length = float(np.hypot(*d))
        g["tongue"] = dict(base=mouth, u=d / length, r=11 * s, l0=22 * s, lmax=length)
        g["paws"] = {
            "near": dict(c=p(640, 885), scale=1.0),
            "far": dict(c=p(900, 860), scale=0.85),
        }
        g["paw_shape"] = dict(a=36 * s, b=24 * s, angle=35.0, fingers=(-36.0, -12.0, 12.0, 36.0),
                              base=0.7, length=24 * s, r=6.5 * s, motion=(35 * s, 15 * s, 15.0))  # fmt: skip
        g["wheel"] = (p(760, 1700), 840 * s)
        g["bar"] = (p(405, 95), 110 * s, 26 * s, (0.0, 1.0))
        self._g = g

    def _layout_body(self) -> None:
        s, p = self.s, self._p
        g: dict = {}
        trunk_c, ta, tb, tu = p(660, 600), 460 * s, 265 * s, _unit(-4)
        g["trunk"] = (trunk_c, ta, tb, tu)
        phi = np.deg2rad(195)
        loc = np.array([ta * np.cos(phi), tb * np.sin(phi)])
        tail_start = trunk_c + np.array(
            [loc[0] * tu[0] - loc[1] * tu[1], loc[0] * tu[1] + loc[1] * tu[0]]
        )
        g["tail_start"] = tail_start
        g["tail"] = (tail_start + np.array([25, -8]) * s, p(-80, 780), 20 * s)
        g["paws"] = {
            "near": dict(c=p(560, 872), scale=1.0),
            "far": dict(c=p(790, 860), scale=0.85),
        }
        g["paw_shape"] = dict(a=34 * s, b=22 * s, angle=60.0, fingers=(-30.0, -10.0, 10.0, 30.0),
                              base=0.7, length=20 * s, r=6.0 * s, motion=(30 * s, 10 * s, 12.0))  # fmt: skip
        g["wheel"] = (p(760, 1700), 840 * s)
        self._g = g

    def _lighting(self) -> np.ndarray:
        """Multiplicative illumination, (height, width) float32: an IR lamp in front, upper right."""
        w, h = self.width, self.height
        xs = (np.arange(w, dtype=np.float32) - 0.68 * w) / (0.55 * w)
        ys = (np.arange(h, dtype=np.float32) - 0.38 * h) / (0.55 * w)
        r2 = xs[None, :] ** 2 + ys[:, None] ** 2
        return (0.72 + 0.38 * np.exp(-r2)).astype(np.float32)

    def _light_at(self, xy: np.ndarray) -> np.ndarray:
        x = np.clip(np.rint(xy[..., 0]).astype(np.int64), 0, self.width - 1)
        y = np.clip(np.rint(xy[..., 1]).astype(np.int64), 0, self.height - 1)
        return self._light[y, x]

    def _background(self, rng: np.random.Generator) -> np.ndarray:
        w, h, s, lv, g, dr = self.width, self.height, self.s, self._level, self._g, self._draw
        canvas = np.full((h, w), lv["background"], np.float32)
        canvas += 8.0 * _texture(rng, h, w, 25 * s)
        canvas += np.linspace(-6, 10, h, dtype=np.float32)[:, None]
        fur = (
            lv["fur"]
            + 10.0 * _texture(rng, h, w, 5 * s, 1.2 * s)
            + 9.0 * _texture(rng, h, w, 40 * s)
        )

        def tex(box, base=fur):
            x0, y0, x1, y1 = box
            return base[y0:y1, x0:x1]

        # wheel with treads near its rim
        wc, wr = g["wheel"]
        wheel_tex = lv["wheel"] + 6.0 * _texture(rng, h, w, 3 * s)
        dr.circle(canvas, wc, wr, lv["wheel_rim"])
        dr.circle(canvas, wc, wr - 10 * s, lambda b: tex(b, wheel_tex))
        if self.label == "body":
            dr.capsule(
                canvas, *g["tail"], lv["tail"], outline=lv["paw_outline"], outline_px=1.5 * s
            )
            c, a, b, u = g["trunk"]
            dr.ellipse(canvas, c, a, b, u, tex)
        else:
            dr.box(canvas, *g["bar"], lv["bar"])
            for part in ("body", "head", "snout"):
                c, a, b, u = g[part]
                dr.ellipse(canvas, c, a, b, u, tex)
            c, a, b, u = g["ear"]
            dr.ellipse(canvas, c, a, b, u, lv["ear"])
            c, a, b, u = g["inner_ear"]
            dr.ellipse(canvas, c, a, b, u, lv["inner_ear"])
            c, a, b, u = g["nose_pad"]
            dr.ellipse(canvas, c, a, b, u, lv["nose_pad"])
            dr.capsule(canvas, *g["lip"], lv["lip"])
            dr.capsule(canvas, *g["holder"], lv["holder"])
            top, bottom, r = g["spout"]
            axis = bottom - top
            half = float(np.hypot(*axis)) / 2
            dr.box(canvas, (top + bottom) / 2, half, r, axis / (2 * half), lv["spout"])
            # spout highlight: a brighter stripe along the tube
            dr.box(canvas, (top + bottom) / 2 - np.array([r * 0.35, 0]), half - 2 * s, r * 0.25,
                   axis / (2 * half), min(lv["spout"] + 20, 252))  # fmt: skip
            # the open eye (pupil drawn per frame); iris darker towards the lids
            ec, ea, eb = g["eye"]
            dr.ellipse(canvas, ec, ea + 4 * s, eb + 4 * s, (1.0, 0.0), lv["eye_rim"])
            eye_box = _bbox(ec[0], ec[1], ea, eb, w, h)
            iris_tex = np.zeros((h, w), np.float32)
            ex0, ey0, ex1, ey1 = eye_box
            iris_tex[ey0:ey1, ex0:ex1] = 7.0 * _texture(rng, ey1 - ey0, ex1 - ex0, 1.5 * s)

            def iris(box):
                xs, ys = _grid(box)
                k2 = ((xs - ec[0]) / ea) ** 2 + ((ys - ec[1]) / eb) ** 2
                ang = np.arctan2(ys - ec[1], xs - ec[0])
                x0, y0, x1, y1 = box
                return (
                    lv["iris"] * (1 - 0.25 * np.clip(k2, 0, 1))
                    + 6 * np.sin(23 * ang)
                    + iris_tex[y0:y1, x0:x1]
                )

            dr.ellipse(canvas, ec, ea, eb, (1.0, 0.0), iris)
            dr.circle(canvas, *g["glint"], lv["glint"])
            # the closed eye: fur over the eye and its rim, with the lids' slit
            box = _bbox(ec[0], ec[1], ea + 8 * s, eb + 8 * s, w, h)
            closed = canvas.copy()
            dr.ellipse(closed, ec, ea + 5 * s, eb + 5 * s, (1.0, 0.0), tex)
            dr.capsule(closed, ec - np.array([ea * 0.95, -3 * s]), ec + np.array([ea * 0.95, 3 * s]),
                       2.0 * s, lv["eye_rim"])  # fmt: skip
            x0, y0, x1, y1 = box
            patch = closed[y0:y1, x0:x1] * self._light[y0:y1, x0:x1]
            self._closed_eye = (box, np.clip(patch + 0.5, 0, 255).astype(np.uint8))
            # lit fur for the chin, which moves and is drawn per frame
            x0, y0, x1, y1 = self._chin_box()
            self._chin_fur = (fur[y0:y1, x0:x1] * self._light[y0:y1, x0:x1]).astype(np.float32)
        canvas *= self._light
        return np.clip(canvas + 0.5, 0, 255).astype(np.uint8)

    def _chin_box(self) -> tuple[int, int, int, int]:
        """Pixel box that holds the chin in every position (its drop included)."""
        c, a, b, _, drop = self._g["chin"]
        box = _bbox(c[0], c[1] + drop / 2, a + 2, a + drop / 2 + 2, self.width, self.height)
        return box if box is not None else (0, 0, 1, 1)

    def _noise_field(self, rng: np.random.Generator):
        m = 64
        n = np.rint(rng.standard_normal((self.height + m, self.width + m)) * self.noise_std)
        pos = np.clip(n, 0, 255).astype(np.uint8)
        neg = np.clip(-n, 0, 255).astype(np.uint8)
        return pos, neg

    # -- per-frame state ---------------------------------------------------------------------

    def _state(self, times_s: np.ndarray) -> dict:
        """Everything that moves, for every time, in unmirrored image coordinates."""
        t = np.asarray(times_s, dtype=np.float64).ravel()
        if not np.isfinite(t).all():
            bad = int(np.count_nonzero(~np.isfinite(t)))
            raise ValueError(f"times_s must be finite: {bad} of {t.size} times are NaN or infinite")
        beh, g, s = self.behaviour, self._g, self.s
        n = len(t)
        st: dict = {"t": t}
        st["paws"] = {}
        ps = g["paw_shape"]
        # near paw is the mouse's left paw on the left camera, its right paw on the right one
        sides = {
            "near": "right" if self.mirror else "left",
            "far": "left" if self.mirror else "right",
        }
        t_paw = t + 0.25 if self.label == "body" else t
        for which, paw in g["paws"].items():
            pose = beh.paw_pose(t_paw, sides[which])
            k = paw["scale"]
            c = paw["c"] + pose[:, :2] * np.array(ps["motion"][:2]) * k
            ang = np.deg2rad(ps["angle"] + pose[:, 2] * ps["motion"][2])
            offs = np.deg2rad(np.array(ps["fingers"]))
            fa = ang[:, None] + offs[None, :]
            fu = np.stack([np.cos(fa), np.sin(fa)], axis=-1)  # (n, 4, 2)
            base = c[:, None, :] + ps["base"] * ps["a"] * k * fu
            tips = base + ps["length"] * k * fu
            st["paws"][which] = dict(c=c, u=np.stack([np.cos(ang), np.sin(ang)], -1), base=base,
                                     tips=tips, k=k, side=sides[which])  # fmt: skip
        if self.label == "body":
            st["blink"] = np.zeros(n, bool)
            st["tongue_out"] = np.zeros(n, bool)
            return st
        st["blink"] = beh.blinking(t)
        ec, ea, eb = g["eye"]
        st["pupil_c"] = ec + beh.gaze(t) * g["gaze_px"]
        st["pupil_r"] = beh.pupil_diameter_mm(t) * PUPIL_PX_PER_MM * s / 2
        nb = g["nostril"][2]
        st["nostril_b"] = nb[0] + (nb[1] - nb[0]) * beh.nostril_opening(t)
        ext = beh.tongue_extension(t)
        out = beh.licking(t)
        tg = g["tongue"]
        dist = tg["l0"] + (tg["lmax"] - tg["l0"]) * ext  # base to the tip's extreme point
        st["tongue_out"] = out
        st["tongue_tip"] = tg["base"] + dist[:, None] * tg["u"]
        st["tongue_c"] = tg["base"] + (dist - tg["r"])[:, None] * tg["u"]
        chin_c, ca, cb, cu, drop = g["chin"]
        st["chin_c"] = chin_c + np.outer(ext, [0.0, drop])
        return st

    def _mirror_x(self, xy: np.ndarray) -> np.ndarray:
        if not self.mirror:
            return xy
        out = np.array(xy, dtype=np.float64, copy=True)
        out[..., 0] = (self.width - 1) - out[..., 0]
        return out

    # -- public ----------------------------------------------------------------------------

    def truth(self, times_s: np.ndarray) -> SceneTruth:
        """Ground truth for frames exposed at ``times_s`` (FPGA clock, s).

        Returns
        -------
        SceneTruth
            Points in full-frame pixels of this camera's image, NaN where hidden.
        """
        st = self._state(times_s)
        t = st["t"]
        n = len(t)
        g = self._g
        nan2 = np.full((n, 2), np.nan)
        points = {name: nan2.copy() for name in TRACKED_POINTS}
        extra: dict[str, np.ndarray] = {}
        for which in ("near", "far"):
            paw = st["paws"][which]
            suffix = "l" if paw["side"] == "left" else "r"
            if self.label == "body":
                extra[f"hindpaw_{suffix}"] = self._mirror_x(paw["c"])
                continue
            extra[f"paw_{suffix}"] = self._mirror_x(paw["c"])
            for i, finger in enumerate(_FINGERS):
                points[f"{finger}_{suffix}"] = self._mirror_x(paw["tips"][:, i, :])
        diameter = np.full(n, np.nan)
        if self.label == "body":
            extra["tail_start"] = np.tile(self._mirror_x(g["tail_start"]), (n, 1))
            return SceneTruth(
                times_s=t, points=points, pupil_diameter_px=diameter, tongue_out=st["tongue_out"],
                blinking=st["blink"], extra_points=extra,
                lick_intervals_s=self.behaviour.lick_intervals_s.copy(), label=self.label,
                width=self.width, height=self.height, visible_points=self.visible_points,
            )  # fmt: skip
        open_ = ~st["blink"]
        c = self._mirror_x(st["pupil_c"])
        r = st["pupil_r"]
        c_vis = np.where(open_[:, None], c, np.nan)
        eye = self._near
        for name, d in (("top", (0, -1)), ("right", (1, 0)), ("bottom", (0, 1)), ("left", (-1, 0))):
            points[f"pupil_{name}_{eye}"] = c_vis + r[:, None] * np.array(d, float)
        diameter = np.where(open_, 2 * r, np.nan)
        extra["pupil_center"] = c_vis
        top, bottom, _ = g["spout"]
        points["tube_top"] = np.tile(self._mirror_x(top), (n, 1))
        points["tube_bottom"] = np.tile(self._mirror_x(bottom), (n, 1))
        tg = g["tongue"]
        u = tg["u"]
        up = np.array([u[1], -u[0]]) if u[0] > 0 else np.array([-u[1], u[0]])  # towards -y
        ang = np.deg2rad(40)
        out = st["tongue_out"][:, None]
        tc = st["tongue_c"]
        upper = tc + tg["r"] * (np.cos(ang) * u + np.sin(ang) * up)
        lower = tc + tg["r"] * (np.cos(ang) * u - np.sin(ang) * up)
        points["tongue_end_l"] = np.where(out, self._mirror_x(upper), np.nan)
        points["tongue_end_r"] = np.where(out, self._mirror_x(lower), np.nan)
        extra["tongue_tip"] = np.where(out, self._mirror_x(st["tongue_tip"]), np.nan)
        nc, na, _, nu = g["nostril"]
        v = np.array([-nu[1], nu[0]])  # minor axis, pointing down (nu[0] > 0)
        nb = st["nostril_b"][:, None]
        points["nostril_edge_high"] = self._mirror_x(nc - nb * v)
        points["nostril_edge_low"] = self._mirror_x(nc + nb * v)
        extra["nose_tip"] = np.tile(self._mirror_x(g["nose_tip"]), (n, 1))
        if not self.mirror:
            _, ca, cb, cu, _ = g["chin"]
            # lowest point of the chin: where the outline's normal is (0, 1)
            nx, ny = cu[1], cu[0]  # R^T (0, 1) for R = [[ux, -uy], [uy, ux]]
            den = np.sqrt((ca * nx) ** 2 + (cb * ny) ** 2)
            px, py = ca * ca * nx / den, cb * cb * ny / den
            low = np.array([px * cu[0] - py * cu[1], px * cu[1] + py * cu[0]])
            points["chin_l"] = st["chin_c"] + low
        return SceneTruth(
            times_s=t, points=points, pupil_diameter_px=diameter, tongue_out=st["tongue_out"],
            blinking=st["blink"], extra_points=extra,
            lick_intervals_s=self.behaviour.lick_intervals_s.copy(), label=self.label,
            width=self.width, height=self.height, visible_points=self.visible_points,
        )  # fmt: skip

    def render(self, times_s: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Render the frames exposed at ``times_s`` (FPGA clock, s).

        Parameters
        ----------
        times_s : (n,) array
            Exposure times, s. The same time always gives the same image.
        out : (n, height, width) uint8 array, optional
            Where to write the frames (to reuse memory).

        Returns
        -------
        (n, height, width) uint8
            Grey frames.
        """
        st = self._state(times_s)
        n = len(st["t"])
        shape = (n, self.height, self.width)
        if out is None:
            out = np.empty(shape, np.uint8)
        elif out.shape != shape or out.dtype != np.uint8:
            raise ValueError(
                f"out must be a uint8 array of shape {shape}, got {out.dtype} {out.shape}"
            )
        canvas = np.empty((self.height, self.width), np.uint8) if self.mirror else None
        t_us = np.rint(st["t"] * 1e6).astype(np.int64)
        h = (t_us * 2654435761 + self.seed * 40503 + 12345) & 0xFFFFFFFF
        m = self._noise_pos.shape[1] - self.width
        dx, dy = h % m, (h >> 11) % m
        for i in range(n):
            frame = out[i]
            target = canvas if self.mirror else frame
            np.copyto(target, self._bg)
            self._draw_moving(target, st, i)
            if self.mirror:
                np.copyto(frame, target[:, ::-1])
            if self.noise_std > 0:
                y0, x0 = int(dy[i]), int(dx[i])
                sl = (slice(y0, y0 + self.height), slice(x0, x0 + self.width))
                cv2.add(frame, self._noise_pos[sl], dst=frame)
                cv2.subtract(frame, self._noise_neg[sl], dst=frame)
        return out

    def _draw_moving(self, canvas: np.ndarray, st: dict, i: int) -> None:
        g, lv, dr, s = self._g, self._level, self._draw, self.s
        if self.label != "body":
            if st["blink"][i]:
                (x0, y0, x1, y1), patch = self._closed_eye
                canvas[y0:y1, x0:x1] = patch
            else:
                c = st["pupil_c"][i]
                dr.circle(canvas, c, st["pupil_r"][i], lv["pupil"] * float(self._light_at(c)))
            nc, na, _, nu = g["nostril"]
            dr.ellipse(canvas, nc, na, st["nostril_b"][i], nu, lv["nostril"])
            chin_c = st["chin_c"][i]
            _, ca, cb, cu, _ = g["chin"]
            x0, y0, _, _ = self._chin_box()
            fur = self._chin_fur

            def chin_fur(box):
                bx0, by0, bx1, by1 = box
                return fur[by0 - y0 : by1 - y0, bx0 - x0 : bx1 - x0]

            dr.ellipse(canvas, chin_c, ca, cb, cu, chin_fur)
            if st["tongue_out"][i]:
                tg = g["tongue"]
                tc = st["tongue_c"][i]
                light = float(self._light_at((tg["base"] + tc) / 2))
                dr.capsule(canvas, tg["base"], tc, tg["r"], min(lv["tongue"] * light, 250.0))
        ps = g["paw_shape"]
        outline = lv["paw_outline"]
        for which in ("far", "near"):
            paw = st["paws"][which]
            k = paw["k"]
            c = paw["c"][i]
            light = float(self._light_at(c))
            fill = min((lv["paw"] if which == "near" else lv["paw_far"]) * light, 250.0)
            o = 1.5 * s
            dr.ellipse(canvas, c, ps["a"] * k, ps["b"] * k, paw["u"][i], fill, outline, o)
            for j in range(4):
                dr.capsule(
                    canvas, paw["base"][i, j], paw["tips"][i, j], ps["r"] * k, fill, outline, o
                )
