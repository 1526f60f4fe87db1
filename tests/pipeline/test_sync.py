"""Tests of pipeline.sync on synthetic pulse trains (and on the simulator when it exists)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.io.framedata import encode_camera_timestamp
from pipeline.sync import (
    METHODS,
    SyncError,
    fit_clock,
    frame_interval_stats,
    frame_times_from_bpod,
    frame_times_from_pulses,
    sync_qc,
)

FS = 30000.0  # DAQ sample rate, Hz
SAMPLE = 1.0 / FS


def quantise(t: np.ndarray, fs: float = FS) -> np.ndarray:
    return np.round(np.asarray(t) * fs) / fs


@dataclass
class Train:
    """A synthetic camera recording and its DAQ pulses, with the truth."""

    pulses: np.ndarray  # (P,) DAQ rising edges, quantised
    counter: np.ndarray  # (n,) embedded frame counter
    camera_timestamps: np.ndarray  # (n,) raw 32-bit camera timestamps
    gpio: np.ndarray  # (n,) raw GPIO register (pin `pin`)
    pin_events: np.ndarray  # (m,) DAQ times of the trial signal's rising edges
    frame_true: np.ndarray  # (n,) true exposure times of the saved frames
    true_pulse_index: np.ndarray  # (n,) index into pulses of each frame's pulse, -1 if none
    n_dropped: int
    extra_start: int  # pulses before the first frame
    extra_end: int  # pulses after the last frame
    fps: float
    jitter_us: float

    @property
    def n_frames(self) -> int:
        return self.counter.size


def make_train(
    n_exposures: int = 3000,
    fps: float = 60.0,
    jitter_us: float = 195.6,
    drop_rate: float = 0.0,
    extra_start: int = 0,
    extra_end: int = 0,
    daq_late: int = 0,
    daq_early: int = 0,
    daq_missed: tuple[int, ...] = (),
    seed: int = 0,
    pin: int = 0,
    drops: np.ndarray | None = None,
    t0: float = 2.0,
    fs: float = FS,
    step: tuple[int, float] = (0, 0.0),
) -> Train:
    """Exposures at 1/fps with interval jitter; the camera saves exposures
    ``extra_start .. extra_start + n_exposures - 1`` minus drops; the DAQ records every
    exposure's pulse except the first ``daq_late``, the last ``daq_early`` and ``daq_missed``.
    """
    rng = np.random.default_rng(seed)
    total = extra_start + n_exposures + extra_end
    intervals = 1.0 / fps + rng.normal(0.0, jitter_us * 1e-6, total - 1)
    exposures = t0 + np.concatenate([[0.0], np.cumsum(intervals)])
    exposures[step[0] :] += step[1]  # a step of the camera's timing (e.g. inside a DAQ gap)
    rec_idx = np.arange(extra_start, extra_start + n_exposures)
    if drops is None:
        keep = rng.random(n_exposures) >= drop_rate
    else:
        keep = ~np.asarray(drops, dtype=bool)
    keep[0] = keep[-1] = True
    rec_idx = rec_idx[keep]
    # the DAQ's pulses
    daq = np.ones(total, dtype=bool)
    daq[:daq_late] = False
    if daq_early:
        daq[total - daq_early :] = False
    daq[list(daq_missed)] = False
    pulses = quantise(exposures[daq], fs)
    pulse_of_exposure = np.full(total, -1)
    pulse_of_exposure[daq] = np.arange(daq.sum())
    # trial signal: high for 0.5 s from each onset; GPIO latched at exposure start
    onsets = np.cumsum(rng.uniform(1.5, 4.0, int(exposures[-1] / 1.5) + 2)) + t0 * 0.5
    onsets = onsets[onsets < exposures[-1] - 0.6]
    k = np.searchsorted(onsets, exposures, side="right") - 1
    high = (k >= 0) & (exposures - onsets[np.clip(k, 0, None)] < 0.5) if onsets.size else k < -1
    gpio = high[rec_idx].astype(np.int64) << (28 + pin)
    cam_ts = encode_camera_timestamp(exposures[rec_idx] * (1 + 20e-6) + 77.3)
    first_p = pulse_of_exposure[rec_idx[0]]
    last_p = pulse_of_exposure[rec_idx[-1]]
    return Train(
        pulses=pulses,
        counter=rec_idx + 1000,
        camera_timestamps=cam_ts,
        gpio=gpio,
        pin_events=quantise(onsets, fs),
        frame_true=exposures[rec_idx],
        true_pulse_index=pulse_of_exposure[rec_idx],
        n_dropped=int(n_exposures - keep.sum()),
        extra_start=int(first_p) if first_p >= 0 else 0,
        extra_end=int(pulses.size - 1 - last_p) if last_p >= 0 else 0,
        fps=fps,
        jitter_us=jitter_us,
    )


def sync(tr: Train, **kw):
    args = dict(
        gpio=tr.gpio,
        pin_events_s=tr.pin_events,
        fps=tr.fps,
        camera_timestamps=tr.camera_timestamps,
        name="subj/2026-01-01/001 left camera",
    )
    args.update(kw)
    return frame_times_from_pulses(tr.pulses, tr.counter, tr.n_frames, **args)


def assert_valid(r, tr: Train):
    """One time per frame, strictly increasing, pulses within one sample of the truth."""
    assert r.frame_times_s.shape == (tr.n_frames,)
    assert r.is_extrapolated.shape == (tr.n_frames,)
    assert np.all(np.diff(r.frame_times_s) > 0)
    has = tr.true_pulse_index >= 0
    np.testing.assert_array_equal(r.pulse_index, np.where(has, tr.true_pulse_index, -1))
    np.testing.assert_array_equal(r.is_extrapolated, ~has)
    err = np.abs(r.frame_times_s - tr.frame_true)
    assert err[has].max(initial=0) <= SAMPLE / 2 + 1e-9
    assert err[~has].max(initial=0) < 1.0 / tr.fps


# --------------------------------------------------------------------------------------
# acceptance: drops, extra pulses, late DAQ
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("drop_rate", [0.0, 0.001, 0.02])
@pytest.mark.parametrize("fps,jitter_us", [(60.0, 195.6), (150.0, 143.2)])
def test_drops_and_extra_pulses(drop_rate, fps, jitter_us):
    tr = make_train(
        n_exposures=6000, fps=fps, jitter_us=jitter_us, drop_rate=drop_rate,
        extra_start=7, extra_end=4, seed=int(fps + drop_rate * 1000),
    )  # fmt: skip
    r = sync(tr)
    assert_valid(r, tr)
    assert r.method == "counter+gpio+timestamps"
    assert r.n_dropped_frames == tr.n_dropped
    assert (r.n_extra_pulses_start, r.n_extra_pulses_end) == (7, 4)
    assert r.n_pulses == tr.pulses.size
    assert r.n_extrapolated == 0 and r.warnings == ()
    if drop_rate == 0.02:
        assert r.n_dropped_frames > 60
    stats = frame_interval_stats(r.frame_times_s, valid=~r.is_extrapolated)
    assert abs(stats.jitter_us - jitter_us) < 0.1 * jitter_us
    assert abs(stats.median_fps - fps) < 0.05


def test_daq_started_late_is_extrapolated_at_the_right_frame():
    # The DAQ missed the first 5 exposures of the video: IBL fills them one frame early.
    tr = make_train(n_exposures=3000, extra_start=0, daq_late=5, drop_rate=0.01, seed=3)
    r = sync(tr)
    assert_valid(r, tr)
    assert r.n_extrapolated == 5 and r.is_extrapolated[:5].all()
    err = np.abs(r.frame_times_s[:5] - tr.frame_true[:5])
    assert err.max() < 0.1 / tr.fps  # not one frame early
    assert r.shift == -5
    assert any("started late" in w for w in r.warnings)


def test_daq_stopped_early_and_missed_pulses_inside():
    tr = make_train(n_exposures=3000, daq_early=4, daq_missed=(1000, 1001, 2000), seed=4)
    r = sync(tr)
    assert_valid(r, tr)
    assert r.n_extrapolated == 4 + 3 and r.n_filled == 3 and r.n_missing_pulses == 3
    assert any("DAQ missed 3 pulses in 2 gaps" in w for w in r.warnings)


def test_camera_timestamps_correct_a_miscounted_gap():
    # The DAQ lost 300 pulses while the camera's timing stepped by 0.6 frame: the gap looks
    # like 301.6 periods, so counting periods fills 301 pulses, one too many.
    tr = make_train(n_exposures=3000, daq_missed=tuple(range(1000, 1300)), step=(1150, 0.6 / 60))
    r = sync(tr)
    assert any("corrected the number of exposures across 1 gaps" in w for w in r.warnings)
    assert r.n_missing_pulses == 300
    assert_valid(r, tr)
    # without camera timestamps counting periods misplaces the frames on one side of the gap
    # (the GPIO's majority decides which) by one frame
    r = sync(tr, camera_timestamps=None)
    assert r.n_missing_pulses == 301
    err = np.abs(r.frame_times_s - tr.frame_true)
    assert min(err[:1000].min(), err[1300:].min()) < 1e-4
    assert max(err[:1000].min(), err[1300:].min()) > 0.5 / 60


def test_each_alignment_source_alone():
    tr = make_train(n_exposures=4000, drop_rate=0.01, extra_start=11, extra_end=6, seed=5)
    r = sync(tr, camera_timestamps=None)
    assert r.method == "counter+gpio"
    assert_valid(r, tr)
    r = sync(tr, gpio=None, pin_events_s=None)
    assert r.method == "counter+timestamps"
    assert_valid(r, tr)
    # GPIO on another pin, found automatically
    tr3 = make_train(n_exposures=4000, extra_start=11, seed=5, pin=3)
    r = sync(tr3, camera_timestamps=None)
    assert r.method == "counter+gpio"
    assert_valid(r, tr3)


def test_gpio_disagreeing_with_timestamps_uses_timestamps():
    tr = make_train(n_exposures=4000, extra_start=9, seed=6)
    # pin events reported one frame late on the DAQ (a latch delay): GPIO shift off by one
    r = sync(tr, pin_events_s=tr.pin_events + 1.0 / tr.fps)
    assert r.method == "counter+timestamps"
    assert any("disagrees" in w for w in r.warnings)
    assert_valid(r, tr)


def test_timestamps_without_counter_find_drops():
    tr = make_train(n_exposures=4000, drop_rate=0.01, extra_start=3, extra_end=2, seed=7)
    r = frame_times_from_pulses(
        tr.pulses, None, tr.n_frames, camera_timestamps=tr.camera_timestamps, fps=60.0
    )
    assert r.method == "timestamps"
    assert r.n_dropped_frames == tr.n_dropped
    assert_valid(r, tr)


def test_counter_only_assumes_extra_pulses_at_start():
    tr = make_train(n_exposures=2000, drop_rate=0.01, extra_start=6, seed=8)
    r = frame_times_from_pulses(tr.pulses, tr.counter, tr.n_frames, fps=60.0)
    assert r.method == "counter"
    assert_valid(r, tr)
    assert any("extra pulses are at the start" in w for w in r.warnings)


def test_ibl_fallback_trims_and_extrapolates():
    tr = make_train(n_exposures=2000, extra_start=6, seed=9)
    r = frame_times_from_pulses(tr.pulses, None, tr.n_frames, fps=60.0)
    assert r.method == "ibl-fallback"
    assert_valid(r, tr)
    assert r.n_extra_pulses_start == 6
    # fewer pulses than frames: extrapolated at the end, one frame period apart (not k / T)
    tr2 = make_train(n_exposures=2000, daq_early=10, seed=10)
    r2 = frame_times_from_pulses(tr2.pulses, None, tr2.n_frames, fps=60.0)
    assert r2.frame_times_s.size == tr2.n_frames and r2.n_extrapolated == 10
    assert_valid(r2, tr2)
    assert any("no frame counter" in w for w in r2.warnings)


def test_counter_longer_than_video_and_shorter():
    tr = make_train(n_exposures=2000, drop_rate=0.01, extra_start=2, seed=11)
    n = tr.n_frames - 3  # the video lost its last 3 frames
    r = frame_times_from_pulses(
        tr.pulses, tr.counter, n, gpio=tr.gpio, pin_events_s=tr.pin_events,
        camera_timestamps=tr.camera_timestamps, fps=60.0,
    )  # fmt: skip
    assert r.frame_times_s.size == n
    np.testing.assert_array_equal(r.pulse_index, tr.true_pulse_index[:n])
    assert any("frame-counter entries beyond" in w for w in r.warnings)
    # counter shorter than the video: ignored, timestamps used instead
    r = frame_times_from_pulses(
        tr.pulses, tr.counter[:-5], tr.n_frames, camera_timestamps=tr.camera_timestamps
    )
    assert r.method == "timestamps" and any("frame counter ignored" in w for w in r.warnings)
    assert_valid(r, tr)


def test_corrupt_counter_is_ignored():
    tr = make_train(n_exposures=2000, drop_rate=0.01, extra_start=3, seed=17)
    counter = tr.counter.copy()
    counter[-1] = 2**40  # a corrupt last entry: would span 10**12 exposures
    r = frame_times_from_pulses(
        tr.pulses, counter, tr.n_frames, camera_timestamps=tr.camera_timestamps, fps=60.0
    )
    assert r.method == "timestamps" and any("corrupt counter" in w for w in r.warnings)
    assert_valid(r, tr)


def test_spurious_pulse_removed():
    tr = make_train(n_exposures=2000, extra_start=3, seed=12)
    glitch = tr.pulses[500] + 0.2 / tr.fps
    pulses = np.sort(np.concatenate([tr.pulses, [glitch]]))
    r = frame_times_from_pulses(
        pulses, tr.counter, tr.n_frames, camera_timestamps=tr.camera_timestamps, fps=60.0
    )
    assert r.n_spurious_pulses == 1
    assert np.all(np.diff(r.frame_times_s) > 0)
    assert np.abs(r.frame_times_s - tr.frame_true).max() <= SAMPLE
    assert glitch not in r.frame_times_s


def test_inputs_not_mutated():
    tr = make_train(n_exposures=1000, drop_rate=0.02, extra_start=3, seed=13)
    copies = [a.copy() for a in (tr.pulses, tr.counter, tr.gpio, tr.camera_timestamps)]
    sync(tr)
    for a, b in zip(copies, (tr.pulses, tr.counter, tr.gpio, tr.camera_timestamps), strict=True):
        np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------


def test_wrong_channel_rate_raises_with_counts():
    tr = make_train(n_exposures=2000, fps=150.0, seed=14)  # right camera's pulses ...
    with pytest.raises(SyncError, match=r"left camera: pulse rate 150\.\d+ Hz .* 60 fps") as ei:
        frame_times_from_pulses(tr.pulses, None, 800, fps=60.0, name="s/1 left camera")
    assert ei.value.n_pulses == tr.pulses.size and ei.value.n_frames == 800
    assert isinstance(ei.value, ValueError)


def test_far_too_few_pulses_raise_with_counts():
    tr = make_train(n_exposures=2000, drop_rate=0.01, seed=15)
    with pytest.raises(SyncError, match=r"cam: far too few pulses: 900 pulses for \d+ video frames"
                       r" \(frame counter spans 2000 exposures\)") as ei:  # fmt: skip
        frame_times_from_pulses(tr.pulses[:900], tr.counter, tr.n_frames, name="cam")
    assert ei.value.counter_span == 2000


def test_alignment_leaving_most_frames_without_pulses_raises():
    tr = make_train(n_exposures=2000, extra_end=700, seed=16)
    # 1200 pulses for 2000 frames, but the DAQ only saw the last 500 frames and 700 after
    late = tr.pulses[1500:]
    with pytest.raises(SyncError, match=r"x: pulses cannot be matched to the video: only 500 of "
                       r"2000 frames fall on one of the 1200 pulses"):  # fmt: skip
        frame_times_from_pulses(
            late, tr.counter, tr.n_frames, camera_timestamps=tr.camera_timestamps, name="x"
        )


@pytest.mark.parametrize(
    "pulses,n_frames,match",
    [
        (np.array([]), 10, r"v: 0 pulses for 10 video frames"),
        (np.array([0.0, 1 / 60, 1 / 60, 3 / 60]), 4, r"not strictly increasing"),
        (np.array([0.0, np.nan, 2 / 60]), 3, r"1 of 3 pulse times are not finite"),
        (np.arange(10) / 60, 0, r"the video has 0 frames"),
    ],
)
def test_bad_pulses_raise(pulses, n_frames, match):
    with pytest.raises(SyncError, match=match):
        frame_times_from_pulses(pulses, None, n_frames, name="v")


# --------------------------------------------------------------------------------------
# property tests
# --------------------------------------------------------------------------------------

_fast = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


@_fast
@given(
    n=st.integers(300, 1500),
    drop_rate=st.sampled_from([0.0, 0.005, 0.05, 0.2]),
    extra_start=st.integers(0, 40),
    extra_end=st.integers(0, 40),
    daq_late=st.integers(0, 10),
    seed=st.integers(0, 2**16),
)
def test_property_full_metadata(n, drop_rate, extra_start, extra_end, daq_late, seed):
    tr = make_train(n_exposures=n, drop_rate=drop_rate, extra_start=extra_start,
                    extra_end=extra_end, daq_late=daq_late, seed=seed)  # fmt: skip
    r = sync(tr)
    assert r.method in ("counter+gpio+timestamps", "counter+timestamps")
    assert_valid(r, tr)
    assert r.n_dropped_frames == tr.n_dropped


@_fast
@given(
    drops=st.lists(st.booleans(), min_size=20, max_size=400),
    extra_start=st.integers(0, 30),
    seed=st.integers(0, 2**16),
)
def test_property_counter_only(drops, extra_start, seed):
    """Any drop pattern: n_frames times, increasing, and with extras only at the start every
    used pulse is the frame's own."""
    drops = np.array(drops)
    tr = make_train(n_exposures=drops.size, drops=drops, extra_start=extra_start, seed=seed)
    r = frame_times_from_pulses(tr.pulses, tr.counter, tr.n_frames, fps=60.0)
    assert r.method == "counter"
    assert_valid(r, tr)


@_fast
@given(
    n_frames=st.integers(1, 400),
    n_pulses=st.integers(2, 800),
    seed=st.integers(0, 2**16),
)
def test_property_always_one_time_per_frame_or_error(n_frames, n_pulses, seed):
    rng = np.random.default_rng(seed)
    pulses = quantise(1.0 + np.cumsum(1 / 60 + rng.normal(0, 2e-4, n_pulses)))
    try:
        r = frame_times_from_pulses(pulses, None, n_frames)
    except SyncError as err:
        assert str(n_pulses) in str(err) and str(n_frames) in str(err)
        return
    assert r.frame_times_s.shape == (n_frames,)
    assert np.all(np.diff(r.frame_times_s) > 0)
    used = r.pulse_index[r.pulse_index >= 0]
    np.testing.assert_array_equal(r.frame_times_s[r.pulse_index >= 0], pulses[used])


# --------------------------------------------------------------------------------------
# Bpod
# --------------------------------------------------------------------------------------


def make_bpod(n_exposures=9000, fps=30.0, drop_rate=0.01, seed=20, camera_before_s=3.0):
    """Training rig: the Bpod logs camera pulses (100 us resolution) only within trials."""
    tr = make_train(n_exposures=n_exposures, fps=fps, drop_rate=drop_rate, seed=seed,
                    t0=camera_before_s)  # fmt: skip
    rng = np.random.default_rng(seed)
    # all exposures of the camera (pulses are all exposures here: no extras)
    exposures = tr.pulses  # quantised to 1/30000; the Bpod quantises to 1e-4
    starts = np.cumsum(rng.uniform(4.0, 9.0, 400)) + camera_before_s + 1.0
    starts = starts[starts < exposures[-1] - 20.0]  # Bpod stops before the camera
    ends = np.r_[starts[1:], starts[-1] + 6.0] - rng.uniform(0.3, 2.0, starts.size)
    k = np.searchsorted(starts, exposures, side="right") - 1
    within = (k >= 0) & (exposures <= ends[np.clip(k, 0, None)])
    pulses = quantise(exposures[within], 1e4)
    return tr, pulses, np.column_stack([starts, ends]), within


def test_bpod_fills_intertrial_gaps_and_maps_frames():
    tr, pulses, intervals, within = make_bpod()
    r = frame_times_from_bpod(
        pulses, intervals, tr.n_frames, tr.counter, gpio=tr.gpio,
        pin_events_s=tr.pin_events, fps=30.0, camera_timestamps=tr.camera_timestamps,
        name="subj/2026-01-01/001 left camera",
    )  # fmt: skip
    assert r.frame_times_s.shape == (tr.n_frames,)
    assert np.all(np.diff(r.frame_times_s) > 0)
    assert r.method == "counter+gpio+timestamps"
    exp_of_frame = tr.counter - 1000  # exposure index (pulses == all exposures here)
    measured = within[exp_of_frame]
    err = np.abs(r.frame_times_s - tr.frame_true)
    assert err[measured].max() <= 0.5e-4 + SAMPLE  # Bpod resolution
    assert err[~measured].max() < 1 / 30.0
    np.testing.assert_array_equal(r.is_extrapolated, ~measured)
    assert r.n_filled > 0 and r.n_dropped_frames == tr.n_dropped
    assert not any("inside trials" in w for w in r.warnings)
    # frames before the first trial and after the last are extrapolated, one per frame
    assert r.is_extrapolated[0] and r.is_extrapolated[-1]


def test_bpod_gap_inside_trial_warns():
    tr, pulses, intervals, _ = make_bpod(n_exposures=3000, seed=21)
    mid = pulses.size // 2
    t_mid = pulses[mid]
    k = np.searchsorted(intervals[:, 0], t_mid) - 1
    assert intervals[k, 0] < pulses[mid - 1] and pulses[mid + 1] < intervals[k, 1]
    r = frame_times_from_bpod(
        np.delete(pulses, mid), intervals, tr.n_frames, tr.counter,
        camera_timestamps=tr.camera_timestamps, fps=30.0,
    )  # fmt: skip
    assert any("gaps inside trials" in w for w in r.warnings)
    assert np.all(np.diff(r.frame_times_s) > 0)


def test_bpod_bad_intervals():
    with pytest.raises(ValueError, match=r"b: trial intervals must be an \(m, 2\) array"):
        frame_times_from_bpod(np.arange(10) / 30, np.arange(4), 10, name="b")


# --------------------------------------------------------------------------------------
# clock alignment
# --------------------------------------------------------------------------------------


def _onsets(seed=30, n=600, drift_ppm=50.0, offset=12.345):
    rng = np.random.default_rng(seed)
    fpga = quantise(5.0 + np.cumsum(rng.uniform(3.0, 9.0, n)))
    bpod = quantise((fpga - offset) / (1 + drift_ppm * 1e-6), 1e4)
    return bpod, fpga


def test_fit_clock_drift_and_offset():
    bpod, fpga = _onsets()
    fit = fit_clock(bpod, fpga)
    assert abs(fit.drift_ppm - 50.0) < 1.0
    assert abs(fit.drift_ppm - 50.0) < 0.1
    assert fit.n_points == 600
    assert fit.residual_max_s < 1e-4 and fit.residual_std_s < 5e-5
    np.testing.assert_allclose(fit.a_to_b(bpod), fpga, atol=1e-4)
    np.testing.assert_allclose(fit.b_to_a(fit.a_to_b(bpod)), bpod, atol=1e-9)


def test_fit_clock_unequal_counts():
    bpod, fpga = _onsets(seed=31)
    a = np.delete(bpod, [0, 300])  # two events missing on clock a
    b = np.delete(fpga, [450])  # one other missing on clock b
    fit = fit_clock(a, b)
    assert fit.n_points == 597
    assert abs(fit.drift_ppm - 50.0) < 1.0
    np.testing.assert_allclose(fit.a_to_b(a[fit.index_a]), b[fit.index_b], atol=1e-4)
    # equal counts, but one missing on each side
    fit = fit_clock(np.delete(bpod, 10), np.delete(fpga, 500))
    assert fit.n_points == 598 and abs(fit.drift_ppm - 50.0) < 1.0


def test_fit_clock_large_drift_and_missing_events():
    bpod, fpga = _onsets(seed=33, n=700, drift_ppm=-400.0, offset=-2.5)
    fit = fit_clock(np.delete(bpod, [3, 350, 699]), np.delete(fpga, [0, 1, 500]))
    assert fit.n_points == 694
    assert abs(fit.drift_ppm + 400.0) < 1.0 and abs(fit.offset_s + 2.5) < 1e-3


def test_fit_clock_unmatched_raises_with_counts():
    rng = np.random.default_rng(32)
    a = np.cumsum(rng.uniform(3, 9, 100))
    b = np.cumsum(rng.uniform(3, 9, 80))
    with pytest.raises(ValueError, match=r"clk: cannot match clock events: 100 on clock a, 80 on"):
        fit_clock(a, b, name="clk")
    with pytest.raises(ValueError, match=r"at least 2 events"):
        fit_clock([1.0], [1.0, 2.0])


# --------------------------------------------------------------------------------------
# QC
# --------------------------------------------------------------------------------------


def test_frame_interval_stats_excludes_drops():
    tr = make_train(n_exposures=20000, drop_rate=0.02, seed=40)
    stats = frame_interval_stats(tr.frame_true)
    assert abs(stats.jitter_us - 195.6) < 0.05 * 195.6
    assert abs(stats.median_fps - 60.0) < 0.01
    assert stats.n_excluded > 300


def test_sync_qc_statuses():
    tr = make_train(n_exposures=4000, extra_start=4, seed=41)
    r = sync(tr)
    qc = sync_qc(r, 60.0, expected_jitter_us=195.6)
    assert qc.status == "pass" and qc.reasons == ()
    # 2% drops: fail
    r2 = sync(make_train(n_exposures=4000, drop_rate=0.02, seed=42))
    qc = sync_qc(r2, 60.0)
    assert qc.status == "fail" and any("dropped frames" in x for x in qc.reasons)
    # frame rate off by more than 1 Hz
    qc = sync_qc(r, 62.0)
    assert qc.status == "fail" and any("frame rate" in x for x in qc.reasons)
    # non-increasing times / wrong length
    bad = r.frame_times_s.copy()
    bad[10] = bad[9]
    qc = sync_qc(dataclasses.replace(r, frame_times_s=bad), 60.0)
    assert qc.status == "fail" and any("not strictly increasing" in x for x in qc.reasons)
    qc = sync_qc(dataclasses.replace(r, frame_times_s=r.frame_times_s[:-1]), 60.0)
    assert qc.status == "fail" and any("frame times for" in x for x in qc.reasons)
    # pulse count matched only by assumption: warning
    r3 = frame_times_from_pulses(tr.pulses, None, tr.n_frames, fps=60.0)
    qc = sync_qc(r3, 60.0)
    assert qc.status == "warning" and any("no frame counter" in x for x in qc.reasons)
    assert r3.method in METHODS


# --------------------------------------------------------------------------------------
# acceptance on the simulator's sessions (acquisition/daq.py)
# --------------------------------------------------------------------------------------


def _simulate(rig_type: str, duration_s: float, **config):
    daq = pytest.importorskip("acquisition.daq")
    return daq, daq.simulate_daq(rig_type, duration_s, daq.DaqConfig(**config))


@pytest.mark.parametrize("drop_rate", [0.0, 0.001, 0.02])
def test_simulated_ephys_session(drop_rate):
    """Drops at 0, 0.1 and 2%, extra pulses at both ends, Bpod drift 50 ppm."""
    from pipeline.rigs import FPGA_WIRINGS

    FPGA_CHANNELS = {k.removesuffix("_camera"): v for k, v in FPGA_WIRINGS["3B"].items()}

    daqmod, sim = _simulate(
        "ephys", 120.0, drop_rate=drop_rate, extra_pulses_start=5, extra_pulses_end=3, seed=7
    )
    fpga, bpod = sim.fpga_sync, sim.bpod_sync
    onsets_fpga = fpga.edges(FPGA_CHANNELS["bpod"], 1)
    audio_fpga = fpga.edges(FPGA_CHANNELS["audio"], 1)
    sample = 1.0 / sim.fpga_rate_hz
    for label, cam in sim.cameras.items():
        pulses = fpga.edges(FPGA_CHANNELS[label], 1)
        np.testing.assert_array_equal(pulses, cam.pulse_times_s)
        r = frame_times_from_pulses(
            pulses, cam.frame_counter, cam.n_frames, gpio=cam.gpio, pin_events_s=audio_fpga,
            fps=cam.fps, camera_timestamps=cam.camera_timestamp, name=f"sim/{label} camera",
        )  # fmt: skip
        assert r.frame_times_s.shape == (cam.n_frames,)
        assert np.all(np.diff(r.frame_times_s) > 0)
        assert r.method == "counter+gpio+timestamps" and r.warnings == ()
        err = r.frame_times_s - cam.frame_times_s
        assert r.n_extrapolated == 0
        assert np.all((err >= -1e-9) & (err <= sample + 1e-9))  # the sample at/after the edge
        assert r.n_dropped_frames == int((~cam.recorded).sum())
        assert (r.n_extra_pulses_start, r.n_extra_pulses_end) == (5, 3)
        stats = frame_interval_stats(r.frame_times_s, valid=~r.is_extrapolated)
        assert abs(stats.jitter_us - cam.jitter_us) < 0.1 * cam.jitter_us
        assert abs(stats.median_fps - cam.fps) < 0.05
    # the Bpod clock against the FPGA's from the trial onsets
    fit = fit_clock(onsets_fpga, bpod.edges(daqmod.BPOD_TRIAL_CHANNEL, 1))
    assert abs(fit.drift_ppm - sim.bpod_drift_ppm) < 1.0
    assert abs(fit.offset_s - sim.bpod_offset_s) < 1e-3


def test_simulated_ephys_right_camera_from_bpod():
    """The right camera's pulses as the Bpod saw them (within trials), mapped to the FPGA."""
    from pipeline.rigs import FPGA_WIRINGS

    FPGA_CHANNELS = {k.removesuffix("_camera"): v for k, v in FPGA_WIRINGS["3B"].items()}

    daqmod, sim = _simulate("ephys", 90.0, drop_rate=0.01, extra_pulses_end=2, seed=8)
    cam, bpod = sim.cameras["right"], sim.bpod_sync
    onsets_bpod = bpod.edges(daqmod.BPOD_TRIAL_CHANNEL, 1)
    r = frame_times_from_bpod(
        bpod.edges(daqmod.BPOD_CAMERA_CHANNEL, 1), sim.trial_intervals_bpod_s, cam.n_frames,
        cam.frame_counter, gpio=cam.gpio, pin_events_s=bpod.edges(daqmod.BPOD_AUDIO_CHANNEL, 1), fps=cam.fps,
        camera_timestamps=cam.camera_timestamp, name="sim/right camera (bpod)",
    )  # fmt: skip
    assert r.method == "counter+gpio+timestamps"
    assert r.frame_times_s.shape == (cam.n_frames,) and np.all(np.diff(r.frame_times_s) > 0)
    fit = fit_clock(onsets_bpod, sim.fpga_sync.edges(FPGA_CHANNELS["bpod"], 1))
    err = np.abs(fit.a_to_b(r.frame_times_s) - cam.frame_times_s)
    assert err[~r.is_extrapolated].max() < 1e-4 + 1e-5  # Bpod resolution + fit
    assert err[r.is_extrapolated].max() < 1.0 / cam.fps
    assert r.n_filled > 0 and r.n_dropped_frames == int((~cam.recorded).sum())


def test_simulated_training_session_on_bpod_clock():
    daqmod, sim = _simulate("training", 90.0, drop_rate=0.0005, seed=9)  # 1 drop
    cam, bpod = sim.cameras["left"], sim.bpod_sync
    r = frame_times_from_bpod(
        bpod.edges(daqmod.BPOD_CAMERA_CHANNEL, 1), sim.trial_intervals_bpod_s, cam.n_frames,
        cam.frame_counter, gpio=cam.gpio, fps=cam.fps, camera_timestamps=cam.camera_timestamp,
        pin_events_s=bpod.edges(daqmod.BPOD_AUDIO_CHANNEL, 1), name="sim/left camera",
    )  # fmt: skip
    truth = sim.fpga_to_bpod(cam.frame_times_s)
    err = np.abs(r.frame_times_s - truth)
    assert r.frame_times_s.shape == (cam.n_frames,) and np.all(np.diff(r.frame_times_s) > 0)
    assert err[~r.is_extrapolated].max() <= 1e-4 + 1e-9  # one Bpod sample
    assert err[r.is_extrapolated].max() < 1.0 / cam.fps
    assert r.n_dropped_frames == 1
    qc = sync_qc(r, cam.fps)
    assert qc.status == "pass", qc.reasons


def test_simulated_daq_started_late():
    from pipeline.rigs import FPGA_WIRINGS

    FPGA_CHANNELS = {k.removesuffix("_camera"): v for k, v in FPGA_WIRINGS["3B"].items()}

    _, sim = _simulate("ephys", 30.0, drop_rate=0.01, extra_pulses_start=2, seed=10)
    cam = sim.cameras["left"]
    pulses = cam.pulse_times_s[6:]  # the DAQ missed the 2 extra and the first 4 frames' pulses
    r = frame_times_from_pulses(
        pulses, cam.frame_counter, cam.n_frames, gpio=cam.gpio, fps=cam.fps,
        pin_events_s=sim.fpga_sync.edges(FPGA_CHANNELS["audio"], 1),
        camera_timestamps=cam.camera_timestamp,
    )  # fmt: skip
    assert r.n_extrapolated == 4 and r.is_extrapolated[:4].all()
    err = np.abs(r.frame_times_s - cam.frame_times_s)
    assert err[:4].max() < 0.1 / cam.fps  # not one frame early (IBL's align_with_gpio)
    assert err[4:].max() <= 1.0 / sim.fpga_rate_hz
