"""SyncPulses on simulated sessions with known truth, on every backend."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.io.daq import FPGA_SYNC, load_daq_files
from pipeline.layout import RAW_BEHAVIOR_DIR, RAW_EPHYS_DIR
from pipeline.rigs import FPGA_WIRINGS

FPGA_SAMPLE_S = 1 / 30000


@pytest.fixture(scope="module")
def ephys_session(db):
    """A 20 s simulated ephys session with 2% drops and extra pulses, ingested."""
    from acquisition.daq import DaqConfig
    from acquisition.insert import insert_recording
    from acquisition.session import record_session
    from schemas.session import CameraRecording

    config = DaqConfig(seed=5, drop_rate=0.02, extra_pulses_start=4, extra_pulses_end=3, bpod_drift_ppm=50.0)
    rec = record_session(db.data_root, "SYNC01", "ephys", 20.0, scale=0.125, seed=5, daq_config=config, progress=False)
    key = insert_recording(rec)
    CameraRecording.populate(key, reserve_jobs=True, suppress_errors=True)
    return key, rec


def test_frame_times_match_truth(db, ephys_session):
    from acquisition.daq import load_truth
    from schemas.session import CameraRecording
    from schemas.sync import SyncPulses

    key, rec = ephys_session
    result = SyncPulses.populate(key, reserve_jobs=True, suppress_errors=True)
    assert result["error_list"] == []
    truth = load_truth(rec.folder)
    for row in (SyncPulses & key).to_dicts():
        label = row["camera_label"]
        n_frames = (CameraRecording & key & {"camera_label": label}).fetch1("n_frames")
        times = np.asarray(row["frame_times"])
        timing = truth.timing[label]
        assert row["clock"] == "fpga"
        assert times.shape == (n_frames,) and np.all(np.diff(times) > 0)
        measured = ~np.asarray(row["is_extrapolated"])
        err = np.abs(times - timing.frame_times_s[:n_frames])
        assert err[measured].max() <= FPGA_SAMPLE_S + 1e-9
        assert err.max() < 1 / timing.fps
        assert row["n_dropped_frames"] == int((~timing.recorded).sum())
        assert row["n_extra_pulses_start"] == 4 and row["n_extra_pulses_end"] == 3
        assert abs(row["jitter_us"] - timing.jitter_us) / timing.jitter_us < 0.25  # 20 s: few intervals
        # 3 trial onsets in 20 s on a 10 kHz Bpod clock: a few ppm; the 1 ppm acceptance is
        # tested on 120 s trains in tests/pipeline/test_sync.py
        assert abs(row["clock_drift_ppm"] - 50.0) < 8.0
        assert row["qc_status"] == "fail" and "dropped" in row["qc_reasons"]  # 2% > 0.1%


def test_export_times(db, ephys_session):
    from schemas.sync import SyncPulses, export_times, frame_times

    key, _ = ephys_session
    SyncPulses.populate(key, reserve_jobs=True, suppress_errors=True)
    ckey = dict(key, camera_label="left")
    path = export_times(ckey)
    assert path.name == "_ibl_leftCamera.times.npy"
    np.testing.assert_array_equal(np.load(path), frame_times(ckey))


def test_unmatched_pulses_are_an_error_naming_session_and_camera(db):
    from acquisition.daq import DaqConfig
    from acquisition.insert import insert_recording
    from acquisition.session import record_session
    from schemas.session import CameraRecording
    from schemas.sync import SyncPulses

    rec = record_session(db.data_root, "SYNC02", "ephys", 8.0, scale=0.125, seed=6, daq_config=DaqConfig(seed=6), progress=False)
    key = insert_recording(rec)
    CameraRecording.populate(key, reserve_jobs=True, suppress_errors=True)
    # keep only 10 of the body camera's pulses: far too few for its frames
    folder = rec.folder / RAW_EPHYS_DIR
    sync = load_daq_files(rec.folder).fpga_sync
    body = np.flatnonzero(sync.channels == FPGA_WIRINGS["3B"]["body_camera"])
    keep = np.ones(len(sync.times), bool)
    keep[body[20:]] = False
    for name, arr in (("times", sync.times), ("channels", sync.channels), ("polarities", sync.polarities)):
        np.save(folder / f"{FPGA_SYNC}.{name}.npy", arr[keep])
    result = SyncPulses.populate(key, reserve_jobs=True, suppress_errors=True)
    errors = {k["camera_label"]: m for k, m in result["error_list"]}
    assert set(errors) == {"body"}
    assert "SYNC02" in errors["body"] and "body camera" in errors["body"] and "pulses" in errors["body"]
    assert not (SyncPulses & key & {"camera_label": "body"})
    assert len(SyncPulses & key) == 2
    assert len(SyncPulses.jobs & {"status": "error", "camera_label": "body"}) == 1


def test_training_rig_on_the_bpod_clock(db):
    from acquisition.daq import DaqConfig, load_truth
    from acquisition.insert import insert_recording
    from acquisition.session import record_session
    from schemas.session import CameraRecording
    from schemas.sync import SyncPulses

    rec = record_session(db.data_root, "SYNC03", "training", 20.0, scale=0.125, seed=7, daq_config=DaqConfig(seed=7), progress=False)
    key = insert_recording(rec)
    CameraRecording.populate(key, reserve_jobs=True, suppress_errors=True)
    result = SyncPulses.populate(key, reserve_jobs=True, suppress_errors=True)
    assert result["error_list"] == []
    row = (SyncPulses & key).fetch1()
    assert row["clock"] == "bpod" and row["clock_drift_ppm"] is None
    session = load_truth(rec.folder).session
    times = np.asarray(row["frame_times"])
    true_fpga = load_truth(rec.folder).timing["left"].frame_times_s
    true_bpod = session["bpod_offset_s"] + true_fpga * (1 + session["bpod_drift_ppm"] * 1e-6)
    assert times.shape == true_bpod.shape and np.all(np.diff(times) > 0)
    measured = ~np.asarray(row["is_extrapolated"])
    assert np.abs(times - true_bpod)[measured].max() < 2e-4  # one 10 kHz Bpod sample + drift
    assert np.abs(times - true_bpod).max() < 1 / 30  # gaps between trials: within a frame


def _record_3a(db, subject: str, seed: int):
    from acquisition.daq import DaqConfig
    from acquisition.session import record_session

    config = DaqConfig(seed=seed, drop_rate=0.01, extra_pulses_start=3, fpga_wiring="3A")
    return record_session(db.data_root, subject, "ephys", 8.0, scale=0.125, seed=seed, daq_config=config, progress=False)


def test_wiring_file_beside_the_spikeglx_files_takes_precedence(db):
    """A 3A rig (cameras 2/3/4, bpod 7, audio 15) whose session is on the default 3B map: its
    ``*.wiring.json`` decides; without the file the 3B channels are wrong and that is an error
    naming the channel and map; inserted with the 3A map it is timed again, from the rows."""
    from acquisition.daq import WIRING_FILE, load_truth
    from acquisition.insert import insert_recording
    from schemas.session import CameraRecording, Session
    from schemas.sync import SyncPulses

    rec = _record_3a(db, "WIRE01", 11)
    key = insert_recording(rec)
    assert (Session & key).fetch1("sync_wiring") == "3B"
    CameraRecording.populate(key, reserve_jobs=True, suppress_errors=True)
    assert SyncPulses.populate(key, reserve_jobs=True, suppress_errors=True)["error_list"] == []
    truth = load_truth(rec.folder).timing
    for row in (SyncPulses & key).to_dicts():
        assert row["sync_wiring"] == f"3B + {RAW_EPHYS_DIR}/{WIRING_FILE}"
        assert row["sync_method"] == "counter+gpio+timestamps" and row["n_extra_pulses_start"] == 3
        timing = truth[row["camera_label"]]
        err = np.abs(np.asarray(row["frame_times"]) - timing.frame_times_s)
        assert err.max() <= FPGA_SAMPLE_S + 1e-9  # every frame within one DAQ sample of its pulse
        assert row["n_dropped_frames"] == int((~timing.recorded).sum()) > 0
    # without the lab's file, the session's 3B map points at other signals
    (rec.folder / RAW_EPHYS_DIR / WIRING_FILE).unlink()
    (SyncPulses & key).delete(prompt=False)
    result = SyncPulses.populate(key, reserve_jobs=True, suppress_errors=True)
    assert result["error_list"], "3B channels on a 3A rig must not time frames"
    for _, message in result["error_list"]:
        assert "FPGA channel" in message and "wiring 3B" in message
    # the same folder registered with the 3A map (a SyncWiring row) is timed from the rows
    (SyncPulses.jobs & key).delete()
    (SyncPulses & key).delete(prompt=False)
    (CameraRecording & key).delete(prompt=False)
    (Session & key).delete(prompt=False)
    # (the folder no longer matches our recorder's manifest: registered as IBL's rigs leave it)
    from acquisition.insert import insert_recorded_session
    from acquisition.session import SESSION_FILE

    (rec.folder / SESSION_FILE).unlink()
    key = insert_recorded_session(rec.folder, sync_wiring="3A")
    CameraRecording.populate(key, reserve_jobs=True, suppress_errors=True)
    assert SyncPulses.populate(key, reserve_jobs=True, suppress_errors=True)["error_list"] == []
    for row in (SyncPulses & key).to_dicts():
        assert row["sync_wiring"] == "3A" and row["sync_method"] == "counter+gpio+timestamps"
        assert np.abs(np.asarray(row["frame_times"]) - truth[row["camera_label"]].frame_times_s).max() <= FPGA_SAMPLE_S + 1e-9
        assert "extra pulses" not in row["qc_reasons"]


def test_gpio_on_the_wrong_signal_fails_qc_instead_of_guessing(db):
    """A lab file that swaps ``audio`` and ``frame2ttl``: the GPIO cannot place the 3 extra
    pulses; with the camera timestamps also unusable the frames would sit on a guess, so
    SyncPulses fails QC and says why."""
    import json

    from acquisition.daq import WIRING_FILE
    from pipeline.io.framedata import read_framedata, write_framedata
    from pipeline.io.spikeglx import read_wiring_file, write_wiring_file
    from pipeline.layout import RAW_VIDEO_DIR, framedata_name
    from schemas.session import CameraRecording
    from schemas.sync import SyncPulses

    rec = _record_3a(db, "WIRE02", 12)
    wiring_file = rec.folder / RAW_EPHYS_DIR / WIRING_FILE
    channels = read_wiring_file(wiring_file)
    channels["audio"], channels["frame2ttl"] = channels["frame2ttl"], channels["audio"]
    write_wiring_file(wiring_file, "3A", channels)
    assert json.loads(wiring_file.read_text())["SYSTEM"] == "3A"
    # camera timestamps that say nothing (a camera whose clock was not read out)
    for label in ("left",):
        path = rec.folder / RAW_VIDEO_DIR / framedata_name(label)
        fd = read_framedata(path)
        fd.camera_timestamp[:] = 0
        write_framedata(path, fd)
    # edited after recording: registered from the task settings, as a real rig's folder
    from acquisition.insert import insert_recorded_session
    from acquisition.session import SESSION_FILE

    (rec.folder / SESSION_FILE).unlink()
    key = insert_recorded_session(rec.folder)
    CameraRecording.populate(key, reserve_jobs=True, suppress_errors=True)
    SyncPulses.populate(dict(key, camera_label="left"), reserve_jobs=True, suppress_errors=True)
    row = (SyncPulses & key & {"camera_label": "left"}).fetch1()
    assert row["qc_status"] == "fail"
    assert "extra pulses cannot be placed" in row["qc_reasons"] and "GPIO" in row["qc_reasons"]


def test_ephys_session_without_bpod_file(db):
    """The FPGA times an ephys session's frames alone; the clock fit is absent and said so."""
    from acquisition.daq import DaqConfig
    from acquisition.session import record_session
    from pipeline.io.iblrig import TASK_DATA
    from schemas.session import CameraRecording
    from schemas.sync import SyncPulses

    rec = record_session(db.data_root, "NOBPOD", "ephys", 8.0, scale=0.125, seed=13, daq_config=DaqConfig(seed=13), progress=False)
    (rec.folder / RAW_BEHAVIOR_DIR / TASK_DATA).unlink()
    from acquisition.insert import insert_recorded_session
    from acquisition.session import SESSION_FILE

    (rec.folder / SESSION_FILE).unlink()
    key = insert_recorded_session(rec.folder)
    CameraRecording.populate(key, reserve_jobs=True, suppress_errors=True)
    assert SyncPulses.populate(key, reserve_jobs=True, suppress_errors=True)["error_list"] == []
    rows = (SyncPulses & key).to_dicts()
    assert len(rows) == 3
    for row in rows:
        assert row["clock"] == "fpga" and row["clock_offset_s"] is None and row["n_clock_points"] is None
        assert "no Bpod task data: no FPGA-Bpod clock fit" in row["sync_warnings"]
