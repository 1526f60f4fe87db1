"""Pose estimation with DeepLabCut: anchor points on the full frame, specialised networks on
crops, every point mapped back to full-frame pixels.

The stage, as IBL runs it (DESIGN.md sections 1 and 3):

1. :func:`anchor_points`: a general network (role ``"anchor"``) finds the pupil centre, the
   nose tip and the top of the drinking spout on frames sampled from the video (downscaled
   to :data:`ANCHOR_WIDTH` pixels wide); the confident detections are averaged.
2. :func:`pipeline.crops.roi_from_anchor` places the regions (:data:`pipeline.crops.DEFAULT_ROI_SPECS`)
   and :func:`pipeline.crops.write_crops` cuts them all from one decode of the video.
3. :func:`run_pose`: each region's network (roles ``"eye"``, ``"nostril"``, ``"tongue"``,
   ``"paws"``) runs on its crop video; points come back in full-frame pixels with their
   likelihoods, under the camera's own names (:data:`pipeline.rigs.TRACKED_POINTS`).
4. :func:`median_filter_pose` smooths each coordinate over 5 frames, over confident frames
   only, and leaves the tongue tips alone (a temporal median smears a lick).

Networks are trained on left-camera views (:mod:`populate.models` for the simulator's frames,
:mod:`pipeline.training` for a lab's labelled project); their body parts carry
the left camera's names. The right camera's crops are mirrored to look the same
(:func:`pipeline.crops.camera_view`), and :func:`camera_point_name` renames the points:
the pupil's left and right edges swap and the eye's suffix becomes ``_r``; the near paw's
fingers become the right paw's and the far paw's the left one's. Tongue, spout and
nostril names say "upper"/"lower" and are the same on both cameras.

Inference runs on frames decoded by ffmpeg, streamed in chunks so that an hour of video
never sits in memory, with one of two runtimes (:data:`RUNTIMES`, chosen by
:func:`resolve_runtime`; DLCPose records which ran):

* ``"pytorch"``, the reference and the GPU path: DeepLabCut's inference runner
  (``get_pose_inference_runner``) loads the network; whole batches are normalised at once
  and go through the network and DeepLabCut's own predictor (``get_predictions``), which
  gives DeepLabCut's runner's points exactly (max difference 0 on the 2000-frame bench
  video) without its per-frame preprocessing, tensor copies and per-frame postprocessing.
* ``"onnxruntime"``, the CPU default: the network exported once to ONNX (cached beside the
  snapshot, keyed by its MD5) and run by ONNX Runtime (:mod:`pipeline.pose_onnx`). Same
  points within float32 rounding (at most 3e-5 px and 3e-6 likelihood on the bench video),
  except where two heatmap cells tie to float32 precision (1 point of 8000 there, 0.5 px).

The batch size is chosen per crop size (:func:`batch_size_for`): the 450x374 paws crop ran
2-3x faster per frame at batch 1-4 than at DeepLabCut's 32. Where the time goes, part by
part, against ``deeplabcut.analyze_videos``: ``python -m bench.profile_pose``.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.crops import Roi, crop_frames, full_frame_roi, to_full_frame
from pipeline.io.ffmpeg import FFmpegError, ffmpeg_exe

__all__ = [
    "ANCHOR_BODYPARTS",
    "ANCHOR_WIDTH",
    "CROP_ROLES",
    "FAST_PARTS",
    "ROLES",
    "ROLE_BODYPARTS",
    "RUNTIMES",
    "AnchorResult",
    "DlcModel",
    "anchor_frames",
    "anchor_points",
    "batch_size_for",
    "camera_point_name",
    "check_bodyparts",
    "infer_frames",
    "limit_torch_threads",
    "iter_video_frames",
    "load_model",
    "median_filter_pose",
    "resolve_runtime",
    "role_point_indices",
    "run_pose",
]

#: Points the anchor network finds (full frame, downscaled).
ANCHOR_BODYPARTS: tuple[str, ...] = ("pupil_center", "nose_tip", "tube_top")

_FINGERS = ("pinky", "ring_finger", "middle_finger", "pointer_finger")

#: Body parts of each role's network, named as on the left camera.
#: Paws: the eight fingertips (near paw ``_l``, far paw ``_r`` on the left camera): distinct
#: round ends that stay at least 3 px wide in the 450x374 crop.
ROLE_BODYPARTS: dict[str, tuple[str, ...]] = {
    "anchor": ANCHOR_BODYPARTS,
    "eye": ("pupil_top_l", "pupil_right_l", "pupil_bottom_l", "pupil_left_l"),
    "nostril": ("nostril_edge_high", "nostril_edge_low"),
    "tongue": ("tube_top", "tube_bottom", "tongue_end_l", "tongue_end_r"),
    "paws": tuple(f"{f}_{side}" for side in ("l", "r") for f in _FINGERS),
}
#: All roles, the anchor first.
ROLES: tuple[str, ...] = tuple(ROLE_BODYPARTS)
#: Roles whose networks run on crops (one region each, same name as the role).
CROP_ROLES: tuple[str, ...] = ("eye", "nostril", "tongue", "paws")
#: Body parts too fast for a temporal median filter (:func:`median_filter_pose` skips them).
FAST_PARTS: tuple[str, ...] = ("tongue_end_l", "tongue_end_r")
#: Width (pixels) to which full frames are downscaled for the anchor network.
ANCHOR_WIDTH = 320
#: Inference runtimes: DeepLabCut's network in PyTorch (the reference; CPU and GPU) and its
#: ONNX export run by ONNX Runtime (CPU; :mod:`pipeline.pose_onnx`). ``"auto"`` picks one
#: (:func:`resolve_runtime`).
RUNTIMES: tuple[str, ...] = ("pytorch", "onnxruntime")


def camera_point_name(name: str, mirror: bool) -> str:
    """Name of a network's (left-camera) body part on a camera that sees the mouse mirrored.

    On the right camera the left eye is hidden and the right one shows, and image left and
    right swap: ``pupil_right_l`` -> ``pupil_left_r``, ``pupil_top_l`` -> ``pupil_top_r``;
    the near paw is the right one: ``pinky_l`` <-> ``pinky_r``. Other names are unchanged.
    With ``mirror=False`` the name is returned as is.
    """
    if not mirror:
        return name
    if name.startswith("pupil_") and name[-2:] in ("_l", "_r"):
        side = "r" if name.endswith("_l") else "l"
        part = name[len("pupil_") : -2]
        part = {"left": "right", "right": "left"}.get(part, part)
        return f"pupil_{part}_{side}"
    base, _, side = name.rpartition("_")
    if base in _FINGERS or base == "paw":
        return f"{base}_{'r' if side == 'l' else 'l'}"
    return name


# --------------------------------------------------------------------------------------
# models


@dataclass(frozen=True)
class DlcModel:
    """A trained DeepLabCut network ready for inference.

    Attributes
    ----------
    role : str
        One of :data:`ROLES`.
    pytorch_config : Path
        The shuffle's ``train/pytorch_config.yaml``.
    snapshot : Path
        Weights (``snapshot-*.pt``).
    bodyparts : tuple of str
        The network's body parts in output order (left-camera names).
    name : str
        For messages (e.g. the project folder).
    """

    role: str
    pytorch_config: Path
    snapshot: Path
    bodyparts: tuple[str, ...]
    name: str = ""


def load_model(
    project: Path | str,
    role: str,
    *,
    shuffle: int = 1,
    snapshot: Path | str | None = None,
) -> DlcModel:
    """Open a DLC project's trained shuffle as the network of ``role``.

    Parameters
    ----------
    project : path
        The project folder or its ``config.yaml``.
    role : str
        One of :data:`ROLES`; the project's body parts must include
        ``ROLE_BODYPARTS[role]`` (any order; :func:`check_bodyparts`).
    shuffle : int
    snapshot : path, optional
        Weights to use (absolute, or relative to the shuffle's ``train`` folder); default
        the best snapshot (:func:`pipeline.io.dlc.best_snapshot`).

    Raises
    ------
    ValueError
        Unknown role, or body parts that do not match the role (naming the model).
    FileNotFoundError
        Missing project, shuffle, ``pytorch_config.yaml`` or snapshot (naming the path).
    """
    from pipeline.io.dlc import best_snapshot, read_project, shuffle_folder

    if role not in ROLE_BODYPARTS:
        raise ValueError(f"unknown pose role {role!r}; roles: {', '.join(ROLES)}")
    proj = read_project(project)
    check_bodyparts(proj.bodyparts, role, str(proj.project_path))
    train = shuffle_folder(proj, shuffle) / "train"
    cfg = train / "pytorch_config.yaml"
    if not cfg.is_file():
        raise FileNotFoundError(
            f"model {proj.project_path.name}: pytorch_config.yaml not found: {cfg}"
        )
    if snapshot is None:
        snap = best_snapshot(train)
    else:
        snap = Path(snapshot)
        snap = snap if snap.is_absolute() else train / snap
        if not snap.is_file():
            raise FileNotFoundError(f"model {proj.project_path.name}: snapshot not found: {snap}")
    return DlcModel(role, cfg, snap, tuple(proj.bodyparts), str(proj.project_path))


def check_bodyparts(bodyparts: Sequence[str], role: str, model_name: str) -> None:
    """Raise ValueError naming ``model_name`` if ``bodyparts`` lack a point of ``role``.

    A network may track more points than its role needs (a lab's project); the pose
    stage then keeps the role's points only (:func:`role_point_indices`). Registration
    (:func:`schemas.pose.register_model`) accepts any body parts; this check guards what the
    pipeline runs (model sets, :func:`load_model`, :func:`run_pose`, :func:`anchor_points`).
    """
    want = ROLE_BODYPARTS.get(role)
    if want is None:
        raise ValueError(
            f"unknown pose role {role!r} for model {model_name}; roles: {', '.join(ROLES)}"
        )
    missing = [bp for bp in want if bp not in set(bodyparts)]
    if missing:
        raise ValueError(
            f"model {model_name} does not fit role {role!r}: it lacks the {role} point(s) "
            f"{missing} (its body parts: {list(bodyparts)}; the {role} role needs {list(want)})"
        )


def role_point_indices(model: DlcModel) -> list[tuple[int, str]]:
    """``(column, name)`` of the role's points among the network's outputs, in the role's order."""
    names = list(model.bodyparts)
    return [(names.index(bp), bp) for bp in ROLE_BODYPARTS[model.role]]


def _validate_model(model: DlcModel) -> None:
    if not isinstance(model, DlcModel):
        raise ValueError(f"expected a DlcModel, got {type(model).__name__}")
    check_bodyparts(model.bodyparts, model.role, model.name or str(model.pytorch_config))
    if not Path(model.pytorch_config).is_file():
        raise FileNotFoundError(
            f"model {model.name}: pytorch_config.yaml not found: {model.pytorch_config}"
        )
    if not Path(model.snapshot).is_file():
        raise FileNotFoundError(f"model {model.name}: snapshot not found: {model.snapshot}")


_RUNNERS: dict[tuple, object] = {}


def _runner(model: DlcModel, device: str, batch_size: int):
    """DeepLabCut's inference runner for ``model`` (cached per model, device and batch)."""
    key = (str(model.pytorch_config), str(model.snapshot), device, int(batch_size))
    runner = _RUNNERS.get(key)
    if runner is None:
        import os

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from deeplabcut.pose_estimation_pytorch.apis.utils import get_pose_inference_runner
        from deeplabcut.pose_estimation_pytorch.config import read_config_as_dict

        cfg = read_config_as_dict(model.pytorch_config)
        names = tuple(cfg["metadata"]["bodyparts"])
        if names != tuple(model.bodyparts):
            raise ValueError(
                f"model {model.name}: pytorch_config body parts {list(names)} differ from the "
                f"project's {list(model.bodyparts)}"
            )
        runner = get_pose_inference_runner(
            cfg, snapshot_path=str(model.snapshot), batch_size=int(batch_size), device=device,
            max_individuals=1,
        )  # fmt: skip
        if len(_RUNNERS) > 8:
            _RUNNERS.clear()
        _RUNNERS[key] = runner
    return runner


def _check_device(device: str) -> str:
    if not isinstance(device, str) or not (
        device == "cpu" or device.startswith("cuda") or device == "mps"
    ):
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:<n>' or 'mps', got {device!r}")
    return device


def resolve_runtime(runtime: str, device: str, models: Sequence[DlcModel] = ()) -> str:
    """The inference runtime that runs: ``runtime`` itself, or what ``"auto"`` stands for.

    Parameters
    ----------
    runtime : str
        One of :data:`RUNTIMES` or ``"auto"``: ``"onnxruntime"`` on the CPU when every one
        of ``models`` can be exported (:func:`pipeline.pose_onnx.check_supported`),
        ``"pytorch"`` otherwise (GPUs, other network types).
    device : str
        Torch device (``"cpu"``, ``"cuda"``, ``"cuda:<n>"``).
    models : sequence of DlcModel
        The networks that will run.

    Raises
    ------
    ValueError
        An unknown runtime, or ``"onnxruntime"`` with a GPU device (the ONNX path here is
        CPU only) or with a network it cannot reproduce (naming it).
    """
    _check_device(device)
    if runtime not in (*RUNTIMES, "auto"):
        raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)} or 'auto', got {runtime!r}")
    if runtime == "pytorch" or (runtime == "auto" and device != "cpu"):
        return "pytorch"
    if device != "cpu":
        raise ValueError(f"the onnxruntime runtime runs on the CPU only, not on {device!r}; use runtime 'pytorch'")
    from pipeline.pose_onnx import check_supported

    for m in models:
        try:
            check_supported(_pytorch_config(m), m.name)
        except ValueError:
            if runtime == "auto":
                return "pytorch"
            raise
    return "onnxruntime"


def batch_size_for(height: int, width: int) -> int:
    """Frames per inference batch for a crop size: 32 at 100x100, fewer for larger crops.

    About 320,000 pixels per batch, 1..32 frames: 32 for the 100x100 eye and nostril
    crops, 12 for the 160x160 tongue, 2 for the 450x374 paws. On the 2-core development
    machine ONNX Runtime ran the paws network 1.1-1.5x faster per frame at batch 1-4 than
    at 16-32 (activations stay in cache), and the eye network's speed did not change
    between batch 8 and 32.
    """
    return int(min(32, max(1, round(320_000 / (int(height) * int(width))))))


def infer_frames(
    frames: np.ndarray | Iterator[np.ndarray],
    model: DlcModel,
    *,
    device: str = "cpu",
    batch_size: int | None = 32,
    threads: int | None = None,
    runtime: str = "auto",
) -> np.ndarray:
    """Run a network on grey frames; coordinates in the frames' own pixels.

    Parameters
    ----------
    frames : (n, h, w) uint8, or an iterator of such chunks
    model : DlcModel
    device : str
        Torch device, passed to DeepLabCut (``"cpu"``, ``"cuda"``, ``"cuda:1"``).
    batch_size : int or None
        Frames per batch; None: :func:`batch_size_for` the frame size.
    threads : int or None
        CPU threads of the runtime during inference (torch's are restored afterwards).
        None (default): one per core for ONNX Runtime, whose idle threads sleep (2-core
        development machine, eye network, 2000 frames: 1.9 s with 2 threads against 3.4 s
        with 1 when the cores were free, 3.5-3.7 s against 3.4 s when other work held
        them), and 1 for PyTorch, whose OpenMP threads spin waiting for each other (2
        threads ran 5-20x slower than 1 on the 2 shared cores).
    runtime : str
        ``"pytorch"`` (DeepLabCut's network in PyTorch, the reference, any device),
        ``"onnxruntime"`` (its ONNX export, CPU, :mod:`pipeline.pose_onnx`) or ``"auto"``
        (:func:`resolve_runtime`). Both give the same points within float32 rounding: a
        point may differ by under one heatmap cell where two cells of its heatmap tie.

    Returns
    -------
    (n, k, 3) float64
        x, y (pixels of the input frames) and likelihood per frame and body part (in
        ``model.bodyparts`` order).
    """
    _validate_model(model)
    runtime = resolve_runtime(runtime, device, [model])
    if batch_size is not None and int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if threads is not None and int(threads) < 1:
        raise ValueError(f"threads must be >= 1 or None, got {threads}")
    chunks = _checked_chunks([frames] if isinstance(frames, np.ndarray) else frames)
    if runtime == "onnxruntime":
        return _infer_onnx(chunks, model, batch_size, threads)
    with limit_torch_threads(1 if threads is None else threads):
        return _infer(chunks, model, device, batch_size)


def _checked_chunks(chunks) -> Iterator[np.ndarray]:
    for chunk in chunks:
        chunk = np.asarray(chunk)
        if chunk.ndim != 3 or chunk.dtype != np.uint8:
            raise ValueError(f"frames must be (n, h, w) uint8, got {chunk.dtype} {chunk.shape}")
        if len(chunk):
            yield chunk


def _batches(chunks: Iterator[np.ndarray], batch_size: int | None) -> Iterator[np.ndarray]:
    """Batches of ``batch_size`` frames (the last one shorter) from chunks of any length."""
    pending: list[np.ndarray] = []
    size = None if batch_size is None else int(batch_size)
    for chunk in chunks:
        if size is None:
            size = batch_size_for(*chunk.shape[1:])
        pending.append(chunk)
        have = sum(len(c) for c in pending)
        if have < size:
            continue
        joined = np.concatenate(pending) if len(pending) > 1 else pending[0]
        cut = have - have % size
        for i in range(0, cut, size):
            yield joined[i : i + size]
        pending = [joined[cut:]] if cut < have else []
    if pending:
        yield np.concatenate(pending)


_ONNX: dict[tuple, object] = {}


def _infer_onnx(chunks, model: DlcModel, batch_size: int | None, threads: int | None) -> np.ndarray:
    from pipeline.pose_onnx import OnnxPoseRunner, export_onnx

    path = export_onnx(model)
    key = (str(path), threads)
    runner = _ONNX.get(key)
    if runner is None:
        if len(_ONNX) > 8:
            _ONNX.clear()
        runner = _ONNX[key] = OnnxPoseRunner(path, threads)
    if runner.bodyparts != tuple(model.bodyparts):
        raise ValueError(
            f"model {model.name}: pytorch_config body parts {list(runner.bodyparts)} differ from the "
            f"project's {list(model.bodyparts)}"
        )
    k = len(model.bodyparts)
    out = [runner(batch) for batch in _batches(chunks, batch_size)]
    return _checked_poses(out, model, k)


def _checked_poses(out: list[np.ndarray], model: DlcModel, k: int) -> np.ndarray:
    poses = np.concatenate(out) if out else np.zeros((0, k, 3))
    if poses.shape[1:] != (k, 3):
        raise ValueError(f"model {model.name} returned poses of shape {poses.shape[1:]}, expected ({k}, 3)")
    return poses


@contextlib.contextmanager
def limit_torch_threads(threads: int | None):
    """Set torch's CPU threads to ``threads`` inside the block, restored after; None: unchanged."""
    if threads is None:
        yield
        return
    import torch

    if int(threads) < 1:
        raise ValueError(f"threads must be >= 1 or None, got {threads}")
    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _pytorch_config(model: DlcModel) -> dict:
    import yaml

    with open(model.pytorch_config) as f:
        return yaml.safe_load(f)


def _normalise_batch(frames: np.ndarray):
    """Grey ``(n, h, w)`` uint8 frames as DeepLabCut's network input ``(n, 3, h, w)`` float32.

    The same float32 arithmetic as DeepLabCut's per-frame preprocessing of the frame
    repeated to RGB (``A.Normalize``: ``(pixel - mean) * (1 / std)``), for a whole batch
    at once and without the RGB copy.
    """
    import torch

    from pipeline.pose_onnx import normalisation

    mean, denominator = (a.reshape(1, 3, 1, 1) for a in normalisation())
    x = np.asarray(frames, dtype=np.float32)[:, None]  # NumPy: one thread, whatever torch's setting
    return torch.from_numpy((x - mean) * denominator)


def _infer(chunks, model: DlcModel, device: str, batch_size: int | None) -> np.ndarray:
    """The PyTorch runtime: DeepLabCut's runner (network with the snapshot's weights).

    Networks the batch path reproduces (single-animal bottom-up heatmap networks whose
    inference transform only normalises, :func:`pipeline.pose_onnx.check_supported`) get
    whole batches: one vectorised normalisation, the network, and DeepLabCut's own
    predictor on the batch (``model.get_predictions``); DeepLabCut's runner instead
    normalises, copies and permutes every frame, and splits its predictions into one dict
    per frame for its postprocessor, which leaves these points unchanged (measured in
    ``bench/profile_pose.py``). Other networks go through ``runner.inference``.
    """
    import torch

    from pipeline.pose_onnx import check_supported

    k = len(model.bodyparts)
    out = []
    runner = None
    try:
        check_supported(_pytorch_config(model), model.name)
        direct = True
    except ValueError:
        direct = False
    for batch in _batches(chunks, batch_size):
        if runner is None:
            runner = _runner(model, device, batch_size or batch_size_for(*batch.shape[1:]))
        if direct:
            with torch.inference_mode():
                outputs = runner.model(_normalise_batch(batch).to(device))
                poses = runner.model.get_predictions(outputs)["bodypart"]["poses"]
            out.append(poses[:, 0, :, :3].cpu().numpy().astype(np.float64))
        else:
            rgb = np.repeat(batch[..., None], 3, axis=-1)
            preds = runner.inference(list(rgb))
            out.append(np.stack([p["bodyparts"][0, :, :3] for p in preds]).astype(np.float64))
    return _checked_poses(out, model, k)


# --------------------------------------------------------------------------------------
# reading frames


def _video_size(path: Path) -> tuple[int, int]:
    from pipeline.crops import _frame_size

    return _frame_size(path)


def iter_video_frames(path: Path | str, *, chunk: int = 512) -> Iterator[np.ndarray]:
    """Decode a video to grey frames in chunks of ``chunk`` frames, ``(m, h, w)`` uint8.

    One ffmpeg process; memory stays at one chunk.

    Raises
    ------
    FileNotFoundError, FFmpegError
        Naming the video.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video not found: {path}")
    w, h = _video_size(path)
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-i", str(path),
           "-map", "0:v:0", "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "gray", "-"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = bytearray()
    reader = threading.Thread(target=lambda: err.extend(proc.stderr.read()), daemon=True)
    reader.start()
    size = w * h
    try:
        while True:
            data = proc.stdout.read(size * chunk)
            if not data:
                break
            n = len(data) // size
            if n * size != len(data):
                raise FFmpegError(
                    f"decoding {path}: {len(data)} bytes is not a whole number of {w}x{h} frames"
                )
            yield np.frombuffer(data, np.uint8).reshape(n, h, w)
        proc.wait()
        reader.join()
        if proc.returncode != 0:
            raise FFmpegError(
                f"ffmpeg failed decoding {path}: {err.decode(errors='replace')[-500:]}"
            )
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


# --------------------------------------------------------------------------------------
# anchors


@dataclass(frozen=True)
class AnchorResult:
    """Anchor points of one video.

    Attributes
    ----------
    points : dict of str to (2,) float64
        Anchor name -> mean ``(x, y)`` over the confident detections, full-frame pixels.
    n_confident : dict of str to int
        Anchor name -> number of sampled frames in which it was detected with likelihood
        at or above the threshold.
    n_samples : int
        Frames the network ran on.
    spread_px : dict of str to float
        Anchor name -> standard deviation of the confident detections (radial), pixels.
    """

    points: dict[str, np.ndarray]
    n_confident: dict[str, int]
    n_samples: int
    spread_px: dict[str, float] = field(default_factory=dict)


def anchor_frames(
    frames: np.ndarray, *, mirror: bool = False, out_width: int = ANCHOR_WIDTH
) -> tuple[np.ndarray, Roi]:
    """Full frames as the anchor network sees them: downscaled to ``out_width`` (and mirrored).

    Returns
    -------
    frames : (n, out_h, out_width) uint8
    roi : Roi
        The whole-frame region, for :func:`pipeline.crops.to_full_frame`.
    """
    frames = np.asarray(frames)
    if frames.ndim != 3:
        raise ValueError(f"frames must be (n, height, width), got shape {frames.shape}")
    roi = full_frame_roi(frames.shape[2], frames.shape[1], out_width, mirror=mirror)
    return crop_frames(frames, roi), roi


def _sample_indices(n_frames: int, n_samples: int) -> np.ndarray:
    k = min(int(n_samples), int(n_frames))
    return np.unique(np.linspace(0, n_frames - 1, k).round().astype(np.int64))


def anchor_points(
    frames_or_video: np.ndarray | Path | str,
    model: DlcModel,
    *,
    mirror: bool = False,
    n_samples: int = 100,
    likelihood_threshold: float = 0.9,
    min_confident: int = 5,
    out_width: int = ANCHOR_WIDTH,
    device: str = "cpu",
    batch_size: int = 16,
    threads: int | None = None,
    runtime: str = "auto",
) -> AnchorResult:
    """Find the anchor points of a video: mean of confident detections over sampled frames.

    Parameters
    ----------
    frames_or_video : (n, h, w) uint8 array, or path of a video
        Full frames (all are used, up to ``n_samples`` evenly spaced), or a video from
        which ``n_samples`` evenly spaced frames are decoded (one decode pass).
    model : DlcModel
        Role ``"anchor"``.
    mirror : bool
        The camera sees the mouse mirrored (right camera; :func:`pipeline.crops.camera_view`).
    n_samples : int
        Frames to sample, 20..500.
    likelihood_threshold : float
        Detections below it are ignored (IBL: 0.9).
    min_confident : int
        Fewest confident detections each anchor needs.
    out_width : int
        Width the frames are downscaled to (must match the network's training).
    device, batch_size, threads, runtime
        Passed to :func:`infer_frames`.

    Returns
    -------
    AnchorResult
        Points in full-frame pixels of the video.

    Raises
    ------
    ValueError
        ``n_samples`` outside 20..500, a model of another role, or an anchor with fewer
        than ``min_confident`` confident frames (with the count).
    """
    from pipeline.io.video import read_frames_at

    if not 20 <= int(n_samples) <= 500:
        raise ValueError(f"n_samples must be within 20..500, got {n_samples}")
    if model.role != "anchor":
        raise ValueError(
            f"model {model.name} has role {model.role!r}; anchor_points needs 'anchor'"
        )
    if not 0 <= likelihood_threshold <= 1:
        raise ValueError(f"likelihood_threshold must be in [0, 1], got {likelihood_threshold}")
    what = "frames"
    if isinstance(frames_or_video, str | Path):
        from pipeline.io.containers import probe_container

        path = Path(frames_or_video)
        if not path.is_file():
            raise FileNotFoundError(f"video not found: {path}")
        info = probe_container(path)
        idx = _sample_indices(info.n_packets, n_samples)
        frames = read_frames_at(path, info.width, info.height, idx)
        if len(frames) != len(idx):
            raise FFmpegError(f"decoded {len(frames)} of {len(idx)} sampled frames from {path}")
        what = str(path)
    else:
        frames = np.asarray(frames_or_video)
        if frames.ndim != 3 or frames.dtype != np.uint8:
            raise ValueError(f"frames must be (n, h, w) uint8, got {frames.dtype} {frames.shape}")
        frames = frames[_sample_indices(len(frames), n_samples)] if len(frames) else frames
    small, roi = anchor_frames(frames, mirror=mirror, out_width=out_width)
    poses = infer_frames(small, model, device=device, batch_size=batch_size, threads=threads, runtime=runtime)
    full = to_full_frame(poses[..., :2], roi)
    points, counts, spread = {}, {}, {}
    for j, bp in role_point_indices(model):
        ok = poses[:, j, 2] >= likelihood_threshold
        counts[bp] = int(ok.sum())
        if counts[bp] < min_confident:
            raise ValueError(
                f"anchor {bp!r}: only {counts[bp]} of {len(poses)} sampled frames of {what} "
                f"have likelihood >= {likelihood_threshold} (need {min_confident})"
            )
        sel = full[ok, j]
        points[bp] = sel.mean(axis=0)
        spread[bp] = float(np.sqrt(np.mean(np.sum((sel - points[bp]) ** 2, axis=1))))
    return AnchorResult(points, counts, int(len(poses)), spread)


# --------------------------------------------------------------------------------------
# pose on crops


def run_pose(
    crop_video_or_frames: np.ndarray | Path | str,
    model: DlcModel,
    roi: Roi,
    *,
    device: str = "cpu",
    batch_size: int | None = None,
    expected_frames: int | None = None,
    chunk: int = 512,
    threads: int | None = None,
    runtime: str = "auto",
) -> dict[str, np.ndarray]:
    """Run a region's network on its crop and map the points to full-frame pixels.

    Parameters
    ----------
    crop_video_or_frames : path or (n, out_h, out_w) uint8 array
        The crop video written by :func:`pipeline.crops.write_crops` (decoded in chunks),
        or its frames.
    model : DlcModel
        A crop role's network (``eye``, ``nostril``, ``tongue``, ``paws``).
    roi : Roi
        The region the crop was made with; its ``mirror`` decides the output names
        (:func:`camera_point_name`).
    device : str
        Torch device passed to DeepLabCut (``"cpu"`` or ``"cuda"``/``"cuda:<n>"``).
    batch_size : int or None
        Frames per batch; None: chosen for the crop size (:func:`batch_size_for`).
    expected_frames : int, optional
        Frames the video has (e.g. the compressed video's count); a different number of
        results is an error.
    chunk : int
        Frames decoded at a time.
    threads : int or None
        CPU threads of the runtime (:func:`infer_frames`).
    runtime : str
        ``"pytorch"``, ``"onnxruntime"`` or ``"auto"`` (:func:`resolve_runtime`;
        :func:`infer_frames`).

    Returns
    -------
    dict of str to (n, 3) float64
        Camera point name -> x, y (full-frame pixels of the camera's video) and likelihood,
        for the role's points (a network's extra points are not returned).

    Raises
    ------
    ValueError
        A model of another role or with other body parts (naming it), crop frames of a
        size other than the region's output, or a frame count other than
        ``expected_frames`` (naming both counts).
    FileNotFoundError
        Missing crop video or snapshot (naming the path).
    """
    if model.role not in CROP_ROLES:
        raise ValueError(
            f"model {model.name} has role {model.role!r}; run_pose needs one of {CROP_ROLES}"
        )
    _validate_model(model)
    what = "frames"
    if isinstance(crop_video_or_frames, str | Path):
        path = Path(crop_video_or_frames)
        what = str(path)
        w, h = _video_size(path) if path.is_file() else (None, None)
        if w is None:
            raise FileNotFoundError(f"crop video not found: {path}")
        source = iter_video_frames(path, chunk=chunk)
    else:
        arr = np.asarray(crop_video_or_frames)
        if arr.ndim != 3 or arr.dtype != np.uint8:
            raise ValueError(f"crop frames must be (n, h, w) uint8, got {arr.dtype} {arr.shape}")
        h, w = arr.shape[1:]
        source = (arr[i : i + chunk] for i in range(0, len(arr), chunk))
    if (w, h) != (roi.out_w, roi.out_h):
        raise ValueError(
            f"crop {what} is {w}x{h} px, the region's output is {roi.out_w}x{roi.out_h}"
        )
    poses = infer_frames(source, model, device=device, batch_size=batch_size, threads=threads, runtime=runtime)
    if expected_frames is not None and len(poses) != int(expected_frames):
        raise ValueError(
            f"pose of {what} has {len(poses)} frames, the video has {int(expected_frames)}"
        )
    xy = to_full_frame(poses[..., :2], roi)
    out = {}
    for j, bp in role_point_indices(model):
        out[camera_point_name(bp, roi.mirror)] = np.column_stack([xy[:, j], poses[:, j, 2]])
    return out


def median_filter_pose(
    points: Mapping[str, np.ndarray],
    window: int = 5,
    *,
    likelihood_threshold: float | None = 0.9,
    skip: Sequence[str] = FAST_PARTS,
) -> dict[str, np.ndarray]:
    """Median-filter x and y of body parts over ``window`` frames, over confident frames only.

    Parameters
    ----------
    points : mapping of str to (n, 2) or (n, 3) array
        x, y (pixels) [and likelihood, kept unchanged].
    window : int
        Odd window length, frames (IBL: 5). Each output is the median of the usable values
        in the centred window (shorter at the ends).
    likelihood_threshold : float or None
        With (n, 3) arrays, frames whose likelihood is below this (or NaN) are not used in
        any window and keep their own (unfiltered) values: DeepLabCut still reports a
        position for a hidden point (tongue in), and mixing those positions into the
        median moved the tongue tips of real licks by 27 px (60 Hz left camera, 5-frame
        window, measured). None: every non-NaN value is used.
    skip : sequence of str
        Body parts copied unchanged (default :data:`FAST_PARTS`, the tongue tips). A part
        that moves tens of pixels per frame is smeared by any temporal median: the tongue
        tip crosses ~140 px in 25-50 ms of a lick, and a 5-frame median over confident
        frames only moved it by 34 px on the 60 Hz left camera (27 px when the hidden
        frames' positions were mixed in), against 1.5 px unfiltered.

    Returns
    -------
    dict of str to array
        New arrays, same shapes; inputs unchanged. NaN frames stay NaN.
    """
    if window < 1 or window % 2 == 0:
        raise ValueError(f"window must be a positive odd number of frames, got {window}")
    skip = set(skip)
    out = {}
    half = window // 2
    for bp, a in points.items():
        a = np.asarray(a, dtype=np.float64)
        if a.ndim != 2 or a.shape[1] not in (2, 3):
            raise ValueError(f"{bp!r}: expected (n, 2) or (n, 3), got {a.shape}")
        res = a.copy()
        n = len(a)
        if n and window > 1 and bp not in skip:
            xy = a[:, :2]
            usable = np.isfinite(xy).all(axis=1)
            if likelihood_threshold is not None and a.shape[1] == 3:
                usable &= a[:, 2] >= likelihood_threshold
            vals = np.where(usable[:, None], xy, np.nan)
            padded = np.pad(vals, ((half, half), (0, 0)), constant_values=np.nan)
            win = np.lib.stride_tricks.sliding_window_view(padded, window, axis=0)  # (n, 2, w)
            with np.errstate(all="ignore"), _quiet_nan():
                med = np.nanmedian(win, axis=-1)
            res[:, :2] = np.where(usable[:, None], med, xy)
        out[bp] = res
    return out


class _quiet_nan:
    """Silence numpy's 'All-NaN slice' warning inside a block."""

    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)
