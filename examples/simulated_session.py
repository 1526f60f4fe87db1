"""A simulated session taken through the pipeline, with the simulator's true pose as ``DLCPose``.

The examples (and their tests) need a session with pose, pupil diameter and licks, without
trained DeepLabCut networks. This module:

1. records a simulated ephys session (:func:`acquisition.session.record_session`), inserts
   it and populates ``CameraRecording``, ``SyncPulses`` and ``CameraQC``: the real chain;
2. inserts the pose directly (``allow_direct_insert=True``): the simulator's ground-truth
   points of every recorded frame (:func:`acquisition.daq.load_truth`) as ``DLCPose``
   rows, likelihood 1 where a point is visible and 0 (with NaN x, y) where it is hidden,
   under the pose model set ``simulator-truth``, with the ``AnchorPoints`` and ``CropROI``
   rows it depends on (anchors from the truth, no crop regions);
3. populates ``PupilDiameter``, ``LickEvents`` and ``PoseQC`` from that pose: the real chain
   again.

``CompressedVideo`` is encoded for real by default; ``encode=False`` (the tests) inserts a
row that names the raw video instead (crf 0 would be the honest label; the row keeps the
``training`` parameter set so that nothing treats it as an archival copy).

Run as a script to make one under a data root::

    python examples/simulated_session.py --data-root data --subject KS023 --duration 40
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from pipeline.rigs import TRACKED_POINTS

TRUTH_MODEL_SET = "simulator-truth"
SIDE_CAMERAS = ("left", "right")


def record_and_sync(
    data_root: Path | str,
    subject: str = "KS023",
    *,
    date: str = "2025-01-31",
    duration_s: float = 40.0,
    seed: int = 3,
    scale: float = 0.125,
    cameras: tuple[str, ...] = SIDE_CAMERAS,
) -> dict:
    """Record a simulated ephys session under ``data_root`` and register it; returns its key.

    Nothing is inserted: see :func:`ingest` (separate so that one recording can be copied
    into several data roots, as the tests do for their database backends).
    """
    from acquisition.session import record_session

    rec = record_session(data_root, subject, "ephys", duration_s, date=date, scale=scale, seed=seed,
                         progress=False, cameras=list(cameras))  # fmt: skip
    return {
        "folder": rec.folder,
        "subject": subject,
        "session_date": date,
        "session_number": rec.number,
    }


def ingest(folder: Path | str, *, qc: bool = True) -> dict:
    """Insert a recorded session folder and populate ``CameraRecording``, ``SyncPulses`` (and ``CameraQC``).

    Only the cameras that have a video are populated. Returns the session key.
    """
    from acquisition.insert import insert_recorded_session, insert_simulated_references
    from pipeline import layout
    from schemas.qc import CameraQC
    from schemas.session import CameraRecording
    from schemas.sync import SyncPulses

    folder = Path(folder)
    key = insert_recorded_session(folder)
    labels = sorted(layout.find_raw_videos(folder))
    keys = [dict(key, camera_label=label) for label in labels]
    for table in (CameraRecording, SyncPulses):
        errors = table.populate(keys, reserve_jobs=True, suppress_errors=True)["error_list"]
        if errors:
            raise RuntimeError(f"{table.__name__}: {errors}")
    if qc:
        sizes = {
            r["camera_label"]: (r["width"], r["height"])
            for r in (CameraRecording & key).proj("width", "height").to_dicts()
        }
        insert_simulated_references(sizes)
        errors = CameraQC.populate(keys, reserve_jobs=True, suppress_errors=True)["error_list"]
        if errors:
            raise RuntimeError(f"CameraQC: {errors}")
    return key


def truth_pose(
    scene, n_frames: int, *, noise_px: float = 0.0, seed: int = 0
) -> dict[str, np.ndarray]:
    """The true points of one camera's recorded frames: part -> (n, 3) x, y, likelihood.

    Parameters
    ----------
    scene : acquisition.simulator.SceneTruth
        ``load_truth(folder).scenes[label]``.
    n_frames : int
        Frames of the video (checked).
    noise_px : float
        Standard deviation of Gaussian noise added to x and y, pixels.
    seed : int
        Seed of that noise.

    Raises
    ------
    ValueError
        If the truth has another number of frames than the video.
    """
    n = len(scene.times_s)
    if n != n_frames:
        raise ValueError(f"{scene.label} camera: the truth has {n} frames, the video {n_frames}")
    rng = np.random.default_rng(seed)
    out = {}
    for name in TRACKED_POINTS:
        xy = np.asarray(scene.points[name], dtype=np.float64)
        if noise_px > 0:
            xy = xy + rng.normal(0.0, noise_px, xy.shape)
        visible = np.isfinite(xy).all(axis=1)
        out[name] = np.column_stack([xy, visible.astype(np.float64)])
    return out


def insert_truth_pose(
    session_key: dict,
    folder: Path | str,
    *,
    encode: bool = True,
    compression_params: str = "training",
    roi_params: str = "ibl",
    noise_px: float = 0.0,
    seed: int = 0,
) -> list[dict]:
    """Insert the simulator's true pose as ``DLCPose`` rows of the side cameras; returns their keys.

    See the module docstring for what is real and what is inserted directly.
    """
    from acquisition.daq import load_truth
    from schemas.compression import CompressedVideo
    from schemas.pose import AnchorPoints, CropROI, DLCPose, PoseModelSet
    from schemas.session import CameraRecording

    scenes = load_truth(folder).scenes
    PoseModelSet.insert1(dict(pose_model_set=TRUTH_MODEL_SET, set_description="simulator ground truth in place of DeepLabCut"),
                         skip_duplicates=True)  # fmt: skip
    keys = []
    for rec in (
        CameraRecording & session_key & [{"camera_label": c} for c in SIDE_CAMERAS]
    ).to_dicts():
        ckey = {k: rec[k] for k in ("subject", "session_date", "session_number", "camera_label")}
        vkey = dict(ckey, compression_params=compression_params)
        if not CompressedVideo & vkey:
            if encode:
                errors = CompressedVideo.populate(vkey, reserve_jobs=True, suppress_errors=True)[
                    "error_list"
                ]
                if errors:
                    raise RuntimeError(f"CompressedVideo: {errors}")
            else:
                size = int(rec["file_size"])
                CompressedVideo.insert1(dict(
                    vkey, compressed_video_path=rec["raw_video_path"], file_size=size, raw_size=size, compression_ratio=1.0,
                    bitrate_kbps=size * 8 / 1000 / max(rec["duration_s"], 1e-9), encode_seconds=0.0, verify_seconds=0.0,
                    psnr_db=999.0, ssim=1.0, n_quality_frames=0, n_frames=rec["n_frames"], width=rec["width"],
                    height=rec["height"],
                ), allow_direct_insert=True)  # fmt: skip
        if rec["camera_label"] not in scenes:
            raise ValueError(f"{folder}: no scene truth for the {rec['camera_label']} camera")
        scene = scenes[rec["camera_label"]]
        points = truth_pose(scene, int(rec["n_frames"]), noise_px=noise_px, seed=seed)
        extra = scene.extra_points
        akey = dict(vkey, pose_model_set=TRUTH_MODEL_SET)
        anchors = {
            "pupil_center": extra["pupil_center"],
            "nose_tip": extra["nose_tip"],
            "tube_top": points["tube_top"][:, :2],
        }
        row = dict(akey, n_samples=int(rec["n_frames"]),
                   n_confident=json.dumps({k: int(np.isfinite(v).all(axis=1).sum()) for k, v in anchors.items()}))  # fmt: skip
        for name, xy in anchors.items():
            row[f"{name}_x"], row[f"{name}_y"] = (float(v) for v in np.nanmean(xy, axis=0))
        AnchorPoints.insert1(row, allow_direct_insert=True, skip_duplicates=True)
        pkey = dict(akey, roi_params=roi_params)
        CropROI.insert1(
            dict(pkey, crop_seconds=0.0), allow_direct_insert=True, skip_duplicates=True
        )
        if not DLCPose & pkey:
            with DLCPose.connection.transaction:
                DLCPose.insert1(dict(pkey, n_frames=int(rec["n_frames"]), device="truth", batch_size=0, pose_seconds=0.0),
                                allow_direct_insert=True)  # fmt: skip
                DLCPose.BodyPart.insert([dict(pkey, body_part=name, pose=p) for name, p in points.items()],
                                        allow_direct_insert=True)  # fmt: skip
        keys.append(pkey)
    return keys


def populate_features(session_key: dict) -> None:
    """Populate ``PupilDiameter``, ``LickEvents`` and ``PoseQC`` of a session (errors raise)."""
    from schemas.features import LickEvents, PoseQC, PupilDiameter

    for table in (PupilDiameter, LickEvents, PoseQC):
        errors = table.populate(session_key, reserve_jobs=True, suppress_errors=True)["error_list"]
        if errors:
            raise RuntimeError(f"{table.__name__}: {errors}")


def simulated_analysis_session(
    data_root: Path | str,
    subject: str = "KS023",
    *,
    date: str = "2025-01-31",
    duration_s: float = 40.0,
    seed: int = 3,
    encode: bool = True,
) -> dict:
    """Record, ingest, insert the true pose and compute the features of one session; returns its key."""
    rec = record_and_sync(data_root, subject, date=date, duration_s=duration_s, seed=seed)
    key = ingest(rec["folder"])
    insert_truth_pose(key, rec["folder"], encode=encode)
    populate_features(key)
    return key


def main(argv: list[str] | None = None) -> None:
    import schemas
    from schemas.config import resolve_settings

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, default=None)
    parser.add_argument("--subject", default="KS023")
    parser.add_argument("--date", default="2025-01-31")
    parser.add_argument("--duration", type=float, default=40.0)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args(argv)
    settings = resolve_settings(args.data_root)
    schemas.activate(settings)
    key = simulated_analysis_session(
        settings.data_root, args.subject, date=args.date, duration_s=args.duration, seed=args.seed
    )
    print(
        f"session {key['subject']}/{key['session_date']}/{int(key['session_number']):03d} ready under {settings.data_root}"
    )


if __name__ == "__main__":
    main()
