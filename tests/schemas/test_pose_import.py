"""``ibl-video pose import`` on every database backend: DeepLabCut CSV, Lightning Pose CSV and IBL's
dlc.pqt into DLCPose, features and QC from it, and bad input refused with nothing stored.

The files hold the simulator's true points of a short quarter-resolution session, written in
each tool's layout, so these run in seconds; files written by DeepLabCut itself are imported
in test_pose_import_dlc.py.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
EYE_L = ("pupil_top_l", "pupil_right_l", "pupil_bottom_l", "pupil_left_l")
TONGUE = ("tube_top", "tube_bottom", "tongue_end_l", "tongue_end_r")



def _dlc_csv(path: Path, points: dict, scorer: str, extra_coords: tuple[str, ...] = ()) -> Path:
    """A prediction CSV as DeepLabCut (and Lightning Pose, with its ensemble columns) write it."""
    coords = ("x", "y", "likelihood", *extra_coords)
    tuples = [(scorer, bp, c) for bp in points for c in coords]
    rng = np.random.default_rng(0)
    data = np.column_stack([np.column_stack([points[bp], rng.uniform(0, 1, (len(points[bp]), len(extra_coords)))])
                            for bp in points])  # fmt: skip
    cols = pd.MultiIndex.from_tuples(tuples, names=["scorer", "bodyparts", "coords"])
    pd.DataFrame(data, columns=cols).to_csv(path)
    return path


@pytest.fixture(scope="module")
def session(db, tmp_path_factory, load_example):
    """An 8 s quarter-resolution ephys session (left and right cameras), synced and encoded,
    with pose files of the true points in DLC, Lightning Pose and IBL formats."""
    from acquisition.daq import DaqConfig, load_truth
    from acquisition.insert import insert_recording
    from acquisition.session import record_session
    from pipeline.io.dlc import write_alf_dlc
    from pipeline.io.ibl_names import to_ibl
    from schemas.compression import CompressedVideo
    from schemas.session import CameraRecording
    from schemas.sync import SyncPulses

    rec = record_session(db.data_root, "IMPT01", "ephys", 8.0, scale=0.25, seed=31, cameras=["left", "right"],
                         daq_config=DaqConfig(seed=31), progress=False)  # fmt: skip
    key = insert_recording(rec)
    cameras = [dict(key, camera_label=c) for c in ("left", "right")]
    for table in (CameraRecording, SyncPulses, CompressedVideo):
        assert table.populate(cameras, reserve_jobs=True, suppress_errors=True)["error_list"] == [], table.__name__
    truth = load_truth(rec.folder)
    truth_pose = load_example("simulated_session").truth_pose
    files = tmp_path_factory.mktemp("pose_files")
    n = {r["camera_label"]: r["n_frames"] for r in (CameraRecording & key).to_dicts()}
    left = truth_pose(truth.scenes["left"], n["left"])
    right = truth_pose(truth.scenes["right"], n["right"])
    paths = {
        "eye_csv": _dlc_csv(files / "leftDLC_eye.csv", {bp: left[bp] for bp in EYE_L}, "DLC_CspnextS_eyeDec6shuffle1_snapshot_best-40"),
        "tongue_lp": _dlc_csv(files / "left_predictions.csv", {bp: left[bp] for bp in TONGUE}, "heatmap_tracker",
                              ("x_ens_median", "y_ens_median", "x_ens_var", "y_ens_var")),
        "right_pqt": write_alf_dlc(files / "_ibl_rightCamera.dlc.pqt", to_ibl(right, "right")),
        "short_csv": _dlc_csv(files / "shortDLC_eye.csv", {bp: left[bp][:-3] for bp in EYE_L}, "DLC_eye"),
        "tongue_again": _dlc_csv(files / "againDLC_t.csv", {"tongue_end_l": left["tongue_end_l"]}, "DLC_t"),
    }  # fmt: skip
    return dict(key=key, truth=truth, n=n, left=left, right=right, paths=paths, rec=rec)


def _counts() -> dict[str, int]:
    from schemas.pose import AnchorPoints, CropROI, DLCPose, PoseModelSet

    tables = {"PoseModelSet": PoseModelSet, "AnchorPoints": AnchorPoints, "CropROI": CropROI, "DLCPose": DLCPose,
              "BodyPart": DLCPose.BodyPart, "ImportedFile": DLCPose.ImportedFile}  # fmt: skip
    return {name: len(t()) for name, t in tables.items()}


def _populate_features(key: dict) -> None:
    from schemas.features import LickEvents, PoseQC, PupilDiameter

    for table in (PupilDiameter, LickEvents, PoseQC):
        errors = table.populate(key, reserve_jobs=True, suppress_errors=True)["error_list"]
        assert errors == [], (table.__name__, errors)


def test_dlc_and_lightning_pose_csvs_merge_into_dlcpose_and_the_features_compute(db, session):
    from pipeline import features
    from schemas.features import LickEvents, PoseQC, PupilDiameter
    from schemas.pose import AnchorPoints, CropROI, DLCPose, pose_arrays
    from schemas.pose_import import import_pose
    from schemas.sync import SyncPulses

    paths = session["paths"]
    result = import_pose(session["key"], "left", [paths["eye_csv"], paths["tongue_lp"]], pose_model_set="csv-import")
    key = result["key"]
    assert key["compression_params"] == "archival" and key["roi_params"] == "ibl"  # the recording's only encode
    row = (DLCPose & key).fetch1()
    assert row["device"] == "imported" and row["batch_size"] == 0 and row["n_frames"] == session["n"]["left"]
    pose = pose_arrays(key)
    assert sorted(pose) == sorted(EYE_L + TONGUE)
    for bp in pose:  # stored as the files hold them (CSV text round trip: 1e-9 px)
        np.testing.assert_allclose(pose[bp], session["left"][bp], rtol=0, atol=1e-9, equal_nan=True)
    sources = {r["source_format"]: r for r in (DLCPose.ImportedFile & key).to_dicts()}
    assert set(sources) == {"dlc_csv", "lightning_pose_csv"}
    eye = sources["dlc_csv"]
    assert eye["source_md5"] == hashlib.md5(paths["eye_csv"].read_bytes()).hexdigest()
    assert eye["source_path"] == str(paths["eye_csv"].resolve()) and json.loads(eye["body_parts"]) == list(EYE_L)
    assert eye["scorer"] == "DLC_CspnextS_eyeDec6shuffle1_snapshot_best-40" and (eye["offset_x"], eye["offset_y"]) == (0, 0)
    assert sources["lightning_pose_csv"]["scorer"] == "heatmap_tracker"
    assert not CropROI.Region & key  # nothing was cropped
    anchors = (AnchorPoints & key).fetch1()
    true_center = np.nanmean(np.asarray(session["truth"].scenes["left"].extra_points["pupil_center"]), axis=0)
    np.testing.assert_allclose([anchors["pupil_center_x"], anchors["pupil_center_y"]], true_center, atol=1.0)
    assert anchors["nose_tip_x"] is None and anchors["nose_tip_y"] is None  # not tracked by these files: NULL
    assert anchors["tube_top_x"] is not None

    _populate_features(key)
    pupil = (PupilDiameter & key & {"feature_params": "ibl"}).fetch1()
    expected = features.pupil_diameter_from_points(features.likelihood_threshold(session["left"], 0.9), suffix="l")
    np.testing.assert_allclose(pupil["pupil_diameter_raw_px"], expected, rtol=0, atol=1e-9, equal_nan=True)
    true = np.asarray(session["truth"].scenes["left"].pupil_diameter_px)
    ok = np.isfinite(pupil["pupil_diameter_px"]) & np.isfinite(true)
    assert np.corrcoef(pupil["pupil_diameter_px"][ok], true[ok])[0, 1] > 0.99
    starts = session["truth"].lick_intervals_s[:, 0]
    times = np.asarray((SyncPulses & key).fetch1("frame_times"))
    starts = starts[(starts >= times[0]) & (starts <= times[-1])]
    onsets = np.asarray((LickEvents & key & {"feature_params": "ibl"}).fetch1("lick_onset_times"))
    assert len(starts) >= 5
    hits = [np.any(np.abs(onsets - s) <= 2 / 60) for s in starts]
    assert np.mean(hits) >= 0.9, (starts, onsets)
    checks = {r["check_name"] for r in (PoseQC.Check & key).to_dicts()}
    assert "pupil_blocked" in checks and not any(c.startswith("in_box") for c in checks)


def test_ibl_pqt_imports_under_our_names_and_its_pupil_matches(db, session):
    from pipeline import features
    from schemas.features import PupilDiameter
    from schemas.pose import AnchorPoints, DLCPose, pose_arrays
    from schemas.pose_import import import_pose

    key = import_pose(session["key"], "right", [session["paths"]["right_pqt"]], pose_model_set="ibl-import")["key"]
    pose = pose_arrays(key)
    assert {"pupil_top_r", "pupil_left_r", "tube_top", "tongue_end_l", "nose_tip", "paw_l", "paw_r"} <= set(pose)
    np.testing.assert_array_equal(pose["pupil_left_r"], session["right"]["pupil_left_r"])  # IBL's pupil_right_r
    assert (DLCPose.ImportedFile & key).fetch1("source_format", "scorer") == ("ibl_pqt", "")
    assert (AnchorPoints & key).fetch1("nose_tip_x") is not None  # IBL's nose_tip is an anchor
    _populate_features(key)
    raw = (PupilDiameter & key & {"feature_params": "ibl"}).fetch1("pupil_diameter_raw_px")
    expected = features.pupil_diameter_from_points(features.likelihood_threshold(session["right"], 0.9), suffix="r")
    np.testing.assert_allclose(raw, expected, rtol=0, atol=1e-9, equal_nan=True)


def test_a_wrong_length_file_is_refused_and_nothing_is_stored(db, session):
    from schemas.pose_import import import_pose

    paths, n = session["paths"], session["n"]["left"]
    before = _counts()
    store = db.settings.store_location
    stored = sorted(p for p in store.rglob("*") if p.is_file())
    with pytest.raises(ValueError) as e:
        import_pose(session["key"], "left", [paths["tongue_lp"], paths["short_csv"]], pose_model_set="short")
    assert f"{paths['short_csv']} has {n - 3} frames but the" in str(e.value) and f"recording has {n}" in str(e.value)
    assert _counts() == before
    assert sorted(p for p in store.rglob("*") if p.is_file()) == stored  # no array written to the object store either
    with pytest.raises(ValueError, match=r"body part 'tongue_end_l' is in two files, .*left_predictions\.csv and .*againDLC_t\.csv"):
        import_pose(session["key"], "left", [paths["tongue_lp"], paths["tongue_again"]], pose_model_set="twice")
    with pytest.raises(ValueError, match="are the same file"):
        import_pose(session["key"], "left", [paths["eye_csv"], paths["eye_csv"]], pose_model_set="same")
    assert _counts() == before


def test_the_encode_must_exist_and_an_import_is_never_overwritten(db, session):
    from schemas.pose_import import import_pose

    paths = session["paths"]
    with pytest.raises(ValueError, match=r"has no CompressedVideo with compression_params 'compact' \(it has archival\); make it with: "
                                         r"ibl-video populate CompressedVideo --key"):  # fmt: skip
        import_pose(session["key"], "left", [paths["eye_csv"]], compression_params="compact")
    import_pose(session["key"], "left", [paths["eye_csv"]], pose_model_set="once")
    before = _counts()
    with pytest.raises(ValueError, match="already has pose under model set 'once'"):
        import_pose(session["key"], "left", [paths["tongue_lp"]], pose_model_set="once")
    assert _counts() == before


def test_populate_never_computes_pose_for_an_import_set_nor_imports_into_a_network_set(db, session):
    import datetime as dt

    from schemas.pose import AnchorPoints, CropROI, DLCPose, PoseModel, PoseModelSet
    from schemas.pose_import import import_pose

    import_pose(session["key"], "right", [session["paths"]["right_pqt"]], pose_model_set="never-computed")
    PoseModel.insert1(dict(pose_model="anchor-0000000000", pose_role="anchor", project_path="p", shuffle=1, snapshot="s",
                           bodyparts="[]", n_train_frames=0, net_type="x", registered_time=dt.datetime(2026, 1, 1)))  # fmt: skip
    PoseModelSet.insert1(dict(pose_model_set="nets", set_description="a set with a network"))
    PoseModelSet.Member.insert1(dict(pose_model_set="nets", pose_model="anchor-0000000000", member_role="anchor"))
    pending = {t.__name__: {k["pose_model_set"] for k in (t.key_source & session["key"]).to_dicts()}
               for t in (AnchorPoints, CropROI, DLCPose)}  # fmt: skip
    assert pending["AnchorPoints"] == {"nets"}  # the network set is computed, no import set is
    assert "never-computed" not in pending["CropROI"] | pending["DLCPose"]
    with pytest.raises(ValueError, match="model set 'nets' has networks"):
        import_pose(session["key"], "left", [session["paths"]["eye_csv"]], pose_model_set="nets")


def test_the_command_as_a_subprocess_exit_codes_and_errors_on_stderr(db, session):
    from schemas.pose import DLCPose

    key, paths, n = session["key"], session["paths"], session["n"]["left"]
    args = ["--session", key["subject"], str(key["session_date"]), str(key["session_number"]), "--camera", "left"]

    def cli(*extra):
        return subprocess.run([sys.executable, "-m", "populate.cli", "pose", "import", *extra], cwd=ROOT, env=db.cli_env(),
                              capture_output=True, text=True, timeout=300)  # fmt: skip

    before = _counts()
    bad = cli(str(paths["short_csv"]), *args, "--pose-model-set", "cli")
    assert bad.returncode == 2, bad.stderr
    message = "".join(bad.stderr.split())  # the console wraps long lines
    assert f"{paths['short_csv']}has{n - 3}frames" in message and f"recordinghas{n}" in message
    assert bad.stdout == "" and _counts() == before
    good = cli(str(paths["eye_csv"]), str(paths["tongue_lp"]), *args, "--pose-model-set", "cli", "--json")
    assert good.returncode == 0, good.stderr
    out = json.loads(good.stdout)  # --json prints only JSON
    assert out["key"]["pose_model_set"] == "cli" and out["n_frames"] == n
    assert [f["format"] for f in out["files"]] == ["dlc_csv", "lightning_pose_csv"]
    assert "heatmap_tracker/tube_top/x_ens_var" in out["files"][1]["ignored"]
    assert len(DLCPose.BodyPart & {"pose_model_set": "cli"}) == 8


@pytest.mark.parametrize("part", ["eye", "tongue"])
def test_pose_qc_of_an_import_with_only_some_body_parts(db, session, part):
    """An eye network's output alone, or a tongue network's: PoseQC runs, the checks of absent points are NOT_SET."""
    from schemas.features import PoseQC
    from schemas.pose_import import import_pose

    path = session["paths"]["eye_csv" if part == "eye" else "tongue_lp"]
    key = import_pose(session["key"], "left", [path], pose_model_set=f"only-{part}")["key"]
    assert PoseQC.populate(key, reserve_jobs=True, suppress_errors=True)["error_list"] == []
    outcomes = {r["check_name"]: r["outcome"] for r in (PoseQC.Check & key).to_dicts()}
    absent = ("tongue_hidden", "lick_rate") if part == "eye" else ("pupil_blocked",)
    assert all(outcomes[c] == "NOT_SET" for c in absent), outcomes
    assert outcomes["paws_nan"] == "NOT_SET"
