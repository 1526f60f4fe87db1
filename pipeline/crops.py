"""Crop geometry (regions of interest around anchor points) and single-pass crop videos.

The pose stage runs one specialised DeepLabCut network per region of a side camera's image
(eye, nostril, tongue, paws). Each region is placed from an anchor point found on the full
frame (:mod:`pipeline.pose`) and cut out of the compressed video; the network's points are
then mapped back to full-frame pixels with :func:`to_full_frame`.

Geometry is plain data:

- :class:`RoiSpec` says how big a region is and where it sits relative to its anchor, in
  *reference pixels*: pixels of the left camera at full resolution (1280x1024), seen from
  the left side (mouse facing right).
- :class:`Roi` is one region placed in one video: source rectangle in that video's pixels,
  output size, and whether the crop is mirrored.

Cameras other than the full-resolution left one are handled by two view parameters of
:func:`roi_from_anchor`: ``scale`` (the camera's pixels per reference pixel, e.g. 0.5 for
IBL's 640x512 right camera) and ``mirror`` (the right camera sees the mouse from the
other side, facing left). A region's output size does not depend on the view, so the right
camera's crops are flipped and upsampled to look like the left camera's, and one network
per region serves both cameras (IBL's ``iblvideo`` flips and upsamples the right video for
the same reason).

Pixel convention (the same as :mod:`acquisition.simulator`, OpenCV and ffmpeg's ``scale``
filter): the centre of pixel ``(i, j)`` is at ``x = i, y = j``; a pixel covers ``[i - 0.5,
i + 0.5)``. A crop of ``w`` source pixels starting at column ``x`` covers the continuous
interval ``[x - 0.5, x + w - 0.5)``, which is stretched onto the ``out_w`` output pixels'
``[-0.5, out_w - 0.5)``, so

    x_full = x + (x_crop + 0.5) * w / out_w - 0.5                  (not mirrored)
    x_full = x + (out_w - 0.5 - x_crop) * w / out_w - 0.5          (mirrored)
    y_full = y + (y_crop + 0.5) * h / out_h - 0.5

and :func:`from_full_frame` is the exact inverse.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import subprocess
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.io.ffmpeg import FFmpegError, ffmpeg_exe

__all__ = [
    "DEFAULT_ROI_SPECS",
    "REFERENCE_WIDTH",
    "Roi",
    "RoiSpec",
    "camera_view",
    "crop_filter_graph",
    "crop_frames",
    "from_full_frame",
    "full_frame_roi",
    "place_regions",
    "roi_from_anchor",
    "to_full_frame",
    "write_crops",
]

#: Width (pixels) of the reference view in which :class:`RoiSpec` sizes and offsets are
#: given: IBL's left camera at full resolution (1280x1024).
REFERENCE_WIDTH = 1280


@dataclass(frozen=True)
class RoiSpec:
    """How a region of interest is placed relative to its anchor point (plain data).

    Attributes
    ----------
    name : str
        Region name (``"eye"``, ``"nostril"``, ``"tongue"``, ``"paws"``).
    width, height : int
        Size of the region, reference pixels (left camera at 1280x1024).
    dx, dy : float
        Offset of the region's top-left pixel from the anchor point, reference pixels, in
        the left camera's orientation (``x`` towards the mouse's nose, ``y`` down). A region
        centred on its anchor has ``dx = -width / 2``, ``dy = -height / 2``.
    anchor : str
        Name of the anchor point (see :data:`pipeline.pose.ANCHOR_BODYPARTS`).
    out_width, out_height : int or None
        Size of the crop video, pixels (None: ``width`` / ``height``). Smaller than the
        region means the crop is downscaled (paws: 900x750 to 450x374).
    """

    name: str
    width: int
    height: int
    dx: float
    dy: float
    anchor: str
    out_width: int | None = None
    out_height: int | None = None

    def __post_init__(self) -> None:
        for field_name in ("width", "height", "out_width", "out_height"):
            v = getattr(self, field_name)
            if v is not None and (int(v) != v or v < 1):
                raise ValueError(
                    f"RoiSpec {self.name!r}: {field_name} must be a positive integer, got {v!r}"
                )
        if not (math.isfinite(self.dx) and math.isfinite(self.dy)):
            raise ValueError(
                f"RoiSpec {self.name!r}: dx, dy must be finite, got {self.dx}, {self.dy}"
            )

    @property
    def out_size(self) -> tuple[int, int]:
        """``(out_width, out_height)`` with the defaults filled in, pixels."""
        return (int(self.out_width or self.width), int(self.out_height or self.height))

    def to_dict(self) -> dict:
        """Plain dict of the fields (for a lookup table or a JSON file)."""
        return {
            "name": self.name, "width": int(self.width), "height": int(self.height),
            "dx": float(self.dx), "dy": float(self.dy), "anchor": self.anchor,
            "out_width": self.out_width, "out_height": self.out_height,
        }  # fmt: skip


#: The design's regions (DESIGN.md section 3), in reference pixels:
#:
#: - ``eye``: 100x100 centred on the pupil centre.
#: - ``nostril``: 100x100 around the nose tip; the nostril sits about 25 px behind and 10 px
#:   above the tip, so the region is centred 25 px behind the tip.
#: - ``tongue``: 160x160 from the top of the spout (``tube_top``): from 145 px towards the
#:   mouse to 15 px beyond the spout, from 15 px above the spout's top: the whole spout
#:   (130 px long) and the tongue tip from about 8% of its extension (its corners lie 156 to
#:   19 px behind the spout's top during a lick). IBL places its 160x160 region at (x - 60,
#:   y - 100) from the mean of tube top and bottom, for its own rig's geometry.
#: - ``paws``: 900x750, downscaled to 450x374, placed from the nose tip (830 px behind it,
#:   350 px above it): both fore paws and the top of the wheel, wherever the mouse sits.
DEFAULT_ROI_SPECS: dict[str, RoiSpec] = {
    "eye": RoiSpec("eye", 100, 100, -50.0, -50.0, "pupil_center"),
    "nostril": RoiSpec("nostril", 100, 100, -75.0, -50.0, "nose_tip"),
    "tongue": RoiSpec("tongue", 160, 160, -145.0, -15.0, "tube_top"),
    "paws": RoiSpec("paws", 900, 750, -830.0, -350.0, "nose_tip", 450, 374),
}


@dataclass(frozen=True)
class Roi:
    """One region placed in one video.

    Attributes
    ----------
    x, y : int
        Column and row of the region's top-left pixel in the video, pixels.
    w, h : int
        Size of the source rectangle, pixels of the video (``x + w <= width``).
    out_w, out_h : int
        Size of the crop video, pixels.
    mirror : bool
        The crop is flipped left-right after scaling (right camera).
    """

    x: int
    y: int
    w: int
    h: int
    out_w: int
    out_h: int
    mirror: bool = False

    def __post_init__(self) -> None:
        for name in ("x", "y", "w", "h", "out_w", "out_h"):
            v = getattr(self, name)
            if int(v) != v:
                raise ValueError(f"Roi.{name} must be an integer, got {v!r}")
            object.__setattr__(self, name, int(v))
        if self.x < 0 or self.y < 0 or min(self.w, self.h, self.out_w, self.out_h) < 1:
            raise ValueError(f"invalid Roi {self}: x, y must be >= 0 and sizes >= 1")
        object.__setattr__(self, "mirror", bool(self.mirror))

    @property
    def scale(self) -> tuple[float, float]:
        """Output pixels per source pixel, ``(out_w / w, out_h / h)``."""
        return self.out_w / self.w, self.out_h / self.h

    def to_dict(self) -> dict:
        """Plain dict of the fields (for a table row)."""
        return {"x": self.x, "y": self.y, "w": self.w, "h": self.h, "out_w": self.out_w,
                "out_h": self.out_h, "mirror": self.mirror}  # fmt: skip


def camera_view(label: str, width: int) -> tuple[float, bool]:
    """View parameters ``(scale, mirror)`` of a side camera for :func:`roi_from_anchor`.

    Parameters
    ----------
    label : str
        ``"left"`` or ``"right"`` (the right camera sees the mouse mirrored).
    width : int
        The video's width, pixels; ``scale = width / 1280``.

    Raises
    ------
    ValueError
        For another label (the body camera has no regions).
    """
    if label not in ("left", "right"):
        raise ValueError(f"no crop regions for camera {label!r}; only 'left' and 'right' have them")
    if width < 1:
        raise ValueError(f"width must be >= 1 pixel, got {width}")
    return width / REFERENCE_WIDTH, label == "right"


def roi_from_anchor(
    spec: RoiSpec,
    anchor_xy,
    frame_w: int,
    frame_h: int,
    *,
    scale: float = 1.0,
    mirror: bool = False,
    allow_shrink: bool = True,
) -> Roi:
    """Place region ``spec`` at an anchor point, clamped to the frame.

    Parameters
    ----------
    spec : RoiSpec
        The region (sizes and offset in reference pixels).
    anchor_xy : (2,) array-like
        Anchor point ``(x, y)`` in the video's full-frame pixels.
    frame_w, frame_h : int
        The video's frame size, pixels.
    scale : float
        Video pixels per reference pixel (:func:`camera_view`): the source rectangle is
        ``round(scale * width)`` by ``round(scale * height)`` pixels; the output size stays
        ``spec.out_size``.
    mirror : bool
        The video shows the mouse mirrored (right camera): the offset's ``x`` is negated
        and the crop is flipped, so it looks like a left-camera crop.
    allow_shrink : bool
        If a region is larger than the frame it is shrunk to the frame (its output size
        shrinks in proportion, keeping the scale); with False that is an error.

    Returns
    -------
    Roi
        A region entirely inside the frame. When the placed region sticks out of the frame
        it is shifted inside (its size kept); it is shrunk only when it is larger than the
        frame.

    Raises
    ------
    ValueError
        Naming the region: non-finite anchor, anchor outside the frame, bad frame size or
        scale, or a region larger than the frame with ``allow_shrink=False``.
    """
    name = spec.name
    if int(frame_w) != frame_w or int(frame_h) != frame_h or frame_w < 1 or frame_h < 1:
        raise ValueError(
            f"ROI {name!r}: frame size must be positive integers, got {frame_w}x{frame_h}"
        )
    frame_w, frame_h = int(frame_w), int(frame_h)
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"ROI {name!r}: scale must be > 0, got {scale}")
    a = np.asarray(anchor_xy, dtype=np.float64).ravel()
    if a.shape != (2,) or not np.isfinite(a).all():
        raise ValueError(
            f"ROI {name!r}: anchor {spec.anchor!r} must be a finite (x, y), got {anchor_xy!r}"
        )
    ax, ay = float(a[0]), float(a[1])
    if not (-0.5 <= ax < frame_w - 0.5 and -0.5 <= ay < frame_h - 0.5):
        raise ValueError(
            f"ROI {name!r}: anchor {spec.anchor!r} at ({ax:.1f}, {ay:.1f}) is outside the "
            f"{frame_w}x{frame_h} frame"
        )
    out_w, out_h = spec.out_size
    w = max(int(round(spec.width * scale)), 1)
    h = max(int(round(spec.height * scale)), 1)
    if w > frame_w or h > frame_h:
        if not allow_shrink:
            raise ValueError(
                f"ROI {name!r} of {w}x{h} px does not fit in the {frame_w}x{frame_h} frame"
            )
        if w > frame_w:
            out_w = max(int(round(out_w * frame_w / w)), 1)
            w = frame_w
        if h > frame_h:
            out_h = max(int(round(out_h * frame_h / h)), 1)
            h = frame_h
    # top-left pixel in the view's (unmirrored) orientation
    if mirror:
        u0 = int(math.floor((frame_w - 1 - ax) + spec.dx * scale + 0.5))
        x0 = frame_w - w - u0
    else:
        x0 = int(math.floor(ax + spec.dx * scale + 0.5))
    y0 = int(math.floor(ay + spec.dy * scale + 0.5))
    x0 = min(max(x0, 0), frame_w - w)
    y0 = min(max(y0, 0), frame_h - h)
    return Roi(x0, y0, w, h, out_w, out_h, bool(mirror))


def place_regions(
    anchors: Mapping[str, object],
    label: str,
    frame_w: int,
    frame_h: int,
    specs: Mapping[str, RoiSpec] | None = None,
) -> dict[str, Roi]:
    """Place every region of a side camera from its anchor points (the ``CropROI`` step).

    Parameters
    ----------
    anchors : mapping of str to (2,) array-like
        Anchor name -> ``(x, y)`` full-frame pixels (e.g. ``AnchorResult.points``).
    label : str
        ``"left"`` or ``"right"`` (:func:`camera_view`).
    frame_w, frame_h : int
        The video's frame size, pixels.
    specs : mapping of str to RoiSpec, optional
        Default :data:`DEFAULT_ROI_SPECS`.

    Returns
    -------
    dict of str to Roi
        Region name -> region, in the order of ``specs``.

    Raises
    ------
    ValueError
        If an anchor a region needs is missing (naming both), or from :func:`roi_from_anchor`.
    """
    specs = DEFAULT_ROI_SPECS if specs is None else specs
    scale, mirror = camera_view(label, frame_w)
    out = {}
    for name, spec in specs.items():
        if spec.anchor not in anchors:
            raise ValueError(
                f"ROI {name!r} needs anchor {spec.anchor!r}; anchors given: {sorted(anchors)}"
            )
        out[name] = roi_from_anchor(
            spec, anchors[spec.anchor], frame_w, frame_h, scale=scale, mirror=mirror
        )
    return out


def full_frame_roi(frame_w: int, frame_h: int, out_w: int, *, mirror: bool = False) -> Roi:
    """The whole frame scaled to ``out_w`` pixels wide (aspect kept), for the anchor network.

    ``out_h = round(frame_h * out_w / frame_w)``.
    """
    if min(frame_w, frame_h, out_w) < 1:
        raise ValueError(f"sizes must be >= 1, got frame {frame_w}x{frame_h}, out_w {out_w}")
    out_h = max(int(round(frame_h * out_w / frame_w)), 1)
    return Roi(0, 0, int(frame_w), int(frame_h), int(out_w), out_h, bool(mirror))


def to_full_frame(xy_crop, roi: Roi) -> np.ndarray:
    """Map points from crop pixels to the video's full-frame pixels.

    Parameters
    ----------
    xy_crop : (..., 2) array-like
        Points ``(x, y)`` in the crop's pixels (pixel centres at integers). NaN stays NaN.
    roi : Roi
        The region the crop was made with.

    Returns
    -------
    (..., 2) float64
        ``x = roi.x + (xc + 0.5) * roi.w / roi.out_w - 0.5`` (mirrored crops use
        ``roi.out_w - xc`` in place of ``xc + 0.5``), ``y = roi.y + (yc + 0.5) * roi.h /
        roi.out_h - 0.5``. The input is not changed.
    """
    p = np.array(xy_crop, dtype=np.float64, copy=True)
    if p.shape[-1:] != (2,):
        raise ValueError(f"points must have shape (..., 2), got {p.shape}")
    sx, sy = roi.w / roi.out_w, roi.h / roi.out_h
    xc = p[..., 0]
    u = (roi.out_w - 0.5 - xc) if roi.mirror else (xc + 0.5)
    p[..., 0] = roi.x + u * sx - 0.5
    p[..., 1] = roi.y + (p[..., 1] + 0.5) * sy - 0.5
    return p


def from_full_frame(xy_full, roi: Roi) -> np.ndarray:
    """Inverse of :func:`to_full_frame`: full-frame pixels to crop pixels, (..., 2) float64.

    Points outside the region map outside ``[-0.5, out - 0.5)``; they are not clipped.
    """
    p = np.array(xy_full, dtype=np.float64, copy=True)
    if p.shape[-1:] != (2,):
        raise ValueError(f"points must have shape (..., 2), got {p.shape}")
    u = (p[..., 0] - roi.x + 0.5) * (roi.out_w / roi.w)
    p[..., 0] = (roi.out_w - 0.5 - u) if roi.mirror else (u - 0.5)
    p[..., 1] = (p[..., 1] - roi.y + 0.5) * (roi.out_h / roi.h) - 0.5
    return p


def crop_frames(frames: np.ndarray, roi: Roi) -> np.ndarray:
    """Crop, scale and mirror frames in memory, as :func:`write_crops` does with ffmpeg.

    Parameters
    ----------
    frames : (n, height, width) uint8
        Grey frames.
    roi : Roi
        Must lie inside the frames.

    Returns
    -------
    (n, roi.out_h, roi.out_w) uint8
        New array. Scaling uses OpenCV's area interpolation to shrink and bicubic to
        enlarge (ffmpeg's ``area`` and ``bicubic`` flags in :func:`write_crops`; results
        differ by a grey level or two, identical without scaling).
    """
    import cv2

    frames = np.asarray(frames)
    if frames.ndim == 2:
        frames = frames[None]
    if frames.ndim != 3 or frames.dtype != np.uint8:
        raise ValueError(
            f"frames must be (n, height, width) uint8, got {frames.dtype} {frames.shape}"
        )
    n, fh, fw = frames.shape
    if roi.x + roi.w > fw or roi.y + roi.h > fh:
        raise ValueError(f"{roi} does not fit in {fw}x{fh} frames")
    sub = frames[:, roi.y : roi.y + roi.h, roi.x : roi.x + roi.w]
    if (roi.out_w, roi.out_h) != (roi.w, roi.h):
        shrink = roi.out_w * roi.out_h < roi.w * roi.h
        interp = cv2.INTER_AREA if shrink else cv2.INTER_CUBIC
        out = np.empty((n, roi.out_h, roi.out_w), np.uint8)
        for i in range(n):  # cv2 works per image; n is small where this is used
            out[i] = cv2.resize(sub[i], (roi.out_w, roi.out_h), interpolation=interp)
    else:
        out = np.array(sub, copy=True)
    if roi.mirror:
        out = np.ascontiguousarray(out[:, :, ::-1])
    return out


# --------------------------------------------------------------------------------------
# single-pass crop videos

_SIZE_RE = re.compile(r"Stream #\d+:\d+.*?: Video: .*?, (\d{1,5})x(\d{1,5})")
_LOSSLESS = ("ffv1",)


def _frame_size(path: Path) -> tuple[int, int]:
    """Width and height of the first video stream from the container header (no decoding)."""
    proc = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)], capture_output=True
    )
    err = proc.stderr.decode(errors="replace")
    m = _SIZE_RE.search(err)
    if m is None:
        tail = "\n".join(err.strip().splitlines()[-3:])
        raise FFmpegError(f"no video stream found in {path}: {tail}")
    return int(m.group(1)), int(m.group(2))


def _filter_for(roi: Roi) -> str:
    parts = [f"crop={roi.w}:{roi.h}:{roi.x}:{roi.y}:exact=1"]
    if (roi.out_w, roi.out_h) != (roi.w, roi.h):
        shrink = roi.out_w * roi.out_h < roi.w * roi.h
        parts.append(f"scale={roi.out_w}:{roi.out_h}:flags={'area' if shrink else 'bicubic'}")
    if roi.mirror:
        parts.append("hflip")
    return ",".join(parts)


def crop_filter_graph(rois: Mapping[str, Roi]) -> str:
    """ffmpeg ``-filter_complex`` text: one decode, split into one labelled output per ROI.

    Output ``k`` (in the mapping's order) is labelled ``[c<k>]``. Frames are converted to
    grey before cropping so that crops start at any pixel (no chroma alignment).
    """
    n = len(rois)
    if n == 0:
        raise ValueError("no regions to crop")
    labels = "".join(f"[s{k}]" for k in range(n))
    graph = [f"[0:v]format=gray,split={n}{labels}" if n > 1 else "[0:v]format=gray[s0]"]
    for k, roi in enumerate(rois.values()):
        graph.append(f"[s{k}]{_filter_for(roi)}[c{k}]")
    return ";".join(graph)


def write_crops(
    video_path: Path | str,
    rois: Mapping[str, Roi],
    out_dir: Path | str,
    *,
    codec: str = "libx264",
    crf: int = 17,
    preset: str = "veryfast",
    threads: int = 0,
    stem: str | None = None,
    frame_size: tuple[int, int] | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Path]:
    """Write one crop video per region from a single decode of ``video_path``.

    One ffmpeg process decodes the video once; a ``split`` filter feeds every region's
    ``crop`` (``scale``, ``hflip``) chain and each chain is encoded to its own file.

    Parameters
    ----------
    video_path : path
        The (h.264) video to crop.
    rois : mapping of str to Roi
        Region name to region; every region must lie inside the video's frames.
    out_dir : path
        Folder for the crops (created if missing): ``<stem>.<name>.mp4`` (``.mkv`` for
        FFV1).
    codec : str
        ``"libx264"`` (grey 4:0:0 h.264, default) or ``"ffv1"`` (lossless).
    crf, preset : int, str
        x264 quality and speed (ignored for FFV1). crf 17 keeps the crops visually
        lossless; the pose networks see them after a second compression, as in training.
    threads : int
        Encoder/decoder threads (0: ffmpeg's choice).
    stem : str, optional
        File name stem (default: the video's stem).
    frame_size : (int, int), optional
        The video's ``(width, height)``; read from its header when not given.
    progress : callable, optional
        Called with the number of frames done so far.

    Returns
    -------
    dict of str to Path
        Region name to crop video, in the order of ``rois``.

    Notes
    -----
    Atomic: crops are written to hidden temporary names in ``out_dir`` and renamed into
    place only when ffmpeg has succeeded; on any failure the temporary files are removed
    and nothing is left at the final names.

    Raises
    ------
    FileNotFoundError
        If the video does not exist.
    ValueError
        If a region does not fit in the video's frames, or for a bad codec (naming the
        video and region).
    FFmpegError
        If ffmpeg fails, naming the video and quoting ffmpeg.
    """
    video = Path(video_path)
    if not video.is_file():
        raise FileNotFoundError(f"video not found: {video}")
    if not rois:
        raise ValueError(f"no regions given to crop from {video}")
    if codec not in ("libx264", "ffv1"):
        raise ValueError(f"codec must be 'libx264' or 'ffv1', got {codec!r} (cropping {video})")
    fw, fh = frame_size if frame_size is not None else _frame_size(video)
    for name, roi in rois.items():
        if not isinstance(roi, Roi):
            raise ValueError(f"region {name!r} for {video} is not a Roi: {roi!r}")
        if roi.x + roi.w > fw or roi.y + roi.h > fh:
            raise ValueError(
                f"region {name!r} {roi} does not fit in the {fw}x{fh} frames of {video}"
            )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = video.stem if stem is None else stem
    ext = ".mkv" if codec == "ffv1" else ".mp4"
    if codec == "ffv1":
        enc = ["-c:v", "ffv1", "-level", "3", "-g", "1", "-pix_fmt", "gray"]
    else:
        enc = ["-c:v", "libx264", "-crf", str(int(crf)), "-preset", preset, "-pix_fmt", "gray"]
    finals = {name: out / f"{stem}.{name}{ext}" for name in rois}
    temps: dict[str, Path] = {}
    try:
        for name in rois:
            fd, tmp = tempfile.mkstemp(dir=out, prefix=f".{stem}.{name}.", suffix=f".partial{ext}")
            os.close(fd)
            temps[name] = Path(tmp)
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-nostats",
               "-progress", "pipe:1", "-y", "-threads", str(int(threads)), "-i", str(video),
               "-filter_complex", crop_filter_graph(rois)]  # fmt: skip
        for k, name in enumerate(rois):
            cmd += ["-map", f"[c{k}]", *enc, "-threads", str(int(threads)),
                    "-fps_mode", "passthrough", "-an", str(temps[name])]  # fmt: skip
        _run(cmd, video, progress)
        for name in rois:
            os.replace(temps[name], finals[name])
    except BaseException:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
        raise
    return finals


def _run(cmd: list[str], video: Path, progress: Callable[[int], None] | None) -> None:
    """Run ffmpeg, reporting ``-progress`` frame counts; raise FFmpegError naming ``video``."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = bytearray()
    reader = threading.Thread(target=lambda: err.extend(proc.stderr.read()), daemon=True)
    reader.start()
    try:
        for line in proc.stdout:
            if progress is not None and line.startswith(b"frame="):
                with contextlib.suppress(ValueError):
                    progress(int(line[6:].strip()))
        proc.wait()
        reader.join()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        proc.stdout.close()
        proc.stderr.close()
    if proc.returncode != 0 or err.strip():
        tail = "\n".join(err.decode(errors="replace").strip().splitlines()[-5:])
        raise FFmpegError(f"ffmpeg failed cropping {video} (exit {proc.returncode}): {tail}")
