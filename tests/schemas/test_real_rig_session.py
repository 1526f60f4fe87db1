"""A training session laid out as IBL's rigs write it, around a real iblrig Bpod file
(ibllib's ``session_training_ge5``): registered from its task settings alone, and its frames
timed from the Bpod's ``Port1In`` events (issue 15)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.io.iblrig import TASK_DATA, TASK_SETTINGS, read_task_data
from pipeline.layout import RAW_BEHAVIOR_DIR, RAW_VIDEO_DIR

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT / "tests" / "data" / "iblrig" / "session_training_ge5" / RAW_BEHAVIOR_DIR
FPS = 30.0  # the training rig's left camera
BPOD_RESOLUTION_S = 1e-4


def expected_frames(rises: np.ndarray, intervals: np.ndarray) -> int:
    """Frames a camera running through the session makes: one per pulse the Bpod saw, plus
    round(gap * fps) - 1 in each gap between trials' pulse trains."""
    trial_of = np.searchsorted(intervals[:, 0], rises, side="right") - 1
    firsts = [rises[trial_of == i][0] for i in np.unique(trial_of)]
    lasts = [rises[trial_of == i][-1] for i in np.unique(trial_of)]
    gaps = np.asarray(firsts[1:]) - np.asarray(lasts[:-1])
    return len(rises) + int(np.sum(np.round(gaps * FPS) - 1))


def make_real_session(data_root: Path, extra_frames: int = 0, number: str = "001") -> Path:
    """``_iblrig_test_mouse/2019-07-01/001`` with the real Bpod files and a small left-camera
    video of the length the Bpod's pulses and the between-trial gaps explain (no frameData),
    plus ``extra_frames``."""
    from pipeline.io.video import write_video

    folder = data_root / "_iblrig_test_mouse" / "2019-07-01" / number
    (folder / RAW_BEHAVIOR_DIR).mkdir(parents=True)
    for name in (TASK_SETTINGS, TASK_DATA):
        shutil.copy(REAL / name, folder / RAW_BEHAVIOR_DIR / name)
    bpod = read_task_data(REAL / TASK_DATA)
    n = expected_frames(bpod.camera_rises_s, bpod.trial_intervals_s) + extra_frames
    frames = (np.arange(n, dtype=np.int64)[:, None, None] * 7 % 251 + np.zeros((1, 48, 64), np.int64)).astype(np.uint8)
    (folder / RAW_VIDEO_DIR).mkdir()
    write_video(folder / RAW_VIDEO_DIR / "_iblrig_leftCamera.raw.avi", frames, FPS)
    return folder


@pytest.fixture(scope="module")
def real_session(db):
    from acquisition.insert import insert_recorded_session

    folder = make_real_session(db.data_root)
    key = insert_recorded_session(folder)  # no rig type, no start time: the task settings say
    return key, folder


def test_registered_from_task_settings(db, real_session):
    import datetime as dt

    from schemas.session import Session

    key, _ = real_session
    assert key == {"subject": "_iblrig_test_mouse", "session_date": "2019-07-01", "session_number": 1}
    row = (Session & key).fetch1()
    assert row["rig_type"] == "training"
    assert abs(row["session_start_time"] - dt.datetime(2019, 7, 1, 12, 15, 18, 145140)) < dt.timedelta(seconds=1)


def test_in_trial_frames_at_their_port1in_times(db, real_session):
    from schemas.session import CameraRecording
    from schemas.sync import SyncPulses

    key, folder = real_session
    for table in (CameraRecording, SyncPulses):
        result = table.populate(key, reserve_jobs=True, suppress_errors=True)
        assert result["error_list"] == [], result["error_list"]
    row = (SyncPulses & key & {"camera_label": "left"}).fetch1()
    n = (CameraRecording & key & {"camera_label": "left"}).fetch1("n_frames")
    times = np.asarray(row["frame_times"])
    assert row["clock"] == "bpod" and times.shape == (n,) and np.all(np.diff(times) > 0)
    bpod = read_task_data(folder / RAW_BEHAVIOR_DIR / TASK_DATA)
    measured = ~np.asarray(row["is_extrapolated"])
    assert measured.sum() == len(bpod.camera_rises_s) == 3010
    # every in-trial frame's time is its Port1In time, to the Bpod's resolution
    assert np.max(np.abs(times[measured] - bpod.camera_rises_s)) <= BPOD_RESOLUTION_S


def test_video_longer_than_the_pulses_explain_is_an_error_naming_file_and_trial(db):
    """A video with a minute more frames than the Bpod's pulses and the gaps between trials
    explain (the wrong video, or a task stopped early) is refused, not extrapolated."""
    import json

    from acquisition.insert import insert_recorded_session
    from schemas.session import CameraRecording
    from schemas.sync import SyncPulses

    folder = make_real_session(db.data_root, extra_frames=int(60 * FPS), number="002")
    settings = folder / RAW_BEHAVIOR_DIR / TASK_SETTINGS
    content = json.loads(settings.read_text())
    content["SESSION_NUMBER"] = "002"
    settings.write_text(json.dumps(content))
    key = insert_recorded_session(folder)
    CameraRecording.populate(key, reserve_jobs=True, suppress_errors=True)
    result = SyncPulses.populate(key, reserve_jobs=True, suppress_errors=True)
    (_, message), = result["error_list"]
    assert f"1800 frames (59.9 s) have no pulse in {RAW_BEHAVIOR_DIR}/{TASK_DATA}" in message
    assert not (SyncPulses & key)
    job = (SyncPulses.jobs & key & {"status": "error"}).fetch1("error_message")
    assert f"{RAW_BEHAVIOR_DIR}/{TASK_DATA}" in job and "(last pulse in trial 12 of 12)" in job


def test_cli_inserts_with_no_options_and_explains_a_bare_folder(tmp_path):
    root = tmp_path / "root"
    folder = make_real_session(root)
    bare = root / "m2" / "2020-01-01" / "001"
    (bare / RAW_VIDEO_DIR).mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJ_", "IBL_VIDEO_"))}
    env.update(IBL_VIDEO_DATA_ROOT=str(root), IBL_VIDEO_DATABASE="embedded")

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "populate.cli", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=300)  # fmt: skip

    done = cli("session", "insert", str(folder))
    assert done.returncode == 0, done.stderr
    assert "_iblrig_test_mouse/2019-07-01/001" in done.stdout
    done = cli("session", "insert", str(bare))
    assert done.returncode == 2
    message = "".join(done.stderr.split())  # the console wraps long lines
    assert f"{bare / RAW_BEHAVIOR_DIR / TASK_SETTINGS}" in message and "givetherigtypeandstarttime" in message


def test_older_camera_metadata_files_are_the_recordings_frame_data(db):
    """A recording with IBL's three older metadata files (no frameData.bin) ingests them."""
    import datetime as dt

    from acquisition.insert import insert_recorded_session
    from pipeline.io.video import write_video
    from schemas.session import CameraRecording, frame_data_array

    legacy = ROOT / "tests" / "data" / "iblrig" / "session_ephys" / RAW_VIDEO_DIR
    folder = db.data_root / "legacy_mouse" / "2020-08-19" / "001"
    (folder / RAW_VIDEO_DIR).mkdir(parents=True)
    for p in legacy.iterdir():  # the real body camera's files, as the left camera of a training rig
        text = p.read_bytes()
        if p.suffix == ".ssv":  # ibllib keeps 6001 lines beside 510 frames: the first 510
            text = b"".join(text.splitlines(keepends=True)[:510])
        (folder / RAW_VIDEO_DIR / p.name.replace("body", "left")).write_bytes(text)
    write_video(folder / RAW_VIDEO_DIR / "_iblrig_leftCamera.raw.avi", np.zeros((510, 48, 64), np.uint8), FPS)
    key = insert_recorded_session(folder, rig_type="training", start_time=dt.datetime(2020, 8, 19, 12, 42, 57))
    result = CameraRecording.populate(key, reserve_jobs=True, suppress_errors=True)
    assert result["error_list"] == []
    rec_key = {**key, "camera_label": "left"}
    assert (CameraRecording & rec_key).fetch1("has_frame_data")
    fd = frame_data_array(rec_key)
    assert fd.shape == (510, 4) and fd[0, 2] == 16696704 and np.all(np.diff(fd[:, 2]) == 1)
