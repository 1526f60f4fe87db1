"""h.264 compression of raw videos: encode, verify, measure quality, study size against crf.

The design's parameter sets (section 5 of the design) are data in :data:`COMPRESSION_SETS`:
``archival`` (crf 17, recording rigs), ``training`` (crf 29, training rigs and training-set
clips) and ``compact`` (crf 35, when storage is short).

:func:`encode_video` is what the ``CompressedVideo`` table calls. A raw file may be deleted
once its compressed copy exists, so nothing appears at the output path unless it is proven
good:

1. The raw file is demuxed (no decoding) to count its frames and compare with the count its
   container header claims (:func:`pipeline.io.containers.probe_container`), so a file cut
   short is refused even where it would decode cleanly up to the cut.
2. One ffmpeg process decodes the raw file, fails on any decoding error (``-xerror
   -err_detect explode``, and any error message, since ffmpeg conceals some errors such as
   FFV1's "slice CRC mismatch" and goes on), encodes every frame (``-fps_mode passthrough``:
   no frame is dropped or duplicated) and, through the tee muxer, writes the encoded
   packets both into a hidden temporary file next to the output
   (``.<name>.<random>.partial.mp4``) and, as Matroska, into a pipe. In the same pass it
   hands back a few evenly spaced raw frames for the quality measure (so the raw file is
   decoded once only).
3. A second ffmpeg process reads that pipe and decodes every packet to the end while the
   encode runs (again failing on any error): it counts the frames, hands back the same
   sampled frames decoded, and digests the packets it decoded
   (:func:`pipeline.io.containers.packet_digest`: packet bytes and decoder configuration).
4. The temporary file is then demuxed (no decoding): its codec and packet count must be
   right and its packet digest equal to the decoder's, so what was decoded is byte for
   byte what the file holds. Decoded frame count and frame size must equal the raw file's.
5. PSNR and SSIM (:func:`psnr_db`, :func:`ssim`) of the decoded frames against the raw
   frames are computed with numpy/OpenCV.
6. The file is flushed to disk and renamed into place (``os.replace``, atomic).

Why the decode runs beside the encode: decoding the finished file afterwards added 8-10 %
to the encode's wall time (x264 ``faster`` at crf 17 already uses both cores of the
machine this was measured on, and the decode of high-bitrate h.264 costs about a fifteenth
of the encode's CPU time); one decoding thread beside the encoder fills the gaps the encoder
leaves. The file's packets are those ``ffmpeg -i raw <same options> out.mp4`` writes
(``+global_header`` keeps the stream's headers in its configuration, as a plain MP4
output does; the tests compare the digests).

Any failure, including ``KeyboardInterrupt``, stops ffmpeg, deletes the temporary file and
raises with the raw file's name; the output path is never touched.

Why quality is measured this way: the alternative, ffmpeg's ``psnr``/``ssim`` filters,
needs the raw file decoded a second time next to the compressed one. On 240 frames of
1280x1024 camera video (2 shared cores), decoding the FFV1 raw took 5.1-5.3 s, the h.264
copy 1.1 s, and both with the psnr and ssim filters 5.7 s; sampling raw frames during the
encode's own decode costs nothing, and PSNR + SSIM on 30 sampled frames take about 1 s
whatever the length. For an hour of 60 Hz video that is about 20 min of verification
instead of about 85 min.

Size and noise: crf 17 still codes camera sensor noise, crf 23 and above drop it. On the
simulated left camera (1280x1024, 60 Hz, noise sd 3 grey levels) crf 17/23/29/35 gave
5.0 GB/137/50/34 MB per hour (preset faster), so "+6 crf halves the size" holds only above
crf 23 or for low-noise video; see :func:`compression_study`.

Grey sources: x264 encodes ``yuv420p`` (what players, OpenCV and DeepLabCut read). ffmpeg
converts full-range grey (0-255) to limited-range luma (16-235) and back when decoding, so
the round trip alone keeps 220 of 256 grey levels (error at most 1 level, about 57 dB);
chroma is constant.
"""

from __future__ import annotations

import collections
import contextlib
import math
import os
import re
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np

from pipeline.io.containers import (
    PACKET_DIGEST_OPTIONS,
    ContainerInfo,
    probe_container,
    streamhash_digest,
)
from pipeline.io.ffmpeg import FFmpegError, ffmpeg_exe

__all__ = [
    "COMPRESSION_SETS",
    "X264_PRESETS",
    "CompressionError",
    "CompressionSettings",
    "EncodeResult",
    "VerificationError",
    "register_h264",
    "compression_study",
    "crf_per_halving",
    "cut_clip",
    "encode_video",
    "psnr_db",
    "quality_sample_indices",
    "select_training_trials",
    "ssim",
    "trial_frame_ranges",
]

X264_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)

ProgressArg = Callable[[int], None] | bool | None


class CompressionError(RuntimeError):
    """Compression of a file failed; the message names the source file."""


class VerificationError(CompressionError):
    """The compressed file does not match its source (frame count, frame size, decoding)."""


@dataclass(frozen=True, kw_only=True)
class CompressionSettings:
    """One h.264 parameter set (a row of the compression parameter lookup table).

    Attributes
    ----------
    codec : str
        ffmpeg encoder, ``libx264``.
    crf : int
        x264 constant rate factor, 0 (lossless) to 51; +6 roughly halves the size.
    preset : str
        x264 speed preset (:data:`X264_PRESETS`). Default ``faster`` (see
        :data:`COMPRESSION_SETS` for why).
    pix_fmt : str
        Output pixel format; ``yuv420p`` is what every player and DeepLabCut reads.
    extra_options : tuple of str
        More ffmpeg output options as flat ``("-name", "value", ...)`` pairs, e.g.
        ``("-tune", "grain")``; part of the set's identity.
    """

    codec: str = "libx264"
    crf: int
    preset: str = "faster"
    pix_fmt: str = "yuv420p"
    extra_options: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.crf, bool) or not isinstance(self.crf, int | np.integer):
            raise ValueError(f"crf must be an integer, got {self.crf!r}")
        if not 0 <= self.crf <= 51:
            raise ValueError(f"crf must be within 0..51, got {self.crf}")
        object.__setattr__(self, "crf", int(self.crf))
        if self.codec in ("libx264", "libx265") and self.preset not in X264_PRESETS:
            raise ValueError(
                f"unknown x264 preset {self.preset!r}; one of {', '.join(X264_PRESETS)}"
            )
        extra = tuple(str(x) for x in self.extra_options)
        if len(extra) % 2 or any(not k.startswith("-") for k in extra[::2]):
            raise ValueError(
                f"extra_options must be ('-name', 'value') pairs, got {len(extra)} items: {extra}"
            )
        object.__setattr__(self, "extra_options", extra)

    def output_options(self) -> dict[str, str]:
        """ffmpeg output options as a dict (keys without the dash), for ffmpeg-python."""
        options = {
            "c:v": self.codec,
            "crf": str(self.crf),
            "preset": self.preset,
            "pix_fmt": self.pix_fmt,
        }
        extra = self.extra_options
        options.update({k[1:]: v for k, v in zip(extra[::2], extra[1::2], strict=True)})
        return options

    def ffmpeg_args(self) -> list[str]:
        """The same options as a command-line list, e.g. ``['-c:v', 'libx264', '-crf', '17', ...]``."""
        return [a for k, v in self.output_options().items() for a in (f"-{k}", v)]

    def to_dict(self) -> dict:
        """Plain values (``extra_options`` as a list) for a lookup-table row or JSON."""
        d = asdict(self)
        d["extra_options"] = list(self.extra_options)
        return d


#: The design's three parameter sets, with preset ``faster`` (IBL uses ``slow``). Measured
#: on 240 frames of the simulated left camera (1280x1024, 60 Hz, sensor noise sd 3 grey
#: levels) on 2 shared cores: at crf 17, ``faster`` / ``medium`` / ``slow`` gave 5.0 / 6.9 /
#: 7.4 GB per hour at PSNR 38.1 / 38.0 / 37.9 dB against the raw frames and took about
#: 1 / 1.6-2.1 / 2.5-3.8 times as long; at crf 29, 50 / 58 / 60 MB per hour at 36.1 / 36.2 /
#: 36.0 dB. ``medium`` and ``slow`` use psycho-visual rate-distortion (x264 subme >= 6),
#: which spends bits reproducing sensor noise; ``faster`` does not. On smooth, low-noise
#: content ``faster`` was 2-8 % smaller at equal PSNR (+-0.1 dB). An hour of 60 Hz video is
#: 216,000 frames, so encoding speed on a rig computer is what matters.
COMPRESSION_SETS: MappingProxyType[str, CompressionSettings] = MappingProxyType(
    {
        "archival": CompressionSettings(crf=17, preset="faster"),
        "training": CompressionSettings(crf=29, preset="faster"),
        "compact": CompressionSettings(crf=35, preset="faster"),
    }
)


@dataclass(frozen=True)
class EncodeResult:
    """What :func:`encode_video` / :func:`cut_clip` produced and measured.

    Attributes
    ----------
    path : Path
        The verified compressed file (in place).
    size_bytes : int
        Its size, bytes.
    raw_size_bytes : int
        Size of the source file, bytes (the whole file, also for a clip).
    ratio : float
        ``raw_size_bytes / size_bytes`` (for a clip: source bytes per clip frame times clip
        frames, over clip bytes).
    bitrate_kbps : float
        ``size_bytes * 8 / 1000 / duration``, kilobits per second of video.
    encode_seconds : float
        Wall time of the encoding pass, seconds (the full decode of the encoded packets
        runs alongside it).
    n_frames : int
        Frames in the compressed file (equal to the source's, verified).
    width, height : int
        Frame size in pixels (equal to the source's, verified).
    psnr_db : float
        PSNR of the sampled decoded frames against the source frames, dB, from their pooled
        mean squared error (``inf`` if identical). The source's sensor noise counts as
        signal: a copy that drops the noise scores lower (noise sd 3 grey levels alone
        limits PSNR to about 38.6 dB).
    ssim : float
        Mean SSIM (Wang et al. 2004, Gaussian window sigma 1.5 px) over the sampled frames.
    n_quality_frames : int
        Number of frames sampled for ``psnr_db`` and ``ssim``, evenly spaced.
    fps : float
        Frame rate of the source, frames per second.
    verify_seconds : float
        Wall time after the encode until the file is verified, seconds: the decoder's
        last frames, the file's demux and packet digest, PSNR and SSIM.
    """

    path: Path
    size_bytes: int
    raw_size_bytes: int
    ratio: float
    bitrate_kbps: float
    encode_seconds: float
    n_frames: int
    width: int
    height: int
    psnr_db: float
    ssim: float
    n_quality_frames: int
    fps: float
    verify_seconds: float

    def to_dict(self) -> dict:
        """Plain values (path as a string) for a table row or JSON."""
        d = asdict(self)
        d["path"] = str(self.path)
        return d


# --------------------------------------------------------------------------------------
# quality measures


def psnr_db(reference: np.ndarray, test: np.ndarray, *, data_range: float = 255.0) -> float:
    """Peak signal-to-noise ratio of ``test`` against ``reference``, dB.

    Parameters
    ----------
    reference, test : ndarray, shape (n, height, width) or (height, width)
        Frames, same shape (uint8 grey levels or floats on the same scale).
    data_range : float
        Peak value (255 for 8-bit).

    Returns
    -------
    float
        ``10 log10(data_range**2 / MSE)`` with the MSE pooled over every pixel of every
        frame (x264's "global" PSNR; ``inf`` when identical).
    """
    reference, test = np.asarray(reference), np.asarray(test)
    if reference.shape != test.shape:
        raise ValueError(f"shapes differ: reference {reference.shape}, test {test.shape}")
    if reference.size == 0:
        raise ValueError("no pixels to compare (empty arrays)")
    ref2 = reference.reshape(-1, reference.shape[-1]) if reference.ndim >= 2 else reference.reshape(1, -1)
    test2 = test.reshape(ref2.shape)
    integer = reference.dtype == np.uint8 and test.dtype == np.uint8
    total = 0 if integer else 0.0
    # a few rows at a time: no image-sized float64 temporaries (30 camera frames would need
    # three 315 MB arrays), exact integer sums for 8-bit frames
    step = max(1, (1 << 20) // max(1, ref2.shape[1]))
    for start in range(0, ref2.shape[0], step):
        if integer:
            d = ref2[start : start + step].astype(np.int32) - test2[start : start + step]
            total += int(np.einsum("ij,ij->", d, d, dtype=np.int64))
        else:
            d = ref2[start : start + step].astype(np.float64) - test2[start : start + step]
            total += float(np.einsum("ij,ij->", d, d))
    mse = total / reference.size
    return math.inf if mse == 0 else 10.0 * math.log10(data_range**2 / mse)


def _gaussian_blur(sigma: float, radius: int) -> Callable[[np.ndarray], np.ndarray]:
    """A 2-D Gaussian blur of one float32 image with mirrored edges (``d c b a | a b c d``).

    OpenCV's when installed (about 8x faster on 1280x1024 frames), else scipy's; both give
    the same values to float32 rounding.
    """
    try:
        import cv2
    except ImportError:  # pragma: no cover - opencv comes with deeplabcut
        from scipy.ndimage import gaussian_filter

        return lambda a: gaussian_filter(a, sigma, truncate=radius / sigma, mode="reflect")
    size = (2 * radius + 1, 2 * radius + 1)
    return lambda a: cv2.GaussianBlur(a, size, sigma, borderType=cv2.BORDER_REFLECT)


def ssim(
    reference: np.ndarray, test: np.ndarray, *, data_range: float = 255.0, sigma: float = 1.5
) -> float:
    """Mean structural similarity of ``test`` against ``reference`` (Wang et al. 2004).

    Gaussian-weighted local statistics (``sigma`` px, truncated at 3.5 sigma: an 11x11
    window for 1.5), K1 = 0.01, K2 = 0.03, population covariances; the SSIM map is averaged
    over each frame without its border (5 px) and then over frames. Equal (to 1e-6) to
    ``skimage.metrics.structural_similarity(..., gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=255)`` averaged over frames. ffmpeg's ``ssim``
    filter uses 8x8 blocks instead and gives slightly different values (0.899 against
    0.895 on noisy 1280x1024 camera frames at crf 17).

    Parameters
    ----------
    reference, test : ndarray, shape (n, height, width) or (height, width)
        Frames, same shape; each at least 11x11 pixels.
    data_range : float
        Peak value (255 for 8-bit).
    sigma : float
        Standard deviation of the Gaussian window, pixels.

    Returns
    -------
    float
        Mean SSIM, 1.0 for identical frames.

    Notes
    -----
    Frames are processed one at a time in float32 (a loop over the few sampled frames,
    each step a handful of whole-image OpenCV calls): about 30 ms per 1280x1024 frame.
    """
    reference, test = np.asarray(reference), np.asarray(test)
    if reference.shape != test.shape:
        raise ValueError(f"shapes differ: reference {reference.shape}, test {test.shape}")
    if reference.ndim == 2:
        reference, test = reference[None], test[None]
    if reference.ndim != 3 or reference.shape[0] == 0:
        raise ValueError(f"expected (n, height, width) frames, got shape {reference.shape}")
    radius = int(3.5 * sigma + 0.5)
    if min(reference.shape[1:]) < 2 * radius + 1:
        raise ValueError(
            f"frames of {reference.shape[1:]} px are smaller than the {2 * radius + 1}-px window"
        )
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    blur = _gaussian_blur(sigma, radius)
    means = np.empty(reference.shape[0])
    for i in range(reference.shape[0]):
        x = reference[i].astype(np.float32)
        y = test[i].astype(np.float32)
        mx, my = blur(x), blur(y)
        mxx, myy, mxy = mx * mx, my * my, mx * my
        vx = blur(x * x) - mxx
        vy = blur(y * y) - myy
        cxy = blur(x * y) - mxy
        s = ((2 * mxy + c1) * (2 * cxy + c2)) / ((mxx + myy + c1) * (vx + vy + c2))
        means[i] = s[radius:-radius, radius:-radius].mean(dtype=np.float64)
    return float(means.mean())


def quality_sample_indices(n_frames: int, n_samples: int) -> np.ndarray:
    """``min(n_samples, n_frames)`` evenly spaced frame indices from 0 to ``n_frames - 1``, shape (k,)."""
    if n_frames <= 0:
        return np.zeros(0, dtype=np.int64)
    k = max(1, min(int(n_samples), int(n_frames)))
    return np.unique(np.round(np.linspace(0, n_frames - 1, k)).astype(np.int64))


# --------------------------------------------------------------------------------------
# training-set clips


def select_training_trials(n_trials: int, every: int = 25, *, first: int = 0) -> np.ndarray:
    """Indices of the trials kept as training-set clips: every ``every``-th trial.

    Parameters
    ----------
    n_trials : int
        Number of trials in the session.
    every : int
        Keep one trial in ``every`` (the design: 25).
    first : int
        Index of the first kept trial (default 0, so any session with a trial gives a clip).

    Returns
    -------
    ndarray of int64, shape (k,)
        Zero-based trial indices ``first, first + every, ...`` below ``n_trials``.
    """
    if int(n_trials) != n_trials or n_trials < 0:
        raise ValueError(f"n_trials must be a non-negative integer, got {n_trials}")
    if int(every) != every or every < 1:
        raise ValueError(f"every must be a positive integer, got {every}")
    if int(first) != first or first < 0:
        raise ValueError(f"first must be a non-negative integer, got {first}")
    return np.arange(int(first), int(n_trials), int(every), dtype=np.int64)


def trial_frame_ranges(
    frame_times_s: np.ndarray, intervals_s: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """First frame and frame count of each trial, for :func:`cut_clip`.

    Parameters
    ----------
    frame_times_s : ndarray, shape (n,)
        Time of every video frame, seconds, strictly increasing (DAQ clock).
    intervals_s : ndarray, shape (m, 2)
        Trial ``[start, end]`` times, seconds, on the same clock.

    Returns
    -------
    start_frames, n_frames : ndarray of int64, shape (m,)
        Frames with ``start <= t <= end``; ``n_frames`` is 0 for a trial outside the video.
    """
    t = np.asarray(frame_times_s, dtype=np.float64)
    iv = np.asarray(intervals_s, dtype=np.float64)
    if t.ndim != 1:
        raise ValueError(f"frame_times_s must be 1-D, got shape {t.shape}")
    if iv.ndim != 2 or iv.shape[1] != 2:
        raise ValueError(f"intervals_s must have shape (m, 2), got {iv.shape}")
    if t.size > 1 and np.any(np.diff(t) <= 0):
        raise ValueError(
            f"frame_times_s must be strictly increasing ({int(np.sum(np.diff(t) <= 0))} steps are not)"
        )
    if np.any(iv[:, 1] < iv[:, 0]):
        raise ValueError(
            f"{int(np.sum(iv[:, 1] < iv[:, 0]))} trial intervals end before they start"
        )
    start = np.searchsorted(t, iv[:, 0], side="left")
    stop = np.searchsorted(t, iv[:, 1], side="right")
    return start.astype(np.int64), (stop - start).astype(np.int64)


# --------------------------------------------------------------------------------------
# encoding


_PROGRESS_LINE = re.compile(r"^([a-z_0-9]+)=\s*(\S*)\s*$")


def _tqdm_progress(total: int, desc: str) -> tuple[Callable[[int], None], Callable[[], None]]:
    from tqdm.auto import tqdm

    bar = tqdm(total=total, unit="frame", desc=desc, leave=False, dynamic_ncols=True)

    def update(done: int) -> None:
        bar.update(max(0, min(done, total) - bar.n))

    return update, bar.close


def _select_expr(indices: np.ndarray) -> str:
    return "+".join(f"eq(n,{int(i)})" for i in indices)


def _drain(stream, sink: bytearray) -> None:
    for block in iter(lambda: stream.read(1 << 20), b""):
        sink.extend(block)


class _FFmpegProcess:
    """One running ffmpeg: its stdout is collected by a thread, its stderr carries
    ``-progress`` lines (``key=value``) and, at ``-v error``, only error messages.

    ``pass_fds`` are pipe ends the command names as ``pipe:<fd>``.
    """

    def __init__(self, cmd: list[str], *, what: str, pass_fds: Sequence[int] = ()) -> None:
        import subprocess

        self.what = what
        self.values: dict[str, str] = {}
        self.log: collections.deque[str] = collections.deque(maxlen=12)
        self.stdout = bytearray()
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            pass_fds=tuple(pass_fds),
        )  # fmt: skip
        self._readers = [threading.Thread(target=_drain, args=(self.proc.stdout, self.stdout), daemon=True)]
        self._readers[0].start()

    def follow(self, on_frames: Callable[[int], None] | None = None) -> None:
        """Read stderr to its end in this thread; ``on_frames(frames)`` at each progress report."""
        for raw_line in self.proc.stderr:
            line = raw_line.decode(errors="replace").rstrip()
            m = _PROGRESS_LINE.match(line)
            if m is None:
                if line:
                    self.log.append(line)
                continue
            self.values[m.group(1)] = m.group(2)
            if m.group(1) == "progress" and on_frames is not None and self.frames >= 0:
                on_frames(self.frames)

    def follow_in_background(self) -> None:
        reader = threading.Thread(target=self.follow, daemon=True)
        reader.start()
        self._readers.append(reader)

    @property
    def frames(self) -> int:
        """Frames written to the first output so far (its last progress report), -1 if none."""
        value = self.values.get("frame", "")
        return int(value) if value.isdigit() else -1

    def wait(self) -> int:
        self.proc.wait()
        for reader in self._readers:
            reader.join()
        self._close()
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for reader in self._readers:
            reader.join(timeout=5)
        self._close()

    def _close(self) -> None:
        for s in (self.proc.stdout, self.proc.stderr):
            with contextlib.suppress(Exception):
                s.close()

    def failure(self) -> FFmpegError | None:
        """The error to raise once the process has ended, or None if it succeeded."""
        if self.proc.returncode != 0:
            tail = "\n".join(self.log) or "(no message)"
            return FFmpegError(f"ffmpeg failed {self.what} (exit {self.proc.returncode}): {tail}")
        if self.log:
            # Run at ``-v error``: any message is an error that ffmpeg concealed instead of
            # failing on (e.g. FFV1's "slice CRC mismatch" on a damaged frame).
            return FFmpegError(f"ffmpeg reported errors {self.what}: " + "\n".join(self.log))
        return None


def _frames_from_bytes(data: bytes, k: int, width: int, height: int, what: str) -> np.ndarray:
    size = width * height
    if len(data) != k * size:
        raise VerificationError(
            f"{what}: expected {k} sampled frames of {width}x{height} ({k * size} bytes), got {len(data)} bytes"
        )
    return np.frombuffer(data, np.uint8).reshape(k, height, width)


_GLOBAL_ARGS = ("-hide_banner", "-nostdin", "-v", "error", "-xerror", "-nostats", "-progress", "pipe:2")

#: Options of the MP4 muxer that a parameter set's ``extra_options`` may hold: they belong
#: to the file's output of the tee muxer, not to the encoder.
_MP4_MUXER_OPTIONS = frozenset({"movflags", "brand", "use_editlist", "write_tmcd", "frag_duration"})


def _tee_escape(path: Path) -> str:
    """``path`` as a file name in the tee muxer's output list (backslash before ``\\ ' | [ ]``
    and white space, which its parser would otherwise take as syntax or strip)."""
    return re.sub(r"([\\'|\[\]\s])", r"\\\1", str(path))


def _sampled_output(stream, samples: np.ndarray, target: str):
    """An ffmpeg-python output writing the frames at ``samples`` (indices) as raw grey bytes."""
    import ffmpeg

    return ffmpeg.output(
        stream.filter("select", _select_expr(samples)), target,
        format="rawvideo", pix_fmt="gray", fps_mode="passthrough",
    )  # fmt: skip


def _encoder_command(
    src: Path,
    tmp: Path,
    settings: CompressionSettings,
    *,
    info: ContainerInfo,
    start_frame: int,
    n_frames: int,
    samples: np.ndarray,
    threads: int,
    copy_fd: int,
) -> list[str]:
    """ffmpeg encoding frames ``start_frame .. start_frame+n_frames-1`` of ``src``.

    The encoded packets go, through the tee muxer, both into ``tmp`` (MP4) and as Matroska
    into the pipe ``copy_fd`` for the verifying decoder; the source frames at ``samples``
    (indices relative to ``start_frame``) go to stdout as raw grey bytes.
    """
    import ffmpeg

    input_options: dict[str, object] = {"err_detect": "explode"}
    whole = start_frame == 0 and n_frames == info.n_packets
    if not whole:
        # Accurate input seeking by time: ffmpeg starts at the first frame whose time is at
        # or after ``ss`` (AVI rounds ``ss`` to its 1/fps time base). A quarter frame early
        # is unambiguous in both cases (half a frame is not: it rounds either way). ``t``
        # reads a little more than needed; ``trim`` then keeps exactly ``n_frames``.
        if start_frame > 0:
            input_options["ss"] = f"{(start_frame - 0.25) / info.fps:.6f}"
        input_options["t"] = f"{(n_frames + 0.5) / info.fps:.6f}"
    stream = ffmpeg.input(str(src), **input_options).video
    if not whole:
        stream = stream.trim(end_frame=n_frames)
    split = stream.split()
    # a parameter set's own ``-threads`` (an extra option) wins over the call's ``threads``
    options = {"threads": str(int(threads)), **settings.output_options()}
    mp4_options = "".join(f":{k}={options.pop(k)}" for k in sorted(_MP4_MUXER_OPTIONS & set(options)))
    # The encoder's headers go into the stream's configuration (extradata), as for a plain
    # MP4 output, not repeated before every keyframe: the file's packets are then the same
    # as those of ``ffmpeg -i raw <options> out.mp4`` and the same in both tee outputs.
    flags = options.pop("flags:v", options.pop("flags", ""))
    options["flags:v"] = f"{flags}+global_header"
    tee = f"[f=mp4{mp4_options}]{_tee_escape(tmp)}|[f=matroska]pipe:{copy_fd}"
    encoded = ffmpeg.output(split[0], tee, format="tee", fps_mode="passthrough", **options)
    sampled = _sampled_output(split[1], samples, "pipe:1")
    node = ffmpeg.merge_outputs(encoded, sampled).global_args(*_GLOBAL_ARGS).overwrite_output()
    return node.compile(cmd=ffmpeg_exe())


def _verifier_command(samples: np.ndarray, *, copy_fd: int, digest_fd: int) -> list[str]:
    """ffmpeg decoding the Matroska stream on pipe ``copy_fd`` to its end.

    Outputs: every frame to the null muxer (its progress counts decoded frames), the frames
    at ``samples`` as raw grey bytes to stdout, and the digest of the packets
    (:data:`pipeline.io.containers.PACKET_DIGEST_OPTIONS`) to the pipe ``digest_fd``.
    """
    import ffmpeg

    # One decoding thread: it decodes h.264 about 8 times as fast as x264 ``faster`` encodes
    # on the same core, so it keeps pace; frame threads would only add work beside an
    # encoder that already uses every core (on 2 cores, 20 s of 1280x1024 60 Hz video:
    # encode + decode 43.7-44.3 s with one thread, 44.9-45.6 s with ffmpeg's default).
    source = ffmpeg.input(f"pipe:{copy_fd}", format="matroska", err_detect="explode", threads="1")
    split = source.video.split()
    everything = ffmpeg.output(split[0], "-", format="null", fps_mode="passthrough")
    sampled = _sampled_output(split[1], samples, "pipe:1")
    digest = ffmpeg.output(source.video, f"pipe:{digest_fd}", **PACKET_DIGEST_OPTIONS)
    node = ffmpeg.merge_outputs(everything, sampled, digest).global_args(*_GLOBAL_ARGS).overwrite_output()
    return node.compile(cmd=ffmpeg_exe())


@dataclass(frozen=True)
class _Passes:
    raw_samples: np.ndarray  # source frames at the sample indices
    decoded_samples: np.ndarray  # the same frames decoded from the encoded packets
    digest: str  # digest of the encoded packets the decoder read
    encode_seconds: float  # wall time until the encoder ended


def _encode_and_decode(
    src: Path,
    tmp: Path,
    settings: CompressionSettings,
    *,
    info: ContainerInfo,
    start_frame: int,
    n_frames: int,
    samples: np.ndarray,
    threads: int,
    on_frames: Callable[[int], None] | None,
) -> _Passes:
    """Encode into ``tmp`` while a second ffmpeg decodes the encoded packets to their end.

    The decoder reads the encoder's packets from a pipe (Matroska) as they are made, so the
    full decode runs alongside the encode instead of after it. That it decoded exactly the
    packets in ``tmp`` is checked afterwards by :func:`_check_file` (packet digests).
    """
    t0 = time.perf_counter()
    copy_r, copy_w = os.pipe()
    digest_r, digest_w = os.pipe()
    encoder = verifier = None
    try:
        verifier = _FFmpegProcess(
            _verifier_command(samples, copy_fd=copy_r, digest_fd=digest_w),
            what=f"decoding the h.264 encode of {src}", pass_fds=(copy_r, digest_w),
        )  # fmt: skip
        os.close(digest_w)
        digest_w = -1
        verifier.follow_in_background()
        encoder = _FFmpegProcess(
            _encoder_command(
                src, tmp, settings, info=info, start_frame=start_frame, n_frames=n_frames,
                samples=samples, threads=threads, copy_fd=copy_w,
            ),
            what=f"encoding {src}", pass_fds=(copy_w,),
        )  # fmt: skip
        # Only the two ffmpeg processes hold the pipe now: the decoder sees its end when
        # the encoder ends, the encoder fails (broken pipe) if the decoder stops early.
        os.close(copy_w)
        os.close(copy_r)
        copy_w = copy_r = -1
        encoder.follow(on_frames)
        encoder.wait()
        t1 = time.perf_counter()
        verifier.wait()
        with os.fdopen(digest_r, "rb") as f:
            digest_r = -1
            digest_output = f.read()
    except BaseException:
        for process in (encoder, verifier):
            if process is not None:
                process.kill()
        raise
    finally:
        for fd in (copy_r, copy_w, digest_r, digest_w):
            if fd >= 0:
                os.close(fd)
    decode_error = verifier.failure()
    encode_error = encoder.failure()
    if encode_error is not None:
        # A decoder that stopped on bad packets breaks the encoder's pipe (the encoder then
        # dies of SIGPIPE or reports the broken pipe): the decoder's error is the cause.
        broken = encoder.proc.returncode == -signal.SIGPIPE or any(
            "broken pipe" in line.lower() for line in encoder.log
        )
        if decode_error is not None and broken:
            raise VerificationError(f"the h.264 encode of {src} does not decode: {decode_error}")
        raise encode_error
    if decode_error is not None:
        raise VerificationError(f"the h.264 encode of {src} does not decode: {decode_error}")
    if encoder.frames != n_frames:
        raise VerificationError(f"encoding {src}: encoder wrote {encoder.frames} frames, expected {n_frames}")
    if verifier.frames != n_frames:
        raise VerificationError(
            f"the h.264 encode of {src} decodes to {verifier.frames} frames, the source has {n_frames}"
        )
    for key in ("dup_frames", "drop_frames"):
        if int(encoder.values.get(key, "0") or 0):
            raise VerificationError(f"encoding {src}: ffmpeg reports {key}={encoder.values[key]}")
    raw = _frames_from_bytes(bytes(encoder.stdout), len(samples), info.width, info.height, f"encoding {src}")
    decoded = _frames_from_bytes(
        bytes(verifier.stdout), len(samples), info.width, info.height, f"decoding the h.264 encode of {src}"
    )
    digest = streamhash_digest(digest_output)
    if digest is None:
        raise VerificationError(f"decoding the h.264 encode of {src}: no packet digest ({digest_output[:200]!r})")
    return _Passes(raw, decoded, digest, t1 - t0)


def _check_file(tmp: Path, src: Path, settings: CompressionSettings, n_frames: int, digest: str) -> ContainerInfo:
    """Check the encoded file itself: codec, frame count, and that its packets (and decoder
    configuration) are byte for byte those the verifying decoder decoded."""
    try:
        info = probe_container(tmp, digest=True)
    except FFmpegError as e:
        raise VerificationError(f"compressed copy of {src} cannot be read back: {e}") from e
    if settings.codec == "libx264" and info.codec != "h264":
        raise VerificationError(f"compressed copy of {src} holds {info.codec}, not h264")
    if info.n_packets != n_frames:
        raise VerificationError(
            f"compressed copy of {src} holds {info.n_packets} frames, the source has {n_frames}"
        )
    if info.packet_digest != digest:
        raise VerificationError(
            f"compressed copy of {src} does not hold the packets that were decoded "
            f"(digest {info.packet_digest[:12]}... against {digest[:12]}...)"
        )
    return info


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _transcode(
    src: Path | str,
    out_path: Path | str,
    settings: CompressionSettings,
    *,
    start_frame: int | None,
    n_frames: int | None,
    threads: int,
    progress: ProgressArg,
    quality_frames: int,
    expected_frames: int | None,
) -> EncodeResult:
    src, out = Path(src), Path(out_path)
    if not src.is_file():
        raise FileNotFoundError(f"source video not found: {src}")
    if out.suffix.lower() != ".mp4":
        raise ValueError(f"output must be an .mp4 file, got {out} (source {src})")
    if out.resolve() == src.resolve():
        raise ValueError(f"output {out} is the source file itself")
    if not isinstance(settings, CompressionSettings):
        raise ValueError(f"settings must be CompressionSettings, got {type(settings).__name__}")
    if int(quality_frames) < 1:
        raise ValueError(f"quality_frames must be at least 1, got {quality_frames}")

    info = probe_container(src)
    if info.n_packets == 0:
        raise CompressionError(f"source video {src} holds no frames")
    if info.truncated:
        raise CompressionError(
            f"source video {src} is truncated or damaged: its header says {info.header_frames} "
            f"frames, the file holds {info.n_packets}"
        )
    if expected_frames is not None and int(expected_frames) != info.n_packets:
        raise CompressionError(
            f"source video {src} holds {info.n_packets} frames, expected {int(expected_frames)}"
        )
    if not (info.fps > 0):
        raise CompressionError(f"source video {src} has no frame rate")
    first = 0 if start_frame is None else int(start_frame)
    count = info.n_packets - first if n_frames is None else int(n_frames)
    if first < 0 or count < 1 or first + count > info.n_packets:
        raise ValueError(
            f"frames {first}..{first + count - 1} are outside {src} ({info.n_packets} frames)"
        )
    samples = quality_sample_indices(count, quality_frames)

    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            dir=out.parent, prefix=f".{out.stem}.", suffix=".partial.mp4"
        )
        os.close(fd)
    except OSError as e:
        raise CompressionError(
            f"cannot create a temporary file next to {out} for {src}: {e}"
        ) from e
    tmp = Path(tmp_name)
    close_bar: Callable[[], None] | None = None
    try:
        if progress is None or progress is True:
            on_frames, close_bar = _tqdm_progress(count, f"crf {settings.crf} {src.name}")
        elif progress is False:
            on_frames = None
        else:
            on_frames = progress
        passes = _encode_and_decode(
            src, tmp, settings, info=info, start_frame=first, n_frames=count,
            samples=samples, threads=threads, on_frames=on_frames,
        )  # fmt: skip
        t1 = time.perf_counter()
        out_info = _check_file(tmp, src, settings, count, passes.digest)
        width, height = out_info.width, out_info.height
        if (width, height) != (info.width, info.height):
            raise VerificationError(
                f"compressed copy of {src} is {width}x{height} px, the source {info.width}x{info.height}"
            )
        quality_psnr = psnr_db(passes.raw_samples, passes.decoded_samples)
        quality_ssim = ssim(passes.raw_samples, passes.decoded_samples)
        t2 = time.perf_counter()
        _fsync(tmp)
        os.replace(tmp, out)
        with contextlib.suppress(OSError):
            _fsync(out.parent)
    except KeyboardInterrupt as e:
        tmp.unlink(missing_ok=True)
        e.add_note(
            f"interrupted while compressing {src}; removed {tmp.name}, nothing written to {out}"
        )
        raise
    except (FFmpegError, CompressionError):
        tmp.unlink(missing_ok=True)
        raise
    except Exception as e:
        tmp.unlink(missing_ok=True)
        raise CompressionError(f"compressing {src} failed: {type(e).__name__}: {e}") from e
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        if close_bar is not None:
            close_bar()
    size = out.stat().st_size
    raw_size = src.stat().st_size
    src_bytes = raw_size * count / info.n_packets
    duration = count / info.fps
    return EncodeResult(
        path=out,
        size_bytes=size,
        raw_size_bytes=raw_size,
        ratio=src_bytes / size,
        bitrate_kbps=size * 8 / 1000 / duration,
        encode_seconds=passes.encode_seconds,
        n_frames=count,
        width=width,
        height=height,
        psnr_db=quality_psnr,
        ssim=quality_ssim,
        n_quality_frames=len(samples),
        fps=info.fps,
        verify_seconds=t2 - t1,
    )


def register_h264(path: Path | str, *, expected_frames: int) -> EncodeResult:
    """An h.264 raw video as its own verified encode: nothing is written or re-encoded.

    IBL's rigs compress on the rig (``_iblrig_<label>Camera.raw.mp4``); re-encoding such a
    file only loses quality. It is verified as an encode is: decoded to its end, with the
    recording's frame count. ``ratio`` is 1, ``psnr_db`` inf and ``ssim`` 1 (it *is* the
    raw), ``encode_seconds`` 0.

    Raises
    ------
    VerificationError
        If the file is not h.264, or decodes to another number of frames (naming the file).
    """
    from pipeline.io.video import probe_video

    path = Path(path)
    t0 = time.perf_counter()
    try:
        info = probe_video(path)  # decodes every frame
    except FFmpegError as e:
        raise VerificationError(f"{path} cannot be decoded to its end: {e}") from e
    if info.codec != "h264":
        raise VerificationError(f"{path} holds {info.codec}, not h264: it has to be encoded")
    if info.n_frames != expected_frames:
        raise VerificationError(f"{path} decodes to {info.n_frames} frames, the recording has {expected_frames}")
    size = path.stat().st_size
    return EncodeResult(
        path=path, size_bytes=size, raw_size_bytes=size, ratio=1.0,
        bitrate_kbps=size * 8 / 1000 / info.duration_s if info.duration_s > 0 else 0.0, encode_seconds=0.0,
        n_frames=info.n_frames, width=info.width, height=info.height, psnr_db=math.inf, ssim=1.0,
        n_quality_frames=0, fps=info.fps, verify_seconds=time.perf_counter() - t0,
    )  # fmt: skip


def encode_video(
    raw_path: Path | str,
    out_path: Path | str,
    settings: CompressionSettings,
    *,
    threads: int = 0,
    progress: ProgressArg = None,
    quality_frames: int = 30,
    expected_frames: int | None = None,
) -> EncodeResult:
    """Compress a raw video to h.264, verify it, and move it into place atomically.

    Parameters
    ----------
    raw_path : path
        Source video (FFV1 AVI from the recorder, or anything ffmpeg decodes).
    out_path : path
        Destination ``.mp4``; its folder is created if needed; an existing file is replaced
        (atomically) only once the new one is verified.
    settings : CompressionSettings
        Codec, crf, preset, pixel format (e.g. ``COMPRESSION_SETS["archival"]``).
    threads : int
        Encoder threads; 0 (default) lets x264 use every core. A ``-threads`` in the
        parameter set's ``extra_options`` takes precedence.
    progress : callable, bool or None
        ``progress(frames_done)`` is called about twice a second while encoding; ``None``
        or ``True`` shows a tqdm bar, ``False`` shows nothing. An exception it raises
        (e.g. ``KeyboardInterrupt``) aborts the encode cleanly.
    quality_frames : int
        Frames sampled (evenly spaced, first and last included) for PSNR and SSIM.
    expected_frames : int, optional
        Frame count the source must have (e.g. the recording's frameData rows); a file
        with another count is refused.

    Returns
    -------
    EncodeResult

    Raises
    ------
    FileNotFoundError
        If ``raw_path`` does not exist.
    ValueError
        If ``out_path`` is not an ``.mp4`` path or is the source itself.
    CompressionError
        If the source is truncated (header and content disagree), has no frames or not the
        expected count; :class:`VerificationError` if the compressed file does not decode
        to the same number and size of frames. Names the source file.
    FFmpegError
        If ffmpeg fails while encoding (including any decoding error in the source);
        names the source file.
    KeyboardInterrupt
        Re-raised after cleaning up, with a note naming the source file.

    Notes
    -----
    On any failure the temporary ``.<name>.<random>.partial.mp4`` next to ``out_path`` is
    deleted and ``out_path`` is left as it was.
    """
    return _transcode(
        raw_path, out_path, settings, start_frame=None, n_frames=None, threads=threads,
        progress=progress, quality_frames=quality_frames, expected_frames=expected_frames,
    )  # fmt: skip


def cut_clip(
    src_path: Path | str,
    out_path: Path | str,
    start_frame: int,
    n_frames: int,
    settings: CompressionSettings,
    *,
    threads: int = 0,
    progress: ProgressArg = False,
    quality_frames: int = 10,
) -> EncodeResult:
    """Encode frames ``start_frame .. start_frame + n_frames - 1`` of a video as its own file.

    For training-set clips (e.g. every 25th trial at ``COMPRESSION_SETS["training"]``;
    :func:`select_training_trials` and :func:`trial_frame_ranges` give the ranges). The
    source is sought by time (fast on long files, exact to the frame for a constant frame
    rate) and the clip is verified and moved into place like :func:`encode_video`.

    Parameters
    ----------
    src_path : path
        Source video (raw or already compressed).
    out_path : path
        Destination ``.mp4``.
    start_frame : int
        First frame, zero-based index in the source.
    n_frames : int
        Number of frames (at least 1; the range must lie inside the source).
    settings : CompressionSettings
        Encoding parameters.
    threads, progress, quality_frames
        As in :func:`encode_video` (no progress bar by default).

    Returns
    -------
    EncodeResult
        ``n_frames`` equals the requested count; quality is against the source frames.

    Raises
    ------
    ValueError
        If the frame range lies outside the source; otherwise as :func:`encode_video`.
    """
    if int(start_frame) != start_frame or int(n_frames) != n_frames:
        raise ValueError(
            f"start_frame and n_frames must be integers, got {start_frame}, {n_frames}"
        )
    if n_frames < 1 or start_frame < 0:
        raise ValueError(
            f"need start_frame >= 0 and n_frames >= 1, got {start_frame}, {n_frames} ({src_path})"
        )
    return _transcode(
        src_path, out_path, settings, start_frame=int(start_frame), n_frames=int(n_frames),
        threads=threads, progress=progress, quality_frames=quality_frames, expected_frames=None,
    )  # fmt: skip


# --------------------------------------------------------------------------------------
# size study


def compression_study(
    raw_path: Path | str,
    crfs: Sequence[int],
    preset: str,
    out_dir: Path | str,
    *,
    pix_fmt: str = "yuv420p",
    threads: int = 0,
    quality_frames: int = 30,
    progress: ProgressArg = False,
):
    """Encode one raw video at several crf values and tabulate size and quality.

    Parameters
    ----------
    raw_path : path
        Raw video.
    crfs : sequence of int
        crf values, e.g. ``(17, 23, 29, 35)``.
    preset : str
        x264 preset for all encodes.
    out_dir : path
        Folder for the encoded files (``<raw stem>.crf<N>.mp4``), kept for inspection.

    Returns
    -------
    pandas.DataFrame
        One row per crf, sorted by crf: ``crf``, ``size_bytes``, ``mb_per_hour`` (10^6
        bytes per hour of video), ``ratio`` (raw/compressed), ``bitrate_kbps``,
        ``psnr_db``, ``ssim``, ``encode_seconds``, ``preset``.
    """
    import pandas as pd

    crf_list = sorted({int(c) for c in crfs})
    if not crf_list:
        raise ValueError(f"no crf values given for the study of {raw_path}")
    raw = Path(raw_path)
    out_dir = Path(out_dir)
    rows = []
    for crf in crf_list:
        settings = CompressionSettings(crf=crf, preset=preset, pix_fmt=pix_fmt)
        r = encode_video(
            raw, out_dir / f"{raw.stem}.crf{crf}.mp4", settings, threads=threads,
            progress=progress, quality_frames=quality_frames,
        )  # fmt: skip
        hours = r.n_frames / r.fps / 3600.0
        rows.append(
            {
                "crf": crf,
                "size_bytes": r.size_bytes,
                "mb_per_hour": r.size_bytes / 1e6 / hours,
                "ratio": r.ratio,
                "bitrate_kbps": r.bitrate_kbps,
                "psnr_db": r.psnr_db,
                "ssim": r.ssim,
                "encode_seconds": r.encode_seconds,
                "preset": preset,
            }
        )
    return pd.DataFrame(rows)


def crf_per_halving(df) -> float:
    """crf increase that halves the size, from a least-squares fit of log2(size) on crf.

    Parameters
    ----------
    df : pandas.DataFrame
        A :func:`compression_study` table (columns ``crf`` and ``size_bytes``), two rows or more.

    Returns
    -------
    float
        ``-1 / slope``; the design's rule of thumb is 6.
    """
    crf = np.asarray(df["crf"], dtype=float)
    size = np.asarray(df["size_bytes"], dtype=float)
    if crf.size < 2 or np.ptp(crf) == 0:
        raise ValueError(f"need at least two distinct crf values, got {crf.tolist()}")
    slope = np.polyfit(crf, np.log2(size), 1)[0]
    return float(-1.0 / slope) if slope < 0 else math.inf
