"""Whole sessions: simulated and pylon-emulated recordings in IBL's folder layout."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import threading

import numpy as np
import pytest

from acquisition.daq import DaqConfig, load_daq_files, load_truth
from acquisition.session import (
    COMPLETE_MARKER,
    IncompleteSessionError,
    next_session_number,
    read_session_folder,
    record_session,
)
from acquisition.simulator import Behaviour, MouseScene
from pipeline.io.framedata import read_framedata
from pipeline.io.video import probe_video, read_frames
from pipeline.layout import find_raw_videos

DATE = dt.date(2024, 5, 1)


@pytest.fixture(scope="module")
def ephys_session(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    rec = record_session(
        root, "SIM001", "ephys", 3.0, date=DATE, scale=0.25, seed=3,
        daq_config=DaqConfig(seed=3, drop_rate=0.02), progress=False,
    )  # fmt: skip
    return root, rec


def test_simulated_session_has_the_ibl_layout(ephys_session):
    root, rec = ephys_session
    assert rec.folder == root / "SIM001" / "2024-05-01" / "001"
    assert rec.complete and not rec.interrupted and rec.number == 1
    assert (rec.folder / COMPLETE_MARKER).is_file()
    videos = find_raw_videos(rec.folder)
    assert sorted(videos) == ["body", "left", "right"]
    for name in ("times", "channels", "polarities"):
        assert (rec.folder / f"raw_ephys_data/_spikeglx_sync.{name}.npy").is_file()
    assert (rec.folder / "raw_behavior_data/_iblrig_taskData.raw.jsonable").is_file()
    assert load_daq_files(rec.folder).fpga_sync is not None
    desc = json.loads((rec.folder / "session.json").read_text())
    assert (desc["subject"], desc["date"], desc["number"], desc["rig_type"]) == (
        "SIM001",
        "2024-05-01",
        1,
        "ephys",
    )
    assert (
        desc["uuid"] == rec.uuid and dt.datetime.fromisoformat(desc["start_time"]) == rec.start_time
    )


def test_simulated_session_videos_match_frame_data_and_truth(ephys_session):
    _, rec = ephys_session
    truth = load_truth(rec.folder)
    sizes = {"left": (320, 256), "right": (160, 128), "body": (320, 256)}
    for label, res in rec.cameras.items():
        info = probe_video(res.path)
        fd = read_framedata(res.framedata_path)
        timing = truth.timing[label]
        assert info.codec == "ffv1" and (info.width, info.height) == sizes[label]
        assert info.n_frames == len(fd) == res.n_frames == timing.n_frames
        np.testing.assert_array_equal(fd.frame_counter, timing.frame_counter)
        np.testing.assert_array_equal(fd.camera_timestamp, timing.camera_timestamp)
        np.testing.assert_array_equal(fd.gpio, timing.gpio)
        assert res.n_counter_gaps == len(timing.dropped_indices) > 0
        # computer times keep the simulated arrival intervals
        np.testing.assert_allclose(
            np.diff(fd.computer_time), np.diff(timing.computer_time_s), atol=1e-6
        )
    # lossless: the recorded frames are the simulator's frames
    left = rec.cameras["left"]
    scene = MouseScene(Behaviour(3.0, seed=3), "left", 320, 256, seed=3)
    first = read_frames(left.path, 320, 256, start=0, count=2)
    np.testing.assert_array_equal(first, scene.render(truth.timing["left"].frame_times_s[:2]))


def test_read_session_folder_and_next_number(ephys_session):
    root, rec = ephys_session
    info = read_session_folder(rec.folder)
    assert (info.subject, info.date, info.number, info.rig_type) == ("SIM001", DATE, 1, "ephys")
    assert info.simulated and info.uuid == rec.uuid
    assert (
        info.cameras["right"].fps == 150.0
        and info.cameras["right"].n_frames == rec.cameras["right"].n_frames
    )
    assert info.cameras["left"].video_path == rec.cameras["left"].path
    assert all(p.is_file() for p in info.daq_files)
    assert next_session_number(root, "SIM001", DATE) == 2
    assert next_session_number(root, "SIM001", "2024-05-02") == 1


def test_training_session_numbering_and_refusals(tmp_path):
    rec = record_session(
        tmp_path, "SIM002", "training", 2.0, date=DATE, scale=0.125, progress=False
    )
    assert list(rec.cameras) == ["left"] and rec.cameras["left"].n_frames == 30
    assert not (rec.folder / "raw_ephys_data").exists()  # no FPGA on a training rig
    again = record_session(
        tmp_path, "SIM002", "training", 2.0, date=DATE, scale=0.125, progress=False
    )
    assert again.number == 2 and again.folder.name == "002"
    with pytest.raises(FileExistsError, match="001"):
        record_session(tmp_path, "SIM002", "training", 2.0, date=DATE, number=1, progress=False)
    with pytest.raises(ValueError, match="not distinct cameras of rig 'training'"):
        record_session(tmp_path, "SIM002", "training", 2.0, cameras=["body"], progress=False)
    with pytest.raises(ValueError, match="unknown rig type"):
        record_session(tmp_path, "SIM002", "bench", 2.0, progress=False)
    with pytest.raises(ValueError, match="subject"):
        record_session(tmp_path, "../x", "training", 2.0, progress=False)


def test_read_session_folder_refuses_tampered_sessions(tmp_path):
    rec = record_session(
        tmp_path, "SIM003", "training", 2.0, date=DATE, scale=0.125, progress=False
    )
    video = rec.cameras["left"].path
    with open(video, "ab") as f:
        f.write(b"x")
    with pytest.raises(ValueError, match="_iblrig_leftCamera.raw.avi has"):
        read_session_folder(rec.folder)
    (rec.folder / COMPLETE_MARKER).unlink()
    with pytest.raises(IncompleteSessionError, match="recording.complete"):
        read_session_folder(rec.folder)


def test_ctrl_c_leaves_an_interrupted_session_that_is_refused(tmp_path):
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("SIGINT is delivered to the main thread only")
    timer = threading.Timer(0.5, os.kill, args=(os.getpid(), signal.SIGINT))
    timer.start()
    rec = record_session(
        tmp_path, "SIM004", "training", 20.0, date=DATE, scale=0.125, realtime=True, progress=False
    )
    timer.join()
    assert rec.interrupted and not rec.complete
    assert not (rec.folder / COMPLETE_MARKER).exists()
    res = rec.cameras["left"]
    assert res.stop_reason == "interrupted" and 0 < res.n_frames < 600
    assert probe_video(res.path).n_frames == res.n_frames == len(read_framedata(res.framedata_path))
    with pytest.raises(IncompleteSessionError, match="recording.complete is missing.*interrupted"):
        read_session_folder(rec.folder)


def test_pylon_emulated_session_is_recorded(tmp_path, monkeypatch):
    """Acceptance: a session recorded through pypylon's camera emulation (recording part)."""
    pytest.importorskip("pypylon")
    monkeypatch.setenv("PYLON_CAMEMU", "1")
    rec = record_session(
        tmp_path, "PYL001", "training", 0.4, date=DATE, backend="pylon", scale=0.25,
        replay_simulation=True, progress=False,
    )  # fmt: skip
    assert rec.complete and rec.backend == "pylon"
    info = read_session_folder(rec.folder)
    cam = info.cameras["left"]
    assert (cam.width, cam.height, cam.fps) == (320, 256, 30.0)
    assert cam.settings["serial"] == "0815-0000"
    assert any("ChunkSelector" in m for m in cam.settings["missing_features"])
    fd = read_framedata(cam.framedata_path)
    assert probe_video(cam.video_path).n_frames == len(fd) == cam.n_frames >= 5
    np.testing.assert_array_equal(np.diff(fd.frame_counter), 1)
    assert np.median(np.diff(fd.computer_time)) == pytest.approx(1 / 30, abs=0.012)
    # the emulator replayed simulator frames: a mouse, not pylon's test pattern
    frames = read_frames(cam.video_path, 320, 256, count=2)
    assert 40 < frames.mean() < 120 and frames.std() > 10
    assert info.daq_files == []
