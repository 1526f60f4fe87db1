"""Camera set-up aids (DESIGN.md section 2): saturation view, histogram, reference outline.

Focus and aperture are set by hand while looking at a *saturation view* (saturated pixels in
red over the grey image) and the *intensity histogram*; the camera is positioned by
matching the live image to an *outline of a reference frame* (its edges, e.g. from the
simulator or from a good session of the same rig) drawn over it.

:func:`camera_check` scores a frame (or the mean of several) against a brightness range and
a saturation limit and writes a PNG with the three views; :func:`live_view` shows the same
overlay in a window while grabbing, and refuses to run without a display (``$DISPLAY``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "CheckResult",
    "camera_check",
    "exposure_verdict",
    "has_display",
    "live_panel",
    "live_view",
    "outline_mask",
    "overlay_view",
]

#: Grey level at or above which a pixel counts as saturated.
SATURATION_LEVEL = 254


@dataclass(frozen=True)
class CheckResult:
    """Outcome of :func:`camera_check`.

    Attributes
    ----------
    passed : bool
        Mean brightness within the range and saturated fraction at most the limit.
    mean_brightness : float
        Mean grey level (0-255) over all pixels of all frames checked.
    saturated_fraction : float
        Fraction of pixels at or above 254 (0-1).
    message : str
        What passed or failed, with the numbers.
    png_path : Path
        The figure written.
    outline_overlap : float or None
        Fraction of the reference outline's pixels that lie within 2 pixels of an edge of
        the live image (1 = outlines match), None without a reference.
    """

    passed: bool
    mean_brightness: float
    saturated_fraction: float
    message: str
    png_path: Path
    outline_overlap: float | None = None


def has_display() -> bool:
    """True when a graphical display is available (``$DISPLAY`` or ``$WAYLAND_DISPLAY`` set)."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _as_frames(frames: np.ndarray) -> np.ndarray:
    arr = np.asarray(frames)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[0] == 0 or arr.dtype != np.uint8:
        raise ValueError(
            f"expected a (height, width) or (n, height, width) uint8 frame array, got "
            f"{arr.dtype} {arr.shape}"
        )
    return arr


def outline_mask(reference: np.ndarray, *, low: int = 50, high: int = 150) -> np.ndarray:
    """Edges of a reference frame as a ``(height, width)`` bool mask (Canny on a blurred frame).

    A bool array is taken as an outline already and returned as a copy.
    """
    import cv2

    ref = np.asarray(reference)
    if ref.dtype == bool:
        return ref.copy()
    if ref.ndim != 2 or ref.dtype != np.uint8:
        raise ValueError(
            f"reference must be a (height, width) uint8 frame or bool mask, got {ref.dtype} {ref.shape}"
        )
    blurred = cv2.GaussianBlur(ref, (5, 5), 1.5)
    return cv2.Canny(blurred, low, high) > 0


def overlay_view(image: np.ndarray, outline: np.ndarray | None = None) -> np.ndarray:
    """RGB ``(height, width, 3)`` uint8 view: grey image, saturated pixels red, outline green."""
    img = np.asarray(image)
    if img.ndim != 2 or img.dtype != np.uint8:
        raise ValueError(f"image must be (height, width) uint8, got {img.dtype} {img.shape}")
    rgb = np.repeat(img[:, :, None], 3, axis=2)
    rgb[img >= SATURATION_LEVEL] = (255, 0, 0)
    if outline is not None:
        if outline.shape != img.shape:
            raise ValueError(
                f"reference outline is {outline.shape[1]}x{outline.shape[0]} pixels but the image "
                f"is {img.shape[1]}x{img.shape[0]}"
            )
        rgb[outline] = (0, 255, 0)
    return rgb


def _outline_overlap(outline: np.ndarray, image: np.ndarray) -> float | None:
    import cv2

    if not outline.any():
        return None
    live = outline_mask(image)
    near = cv2.dilate(live.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    return float(np.mean(near[outline]))


def exposure_verdict(
    frames: np.ndarray,
    brightness_range: tuple[float, float] = (40.0, 200.0),
    max_saturated_fraction: float = 0.005,
) -> tuple[bool, float, float, str]:
    """The brightness verdict of :func:`camera_check` on frames, without the figure.

    Returns
    -------
    passed : bool
    mean_brightness : float
    saturated_fraction : float
    message : str
        What passed or failed, with the numbers.

    Raises
    ------
    ValueError
        If the frames are not uint8 images or the range is empty.
    """
    arr = _as_frames(frames)
    lo, hi = brightness_range
    if not lo < hi:
        raise ValueError(
            f"brightness_range must be (low, high) with low < high, got {brightness_range}"
        )
    mean = float(arr.mean())
    saturated = float(np.mean(arr >= SATURATION_LEVEL))
    problems = []
    if mean < lo:
        problems.append(
            f"too dark: mean brightness {mean:.1f} < {lo:g} (open the aperture or raise the gain)"
        )
    elif mean > hi:
        problems.append(
            f"too bright: mean brightness {mean:.1f} > {hi:g} (close the aperture or lower the gain)"
        )
    if saturated > max_saturated_fraction:
        problems.append(
            f"{100 * saturated:.2f}% of pixels saturated (limit {100 * max_saturated_fraction:.2f}%)"
        )
    passed = not problems
    if passed:
        message = (
            f"ok: mean brightness {mean:.1f} in [{lo:g}, {hi:g}], {100 * saturated:.2f}% saturated"
        )
    else:
        message = "; ".join(problems)
    return passed, mean, saturated, message


def live_panel(
    image: np.ndarray,
    outline: np.ndarray | None = None,
    *,
    brightness_range: tuple[float, float] = (40.0, 200.0),
    max_saturated_fraction: float = 0.005,
    title: str = "",
) -> tuple[np.ndarray, bool, str]:
    """One live set-up view as an RGB image: the figure of :func:`camera_check`, fast enough
    to redraw for every streamed frame (OpenCV drawing, no Matplotlib).

    The saturation view with the reference outline (:func:`overlay_view`), beside it the
    intensity histogram (log counts, the accepted range shaded green, the mean as a line), and
    a banner with the verdict of :func:`exposure_verdict` (green PASS, red FAIL).

    Parameters
    ----------
    image : (height, width) uint8
        The live frame.
    outline : (height, width) bool, optional
        Reference outline (:func:`outline_mask`).

    Returns
    -------
    panel : (H, W, 3) uint8
        RGB picture.
    passed : bool
    message : str
    """
    import cv2

    passed, mean, saturated, message = exposure_verdict(image, brightness_range, max_saturated_fraction)
    view = overlay_view(image, outline)
    h, w = image.shape
    hist_w = max(256, w // 2)
    hist = np.full((h, hist_w, 3), 255, np.uint8)
    counts = np.log1p(np.bincount(image.ravel(), minlength=256).astype(float))
    top = counts.max() or 1.0
    x = np.linspace(0, hist_w - 1, 257)
    lo, hi = brightness_range
    hist[:, int(x[int(lo)]):int(x[int(min(hi, 255))]) + 1] = (220, 245, 220)
    for level in range(256):
        bar = int(round((h - 20) * counts[level] / top))
        if bar:
            hist[h - bar:, int(x[level]):max(int(x[level + 1]), int(x[level]) + 1)] = (80, 80, 80)
    mx = int(x[int(np.clip(round(mean), 0, 255))])
    hist[:, max(mx - 1, 0):mx + 1] = (40, 90, 200) if passed else (200, 30, 30)
    cv2.putText(hist, f"mean {mean:.1f}", (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    body = np.concatenate([view, hist], axis=1)
    banner = np.full((28, body.shape[1], 3), (30, 140, 60) if passed else (190, 30, 30), np.uint8)
    text = f"{title} {'PASS' if passed else 'FAIL'}: mean {mean:.1f}, {100 * saturated:.2f}% saturated".strip()
    cv2.putText(banner, text, (6, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return np.concatenate([banner, body], axis=0), passed, message


def camera_check(
    frames: np.ndarray,
    png_path: Path | str,
    *,
    reference_outline: np.ndarray | None = None,
    brightness_range: tuple[float, float] = (40.0, 200.0),
    max_saturated_fraction: float = 0.005,
    title: str = "",
) -> CheckResult:
    """Check exposure of one frame (or several) and write the set-up figure.

    Parameters
    ----------
    frames : (height, width) or (n, height, width) uint8
        Live frame(s); the figure shows the last one, the numbers use all of them.
    png_path : path
        PNG written with three panels: saturation view (pixels >= 254 in red), intensity
        histogram (with the accepted range shaded), and the reference outline (green) over
        the live image.
    reference_outline : (height, width) uint8 frame or bool mask, optional
        A reference frame (its edges are drawn) or a ready outline mask.
    brightness_range : (float, float)
        Accepted mean grey level, inclusive.
    max_saturated_fraction : float
        Largest accepted fraction of saturated pixels.
    title : str
        Figure title (e.g. the camera label).

    Returns
    -------
    CheckResult

    Raises
    ------
    ValueError
        If the frames are not uint8 images, the range is empty, or the reference's size
        differs from the frames'.
    """
    arr = _as_frames(frames)
    lo, hi = brightness_range
    live = arr[-1]
    outline = None if reference_outline is None else outline_mask(reference_outline)
    overlap = None if outline is None else _outline_overlap(outline, live)
    passed, mean, saturated, message = exposure_verdict(arr, brightness_range, max_saturated_fraction)
    if overlap is not None:
        message += f"; reference outline overlap {100 * overlap:.0f}%"

    png_path = Path(png_path)
    _write_figure(png_path, live, arr, outline, (lo, hi), mean, saturated, passed, title)
    return CheckResult(passed, mean, saturated, message, png_path, overlap)


def _write_figure(
    path: Path,
    live: np.ndarray,
    frames: np.ndarray,
    outline: np.ndarray | None,
    brightness_range: tuple[float, float],
    mean: float,
    saturated: float,
    passed: bool,
    title: str,
) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    n_panels = 3 if outline is not None else 2
    fig = Figure(figsize=(5 * n_panels, 4.2), dpi=100)
    axes = fig.subplots(1, n_panels)
    axes[0].imshow(overlay_view(live))
    axes[0].set_title(f"saturation view ({100 * saturated:.2f}% >= {SATURATION_LEVEL})")
    axes[0].axis("off")
    counts = np.bincount(frames.ravel(), minlength=256)
    axes[1].bar(np.arange(256), counts, width=1.0, color="0.3")
    axes[1].axvspan(*brightness_range, color="tab:green", alpha=0.15, label="accepted mean")
    axes[1].axvline(mean, color="tab:blue" if passed else "tab:red", label=f"mean {mean:.1f}")
    axes[1].set_yscale("log")
    axes[1].set_xlim(-0.5, 255.5)
    axes[1].set_xlabel("grey level")
    axes[1].set_ylabel("pixels")
    axes[1].set_title("intensity histogram")
    axes[1].legend(loc="upper right", fontsize=8)
    if outline is not None:
        axes[2].imshow(overlay_view(live, outline))
        axes[2].set_title("reference outline (green)")
        axes[2].axis("off")
    fig.suptitle(f"{title} {'PASS' if passed else 'FAIL'}".strip())
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


def live_view(
    camera: Any,
    *,
    reference_outline: np.ndarray | None = None,
    window: str = "camera set-up",
    max_frames: int | None = None,
) -> None:
    """Show the saturation/outline overlay of a started camera in a window until ``q``/Esc.

    Parameters
    ----------
    camera : acquisition.cameras.Camera
        A configured and started camera.
    reference_outline : uint8 frame or bool mask, optional
        Reference outline drawn in green.
    max_frames : int, optional
        Stop after this many frames.

    Raises
    ------
    RuntimeError
        If no display is available (``$DISPLAY`` unset), e.g. on a server or in tests.
    """
    if not has_display():
        raise RuntimeError(
            "live_view needs a display ($DISPLAY is not set); use camera_check() to write a PNG"
        )
    import cv2

    outline = None if reference_outline is None else outline_mask(reference_outline)
    shown = 0
    try:
        while max_frames is None or shown < max_frames:
            frame = camera.grab(1.0)
            view = overlay_view(frame.image, outline)
            cv2.imshow(window, cv2.cvtColor(view, cv2.COLOR_RGB2BGR))
            shown += 1
            if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
                break
    finally:
        cv2.destroyWindow(window)


def reference_frame(rig_type: str, label: str, width: int, height: int) -> np.ndarray:
    """The reference rig's view for ``label``: a simulator frame at the default position (seed 0)."""
    from acquisition.simulator import Behaviour, MouseScene

    scene = MouseScene(Behaviour(10.0, seed=0), label, width, height, seed=0)
    return scene.render(np.array([0.25]))[0]


def check_camera(
    backend: str, rig_type: str, label: str, png_path: Path | str, *, n_frames: int = 10, scale: float = 1.0, seed: int = 0
) -> CheckResult:
    """Grab ``n_frames`` from a camera through its backend and run :func:`camera_check` on them.

    The reference outline is the reference rig's view (:func:`reference_frame`) at the
    camera's size, so a camera that moved shows its image off the green outline.
    """
    from acquisition.cameras import CameraConfig, open_camera
    from acquisition.session import _simulated_cameras
    from pipeline.rigs import camera_settings

    settings = camera_settings(rig_type, label)
    if backend == "simulated":
        cameras, *_ = _simulated_cameras([label], rig_type, 10.0, scale, seed, None, False)
        camera = cameras[label]
    else:
        camera = open_camera(backend, 0, label=label)
        camera.configure(CameraConfig.from_settings(settings, scale=scale))
    with camera:
        camera.start()
        frames = np.stack([camera.grab(timeout_s=2.0).image for _ in range(n_frames)])
        camera.stop()
    reference = reference_frame(rig_type, label, frames.shape[2], frames.shape[1])
    return camera_check(frames, png_path, reference_outline=reference, title=f"{rig_type} {label} camera ({backend})")
