"""Set-up aids: exposure check, saturation view, histogram, reference outline."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from acquisition.setup_aids import camera_check, live_view, outline_mask, overlay_view
from acquisition.simulator import Behaviour, MouseScene


@pytest.fixture(scope="module")
def frames():
    scene = MouseScene(Behaviour(3.0, seed=1), "left", 320, 256, seed=1)
    return scene.render(np.array([1.0, 1.1]))


def test_good_frame_passes_and_matches_its_reference(frames, tmp_path):
    res = camera_check(frames, tmp_path / "check.png", reference_outline=frames[0], title="left")
    assert res.passed, res.message
    assert 40 <= res.mean_brightness <= 200 and res.saturated_fraction < 0.005
    assert res.outline_overlap is not None and res.outline_overlap > 0.9
    png = cv2.imread(str(res.png_path))
    assert png is not None and png.shape[1] > png.shape[0]  # three panels side by side


def test_moved_camera_has_a_poor_outline_overlap(frames, tmp_path):
    shifted = np.roll(frames[0], (40, 60), axis=(0, 1))
    res = camera_check(shifted, tmp_path / "moved.png", reference_outline=frames[0])
    assert res.outline_overlap < 0.6


def test_saturated_and_dark_frames_fail_with_reasons(frames, tmp_path):
    bright = frames[0].copy()
    bright[:64, :64] = 255
    res = camera_check(bright, tmp_path / "sat.png")
    assert not res.passed and "saturated" in res.message
    assert res.saturated_fraction == pytest.approx(64 * 64 / (320 * 256), rel=0.05)
    dark = (frames[0] // 4).astype(np.uint8)
    res = camera_check(dark, tmp_path / "dark.png")
    assert not res.passed and "too dark" in res.message


def test_saturation_view_marks_pixels_red_and_outline_green():
    img = np.full((20, 30), 100, np.uint8)
    img[5, 5] = 254
    outline = np.zeros_like(img, bool)
    outline[10, :] = True
    rgb = overlay_view(img, outline)
    assert tuple(rgb[5, 5]) == (255, 0, 0) and tuple(rgb[10, 3]) == (0, 255, 0)
    assert tuple(rgb[0, 0]) == (100, 100, 100)
    assert outline_mask(outline) is not outline and outline_mask(outline).sum() == 30


def test_bad_inputs(frames, tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        camera_check(frames.astype(np.float32), tmp_path / "x.png")
    with pytest.raises(ValueError, match="reference outline is 10x10"):
        camera_check(frames[0], tmp_path / "x.png", reference_outline=np.zeros((10, 10), bool))


def test_live_view_needs_a_display(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(RuntimeError, match="DISPLAY"):
        live_view(object())
