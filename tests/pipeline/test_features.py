"""Tests of pipeline/features.py: pupil diameter, smoothing, licks."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import savgol_coeffs

import pipeline.features as features_module
from bench.rows_features import (
    _ibl_non_uniform_savgol,
    ibl_smooth_pupil_diameter_loop,
    synthetic_pupil_trace,
)
from pipeline.features import (
    FeatureParams,
    _nanmedian_of_six,
    _nonuniform_savgol,
    detect_licks,
    lick_contact_distance,
    lick_frames_ibl,
    lick_onsets,
    likelihood_threshold,
    merge_camera_licks,
    pupil_diameter_from_points,
    pupil_diameter_raw,
    pupil_window_frames,
    smooth_pupil_diameter,
)

# ---- helpers ---------------------------------------------------------------------------------


def circle_points(cx, cy, r, theta=0.0, n=1):
    """Top, right, bottom, left points of a circle (image coordinates, y down), rotated."""
    angles = {"top": -np.pi / 2, "right": 0.0, "bottom": np.pi / 2, "left": np.pi}
    out = {}
    for name, a in angles.items():
        p = np.array([cx + r * np.cos(a + theta), cy + r * np.sin(a + theta)])
        out[name] = np.tile(p, (n, 1))
    return out


def ibl_reference_diameter(top, right, bottom, left):
    """IBL's get_pupil_diameter, on arrays."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        d = [np.linalg.norm(top - bottom, axis=1), np.linalg.norm(left - right, axis=1)]
        for a, b in [(top, left), (top, right), (bottom, left), (bottom, right)]:
            d.append(np.linalg.norm(a - b, axis=1) * 2**0.5)
        return np.nanmedian(d, axis=0)


# ---- likelihood threshold --------------------------------------------------------------------


def test_likelihood_threshold_dict_blanks_low_and_nan_and_does_not_mutate():
    a = np.array([[1.0, 2.0, 0.95], [3.0, 4.0, 0.5], [5.0, 6.0, np.nan], [7.0, 8.0, 0.9]])
    pts = {"nose": a}
    before = a.copy()
    out = likelihood_threshold(pts, 0.9)
    np.testing.assert_array_equal(a, before)  # input untouched
    assert out is not pts and out["nose"] is not a
    np.testing.assert_array_equal(out["nose"][:, 2], before[:, 2])  # likelihood kept
    assert np.isnan(out["nose"][1, :2]).all()  # low
    assert np.isnan(out["nose"][2, :2]).all()  # NaN likelihood (IBL keeps this point)
    np.testing.assert_array_equal(out["nose"][[0, 3], :2], before[[0, 3], :2])  # >= threshold


def test_likelihood_threshold_dataframe_copy():
    df = pd.DataFrame(
        {
            "paw_x": [1.0, 2.0, 3.0],
            "paw_y": [4.0, 5.0, 6.0],
            "paw_likelihood": [0.99, 0.1, np.nan],
            "other": [7, 8, 9],
        }
    )
    before = df.copy()
    out = likelihood_threshold(df)
    pd.testing.assert_frame_equal(df, before)
    assert np.isnan(out.loc[1, "paw_x"]) and np.isnan(out.loc[2, "paw_y"])
    assert out.loc[0, "paw_x"] == 1.0
    assert list(out["other"]) == [7, 8, 9]


def test_likelihood_threshold_dataframe_without_likelihood_columns():
    df = pd.DataFrame({("scorer", "paw", "x"): [1.0], ("scorer", "paw", "likelihood"): [0.1]})
    with pytest.raises(ValueError, match="no '<part>_likelihood' columns"):
        likelihood_threshold(df)


def test_likelihood_threshold_bad_shape():
    with pytest.raises(ValueError, match=r"points\['a'\] must have shape \(n, 3\)"):
        likelihood_threshold({"a": np.zeros((4, 2))})


# ---- raw pupil diameter ------------------------------------------------------------------------


def test_circle_gives_its_diameter():
    p = circle_points(100.0, 80.0, 12.5, n=3)
    d = pupil_diameter_raw(p["top"], p["right"], p["bottom"], p["left"])
    np.testing.assert_allclose(d, 25.0, rtol=1e-12)


def test_median_of_six_estimates_on_an_ellipse():
    # top/bottom 10 apart, left/right 20 apart: estimates 10, 20 and 4 x sqrt(2)*sqrt(125)
    top, bottom = np.array([[0.0, -5.0]]), np.array([[0.0, 5.0]])
    left, right = np.array([[-10.0, 0.0]]), np.array([[10.0, 0.0]])
    d = pupil_diameter_raw(top, right, bottom, left)
    np.testing.assert_allclose(d, [math.sqrt(2) * math.sqrt(125)], rtol=1e-12)


def test_two_points_are_enough_and_fewer_give_nan():
    p = circle_points(50.0, 50.0, 10.0)
    nan = np.full((1, 2), np.nan)
    # opposite points -> direct diameter
    assert pupil_diameter_raw(p["top"], nan, p["bottom"], nan)[0] == pytest.approx(20.0)
    # adjacent points -> sqrt(2) * chord
    assert pupil_diameter_raw(p["top"], nan, nan, p["left"])[0] == pytest.approx(20.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "All-NaN slice" warnings
        assert np.isnan(pupil_diameter_raw(p["top"], nan, nan, nan)[0])
        assert np.isnan(pupil_diameter_raw(nan, nan, nan, nan)[0])


def test_raw_diameter_matches_ibl_nanmedian_with_random_nans():
    rng = np.random.default_rng(3)
    pts = [rng.normal(50, 10, (500, 2)) for _ in range(4)]
    for p in pts:
        p[rng.random(500) < 0.4] = np.nan
    ours = pupil_diameter_raw(*pts)  # top, right, bottom, left
    ref = ibl_reference_diameter(pts[0], pts[1], pts[2], pts[3])
    np.testing.assert_allclose(ours, ref, rtol=1e-12, equal_nan=True)


def test_raw_diameter_chunks_match_ibl(monkeypatch):
    """The per-frame arithmetic runs in chunks of frames; chunk edges change nothing."""
    monkeypatch.setattr(features_module, "_ROW_CHUNK", 7)
    rng = np.random.default_rng(11)
    pts = [rng.normal(50, 10, (100, 3)) for _ in range(4)]  # (n, 3): likelihood column ignored
    for p in pts:
        p[rng.random(100) < 0.3, :2] = np.nan
    ours = pupil_diameter_raw(*(p[:, :2] for p in pts))
    ref = ibl_reference_diameter(*(p[:, :2] for p in pts))
    np.testing.assert_allclose(ours, ref, rtol=1e-12, equal_nan=True)


_MEDIAN_VALUES = st.sampled_from([np.nan, np.nan, -np.inf, np.inf, -2.5, 0.0, 1.0, 1.0, 3.0, 7.25])


@settings(max_examples=80, deadline=None)
@given(st.lists(st.lists(_MEDIAN_VALUES, min_size=6, max_size=6), min_size=1, max_size=40))
def test_nanmedian_of_six_equals_numpy_nanmedian(rows):
    values = np.array(rows).T  # (6, n): few distinct values, so many ties; NaN and +-inf
    before = values.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices, inf - inf
        ref = np.nanmedian(values, axis=0)
        ours = _nanmedian_of_six(list(values))
    np.testing.assert_array_equal(ours, ref)  # (NaN where NaN)
    np.testing.assert_array_equal(values, before)  # inputs untouched


def test_nanmedian_of_six_random_columns():
    rng = np.random.default_rng(5)
    values = rng.normal(20, 5, (6, 5000))
    values[rng.random(values.shape) < 0.35] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ref = np.nanmedian(values, axis=0)
    assert np.isnan(ref).any() and (~np.isnan(values)).sum(axis=0).min() == 0
    np.testing.assert_array_equal(_nanmedian_of_six(list(values)), ref)
    with pytest.raises(ValueError, match="six"):
        _nanmedian_of_six(list(values[:5]))


@settings(max_examples=60, deadline=None)
@given(
    cx=st.floats(-500, 1500),
    cy=st.floats(-500, 1500),
    r=st.floats(0.5, 200),
    theta=st.floats(0, 2 * np.pi),
)
def test_diameter_invariant_to_translation_and_rotation(cx, cy, r, theta):
    p = circle_points(cx, cy, r, theta)
    d = pupil_diameter_raw(p["top"], p["right"], p["bottom"], p["left"])
    assert d[0] == pytest.approx(2 * r, rel=1e-9, abs=1e-9)


def test_pupil_diameter_from_points_names():
    p = circle_points(10.0, 10.0, 3.0, n=2)
    pts = {f"pupil_{k}_r": v for k, v in p.items()}
    np.testing.assert_allclose(pupil_diameter_from_points(pts), 6.0)
    with pytest.raises(ValueError, match="pupil_top_l"):
        pupil_diameter_from_points(pts, suffix="l")


# ---- smoothing ---------------------------------------------------------------------------------


def test_window_by_frame_rate():
    assert pupil_window_frames(60) == 31
    assert pupil_window_frames(150) == 75
    assert pupil_window_frames(30) == 15
    assert pupil_window_frames(120) == 61
    assert pupil_window_frames(60, window_s=1.0) == 61
    assert pupil_window_frames(60, window=21) == 21
    with pytest.raises(ValueError, match="odd"):
        pupil_window_frames(60, window=20)


def test_nonuniform_savgol_matches_ibl_loop_and_exact_fit():
    rng = np.random.default_rng(1)
    x = np.sort(rng.choice(800, 400, replace=False))
    x = np.concatenate([x, np.arange(1500, 1560), np.arange(9000, 9100)])  # long gaps
    y = np.sin(x / 40.0) + rng.normal(0, 0.1, x.size)
    ours = _nonuniform_savgol(x, y, 31, 3)
    ibl = _ibl_non_uniform_savgol(x, y, 31, 3)
    np.testing.assert_allclose(ours, ibl, atol=1e-5)
    h = 15
    for i in (h, 200, 430, 460, 500, x.size - h - 1):  # incl. windows spanning the gaps
        t = (x[i - h : i + h + 1] - x[i]).astype(float)
        vander = np.vander(t / np.abs(t).max(), 4, increasing=True)
        exact = np.linalg.lstsq(vander, y[i - h : i + h + 1], rcond=None)[0][0]
        assert ours[i] == pytest.approx(exact, abs=1e-9)


def test_moment_fit_does_not_depend_on_chunking(monkeypatch):
    """Irregular windows are fitted in chunks of whole blocks: any chunk size, same bits."""
    raw = synthetic_pupil_trace(n=30_000, fps=150.0, seed=3)
    x = np.flatnonzero(~np.isnan(raw))
    y = raw[x]
    results = []
    for chunk in (1, 1000, 10**9):  # one block per chunk ... all blocks in one chunk
        monkeypatch.setattr(features_module, "_CENTRES_PER_CHUNK", chunk)
        results.append(_nonuniform_savgol(x, y, 75, 3))
    np.testing.assert_array_equal(results[0], results[2])
    np.testing.assert_array_equal(results[1], results[2])


def test_nonuniform_savgol_shared_frame_fit():
    """The convolution done once on the frame signal gives the uniform windows' values."""
    raw = synthetic_pupil_trace(n=20_000, fps=60.0, seed=4)
    isnan = np.isnan(raw)
    x = np.flatnonzero(~isnan)
    coeffs = savgol_coeffs(31, 3)
    frame_fit = np.convolve(np.where(isnan, 0.0, raw), coeffs[::-1], mode="valid")
    shared = _nonuniform_savgol(x, raw[x], 31, 3, frame_fit=frame_fit)
    own = _nonuniform_savgol(x, raw[x], 31, 3)
    np.testing.assert_allclose(shared, own, rtol=0, atol=1e-12)


def test_smoothing_keeps_slow_sinusoid():
    fps = 60.0
    t = np.arange(int(30 * fps)) / fps
    truth = 20 + 3 * np.sin(2 * np.pi * 0.2 * t)
    rng = np.random.default_rng(0)
    raw = truth + rng.normal(0, 0.5, t.size)
    raw[rng.random(t.size) < 0.05] = np.nan  # scattered missing frames
    sm = smooth_pupil_diameter(raw, fps)
    assert not np.isnan(sm).any()
    err = sm - truth
    assert np.sqrt(np.mean(err**2)) < 0.2
    assert np.max(np.abs(err)) < 0.7


def test_outliers_are_removed():
    fps = 60.0
    t = np.arange(int(20 * fps)) / fps
    truth = 20 + 2 * np.sin(2 * np.pi * 0.1 * t)
    rng = np.random.default_rng(1)
    raw = truth + rng.normal(0, 0.3, t.size)
    spikes = np.arange(100, t.size - 100, 97)
    raw[spikes] += 25.0
    sm = smooth_pupil_diameter(raw, fps)
    assert np.max(np.abs(sm[spikes] - truth[spikes])) < 0.5
    # without the outlier step (huge threshold) the spikes pull the trace
    sm_no = smooth_pupil_diameter(raw, fps, std_thresh=1e9)
    assert np.max(np.abs(sm_no[spikes] - truth[spikes])) > 1.0


@pytest.mark.parametrize("where", ["middle", "start", "end"])
def test_nan_run_of_exactly_one_second_is_interpolated_longer_is_blanked(where):
    fps = 60.0
    n = 1200
    t = np.arange(n) / fps
    truth = 20 + np.sin(2 * np.pi * 0.1 * t)
    base = truth + np.random.default_rng(7).normal(0, 0.2, n)
    for length, blanked in ((60, False), (61, True)):
        raw = base.copy()
        start = {"middle": 500, "start": 0, "end": n - length}[where]
        raw[start : start + length] = np.nan
        sm = smooth_pupil_diameter(raw, fps, nan_thresh_s=1.0)
        run = np.zeros(n, bool)
        run[start : start + length] = True
        if blanked:
            np.testing.assert_array_equal(np.isnan(sm), run)
        else:
            assert not np.isnan(sm).any()
            if where == "middle":  # interpolated, close to the slow truth
                assert np.max(np.abs(sm[run] - truth[run])) < 0.2


def test_leading_long_run_blanked_where_ibl_is_not():
    fps = 60.0
    rng = np.random.default_rng(2)
    raw = 20 + rng.normal(0, 0.2, 900)
    raw[:100] = np.nan  # leading run > 1 s
    raw[400:480] = np.nan  # a later run > 1 s
    ours = smooth_pupil_diameter(raw, fps)
    ibl = ibl_smooth_pupil_diameter_loop(raw, fps, 31)
    assert np.isnan(ours[:100]).all() and np.isnan(ours[400:480]).all()
    assert not np.isnan(ibl).any()  # IBL's positional pairing blanks nothing
    both = ~np.isnan(ours)
    np.testing.assert_allclose(ours[both], ibl[both], atol=1e-8)


@pytest.mark.parametrize(("fps", "window", "n"), [(60.0, 31, 2000), (150.0, 75, 1200)])
def test_matches_ibl_loop_on_realistic_trace(fps, window, n):
    raw = synthetic_pupil_trace(n=n, fps=fps, seed=5)  # blinks, a > 1 s occlusion, outliers
    assert np.isnan(raw).mean() > 0.05
    ours = smooth_pupil_diameter(raw, fps)
    ibl = ibl_smooth_pupil_diameter_loop(raw, fps, window)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ibl))
    ok = ~np.isnan(ours)
    np.testing.assert_allclose(ours[ok], ibl[ok], atol=1e-8)


def test_too_many_nans_raise_with_fraction():
    raw = np.full(1000, np.nan)
    raw[:50] = 20.0
    with pytest.raises(ValueError, match=r"95\.0% of frames \(950 of 1000\)"):
        smooth_pupil_diameter(raw, 60.0)


def test_smoothing_does_not_mutate_input():
    raw = synthetic_pupil_trace(n=2000, fps=60.0, seed=1)
    before = raw.copy()
    smooth_pupil_diameter(raw, 60.0)
    np.testing.assert_array_equal(raw, before)


def test_540k_frames_shape():
    """Speed is shown by the bench row ``pupil-smooth-540k``; here only that it runs and keeps length."""
    raw = synthetic_pupil_trace(n=540_000, fps=150.0, seed=0)
    sm = smooth_pupil_diameter(raw, 150.0)
    assert sm.shape == raw.shape
    assert np.isfinite(sm).mean() > 0.9


# ---- licks ---------------------------------------------------------------------------------------


def make_licks(fps=60.0, duration_s=20.0, seed=0):
    """Tongue tip traces with known licks: each lick shows the tongue for 5 frames
    (out, out, touching the spout for 2 frames, back), hidden (NaN) otherwise."""
    rng = np.random.default_rng(seed)
    n = int(duration_s * fps)
    times = np.arange(n) / fps + 3.0
    spout = np.array([200.0, 150.0])
    tip = np.full((n, 2), np.nan)
    contact = np.zeros(n, bool)
    onset_frames = []
    f = 30
    while f < n - 10:
        path = spout + np.array([[-40, 25], [-22, 12], [-3, 1], [-2, 2], [-25, 14]], float)
        tip[f : f + 5] = path + rng.normal(0, 0.3, (5, 2))
        contact[f + 2 : f + 4] = True
        onset_frames.append(f)
        f += int(rng.integers(8, 30))  # 7.5 Hz down to 2 Hz
    tip2 = tip + np.array([5.0, -3.0])  # second tongue edge
    return (
        times,
        {"tongue_end_l": tip, "tongue_end_r": tip2},
        spout,
        contact,
        np.array(onset_frames),
    )


def precision_recall(found, truth, tol):
    found, truth = np.asarray(found), np.asarray(truth)
    hit_t = np.array([np.any(np.abs(found - x) <= tol) for x in truth])
    hit_f = np.array([np.any(np.abs(truth - x) <= tol) for x in found])
    return hit_f.mean() if found.size else 0.0, hit_t.mean() if truth.size else 0.0


def test_ibl_lick_frames_and_onsets():
    times, tongue, spout, contact, onset_frames = make_licks()
    frames = lick_frames_ibl(tongue)
    # IBL's criterion marks the frame before each above-threshold jump: frames 0..3 of a lick
    expected = np.zeros_like(frames)
    for f in onset_frames:
        expected[f : f + 4] = True
    assert frames.sum() > 0
    assert np.all(frames <= expected)  # never outside a lick
    onsets = lick_onsets(frames, times, min_gap_s=0.055)
    assert onsets.size == onset_frames.size  # one event per lick
    p, r = precision_recall(onsets, times[onset_frames], tol=0.5 / 60)
    assert (p, r) == (1.0, 1.0)


def test_ibl_lick_frames_equal_ibl_get_licks_times():
    times, tongue, *_ = make_licks(seed=4)
    # IBL's get_feature_event_times over the 4 tongue columns
    events = []
    for arr in tongue.values():
        for col in range(2):
            f = arr[:, col]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                thr = np.nanstd(np.diff(f)) / 4
            events.append(np.where(np.abs(np.diff(f)) > thr)[0])
    ibl_times = times[np.unique(np.concatenate(events))]
    np.testing.assert_array_equal(times[lick_frames_ibl(tongue)], ibl_times)


def test_distance_contact_per_frame_and_onsets():
    times, tongue, spout, contact, onset_frames = make_licks(seed=1)
    got = lick_contact_distance(tongue, {"tube_top": spout}, max_distance_px=8.0)
    np.testing.assert_array_equal(got, contact)
    onsets = lick_onsets(got, times, min_gap_s=0.055)
    p, r = precision_recall(onsets, times[onset_frames + 2], tol=0.5 / 60)
    assert (p, r) == (1.0, 1.0)


def test_distance_spout_nan_frames_use_median_position():
    times, tongue, spout, contact, _ = make_licks(seed=2)
    n = times.size
    spout_trace = np.tile(spout, (n, 1))
    spout_trace[contact] = np.nan  # the tongue hides the spout while touching it
    before = spout_trace.copy()
    got = lick_contact_distance(tongue, {"tube_top": spout_trace}, 8.0)
    np.testing.assert_array_equal(got, contact)
    np.testing.assert_array_equal(spout_trace, before)


def test_distance_contact_matches_hypot_reference():
    rng = np.random.default_rng(8)
    n = 3000
    tips = {k: rng.normal(200, 12, (n, 3)) for k in ("tongue_end_l", "tongue_end_r")}
    for t in tips.values():
        t[rng.random(n) < 0.5, 0] = np.nan  # undetected (x only, or both)
        t[rng.random(n) < 0.1, 1] = np.nan
    spout = rng.normal(195, 1.0, (n, 2))
    spout[rng.random(n) < 0.2] = np.nan
    fixed = np.array([205.0, 198.0])
    got = lick_contact_distance(tips, {"top": spout, "bottom": fixed}, 10.0)
    filled = np.where(np.isnan(spout).any(axis=1)[:, None], np.nanmedian(spout, axis=0), spout)
    ref = np.zeros(n, bool)
    for t in tips.values():
        for s in (filled, np.broadcast_to(fixed, (n, 2))):
            with np.errstate(invalid="ignore"):
                ref |= np.hypot(t[:, 0] - s[:, 0], t[:, 1] - s[:, 1]) <= 10.0
    assert 0 < ref.sum() < n
    np.testing.assert_array_equal(got, ref)


def test_ibl_lick_frames_all_nan_tongue_gives_no_licks():
    tongue = {"tongue_end_l": np.full((50, 3), np.nan)}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not lick_frames_ibl(tongue).any()


def test_lick_onsets_debounce():
    fps = 60.0
    times = np.arange(100) / fps
    c = np.zeros(100, bool)
    c[[10, 11, 13, 14]] = True  # one missed frame inside a lick (gap 33 ms)
    c[[30, 31]] = True  # 16 frames later: a new lick
    np.testing.assert_allclose(lick_onsets(c, times, min_gap_s=0.055), times[[10, 30]])
    np.testing.assert_allclose(lick_onsets(c, times, min_gap_s=0.02), times[[10, 13, 30]])
    assert lick_onsets(np.zeros(100, bool), times).size == 0


def test_merge_camera_licks_no_double_count():
    rng = np.random.default_rng(0)
    true = np.cumsum(rng.uniform(0.12, 0.6, 200))
    cam_a = np.round(true * 150) / 150  # 150 Hz camera
    cam_b = np.round(true * 60) / 60 + rng.uniform(-0.005, 0.005, true.size)  # 60 Hz camera
    only_a = np.ones(true.size, bool)
    only_a[::7] = False  # some licks missed by camera A
    only_b = np.ones(true.size, bool)
    only_b[3::11] = False  # others missed by camera B
    a, b = cam_a[only_a], cam_b[only_b]
    merged = merge_camera_licks(a, b, tolerance_s=0.04)
    seen = only_a | only_b
    assert merged.size == seen.sum()  # each lick once
    p, r = precision_recall(merged, true[seen], tol=0.02)
    assert (p, r) == (1.0, 1.0)
    # naive concatenation (IBL) double counts
    assert np.concatenate([a, b]).size > merged.size


def test_merge_mutual_nearest_only():
    a = np.array([1.0])
    b = np.array([0.99, 1.02])  # two B events near one A event: only the nearest merges
    np.testing.assert_allclose(merge_camera_licks(a, b, 0.04), [1.0, 1.02])
    np.testing.assert_allclose(merge_camera_licks([], [0.5], 0.04), [0.5])


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(0, 100), max_size=30, unique=True),
    st.lists(st.floats(0, 100), max_size=30, unique=True),
)
def test_merge_bounds(a, b):
    merged = merge_camera_licks(a, b, 0.04)
    assert max(len(a), len(b)) <= merged.size <= len(a) + len(b)
    assert np.all(np.diff(merged) >= 0)
    np.testing.assert_allclose(merge_camera_licks(a, a, 0.04), np.sort(a))


def test_lick_functions_do_not_mutate_inputs():
    times, tongue, spout, contact, _ = make_licks(seed=3)
    copies = {k: v.copy() for k, v in tongue.items()}
    t_copy, c_copy = times.copy(), contact.copy()
    lick_frames_ibl(tongue)
    lick_contact_distance(tongue, {"s": spout}, 8.0)
    lick_onsets(contact, times)
    a, b = times[contact][::2].copy(), times[contact][1::2].copy()
    a0, b0 = a.copy(), b.copy()
    merge_camera_licks(a, b)
    for k in tongue:
        np.testing.assert_array_equal(tongue[k], copies[k])
    np.testing.assert_array_equal(times, t_copy)
    np.testing.assert_array_equal(contact, c_copy)
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)


def test_detect_licks_selects_method():
    times, tongue, spout, contact, onset_frames = make_licks(seed=6)
    ibl = detect_licks(tongue, times, FeatureParams(lick_method="ibl"))
    dist = detect_licks(
        tongue,
        times,
        FeatureParams(lick_method="distance", lick_distance_px=8.0),
        spout_points={"tube_top": spout},
    )
    assert ibl.method == "ibl" and dist.method == "distance"
    np.testing.assert_array_equal(dist.contact, contact)
    assert ibl.onset_times.size == dist.onset_times.size == onset_frames.size
    with pytest.raises(ValueError, match="spout_points"):
        detect_licks(tongue, times, FeatureParams(lick_method="distance"))


def test_feature_params_validation():
    assert FeatureParams().likelihood_threshold == 0.9
    with pytest.raises(ValueError, match="lick_method"):
        FeatureParams(lick_method="video")
    with pytest.raises(ValueError, match="lick_distance_px"):
        FeatureParams(lick_distance_px=0)


def test_constant_trace_stays_constant():
    raw = np.full(1200, 20.0)
    raw[500:560] = np.nan
    sm = smooth_pupil_diameter(raw, 60.0)
    assert not np.isnan(sm).any()
    np.testing.assert_allclose(sm, 20.0, atol=1e-9)


def test_a_hidden_tongue_separates_licks_closer_than_the_debounce_gap():
    """Licks 30-40 ms apart (real mice) are two licks when the tongue went back in between."""
    fps = 150.0
    times = np.arange(60) / fps
    contact = np.zeros(60, bool)
    contact[[10, 11, 12, 18, 19]] = True  # second lick 40 ms after the first one's last frame
    hidden = np.ones(60, bool)
    hidden[8:14] = False  # tongue out 8..13, in 14..16 (3 frames = 20 ms), out again 17..21
    hidden[17:22] = False
    np.testing.assert_allclose(lick_onsets(contact, times, min_gap_s=0.055), times[[10]])  # debounced into one
    np.testing.assert_allclose(lick_onsets(contact, times, min_gap_s=0.055, tongue_hidden=hidden), times[[10, 18]])
    # one hidden frame at 150 Hz (6.7 ms) is a missed detection, not the end of a lick
    one = ~np.isin(np.arange(60), np.arange(8, 22)) | (np.arange(60) == 15)
    np.testing.assert_allclose(lick_onsets(contact, times, tongue_hidden=one), times[[10]])
    # onset at the tongue's appearance (the distance method's contact comes later in a lick)
    np.testing.assert_allclose(
        lick_onsets(contact, times, tongue_hidden=hidden, onset_at_appearance=True), times[[8, 17]]
    )
    with pytest.raises(ValueError, match="tongue_hidden"):
        lick_onsets(contact, times, tongue_hidden=hidden[:10])


def test_distance_method_reports_licks_at_the_tongue_s_appearance():
    fps = 60.0
    times = 100.0 + np.arange(40) / fps
    tip = np.full((40, 2), np.nan)
    tip[10:16] = np.column_stack([np.linspace(0, 50, 6), np.zeros(6)])  # out at 10, at the spout at 15
    spout = {"tube_top": np.array([50.0, 0.0])}
    r = detect_licks({"tongue_end_l": tip}, times, FeatureParams(lick_method="distance", lick_distance_px=5.0),
                     spout_points=spout)  # fmt: skip
    assert r.contact[15] and not r.contact[10]
    np.testing.assert_allclose(r.onset_times, times[[10]])
