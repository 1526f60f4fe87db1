"""ALF and NWB writers: files read back with their own libraries (numpy/pandas, pynwb) equal what was written."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

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
from pipeline.io.ibl_names import IBL_POINTS, to_ibl
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
    # IBL's eleven names on every camera (pipeline.io.ibl_names), not the note's 23
    assert list(dlc.columns) == [f"{p}_{c}" for p in IBL_POINTS for c in ("x", "y", "likelihood")]
    assert len(dlc) == len(left.times)
    for p, arr in to_ibl(left.points, "left").items():
        np.testing.assert_array_equal(dlc[[f"{p}_x", f"{p}_y", f"{p}_likelihood"]].to_numpy(), arr)
    # one-to-one points are our arrays as they are: left camera pupil_<p>_l -> pupil_<p>_r
    np.testing.assert_array_equal(
        dlc[["pupil_left_r_x", "pupil_left_r_y", "pupil_left_r_likelihood"]].to_numpy(), left.points["pupil_left_l"]
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


# ------------------------------------------------------------------------------ issue 16: umask, NWB metadata
@pytest.mark.parametrize("umask", [0o022, 0o007, 0o077])
def test_exported_files_get_the_users_umask_not_0600(tmp_path, umask):
    import os

    from pipeline.io.nwb import write_nwb

    old = os.umask(umask)
    try:
        paths = [*write_alf_session(tmp_path / "alf", _session()), write_nwb(tmp_path / "s.nwb", _session())]
    finally:
        os.umask(old)
    assert {oct(p.stat().st_mode & 0o777) for p in paths} == {oct(0o666 & ~umask)}
    assert not list(tmp_path.rglob("*.partial*"))


def test_atomic_write_leaves_nothing_when_the_writer_fails(tmp_path):
    from pipeline.io import atomic_write

    target = tmp_path / "x.npy"
    target.write_bytes(b"old")

    def broken(tmp):
        with open(tmp, "wb") as fh:
            fh.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(target, broken)
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["x.npy"]


def _as_recorded(s: SessionExport, folder) -> SessionExport:
    """``s`` with frame times jittered as a DAQ records them and its video files present."""
    import dataclasses

    rng = np.random.default_rng(1)
    cams = []
    for c in s.cameras:
        video = folder / Path(c.video_path).name
        video.parent.mkdir(parents=True, exist_ok=True)
        video.write_bytes(b"")
        times = c.times + rng.normal(0, 2e-4, len(c.times))
        cams.append(dataclasses.replace(c, times=times, video_path=video.name))
    return SessionExport(**{**s.__dict__, "cameras": tuple(cams)})


def _inspect(path):
    from nwbinspector import Importance, inspect_nwbfile

    messages = list(inspect_nwbfile(nwbfile_path=path))
    return [
        f"{m.importance.name} {m.check_function_name}: {m.message}"
        for m in messages
        if m.importance in (Importance.CRITICAL, Importance.BEST_PRACTICE_VIOLATION)
    ]


def test_nwb_subject_lab_metadata_and_session_id_pass_nwbinspector(tmp_path):
    from pynwb import NWBHDF5IO

    from pipeline.io.nwb import read_nwb, write_nwb

    s = SessionExport(**{
        **_as_recorded(_session(), tmp_path).__dict__, "institution": "University College London", "lab": "cortexlab",
        "experimenter": ("Doe, Jane", "Roe, Richard"),
        "subject_info": {"sex": "F", "date_of_birth": dt.date(2024, 10, 1), "species": "Mus musculus", "strain": "C57BL/6J"},
    })  # fmt: skip
    path = write_nwb(tmp_path / "KS023_2025-01-31_001.nwb", s)
    assert _inspect(path) == []
    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        assert nwb.session_id == "KS023_2025-01-31_001" and "/" not in nwb.session_id
        assert (nwb.institution, nwb.lab, list(nwb.experimenter)) == ("University College London", "cortexlab", ["Doe, Jane", "Roe, Richard"])
        subj = nwb.subject
        assert (subj.subject_id, subj.sex, subj.species, subj.strain) == ("KS023", "F", "Mus musculus", "C57BL/6J")
        assert subj.date_of_birth.date() == dt.date(2024, 10, 1) and subj.age is None
    back = read_nwb(path)
    assert back.subject_info == {"sex": "F", "date_of_birth": dt.date(2024, 10, 1), "species": "Mus musculus", "strain": "C57BL/6J"}
    assert (back.subject, back.session_date, back.session_number) == ("KS023", "2025-01-31", 1)


def test_nwb_subject_without_date_of_birth_states_the_age_unknown(tmp_path):
    """No date of birth: NWB's age is the open range "P0D/" (zero days or older), sex "U" when unknown."""
    from pynwb import NWBHDF5IO

    from pipeline.io.nwb import UNKNOWN_AGE, read_nwb, write_nwb

    s = SessionExport(**{**_as_recorded(_session(), tmp_path).__dict__, "subject": "my_mouse_2"})
    path = write_nwb(tmp_path / "u.nwb", s)  # subject_info None: nothing known
    assert _inspect(path) == []  # sex "U" and an age range are what nwbinspector asks for
    with NWBHDF5IO(str(path), "r") as io:
        subj = io.read().subject
        assert (subj.sex, subj.age, subj.date_of_birth) == ("U", UNKNOWN_AGE, None) == ("U", "P0D/", None)
        assert "date of birth unknown" in subj.description
    back = read_nwb(path)  # a subject name with '_' still reads back (session_id split from the right)
    assert (back.subject, back.session_date, back.session_number) == ("my_mouse_2", "2025-01-31", 1)
    assert back.subject_info["date_of_birth"] is None


def test_subject_file_reads_alyxs_record_and_names_the_file_and_key_when_bad(tmp_path):
    import json

    from pipeline.io.subject import normalize_subject, read_subject_file

    f = tmp_path / "KS023.json"
    f.write_text(json.dumps({"nickname": "KS023", "sex": "F", "birth_date": "2024-10-01", "species": "Mus musculus",
                             "strain": "C57BL/6J", "lab": "cortexlab", "responsible_user": "x"}))  # fmt: skip
    assert read_subject_file(f) == {"subject": "KS023", "sex": "F", "date_of_birth": dt.date(2024, 10, 1),
                                    "species": "Mus musculus", "strain": "C57BL/6J"}  # fmt: skip
    assert normalize_subject({}) == {"sex": "U", "date_of_birth": None, "species": "Mus musculus", "strain": ""}
    assert normalize_subject({"species": "http://purl.obolibrary.org/obo/NCBITaxon_10090"})["species"].endswith("10090")
    with pytest.raises(ValueError, match="f.json: gives both 'birth_date' and 'date_of_birth'"):
        normalize_subject({"date_of_birth": "2024-01-01", "birth_date": "2024-01-01"}, "f.json")
    f.write_text("[]")
    with pytest.raises(ValueError, match=r"KS023.json: a subject must be a JSON object, got list"):
        read_subject_file(f)


def test_lab_metadata_settings_from_the_config_file_and_environment(tmp_path, monkeypatch):
    import json

    from schemas.config import resolve_settings

    for var in ("IBL_VIDEO_INSTITUTION", "IBL_VIDEO_LAB", "IBL_VIDEO_EXPERIMENTER"):
        monkeypatch.delenv(var, raising=False)
    cfg = tmp_path / "ibl_video.json"
    cfg.write_text(json.dumps({"institution": "UCL", "lab": "cortexlab", "experimenter": "Doe, Jane"}))
    monkeypatch.setenv("IBL_VIDEO_CONFIG", str(cfg))
    s = resolve_settings(data_root=tmp_path)
    assert (s.institution, s.lab, s.experimenter) == ("UCL", "cortexlab", ("Doe, Jane",))
    monkeypatch.setenv("IBL_VIDEO_EXPERIMENTER", "Doe, Jane; Roe, Richard")
    monkeypatch.setenv("IBL_VIDEO_LAB", "churchlandlab")
    s = resolve_settings(data_root=tmp_path)
    assert (s.lab, s.experimenter) == ("churchlandlab", ("Doe, Jane", "Roe, Richard"))
    cfg.write_text(json.dumps({"experimenter": 3}))
    monkeypatch.delenv("IBL_VIDEO_EXPERIMENTER")
    with pytest.raises(ValueError, match="experimenter must be a string or a list of strings, got 3"):
        resolve_settings(data_root=tmp_path)
