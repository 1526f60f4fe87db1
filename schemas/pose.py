"""Pose: DeepLabCut models as data, anchor points, crop regions, and DLCPose in full-frame pixels.

Tables
------
PoseModel : a registered DeepLabCut network (role, project, snapshot, body parts, test error;
    Part ``BodyPart``: DeepLabCut's train and test error of each body part).
PoseModelSet : which model of each role a pose run uses (Part ``Member``).
AnchorPoints : pupil, nose tip and spout top of a compressed video (mean of confident detections).
RoiParams, RoiRegion : region sizes and offsets from their anchors.
CropROI : the regions placed in one video, and their crop videos written in one decode (Part ``Region``).
DLCPose : every tracked point of a recording in full-frame pixels, one entry per frame (Part ``BodyPart``;
    Part ``ImportedFile``: the source files of pose imported by ``ibl-video pose import``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import datajoint as dj
import numpy as np

from pipeline import crops, layout, pose
from pipeline.io import dlc
from schemas import config
from schemas.compression import CompressedVideo
from schemas.session import CameraRecording, Session, session_name

schema = dj.Schema()

ROLE_ENUM = "enum('anchor', 'eye', 'nostril', 'tongue', 'paws')"
CROP_DIR = "pose_crops"


@schema
class PoseModel(dj.Manual):
    """A trained DeepLabCut network, registered by ``ibl-video models register`` or
    ``ibl-video models train`` (``--from-simulator``, or ``--project`` for a lab's labelled project).

    A new model version is a new row; rows are never overwritten. The role is the region the
    network is for; its body parts may include points the role does not need (a lab's
    project), but a model set (:func:`create_model_set`) and the pose stage refuse a model
    that lacks a point of its role (:func:`pipeline.pose.check_bodyparts`).

    Attributes:
        pose_model (str): ``<role>-<first 10 hex of the snapshot's MD5>``.
        pose_role (str): anchor, eye, nostril, tongue or paws.
        project_path (str): The DLC project folder, relative to the data root.
        shuffle (int): DLC shuffle.
        snapshot (str): Weights file, relative to the data root.
        bodyparts (str): JSON list of body parts, in output order.
        n_train_frames (int): Labeled frames used for training.
        test_error_px (float): DLC's evaluation: test RMSE, pixels.
        train_error_px (float): DLC's evaluation: train RMSE, pixels.
        net_type (str): DLC network type.
    """

    definition = f"""
    pose_model: varchar(64)
    ---
    pose_role: {ROLE_ENUM}
    project_path: varchar(255)       # relative to the data root
    shuffle: int16
    snapshot: varchar(255)           # relative to the data root
    bodyparts: varchar(1000)         # JSON list, output order
    n_train_frames: int32
    test_error_px=null: float64      # DLC evaluation, test RMSE, pixels
    train_error_px=null: float64     # DLC evaluation, train RMSE, pixels
    net_type: varchar(32)
    registered_time: datetime
    """

    class BodyPart(dj.Part):
        """DeepLabCut's error of one body part (``evaluate_network(..., per_keypoint_evaluation=True)``).

        DLC's error of a split is the mean distance between prediction and label over the
        split's frames in which the point is labelled (DLC calls it RMSE); the model's
        ``test_error_px`` is the same mean over every labelled point, i.e. the mean of
        ``body_part_test_error_px`` weighted by ``n_test_labels`` (DLC rounds its overall
        figure to 0.01 px).

        Attributes:
            body_part (str): As the network names it.
            body_part_train_error_px, body_part_test_error_px (float): Pixels; NULL where the
                split has no label (named apart from the master's overall errors, so that a
                join of the two does not match on them).
            n_train_labels, n_test_labels (int): Frames of the split in which it is labelled.
        """

        definition = """
        -> master
        body_part: varchar(32)
        ---
        body_part_train_error_px=null: float64  # DLC evaluation, train split, pixels
        body_part_test_error_px=null: float64   # DLC evaluation, test split, pixels
        n_train_labels: int32         # train frames where the point is labelled
        n_test_labels: int32          # test frames where the point is labelled
        """

    def model(self, row: dict | None = None) -> pose.DlcModel:
        """The :class:`pipeline.pose.DlcModel` of one row (checks files and body parts)."""
        row = row or self.fetch1()
        root = config.current().data_root
        return pose.load_model(
            layout.resolve_under(root, row["project_path"]), row["pose_role"], shuffle=int(row["shuffle"]),
            snapshot=layout.resolve_under(root, row["snapshot"]),
        )  # fmt: skip


def _finite_or_none(value) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def register_model(project: Path | str, role: str, *, shuffle: int = 1, n_train_frames: int | None = None,
                   net_type: str | None = None, require_body_part_errors: bool = False) -> dict:
    """Register a DLC project's trained shuffle as a ``PoseModel`` row; returns the row.

    Any body parts are accepted (see :class:`PoseModel`). DeepLabCut's evaluation of the
    snapshot, when the project holds it, gives ``test_error_px``/``train_error_px``
    (``CombinedEvaluation-results.csv``) and the ``BodyPart`` rows (its
    ``-keypoint-results.csv`` and the shuffle's split record,
    :func:`pipeline.io.dlc.read_keypoint_evaluation`, :func:`pipeline.io.dlc.read_split`);
    without them the errors are NULL and there are no ``BodyPart`` rows.

    Raises
    ------
    FileNotFoundError
        Missing project, shuffle, ``pytorch_config.yaml`` or snapshot (naming the path), or a
        project outside the data root.
    ValueError
        An unknown role, or this snapshot already registered.

    With ``require_body_part_errors`` (our own training, which always evaluates per body part)
    a missing per-body-part evaluation is a ``FileNotFoundError`` instead of no ``BodyPart`` rows.
    """
    if role not in pose.ROLE_BODYPARTS:
        raise ValueError(f"unknown pose role {role!r}; roles: {', '.join(pose.ROLES)}")
    root = config.current().data_root
    proj = dlc.read_project(project)
    train = dlc.shuffle_folder(proj, shuffle) / "train"
    if not (train / "pytorch_config.yaml").is_file():
        raise FileNotFoundError(f"model {proj.project_path.name}: pytorch_config.yaml not found: {train / 'pytorch_config.yaml'}")
    snapshot = dlc.best_snapshot(train)
    name = f"{role}-{hashlib.md5(snapshot.read_bytes()).hexdigest()[:10]}"
    if PoseModel & {"pose_model": name}:
        raise ValueError(f"model {name} (snapshot {snapshot}) is already registered")
    try:
        ev = dlc.read_evaluation(proj, shuffle)
    except (FileNotFoundError, ValueError):
        ev = {}
    parts = []
    try:
        per_part = dlc.read_keypoint_evaluation(proj, shuffle, snapshot)
        split = dlc.read_split(proj, shuffle)
    except FileNotFoundError as e:
        if require_body_part_errors:
            raise FileNotFoundError(f"model {name}: DeepLabCut's per-body-part evaluation is missing: {e}") from None
        per_part = {}
    for bp, (train_err, test_err) in per_part.items():
        parts.append(dict(pose_model=name, body_part=bp, body_part_train_error_px=_finite_or_none(train_err),
                          body_part_test_error_px=_finite_or_none(test_err), n_train_labels=int(split["train_labels"].get(bp, 0)),
                          n_test_labels=int(split["test_labels"].get(bp, 0))))  # fmt: skip
    row = dict(
        pose_model=name, pose_role=role, project_path=layout.to_relative(root, proj.project_path), shuffle=shuffle,
        snapshot=layout.to_relative(root, snapshot), bodyparts=json.dumps(list(proj.bodyparts)),
        n_train_frames=int(n_train_frames or 0), net_type=net_type or "unknown",
        test_error_px=_finite_or_none(ev.get("test_error_px")), train_error_px=_finite_or_none(ev.get("train_error_px")),
        registered_time=dt.datetime.now().replace(microsecond=0),
    )  # fmt: skip
    with PoseModel.connection.transaction:
        PoseModel.insert1(row)
        PoseModel.BodyPart.insert(parts)
    return row


def register_trained_model(info) -> tuple[dict, bool]:
    """Install a trained network (:class:`pipeline.training.ModelInfo`) under the data root and
    register it; returns ``(PoseModel row, newly registered)``.

    Files are hard-linked into ``<data root>/models/dlc/<role>-<hash>/``
    (:func:`pipeline.training.install_models`). A snapshot already registered gives its
    existing row.
    """
    from pipeline.training import install_models

    root = config.current().data_root
    installed = install_models(info, root)[info.role]
    try:
        return register_model(root / installed.project, info.role, n_train_frames=info.n_train,
                              net_type=info.net_type, require_body_part_errors=True), True  # fmt: skip
    except ValueError as e:
        if "already registered" not in str(e):
            raise
    digest = hashlib.md5((root / installed.snapshot).read_bytes()).hexdigest()[:10]
    return (PoseModel & {"pose_model": f"{info.role}-{digest}"}).fetch1(), False


@schema
class PoseModelSet(dj.Manual):
    """The model of each role one pose run uses.

    Attributes:
        pose_model_set (str): Name of the set.
        set_description (str): What it is for.
    """

    definition = """
    pose_model_set: varchar(32)
    ---
    set_description: varchar(255)
    """

    class Member(dj.Part):
        """One role's model in the set."""

        definition = """
        -> master
        -> PoseModel
        ---
        member_role: varchar(16)     # = PoseModel.pose_role
        unique index(pose_model_set, member_role)
        """

    @staticmethod
    def role_models(key: dict) -> dict[str, dict]:
        """Role -> PoseModel row of the set in ``key``."""
        rows = (PoseModel * PoseModelSet.Member & {"pose_model_set": key["pose_model_set"]}).to_dicts()
        return {r["pose_role"]: r for r in rows}


def create_model_set(name: str, models: dict[str, str], description: str = "") -> None:
    """Insert a model set from ``role -> pose_model``; every role of :data:`pipeline.pose.ROLES` is needed.

    Each model must be registered, of its role, and track its role's points
    (:func:`pipeline.pose.check_bodyparts`; extra points are allowed). Nothing is inserted
    unless every member passes.
    """
    for role, model in models.items():
        found = (PoseModel & {"pose_model": model}).to_dicts()
        if not found:
            raise ValueError(f"model set {name!r}: no registered model {model!r}")
        if found[0]["pose_role"] != role:
            raise ValueError(f"model set {name!r}: {model} is a {found[0]['pose_role']} model, not {role}")
        try:
            pose.check_bodyparts(json.loads(found[0]["bodyparts"]), role, model)
        except ValueError as e:
            raise ValueError(f"model set {name!r}: {e}") from None
    missing = sorted(set(pose.ROLES) - set(models))
    if missing:
        raise ValueError(f"model set {name!r} lacks a model for role(s) {', '.join(missing)}")
    with PoseModelSet.connection.transaction:
        PoseModelSet.insert1(dict(pose_model_set=name, set_description=description))
        PoseModelSet.Member.insert([dict(pose_model_set=name, pose_model=m, member_role=r) for r, m in models.items()])


def networked_model_sets():
    """Model sets with networks (``Member`` rows): the ones ``populate`` computes pose for.

    A set without members names imported pose (:func:`schemas.pose_import.import_pose`) or
    pose inserted directly (the simulator's truth in ``examples/``).
    """
    return PoseModelSet & PoseModelSet.Member


@schema
class AnchorPoints(dj.Computed):
    """Pupil centre, nose tip and spout top of a compressed side-camera video, full-frame pixels.

    The anchor network runs on frames sampled through the video; the mean of the
    detections with likelihood >= 0.9 is kept (IBL: 20 to 500 frames). Only model sets with
    networks (``PoseModelSet.Member`` rows) are computed; imported pose
    (:func:`schemas.pose_import.import_pose`) inserts its own row, the mean of the imported
    points' confident detections, where an anchor the files do not track is NULL (NaN cannot
    be stored on MySQL/MariaDB).

    Attributes:
        pupil_center_x, pupil_center_y, nose_tip_x, nose_tip_y, tube_top_x, tube_top_y (float): Pixels
            (NULL: not found, imported pose only).
        n_samples (int): Frames the network ran on (imported: frames of the files).
        n_confident (str): JSON: anchor -> frames at or above the threshold.
    """

    definition = """
    -> CompressedVideo
    -> PoseModelSet
    ---
    pupil_center_x=null: float64     # pixels; NULL: not tracked (imported pose)
    pupil_center_y=null: float64
    nose_tip_x=null: float64
    nose_tip_y=null: float64
    tube_top_x=null: float64
    tube_top_y=null: float64
    n_samples: int32
    n_confident: varchar(255)        # JSON
    """

    @property
    def key_source(self):
        side = [{"camera_label": "left"}, {"camera_label": "right"}]
        return (CompressedVideo.proj() * networked_model_sets().proj()) & side

    def make_fetch(self, key, device: str = "cpu", batch_size: int | None = None, n_samples: int = 100,
                   runtime: str = "auto"):  # fmt: skip
        path = (CompressedVideo & key).fetch1("compressed_video_path")
        model = PoseModelSet.role_models(key).get("anchor")
        if model is None:
            raise ValueError(f"model set {key['pose_model_set']!r} has no anchor model")
        return path, model, device, 32 if batch_size is None else int(batch_size), n_samples, runtime

    def make_compute(self, key, path, model, device, batch_size, n_samples, runtime):
        video = layout.resolve_under(config.current().data_root, path)
        _, mirror = crops.camera_view(key["camera_label"], 1280)
        result = pose.anchor_points(video, PoseModel().model(model), mirror=mirror, n_samples=n_samples,
                                    device=device, batch_size=batch_size, runtime=runtime)  # fmt: skip
        row = dict(key, n_samples=result.n_samples, n_confident=json.dumps(result.n_confident))
        for name, (x, y) in result.points.items():
            row[f"{name}_x"], row[f"{name}_y"] = float(x), float(y)
        return (row,)

    def make_insert(self, key, row):
        self.insert1(row)


@schema
class RoiParams(dj.Lookup):
    """Region sizes and offsets from their anchors (reference pixels of a 1280-wide side view).

    Attributes:
        roi_params (str): Name of the set.
    """

    definition = """
    roi_params: varchar(32)
    ---
    roi_description: varchar(255)
    """
    contents = [dict(roi_params="ibl", roi_description="the design's regions: eye, nostril 100x100, tongue 160x160, paws 900x750 -> 450x374")]

    @staticmethod
    def specs(roi_params: str) -> dict[str, crops.RoiSpec]:
        rows = (RoiRegion & {"roi_params": roi_params}).to_dicts()
        return {r["region"]: crops.RoiSpec(r["region"], r["width"], r["height"], r["dx"], r["dy"], r["anchor"],
                                           r["out_width"], r["out_height"]) for r in rows}  # fmt: skip


@schema
class RoiRegion(dj.Lookup):
    """One region of a ROI set: size and offset of its top-left corner from its anchor.

    Sizes and offsets are reference pixels (a 1280-wide side view); the crop video is
    ``out_width`` x ``out_height`` pixels (smaller: downscaled).
    """

    definition = """
    -> RoiParams
    region: varchar(16)
    ---
    anchor: varchar(16)
    width: int32
    height: int32
    dx: float64
    dy: float64
    out_width: int32
    out_height: int32
    """
    contents = [
        dict(roi_params="ibl", region=name, anchor=s.anchor, width=s.width, height=s.height, dx=s.dx, dy=s.dy,
             out_width=s.out_size[0], out_height=s.out_size[1])
        for name, s in crops.DEFAULT_ROI_SPECS.items()
    ]  # fmt: skip


@schema
class CropROI(dj.Computed):
    """Regions placed from the anchors, clamped to the frame, and their crop videos (one decode).

    Attributes:
        crop_seconds (float): Wall time of writing every crop, seconds.
    """

    definition = """
    -> AnchorPoints
    -> RoiParams
    ---
    crop_seconds: float64
    """

    class Region(dj.Part):
        """One region in the video's pixels and its crop video."""

        definition = """
        -> master
        region: varchar(16)
        ---
        x: int32                     # top-left column, pixels
        y: int32                     # top-left row, pixels
        w: int32
        h: int32
        out_w: int32                 # crop video size, pixels
        out_h: int32
        mirror: bool                 # flipped left-right (right camera)
        crop_video_path: varchar(255)  # relative to the data root
        """

    @property
    def key_source(self):
        # imported pose has a CropROI row with no regions: never computed (see AnchorPoints)
        return (AnchorPoints.proj() * RoiParams.proj()) & networked_model_sets().proj()

    def make_fetch(self, key):
        session_dir = (Session & key).fetch1("session_dir")
        path, width, height = (CompressedVideo & key).fetch1("compressed_video_path", "width", "height")
        anchors = (AnchorPoints & key).fetch1()
        specs = {n: s.to_dict() for n, s in RoiParams.specs(key["roi_params"]).items()}
        return session_dir, path, int(width), int(height), anchors, specs

    def make_compute(self, key, session_dir, path, width, height, anchors, specs):
        import time

        root = config.current().data_root
        scale, mirror = crops.camera_view(key["camera_label"], width)
        rois = {}
        for name, spec in specs.items():
            spec = crops.RoiSpec(**spec)
            anchor = (anchors[f"{spec.anchor}_x"], anchors[f"{spec.anchor}_y"])
            rois[name] = crops.roi_from_anchor(spec, anchor, width, height, scale=scale, mirror=mirror)
        out_rel = f"{session_dir}/{CROP_DIR}/{key['compression_params']}_{key['pose_model_set']}_{key['roi_params']}"
        t0 = time.perf_counter()
        written = crops.write_crops(layout.resolve_under(root, path), rois, layout.resolve_under(root, out_rel),
                                    stem=f"{key['camera_label']}Camera")  # fmt: skip
        seconds = time.perf_counter() - t0
        regions = [dict(key, region=n, **r.to_dict(), crop_video_path=layout.to_relative(root, written[n])) for n, r in rois.items()]
        return dict(key, crop_seconds=seconds), regions

    def make_insert(self, key, master, regions):
        self.insert1(master)
        self.Region.insert(regions)


@schema
class DLCPose(dj.Computed):
    """Every tracked point of a recording in full-frame pixels, median-filtered over 5 frames.

    The filter (:func:`pipeline.pose.median_filter_pose`) uses confident frames only
    (likelihood >= 0.9) and leaves the tongue tips unfiltered: a temporal median smears a
    lick, which lasts a few frames.

    Pose made elsewhere (DeepLabCut, Lightning Pose, IBL's files) is inserted by
    ``ibl-video pose import`` (:func:`schemas.pose_import.import_pose`) under a model set with
    no networks, with ``device`` ``imported``, unfiltered (as the files hold it), and one
    ``ImportedFile`` row per source file; ``populate`` never computes such keys.

    Attributes:
        n_frames (int): Entries per body part (= frames of the video).
        device (str): Torch device the networks ran on (``imported``: read from files).
        batch_size (int): Inference batch size (0 for imported pose); NULL: chosen per crop
            size (:func:`pipeline.pose.batch_size_for`: 32 for 100x100, 2 for the paws).
        pose_seconds (float): Wall time of inference (imported: of reading the files), seconds.
        runtime (str): The inference runtime that ran (:data:`pipeline.pose.RUNTIMES`:
            ``pytorch``, DeepLabCut's network; ``onnxruntime``, its ONNX export), chosen with
            ``populate``'s ``runtime`` option (default ``auto``: ONNX Runtime on the CPU,
            PyTorch on a GPU; :func:`pipeline.pose.resolve_runtime`); empty for imported pose.
    """

    definition = """
    -> CropROI
    ---
    n_frames: int32
    device: varchar(16)
    batch_size=null: int16           # frames per batch; NULL: chosen per crop size
    pose_seconds: float64
    runtime="": varchar(16)          # pytorch or onnxruntime ("" for imported pose)
    """

    class BodyPart(dj.Part):
        """One body part: ``(n_frames, 3)`` x, y (full-frame pixels) and likelihood."""

        definition = """
        -> master
        body_part: varchar(32)
        ---
        pose: <npy@ibl_video>        # (n_frames, 3): x px, y px, likelihood
        """

    class ImportedFile(dj.Part):
        """A file imported pose was read from (``ibl-video pose import``), one row per file.

        Attributes:
            source_md5 (str): MD5 of the file's bytes.
            source_path (str): The file as it was read (absolute path; provenance only, the
                pose itself is in ``BodyPart``, so the file may move or go).
            source_format (str): ``dlc_h5``, ``dlc_csv``, ``lightning_pose_csv`` or ``ibl_pqt``.
            scorer (str): The file's scorer (DLC network and snapshot; Lightning Pose model type).
            individual (str): The individual taken from a multi-animal file (empty otherwise).
            offset_x, offset_y (float): Pixels added to the file's coordinates (DeepLabCut's
                cropping, from its ``_meta.pickle``), so the stored pose is full-frame.
            body_parts (str): JSON list of the body parts taken from this file.
            imported_time (datetime): When.
        """

        definition = """
        -> master
        source_md5: char(32)         # md5 of the file's bytes
        ---
        source_path: varchar(1000)   # absolute path at import (provenance; not read again)
        source_format: enum('dlc_h5', 'dlc_csv', 'lightning_pose_csv', 'ibl_pqt')
        scorer: varchar(255)
        individual="": varchar(64)   # of a multi-animal file
        offset_x: float64            # pixels added to x (DLC cropping)
        offset_y: float64            # pixels added to y
        body_parts: varchar(2000)    # JSON list
        imported_time: datetime
        """

    @property
    def key_source(self):
        # imported pose (a model set with no networks) is inserted, never computed
        return CropROI.proj() & networked_model_sets().proj()

    def make_fetch(self, key, device: str = "cpu", batch_size: int | None = None, runtime: str = "auto"):
        n_frames = (CompressedVideo & key).fetch1("n_frames")
        regions = (CropROI.Region & key).to_dicts()
        models = PoseModelSet.role_models(key)
        return int(n_frames), regions, models, device, None if batch_size is None else int(batch_size), runtime

    def make_compute(self, key, n_frames, regions, models, device, batch_size, runtime):
        import time

        root = config.current().data_root
        t0 = time.perf_counter()
        missing = sorted(r["region"] for r in regions if r["region"] not in models)
        if missing:
            raise ValueError(f"model set {key['pose_model_set']!r} has no {', '.join(missing)} model")
        networks = {r["region"]: PoseModel().model(models[r["region"]]) for r in regions}
        runtime = pose.resolve_runtime(runtime, device, list(networks.values()))
        points: dict[str, np.ndarray] = {}
        for r in regions:
            roi = crops.Roi(r["x"], r["y"], r["w"], r["h"], r["out_w"], r["out_h"], bool(r["mirror"]))
            points.update(pose.run_pose(layout.resolve_under(root, r["crop_video_path"]), networks[r["region"]], roi,
                                        device=device, batch_size=batch_size, expected_frames=n_frames, runtime=runtime))  # fmt: skip
        points = pose.median_filter_pose(points, window=5)
        seconds = time.perf_counter() - t0
        parts = [dict(key, body_part=name, pose=np.asarray(p, dtype=np.float64)) for name, p in sorted(points.items())]
        master = dict(key, n_frames=n_frames, device=device, batch_size=batch_size, pose_seconds=seconds, runtime=runtime)
        return master, parts

    def make_insert(self, key, master, parts):
        self.insert1(master)
        self.BodyPart.insert(parts)


def pose_arrays(key: dict) -> dict[str, np.ndarray]:
    """Body part -> ``(n_frames, 3)`` x, y (pixels) and likelihood, for one DLCPose row."""
    return {r["body_part"]: np.asarray(r["pose"]) for r in (DLCPose.BodyPart & key).to_dicts()}


def _name(key: dict) -> str:
    return f"{session_name(key)} {key['camera_label']} camera"


__all__ = ["AnchorPoints", "CameraRecording", "CropROI", "DLCPose", "PoseModel", "PoseModelSet", "RoiParams"]


def register_simulated_models(infos: dict, set_name: str | None = None) -> str:
    """Install trained simulator models under the data root, register them, and make a model set.

    ``infos`` is what :func:`populate.models.train_from_simulator` returns (role -> :class:`pipeline.training.ModelInfo`).
    Models already registered (same snapshot) are reused; returns the model set's name
    (default ``sim-<hash>`` of the member models).
    """
    from pipeline.training import install_models

    root = config.current().data_root
    installed = install_models(infos, root)
    members = {}
    for role, model in installed.items():
        info = infos[role]
        try:
            row = register_model(root / model.project, role, n_train_frames=info.n_train, net_type=info.net_type)
            members[role] = row["pose_model"]
        except ValueError as e:
            if "already registered" not in str(e):
                raise
            digest = hashlib.md5((root / model.snapshot).read_bytes()).hexdigest()[:10]
            members[role] = f"{role}-{digest}"
    name = set_name or "sim-" + hashlib.md5(json.dumps(members, sort_keys=True).encode()).hexdigest()[:8]
    if not PoseModelSet & {"pose_model_set": name}:
        create_model_set(name, members, "networks trained on the simulator's frames")
    return name
