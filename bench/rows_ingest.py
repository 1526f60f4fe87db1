"""Row ``ingest-recording``: CameraRecording ingest against one plain ffmpeg decode."""

from __future__ import annotations

import os

from bench import BenchResult, row
from bench.common import lavfi_recording, session_with_video, throwaway_pipeline, timed
from pipeline.io.ffmpeg import run_ffmpeg


@row("ingest-recording")
def ingest_recording() -> BenchResult:
    duration = float(os.environ.get("IBL_BENCH_INGEST_SECONDS", "60"))
    video = lavfi_recording(duration, 1280, 1024, 60.0)
    baseline_s, _ = timed(run_ffmpeg, ["-v", "error", "-i", str(video), "-f", "null", "-"], path=video)
    with throwaway_pipeline() as settings:
        from schemas.session import CameraRecording

        key = session_with_video(settings, video)
        seconds, result = timed(CameraRecording.populate, key, reserve_jobs=True, suppress_errors=True)
        if result["error_list"] or result["success_count"] != 1:
            raise RuntimeError(f"ingest failed: {result}")
        n_frames = (CameraRecording & key).fetch1("n_frames")
    return BenchResult(
        row="ingest-recording",
        seconds=seconds,
        baseline="ffmpeg -i raw -f null - (one decode)",
        baseline_seconds=baseline_s,
        ratio=seconds / baseline_s,
        note=f"{duration:g} s 1280x1024 60 Hz FFV1, {n_frames} frames; ingest = decode-count + md5 + frameData + insert",
    )
