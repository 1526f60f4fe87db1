"""Bench row ``compress-vs-ffmpeg``: our verified h.264 encode against the plain ffmpeg command.

The raw video is a 60 s, 1280x1024, 60 Hz FFV1 AVI of the simulated left camera
(:mod:`acquisition.simulator`, written by the recorder's :class:`FFV1Writer`), generated
once into a cache folder (``$IBL_BENCH_CACHE``, default ``<tmp>/ibl-video-bench``). Both
sides encode it with the archival set (crf 17, preset faster, yuv420p, all cores):

* ours: the ``CompressedVideo`` populate, i.e. job reservation, demux check of the raw
  file, encode with the full decode of its packets running beside it, demux and packet
  digest of the file, PSNR/SSIM on 30 frames, fsync, atomic rename and insert;
* baseline: ``ffmpeg -i raw.avi -c:v libx264 -crf 17 -preset faster -pix_fmt yuv420p
  -threads 0 out.mp4``, what IBL runs (with preset slow).

``ratio`` = our seconds / plain seconds; the extra is the verification. The measured call
is :data:`MEASURED` (one function of ``(raw_path, out_dir)``), so the same row can later
time the ``CompressedVideo`` populate instead.

``IBL_BENCH_COMPRESS_SECONDS`` shortens the video (default 60 s; a 60 s encode takes a few
minutes on two cores).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from bench import BenchResult, row
from bench.common import cache_dir
from pipeline.compression import COMPRESSION_SETS
from pipeline.io.containers import avi_header_frames
from pipeline.io.ffmpeg import ffmpeg_exe

WIDTH, HEIGHT, FPS = 1280, 1024, 60.0
SETTINGS = COMPRESSION_SETS["archival"]


def duration_s() -> float:
    """Video duration for the row, seconds (``$IBL_BENCH_COMPRESS_SECONDS``, default 60)."""
    value = float(os.environ.get("IBL_BENCH_COMPRESS_SECONDS", "60"))
    if not value > 0:
        raise ValueError(f"IBL_BENCH_COMPRESS_SECONDS must be positive, got {value}")
    return value


def bench_raw_video(
    seconds: float, *, width: int = WIDTH, height: int = HEIGHT, fps: float = FPS
) -> Path:
    """The cached raw FFV1 AVI of the simulated left camera (generated on first use).

    Returns the path; generation writes a hidden temporary file and renames it, so an
    interrupted generation never leaves a file that looks complete.
    """
    from acquisition.recorder import FFV1Writer
    from acquisition.simulator import Behaviour, MouseScene

    n = int(round(seconds * fps))
    path = cache_dir() / f"compress_left_{width}x{height}_{fps:g}Hz_{n}frames.avi"
    if path.is_file() and avi_header_frames(path) == n:
        return path
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.partial.avi")
    scene = MouseScene(Behaviour(seconds + 1.0, seed=0), "left", width, height, seed=0)
    writer = FFV1Writer(tmp, width, height, fps)
    closed = False
    try:
        chunk = np.empty((60, height, width), np.uint8)
        for start in range(0, n, len(chunk)):
            times = np.arange(start, min(start + len(chunk), n)) / fps
            for frame in scene.render(times, out=chunk[: len(times)]):
                writer.write(frame)
        writer.close()
        closed = True
        os.replace(tmp, path)
    finally:
        if not closed:
            with contextlib.suppress(Exception):
                writer.close()
        tmp.unlink(missing_ok=True)
    return path


def compress_plain(raw_path: Path, out_dir: Path) -> Path:
    """The baseline: one plain ffmpeg command with the same encoder options."""
    out = out_dir / "plain.mp4"
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y", "-i", str(raw_path),
           *SETTINGS.ffmpeg_args(), "-threads", "0", str(out)]  # fmt: skip
    subprocess.run(cmd, check=True)
    return out


@row("compress-vs-ffmpeg")
def compress_vs_ffmpeg(seconds: float | None = None) -> BenchResult:
    """Time the ``CompressedVideo`` populate (archival set) against :func:`compress_plain` on the same raw file."""
    from bench.common import session_with_video, throwaway_pipeline

    seconds = duration_s() if seconds is None else float(seconds)
    raw = bench_raw_video(seconds)
    with tempfile.TemporaryDirectory(prefix="bench-compress-") as tmp, throwaway_pipeline() as settings:
        from schemas.compression import CompressedVideo
        from schemas.session import CameraRecording

        out_dir = Path(tmp)
        from schemas.compression import RigCompression

        key = session_with_video(settings, raw)
        RigCompression.insert1(dict(rig_type="training", compression_params="archival"), skip_duplicates=True)
        CameraRecording.populate(key)  # ingest (reads the file once: warm page cache for both sides)
        t0 = time.perf_counter()
        plain = compress_plain(raw, out_dir)
        plain_s = time.perf_counter() - t0
        target = dict(key, camera_label="left", compression_params="archival")
        t0 = time.perf_counter()
        result = CompressedVideo.populate(target, reserve_jobs=True, suppress_errors=True)
        ours_s = time.perf_counter() - t0
        if result["error_list"] or result["success_count"] != 1:
            raise RuntimeError(f"CompressedVideo populate failed: {result}")
        ours = (CompressedVideo & target).fetch1()
        plain_size = plain.stat().st_size
    n = int(round(seconds * FPS))
    note = (
        f"{n} frames {WIDTH}x{HEIGHT} {FPS:g} Hz FFV1 ({raw.stat().st_size / 1e6:.0f} MB), crf {SETTINGS.crf} {SETTINGS.preset}; "
        f"ours {ours['file_size'] / 1e6:.1f} MB (plain {plain_size / 1e6:.1f} MB), encode with full decode beside it "
        f"{ours['encode_seconds']:.1f} s + verify {ours['verify_seconds']:.1f} s (packet digest, PSNR {ours['psnr_db']:.1f} dB "
        f"/ SSIM {ours['ssim']:.3f} on {ours['n_quality_frames']} frames); target <= 1.10"
    )
    return BenchResult(
        row="compress-vs-ffmpeg",
        seconds=ours_s,
        baseline="plain ffmpeg libx264 command line, same options",
        baseline_seconds=plain_s,
        ratio=ours_s / plain_s,
        note=note,
    )


@row("compression-dlc-study")
def compression_dlc_study(
    crfs: tuple[int, ...] | None = None, settings=None
) -> BenchResult:
    """Time ``ibl-video compression study --from-simulator --quick`` (its function) and the part
    of it that is DeepLabCut's ``train_network``.

    ``ratio`` = whole study / training: how much the study costs beyond training the networks
    (simulating and encoding the video, decoding and cropping the labelled frames, making the
    DeepLabCut projects, evaluating). ``IBL_BENCH_DLC_STUDY_EPOCHS``,
    ``IBL_BENCH_DLC_STUDY_SECONDS`` (the video) and ``IBL_BENCH_DLC_STUDY_CRFS``
    (comma-separated) shrink it for a smoke run.
    """
    from dataclasses import replace

    from pipeline import compression_dlc as cd
    from populate.models import simulated_labelled_video

    settings = settings or cd.QUICK
    if os.environ.get("IBL_BENCH_DLC_STUDY_SECONDS"):
        settings = replace(settings, duration_s=float(os.environ["IBL_BENCH_DLC_STUDY_SECONDS"]))
    if os.environ.get("IBL_BENCH_DLC_STUDY_EPOCHS"):
        epochs = int(os.environ["IBL_BENCH_DLC_STUDY_EPOCHS"])
        settings = replace(settings, training=replace(settings.training, epochs=epochs))
    if crfs is None:
        env = os.environ.get("IBL_BENCH_DLC_STUDY_CRFS")
        crfs = tuple(int(c) for c in env.split(",")) if env else (17, 23, 29, 35, 41, 47)
    with tempfile.TemporaryDirectory(prefix="bench-dlc-study-") as tmp:
        t0 = time.perf_counter()
        video = simulated_labelled_video(Path(tmp) / "labelled", duration_s=settings.duration_s,
                                         n_labels=settings.n_labels, seed=0)  # fmt: skip
        with contextlib.redirect_stdout(open(os.devnull, "w")):  # DeepLabCut's epoch lines
            table, per_split, timing = cd.dlc_error_study(video, crfs, "faster", Path(tmp), settings, progress=False)
        total = time.perf_counter() - t0
    train = timing["train_seconds"]
    return BenchResult(
        row="compression-dlc-study",
        seconds=total,
        baseline="DeepLabCut train_network inside it",
        baseline_seconds=train,
        ratio=total / train,
        note=(f"{len(table)} crf x {settings.splits} splits = {len(per_split)} networks, "
              f"{settings.n_labels} labelled eye crops ({table['n_train'].iloc[0]} train), {settings.training.epochs} epochs; "
              f"training {100 * train / total:.0f}% of the study, encoding {timing['encode_seconds']:.0f} s; "
              f"test error {table['test_error_px'].min():.2f}-{table['test_error_px'].max():.2f} px"),
    )  # fmt: skip
