"""Where DLCPose's inference time goes, part by part, against ``deeplabcut.analyze_videos``.

``python -m bench.profile_pose [--frames N] [--size WxH] [--json]`` times, on one crop video
(the ``pose-vs-dlc`` eye video, or a paws-sized one) and the cached test network, each part
in isolation (seconds for all frames):

* decode: ffmpeg to grey (ours) against OpenCV's ``VideoCapture`` plus BGR->RGB (DeepLabCut's
  ``VideoIterator``);
* colour and layout: grey -> RGB repeat and DeepLabCut's per-frame preprocessing (load,
  ``A.Normalize``, ``torch.tensor``, permute, stack) against one vectorised normalisation
  of a whole batch;
* the network: PyTorch with 1 and 2 threads, channels-first and channels-last, and ONNX
  Runtime with 1 and 2 threads;
* postprocessing: DeepLabCut's per-frame prediction dicts and postprocessor against the
  batch predictor;
* the 5-frame median filter of DLCPose, and loading a network (runner or ONNX session).

The figures are for the issue's breakdown; the bench rows give the end-to-end ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _t(fn, *args, repeat: int = 1, **kwargs) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - t0)
    return best, out


def profile(
    n_frames: int = 2000, size: tuple[int, int] = (100, 100), batch_size: int = 32
) -> dict[str, float]:
    """Seconds per part for ``n_frames`` frames of a ``size`` (w, h) crop; see the module docstring."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import cv2
    import torch

    from bench.rows_pose import _make_eye_video, _make_paws_video
    from pipeline import pose
    from pipeline.pose_onnx import OnnxPoseRunner, export_onnx
    from populate.models import TEST_TRAINING, train_from_simulator

    role = "eye" if size == (100, 100) else "paws"
    model = train_from_simulator(roles=[role], training=TEST_TRAINING, progress=False)[role].model()
    parts: dict[str, float] = {}
    before = torch.get_num_threads()
    with tempfile.TemporaryDirectory(prefix="profile-pose-") as tmp:
        video = Path(tmp) / f"{role}.mp4"
        (_make_eye_video if role == "eye" else _make_paws_video)(video, n_frames)
        parts["decode ffmpeg grey (ours)"], chunks = _t(lambda: list(pose.iter_video_frames(video)))
        frames = np.concatenate(chunks)

        def cv2_decode():
            cap, out = cv2.VideoCapture(str(video)), []
            while True:
                ok, f = cap.read()
                if not ok:
                    break
                out.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
            cap.release()
            return out

        parts["decode OpenCV + BGR->RGB (analyze_videos)"], rgb_frames = _t(cv2_decode)
        parts["grey -> RGB repeat (ours)"], rgb = _t(
            lambda: np.repeat(frames[..., None], 3, axis=-1)
        )
        import deeplabcut.pose_estimation_pytorch.apis.utils  # noqa: F401 - import apart from the load

        t_load, runner = _t(pose._runner, model, "cpu", batch_size)
        parts["load network: DeepLabCut runner (DeepLabCut imported)"] = t_load

        torch.set_num_threads(1)  # as run_pose's default

        def dlc_pre():
            return [runner.preprocessor(f, {})[0] for f in rgb]

        parts["DeepLabCut per-frame preprocessing (normalise, tensor, permute)"], pre = _t(dlc_pre)
        parts["torch.stack of the batches"], batches = _t(
            lambda: [torch.cat(pre[i : i + batch_size]) for i in range(0, len(pre), batch_size)]
        )
        parts["vectorised normalisation of grey batches"], _ = _t(
            lambda: [
                pose._normalise_batch(frames[i : i + batch_size])
                for i in range(0, len(frames), batch_size)
            ]
        )
        net = runner.model
        try:
            for threads in (1, 2):
                torch.set_num_threads(threads)
                with torch.inference_mode():
                    net(batches[0])
                    parts[f"network, PyTorch, {threads} thread(s), channels-first"], outs = _t(
                        lambda: [net(b) for b in batches]
                    )
                    net_cl = net.to(memory_format=torch.channels_last)
                    cl = [b.contiguous(memory_format=torch.channels_last) for b in batches]
                    net_cl(cl[0])
                    parts[f"network, PyTorch, {threads} thread(s), channels-last"], _ = _t(
                        lambda n=net_cl, c=cl: [n(b) for b in c]
                    )
                    net.to(memory_format=torch.contiguous_format)
        finally:
            torch.set_num_threads(before)

        def dlc_post():
            res = []
            for o in outs:
                raw = net.get_predictions(o)
                preds = [
                    {h: {k: v[b].cpu().numpy() for k, v in ho.items()} for h, ho in raw.items()}
                    for b in range(len(o["bodypart"]["heatmap"]))
                ]
                res += [
                    runner.postprocessor([p], {"image_size": (size[0], size[1])})[0] for p in preds
                ]
            return res

        with torch.inference_mode():
            parts["DeepLabCut per-frame postprocessing (predictor, dicts, rescale)"], _ = _t(
                dlc_post
            )
            parts["batch predictor (get_predictions on the batch)"], _ = _t(
                lambda: [net.get_predictions(o)["bodypart"]["poses"].numpy() for o in outs]
            )
        parts["ONNX export (once per snapshot; 0 when cached)"], onnx_file = _t(export_onnx, model)
        for threads in (1, 2):
            t_load, ort_runner = _t(OnnxPoseRunner, onnx_file, threads)
            parts[f"load network: ONNX Runtime session ({threads} thread(s))"] = t_load
            ort_runner(frames[:batch_size])
            parts[f"network + predictor, ONNX Runtime, {threads} thread(s)"], _ = _t(
                lambda r=ort_runner: [
                    r(frames[i : i + batch_size]) for i in range(0, len(frames), batch_size)
                ]
            )
        points = pose.run_pose(
            frames, model, pose.Roi(0, 0, size[0], size[1], size[0], size[1]), runtime="onnxruntime"
        )
        parts["median filter, 5 frames (DLCPose)"], _ = _t(pose.median_filter_pose, points, 5)
        del rgb_frames
    return parts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.profile_pose", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument(
        "--size", default="100x100", help="crop size WxH: 100x100 (eye) or 450x374 (paws)"
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        print(f"--size must be WxH, got {args.size!r}", file=sys.stderr)
        return 2
    if (w, h) not in ((100, 100), (450, 374)):
        print(f"--size must be 100x100 or 450x374, got {args.size!r}", file=sys.stderr)
        return 2
    from bench.__main__ import stdout_to_stderr

    with stdout_to_stderr():
        parts = profile(args.frames, (w, h), args.batch_size)
    if args.json:
        print(json.dumps(parts, indent=2))
    else:
        for name, s in parts.items():
            print(f"{s:8.3f} s  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
