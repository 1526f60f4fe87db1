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
