"""The bench row ``populate-2-workers`` runs end to end on tiny sessions and cleans up.

Its speed is the bench's business (``python -m bench populate-2-workers``); here only that
the row drives the real ``ibl-video populate --workers 1`` and ``--workers 2`` on the same
4 pending keys, checks them, reports both runs and leaves no data root behind.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from bench import rows_populate


def test_duration_must_leave_frames(monkeypatch):
    monkeypatch.setenv("IBL_BENCH_POPULATE_SECONDS", "1")
    with pytest.raises(ValueError, match="more than 1"):
        rows_populate.duration_s()
    monkeypatch.setenv("IBL_BENCH_POPULATE_SECONDS", "2.5")
    assert rows_populate.duration_s() == 2.5


def test_key_text_of_the_log_matches_the_key():
    key = {
        "subject": "m",
        "session_date": "2025-01-01",
        "session_number": 3,
        "camera_label": "left",
    }
    text = "subject=m session_date=2025-01-01 session_number=3 camera_label=left"
    assert rows_populate._parse_key(text) == rows_populate._key_id(key.items())


@pytest.mark.slow
def test_row_runs_on_tiny_sessions(tmp_path, monkeypatch):
    monkeypatch.setenv("IBL_BENCH_CACHE", str(tmp_path / "cache"))
    before = set(Path(tempfile.gettempdir()).glob("ibl-video-bench-populate-*"))
    result = rows_populate.populate_2_workers(seconds=1.2)
    assert result.row == "populate-2-workers"
    assert result.seconds > 0 and result.baseline_seconds > 0
    assert result.ratio == pytest.approx(result.seconds / result.baseline_seconds)
    assert "each key computed once" in result.note and "target <= 0.6" in result.note
    assert "x264 SEI threads=1" in result.note
    assert set(Path(tempfile.gettempdir()).glob("ibl-video-bench-populate-*")) <= before
