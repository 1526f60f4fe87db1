"""Bench rows of the pose stage: single-pass crops, DLCPose against DeepLabCut, pose storage."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from bench import BenchResult, row
from pipeline.io.ffmpeg import run_ffmpeg


def _seconds() -> float:
    return float(os.environ.get("IBL_BENCH_CROP_SECONDS", "60"))


@row("crop-single-pass")
def crop_single_pass() -> BenchResult:
    """All ROIs of a 60 s 1280x1024 60 Hz recording from one decode, against one plain decode."""
    from acquisition.simulator import Behaviour, MouseScene
    from bench.rows_compress import bench_raw_video
    from pipeline.crops import DEFAULT_ROI_SPECS, roi_from_anchor, write_crops

    seconds = _seconds()
    raw = bench_raw_video(seconds)
    scene = MouseScene(Behaviour(seconds + 1.0, seed=0), "left", 1280, 1024, seed=0)
    truth = scene.truth(np.arange(0, seconds, 1.0))
    true_points = {**truth.extra_points, **truth.points}
    anchors = {s.anchor: np.nanmean(true_points[s.anchor], axis=0) for s in DEFAULT_ROI_SPECS.values()}  # true anchors
    rois = {name: roi_from_anchor(spec, anchors[spec.anchor], 1280, 1024) for name, spec in DEFAULT_ROI_SPECS.items()}
    run_ffmpeg(["-v", "error", "-i", str(raw), "-c", "copy", "-f", "null", "-"], path=raw)  # warm the page cache
    t0 = time.perf_counter()
    run_ffmpeg(["-v", "error", "-i", str(raw), "-f", "null", "-"], path=raw)
    base = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(prefix="bench-crops-") as tmp:
        t0 = time.perf_counter()
        written = write_crops(raw, rois, Path(tmp), stem="leftCamera")
        ours = time.perf_counter() - t0
        sizes = ", ".join(f"{n} {r.out_w}x{r.out_h}" for n, r in rois.items())
        assert len(written) == len(rois)
    return BenchResult(
        row="crop-single-pass", seconds=ours, baseline="ffmpeg -i raw -f null - (one decode)", baseline_seconds=base,
        ratio=ours / base,
        note=f"{int(seconds * 60)} frames 1280x1024 FFV1; {len(rois)} crops ({sizes}) written from one decode; target <= 1.3",
    )


def _pose_against_dlc(role: str, n: int, make_video) -> tuple[dict, float, float, float, dict]:
    """Time run_pose (runtime "auto": ONNX Runtime on the CPU) and analyze_videos on one crop video.

    Returns ``(points, ours_s, dlc_s, pytorch_s, info)``: ``pytorch_s`` is run_pose's
    PyTorch runtime on the same video (the reference path), timed in the same run. Every
    path gets one untimed warm-up call on a few frames (libraries imported, the ONNX export
    made once per snapshot and kept on disk), then the in-memory networks are dropped, so
    each timing loads its network as analyze_videos does inside its own.
    """
    import deeplabcut

    from pipeline import pose
    from pipeline.crops import Roi
    from pipeline.io.video import read_frames
    from pipeline.pose import run_pose
    from populate.models import TEST_TRAINING, train_from_simulator

    info = train_from_simulator(roles=[role], training=TEST_TRAINING, progress=False)[role]
    model = info.model()
    with tempfile.TemporaryDirectory(prefix=f"bench-pose-{role}-") as tmp:
        video = Path(tmp) / f"{role}.mp4"
        w, h = make_video(video, n)
        roi = Roi(0, 0, w, h, w, h)
        warm = read_frames(video, w, h, count=4)
        for runtime in ("onnxruntime", "pytorch"):
            run_pose(warm, model, roi, runtime=runtime)
        pose._ONNX.clear(), pose._RUNNERS.clear()
        t0 = time.perf_counter()
        ours = run_pose(video, model, roi, expected_frames=n)
        ours_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        run_pose(video, model, roi, expected_frames=n, runtime="pytorch")
        pytorch_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        deeplabcut.analyze_videos(str(info.project_dir / "config.yaml"), [str(video)], shuffle=1, batch_size=32,
                                  destfolder=tmp, save_as_csv=False)  # fmt: skip
        dlc_s = time.perf_counter() - t0
    return ours, ours_s, dlc_s, pytorch_s, dict(w=w, h=h)


def _pose_row(name: str, role: str, n: int, make, crop: str, ours: str, goal: str) -> BenchResult:
    """One pose row: run_pose (runtime auto) and its PyTorch runtime against analyze_videos, one run."""
    points, ours_s, dlc_s, pytorch_s, _ = _pose_against_dlc(role, n, make)
    return BenchResult(
        row=name, seconds=ours_s, baseline="deeplabcut.analyze_videos, same video and model",
        baseline_seconds=dlc_s, ratio=ours_s / dlc_s,
        note=(f"{n} frames {crop}, cspnext_s, cpu; ours: run_pose runtime auto ({ours}, a thread per core), "
              f"DLC batch 32, torch's default threads; run_pose runtime pytorch (1 thread) {pytorch_s:.2f} s "
              f"(ratio {pytorch_s / dlc_s:.2f}); {len(points)} body parts; {goal}"),
    )  # fmt: skip


@row("pose-vs-dlc")
def pose_vs_dlc() -> BenchResult:
    """DLCPose's inference (run_pose) on one ROI video against deeplabcut.analyze_videos on the same video and model."""
    n = int(os.environ.get("IBL_BENCH_POSE_FRAMES", "2000"))
    return _pose_row("pose-vs-dlc", "eye", n, _make_eye_video, "100x100 eye crop", "onnxruntime, batch 32",
                     "target <= 1.0, goal <= 0.5")  # fmt: skip


@row("pose-paws")
def pose_paws() -> BenchResult:
    """DLCPose's inference on the paws crop (450x374, the costliest region) against deeplabcut.analyze_videos."""
    n = int(os.environ.get("IBL_BENCH_PAWS_FRAMES", "300"))
    return _pose_row("pose-paws", "paws", n, _make_paws_video, "450x374 paws crop (900x750 downscaled)",
                     "onnxruntime, batch 2", "goal <= 0.5")  # fmt: skip


def _make_eye_video(path: Path, n: int) -> tuple[int, int]:
    """An eye-region video of ``n`` frames cut from the simulator's left camera (h.264); returns (w, h)."""
    from acquisition.simulator import Behaviour, MouseScene
    from pipeline.io.video import write_video

    scene = MouseScene(Behaviour(n / 60 + 2, seed=3), "left", 1280, 1024, seed=3)
    times = np.arange(n) / 60.0
    centre = np.nanmean(scene.truth(times[:60]).extra_points["pupil_center"], axis=0).round().astype(int)
    x, y = centre - 50
    frames = np.concatenate([scene.render(times[i : i + 120])[:, y : y + 100, x : x + 100] for i in range(0, n, 120)])
    write_video(path, frames, 60.0, codec="libx264", extra=["-crf", "17", "-pix_fmt", "yuv420p"])
    return 100, 100


def _make_paws_video(path: Path, n: int) -> tuple[int, int]:
    """A paws-region video of ``n`` frames (900x750 of the simulator's left camera downscaled to
    450x374, as CropROI makes it; h.264); returns (w, h)."""
    from acquisition.simulator import Behaviour, MouseScene
    from pipeline.crops import DEFAULT_ROI_SPECS, crop_frames, roi_from_anchor
    from pipeline.io.video import write_video

    spec = DEFAULT_ROI_SPECS["paws"]
    scene = MouseScene(Behaviour(n / 60 + 2, seed=5), "left", 1280, 1024, seed=5)
    times = np.arange(n) / 60.0
    truth = scene.truth(times[:60])
    anchor = np.nanmean({**truth.extra_points, **truth.points}[spec.anchor], axis=0)
    roi = roi_from_anchor(spec, anchor, 1280, 1024)
    frames = np.concatenate([crop_frames(scene.render(times[i : i + 60]), roi) for i in range(0, n, 60)])
    write_video(path, frames, 60.0, codec="libx264", extra=["-crf", "17", "-pix_fmt", "yuv420p"])
    return roi.out_w, roi.out_h


@row("pose-store-roundtrip")
def pose_store_roundtrip() -> BenchResult:
    """Insert and fetch 1 h of 150 Hz pose (23 points x 3 values x 540,000 frames) against np.save/np.load."""
    from bench.common import pose_store_table
    from pipeline.rigs import TRACKED_POINTS

    n = 540_000
    rng = np.random.default_rng(0)
    arrays = {p: rng.normal(500, 50, (n, 3)) for p in TRACKED_POINTS}
    with pose_store_table() as PoseStore:
        t0 = time.perf_counter()
        PoseStore.insert([dict(body_part=p, pose=a) for p, a in arrays.items()])
        back = {r["body_part"]: np.asarray(r["pose"]) for r in PoseStore().to_dicts()}
        ours = time.perf_counter() - t0
        assert all(np.array_equal(back[p], arrays[p]) for p in arrays)
        with tempfile.TemporaryDirectory(prefix="bench-npy-") as tmp:
            t0 = time.perf_counter()
            for p, a in arrays.items():
                np.save(Path(tmp) / f"{p}.npy", a)
            loaded = {p: np.load(Path(tmp) / f"{p}.npy") for p in arrays}
            base = time.perf_counter() - t0
            assert all(np.array_equal(loaded[p], arrays[p]) for p in arrays)
    mb = sum(a.nbytes for a in arrays.values()) / 1e6
    return BenchResult(
        row="pose-store-roundtrip", seconds=ours, baseline="np.save + np.load of the same arrays", baseline_seconds=base,
        ratio=ours / base, note=f"23 points x 3 x {n} frames ({mb:.0f} MB), object store <npy@ibl_video>, embedded PostgreSQL",
    )


