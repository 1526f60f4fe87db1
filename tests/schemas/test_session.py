"""Session and CameraRecording on every backend: insertion, ingest, bad input."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from pipeline import layout
from pipeline.io.framedata import FrameData, write_framedata
from pipeline.io.video import write_video


def make_session_folder(root, subject, number, labels=("left", "right", "body"), n=20, size=(48, 64)):
    """Write a session folder with small FFV1 videos and frameData for ``labels``."""
    folder = root / layout.session_folder(subject, "2026-11-25", number)
    video_dir = folder / layout.RAW_VIDEO_DIR
    video_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(number)
    for label in labels:
        frames = rng.integers(0, 255, (n, *size), dtype=np.uint8)
        write_video(video_dir / layout.raw_video_name(label), frames, 60)
        counter = np.arange(n)
        write_framedata(
            video_dir / layout.framedata_name(label),
            FrameData(counter / 60.0, np.zeros(n), counter, np.zeros(n, dtype=np.int64)),
        )
    return folder


def test_lookups_filled(db):
    from schemas.session import RigCamera

    left = (RigCamera & {"rig_type": "ephys", "camera_label": "left"}).fetch1()
    assert left["expected_fps"] == 60 and (left["expected_width"], left["expected_height"]) == (1280, 1024)
    right = (RigCamera & {"rig_type": "ephys", "camera_label": "right"}).fetch1()
    assert right["expected_fps"] == 150 and right["expected_width"] == 640
    assert len(RigCamera & {"rig_type": "training"}) == 1


def test_insert_and_ingest(db):
    from schemas.session import CameraRecording, Session, insert_session

    folder = make_session_folder(db.data_root, "SW001", 1)
    key = insert_session(folder, rig_type="ephys", start_time=dt.datetime(2026, 11, 25, 10, 0))
    assert (Session & key).fetch1("session_dir") == "SW001/2026-11-25/001"
    result = CameraRecording.populate(key, reserve_jobs=True, suppress_errors=True)
    assert result["error_list"] == []
    rows = (CameraRecording & key).to_dicts()
    assert sorted(r["camera_label"] for r in rows) == ["body", "left", "right"]
    for r in rows:
        assert (r["n_frames"], r["width"], r["height"]) == (20, 64, 48)
        assert r["raw_video_path"].startswith("SW001/2026-11-25/001/raw_video_data/")
        assert r["has_frame_data"]
        assert np.asarray(r["frame_data"]).shape == (20, 4)
        assert len(r["checksum"]) == 32
    # re-inserting the same session is refused
    with pytest.raises(ValueError, match="already in the Session table"):
        insert_session(folder, rig_type="ephys", start_time=dt.datetime(2026, 11, 25, 10, 0))


def test_bad_input_recorded_and_others_ingested(db):
    from schemas.session import CameraRecording, insert_session

    folder = make_session_folder(db.data_root, "SW002", 1)
    video_dir = folder / layout.RAW_VIDEO_DIR
    # corrupt the right video: keep the first 2 kB only
    right = video_dir / layout.raw_video_name("right")
    right.write_bytes(right.read_bytes()[:2048])
    # truncate the body frameData.bin by 5 bytes
    body_fd = video_dir / layout.framedata_name("body")
    body_fd.write_bytes(body_fd.read_bytes()[:-5])
    key = insert_session(folder, rig_type="ephys", start_time=dt.datetime(2026, 11, 25, 11, 0))
    result = CameraRecording.populate(key, reserve_jobs=True, suppress_errors=True)
    errors = {k["camera_label"]: msg for k, msg in result["error_list"]}
    assert set(errors) == {"right", "body"}
    assert str(right) in errors["right"]
    assert "truncated frameData" in errors["body"] and str(body_fd) in errors["body"]
    # the good recording is in, the bad ones left no row
    assert (CameraRecording & key).to_arrays("camera_label").tolist() == ["left"]
    # the errors are in the jobs table, with the file named
    jobs = (CameraRecording.jobs & {"status": "error"}).to_dicts()
    assert {j["camera_label"] for j in jobs} == {"right", "body"}
    assert any(str(right) in j["error_message"] for j in jobs)


def test_missing_video_and_unknown_camera(db):
    from schemas.session import CameraRecording, insert_session

    folder = make_session_folder(db.data_root, "SW003", 1, labels=("left", "right"))
    key = insert_session(folder, rig_type="ephys", start_time=dt.datetime(2026, 11, 25, 12, 0))
    result = CameraRecording.populate(key, reserve_jobs=True, suppress_errors=True)
    (bad_key, message), = result["error_list"]
    assert bad_key["camera_label"] == "body" and "no raw video for the body camera" in message

    folder = make_session_folder(db.data_root, "SW004", 1, labels=("left",))
    (folder / layout.RAW_VIDEO_DIR / layout.raw_video_name("top")).write_bytes(b"")
    with pytest.raises(ValueError, match="unknown camera label.*top"):
        insert_session(folder, rig_type="training", start_time=dt.datetime(2026, 11, 25, 12, 0))


def test_session_folder_must_exist_and_stay_under_root(db, tmp_path):
    from pipeline.layout import DataRootError
    from schemas.session import insert_session

    with pytest.raises(FileNotFoundError, match="session folder not found"):
        insert_session(db.data_root / "nobody/2026-01-01/001", rig_type="ephys", start_time=dt.datetime.now())
    outside = tmp_path / "elsewhere" / "S" / "2026-01-01" / "001"
    outside.mkdir(parents=True)
    with pytest.raises(DataRootError, match="outside the data root"):
        insert_session(outside, rig_type="ephys", start_time=dt.datetime.now())
    with pytest.raises(ValueError, match="unknown rig type"):
        folder = make_session_folder(db.data_root, "SW005", 1, labels=("left",))
        insert_session(folder, rig_type="nope", start_time=dt.datetime.now())
