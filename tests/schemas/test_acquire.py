"""The acquisition script's path: record, insert, ingest (simulated and pylon-emulated cameras)."""

from __future__ import annotations

import threading

import numpy as np
import pytest


def test_simulated_session_recorded_inserted_and_ingested(db):
    from acquisition.insert import insert_recorded_session, insert_recording
    from acquisition.session import record_session
    from acquisition.simulator import simulated_subject
    from schemas.session import CameraRecording, Session, Subject

    rec = record_session(db.data_root, "SIM01", "ephys", 3.0, scale=0.25, seed=2, progress=False)
    key = insert_recording(rec)
    assert (Session & key).fetch1("session_uuid") == rec.uuid
    # the simulator's mouse, kept in session.json, is the session's Subject row
    subject = (Subject & key).fetch1()
    want = simulated_subject("SIM01")
    assert (subject["sex"], str(subject["date_of_birth"]), subject["species"], subject["strain"]) == (
        want["sex"], want["date_of_birth"], "Mus musculus", "C57BL/6J")  # fmt: skip
    result = CameraRecording.populate(key, reserve_jobs=True, suppress_errors=True)
    assert result["error_list"] == []
    rows = {r["camera_label"]: r for r in (CameraRecording & key).to_dicts()}
    assert set(rows) == {"left", "right", "body"}
    for label, r in rows.items():
        assert r["n_frames"] == rec.cameras[label].n_frames
        frame_data = np.asarray(r["frame_data"])
        assert frame_data.shape == (r["n_frames"], 4)
        assert np.all(np.diff(frame_data[:, 2]) >= 1)  # frame counter increases
    with pytest.raises(ValueError, match="already in the Session table"):
        insert_recorded_session(rec.folder)


def test_interrupted_session_is_never_inserted(db):
    from acquisition.insert import insert_recorded_session, insert_recording
    from acquisition.session import IncompleteSessionError, record_session
    from schemas.session import Session

    stop = threading.Event()
    stop.set()  # as if Ctrl-C came at once
    rec = record_session(db.data_root, "SIM02", "ephys", 3.0, scale=0.25, progress=False, stop_event=stop)
    assert rec.interrupted and not rec.complete
    with pytest.raises(ValueError, match="interrupted"):
        insert_recording(rec)
    with pytest.raises(IncompleteSessionError, match="recording.complete"):
        insert_recorded_session(rec.folder)
    assert not (Session & {"subject": "SIM02"})


def test_pylon_emulated_session_inserted_and_ingested(db, monkeypatch):
    pytest.importorskip("pypylon", reason="pypylon is a dev dependency")
    from acquisition.insert import insert_recording
    from acquisition.session import record_session
    from schemas.session import CameraRecording

    monkeypatch.setenv("PYLON_CAMEMU", "3")
    rec = record_session(
        db.data_root, "PYLON01", "ephys", 0.5, backend="pylon", scale=0.25, progress=False,
        camera_options={"emulation": 3},
    )  # fmt: skip
    assert rec.complete
    key = insert_recording(rec)
    result = CameraRecording.populate(key, reserve_jobs=True, suppress_errors=True)
    assert result["error_list"] == []
    rows = (CameraRecording & key).to_dicts()
    assert len(rows) == 3
    assert all(r["n_frames"] == rec.cameras[r["camera_label"]].n_frames > 0 for r in rows)
