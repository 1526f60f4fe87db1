"""CameraQC on simulated sessions: IBL's checks, each with its value and outcome."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def synced(db):
    from acquisition.daq import DaqConfig
    from acquisition.insert import insert_recording, insert_simulated_references
    from acquisition.session import record_session
    from schemas.session import CameraRecording
    from schemas.sync import SyncPulses

    good = record_session(db.data_root, "QC01", "ephys", 10.0, scale=0.25, seed=8, progress=False)
    dropped = record_session(db.data_root, "QC02", "ephys", 10.0, scale=0.25, seed=9, progress=False,
                             daq_config=DaqConfig(seed=9, drop_rate=0.03))  # fmt: skip
    keys = [insert_recording(good), insert_recording(dropped)]
    CameraRecording.populate(keys, reserve_jobs=True, suppress_errors=True)
    SyncPulses.populate(keys, reserve_jobs=True, suppress_errors=True)
    insert_simulated_references({label: (c.width, c.height) for label, c in good.cameras.items()})
    return keys


def test_checks_and_outcomes(db, synced):
    from schemas.qc import CameraQC

    good, dropped = synced
    result = CameraQC.populate(synced, reserve_jobs=True, suppress_errors=True)
    assert result["error_list"] == []
    checks = {r["check_name"]: r for r in (CameraQC.Check & good & {"camera_label": "left"}).to_dicts()}
    assert set(checks) == {"brightness", "file_headers", "framerate", "resolution", "dropped_frames", "timestamps",
                           "pin_state", "position", "focus"}  # fmt: skip
    # scaled-down simulation: resolution differs from the rig's 1280x1024 and fails, the rest passes
    assert checks["resolution"]["outcome"] == "FAIL"
    for name in ("brightness", "framerate", "dropped_frames", "timestamps", "position", "focus", "pin_state"):
        assert checks[name]["outcome"] == "PASS", (name, checks[name])
    bad = {r["check_name"]: r["outcome"] for r in (CameraQC.Check & dropped & {"camera_label": "left"}).to_dicts()}
    assert bad["dropped_frames"] == "FAIL"
    assert (CameraQC & dropped & {"camera_label": "left"}).fetch1("overall_outcome") == "FAIL"
