"""The fast CPU path of the pose stage: DeepLabCut networks exported once to ONNX and run by
ONNX Runtime (PyPI ``onnxruntime``; the export uses PyPI ``onnx``), same outputs as
DeepLabCut's own PyTorch runner.

What runs where:

* :func:`export_onnx` builds the network with DeepLabCut's runner (weights from the
  snapshot) and exports it with ``torch.onnx.export``, with the input normalisation in the
  graph: the graph takes grey ``uint8`` frames ``(n, h, w)`` (any ``n``, ``h``, ``w``) and
  does what DeepLabCut's preprocessing does to a grey frame repeated to RGB (ImageNet mean
  and standard deviation per channel). The file is cached beside the snapshot, named by
  the snapshot's MD5 (and the model section of ``pytorch_config.yaml``), so a new snapshot
  gets a new export and an unchanged one is never exported twice; writers hold a file lock
  and write atomically. Where the snapshot's folder is not writable the export goes to
  ``$IBL_VIDEO_ONNX_CACHE`` (default ``<tmp>/ibl-video-onnx``).
* :class:`OnnxPoseRunner` runs the exported graph and turns its heatmaps and location
  refinement maps into points exactly as DeepLabCut's ``HeatmapPredictor`` does (argmax of
  each heatmap, cell centre, plus the refinement vector times ``locref_std``), in NumPy. The
  bottom-up postprocessing of DeepLabCut leaves single-animal points unchanged when the
  inference transform only normalises, which :func:`check_supported` requires.

Networks other than single-animal bottom-up heatmap networks (DeepLabCut's ``HeatmapHead``)
or with a resizing inference transform raise ``ValueError``: use the ``pytorch`` runtime.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "EXPORT_VERSION",
    "OnnxPoseRunner",
    "check_supported",
    "export_onnx",
    "normalisation",
    "onnx_path",
    "snapshot_md5",
]

#: Part of every export's file name; raise it when the exported graph changes.
EXPORT_VERSION = 1

#: DeepLabCut's input normalisation (``A.Normalize`` in ``build_transforms``): ImageNet
#: mean and standard deviation of R, G, B, on the 0..1 scale.
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)
#: Inference transform settings that are allowed to be set (anything else changes the
#: frames before the network, which the exported graph does not do).
_ALLOWED_TRANSFORMS = {"normalize_images", "hist_eq", "motion_blur", "scale_to_unit_range"}

_MD5: dict[tuple, str] = {}


def snapshot_md5(path: Path | str) -> str:
    """MD5 (hex) of a file, remembered per path, size and modification time (ns)."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    digest = _MD5.get(key)
    if digest is None:
        with open(path, "rb") as f:
            digest = hashlib.file_digest(f, "md5").hexdigest()
        _MD5[key] = digest
    return digest


def _read_config(model) -> dict:
    import yaml

    with open(model.pytorch_config) as f:
        return yaml.safe_load(f)


def check_supported(cfg: dict, model_name: str = "") -> dict:
    """The head's predictor settings if the ONNX path reproduces this network, else ValueError.

    Parameters
    ----------
    cfg : dict
        The shuffle's ``pytorch_config.yaml``.
    model_name : str
        For the message.

    Returns
    -------
    dict
        ``apply_sigmoid``, ``clip_scores``, ``location_refinement``, ``locref_std`` of the
        ``bodypart`` head's ``HeatmapPredictor``.

    Raises
    ------
    ValueError
        Naming the model and what is not supported (then use the ``pytorch`` runtime).
    """
    where = f"model {model_name}: " if model_name else ""
    hint = "; use the pytorch runtime"
    if cfg.get("method", "bu").lower() != "bu":
        raise ValueError(f"{where}method {cfg.get('method')!r} is not bottom-up{hint}")
    heads = cfg.get("model", {}).get("heads", {})
    if set(heads) != {"bodypart"}:
        raise ValueError(
            f"{where}heads {sorted(heads)} (only a single 'bodypart' head is supported){hint}"
        )
    head = heads["bodypart"]
    pred = head.get("predictor", {})
    if head.get("type") != "HeatmapHead" or pred.get("type") != "HeatmapPredictor":
        raise ValueError(
            f"{where}head {head.get('type')}/{pred.get('type')} is not a HeatmapHead with a HeatmapPredictor{hint}"
        )
    meta = cfg.get("metadata", {})
    if meta.get("unique_bodyparts") or len(meta.get("individuals") or [None]) != 1:
        raise ValueError(f"{where}multi-animal or unique body parts are not supported{hint}")
    inference = (cfg.get("data") or {}).get("inference") or {}
    extra = sorted(k for k, v in inference.items() if v and k not in _ALLOWED_TRANSFORMS)
    if (
        extra
        or inference.get("hist_eq")
        or inference.get("motion_blur")
        or inference.get("scale_to_unit_range")
    ):
        raise ValueError(
            f"{where}inference transform {extra or 'hist_eq/motion_blur/scale_to_unit_range'} is not supported{hint}"
        )
    if not inference.get("normalize_images"):
        raise ValueError(f"{where}inference without normalize_images is not supported{hint}")
    if (cfg.get("data") or {}).get("colormode", "RGB") not in ("RGB", "BGR"):
        raise ValueError(f"{where}colormode {cfg['data']['colormode']!r} is not supported{hint}")
    return dict(
        apply_sigmoid=bool(pred.get("apply_sigmoid", True)), clip_scores=bool(pred.get("clip_scores", False)),
        location_refinement=bool(pred.get("location_refinement", True)), locref_std=float(pred.get("locref_std", 7.2801)),
    )  # fmt: skip


def normalisation() -> tuple[np.ndarray, np.ndarray]:
    """DeepLabCut's input normalisation as float32 ``(mean, 1 / std)`` per channel, 0..255 scale.

    ``A.Normalize`` (albumentations) computes ``(pixel - mean * 255) * (1 / (std * 255))``
    in float32 with these exact constants. A grey frame repeated to three channels gives
    the same three inputs whatever the colour order, so the channel order is always R, G, B.

    Returns
    -------
    mean, denominator : (3,) float32
    """
    mean = np.array(_MEAN, dtype=np.float32) * np.float32(255.0)
    std = np.array(_STD, dtype=np.float32) * np.float32(255.0)
    return mean, np.reciprocal(std, dtype=np.float32)


def _config_digest(cfg: dict) -> str:
    part = {k: cfg.get(k) for k in ("method", "model")}
    part["inference"] = (cfg.get("data") or {}).get("inference")
    part["colormode"] = (cfg.get("data") or {}).get("colormode")
    return hashlib.md5(json.dumps(part, sort_keys=True, default=str).encode()).hexdigest()


def _fallback_dir() -> Path:
    return Path(
        os.environ.get("IBL_VIDEO_ONNX_CACHE") or Path(tempfile.gettempdir()) / "ibl-video-onnx"
    )


def onnx_path(model, cfg: dict | None = None) -> Path:
    """Where the export of ``model`` lives: beside its snapshot (or the fallback folder).

    ``<snapshot stem>.<snapshot MD5>.<config digest>.v<EXPORT_VERSION>.onnx``; the fallback
    folder (``$IBL_VIDEO_ONNX_CACHE``, default ``<tmp>/ibl-video-onnx``) is used when the
    snapshot's folder is not writable.
    """
    cfg = _read_config(model) if cfg is None else cfg
    snap = Path(model.snapshot)
    name = f"{snap.stem}.{snapshot_md5(snap)}.{_config_digest(cfg)[:8]}.v{EXPORT_VERSION}.onnx"
    beside = snap.parent / name
    if beside.is_file() or os.access(snap.parent, os.W_OK):
        return beside
    return _fallback_dir() / name


def export_onnx(model, *, opset: int = 17) -> Path:
    """Export a DeepLabCut network to ONNX once; returns the cached file.

    Parameters
    ----------
    model : pipeline.pose.DlcModel
    opset : int
        ONNX opset of the export.

    Returns
    -------
    Path
        The ``.onnx`` file (:func:`onnx_path`). Its graph takes ``frames``, grey ``uint8``
        ``(n, h, w)``, and returns ``heatmap`` ``(n, k, h', w')`` and ``locref``
        ``(n, 2k, h', w')`` (float32), as DeepLabCut's head does; its metadata holds the
        head's stride (pixels), the predictor settings and the body parts.

    Raises
    ------
    ValueError
        A network the ONNX path cannot reproduce (:func:`check_supported`).
    FileNotFoundError
        Missing snapshot or config (naming it).
    """
    from pipeline.io import atomic_write, file_lock

    for p in (model.pytorch_config, model.snapshot):
        if not Path(p).is_file():
            raise FileNotFoundError(f"model {model.name}: file not found: {p}")
    cfg = _read_config(model)
    predictor = check_supported(cfg, model.name)
    path = onnx_path(model, cfg)
    if path.is_file():
        return path
    with file_lock(
        path.with_name(path.name + ".lock"),
        waiting=f"the ONNX export of {model.name or model.snapshot}",
    ):
        if path.is_file():  # exported by the process that held the lock
            return path
        atomic_write(path, lambda tmp: _export(model, cfg, predictor, tmp, opset))
    return path


def _export(model, cfg: dict, predictor: dict, out: str, opset: int) -> None:
    import warnings

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import onnx
    import torch
    from deeplabcut.pose_estimation_pytorch.apis.utils import get_pose_inference_runner

    runner = get_pose_inference_runner(
        cfg, snapshot_path=str(model.snapshot), batch_size=1, device="cpu", max_individuals=1
    )
    net = runner.model.eval()
    stride = float(net.get_stride("bodypart"))
    mean, denominator = (torch.from_numpy(a).view(1, 3, 1, 1) for a in normalisation())

    class Grey(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net
            self.register_buffer("mean", mean)
            self.register_buffer("denominator", denominator)

        def forward(self, frames):
            x = (
                frames.unsqueeze(1).float() - self.mean
            ) * self.denominator  # (n, 3, h, w), DLC's Normalize
            out = self.net(x)["bodypart"]
            return out["heatmap"], out["locref"]

    example = torch.zeros((2, 64, 64), dtype=torch.uint8)
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Grey().eval(), (example,), out, dynamo=False, opset_version=int(opset),
            input_names=["frames"], output_names=["heatmap", "locref"],
            dynamic_axes={"frames": {0: "n", 1: "h", 2: "w"}, "heatmap": {0: "n", 2: "hh", 3: "hw"},
                          "locref": {0: "n", 2: "hh", 3: "hw"}},
        )  # fmt: skip
    proto = onnx.load(out)
    meta = dict(stride=stride, bodyparts=list(cfg["metadata"]["bodyparts"]), snapshot=str(model.snapshot),
                snapshot_md5=snapshot_md5(model.snapshot), export_version=EXPORT_VERSION, **predictor)  # fmt: skip
    entry = proto.metadata_props.add()
    entry.key, entry.value = "ibl_video_pose", json.dumps(meta)
    onnx.save(proto, out)


@dataclass
class OnnxPoseRunner:
    """ONNX Runtime session of one exported network, with DeepLabCut's heatmap predictor.

    Attributes
    ----------
    path : Path
        The ``.onnx`` file.
    threads : int or None
        ONNX Runtime intra-op threads; None: ONNX Runtime's default (one per physical core).
        Idle threads sleep rather than spin (``session.intra_op.allow_spinning`` 0): on the
        2-core development machine 2 spinning threads were 10% faster than sleeping ones
        when the cores were free and 25% slower than 1 thread when other work held a core.
    """

    path: Path
    threads: int | None = 1

    def __post_init__(self):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.inter_op_num_threads = 1
        if self.threads is not None:
            so.intra_op_num_threads = int(self.threads)
        # waiting threads sleep instead of spinning: on cores shared with other work a
        # spinning pool steals the cores it waits for
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.log_severity_level = 3
        self.session = ort.InferenceSession(str(self.path), so, providers=["CPUExecutionProvider"])
        meta = json.loads(self.session.get_modelmeta().custom_metadata_map["ibl_video_pose"])
        self.stride = float(meta["stride"])
        self.bodyparts = tuple(meta["bodyparts"])
        self.apply_sigmoid = bool(meta["apply_sigmoid"])
        self.clip_scores = bool(meta["clip_scores"])
        self.location_refinement = bool(meta["location_refinement"])
        self.locref_std = float(meta["locref_std"])

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """Points of a batch of grey frames.

        Parameters
        ----------
        frames : (n, h, w) uint8

        Returns
        -------
        (n, k, 3) float64
            x, y (pixels of the frames) and likelihood, as DeepLabCut's runner returns them.
        """
        heatmap, locref = self.session.run(None, {"frames": np.ascontiguousarray(frames)})
        return predict_points(heatmap, locref if self.location_refinement else None, self.stride,
                              apply_sigmoid=self.apply_sigmoid, clip_scores=self.clip_scores,
                              locref_std=self.locref_std)  # fmt: skip


def predict_points(heatmap: np.ndarray, locref: np.ndarray | None, stride: float, *, apply_sigmoid: bool,
                   clip_scores: bool, locref_std: float) -> np.ndarray:  # fmt: skip
    """DeepLabCut's ``HeatmapPredictor`` on arrays: one point per heatmap.

    Parameters
    ----------
    heatmap : (n, k, hh, hw) float32
    locref : (n, 2k, hh, hw) float32 or None
        x, y refinement of each body part, interleaved (DeepLabCut's layout).
    stride : float
        Input pixels per heatmap cell.
    apply_sigmoid, clip_scores : bool
    locref_std : float
        Pixels per unit of refinement.

    Returns
    -------
    (n, k, 3) float64
        ``x = (col + 0.5) * stride + dx``, ``y = (row + 0.5) * stride + dy`` (input pixels;
        argmax cell, first one on ties, as ``torch.argmax``) and the heatmap's value there.
        The arithmetic is float32, as DeepLabCut's.
    """
    n, k, hh, hw = heatmap.shape
    if apply_sigmoid:
        heatmap = (1.0 / (1.0 + np.exp(-heatmap))).astype(np.float32)
    flat = heatmap.reshape(n, k, hh * hw)
    top = flat.argmax(axis=2)  # (n, k)
    score = np.take_along_axis(flat, top[..., None], axis=2)[..., 0]
    row, col = top // hw, top % hw
    s = np.float32(stride)
    x = col.astype(np.float32) * s + np.float32(0.5) * s
    y = row.astype(np.float32) * s + np.float32(0.5) * s
    if locref is not None:
        lr = locref.reshape(n, k, 2, hh * hw)
        dx = np.take_along_axis(lr[:, :, 0], top[..., None], axis=2)[..., 0] * np.float32(
            locref_std
        )
        dy = np.take_along_axis(lr[:, :, 1], top[..., None], axis=2)[..., 0] * np.float32(
            locref_std
        )
        x, y = x + dx, y + dy
    if clip_scores:
        score = np.clip(score, 0, 1)
    return np.stack([x, y, score], axis=-1).astype(np.float64)
