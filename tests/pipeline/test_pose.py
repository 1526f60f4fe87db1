"""Pose stage: roles and names, DLC files, model validation, filtering, and trained networks
on new simulated video (pipeline.pose, pipeline.io.dlc, populate.models).

Tests marked slow use the ``pose_models`` / ``pose_model_infos`` fixtures of
``tests/pose_fixtures.py`` (networks trained with reduced settings, cached).
"""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd
import pytest

from pipeline.crops import DEFAULT_ROI_SPECS, Roi, camera_view, roi_from_anchor, write_crops
from pipeline.io import dlc as dlcio
from pipeline.pose import (
    ROLE_BODYPARTS,
    DlcModel,
    anchor_points,
    camera_point_name,
    load_model,
    median_filter_pose,
    run_pose,
)
from pipeline.rigs import TRACKED_POINTS

# --------------------------------------------------------------------------------------
# roles and names


def test_roles_cover_the_tracked_points_of_both_cameras():
    crop_parts = [bp for r in ("eye", "nostril", "tongue", "paws") for bp in ROLE_BODYPARTS[r]]
    left = {camera_point_name(bp, False) for bp in crop_parts}
    right = {camera_point_name(bp, True) for bp in crop_parts}
    assert left <= set(TRACKED_POINTS) and right <= set(TRACKED_POINTS)
    assert {p for p in TRACKED_POINTS if p.startswith("pupil") and p.endswith("_l")} <= left
    assert {p for p in TRACKED_POINTS if p.startswith("pupil") and p.endswith("_r")} <= right
    assert set(TRACKED_POINTS) - left == {
        p for p in TRACKED_POINTS if p.startswith("pupil") and p.endswith("_r")
    } | {"chin_l"}
    assert ROLE_BODYPARTS["anchor"] == ("pupil_center", "nose_tip", "tube_top")


@pytest.mark.parametrize(
    "name, mirrored",
    [("pupil_right_l", "pupil_left_r"), ("pupil_left_l", "pupil_right_r"), ("pupil_top_l", "pupil_top_r"),
     ("pinky_l", "pinky_r"), ("pointer_finger_r", "pointer_finger_l"), ("tongue_end_l", "tongue_end_l"),
     ("tube_top", "tube_top"), ("nostril_edge_high", "nostril_edge_high"), ("paw_l", "paw_r")],
)  # fmt: skip
def test_camera_point_name(name, mirrored):
    assert camera_point_name(name, True) == mirrored
    assert camera_point_name(name, False) == name


def test_mirrored_names_match_the_simulator_truth():
    """The right camera's truth, mirrored back, puts each renamed point where the left one is."""
    from acquisition.simulator import Behaviour, MouseScene

    beh = Behaviour(20.0, seed=2)
    t = np.array([3.0, 7.5, 12.0])
    left = MouseScene(beh, "left", 1280, 1024, seed=4).truth(t)
    right = MouseScene(beh, "right", 1280, 1024, seed=4).truth(t)
    # each scene places the mouse a few pixels differently: compare relative to the nose tip
    ref_l, ref_r = left.extra_points["nose_tip"], right.extra_points["nose_tip"]
    # (paws are not compared: the near paw is the left paw on one camera, the right on the
    # other, and the two paws move independently)
    for bp in ROLE_BODYPARTS["eye"] + ROLE_BODYPARTS["tongue"] + ROLE_BODYPARTS["nostril"]:
        r = right.points[camera_point_name(bp, True)] - ref_r
        r[:, 0] *= -1
        np.testing.assert_allclose(r, left.points[bp] - ref_l, atol=1e-6, err_msg=bp)


# --------------------------------------------------------------------------------------
# median filter


def test_median_filter_matches_medfilt_and_keeps_nan():
    from scipy.signal import medfilt

    rng = np.random.default_rng(1)
    xy = rng.normal(0, 5, (50, 2)).cumsum(axis=0)
    lik = np.full(50, 0.99)
    pts = {"a": np.column_stack([xy, lik])}
    before = pts["a"].copy()
    out = median_filter_pose(pts, 5)["a"]
    np.testing.assert_array_equal(pts["a"], before)  # input unchanged
    np.testing.assert_allclose(out[2:-2, 0], medfilt(xy[:, 0], 5)[2:-2])
    np.testing.assert_array_equal(out[:, 2], lik)
    holes = pts["a"].copy()
    holes[[10, 11, 30], :2] = np.nan
    f = median_filter_pose({"a": holes}, 5)["a"]
    assert np.isnan(f[[10, 11, 30], :2]).all()
    assert np.isfinite(np.delete(f[:, :2], [10, 11, 30], 0)).all()
    np.testing.assert_allclose(f[12, 0], np.median(holes[[12, 13, 14], 0]))
    with pytest.raises(ValueError, match="odd"):
        median_filter_pose(pts, 4)


def test_median_filter_ignores_unconfident_frames_and_skips_the_tongue():
    """Hidden points (low likelihood) neither move nor are moved; tongue tips stay raw."""
    x = np.arange(20, dtype=float)
    lik = np.full(20, 0.95)
    lik[[5, 6]] = 0.1
    a = np.column_stack([x, x, lik])
    a[[5, 6], :2] = 500.0  # DLC's guess for a hidden point
    out = median_filter_pose({"p": a, "tongue_end_l": a})
    np.testing.assert_array_equal(out["p"][[5, 6]], a[[5, 6]])  # kept as they are
    np.testing.assert_allclose(out["p"][4, 0], np.median([2.0, 3.0, 4.0]))  # 5, 6 not used
    np.testing.assert_allclose(out["p"][10:15, 0], x[10:15])  # a straight line is unchanged
    np.testing.assert_array_equal(out["tongue_end_l"], a)
    mixed = median_filter_pose({"p": a}, likelihood_threshold=None)["p"]
    assert mixed[5, 0] == 7.0 and mixed[6, 0] == 8.0  # without the threshold all are mixed


# --------------------------------------------------------------------------------------
# DLC files


def _fake_project(root, bodyparts, *, snapshot=True, shuffle=1):
    """A DLC project on disk with config.yaml, a shuffle folder and an empty snapshot."""
    import yaml

    proj = root / "proj"
    proj.mkdir(parents=True)
    cfg = {"Task": "ibl", "scorer": "sim", "date": "Jan1", "project_path": str(proj),
           "bodyparts": list(bodyparts), "iteration": 0, "TrainingFraction": [0.95]}  # fmt: skip
    (proj / "config.yaml").write_text(yaml.safe_dump(cfg))
    train = (
        proj
        / "dlc-models-pytorch"
        / "iteration-0"
        / f"iblJan1-trainset95shuffle{shuffle}"
        / "train"
    )
    train.mkdir(parents=True)
    (train / "pytorch_config.yaml").write_text(
        yaml.safe_dump({"metadata": {"bodyparts": list(bodyparts)}})
    )
    if snapshot:
        (train / "snapshot-010.pt").write_bytes(b"")
        (train / "snapshot-best-008.pt").write_bytes(b"")
    return proj, train


def test_read_project_and_best_snapshot(tmp_path):
    proj, train = _fake_project(tmp_path, ROLE_BODYPARTS["eye"])
    p = dlcio.read_project(proj)
    assert (
        p.bodyparts == ROLE_BODYPARTS["eye"]
        and p.scorer == "sim"
        and p.config_path == proj / "config.yaml"
    )
    assert dlcio.shuffle_folder(p, 1) == train.parent
    assert dlcio.best_snapshot(train).name == "snapshot-best-008.pt"
    (train / "snapshot-best-008.pt").unlink()
    assert dlcio.best_snapshot(train.parent).name == "snapshot-010.pt"
    with pytest.raises(FileNotFoundError, match="shuffle 2"):
        dlcio.shuffle_folder(p, 2)
    with pytest.raises(FileNotFoundError, match="config"):
        dlcio.read_project(tmp_path / "nowhere")


def test_load_model_validates_role_and_snapshot(tmp_path):
    proj, train = _fake_project(tmp_path / "a", ROLE_BODYPARTS["eye"])
    m = load_model(proj, "eye")
    assert m.snapshot.name == "snapshot-best-008.pt" and m.bodyparts == ROLE_BODYPARTS["eye"]
    with pytest.raises(ValueError, match=f"model {proj}.*'tongue'"):
        load_model(proj, "tongue")
    with pytest.raises(FileNotFoundError, match="snapshot-099.pt"):
        load_model(proj, "eye", snapshot="snapshot-099.pt")
    empty, _ = _fake_project(tmp_path / "b", ROLE_BODYPARTS["eye"], snapshot=False)
    with pytest.raises(FileNotFoundError, match="no DeepLabCut snapshot"):
        load_model(empty, "eye")
    with pytest.raises(ValueError, match="unknown pose role"):
        load_model(proj, "whiskers")


def test_run_pose_rejects_bad_models_before_inference(tmp_path):
    proj, train = _fake_project(tmp_path, ROLE_BODYPARTS["eye"])
    roi = Roi(0, 0, 100, 100, 100, 100)
    frames = np.zeros((3, 100, 100), np.uint8)
    wrong = DlcModel(
        "eye", train / "pytorch_config.yaml", train / "snapshot-010.pt", ("a", "b"), "wrong-model"
    )
    with pytest.raises(ValueError, match="wrong-model.*'eye'"):
        run_pose(frames, wrong, roi)
    missing = DlcModel(
        "eye", train / "pytorch_config.yaml", train / "gone.pt", ROLE_BODYPARTS["eye"], "m"
    )
    with pytest.raises(FileNotFoundError, match="gone.pt"):
        run_pose(frames, missing, roi)
    anchor = DlcModel(
        "anchor",
        train / "pytorch_config.yaml",
        train / "snapshot-010.pt",
        ROLE_BODYPARTS["anchor"],
        "anc",
    )
    with pytest.raises(ValueError, match="anc.*'anchor'"):
        run_pose(frames, anchor, roi)
    ok = load_model(proj, "eye")
    with pytest.raises(ValueError, match="64x64 px.*100x100"):
        run_pose(np.zeros((3, 64, 64), np.uint8), ok, roi)
    with pytest.raises(FileNotFoundError, match="nocrop.mp4"):
        run_pose(tmp_path / "nocrop.mp4", ok, roi)
    with pytest.raises(ValueError, match="n_samples"):
        anchor_points(frames, anchor, n_samples=5)


def test_collected_data_h5_is_dlc_layout(tmp_path):
    folder = tmp_path / "labeled-data" / "vid"
    folder.mkdir(parents=True)
    labels = {
        "a": np.array([[1.0, 2.0], [np.nan, np.nan]]),
        "b": np.array([[3.0, 4.0], [5.0, 6.0]]),
    }
    h5 = dlcio.write_collected_data(folder, "sim", ["a", "b"], ["img0.png", "img1.png"], labels)
    df = pd.read_hdf(h5, "df_with_missing")
    assert list(df.columns.names) == ["scorer", "bodyparts", "coords"]
    assert df.index[1] == ("labeled-data", "vid", "img1.png")
    assert df[("sim", "b", "y")].tolist() == [4.0, 6.0] and np.isnan(df[("sim", "a", "x")].iloc[1])


def test_dlc_h5_and_alf_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    pts = {bp: rng.uniform(0, 100, (7, 3)) for bp in ("tube_top", "tongue_end_l")}
    h5 = dlcio.write_dlc_h5(tmp_path / "x.h5", pts, "DLC_scorer")
    scorer, back = dlcio.read_dlc_h5(h5)
    assert scorer == "DLC_scorer" and list(back) == list(pts)
    np.testing.assert_array_equal(back["tongue_end_l"], pts["tongue_end_l"])
    pqt = dlcio.write_alf_dlc(tmp_path / dlcio.alf_dlc_name("left"), pts)
    assert pqt.name == "_ibl_leftCamera.dlc.pqt"
    cols = pd.read_parquet(pqt).columns.tolist()
    assert cols == ["tube_top_x", "tube_top_y", "tube_top_likelihood", "tongue_end_l_x", "tongue_end_l_y",
                    "tongue_end_l_likelihood"]  # fmt: skip
    back = dlcio.read_alf_dlc(pqt)
    np.testing.assert_array_equal(back["tube_top"], pts["tube_top"])
    with pytest.raises(ValueError, match="has 3 frames"):
        dlcio.write_alf_dlc(tmp_path / "bad.pqt", {"a": np.zeros((4, 3)), "b": np.zeros((3, 3))})
    with pytest.raises(FileNotFoundError, match="nothing.h5"):
        dlcio.read_dlc_h5(tmp_path / "nothing.h5")


def test_read_evaluation(tmp_path):
    proj, _ = _fake_project(tmp_path, ROLE_BODYPARTS["eye"])
    p = dlcio.read_project(proj)
    with pytest.raises(FileNotFoundError, match="CombinedEvaluation"):
        dlcio.read_evaluation(p)
    folder = proj / "evaluation-results-pytorch" / "iteration-0"
    folder.mkdir(parents=True)
    pd.DataFrame({"Training epochs": [40], "%Training dataset": [95], "Shuffle number": [1],
                  "train rmse": [0.6], "test rmse": [0.7], "train rmse_pcutoff": [0.5],
                  "test rmse_pcutoff": [0.65]}).to_csv(folder / "CombinedEvaluation-results.csv")  # fmt: skip
    ev = dlcio.read_evaluation(p, 1)
    assert ev["test_error_px"] == 0.7 and ev["train_error_pcutoff_px"] == 0.5 and ev["epochs"] == 40
    with pytest.raises(ValueError, match="shuffle 3"):
        dlcio.read_evaluation(p, 3)


# --------------------------------------------------------------------------------------
# trained networks (slow: the fixture trains them on a cold cache)


@pytest.fixture(scope="module")
def left_session(tmp_path_factory):
    """A new simulated left-camera h.264 video (not seen in training) and its truth."""
    from populate.models import simulated_video

    folder = tmp_path_factory.mktemp("pose_video")
    times = 20.0 + np.arange(90) / 60.0
    truth = simulated_video(folder / "left.mp4", "left", times, seed=777, crf=23)
    return folder / "left.mp4", truth


@pytest.mark.slow
def test_models_are_cached_and_trained_on_the_recipe(pose_model_infos):
    from populate.models import TEST_TRAINING, train_from_simulator

    t0 = time.perf_counter()
    again = train_from_simulator(training=TEST_TRAINING, seed=0, progress=False)
    assert time.perf_counter() - t0 < 2.0  # cached: no training, no DeepLabCut import
    for role, info in pose_model_infos.items():
        assert again[role] == info
        assert info.bodyparts == ROLE_BODYPARTS[role]
        assert info.snapshot.is_file() and np.isfinite(info.test_error_px)
        proj = dlcio.read_project(info.project_dir)
        labeled = next((info.project_dir / "labeled-data").iterdir())
        assert (labeled / "CollectedData_sim.h5").is_file() and len(
            list(labeled.glob("*.png"))
        ) == info.n_train + info.n_test
        assert proj.bodyparts == ROLE_BODYPARTS[role]
        import yaml

        pcfg = yaml.safe_load(info.pytorch_config.read_text())
        assert pcfg["data"]["train"].get("crop_sampling") is None
        assert pcfg["data"]["train"]["affine"]["translation"] > 0
        assert load_model(info.project_dir, role).snapshot == info.snapshot


@pytest.mark.slow
def test_install_models_hardlinks_under_the_data_root(pose_model_infos, tmp_path):
    from populate.models import install_models

    installed = install_models(pose_model_infos, tmp_path)
    for role, inst in installed.items():
        assert inst.project.startswith("models/dlc/") and not os.path.isabs(inst.snapshot)
        snap = tmp_path / inst.snapshot
        assert snap.is_file()
        assert snap.stat().st_ino == pose_model_infos[role].snapshot.stat().st_ino  # hard link
        text = (tmp_path / inst.project / "config.yaml").read_text()
        assert (
            str(tmp_path / inst.project) in text
            and str(pose_model_infos[role].project_dir) not in text
        )
        assert (
            str(pose_model_infos[role].project_dir)
            in (pose_model_infos[role].project_dir / "config.yaml").read_text()
        )
        m = load_model(tmp_path / inst.project, role)
        assert m.snapshot == snap
    assert install_models(pose_model_infos, tmp_path) == installed  # idempotent


@pytest.mark.slow
def test_eye_network_accuracy_on_new_video(pose_models):
    from populate.models import evaluate_role

    for label in ("left", "right"):
        ev = evaluate_role(pose_models["eye"], label=label, n_frames=60, seed=4242, crf=29)
        scale = camera_view(label, 1280 if label == "left" else 640)[0]
        for name, (median, rmse) in ev.errors_px.items():
            assert median < 3.0 * scale and rmse < 4.0 * scale, (label, name, median, rmse)
            assert ev.recall[name] > 0.8, (label, name, ev.recall[name])
        assert ev.extra["pupil_r"] > 0.9, ev.extra


@pytest.mark.slow
def test_tongue_network_sees_licks(pose_models):
    from populate.models import evaluate_role

    ev = evaluate_role(pose_models["tongue"], label="left", n_frames=240, seed=20002, crf=23)
    assert ev.extra["lick_true"] >= 5
    assert ev.extra["lick_recall"] >= 0.8 and ev.extra["lick_precision"] >= 0.8, ev.extra
    for name in ("tube_top", "tube_bottom"):  # test budget: 2.8 and 4.0 px median measured (spout, fixed)
        assert ev.errors_px[name][0] < 5.0 and ev.recall[name] > 0.9, (name, ev)


@pytest.mark.slow
def test_anchor_points_place_the_regions(pose_models, left_session):
    video, truth = left_session
    res = anchor_points(video, pose_models["anchor"], n_samples=30)
    assert res.n_samples == 30
    for name, xy in res.points.items():
        true = truth.extra_points.get(name, truth.points.get(name))
        err = np.hypot(*(xy - np.nanmean(true, axis=0)))
        assert err < 8.0, (name, err, res)  # regions were trained with anchors +-8 px off
        assert 5 <= res.n_confident[name] <= 30
    with pytest.raises(ValueError, match=r"only \d+ of 30 sampled frames"):
        anchor_points(video, pose_models["anchor"], n_samples=30, likelihood_threshold=1.0)


@pytest.mark.slow
def test_run_pose_video_frames_and_errors(pose_models, left_session, tmp_path, monkeypatch):
    from pipeline.io.video import read_frames

    video, truth = left_session
    spec = DEFAULT_ROI_SPECS["nostril"]
    roi = roi_from_anchor(spec, truth.extra_points["nose_tip"][0], 1280, 1024)
    crop = write_crops(video, {"nostril": roi}, tmp_path)["nostril"]
    from_video = run_pose(crop, pose_models["nostril"], roi, expected_frames=90, chunk=32)
    from_frames = run_pose(read_frames(crop, 100, 100), pose_models["nostril"], roi)
    assert set(from_video) == {"nostril_edge_high", "nostril_edge_low"}
    for bp, a in from_video.items():
        assert a.shape == (90, 3)
        np.testing.assert_allclose(a, from_frames[bp], atol=1e-4)
        d = np.hypot(*(a[:, :2] - truth.points[bp]).T)
        assert np.median(d) < 4.0, (bp, np.median(d))
    with pytest.raises(ValueError, match="90 frames.*the video has 91"):
        run_pose(crop, pose_models["nostril"], roi, expected_frames=91)

    # the device reaches DeepLabCut's inference runner
    from deeplabcut.pose_estimation_pytorch.apis import utils as dlc_utils

    import pipeline.pose as pose_module

    seen = {}

    def fake_runner(cfg, snapshot_path, batch_size, device, **kw):
        seen.update(device=device, batch_size=batch_size)
        raise RuntimeError("stop")

    monkeypatch.setattr(dlc_utils, "get_pose_inference_runner", fake_runner)
    monkeypatch.setattr(pose_module, "_RUNNERS", {})
    with pytest.raises(RuntimeError, match="stop"):
        run_pose(crop, pose_models["nostril"], roi, device="cuda:1", batch_size=4)
    assert seen == {"device": "cuda:1", "batch_size": 4}
    with pytest.raises(ValueError, match="device"):
        run_pose(crop, pose_models["nostril"], roi, device="gpu")
