"""The fast CPU path of the pose stage (pipeline.pose_onnx) against the PyTorch reference.

Pure tests check the predictor against DeepLabCut's own ``HeatmapPredictor`` on random
maps, the runtime choice and the unsupported networks. Tests marked slow use the cached
test networks (``tests/pose_fixtures.py``): the export cache (keyed by the snapshot's MD5)
and equal outputs of the two runtimes on the ``pose-vs-dlc`` bench video (2000 frames,
cached in ``<repo>/.cache/bench``), plus the PyTorch runtime against DeepLabCut's runner
itself. The simulated session's comparison is in ``tests/schemas/test_pose_chain.py``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from pipeline import pose
from pipeline.pose_onnx import check_supported, predict_points

ROOT = Path(__file__).resolve().parents[2]

#: The acceptance tolerances: the ONNX path equals the PyTorch path within these.
TOL_PX = 0.05
TOL_LIKELIHOOD = 0.01


def assert_same_points(
    fast: np.ndarray, ref: np.ndarray, tie_px: float = 1.0, max_tie_fraction: float = 1e-3
):
    """``fast`` equals ``ref`` within 0.05 px and 0.01 likelihood, except heatmap ties.

    Where two cells of a heatmap hold the same score to float32 rounding, float32 sums in
    another order (ONNX Runtime's kernels against PyTorch's) may pick the other cell; both
    cells' refinement vectors point at the same place, so the point moves by under a cell
    (measured: 0.52 px, at 1 of 8000 points of the bench video, scores equal to 6e-8). Such a
    point is accepted only when its likelihoods agree to 1e-5 and it moved by less than
    ``tie_px`` (one pixel of the network's input; pass the crop's scale for a downscaled
    crop), and at most ``max_tie_fraction`` of the points may be ties.
    """
    assert fast.shape == ref.shape
    d_xy = np.abs(fast[..., :2] - ref[..., :2]).max(axis=-1)
    d_lik = np.abs(fast[..., 2] - ref[..., 2])
    assert d_lik.max() < TOL_LIKELIHOOD, d_lik.max()
    ties = d_xy > TOL_PX
    assert ties.sum() <= max(1, int(max_tie_fraction * ties.size)), (
        ties.sum(),
        ties.size,
        d_xy.max(),
    )
    assert np.all(d_lik[ties] < 1e-5) and np.all(d_xy[ties] < tie_px), (d_lik[ties], d_xy[ties])
    return int(ties.sum())


# --------------------------------------------------------------------------------------
# pure


@pytest.mark.parametrize(
    "apply_sigmoid, clip_scores, locref",
    [(False, True, True), (True, False, True), (False, False, False)],
)
def test_predictor_matches_deeplabcut(apply_sigmoid, clip_scores, locref):
    import torch
    from deeplabcut.pose_estimation_pytorch.models.predictors.single_predictor import (
        HeatmapPredictor,
    )

    rng = np.random.default_rng(1)
    heat = rng.normal(0.3, 0.4, (5, 4, 7, 9)).astype(np.float32)
    heat[0, 0, 3, 4] = heat[0, 0, 3, 5] = 5.0  # a tie: the first cell wins, as torch.argmax
    loc = rng.normal(0, 1, (5, 8, 7, 9)).astype(np.float32)
    dlc = HeatmapPredictor(
        apply_sigmoid=apply_sigmoid,
        clip_scores=clip_scores,
        location_refinement=locref,
        locref_std=7.2801,
    )
    outputs = {"heatmap": torch.from_numpy(heat), "locref": torch.from_numpy(loc)}
    want = dlc(16.0, outputs)["poses"][:, 0].numpy()
    got = predict_points(heat, loc if locref else None, 16.0, apply_sigmoid=apply_sigmoid, clip_scores=clip_scores,
                         locref_std=7.2801)  # fmt: skip
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def _cfg(**changes) -> dict:
    cfg = {
        "method": "bu",
        "model": {"heads": {"bodypart": {"type": "HeatmapHead", "predictor": {"type": "HeatmapPredictor", "apply_sigmoid": False,
                                                                             "clip_scores": True, "locref_std": 7.2801}}}},
        "metadata": {"bodyparts": ["a"], "unique_bodyparts": [], "individuals": ["individual_1"]},
        "data": {"colormode": "RGB", "inference": {"normalize_images": True, "resize": None}},
    }  # fmt: skip
    for path, value in changes.items():
        d = cfg
        *head, last = path.split(".")
        for k in head:
            d = d[k]
        d[last] = value
    return cfg


def test_check_supported_accepts_our_networks_and_names_what_it_refuses():
    assert check_supported(_cfg(), "m") == dict(
        apply_sigmoid=False, clip_scores=True, location_refinement=True, locref_std=7.2801
    )
    cases = {
        "method": ("td", "method 'td' is not bottom-up"),
        "data.inference.resize": (
            {"height": 256, "width": 256},
            r"inference transform \['resize'\]",
        ),
        "data.inference.normalize_images": (False, "inference without normalize_images"),
        "metadata.individuals": (["a", "b"], "multi-animal"),
        "model.heads.bodypart.type": (
            "DEKRHead",
            "head DEKRHead/HeatmapPredictor is not a HeatmapHead",
        ),
    }
    for path, (value, message) in cases.items():
        with pytest.raises(ValueError, match=f"model my-net: {message}.*use the pytorch runtime"):
            check_supported(_cfg(**{path: value}), "my-net")


def test_batch_size_per_crop_size():
    assert pose.batch_size_for(100, 100) == 32
    assert pose.batch_size_for(160, 160) == 12
    assert pose.batch_size_for(374, 450) == 2
    assert pose.batch_size_for(1024, 1280) == 1


def test_batches_regroup_chunks_of_any_length():
    chunks = [np.full((n, 2, 3), i, np.uint8) for i, n in enumerate([5, 1, 7, 3])]
    batches = list(pose._batches(iter(chunks), 4))
    assert [len(b) for b in batches] == [4, 4, 4, 4]
    np.testing.assert_array_equal(np.concatenate(batches), np.concatenate(chunks))
    assert [len(b) for b in pose._batches(iter(chunks), None)] == [16]  # 2x3 frames: batch 32


def test_resolve_runtime(tmp_path):
    assert pose.resolve_runtime("auto", "cuda") == "pytorch"
    assert pose.resolve_runtime("auto", "cpu") == "onnxruntime"
    assert pose.resolve_runtime("pytorch", "cpu") == "pytorch"
    with pytest.raises(
        ValueError, match="runtime must be one of pytorch, onnxruntime or 'auto', got 'tensorrt'"
    ):
        pose.resolve_runtime("tensorrt", "cpu")
    with pytest.raises(
        ValueError, match="onnxruntime runtime runs on the CPU only, not on 'cuda:1'"
    ):
        pose.resolve_runtime("onnxruntime", "cuda:1")
    # a network the ONNX path cannot reproduce: auto falls back to PyTorch, onnxruntime refuses it
    import yaml

    cfg = tmp_path / "pytorch_config.yaml"
    cfg.write_text(yaml.safe_dump(_cfg(method="td")))
    model = pose.DlcModel("eye", cfg, tmp_path / "snapshot.pt", ("a",), "td-net")
    assert pose.resolve_runtime("auto", "cpu", [model]) == "pytorch"
    with pytest.raises(ValueError, match="model td-net: method 'td' is not bottom-up"):
        pose.resolve_runtime("onnxruntime", "cpu", [model])


def test_populate_takes_the_runtime_and_refuses_a_bad_one(tmp_path):
    from typer.testing import CliRunner

    from populate.cli import app
    from populate.worker import accepted_make_kwargs
    from schemas.pose import DLCPose

    assert accepted_make_kwargs(DLCPose, {"runtime": "pytorch", "device": "cpu"}) == {
        "runtime": "pytorch",
        "device": "cpu",
    }
    result = CliRunner().invoke(
        app, ["--data-root", str(tmp_path), "populate", "DLCPose", "--runtime", "tensorrt"]
    )
    assert (
        result.exit_code == 2
        and "--runtime must be one of pytorch, onnxruntime or auto" in result.output
    )
    result = CliRunner().invoke(
        app,
        ["--data-root", str(tmp_path), "populate", "--runtime", "onnxruntime", "--device", "cuda"],
    )
    assert result.exit_code == 2 and "--runtime onnxruntime runs on the CPU only" in result.output


# --------------------------------------------------------------------------------------
# trained networks


@pytest.fixture(scope="session")
def bench_eye_video():
    """The ``pose-vs-dlc`` bench video (2000 frames, 100x100), made once into ``<repo>/.cache/bench``."""
    from bench.rows_pose import _make_eye_video
    from pipeline.io import file_lock

    path = ROOT / ".cache" / "bench" / "pose_vs_dlc_eye_2000.mp4"
    with file_lock(path.with_suffix(".lock"), waiting="the bench eye video"):
        if not path.is_file():
            partial = path.with_suffix(".partial.mp4")
            _make_eye_video(partial, 2000)
            partial.replace(path)
    return path


@pytest.mark.slow
def test_onnx_export_is_cached_by_snapshot_md5(pose_models, tmp_path):
    from pipeline.pose_onnx import export_onnx, onnx_path, snapshot_md5

    model = pose_models["nostril"]
    path = export_onnx(model)
    assert path.parent == model.snapshot.parent and snapshot_md5(model.snapshot) in path.name
    mtime = path.stat().st_mtime_ns
    assert export_onnx(model) == path and path.stat().st_mtime_ns == mtime  # not exported again

    # a new snapshot (another file content) gets its own export, beside it
    import torch

    train = tmp_path / "train"
    shutil.copytree(model.snapshot.parent, train, ignore=shutil.ignore_patterns("*.onnx", "*.lock"))
    snap = train / model.snapshot.name
    state = torch.load(snap, map_location="cpu", weights_only=False)
    first = next(k for k, v in state["model"].items() if v.dtype.is_floating_point)
    state["model"][first] = state["model"][first] * 1.01
    torch.save(state, snap)
    changed = pose.DlcModel(
        "nostril", train / "pytorch_config.yaml", snap, model.bodyparts, "changed"
    )
    new = export_onnx(changed)
    assert new.parent == train and new.name != path.name and new == onnx_path(changed)
    frames = np.random.default_rng(0).integers(0, 255, (4, 100, 100), dtype=np.uint8)
    assert not np.allclose(pose.infer_frames(frames, changed, runtime="onnxruntime"),
                           pose.infer_frames(frames, model, runtime="onnxruntime"))  # fmt: skip


@pytest.mark.slow
def test_onnx_equals_pytorch_on_the_bench_video(pose_models, bench_eye_video):
    model = pose_models["eye"]
    frames = np.concatenate(list(pose.iter_video_frames(bench_eye_video)))
    assert frames.shape == (2000, 100, 100)
    ref = pose.infer_frames(frames, model, runtime="pytorch", batch_size=32)
    fast = pose.infer_frames(frames, model, runtime="onnxruntime", batch_size=32)
    ties = assert_same_points(fast, ref)
    print(f"\nbench video: {ties} tie(s) of {ref.shape[0] * ref.shape[1]} points; "
          f"max |dxy| elsewhere {np.abs(fast - ref)[..., :2].max(-1)[np.abs(fast - ref)[..., :2].max(-1) <= TOL_PX].max():.2e} px")  # fmt: skip
    # the batch path of the PyTorch runtime is DeepLabCut's runner, to float32 rounding
    runner = pose._runner(model, "cpu", 32)
    sub = frames[:320]
    preds = runner.inference(list(np.repeat(sub[..., None], 3, axis=-1)))
    dlc = np.stack([p["bodyparts"][0, :, :3] for p in preds])
    np.testing.assert_allclose(ref[:320], dlc, rtol=0, atol=1e-4)
    # run_pose on the file (default runtime: onnxruntime on the CPU, batch per crop size)
    roi = pose.Roi(0, 0, 100, 100, 100, 100)
    points = pose.run_pose(bench_eye_video, model, roi, expected_frames=2000)
    for j, bp in enumerate(model.bodyparts):
        np.testing.assert_allclose(points[bp], fast[:, j], rtol=0, atol=1e-4)


@pytest.mark.slow
def test_onnx_equals_pytorch_on_the_paws_crop(pose_models, tmp_path):
    """The largest crop (450x374), batch chosen per size (2) against batch 32."""
    from bench.rows_pose import _make_paws_video

    video = tmp_path / "paws.mp4"
    w, h = _make_paws_video(video, 40)
    frames = np.concatenate(list(pose.iter_video_frames(video)))
    assert frames.shape == (40, h, w) == (40, 374, 450)
    ref = pose.infer_frames(frames, pose_models["paws"], runtime="pytorch", batch_size=32)
    fast = pose.infer_frames(frames, pose_models["paws"], runtime="onnxruntime", batch_size=None)
    assert_same_points(fast, ref)


def test_onnx_cache_falls_back_when_the_model_folder_is_read_only(tmp_path, monkeypatch):
    from pipeline import pose_onnx

    snap = tmp_path / "train" / "snapshot-best-010.pt"
    snap.parent.mkdir()
    snap.write_bytes(b"weights")
    model = pose.DlcModel("eye", tmp_path / "train" / "pytorch_config.yaml", snap, ("a",), "m")
    monkeypatch.setenv("IBL_VIDEO_ONNX_CACHE", str(tmp_path / "fallback"))
    assert pose_onnx.onnx_path(model, _cfg()).parent == snap.parent
    real_access = os.access
    monkeypatch.setattr(
        pose_onnx.os,
        "access",
        lambda p, mode: False if Path(p) == snap.parent else real_access(p, mode),
    )
    fallback = pose_onnx.onnx_path(model, _cfg())
    assert fallback.parent == tmp_path / "fallback" and fallback.name.startswith(
        "snapshot-best-010."
    )
