"""ALF and NWB writers: files read back with their own libraries (numpy/pandas, pynwb) equal what was written."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from pipeline.io.alf import (
    FEATURE_COLUMNS,
    CameraExport,
    SessionExport,
    read_alf_session,
    write_alf_session,
)
from pipeline.rigs import TRACKED_POINTS


def _session(n_left: int = 300, n_body: int = 150) -> SessionExport:
    rng = np.random.default_rng(0)
    points = {}
    for name in TRACKED_POINTS:
        xy = rng.uniform(0, 160, (n_left, 2))
        lik = rng.uniform(0, 1, n_left)
        xy[lik < 0.1] = np.nan
        points[name] = np.column_stack([xy, lik])
    raw = rng.normal(20, 2, n_left)
    raw[10:20] = np.nan
    left = CameraExport(
        label="left", times=0.5 + np.arange(n_left) / 60.0, points=points, pupil_raw=raw, pupil_smooth=np.nan_to_num(raw, nan=20.0),
        lick_times=np.array([1.0, 2.5, 3.1]), video_path="../raw_video_data/_iblrig_leftCamera.raw.avi", width=160, height=128,
    )  # fmt: skip
    body = CameraExport(
        label="body",
        times=0.51 + np.arange(n_body) / 30.0,
        video_path="body.avi",
        width=160,
        height=128,
    )
    return SessionExport(
        subject="KS023", session_date="2025-01-31", session_number=1, session_uuid="6b1a4a30-2f5d-4f7e-9a47-1c1f3e0d2b11",
        session_start_time=dt.datetime(2025, 1, 31, 9, 30, 5), rig_type="ephys", clock="fpga", cameras=(left, body),
        lick_times=np.array([1.0, 2.5, 3.1, 4.0]), pose_description="simulator-truth",
    )  # fmt: skip


def test_alf_files_have_ibl_names_and_columns_and_read_back_equal(tmp_path):
    s = _session()
    paths = write_alf_session(tmp_path, s)
    assert sorted(p.name for p in paths) == sorted([
        "_ibl_leftCamera.times.npy", "_ibl_leftCamera.dlc.pqt", "_ibl_leftCamera.features.pqt", "_ibl_bodyCamera.times.npy",
        "licks.times.npy",
    ])  # fmt: skip
    left = s.camera("left")
    # read with numpy and pandas, as IBL's loaders do
    np.testing.assert_array_equal(np.load(tmp_path / "_ibl_leftCamera.times.npy"), left.times)
    dlc = pd.read_parquet(tmp_path / "_ibl_leftCamera.dlc.pqt")
    assert list(dlc.columns) == [
        f"{p}_{c}" for p in TRACKED_POINTS for c in ("x", "y", "likelihood")
    ]
    assert len(dlc) == len(left.times)
    for p in TRACKED_POINTS:
        np.testing.assert_array_equal(
            dlc[[f"{p}_x", f"{p}_y", f"{p}_likelihood"]].to_numpy(), left.points[p]
        )
    feats = pd.read_parquet(tmp_path / "_ibl_leftCamera.features.pqt")
    assert tuple(feats.columns) == FEATURE_COLUMNS == ("pupilDiameter_raw", "pupilDiameter_smooth")
    np.testing.assert_array_equal(feats["pupilDiameter_raw"].to_numpy(), left.pupil_raw)
    np.testing.assert_array_equal(feats["pupilDiameter_smooth"].to_numpy(), left.pupil_smooth)
    np.testing.assert_array_equal(np.load(tmp_path / "licks.times.npy"), s.lick_times)
    # and with the module's own reader
    back = read_alf_session(tmp_path)
    assert sorted(back["cameras"]) == ["body", "left"] and set(back["cameras"]["body"]) == {"times"}
    np.testing.assert_array_equal(back["cameras"]["left"]["pupil_smooth"], left.pupil_smooth)


def test_camera_export_checks_lengths():
    with pytest.raises(
        ValueError, match="left camera: 'a' has shape \\(2, 3\\), expected \\(3, 3\\)"
    ):
        CameraExport(label="left", times=np.arange(3.0), points={"a": np.zeros((2, 3))})
    with pytest.raises(ValueError, match="pupil_raw has shape"):
        CameraExport(
            label="left", times=np.arange(3.0), pupil_raw=np.zeros(2), pupil_smooth=np.zeros(3)
        )


def test_nwb_reads_back_with_pynwb_equal_to_what_was_written(tmp_path):
    from ndx_pose import PoseEstimation
    from pynwb import NWBHDF5IO
    from pynwb.event import EventsTable
    from pynwb.image import ImageSeries

    from pipeline.io.nwb import read_nwb, write_nwb

    s = _session()
    path = write_nwb(tmp_path / "s.nwb", s, source_software_version="3.0.2")
    left = s.camera("left")
    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        assert nwb.identifier == s.session_uuid and nwb.subject.subject_id == "KS023"
        assert nwb.session_start_time.replace(tzinfo=None) == s.session_start_time
        video = nwb.acquisition["VideoLeftCamera"]
        assert isinstance(video, ImageSeries) and list(video.external_file[:]) == [left.video_path]
        np.testing.assert_array_equal(video.timestamps[:], left.times)
        pose = nwb.processing["behavior"]["PoseEstimationLeftCamera"]
        assert isinstance(pose, PoseEstimation) and pose.source_software == "DeepLabCut"
        assert list(pose.skeleton.nodes[:]) == list(TRACKED_POINTS)
        for p in TRACKED_POINTS:
            series = pose.pose_estimation_series[p]
            np.testing.assert_array_equal(series.data[:], left.points[p][:, :2])
            np.testing.assert_array_equal(series.confidence[:], left.points[p][:, 2])
            np.testing.assert_array_equal(series.timestamps[:], left.times)
        raw = nwb.processing["behavior"]["LeftPupilDiameterRaw"]
        assert raw.unit == "pixels"
        np.testing.assert_array_equal(raw.data[:], left.pupil_raw)
        np.testing.assert_array_equal(
            nwb.processing["behavior"]["LeftPupilDiameterSmooth"].data[:], left.pupil_smooth
        )
        np.testing.assert_array_equal(raw.timestamps[:], left.times)
        licks = nwb.events["Licks"]
        assert isinstance(licks, EventsTable)
        np.testing.assert_array_equal(licks["timestamp"].data[:], s.lick_times)
        np.testing.assert_array_equal(
            nwb.events["LeftCameraLicks"]["timestamp"].data[:], left.lick_times
        )
        assert "PoseEstimationBodyCamera" not in nwb.processing["behavior"].data_interfaces
    back = read_nwb(path)
    assert (back.subject, back.session_date, back.session_number, back.clock, back.rig_type) == (
        "KS023",
        "2025-01-31",
        1,
        "fpga",
        "ephys",
    )
    assert [c.label for c in back.cameras] == ["body", "left"]
    b = back.camera("left")
    assert list(b.points) == list(TRACKED_POINTS) and (b.width, b.height) == (160, 128)
    np.testing.assert_array_equal(back.camera("body").times, s.camera("body").times)
    assert back.camera("body").points is None and back.camera("body").pupil_raw is None


def test_nwb_without_licks_or_pose(tmp_path):
    from pipeline.io.nwb import read_nwb, write_nwb

    s = _session()
    bare = SessionExport(**{**s.__dict__, "cameras": (s.camera("body"),), "lick_times": np.zeros(0), "clock": "bpod",
                            "rig_type": "training"})  # fmt: skip
    back = read_nwb(write_nwb(tmp_path / "bare.nwb", bare))
    assert back.clock == "bpod" and back.rig_type == "training" and back.lick_times.shape == (0,)
    with pytest.raises(ValueError, match="has no camera"):
        write_nwb(tmp_path / "none.nwb", SessionExport(**{**s.__dict__, "cameras": ()}))
