"""Crop geometry, pixel mapping and single-pass crop videos (pipeline.crops)."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import crops
from pipeline.crops import (
    DEFAULT_ROI_SPECS,
    Roi,
    RoiSpec,
    camera_view,
    crop_filter_graph,
    crop_frames,
    from_full_frame,
    full_frame_roi,
    place_regions,
    roi_from_anchor,
    to_full_frame,
    write_crops,
)
from pipeline.io.ffmpeg import FFmpegError
from pipeline.io.video import read_frames, write_video

# --------------------------------------------------------------------------------------
# ROI placement


def test_default_specs_are_the_designs():
    eye, nostril, tongue, paws = (
        DEFAULT_ROI_SPECS[k] for k in ("eye", "nostril", "tongue", "paws")
    )
    assert (eye.width, eye.height, eye.dx, eye.dy, eye.anchor) == (
        100,
        100,
        -50,
        -50,
        "pupil_center",
    )
    assert (nostril.width, nostril.height, nostril.anchor) == (100, 100, "nose_tip")
    assert (tongue.width, tongue.height, tongue.anchor) == (160, 160, "tube_top")
    assert (paws.width, paws.height, paws.out_size) == (900, 750, (450, 374))
    assert eye.out_size == (100, 100)


def test_eye_roi_is_centred_on_the_anchor():
    roi = roi_from_anchor(DEFAULT_ROI_SPECS["eye"], (640.0, 500.0), 1280, 1024)
    assert roi == Roi(590, 450, 100, 100, 100, 100, False)
    # the anchor maps to the crop's centre (49.5 in pixel-centre coordinates, as 100 is even)
    np.testing.assert_allclose(from_full_frame([640.0, 500.0], roi), [50.0, 50.0])


def test_roi_is_shifted_inside_not_shrunk():
    spec = DEFAULT_ROI_SPECS["eye"]
    roi = roi_from_anchor(spec, (3.0, 1020.0), 1280, 1024)
    assert (roi.x, roi.y, roi.w, roi.h) == (0, 924, 100, 100)


def test_roi_larger_than_frame_is_shrunk_keeping_scale():
    spec = DEFAULT_ROI_SPECS["paws"]
    roi = roi_from_anchor(spec, (300.0, 200.0), 640, 700)
    assert (roi.x, roi.w, roi.h) == (0, 640, 700)
    assert roi.out_w / roi.w == pytest.approx(450 / 900, abs=0.01)
    assert roi.out_h / roi.h == pytest.approx(374 / 750, abs=0.01)
    with pytest.raises(ValueError, match="'paws'.*does not fit"):
        roi_from_anchor(spec, (300.0, 200.0), 640, 700, allow_shrink=False)


@pytest.mark.parametrize(
    "anchor, match",
    [((np.nan, 3.0), "'eye'.*finite"), ((1300.0, 10.0), "'eye'.*outside"), ((1.0,), "'eye'")],
)
def test_roi_bad_anchor_names_the_roi(anchor, match):
    with pytest.raises(ValueError, match=match):
        roi_from_anchor(DEFAULT_ROI_SPECS["eye"], anchor, 1280, 1024)


def test_mirrored_view_places_the_region_on_the_other_side():
    """Right camera: half resolution, mirrored; the region is the left one's mirror image."""
    spec = RoiSpec("t", 160, 160, -100.0, -15.0, "tube_top")  # extends 100 px towards the mouse
    scale, mirror = camera_view("right", 640)
    assert (scale, mirror) == (0.5, True)
    left = roi_from_anchor(spec, (1000.0, 500.0), 1280, 1024)
    right = roi_from_anchor(
        spec, ((1279 - 1000.0) / 2 - 0.25, 250.0 - 0.25), 640, 512, scale=scale, mirror=mirror
    )
    assert (right.w, right.h, right.out_w, right.out_h, right.mirror) == (80, 80, 160, 160, True)
    # mirrored: the region extends 50 px (100 reference px) to the right of the anchor
    ax = (1279 - 1000.0) / 2 - 0.25
    assert right.x + right.w - ax == pytest.approx(50, abs=1)
    assert ax - right.x == pytest.approx(30, abs=1)
    # a point at the same place relative to the mouse lands on the same crop pixel
    p_left = from_full_frame([1000.0 - 40.0, 500.0 + 30.0], left)
    p_right = from_full_frame(
        [(1279 - (1000.0 - 40.0)) / 2 - 0.25, (500.0 + 30.0) / 2 - 0.25], right
    )
    np.testing.assert_allclose(p_left, p_right, atol=1.0)


@settings(max_examples=300, deadline=None)
@given(
    fw=st.integers(16, 1500), fh=st.integers(16, 1200),
    w=st.integers(1, 1000), h=st.integers(1, 800),
    dx=st.floats(-1000, 1000), dy=st.floats(-1000, 1000),
    ax=st.floats(0, 1), ay=st.floats(0, 1),
    scale=st.sampled_from([0.25, 0.5, 1.0, 1.5]), mirror=st.booleans(),
)  # fmt: skip
def test_roi_always_inside_frame_and_size_kept_when_possible(
    fw, fh, w, h, dx, dy, ax, ay, scale, mirror
):
    spec = RoiSpec("r", w, h, dx, dy, "a")
    anchor = (ax * (fw - 1), ay * (fh - 1))
    roi = roi_from_anchor(spec, anchor, fw, fh, scale=scale, mirror=mirror)
    assert 0 <= roi.x and roi.x + roi.w <= fw
    assert 0 <= roi.y and roi.y + roi.h <= fh
    want_w, want_h = max(round(w * scale), 1), max(round(h * scale), 1)
    assert roi.w == min(want_w, fw) and roi.h == min(want_h, fh)
    if want_w <= fw:
        assert roi.out_w == w
    if want_h <= fh:
        assert roi.out_h == h
    assert roi.mirror == mirror


@settings(max_examples=200, deadline=None)
@given(
    x=st.integers(0, 500), y=st.integers(0, 500), w=st.integers(1, 600), h=st.integers(1, 600),
    ow=st.integers(1, 600), oh=st.integers(1, 600), mirror=st.booleans(),
    pts=st.lists(st.tuples(st.floats(-50, 700), st.floats(-50, 700)), min_size=1, max_size=5),
)  # fmt: skip
def test_to_full_frame_round_trip(x, y, w, h, ow, oh, mirror, pts):
    roi = Roi(x, y, w, h, ow, oh, mirror)
    p = np.array(pts)
    np.testing.assert_allclose(from_full_frame(to_full_frame(p, roi), roi), p, rtol=0, atol=1e-9)
    np.testing.assert_allclose(to_full_frame(from_full_frame(p, roi), roi), p, rtol=0, atol=1e-9)


def test_to_full_frame_exact_values():
    """Pixel centres: crop pixel 0 of a 2x downscale covers source pixels 10 and 11."""
    roi = Roi(10, 20, 100, 60, 50, 30)
    np.testing.assert_allclose(to_full_frame([0.0, 0.0], roi), [10.5, 20.5])
    np.testing.assert_allclose(to_full_frame([49.0, 29.0], roi), [108.5, 78.5])
    # the crop's outer edges map to the region's outer edges
    np.testing.assert_allclose(to_full_frame([-0.5, -0.5], roi), [9.5, 19.5])
    np.testing.assert_allclose(to_full_frame([49.5, 29.5], roi), [109.5, 79.5])
    mirrored = Roi(10, 20, 100, 60, 50, 30, True)
    np.testing.assert_allclose(to_full_frame([49.0, 0.0], mirrored), [10.5, 20.5])
    np.testing.assert_allclose(to_full_frame([0.0, 0.0], mirrored), [108.5, 20.5])
    same = Roi(5, 7, 40, 40, 40, 40)
    np.testing.assert_allclose(
        to_full_frame([[3.0, 4.0], [np.nan, 1.0]], same), [[8.0, 11.0], [np.nan, 8.0]]
    )


def test_to_full_frame_does_not_change_input():
    p = np.array([[1.0, 2.0]])
    to_full_frame(p, Roi(3, 4, 10, 10, 5, 5, True))
    np.testing.assert_array_equal(p, [[1.0, 2.0]])


def test_place_regions():
    anchors = {
        "pupil_center": (760.0, 420.0),
        "nose_tip": (1050.0, 620.0),
        "tube_top": (1135.0, 570.0),
    }
    rois = place_regions(anchors, "left", 1280, 1024)
    assert list(rois) == ["eye", "nostril", "tongue", "paws"]
    assert rois["eye"] == roi_from_anchor(
        DEFAULT_ROI_SPECS["eye"], anchors["pupil_center"], 1280, 1024
    )
    right = place_regions(
        {k: ((1279 - x) / 2 - 0.25, y / 2 - 0.25) for k, (x, y) in anchors.items()},
        "right",
        640,
        512,
    )
    assert all(r.mirror for r in right.values()) and right["paws"].out_w == 450
    with pytest.raises(ValueError, match="'eye' needs anchor 'pupil_center'"):
        place_regions({"nose_tip": (1.0, 1.0)}, "left", 1280, 1024)
    with pytest.raises(ValueError, match="'body'"):
        place_regions(anchors, "body", 1280, 1024)


def test_full_frame_roi():
    roi = full_frame_roi(1280, 1024, 320)
    assert (roi.x, roi.y, roi.w, roi.h, roi.out_w, roi.out_h) == (0, 0, 1280, 1024, 320, 256)


def test_default_regions_hold_their_points_on_simulated_views():
    """Every visible point of each role lies inside its region, on both cameras."""
    from acquisition.simulator import Behaviour, MouseScene
    from pipeline.pose import ROLE_BODYPARTS, camera_point_name

    beh = Behaviour(120.0, seed=5)
    lick = beh.lick_intervals_s[:20].mean(axis=1)
    times = np.sort(np.concatenate([np.linspace(0.5, 119.5, 200), lick]))
    extension = beh.tongue_extension(times)
    for label in ("left", "right"):
        for seed in (1, 2, 3):
            scene = MouseScene(beh, label, seed=seed)
            truth = scene.truth(times)
            scale, mirror = camera_view(label, scene.width)
            for role in ("eye", "nostril", "tongue", "paws"):
                spec = DEFAULT_ROI_SPECS[role]
                a = truth.extra_points.get(spec.anchor, truth.points.get(spec.anchor))
                roi = roi_from_anchor(
                    spec,
                    np.nanmean(a, axis=0),
                    scene.width,
                    scene.height,
                    scale=scale,
                    mirror=mirror,
                )
                for bp in ROLE_BODYPARTS[role]:
                    xy = from_full_frame(truth.points[camera_point_name(bp, mirror)], roi)
                    if bp.startswith("tongue"):  # the tip leaves the mouth at the lick's start
                        xy = xy[extension >= 0.1]
                    xy = xy[np.isfinite(xy).all(axis=1)]
                    assert len(xy), (label, role, bp)
                    margin = 3
                    assert (xy >= margin).all() and (xy[:, 0] < roi.out_w - margin).all(), (
                        label,
                        role,
                        bp,
                    )
                    assert (xy[:, 1] < roi.out_h - margin).all(), (label, role, bp)


# --------------------------------------------------------------------------------------
# crop videos


@pytest.fixture(scope="module")
def source_video(tmp_path_factory):
    """A short h.264 video of random smooth frames, and its decoded frames."""
    import cv2

    rng = np.random.default_rng(0)
    noise = rng.normal(0, 1, (12, 120, 160)).astype(np.float32)
    frames = np.stack([cv2.GaussianBlur(f, (0, 0), 3) for f in noise])
    frames = np.clip(128 + 60 * frames / frames.std(), 0, 255).astype(np.uint8)
    path = tmp_path_factory.mktemp("src") / "video.mp4"
    write_video(path, frames, 30.0, codec="libx264", extra=["-crf", "18"])
    return path, read_frames(path, 160, 120)


ROIS = {
    "a": Roi(3, 5, 41, 37, 41, 37),  # odd sizes and offsets
    "b": Roi(100, 60, 50, 50, 50, 50, True),  # mirrored
    "c": Roi(0, 0, 160, 120, 80, 60),  # downscaled
    "d": Roi(20, 30, 30, 30, 60, 60, True),  # upscaled and mirrored
}


def test_single_pass_crops_equal_per_roi_crops(source_video, tmp_path):
    path, decoded = source_video
    out = write_crops(path, ROIS, tmp_path, codec="ffv1")
    assert list(out) == list(ROIS)
    for name, roi in ROIS.items():
        assert out[name].name == f"video.{name}.mkv"
        got = read_frames(out[name], roi.out_w, roi.out_h)
        want = crop_frames(decoded, roi)
        assert got.shape == want.shape == (len(decoded), roi.out_h, roi.out_w)
        diff = np.abs(got.astype(int) - want.astype(int))
        if (roi.w, roi.h) == (roi.out_w, roi.out_h):
            assert diff.max() == 0, name  # pixel-equal without scaling
        else:
            assert diff.mean() < 1.5 and diff.max() <= 12, (name, diff.mean(), diff.max())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in out.values())


def test_h264_crops_are_near_equal(source_video, tmp_path):
    path, decoded = source_video
    out = write_crops(path, {"a": ROIS["a"]}, tmp_path, crf=17)
    got = read_frames(out["a"], 41, 37)
    assert out["a"].suffix == ".mp4"
    err = got.astype(float) - crop_frames(decoded, ROIS["a"])
    assert 10 * np.log10(255**2 / np.mean(err**2)) > 35  # PSNR, dB


def test_crop_maps_a_spot_back_to_its_full_frame_position(tmp_path):
    """A bright spot's centroid in every crop (scaled, mirrored) maps back to where it is."""
    yy, xx = np.mgrid[0:120, 0:160]
    cx, cy = 61.3, 47.8
    img = np.clip(20 + 220 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 4.0**2)), 0, 255)
    frames = np.repeat(img[None].astype(np.uint8), 3, axis=0)
    path = tmp_path / "spot.mkv"
    write_video(path, frames, 30.0)
    rois = {"same": Roi(30, 20, 64, 64, 64, 64), "down": Roi(20, 10, 100, 80, 50, 40, True),
            "up": Roi(45, 30, 32, 32, 96, 96, True)}  # fmt: skip
    out = write_crops(path, rois, tmp_path / "c", codec="ffv1")
    for name, roi in rois.items():
        c = read_frames(out[name], roi.out_w, roi.out_h)[0].astype(float) - 20
        c[c < 10] = 0
        ys, xs = np.mgrid[0 : roi.out_h, 0 : roi.out_w]
        centroid = np.array([(xs * c).sum(), (ys * c).sum()]) / c.sum()
        np.testing.assert_allclose(to_full_frame(centroid, roi), [cx, cy], atol=0.15, err_msg=name)


def test_write_crops_runs_one_ffmpeg_process(source_video, tmp_path, monkeypatch):
    path, _ = source_video
    calls = []
    real = subprocess.Popen

    def counting(cmd, *a, **k):
        calls.append(cmd)
        return real(cmd, *a, **k)

    monkeypatch.setattr(crops.subprocess, "Popen", counting)
    write_crops(path, ROIS, tmp_path, frame_size=(160, 120))
    assert len(calls) == 1
    assert calls[0].count("-i") == 1  # one input, decoded once
    assert calls[0].count("-map") == len(ROIS)
    graph = crop_filter_graph(ROIS)
    assert graph.count("split=4") == 1 and graph.count("crop=") == 4


def test_write_crops_errors_name_the_video(source_video, tmp_path):
    path, _ = source_video
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        write_crops(tmp_path / "missing.mp4", ROIS, tmp_path)
    with pytest.raises(ValueError, match="'big'.*video.mp4"):
        write_crops(path, {"big": Roi(100, 0, 100, 50, 100, 50)}, tmp_path)
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00" * 5000)
    with pytest.raises(FFmpegError, match="broken.mp4"):
        write_crops(bad, ROIS, tmp_path / "out", frame_size=(160, 120))
    assert list((tmp_path / "out").iterdir()) == []  # atomic: no partial files left


def test_crop_frames_rejects_bad_input():
    with pytest.raises(ValueError, match="does not fit"):
        crop_frames(np.zeros((1, 10, 10), np.uint8), Roi(5, 5, 10, 10, 10, 10))
    with pytest.raises(ValueError, match="uint8"):
        crop_frames(np.zeros((1, 10, 10), np.float32), Roi(0, 0, 5, 5, 5, 5))
