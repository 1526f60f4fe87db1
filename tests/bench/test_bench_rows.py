"""Bench rows run end to end on tiny inputs, so a row that silently measures nothing fails here.

The figures themselves are measured by ``python -m bench`` (ratios, never timed tests).
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_compress_vs_ffmpeg_row_populates_one_key(tmp_path, monkeypatch):
    monkeypatch.setenv("IBL_BENCH_CACHE", str(tmp_path))
    from bench.rows_compress import compress_vs_ffmpeg

    result = compress_vs_ffmpeg(seconds=0.5)
    assert result.row == "compress-vs-ffmpeg"
    assert result.seconds > 0 and result.baseline_seconds > 0
    assert result.ratio == pytest.approx(result.seconds / result.baseline_seconds)
    assert "30 frames" in result.note and "PSNR" in result.note


def test_crop_single_pass_row_writes_every_region(tmp_path, monkeypatch):
    monkeypatch.setenv("IBL_BENCH_CACHE", str(tmp_path))
    monkeypatch.setenv("IBL_BENCH_CROP_SECONDS", "0.5")
    from bench.rows_pose import crop_single_pass

    result = crop_single_pass()
    assert result.row == "crop-single-pass" and result.seconds > 0 and result.baseline_seconds > 0
    assert "4 crops" in result.note


def test_features_row_computes_both_lick_methods_from_the_store():
    from bench.rows_features import features_1h_150hz

    result = features_1h_150hz()
    assert result.row == "features-1h-150hz" and result.seconds > 0 and result.baseline_seconds > 0
    assert "licks by both methods" in result.note and "target: features under 200 ms" in result.note


@pytest.mark.parametrize("name, env, size", [("pose-vs-dlc", "IBL_BENCH_POSE_FRAMES", "100x100"),
                                             ("pose-paws", "IBL_BENCH_PAWS_FRAMES", "450x374")])  # fmt: skip
def test_pose_rows_time_both_runtimes_and_deeplabcut(monkeypatch, name, env, size):
    """Both pose rows run DLCPose's inference and analyze_videos on the same small video in one run."""
    from bench.rows_pose import pose_paws, pose_vs_dlc

    monkeypatch.setenv(env, "24")
    result = (pose_vs_dlc if name == "pose-vs-dlc" else pose_paws)()
    assert result.row == name and result.seconds > 0 and result.baseline_seconds > 0
    assert result.ratio == pytest.approx(result.seconds / result.baseline_seconds)
    assert result.baseline == "deeplabcut.analyze_videos, same video and model"
    assert f"24 frames {size}" in result.note and "run_pose runtime pytorch" in result.note
    assert ("4 body parts" if name == "pose-vs-dlc" else "8 body parts") in result.note


def test_profile_pose_times_every_part(capsys):
    """``python -m bench.profile_pose`` (the issue's breakdown) runs on a short eye video and prints JSON only."""
    import json

    from bench.profile_pose import main

    assert main(["--frames", "64", "--json"]) == 0
    parts = json.loads(capsys.readouterr().out)
    assert len(parts) == 19 and all(s >= 0 for s in parts.values())
    for name in ("decode ffmpeg grey (ours)", "decode OpenCV + BGR->RGB (analyze_videos)", "median filter, 5 frames (DLCPose)",
                 "network, PyTorch, 1 thread(s), channels-first", "network + predictor, ONNX Runtime, 2 thread(s)"):  # fmt: skip
        assert parts[name] > 0, name
    assert main(["--size", "640x480"]) == 2


def test_compression_dlc_study_row_says_how_much_is_training(monkeypatch):
    """The row runs the real study (2 crfs, 1 epoch) and splits its time into training and the rest."""
    from bench.rows_compress import compression_dlc_study

    monkeypatch.setenv("IBL_BENCH_DLC_STUDY_EPOCHS", "1")
    monkeypatch.setenv("IBL_BENCH_DLC_STUDY_CRFS", "23,41")
    monkeypatch.setenv("IBL_BENCH_DLC_STUDY_SECONDS", "2")
    result = compression_dlc_study()
    assert result.row == "compression-dlc-study"
    assert 0 < result.baseline_seconds < result.seconds
    assert result.ratio == pytest.approx(result.seconds / result.baseline_seconds)
    assert "2 crf x 2 splits = 4 networks" in result.note and "% of the study" in result.note
