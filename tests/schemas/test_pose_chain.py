"""The pose and feature chain on a full-resolution simulated session, against the simulator's truth.

Runs on the embedded database only (the DeepLabCut inference is the expensive part; the
table mechanics are the same as the other stages, tested on every backend).
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow

TOLERANCE_FRAMES = 2


@pytest.fixture(scope="module")
def chain(pose_model_infos, tmp_path_factory, embedded_connection):
    """Record a 16 s full-resolution session (left and right cameras) and populate everything."""
    import datajoint as dj

    import schemas
    from acquisition.daq import DaqConfig
    from acquisition.insert import insert_recording
    from acquisition.session import record_session
    from populate.tables import computed_tables
    from schemas.config import Settings
    from schemas.pose import register_simulated_models

    settings = Settings(data_root=tmp_path_factory.mktemp("chain"), schema_prefix="test_chain", database="embedded")
    schemas.activate(settings, connection=embedded_connection)
    try:
        set_name = register_simulated_models(pose_model_infos)
        rec = record_session(settings.data_root, "CHAIN01", "ephys", 16.0, seed=21, cameras=["left", "right"],
                             daq_config=DaqConfig(seed=21), progress=False)  # fmt: skip
        key = insert_recording(rec)
        restriction = [dict(key, camera_label=c) for c in ("left", "right")]
        errors = {}
        for name, table in computed_tables().items():
            if name == "TrainingClips":
                continue
            result = table.populate(restriction, reserve_jobs=True, suppress_errors=True)
            errors[name] = result["error_list"]
        yield dict(settings=settings, key=key, rec=rec, errors=errors, set_name=set_name)
    finally:
        with dj.config.override(safemode=False):
            schemas.drop_all()


def _truth(chain, label):
    from acquisition.daq import load_truth

    return load_truth(chain["rec"].folder)


def test_chain_completes(chain):
    assert {k: v for k, v in chain["errors"].items() if v} == {}
    from schemas.features import LickEvents, PupilDiameter
    from schemas.pose import DLCPose

    assert len(DLCPose & chain["key"]) == 2
    assert len(PupilDiameter & chain["key"]) == 2 * 2  # two cameras x two feature parameter sets
    from schemas.pose import CropROI

    assert {r["region"] for r in (CropROI.Region & chain["key"]).to_dicts()} == {"eye", "nostril", "tongue", "paws"}
    assert len(LickEvents & chain["key"]) == 4


def test_one_pose_entry_per_video_frame(chain):
    from schemas.compression import CompressedVideo
    from schemas.pose import DLCPose
    from schemas.sync import SyncPulses

    for row in (DLCPose & chain["key"]).to_dicts():
        n_video = (CompressedVideo & row).fetch1("n_frames")
        n_times = len(np.asarray((SyncPulses & row).fetch1("frame_times")))
        parts = (DLCPose.BodyPart & row).to_dicts()
        assert len(parts) == 18  # eye 4 + nostril 2 + tongue 4 + paws 8
        assert row["n_frames"] == n_video == n_times
        assert all(np.asarray(p["pose"]).shape == (n_video, 3) for p in parts)


def test_pose_error_against_truth(chain):
    from schemas.pose import DLCPose, pose_arrays

    truth = _truth(chain, None)
    report = {}
    for label in ("left", "right"):
        key = (DLCPose & chain["key"] & {"camera_label": label}).fetch1("KEY")
        pose = pose_arrays(key)
        scene = truth.scenes[label]
        n = len(next(iter(pose.values())))
        for part, arr in pose.items():
            true = np.asarray(scene.points[part])[:n]
            ok = np.isfinite(true).all(axis=1) & (arr[:, 2] >= 0.9)
            if ok.sum() >= 10:
                report[f"{label}/{part}"] = float(np.median(np.linalg.norm(arr[ok, :2] - true[ok], axis=1)))
    print("\nDLCPose median error against truth, pixels:")
    for name, err in sorted(report.items()):
        print(f"  {name:28s} {err:6.2f}")
    pupil = {k: v for k, v in report.items() if "/pupil_" in k}
    assert len(pupil) == 8
    assert max(pupil.values()) < 3.0, pupil


def test_pupil_diameter_against_truth(chain):
    from schemas.features import PupilDiameter

    truth = _truth(chain, None)
    for label in ("left", "right"):
        row = (PupilDiameter & chain["key"] & {"camera_label": label, "feature_params": "ibl"}).fetch1()
        est = np.asarray(row["pupil_diameter_px"])
        true = np.asarray(truth.scenes[label].pupil_diameter_px)[: len(est)]
        ok = np.isfinite(est) & np.isfinite(true)
        r = np.corrcoef(est[ok], true[ok])[0, 1]
        mae = np.median(np.abs(est[ok] - true[ok])) / np.mean(true[ok])
        print(f"\n{label}: pupil r = {r:.3f}, median |error| = {100 * mae:.1f}% of the mean diameter")
        assert r >= 0.95 and mae < 0.05


@pytest.mark.parametrize("params", ["ibl", "distance"])
def test_lick_onsets_against_truth(chain, params):
    from schemas.features import LickEvents
    from schemas.sync import SyncPulses

    truth = _truth(chain, None)
    starts = truth.lick_intervals_s[:, 0]
    for label in ("left", "right"):
        row = (LickEvents & chain["key"] & {"camera_label": label, "feature_params": params}).fetch1()
        times = np.asarray((SyncPulses & row).fetch1("frame_times"))
        period = float(np.median(np.diff(times)))
        true = starts[(starts >= times[0]) & (starts <= times[-1])]
        found = np.asarray(row["lick_onset_times"])
        hit_true = np.array([np.any(np.abs(found - t) <= TOLERANCE_FRAMES * period) for t in true])
        hit_found = np.array([np.any(np.abs(true - f) <= TOLERANCE_FRAMES * period) for f in found])
        recall = hit_true.mean() if len(true) else 1.0
        precision = hit_found.mean() if len(found) else 0.0
        print(f"\n{label} {params}: {len(found)} onsets, {len(true)} true licks, precision {precision:.2f}, recall {recall:.2f}")
        if params == "distance" or label == "left":
            assert len(true) >= 5
        assert precision >= 0.9 and recall >= 0.9


def test_dlcpose_records_onnxruntime_and_equals_the_pytorch_runtime(chain):
    """DLCPose ran ONNX Runtime (the CPU default) and its points equal the PyTorch runtime's.

    Every crop video of the session (4 regions x 2 cameras), first 240 frames, both runtimes
    (batch chosen per crop size for ONNX Runtime, 32 for PyTorch), and the stored DLCPose
    points, which are these points after the 5-frame median filter.
    """
    import importlib.util
    from pathlib import Path

    from pipeline import layout, pose
    from pipeline.crops import Roi
    from pipeline.io.video import read_frames
    from schemas.pose import CropROI, DLCPose, PoseModel, PoseModelSet, pose_arrays

    spec = importlib.util.spec_from_file_location("_onnx_tests", Path(__file__).parents[1] / "pipeline" / "test_pose_onnx.py")
    onnx_tests = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(onnx_tests)

    rows = (DLCPose & chain["key"]).to_dicts()
    assert {r["runtime"] for r in rows} == {"onnxruntime"} and {r["batch_size"] for r in rows} == {None}
    root = chain["settings"].data_root
    n_points = n_ties = 0
    for row in rows:
        models = PoseModelSet.role_models(row)
        stored = pose_arrays(row)
        for r in (CropROI.Region & row).to_dicts():
            model = PoseModel().model(models[r["region"]])
            roi = Roi(r["x"], r["y"], r["w"], r["h"], r["out_w"], r["out_h"], bool(r["mirror"]))
            frames = read_frames(layout.resolve_under(root, r["crop_video_path"]), r["out_w"], r["out_h"], count=240)
            ref = pose.run_pose(frames, model, roi, runtime="pytorch", batch_size=32)
            fast = pose.run_pose(frames, model, roi, runtime="onnxruntime")
            names = sorted(ref)
            n_ties += onnx_tests.assert_same_points(np.stack([fast[n] for n in names], 1), np.stack([ref[n] for n in names], 1),
                                                    tie_px=r["w"] / r["out_w"])  # fmt: skip
            n_points += len(names) * len(frames)
            filtered = pose.median_filter_pose(fast, window=5)  # the stored pose is these, filtered (away from the cut)
            onnx_tests.assert_same_points(np.stack([stored[n][:236] for n in names], 1),
                                          np.stack([filtered[n][:236] for n in names], 1), tie_px=r["w"] / r["out_w"])  # fmt: skip
    print(f"\nchain: onnxruntime vs pytorch, {n_ties} tie(s) among {n_points} points")
