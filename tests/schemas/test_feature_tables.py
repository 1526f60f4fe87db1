"""PupilDiameter and LickEvents bad input: mostly-NaN pupil, pose and frame times of different lengths.

The pose is the simulator's truth inserted as DLCPose rows (``examples/simulated_session.py``),
so these run on every backend in seconds; the real DeepLabCut chain is in test_pose_chain.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]



@pytest.fixture(scope="module")
def truth_session(db, load_example):
    from acquisition.daq import DaqConfig
    from acquisition.insert import insert_recording
    from acquisition.session import record_session
    from schemas.session import CameraRecording
    from schemas.sync import SyncPulses

    rec = record_session(db.data_root, "FEAT01", "ephys", 12.0, scale=0.25, seed=31, cameras=["left", "right"],
                         daq_config=DaqConfig(seed=31), progress=False)  # fmt: skip
    key = insert_recording(rec)
    CameraRecording.populate(key, reserve_jobs=True, suppress_errors=True)
    SyncPulses.populate(key, reserve_jobs=True, suppress_errors=True)
    pose_keys = load_example("simulated_session").insert_truth_pose(key, rec.folder, encode=False)
    return key, pose_keys


def _blank_pupil(pose_key: dict, fraction: float) -> None:
    """Blank the pupil points of ``pose_key`` in the first ``fraction`` of frames (likelihood 0)."""
    from schemas.pose import DLCPose

    parts = (DLCPose.BodyPart & pose_key).to_dicts()
    for part in parts:
        if part["body_part"].startswith("pupil_"):
            arr = np.asarray(part["pose"]).copy()
            arr[: int(fraction * len(arr)), :] = [np.nan, np.nan, 0.0]
            (DLCPose.BodyPart & {k: part[k] for k in DLCPose.BodyPart.primary_key}).delete_quick()
            DLCPose.BodyPart.insert1(dict(part, pose=arr), allow_direct_insert=True)


def test_mostly_nan_pupil_is_an_error_with_the_fraction_and_licks_still_compute(db, truth_session):
    from schemas.features import LickEvents, PupilDiameter

    key, pose_keys = truth_session
    left = next(k for k in pose_keys if k["camera_label"] == "left")
    _blank_pupil(left, 0.95)
    result = PupilDiameter.populate(left, reserve_jobs=True, suppress_errors=True)
    (_, message), = [e for e in result["error_list"] if e[0]["feature_params"] == "ibl"][:1]
    assert "left camera" in message and "NaN in 9" in message and "% of frames" in message
    assert not PupilDiameter & left
    licks = LickEvents.populate(left, reserve_jobs=True, suppress_errors=True)
    assert licks["error_list"] == [] and len(LickEvents & left) == 2


def test_pose_and_frame_times_of_different_lengths_is_an_error(db, truth_session):
    from schemas.features import LickEvents, PupilDiameter
    from schemas.pose import DLCPose

    key, pose_keys = truth_session
    right = next(k for k in pose_keys if k["camera_label"] == "right")
    parts = (DLCPose.BodyPart & right).to_dicts()
    n = len(np.asarray(parts[0]["pose"]))
    for part in parts:  # drop the last 5 frames of every trace
        (DLCPose.BodyPart & {k: part[k] for k in DLCPose.BodyPart.primary_key}).delete_quick()
        DLCPose.BodyPart.insert1(dict(part, pose=np.asarray(part["pose"])[:-5]), allow_direct_insert=True)
    for table in (PupilDiameter, LickEvents):
        result = table.populate(right, reserve_jobs=True, suppress_errors=True)
        assert result["error_list"], table.__name__
        message = result["error_list"][0][1]
        assert f"pose has {n - 5} frames" in message and f"{n} frame times" in message
        assert not table & right
