"""CompressedVideo, TrainingClips and raw-file removal on every backend (real ffmpeg)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def session(db):
    """A short simulated ephys session (small frames), ingested and synced."""
    from acquisition.insert import insert_recording
    from acquisition.session import record_session
    from schemas.session import CameraRecording
    from schemas.sync import SyncPulses

    rec = record_session(db.data_root, "COMP01", "ephys", 10.0, scale=0.25, seed=3, progress=False)
    key = insert_recording(rec)
    CameraRecording.populate(key, reserve_jobs=True, suppress_errors=True)
    SyncPulses.populate(key, reserve_jobs=True, suppress_errors=True)
    from schemas.compression import RigCompression

    # this lab encodes its recording rigs with every set (default: archival only)
    RigCompression.insert([dict(rig_type="ephys", compression_params=p) for p in ("training", "compact")])
    return key


def test_each_set_verified_and_ordered(db, session):
    from pipeline.io.video import probe_video
    from schemas.compression import CompressedVideo
    from schemas.session import CameraRecording

    left = dict(session, camera_label="left")
    restriction = [dict(left, compression_params=p) for p in ("archival", "training", "compact")]
    result = CompressedVideo.populate(restriction, reserve_jobs=True, suppress_errors=True)
    assert result["error_list"] == []
    rows = {r["compression_params"]: r for r in (CompressedVideo & left).to_dicts()}
    assert set(rows) == {"archival", "training", "compact"}
    raw = (CameraRecording & left).fetch1()
    for r in rows.values():
        info = probe_video(db.data_root / r["compressed_video_path"])
        assert (info.n_frames, info.width, info.height) == (raw["n_frames"], raw["width"], raw["height"])
        assert r["n_frames"] == raw["n_frames"]
    assert rows["archival"]["psnr_db"] > rows["compact"]["psnr_db"]
    assert rows["compact"]["file_size"] < rows["training"]["file_size"] < rows["archival"]["file_size"]
    assert rows["archival"]["compression_ratio"] > 1


def test_training_clips_for_compact_set(db, session):
    from schemas.compression import CompressedVideo, TrainingClips

    body = dict(session, camera_label="body", compression_params="compact")
    CompressedVideo.populate(body, reserve_jobs=True, suppress_errors=True)
    result = TrainingClips.populate(body, reserve_jobs=True, suppress_errors=True)
    assert result["error_list"] == []
    master = (TrainingClips & body).fetch1()
    clips = (TrainingClips.Clip & body).to_dicts()
    assert master["n_clips"] == len(clips) >= 1
    assert [c["trial_index"] for c in clips] == list(range(0, master["n_trials"], 25))[: len(clips)]
    assert all(c["n_frames"] > 0 and (db.data_root / c["clip_path"]).is_file() for c in clips)
    # archival and training sets make no clips
    assert not TrainingClips.key_source & dict(session, compression_params="archival")


def test_cleanup_never_deletes_unverified_and_needs_apply(db, session):
    from schemas.compression import CompressedVideo, RawRemoval, remove_raw_files
    from schemas.session import CameraRecording

    left = dict(session, camera_label="left")
    right = dict(session, camera_label="right")  # no archival encode: never removable
    CompressedVideo.populate(dict(left, compression_params="archival"), reserve_jobs=True, suppress_errors=True)
    left_raw = db.data_root / (CameraRecording & left).fetch1("raw_video_path")
    right_raw = db.data_root / (CameraRecording & right).fetch1("raw_video_path")

    listed = remove_raw_files("archival", apply=False)
    assert [r["camera_label"] for r in listed if r["subject"] == "COMP01"] == ["left"]
    assert left_raw.exists() and right_raw.exists()  # listing deletes nothing

    removed = remove_raw_files("archival", apply=True)
    assert [r["camera_label"] for r in removed if r["subject"] == "COMP01"] == ["left"]
    assert not left_raw.exists() and right_raw.exists()
    assert (RawRemoval & left).fetch1("raw_checksum") == (CameraRecording & left).fetch1("checksum")
    assert remove_raw_files("archival", apply=True) == []


def test_cleanup_skips_an_encode_that_changed_on_disk(db, session):
    from schemas.compression import CompressedVideo, remove_raw_files

    body = dict(session, camera_label="body", compression_params="archival")
    CompressedVideo.populate(body, reserve_jobs=True, suppress_errors=True)
    encoded = db.data_root / (CompressedVideo & body).fetch1("compressed_video_path")
    encoded.write_bytes(encoded.read_bytes()[:1000])  # damaged after verification
    assert all(r["camera_label"] != "body" for r in remove_raw_files("archival", apply=True))


def test_truncated_raw_is_an_error_and_leaves_nothing(db):
    from acquisition.insert import insert_recording
    from acquisition.session import record_session
    from schemas.compression import COMPRESSED_DIR, CompressedVideo
    from schemas.session import CameraRecording

    rec = record_session(db.data_root, "COMP02", "ephys", 3.0, scale=0.25, seed=4, progress=False)
    key = insert_recording(rec)
    CameraRecording.populate(key, reserve_jobs=True, suppress_errors=True)
    left = dict(key, camera_label="left", compression_params="archival")
    raw = db.data_root / (CameraRecording & left).fetch1("raw_video_path")
    raw.write_bytes(raw.read_bytes()[: raw.stat().st_size // 2])
    # a temporary file from an encode killed earlier is cleaned up too
    out_dir = rec.folder / COMPRESSED_DIR / "archival"
    out_dir.mkdir(parents=True)
    (out_dir / "._iblrig_leftCamera.raw.abc123.partial.mp4").write_bytes(b"partial")
    result = CompressedVideo.populate(left, reserve_jobs=True, suppress_errors=True)
    (_, message), = result["error_list"]
    assert str(raw) in message
    assert not CompressedVideo & left
    assert list(out_dir.iterdir()) == []
    assert "_iblrig_leftCamera.raw.avi" in (CompressedVideo.jobs & {"status": "error"}).fetch1("error_message")


def test_storage_plan_selects_the_sets(db):
    from schemas.compression import CompressedVideo, RigCompression

    plan = {(r["rig_type"], r["compression_params"]) for r in RigCompression().to_dicts()}
    assert ("ephys", "archival") in plan and ("training", "training") in plan
    assert CompressedVideo.key_source & {"compression_params": "archival"}


def test_new_parameter_set_is_a_new_row(db):
    from schemas.compression import CompressionParams, add_params

    n = len(CompressionParams())
    add_params("crf23", 23, description="a lab's own choice")
    assert len(CompressionParams()) == n + 1
    from schemas.compression import CompressedVideo

    assert not CompressedVideo.key_source & {"compression_params": "crf23"}  # not in any rig's plan yet
    with pytest.raises(ValueError, match="already exist"):
        add_params("crf23_again", 23)
    assert np.isclose((CompressionParams & {"compression_params": "crf23"}).fetch1("crf"), 23)


def test_h264_raw_is_registered_not_reencoded_unless_the_set_asks(db):
    """IBL's rigs compress on the rig (``_iblrig_<label>Camera.raw.mp4``): ``training`` and
    ``archival`` register such a file as its own encode after a full decode; ``compact``
    (h264_raw="reencode") encodes it again; raw cleanup never removes the only copy."""
    import datetime as dt

    from pipeline.io.video import probe_video, write_video
    from schemas.compression import CompressedVideo, RigCompression, removable_raw_files
    from schemas.session import CameraRecording, insert_session

    folder = db.data_root / "H264" / "2026-01-02" / "001"
    (folder / "raw_video_data").mkdir(parents=True)
    raw = folder / "raw_video_data" / "_iblrig_leftCamera.raw.mp4"
    frames = (np.arange(90, dtype=np.int64)[:, None, None] * 3 % 251 + np.zeros((1, 64, 80), np.int64)).astype(np.uint8)
    write_video(raw, frames, 30.0, codec="libx264", extra=["-crf", "23", "-pix_fmt", "yuv420p"])
    assert probe_video(raw).codec == "h264"
    key = insert_session(folder, rig_type="training", start_time=dt.datetime(2026, 1, 2, 10, 0))
    CameraRecording.populate(key, reserve_jobs=True, suppress_errors=True)
    RigCompression.insert1(dict(rig_type="training", compression_params="compact"), skip_duplicates=True)
    try:
        assert CompressedVideo.populate(key, reserve_jobs=True, suppress_errors=True)["error_list"] == []
        rows = {r["compression_params"]: r for r in (CompressedVideo & key).to_dicts()}
        rel = (CameraRecording & key).fetch1("raw_video_path")
        registered, encoded = rows["training"], rows["compact"]
        assert registered["compressed_video_path"] == rel and registered["compression_ratio"] == 1.0
        assert registered["n_frames"] == 90 and registered["encode_seconds"] == 0.0 and registered["ssim"] == 1.0
        assert encoded["compressed_video_path"] != rel and encoded["encode_seconds"] > 0
        assert (db.data_root / encoded["compressed_video_path"]).is_file()
        assert all(r["raw_video_path"] != rel for r in removable_raw_files("training"))
    finally:
        (RigCompression & dict(rig_type="training", compression_params="compact")).delete(prompt=False)
