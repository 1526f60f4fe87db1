"""Tests of the synthetic mouse (acquisition/simulator.py): truth lies on the rendered features."""

from __future__ import annotations

import numpy as np
import pytest

from acquisition.simulator import Behaviour, MouseScene, SceneTruth, simulate_trial_onsets
from pipeline.rigs import TRACKED_POINTS

W, H = 640, 512  # half resolution: features of a few pixels, fast to render


@pytest.fixture(scope="module")
def behaviour() -> Behaviour:
    return Behaviour(120.0, seed=3)


@pytest.fixture(scope="module")
def left(behaviour) -> MouseScene:
    return MouseScene(behaviour, "left", W, H, seed=1)


@pytest.fixture(scope="module")
def full(behaviour) -> MouseScene:
    """The left camera at its real size, 1280x1024."""
    return MouseScene(behaviour, "left", seed=2)


def _pix(frame: np.ndarray, xy: np.ndarray) -> float:
    x, y = (int(round(v)) for v in xy)
    return float(frame[y, x])


def _lick_times(beh: Behaviour, n: int) -> np.ndarray:
    """Middle of the first ``n`` licks (tongue far out)."""
    return beh.lick_intervals_s[:n].mean(axis=1)


def _open_times(beh: Behaviour, n: int) -> np.ndarray:
    """``n`` times with the eye open, spread over the session."""
    t = np.linspace(2.0, beh.duration_s - 2.0, 4 * n)
    return t[~beh.blinking(t)][:n]


# -- behaviour -----------------------------------------------------------------------------


def test_lick_timing_is_mouse_like():
    beh = Behaviour(600.0, seed=7)
    licks = beh.lick_intervals_s
    assert len(licks) > 100
    durations = licks[:, 1] - licks[:, 0]
    assert durations.min() >= 0.05 - 1e-12 and durations.max() <= 0.10 + 1e-12
    starts = licks[:, 0]
    ili = np.diff(starts)
    within_bout = ili[ili < 0.2]
    assert len(within_bout) > 50
    assert within_bout.min() >= 0.12 and within_bout.max() <= 0.15
    assert np.all(licks[1:, 0] >= licks[:-1, 1])  # disjoint, sorted
    # bouts start after trial onsets: most licks fall 0.4-3 s after the latest onset
    onsets = beh.trial_onsets_s
    j = np.searchsorted(onsets, starts, side="right") - 1
    since = starts - onsets[np.clip(j, 0, None)]
    assert np.mean((j >= 0) & (since >= 0.4) & (since < 3.0)) > 0.9


def test_behaviour_is_deterministic_from_seed():
    a, b, c = Behaviour(60.0, seed=5), Behaviour(60.0, seed=5), Behaviour(60.0, seed=6)
    t = np.linspace(0, 60, 999)
    np.testing.assert_array_equal(a.lick_intervals_s, b.lick_intervals_s)
    np.testing.assert_array_equal(a.blink_intervals_s, b.blink_intervals_s)
    np.testing.assert_array_equal(a.pupil_diameter_mm(t), b.pupil_diameter_mm(t))
    np.testing.assert_array_equal(a.paw_pose(t, "left"), b.paw_pose(t, "left"))
    assert not np.array_equal(a.lick_intervals_s, c.lick_intervals_s)
    assert not np.allclose(a.pupil_diameter_mm(t), c.pupil_diameter_mm(t))


def test_trial_onsets_shared_with_daq_seed():
    beh = Behaviour(200.0, seed=11)
    np.testing.assert_array_equal(beh.trial_onsets_s, simulate_trial_onsets(200.0, 11))
    assert np.all(np.diff(beh.trial_onsets_s) >= 3.0)


def test_pupil_diameter_range_at_full_resolution(full, behaviour):
    tr = full.truth(np.arange(0, behaviour.duration_s, 0.05))
    d = tr.pupil_diameter_px[np.isfinite(tr.pupil_diameter_px)]
    assert 15.0 <= d.min() and d.max() <= 40.0
    assert d.max() - d.min() > 10.0  # it really changes
    np.testing.assert_array_equal(np.isnan(tr.pupil_diameter_px), tr.blinking)


@pytest.mark.parametrize("kwargs", [dict(duration_s=0), dict(duration_s=10, lick_rate_hz=0),
                                    dict(duration_s=10, lick_rate_hz=12.0),
                                    dict(duration_s=10, blink_rate_hz=-1)])  # fmt: skip
def test_behaviour_rejects_bad_input(kwargs):
    with pytest.raises(ValueError):
        Behaviour(**kwargs)


# -- truth structure -----------------------------------------------------------------------


def test_truth_has_every_point_and_hides_the_other_side(left, behaviour):
    tr = left.truth(_open_times(behaviour, 5))
    assert isinstance(tr, SceneTruth)
    assert set(tr.points) == set(TRACKED_POINTS)
    for name, xy in tr.points.items():
        assert xy.shape == (5, 2)
        if name.startswith("tongue_end"):
            np.testing.assert_array_equal(np.isfinite(xy).all(axis=1), tr.tongue_out)
        elif name in left.visible_points:
            assert np.isfinite(xy).all(), name
        else:
            assert np.isnan(xy).all(), name
    assert "pupil_top_l" in left.visible_points and "pupil_top_r" not in left.visible_points
    assert "chin_l" in left.visible_points


def test_hidden_points_are_nan(left, behaviour):
    blink = behaviour.blink_intervals_s[:3].mean(axis=1)
    tongue_in = np.array([t for t in np.linspace(1, 100, 300) if not behaviour.licking([t])[0]][:5])
    tr = left.truth(np.concatenate([blink, tongue_in]))
    assert tr.blinking[:3].all() and not tr.tongue_out[3:].any()
    for p in ("top", "right", "bottom", "left"):
        assert np.isnan(tr.points[f"pupil_{p}_l"][:3]).all()
    assert np.isnan(tr.pupil_diameter_px[:3]).all()
    assert np.isnan(tr.points["tongue_end_l"][3:]).all()
    assert np.isnan(tr.points["tongue_end_r"][3:]).all()
    assert np.isfinite(tr.points["tube_top"]).all()  # static points stay visible


def test_body_camera_has_no_tracked_points(behaviour):
    scene = MouseScene(behaviour, "body", 320, 256)
    tr = scene.truth(np.array([1.0, 2.0]))
    assert all(np.isnan(v).all() for v in tr.points.values())
    assert np.isfinite(tr.extra_points["tail_start"]).all()
    frames = scene.render(np.array([1.0, 2.0]))
    assert frames.shape == (2, 256, 320) and frames.dtype == np.uint8


def test_geometry_scales_with_image_size(full, behaviour):
    t = _open_times(behaviour, 4)
    big = full.truth(t)
    small = MouseScene(behaviour, "left", 320, 256, seed=2).truth(t)
    for name in ("pupil_top_l", "tube_top", "pinky_r", "nostril_edge_low", "chin_l"):
        np.testing.assert_allclose(
            small.points[name], (big.points[name] + 0.5) * 0.25 - 0.5, atol=1e-9
        )
    np.testing.assert_allclose(small.pupil_diameter_px, big.pupil_diameter_px * 0.25)


# -- rendering -----------------------------------------------------------------------------


def test_render_is_deterministic_from_seed(behaviour):
    t = np.array([3.0, 3.5])
    a = MouseScene(behaviour, "left", 320, 256, seed=4).render(t)
    b = MouseScene(behaviour, "left", 320, 256, seed=4).render(t)
    c = MouseScene(behaviour, "left", 320, 256, seed=5).render(t)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a[0], a[1])  # things move between frames


def test_pupil_points_lie_on_the_dark_discs_edge(left, behaviour):
    t = _open_times(behaviour, 6)
    frames, tr = left.render(t), left.truth(t)
    for i in range(len(t)):
        c = tr.extra_points["pupil_center"][i]
        for p in ("top", "right", "bottom", "left"):
            xy = tr.points[f"pupil_{p}_l"][i]
            u = (xy - c) / np.hypot(*(xy - c))
            assert _pix(frames[i], xy - 2.0 * u) < 60, (i, p)  # dark inside
            assert _pix(frames[i], xy + 2.0 * u) > 90, (i, p)  # bright iris just outside


def test_rendered_pupil_diameter_matches_truth(left, behaviour):
    t = _open_times(behaviour, 6)
    frames, tr = left.render(t), left.truth(t)
    ys, xs = np.mgrid[0:H, 0:W]
    for i in range(len(t)):
        cx, cy = tr.extra_points["pupil_center"][i]
        d = tr.pupil_diameter_px[i]
        near = np.hypot(xs - cx, ys - cy) < d / 2 + 2.5  # excludes the dark eye rim
        area = np.count_nonzero(near & (frames[i] < 85))
        assert 2 * np.sqrt(area / np.pi) == pytest.approx(d, abs=0.6)


def test_blink_closes_the_eye(left, behaviour):
    t = behaviour.blink_intervals_s[0].mean()
    frame = left.render(np.array([t]))[0]
    st_open = left.truth(np.array([t - 1e-3 - (t - behaviour.blink_intervals_s[0, 0])]))
    c = st_open.extra_points["pupil_center"][0]
    assert _pix(frame, c) > 70  # lid (fur) where the pupil was


def test_tongue_tip_is_tongue_coloured_when_out(left, behaviour):
    t_out = _lick_times(behaviour, 5)
    t_in = np.array([lick[0] - 0.01 for lick in behaviour.lick_intervals_s[:5]])
    assert not behaviour.licking(t_in).any()
    frames = left.render(np.concatenate([t_out, t_in]))
    tr = left.truth(np.concatenate([t_out, t_in]))
    assert tr.tongue_out[:5].all() and not tr.tongue_out[5:].any()
    for i in range(5):
        upper, lower = tr.points["tongue_end_l"][i], tr.points["tongue_end_r"][i]
        tip = tr.extra_points["tongue_tip"][i]
        mid = (upper + lower) / 2  # on the tongue's axis, inside the tip
        for xy in (upper, lower):
            inward = (mid - xy) / np.hypot(*(mid - xy))
            assert _pix(frames[i], xy + 1.5 * inward) > 150  # tongue-coloured
        axis = (tip - mid) / np.hypot(*(tip - mid))
        assert _pix(frames[i], tip + 2.5 * axis) < 150 or _touches_spout(tr, tip + 2.5 * axis)
        body = mid - 6.0 * axis  # further back on the tongue
        assert _pix(frames[i], body) > 150
        assert _pix(frames[5 + i], body) < 110  # tongue in: background there
    assert np.all(tr.points["tongue_end_l"][:5, 1] < tr.points["tongue_end_r"][:5, 1])
    tube_x = min(tr.points["tube_top"][0, 0], tr.points["tube_bottom"][0, 0])
    assert np.all(tr.extra_points["tongue_tip"][:5, 0] < tube_x)  # reaches towards the spout


def _touches_spout(tr: SceneTruth, xy: np.ndarray) -> bool:
    """True if ``xy`` is within the spout's width of its axis (the tongue touches it)."""
    top, bottom = tr.points["tube_top"][0], tr.points["tube_bottom"][0]
    u = (bottom - top) / np.hypot(*(bottom - top))
    d = xy - top
    return abs(d[0] * u[1] - d[1] * u[0]) < 6.0


def test_tube_points_at_the_spouts_ends(left):
    frame = left.render(np.array([0.2]))[0]
    tr = left.truth(np.array([0.2]))
    top, bottom = tr.points["tube_top"][0], tr.points["tube_bottom"][0]
    axis = (bottom - top) / np.hypot(*(bottom - top))
    assert _pix(frame, top + 2 * axis) > 180 and _pix(frame, bottom - 2 * axis) > 180
    assert _pix(frame, top - 2.5 * axis) < 130 and _pix(frame, bottom + 2.5 * axis) < 130


def test_finger_points_lie_on_the_paws(left, behaviour):
    t = np.linspace(1, 60, 6)
    frames, tr = left.render(t), left.truth(t)
    for side in ("l", "r"):
        for finger in ("pinky", "ring_finger", "middle_finger", "pointer_finger"):
            xy = tr.points[f"{finger}_{side}"]
            vals = [_pix(frames[i], xy[i]) for i in range(len(t))]
            assert min(vals) > 125, (finger, side, vals)
    # paws move
    assert np.ptp(tr.points["pinky_l"][:, 0]) > 3


def test_nostril_edges_bound_the_dark_nostril(full):
    t = np.linspace(0.3, 1.0, 4)  # full resolution: the nostril is 5-11 px high
    frames, tr = full.render(t), full.truth(t)
    hi, lo = tr.points["nostril_edge_high"], tr.points["nostril_edge_low"]
    assert np.all(hi[:, 1] < lo[:, 1])
    assert np.ptp(lo[:, 1] - hi[:, 1]) > 1.0  # it sniffs
    for i in range(len(t)):
        u = (lo[i] - hi[i]) / np.hypot(*(lo[i] - hi[i]))
        assert _pix(frames[i], hi[i] + 1.5 * u) < 60 and _pix(frames[i], lo[i] - 1.5 * u) < 60
        assert _pix(frames[i], hi[i] - 2.0 * u) > 65 and _pix(frames[i], lo[i] + 2.0 * u) > 65


def test_chin_point_on_the_chins_lower_outline(left, behaviour):
    t = np.concatenate([_lick_times(behaviour, 2), [0.2]])
    frames, tr = left.render(t), left.truth(t)
    chin = tr.points["chin_l"]
    assert chin[0, 1] > chin[2, 1] + 1.0  # the jaw drops while licking
    for i in range(len(t)):
        x, y = (int(round(v)) for v in chin[i])
        above = frames[i, y - 4 : y - 1, x - 3 : x + 4].mean()
        below = frames[i, y + 2 : y + 5, x - 3 : x + 4].mean()
        assert above - below > 30


def test_right_camera_is_the_other_side(behaviour):
    scene = MouseScene(behaviour, "right", 320, 256, seed=1)
    t = _open_times(behaviour, 3)
    frames, tr = scene.render(t), scene.truth(t)
    assert "pupil_top_r" in scene.visible_points and "pupil_top_l" not in scene.visible_points
    assert np.isnan(tr.points["chin_l"]).all()
    left = MouseScene(behaviour, "left", 320, 256, seed=1).truth(t)
    # mirrored: the spout is on the left of the image, in front of the mouse
    assert np.all(tr.points["tube_top"][:, 0] < 160) and np.all(left.points["tube_top"][:, 0] > 160)
    assert np.all(tr.points["tube_top"][:, 0] < tr.extra_points["nose_tip"][:, 0])
    for i in range(3):
        c = tr.extra_points["pupil_center"][i]
        assert _pix(frames[i], c) < 60
        xy = tr.points["pupil_left_r"][i]
        assert xy[0] < c[0]
        assert _pix(frames[i], xy - np.array([1.5, 0])) > 90


def test_full_resolution_frame(full, behaviour):
    scene = full
    t = _open_times(behaviour, 1)
    frame = scene.render(t)
    assert frame.shape == (1, 1024, 1280) and frame.dtype == np.uint8
    tr = scene.truth(t)
    c = tr.extra_points["pupil_center"][0]
    for p in ("top", "right", "bottom", "left"):
        xy = tr.points[f"pupil_{p}_l"][0]
        u = (xy - c) / np.hypot(*(xy - c))
        assert _pix(frame[0], xy - 2.5 * u) < 60 and _pix(frame[0], xy + 2.5 * u) > 90
    assert 40 < frame.mean() < 200  # IBL camera QC brightness range


def test_scene_rejects_bad_input(behaviour):
    with pytest.raises(ValueError, match="label"):
        MouseScene(behaviour, "top", 320, 256)
    with pytest.raises(ValueError, match="at least"):
        MouseScene(behaviour, "left", 10, 10)
    scene = MouseScene(behaviour, "left", 320, 256)
    with pytest.raises(ValueError, match="1 of 2 times"):
        scene.truth(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="shape"):
        scene.render(np.zeros(2), out=np.zeros((1, 256, 320), np.uint8))


def test_short_session_without_trials():
    """Sessions shorter than the first trial onset have no bouts but still simulate."""
    from acquisition.simulator import Behaviour

    b = Behaviour(1.5, seed=3)
    assert len(b.trial_onsets_s) == 0
    assert b.lick_intervals_s.shape[1] == 2
