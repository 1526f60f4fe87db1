"""Import pose made elsewhere into ``DLCPose`` (``ibl-video pose import``), like element-deeplabcut's
``task_mode="load"``.

The design problem: ``DLCPose`` is keyed by ``CropROI`` (-> ``AnchorPoints`` ->
``CompressedVideo`` x ``PoseModelSet``, -> ``RoiParams``), and an import has neither networks
nor crops. Rather than a second pose table (which every reader of ``DLCPose``:
``PupilDiameter``, ``LickEvents``, ``PoseQC``, :mod:`schemas.analysis`, :mod:`schemas.export`,
would have to learn), an import fills the same chain with rows that say what they are, in
one transaction:

- ``PoseModelSet`` named ``--pose-model-set`` (default ``imported``) with **no** ``Member``
  rows: no networks. ``AnchorPoints``, ``CropROI`` and ``DLCPose`` compute only for sets that
  have members (:func:`schemas.pose.networked_model_sets`), so ``populate`` never tries to
  run networks for an import, and its keys never show as pending.
- ``AnchorPoints`` from the imported points, with the anchors' definition (mean of confident
  detections, :func:`pipeline.pose_import.import_anchors`); an anchor the files do not track
  is NULL.
- ``CropROI`` with no ``Region`` rows: nothing was cropped. ``PoseQC`` then skips its
  in-box checks (they read the regions) and runs the others.
- ``DLCPose`` with ``device`` ``imported``, ``batch_size`` 0, and its ``BodyPart`` rows: the
  points as the files hold them (x, y in full-frame pixels, likelihood), not filtered again,
  with one ``DLCPose.ImportedFile`` row per file (path, MD5, format, scorer, offset).

The parent ``CompressedVideo`` is the recording's encode the pose belongs to
(``--compression-params``; default the recording's only one). The checks run before anything
is written: a file whose frame count differs from ``CameraRecording.n_frames`` is an error
naming the file and both counts, and nothing is stored.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Sequence
from pathlib import Path

import datajoint as dj

from pipeline import pose_import
from pipeline.io import dlc
from schemas.compression import CompressedVideo
from schemas.pose import AnchorPoints, CropROI, DLCPose, PoseModelSet, RoiParams
from schemas.session import CameraRecording, session_name

__all__ = ["IMPORTED_DEVICE", "import_pose"]

#: ``DLCPose.device`` of imported pose.
IMPORTED_DEVICE = "imported"
#: Default ``--pose-model-set`` of an import.
DEFAULT_IMPORT_SET = "imported"


def _recording_name(key: dict) -> str:
    return f"{session_name(key)} {key['camera_label']} camera"


def _compressed_video(rec_key: dict, compression_params: str | None) -> dict:
    """The CompressedVideo key the pose belongs to (the recording's only one by default)."""
    name = _recording_name(rec_key)
    rows = (CompressedVideo & rec_key).proj("n_frames").to_dicts()
    if compression_params is not None:
        rows = [r for r in rows if r["compression_params"] == compression_params]
        if not rows:
            have = sorted(r["compression_params"] for r in (CompressedVideo & rec_key).proj().to_dicts())
            raise ValueError(
                f"{name} has no CompressedVideo with compression_params {compression_params!r}"
                + (f" (it has {', '.join(have)})" if have else "")
                + f"; make it with: ibl-video populate CompressedVideo --key '{_key_json(rec_key, compression_params)}'"
            )
    if not rows:
        raise ValueError(
            f"{name} has no CompressedVideo; imported pose hangs on the encode it belongs to. Make it with: "
            f"ibl-video populate CompressedVideo --key '{_key_json(rec_key)}' (or name another set with --compression-params)"
        )
    if len(rows) > 1:
        raise ValueError(
            f"{name} has {len(rows)} CompressedVideo encodes ({', '.join(r['compression_params'] for r in rows)}); "
            "name one with --compression-params"
        )
    return rows[0]


def _key_json(rec_key: dict, compression_params: str | None = None) -> str:
    key = {k: str(v) if isinstance(v, dt.date) else v for k, v in rec_key.items()}
    if compression_params:
        key["compression_params"] = compression_params
    return json.dumps(key)


def import_pose(
    session_key: dict,
    camera_label: str,
    files: Sequence[Path | str],
    *,
    pose_model_set: str = DEFAULT_IMPORT_SET,
    compression_params: str | None = None,
    roi_params: str = "ibl",
    file_format: str = "auto",
    individual: str | None = None,
) -> dict:
    """Import pose files of one camera recording into ``DLCPose`` (see the module docstring).

    Parameters
    ----------
    session_key : dict
        ``subject``, ``session_date``, ``session_number``.
    camera_label : str
        ``left``, ``right`` or ``body``.
    files : sequence of path
        DeepLabCut ``.h5``/``.csv``, Lightning Pose ``.csv`` or IBL ``dlc.pqt`` files
        (:func:`pipeline.io.dlc.read_pose_file`); several files merge their body parts.
    pose_model_set : str
        The model set (without networks) the import is filed under; created if missing.
    compression_params : str, optional
        The recording's encode the pose belongs to (default: its only one).
    roi_params : str
        The ``RoiParams`` set of the ``CropROI`` key (no regions are placed).
    file_format : str
        ``auto`` or one of :data:`pipeline.io.dlc.POSE_FILE_FORMATS`, for every file.
    individual : str, optional
        The individual to take from multi-animal DeepLabCut files.

    Returns
    -------
    dict
        ``key`` (the DLCPose key), ``n_frames``, ``body_parts`` (list), ``files`` (one dict
        per file: path, md5, format, scorer, offset, body parts, ignored columns) and
        ``anchors`` (name -> [x, y] or None).

    Raises
    ------
    FileNotFoundError
        A file that does not exist.
    ValueError
        Naming the file or key: unknown session or camera recording, no (or several)
        CompressedVideo, a model set that has networks, pose already imported for this key,
        an unreadable file, a frame count other than the recording's (both counts), one
        body part in two files, the same file twice. Nothing is stored then.
    """
    rec_key = dict(session_key, camera_label=camera_label)
    name = _recording_name(rec_key)
    rec = (CameraRecording & rec_key).proj("n_frames", "width", "height").to_dicts()
    if not rec:
        raise ValueError(f"no CameraRecording for {name}; register the session and populate CameraRecording first")
    n_frames = int(rec[0]["n_frames"])
    if not pose_model_set or len(pose_model_set) > 32:
        raise ValueError(f"--pose-model-set must be 1 to 32 characters, got {pose_model_set!r}")
    if PoseModelSet.Member & {"pose_model_set": pose_model_set}:
        raise ValueError(
            f"model set {pose_model_set!r} has networks (PoseModelSet.Member rows); imported pose goes to a set "
            "without networks: choose another --pose-model-set"
        )
    if not RoiParams & {"roi_params": roi_params}:
        raise ValueError(f"no RoiParams {roi_params!r}")
    video = _compressed_video(rec_key, compression_params)
    key = dict(rec_key, compression_params=video["compression_params"], pose_model_set=pose_model_set, roi_params=roi_params)
    anchor_key = {k: v for k, v in key.items() if k != "roi_params"}
    if AnchorPoints & anchor_key:
        raise ValueError(
            f"{name} already has pose under model set {pose_model_set!r} ({video['compression_params']}): choose "
            f"another --pose-model-set, or delete it first (AnchorPoints & {_key_json(anchor_key)} with what depends on it)"
        )
    t0 = time.perf_counter()
    paths = [Path(f).resolve() for f in files]
    digests = {}
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"pose file not found: {p}")
        md5 = pose_import.file_md5(p)
        if md5 in digests:
            raise ValueError(f"{p} and {digests[md5]} are the same file (MD5 {md5}); give each file once")
        digests[md5] = p
        if len(str(p)) > 1000:
            raise ValueError(f"{p}: path longer than 1000 characters cannot be recorded")
    read = [dlc.read_pose_file(p, camera_label, format=file_format, individual=individual) for p in paths]
    points = pose_import.merge_pose_files(read, n_frames, name)
    pose_import.check_inside_frame(points, int(rec[0]["width"]), int(rec[0]["height"]), name)
    if int(video["n_frames"]) != n_frames:
        raise ValueError(
            f"{name}: CompressedVideo {video['compression_params']} has {video['n_frames']} frames, the recording {n_frames}"
        )
    too_long = [bp for bp in points if len(bp) > 32]
    if too_long:
        raise ValueError(f"body part names longer than 32 characters cannot be stored: {too_long}")
    anchors, n_confident = pose_import.import_anchors(points, camera_label)
    missing = [a for a, xy in anchors.items() if xy is None]
    if missing and not AnchorPoints.heading.attributes[f"{missing[0]}_x"].nullable:
        raise ValueError(
            f"the imported pose has no {', '.join(missing)} and this database's AnchorPoints cannot hold a missing anchor "
            "(made before anchors were nullable): run AnchorPoints.alter() once, as the schema's owner"
        )
    seconds = time.perf_counter() - t0
    now = dt.datetime.now().replace(microsecond=0)
    anchor_row = dict(
        key, n_samples=n_frames, n_confident=json.dumps(n_confident),
        **{f"{a}_{c}": (None if xy is None else xy[i]) for a, xy in anchors.items() for i, c in enumerate("xy")},
    )  # fmt: skip
    anchor_row.pop("roi_params")
    sources = [
        dict(key, source_md5=md5, source_path=str(f.path), source_format=f.format, scorer=f.scorer[:255],
             individual=f.individual or "", offset_x=float(f.offset[0]), offset_y=float(f.offset[1]),
             body_parts=json.dumps(list(f.points)), imported_time=now)
        for md5, f in zip(digests, read, strict=True)
    ]  # fmt: skip
    too_many = [s["source_path"] for s in sources if len(s["body_parts"]) > 2000]
    if too_many:
        raise ValueError(f"{too_many[0]}: too many body parts to record (their JSON list exceeds 2000 characters)")
    connection = DLCPose.connection
    try:
        _insert_import(connection, pose_model_set, anchor_row, key, n_frames, seconds, points, sources)
    except dj.errors.DuplicateError:  # another import of the same key won the race since the check above
        raise ValueError(
            f"{name} already has pose under model set {pose_model_set!r} ({video['compression_params']}): imported "
            "at the same moment by another process; nothing of this import was stored"
        ) from None
    return {
        "key": key,
        "n_frames": n_frames,
        "body_parts": list(points),
        "files": [
            dict(path=str(f.path), md5=md5, format=f.format, scorer=f.scorer, individual=f.individual,
                 offset=list(f.offset), body_parts=list(f.points), ignored=list(f.ignored), warnings=list(f.warnings))
            for md5, f in zip(digests, read, strict=True)
        ],  # fmt: skip
        "anchors": {a: None if xy is None else list(xy) for a, xy in anchors.items()},
    }


def _insert_import(connection, pose_model_set, anchor_row, key, n_frames, seconds, points, sources) -> None:
    """The import's rows, in one transaction."""
    with connection.transaction:
        PoseModelSet.insert1(
            dict(pose_model_set=pose_model_set, set_description="pose imported from files (no networks)"),
            skip_duplicates=True,
        )
        AnchorPoints.insert1(anchor_row, allow_direct_insert=True)
        CropROI.insert1(dict(key, crop_seconds=0.0), allow_direct_insert=True)
        DLCPose.insert1(dict(key, n_frames=n_frames, device=IMPORTED_DEVICE, batch_size=0, pose_seconds=seconds),
                        allow_direct_insert=True)  # fmt: skip
        DLCPose.BodyPart.insert([dict(key, body_part=bp, pose=a) for bp, a in points.items()], allow_direct_insert=True)
        DLCPose.ImportedFile.insert(sources, allow_direct_insert=True)
