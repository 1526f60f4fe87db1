"""Reading video files: probing (frame count, rate, size) and decoding frames to arrays.

All frames are single-channel 8-bit (IBL's cameras are monochrome); colour video is
converted to grey. Frame indices are zero-based video frame numbers.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.io.ffmpeg import FFmpegError, ffmpeg_exe, run_ffmpeg


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds.

    Attributes
    ----------
    n_frames : int
        Number of decodable frames (counted by decoding, not read from the header).
    fps : float
        Nominal frame rate from the container, frames per second.
    width, height : int
        Frame size in pixels.
    duration_s : float
        ``n_frames / fps``, seconds.
    codec : str
        Codec name as ffmpeg reports it (e.g. ``ffv1``, ``h264``, ``rawvideo``).
    """

    n_frames: int
    fps: float
    width: int
    height: int
    duration_s: float
    codec: str


_STREAM_RE = re.compile(r"Stream #\d+:\d+.*?: Video: (\w+).*?, (\d{2,5})x(\d{2,5})")
_FPS_RE = re.compile(r"([\d.]+) (?:fps|tbr)")
_FRAME_RE = re.compile(r"frame=\s*(\d+)")


def probe_video(path: Path | str, *, decode: bool = True) -> VideoInfo:
    """Probe a video file with ffmpeg.

    Parameters
    ----------
    path : path
        Video file.
    decode : bool
        If True (default) every frame is decoded, which both counts frames exactly and
        proves the file is readable to its end. If False, packets are only demuxed
        (``-c copy``), which is much faster but does not check the frames' content.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    FFmpegError
        If ffmpeg cannot read the file, or reports decode errors, or finds no video stream.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video file not found: {path}")
    codec_args = [] if decode else ["-c", "copy"]
    err = run_ffmpeg(
        ["-v", "info", "-xerror", "-err_detect", "explode", "-i", str(path), "-map", "0:v:0",
         *codec_args, "-f", "null", "-"],
        path=path,
    )  # fmt: skip
    stream = _STREAM_RE.search(err)
    if stream is None:
        raise FFmpegError(f"no video stream found in {path}")
    codec, width, height = stream.group(1), int(stream.group(2)), int(stream.group(3))
    line = err[stream.start() : err.find("\n", stream.start())]
    fps_match = _FPS_RE.search(line)
    fps = float(fps_match.group(1)) if fps_match else float("nan")
    frames = _FRAME_RE.findall(err)
    if not frames:
        raise FFmpegError(f"ffmpeg reported no frames for {path}")
    n_frames = int(frames[-1])
    if n_frames == 0:
        raise FFmpegError(f"video has no frames: {path}")
    return VideoInfo(n_frames, fps, width, height, n_frames / fps if fps else float("nan"), codec)


def read_frames(
    path: Path | str, width: int, height: int, *, start: int = 0, count: int | None = None
) -> np.ndarray:
    """Decode frames ``start .. start+count-1`` as an ``(n, height, width)`` uint8 array (grey).

    ``width`` and ``height`` are the video's size in pixels (from :func:`probe_video`).
    Seeking is frame-accurate (decoded from the start of the file's nearest key frame).

    Raises
    ------
    FFmpegError
        If ffmpeg fails, naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video file not found: {path}")
    vf = f"select=gte(n\\,{start})" if start else "null"
    args = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-i", str(path), "-map", "0:v:0",
            "-vf", vf, "-fps_mode", "passthrough"]  # fmt: skip
    if count is not None:
        args += ["-frames:v", str(int(count))]
    args += ["-f", "rawvideo", "-pix_fmt", "gray", "-"]
    proc = subprocess.run(args, capture_output=True)
    if proc.returncode != 0:
        raise FFmpegError(f"ffmpeg failed decoding {path}: {proc.stderr.decode(errors='replace')[-500:]}")
    frame_size = width * height
    n = len(proc.stdout) // frame_size
    return np.frombuffer(proc.stdout[: n * frame_size], np.uint8).reshape(n, height, width)


def read_frames_at(path: Path | str, width: int, height: int, indices: np.ndarray) -> np.ndarray:
    """Decode the frames at ``indices`` (sorted, zero-based) as ``(len(indices), height, width)`` uint8.

    One decode pass with ffmpeg's ``select`` filter, so sampling many frames costs one read.
    """
    indices = np.unique(np.asarray(indices, dtype=int))
    if indices.size == 0:
        return np.zeros((0, height, width), np.uint8)
    expr = "+".join(f"eq(n\\,{i})" for i in indices)
    path = Path(path)
    args = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-i", str(path), "-map", "0:v:0",
            "-vf", f"select='{expr}'", "-fps_mode", "passthrough",
            "-f", "rawvideo", "-pix_fmt", "gray", "-"]  # fmt: skip
    proc = subprocess.run(args, capture_output=True)
    if proc.returncode != 0:
        raise FFmpegError(f"ffmpeg failed decoding {path}: {proc.stderr.decode(errors='replace')[-500:]}")
    frame_size = width * height
    n = len(proc.stdout) // frame_size
    return np.frombuffer(proc.stdout[: n * frame_size], np.uint8).reshape(n, height, width)


def write_video(
    path: Path | str, frames: np.ndarray, fps: float, *, codec: str = "ffv1", extra: list[str] | None = None
) -> Path:
    """Write ``(n, height, width)`` uint8 grey frames to ``path`` (lossless FFV1 by default).

    Returns the path. The file is written to ``path`` directly; callers that need
    atomicity write to a temporary name and rename.
    """
    frames = np.ascontiguousarray(frames, dtype=np.uint8)
    n, h, w = frames.shape
    codec_args = ["-c:v", "ffv1", "-level", "3", "-g", "1"] if codec == "ffv1" else ["-c:v", codec]
    run_ffmpeg(
        ["-y", "-v", "error", "-f", "rawvideo", "-pix_fmt", "gray", "-s", f"{w}x{h}", "-r", f"{fps}",
         "-i", "-", *codec_args, "-pix_fmt", "gray", *(extra or []), str(path)],
        path=path, input=frames.tobytes(),
    )  # fmt: skip
    return Path(path)
