"""pipeline.io.ibl_names: the note's names <-> IBL's ``dlc.pqt`` names, and the combined points' rule."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.io.ibl_names import IBL_POINTS, combined_sources, from_ibl, one_to_one, to_ibl
from pipeline.rigs import TRACKED_POINTS

FINGERS = ("pinky", "ring_finger", "middle_finger", "pointer_finger")


def _points(names, n=6, seed=0):
    rng = np.random.default_rng(seed)
    return {
        name: np.column_stack([rng.uniform(0, 600, (n, 2)), rng.uniform(0.95, 1.0, n)])
        for name in names
    }


def test_one_to_one_names_per_camera():
    assert one_to_one("left") == {
        "pupil_top_l": "pupil_top_r", "pupil_right_l": "pupil_right_r", "pupil_bottom_l": "pupil_bottom_r",
        "pupil_left_l": "pupil_left_r", "tube_top": "tube_top", "tube_bottom": "tube_bottom",
        "tongue_end_l": "tongue_end_l", "tongue_end_r": "tongue_end_r",
    }  # fmt: skip
    # right camera: IBL keeps the flipped view's names, ours are the real image's (left/right swap)
    assert one_to_one("right") == {
        "pupil_top_r": "pupil_top_r", "pupil_left_r": "pupil_right_r", "pupil_bottom_r": "pupil_bottom_r",
        "pupil_right_r": "pupil_left_r", "tube_top": "tube_top", "tube_bottom": "tube_bottom",
        "tongue_end_l": "tongue_end_l", "tongue_end_r": "tongue_end_r",
    }  # fmt: skip
    # paw_r is the near paw on both cameras (ibllib's DLC QC): left camera's _l fingers, right's _r
    assert combined_sources("left")["paw_r"] == tuple(f"{f}_l" for f in FINGERS)
    assert combined_sources("left")["paw_l"] == tuple(f"{f}_r" for f in FINGERS)
    assert combined_sources("right")["paw_r"] == tuple(f"{f}_r" for f in FINGERS)
    assert combined_sources("right")["paw_l"] == tuple(f"{f}_l" for f in FINGERS)
    assert combined_sources("left")["nose_tip"] == ("nostril_edge_high", "nostril_edge_low")
    assert one_to_one("body") == {} and combined_sources("body") == {}


@pytest.mark.parametrize("label", ["left", "right"])
def test_to_ibl_gives_ibls_eleven_names_in_order_and_leaves_unmapped_points_out(label):
    pts = _points(TRACKED_POINTS)
    out = to_ibl(pts, label)
    assert list(out) == list(IBL_POINTS)
    assert all(a.shape == (6, 3) and a.dtype == np.float64 for a in out.values())
    for ours, ibl in one_to_one(label).items():
        np.testing.assert_array_equal(out[ibl], pts[ours])
    # a partial pose gives the points it can: no nostril edges, no nose_tip
    partial = {k: v for k, v in pts.items() if not k.startswith("nostril")}
    assert "nose_tip" not in to_ibl(partial, label) and "paw_r" in to_ibl(partial, label)
    assert "chin_l" not in out


def test_nose_tip_is_the_midpoint_of_both_edges_with_the_smaller_likelihood():
    high = np.array([[10.0, 20.0, 0.99], [10.0, 20.0, 0.95], [np.nan, np.nan, 0.2]])
    low = np.array([[14.0, 30.0, 0.97], [14.0, 30.0, 0.3], [12.0, 28.0, 0.99]])
    nose = to_ibl({"nostril_edge_high": high, "nostril_edge_low": low}, "left")["nose_tip"]
    np.testing.assert_allclose(nose[:2, :2], [[12.0, 25.0], [12.0, 25.0]])
    np.testing.assert_allclose(nose[:, 2], [0.97, 0.3, 0.2])
    assert np.isnan(nose[2, :2]).all()  # one edge unseen: no midpoint


def test_paw_is_the_mean_of_its_confident_fingertips_with_the_largest_likelihood():
    n = 3
    fingers = {}
    for i, f in enumerate(FINGERS):
        xy = np.tile([100.0 + 10 * i, 200.0 + i], (n, 1))
        lik = np.full(n, 0.95)
        fingers[f"{f}_l"] = np.column_stack([xy, lik])
        fingers[f"{f}_r"] = np.column_stack([xy + 300, lik])
    fingers["pinky_l"][1, 2] = 0.5  # frame 1: pinky unsure -> left out of the mean
    for f in FINGERS:  # frame 2: no fingertip reaches 0.9 -> mean of all four, largest likelihood
        fingers[f"{f}_l"][2, 2] = 0.6
    fingers["ring_finger_l"][2, 2] = 0.8
    fingers["middle_finger_l"][2, :2] = np.nan  # NaN coordinates never count
    out = to_ibl(fingers, "left", likelihood_threshold=0.9)
    near = out["paw_r"]  # the left camera's near paw: the mouse's left paw, IBL's paw_r
    np.testing.assert_allclose(near[0], [115.0, 201.5, 0.95])
    np.testing.assert_allclose(near[1], [(110 + 120 + 130) / 3, (201 + 202 + 203) / 3, 0.95])
    np.testing.assert_allclose(near[2], [(100 + 110 + 130) / 3, (200 + 201 + 203) / 3, 0.8])
    np.testing.assert_allclose(out["paw_l"][0], [415.0, 501.5, 0.95])
    # the threshold is a parameter (FeatureParams' likelihood_threshold)
    np.testing.assert_allclose(
        to_ibl(fingers, "left", likelihood_threshold=0.4)["paw_r"][1, :2], [115.0, 201.5]
    )
    # on the right camera the near paw's fingertips are "_r"
    np.testing.assert_allclose(to_ibl(fingers, "right")["paw_r"][0], [415.0, 501.5, 0.95])


@pytest.mark.parametrize("label", ["left", "right"])
def test_from_ibl_inverts_the_one_to_one_points_and_keeps_ibl_only_points(label):
    ibl = _points(IBL_POINTS, seed=1)
    ours = from_ibl(ibl, label)
    assert set(ours) == set(one_to_one(label)) | {"nose_tip", "paw_l", "paw_r"}
    for o, i in one_to_one(label).items():
        np.testing.assert_array_equal(ours[o], ibl[i])
    for name in ("nose_tip", "paw_l", "paw_r"):
        np.testing.assert_array_equal(ours[name], ibl[name])
    back = to_ibl(ours, label)  # imported IBL pose exports as it came: all eleven points
    assert list(back) == list(IBL_POINTS)
    for name in IBL_POINTS:
        np.testing.assert_array_equal(back[name], ibl[name])


def test_body_camera_names_pass_through():
    pts = _points(["tail_start"])
    assert list(from_ibl(pts, "body")) == ["tail_start"] and list(to_ibl(pts, "body")) == [
        "tail_start"
    ]


def test_bad_input_is_refused_naming_the_camera_or_point():
    with pytest.raises(ValueError, match="unknown camera label 'top'; labels: left, right, body"):
        to_ibl({}, "top")
    with pytest.raises(ValueError, match="unknown camera label 'top'"):
        from_ibl({}, "top")
    with pytest.raises(ValueError, match=r"point 'tube_top': expected an \(n, 3\) array.*\(4, 2\)"):
        to_ibl({"tube_top": np.zeros((4, 2))}, "left")
    with pytest.raises(ValueError, match="point 'tube_bottom' has 3 frames, the others 4"):
        from_ibl({"tube_top": np.zeros((4, 3)), "tube_bottom": np.zeros((3, 3))}, "right")


@pytest.mark.parametrize("label", ["left", "right"])
def test_names_mean_what_ibls_do_on_the_simulated_mouse(label):
    """IBL tracks the right camera flipped and flips x back, keeping the flipped view's names.

    So on both cameras IBL's ``pupil_right_r`` is the pupil's edge on the mouse's nose side of
    the flipped (left-camera-like) view: image-right on the left camera, image-left on the right
    camera. (That ``paw_r`` is the near paw is ibllib's DLC QC's word; see the first test.)
    """
    from acquisition.simulator import Behaviour, MouseScene

    scene = MouseScene(
        Behaviour(3.0, seed=2),
        label,
        320 if label == "left" else 160,
        256 if label == "left" else 128,
        seed=2,
    )
    truth = scene.truth(np.linspace(0.2, 2.8, 40))
    pts = {
        k: np.column_stack([v, np.where(np.isnan(v[:, 0]), 0.0, 1.0)])
        for k, v in truth.points.items()
    }
    ibl = to_ibl({k: v for k, v in pts.items() if k in truth.visible_points}, label)
    seen = ~np.isnan(ibl["pupil_right_r"][:, 0]) & ~np.isnan(ibl["pupil_left_r"][:, 0])
    assert seen.sum() > 20
    right_minus_left = ibl["pupil_right_r"][seen, 0] - ibl["pupil_left_r"][seen, 0]
    assert (right_minus_left > 0).all() if label == "left" else (right_minus_left < 0).all()
    # in the flipped view (x' = width - x, as iblvideo's hflip) both cameras agree: right of left
    width = 320 if label == "left" else 160
    flipped = (width - ibl["pupil_right_r"][seen, 0]) - (width - ibl["pupil_left_r"][seen, 0])
    assert ((right_minus_left if label == "left" else flipped) > 0).all()
