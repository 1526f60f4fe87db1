"""``python -m bench ... --json`` prints only JSON on stdout (issue 19): whatever a row or
its libraries print (Python's print, a logging handler on stdout, a subprocess writing to
file descriptor 1) goes to stderr while the rows run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

NOISY_ROW = textwrap.dedent(
    """
    import logging, subprocess, sys
    import bench
    from bench.__main__ import main

    chatty = logging.getLogger("chatty")
    chatty.addHandler(logging.StreamHandler(sys.stdout))  # made before the run, as DataJoint's is
    chatty.setLevel(logging.INFO)

    @bench.row("noisy")
    def noisy():
        print("a print on stdout")
        chatty.info("a log line on stdout")
        subprocess.run(["echo", "a subprocess on fd 1"], check=True)
        return bench.BenchResult("noisy", 1.0, "nothing", 2.0, 0.5)

    bench.load_rows = lambda: bench.ROWS
    sys.exit(main(["noisy", "--json"]))
    """
)


def test_json_output_of_a_noisy_row_parses():
    done = subprocess.run([sys.executable, "-c", NOISY_ROW], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [
        {"row": "noisy", "seconds": 1.0, "baseline": "nothing", "baseline_seconds": 2.0, "ratio": 0.5, "note": ""}
    ]
    for noise in ("a print on stdout", "a log line on stdout", "a subprocess on fd 1"):
        assert noise in done.stderr


#: every row on tiny inputs (the figures are the bench's business, not this test's)
TINY = dict(
    IBL_BENCH_COMPRESS_SECONDS="0.5", IBL_BENCH_CROP_SECONDS="0.5", IBL_BENCH_POSE_FRAMES="60", IBL_BENCH_PAWS_FRAMES="8",
    IBL_BENCH_POPULATE_SECONDS="2", IBL_BENCH_INGEST_SECONDS="1", BENCH_PUPIL_BASELINE_FRAMES="3000", BENCH_SIMULATE_FRAMES="60",
    IBL_BENCH_DLC_STUDY_EPOCHS="1", IBL_BENCH_DLC_STUDY_SECONDS="2", IBL_BENCH_DLC_STUDY_CRFS="23,41",
)  # fmt: skip


@pytest.mark.slow
def test_json_output_of_every_row_parses(tmp_path, pose_model_infos):  # the pose row reuses the cached networks
    from bench import load_rows

    env = {**os.environ, **TINY, "IBL_BENCH_CACHE": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "bench", "--json"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=1800)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads(done.stdout)
    assert [r["row"] for r in rows] == sorted(load_rows())
    assert all(r["seconds"] > 0 and r["baseline_seconds"] > 0 for r in rows)
