"""Tests of pipeline/qc.py: camera and pose QC checks on small synthetic arrays."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from pipeline import qc
from pipeline.qc import QCResult, overall_outcome


def texture(h=200, w=260, sigma=2.0, seed=0):
    g = gaussian_filter(np.random.default_rng(seed).random((h, w)), sigma)
    return ((g - g.mean()) / g.std() * 40 + 128).clip(0, 255).astype(np.uint8)


# ---- outcomes -------------------------------------------------------------------------------------


def test_overall_outcome_is_worst_and_not_set_ranks_lowest():
    assert overall_outcome(["PASS", "NOT_SET"]) == "PASS"
    assert overall_outcome(["PASS", "WARNING", "FAIL", None]) == "FAIL"
    assert overall_outcome(["pass", QCResult("x", "CRITICAL")]) == "CRITICAL"
    assert overall_outcome([("WARNING", 3), 10]) == "WARNING"
    assert overall_outcome([]) == "NOT_SET"
    with pytest.raises(ValueError, match="unknown QC outcome"):
        overall_outcome(["GOOD"])
    with pytest.raises(ValueError, match="outcome must be one of"):
        QCResult("x", "OK")


# ---- camera QC ------------------------------------------------------------------------------------


def test_brightness_pass_warning_fail():
    rng = np.random.default_rng(0)
    frames = (rng.normal(100, 5, (10, 32, 40))).clip(0, 255).astype(np.uint8)
    r = qc.check_brightness(frames)
    assert r.outcome == "PASS" and r.value == 1.0
    assert qc.check_brightness((frames * 0.3).astype(np.uint8)).outcome == "WARNING"  # ~30
    assert qc.check_brightness((frames * 0.1).astype(np.uint8)).outcome == "FAIL"  # ~10
    # unstable brightness (std of frame means >= 20) fails
    varied = np.stack([np.full((8, 8), v, np.uint8) for v in (60, 60, 190, 190, 60, 190, 60, 190)])
    assert qc.check_brightness(varied).outcome == "FAIL"


def test_brightness_roi():
    frames = np.zeros((4, 100, 120), np.uint8)
    frames[:, :50, :79] = 120  # IBL's left-camera region: top half, left 2/3
    roi = qc.brightness_roi("left", 100, 120)
    assert qc.check_brightness(frames, roi=roi).outcome == "PASS"
    assert qc.check_brightness(frames).outcome != "PASS"


def test_framerate():
    t = np.arange(600) / 60.0
    r = qc.check_framerate(t, 60.0)
    assert r.outcome == "PASS" and r.value == pytest.approx(60.0)
    assert qc.check_framerate(np.arange(600) / 58.5, 60.0).outcome == "FAIL"
    assert qc.check_framerate([1.0], 60.0).outcome == "NOT_SET"


def test_resolution_and_file_headers():
    assert qc.check_resolution(640, 512, 640, 512).outcome == "PASS"
    r = qc.check_resolution(1280, 1024, 640, 512)
    assert r.outcome == "FAIL" and r.value == "1280x1024"
    assert qc.check_file_headers(150.0, 150.0).outcome == "PASS"
    assert qc.check_file_headers(30.0, 150.0).outcome == "FAIL"
    assert qc.check_file_headers(float("nan"), 150.0).outcome == "NOT_SET"


def test_dropped_frames():
    c = np.arange(10_000)
    assert qc.check_dropped_frames(c, 10_000).outcome == "PASS"
    dropped = np.delete(c, np.arange(100, 2100, 100))  # 20 of 10,000 (0.2 %)
    r = qc.check_dropped_frames(dropped, dropped.size)
    assert r.outcome == "FAIL" and r.value == 20
    assert r.details["pct_dropped"] == pytest.approx(0.2)
    few = np.delete(c, [500, 900])  # 0.02 %
    assert qc.check_dropped_frames(few, few.size).outcome == "PASS"
    assert qc.check_dropped_frames(c, 10_003).outcome == "WARNING"  # 3 frames off
    assert qc.check_dropped_frames(c, 10_010).outcome == "FAIL"
    back = c.copy()
    back[50] = 10
    assert qc.check_dropped_frames(back, back.size).outcome == "CRITICAL"


def test_timestamps():
    t = np.arange(100) / 30.0
    assert qc.check_timestamps(t, 100).outcome == "PASS"
    assert qc.check_timestamps(t, 101).outcome == "FAIL"
    bad = t.copy()
    bad[10] = np.nan
    assert qc.check_timestamps(bad, 100).details["n_nan"] == 1
    assert qc.check_timestamps(bad, 100).outcome == "FAIL"
    flat = t.copy()
    flat[20] = flat[19]
    r = qc.check_timestamps(flat, 100)
    assert r.outcome == "FAIL" and r.details["n_not_increasing"] == 1


def test_camera_times():
    assert qc.check_camera_times(500, 500).outcome == "PASS"
    r = qc.check_camera_times(498, 500)
    assert r.outcome == "WARNING" and r.value == -2


def test_pin_state():
    n = 3000
    pin = np.zeros(n, bool)
    for s in range(20, n - 20, 60):  # 50 pulses, 2 frames high each
        pin[s : s + 2] = True
    r = qc.check_pin_state(pin, n, 50)
    assert r.outcome == "PASS" and r.value == 0 and r.details["n_low2high"] == 50
    assert qc.check_pin_state(pin, n, 60).outcome == "WARNING"
    assert qc.check_pin_state(pin, n + 10, 50).outcome == "FAIL"
    assert qc.check_pin_state(np.column_stack([pin, pin]), n, 50).outcome == "PASS"


def test_phase_correlation_recovers_shift():
    big = texture(300, 400)
    ref = big[30:270, 40:360]
    frame = big[25:265, 49:369]  # content 5 px lower, 9 px further left
    dx, dy = qc.phase_correlation_shift(frame, ref)[0]
    assert dx == pytest.approx(-9.0, abs=0.1) and dy == pytest.approx(5.0, abs=0.1)


def test_position_pass_warning_fail():
    big = texture(400, 500, seed=1)
    ref = big[100:300, 100:360]  # 200 x 260
    frames_ok = np.stack([big[102:302, 97:357]] * 3)  # content 3 px right, 2 px up
    r = qc.check_position(frames_ok, ref)
    assert r.outcome == "PASS" and r.details["dx_px"] == pytest.approx(3.0, abs=0.1)
    assert r.details["dy_px"] == pytest.approx(-2.0, abs=0.1)
    warn = big[100:300, 100 - 31 : 360 - 31]  # 31 px of 260 = 11.9 %
    assert qc.check_position(warn, ref).outcome == "WARNING"
    fail = big[100 - 40 : 300 - 40, 100:360]  # 40 px of 200 = 20 %
    r = qc.check_position(fail, ref)
    assert r.outcome == "FAIL" and r.value == pytest.approx(20.0, abs=0.1)


def test_histogram():
    ref = texture()
    assert qc.check_histogram(np.stack([ref, texture(seed=3)]), ref).outcome == "PASS"
    dark = (ref // 3).astype(np.uint8)
    r = qc.check_histogram(dark, ref)
    assert r.outcome == "FAIL" and r.value < 75


def test_focus_absolute_ibl_rule():
    sharp = texture(sigma=0.8)
    assert qc.check_focus(np.stack([sharp] * 2)).outcome == "PASS"
    flat = np.full((2, 200, 260), 90, np.uint8)
    r = qc.check_focus(flat)
    assert r.outcome == "FAIL" and r.value == 0.0


def test_focus_relative_to_reference():
    sharp = texture(sigma=0.8)
    r = qc.check_focus(sharp, sharp)
    assert r.outcome == "PASS" and r.value == pytest.approx(1.0)
    blurred = gaussian_filter(sharp.astype(float), 3).round().astype(np.uint8)
    r = qc.check_focus(blurred, sharp)
    assert r.outcome == "FAIL" and r.value < 0.25


def test_image_helpers_do_not_mutate():
    frames = np.stack([texture(seed=s) for s in range(2)])
    before = frames.copy()
    qc.equalize_hist(frames)
    qc.laplacian_variance(frames)
    qc.check_focus(frames, frames[0])
    qc.check_position(frames, frames[0])
    np.testing.assert_array_equal(frames, before)


def test_image_helpers_match_opencv():
    cv2 = pytest.importorskip("cv2")
    frames = np.stack([texture(seed=5), (texture(seed=6) // 2 + 20).astype(np.uint8)])
    for f, eq in zip(frames, qc.equalize_hist(frames), strict=True):
        np.testing.assert_array_equal(eq, cv2.equalizeHist(f))
    lap = qc.laplacian_variance(frames)
    np.testing.assert_allclose(lap, [cv2.Laplacian(f, cv2.CV_16S, ksize=1).var() for f in frames])
    ref_h = cv2.calcHist([frames[0]], [0], None, [256], [0, 256])
    expect = [
        cv2.compareHist(cv2.calcHist([f], [0], None, [256], [0, 256]), ref_h, cv2.HISTCMP_CORREL)
        for f in frames
    ]
    np.testing.assert_allclose(qc.histogram_correlation(frames, frames[0]), expect, atol=1e-9)


# ---- pose QC ---------------------------------------------------------------------------------------


def test_time_trace_length_and_all_nan():
    pts = {"nose": np.zeros((10, 2)), "paw": np.zeros((9, 2))}
    r = qc.check_time_trace_length_match(10, pts)
    assert r.outcome == "FAIL" and r.details["mismatched"] == {"paw": 9}
    assert qc.check_time_trace_length_match(10, {"nose": np.zeros((10, 2))}).outcome == "PASS"
    nanp = np.full((10, 2), np.nan)
    assert qc.check_trace_all_nan({"nose": np.zeros((10, 2)), "tube_top": nanp}).outcome == "PASS"
    r = qc.check_trace_all_nan({"nose": nanp})
    assert r.outcome == "FAIL" and r.details["all_nan"] == ["nose"]


def test_points_in_box():
    box = qc.POSE_BOX["left"]  # x 301-700, y 181-470
    rng = np.random.default_rng(0)
    inside = {"a": rng.uniform([350, 200], [650, 450], (100, 2)), "b": np.full((100, 2), 400.0)}
    r = qc.check_points_in_box(inside, box)
    assert r.outcome == "PASS" and r.value == 1.0
    outside = {"a": np.full((100, 2), 100.0)}
    assert qc.check_points_in_box(outside, box).outcome == "FAIL"
    # mean inside, but the points themselves mostly outside
    split = {"a": np.full((100, 2), [100.0, 300.0]), "b": np.full((100, 2), [900.0, 300.0])}
    r = qc.check_points_in_box(split, box)
    assert r.details["mean_in_box"] and r.value == 0.0 and r.outcome == "WARNING"


def test_pupil_blocked():
    rng = np.random.default_rng(1)
    d = rng.normal(30, 2, 1000)
    r = qc.check_pupil_blocked(d)
    assert r.outcome == "PASS" and r.value == 1.0
    blocked = d.copy()
    blocked[:950] = np.nan
    r = qc.check_pupil_blocked(blocked)
    assert r.outcome == "FAIL" and r.value == pytest.approx(0.05)
    assert qc.check_pupil_blocked(rng.normal(30, 12, 1000)).outcome == "FAIL"
    assert qc.check_pupil_blocked(rng.normal(30, 7, 1000), max_std_px=5.0).outcome == "FAIL"


def test_pupil_snr():
    t = np.arange(2000) / 60
    smooth = 30 + 3 * np.sin(2 * np.pi * 0.2 * t)
    rng = np.random.default_rng(2)
    assert (
        qc.check_pupil_diameter_snr(smooth + rng.normal(0, 0.3, t.size), smooth).outcome == "PASS"
    )
    assert qc.check_pupil_diameter_snr(smooth + rng.normal(0, 3, t.size), smooth).outcome == "FAIL"


def test_tongue_hidden():
    n = 1000
    hidden = np.full((n, 2), np.nan)
    hidden[::20] = 5.0  # visible 5 % of frames
    r = qc.check_tongue_hidden({"tongue_end_l": hidden, "tongue_end_r": hidden})
    assert r.outcome == "PASS" and r.value == pytest.approx(0.05)
    always = np.ones((n, 2))
    assert (
        qc.check_tongue_hidden({"tongue_end_l": always, "tongue_end_r": always}).outcome == "FAIL"
    )
    # IBL fails only when both points are always visible
    assert (
        qc.check_tongue_hidden({"tongue_end_l": always, "tongue_end_r": hidden}).outcome == "PASS"
    )


def test_trial_window_mask():
    t = np.arange(100) / 10.0  # 10 Hz, 0-9.9 s
    m = qc.trial_window_mask(t, [2.0, np.nan, 7.0], pre_s=0.5, post_s=1.5)
    expect = ((t >= 1.5) & (t < 3.5)) | ((t >= 6.5) & (t < 8.5))
    np.testing.assert_array_equal(m, expect)


def test_paws_nan():
    n = 1000
    paw = np.ones((n, 2))
    assert qc.check_paws_nan({"paw_r": paw}).outcome == "PASS"
    p15 = paw.copy()
    p15[:150] = np.nan
    assert qc.check_paws_nan({"paw_r": paw, "paw_l": p15}).outcome == "WARNING"
    p30 = paw.copy()
    p30[:300] = np.nan
    r = qc.check_paws_nan({"paw_r": p30})
    assert r.outcome == "FAIL" and r.value == pytest.approx(0.3)
    mask = np.zeros(n, bool)
    mask[500:] = True  # only frames where the paw is tracked
    assert qc.check_paws_nan({"paw_r": p30}, frame_mask=mask).outcome == "PASS"


def test_lick_rate():
    assert qc.check_lick_rate(np.linspace(0, 600, 600), 600.0).outcome == "PASS"  # 1 Hz
    r = qc.check_lick_rate(np.linspace(0, 60, 900), 60.0)  # 15 Hz
    assert r.outcome == "FAIL" and r.value == pytest.approx(15.0)
    assert qc.check_lick_rate([], 3600.0).outcome == "WARNING"
    assert qc.check_lick_rate([1.0], 0.0).outcome == "NOT_SET"
