"""Training DeepLabCut networks offline, and the cache of trained networks (no DataJoint here).

Two sources of labelled frames share one recipe:

- :func:`train_project`: a DeepLabCut project labelled by people (``config.yaml`` and
  ``labeled-data/*/CollectedData_<scorer>.h5``), e.g. made with DeepLabCut's GUI;
  ``ibl-video models train --project``.
- :func:`populate.models.train_from_simulator`: frames rendered by the simulator, each
  role's network (``ibl-video models train --from-simulator``).

The recipe (DESIGN.md section 8), in :func:`configure_shuffle` and
:func:`train_and_evaluate`: ``create_training_dataset`` (PyTorch engine, an explicit
train/test split), ``crop_sampling`` removed from the shuffle's ``pytorch_config.yaml`` in
favour of an affine translation, a randomly initialised backbone (``PoseModel.build(...,
pretrained_backbone=False)`` saved as the ``snapshot_path``; no weights are downloaded),
torch seeded, ``train_network``, then DeepLabCut's own ``evaluate_network`` with
``per_keypoint_evaluation=True``: its train and test error over all points (``test rmse``,
``train rmse``) and per body part (the ``-keypoint-results.csv`` it writes).

Cache: a trained network is stored under ``<cache>/<name>-<hash>/`` (:func:`cached_model`),
where the hash covers every setting that changes the result (for a project: the bytes of
its ``config.yaml``, labelled-data tables and images); ``cache_root()`` is
``$IBL_VIDEO_MODEL_CACHE`` or ``<repo>/.cache/models``. A second call with the same
settings reads ``info.json`` without importing DeepLabCut. Entries are built in a hidden
folder and renamed into place under a lock file, so concurrent callers train once.

What ``--role`` means for a project whose body parts are not the role's
(:data:`pipeline.pose.ROLE_BODYPARTS`): the role is the region the network is meant for. A
project with any body parts trains and registers (its per-body-part errors are stored for
all of them); a model set the pipeline runs (:func:`schemas.pose.create_model_set`) refuses a
model that lacks a required point of its role (:func:`pipeline.pose.check_bodyparts`, naming
the model and the missing points); a model with extra points runs, and the pose stage keeps
the role's points only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from pipeline.io import file_lock, link_or_copy
from pipeline.pose import ROLE_BODYPARTS, ROLES, DlcModel

__all__ = [
    "PROJECT_CODE_VERSION",
    "InstalledModel",
    "ModelInfo",
    "NetworkTraining",
    "cache_root",
    "cached_model",
    "configure_shuffle",
    "install_models",
    "make_project",
    "net_types",
    "project_settings",
    "train_and_evaluate",
    "train_project",
]

log = logging.getLogger(__name__)

#: Changes whenever the way a project is copied, split or trained changes, so that cached
#: networks made by older code are not reused.
PROJECT_CODE_VERSION = "project-training-1"

_REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class NetworkTraining:
    """How a network is trained (the recipe's settings; all go into the cache key).

    Attributes
    ----------
    epochs : int
        Passes over the training images.
    batch_size : int
        Images per training step.
    translation_px : int
        Largest random shift of the training augmentation, image pixels.
    heatmap_radius_px : int
        ``pos_dist_thresh`` of the heatmap target, image pixels (DeepLabCut's 17 px gave
        likelihoods of 0.6-0.95 for correct detections; see
        :class:`populate.models.RoleTraining`).
    learning_rate : float
        AdamW learning rate; divided by 5 at 70% and by 50 at 90% of the epochs.
    """

    epochs: int = 50
    batch_size: int = 8
    translation_px: int = 16
    heatmap_radius_px: int = 44
    learning_rate: float = 1e-3

    def __post_init__(self):
        if int(self.epochs) < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if int(self.batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")


@dataclass(frozen=True)
class ModelInfo:
    """A trained network in the cache.

    Attributes
    ----------
    role : str
    project_dir : Path
        The DeepLabCut project folder (holds ``config.yaml``).
    snapshot : Path
        The weights to use (last epoch).
    pytorch_config : Path
        The shuffle's ``train/pytorch_config.yaml``.
    bodyparts : tuple of str
    n_train, n_test : int
        Labelled images in the training and test split.
    test_error_px, train_error_px : float
        DeepLabCut's error on the test / train split (``evaluate_network``; it calls it
        RMSE, it is the mean distance over every labelled point), image pixels.
    train_seconds : float
        Wall time of ``train_network``, s.
    epochs : int
    net_type : str
    settings_hash : str
        The cache key.
    """

    role: str
    project_dir: Path
    snapshot: Path
    pytorch_config: Path
    bodyparts: tuple[str, ...]
    n_train: int
    n_test: int
    test_error_px: float
    train_error_px: float
    train_seconds: float
    epochs: int
    net_type: str
    settings_hash: str

    def model(self) -> DlcModel:
        """The network for :mod:`pipeline.pose`."""
        return DlcModel(
            self.role, self.pytorch_config, self.snapshot, self.bodyparts, str(self.project_dir)
        )

    def _to_json(self, entry: Path) -> dict:
        d = asdict(self)
        for k in ("project_dir", "snapshot", "pytorch_config"):
            d[k] = Path(d[k]).relative_to(entry).as_posix()
        d["bodyparts"] = list(self.bodyparts)
        return d

    @classmethod
    def _from_json(cls, d: dict, entry: Path) -> ModelInfo:
        d = dict(d)
        for k in ("project_dir", "snapshot", "pytorch_config"):
            d[k] = entry / d[k]
        d["bodyparts"] = tuple(d["bodyparts"])
        return cls(**d)


def cache_root() -> Path:
    """``$IBL_VIDEO_MODEL_CACHE`` or ``<repo>/.cache/models``."""
    env = os.environ.get("IBL_VIDEO_MODEL_CACHE")
    return Path(env) if env else _REPO / ".cache" / "models"


def say(progress: bool | Callable[[str], None], message: str) -> None:
    """Report progress: print to stderr (True), stay quiet (False) or call ``progress``."""
    if callable(progress):
        progress(message)
    elif progress:
        print(f"[models] {message}", file=sys.stderr, flush=True)


def settings_hash(settings: dict) -> str:
    """12 hex digits of the SHA-1 of ``settings`` as sorted JSON (the cache key)."""
    return hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


# --------------------------------------------------------------------------------------
# the cache


def cached_model(
    root: Path,
    name: str,
    settings: dict,
    build: Callable[[Path, str], ModelInfo],
    *,
    progress: bool | Callable[[str], None] = True,
) -> ModelInfo:
    """Return the cached network ``<root>/<name>-<hash of settings>/``, building it if missing.

    Parameters
    ----------
    root : Path
        The cache folder.
    name : str
        Prefix of the entry (e.g. the role).
    settings : dict
        Everything that changes the result (JSON-serialisable); its hash names the entry.
    build : callable
        ``build(folder, key) -> ModelInfo`` trains into the empty hidden ``folder`` (paths
        of the result inside it); called under the entry's lock, only when no complete
        entry exists. On any error the folder is removed and nothing is published.
    progress : bool or callable
        See :func:`say`.
    """
    root = Path(root)
    key = settings_hash(settings)
    entry = root / f"{name}-{key}"
    info_file = entry / "info.json"
    if info_file.is_file():
        return ModelInfo._from_json(json.loads(info_file.read_text()), entry)
    root.mkdir(parents=True, exist_ok=True)
    with file_lock(root / f".{name}-{key}.lock", waiting=f"the {name} network, trained by another process"):
        if info_file.is_file():
            return ModelInfo._from_json(json.loads(info_file.read_text()), entry)
        folder = Path(tempfile.mkdtemp(dir=root, prefix=f".{name}-{key}.building."))
        try:
            say(progress, f"{name}: training a new model (cache entry {entry.name})")
            info = build(folder, key)
            final = relocated(info, folder, entry)
            rewrite_paths(info.project_dir, str(info.project_dir), str(final.project_dir))
            (folder / "settings.json").write_text(json.dumps(settings, indent=2, sort_keys=True))
            (folder / "info.json").write_text(json.dumps(final._to_json(entry), indent=2))
            if entry.exists():  # left by an interrupted older version of this code
                shutil.rmtree(entry)
            os.rename(folder, entry)  # publishes the complete entry at once
            return final
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise


def relocated(info: ModelInfo, old: Path, new: Path) -> ModelInfo:
    """``info`` with its paths under ``old`` moved under ``new``."""

    def move(p: Path) -> Path:
        return new / Path(p).relative_to(old)

    return ModelInfo(**{**asdict(info), "project_dir": move(info.project_dir),
                        "snapshot": move(info.snapshot), "pytorch_config": move(info.pytorch_config),
                        "bodyparts": tuple(info.bodyparts)})  # fmt: skip


def rewrite_paths(project_dir: Path, old: str, new: str) -> None:
    """Replace the absolute project path ``old`` by ``new`` in a project's YAML files.

    DeepLabCut writes the project folder into ``config.yaml`` (``project_path``, video
    paths) and each shuffle's ``pytorch_config.yaml`` (``metadata.project_path``). Each
    file is rewritten as a new file (never through a hard link shared with another copy).
    """
    files = [project_dir / "config.yaml", *project_dir.glob("dlc-models-pytorch/**/*.yaml")]
    for f in files:
        text = f.read_text()
        if old in text:
            f.unlink()
            f.write_text(text.replace(old, new))


@dataclass(frozen=True)
class InstalledModel:
    """A model placed under the data root; paths are POSIX strings relative to it.

    Attributes
    ----------
    role : str
    project : str
        The DLC project folder.
    snapshot : str
    pytorch_config : str
    bodyparts : tuple of str
    test_error_px : float
    settings_hash : str
    """

    role: str
    project: str
    snapshot: str
    pytorch_config: str
    bodyparts: tuple[str, ...]
    test_error_px: float
    settings_hash: str


def install_models(
    cache_entry: Mapping[str, ModelInfo] | ModelInfo | Path | str, data_root: Path | str
) -> dict[str, InstalledModel]:
    """Place trained models under ``<data_root>/models/dlc/<role>-<hash>/`` (hardlinks).

    Files are hard-linked (``shutil.copytree`` with ``os.link`` as its copy function),
    falling back to a copy across file systems; the YAML files, which hold the project's absolute path, are
    copied and rewritten for the new place. An existing installation of the same entry is
    reused.

    Parameters
    ----------
    cache_entry : ModelInfo, mapping of role to ModelInfo, or path
        What :func:`train_project` or :func:`populate.models.train_from_simulator`
        returned, or a cache entry folder.
    data_root : path

    Returns
    -------
    dict of str to InstalledModel
        Role -> paths relative to ``data_root``.
    """
    if isinstance(cache_entry, str | Path):
        entry = Path(cache_entry)
        info_file = entry / "info.json"
        if not info_file.is_file():
            raise FileNotFoundError(f"not a model cache entry (no info.json): {entry}")
        infos = {"_": ModelInfo._from_json(json.loads(info_file.read_text()), entry)}
    elif isinstance(cache_entry, ModelInfo):
        infos = {"_": cache_entry}
    else:
        infos = dict(cache_entry)
    root = Path(data_root).resolve()
    out: dict[str, InstalledModel] = {}
    for info in infos.values():
        src_entry = info.project_dir.parent
        dst_entry = root / "models" / "dlc" / f"{info.role}-{info.settings_hash}"
        dst_project = dst_entry / info.project_dir.name
        if not (dst_entry / "info.json").is_file():
            tmp = Path(
                tempfile.mkdtemp(dir=_mkdirs(dst_entry.parent), prefix=f".{dst_entry.name}.")
            )
            try:
                shutil.copytree(info.project_dir, tmp / info.project_dir.name, copy_function=link_or_copy,
                                dirs_exist_ok=True)  # fmt: skip
                rewrite_paths(tmp / info.project_dir.name, str(info.project_dir), str(dst_project))
                moved = relocated(info, src_entry, dst_entry)
                (tmp / "info.json").write_text(json.dumps(moved._to_json(dst_entry), indent=2))
                if dst_entry.exists() and not (dst_entry / "info.json").is_file():
                    shutil.rmtree(dst_entry)  # an incomplete installation
                try:
                    os.rename(tmp, dst_entry)
                except OSError:  # another process installed it meanwhile
                    shutil.rmtree(tmp, ignore_errors=True)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        moved = ModelInfo._from_json(json.loads((dst_entry / "info.json").read_text()), dst_entry)

        def rel(p: Path) -> str:
            return Path(p).relative_to(root).as_posix()

        out[info.role] = InstalledModel(
            role=info.role, project=rel(moved.project_dir), snapshot=rel(moved.snapshot),
            pytorch_config=rel(moved.pytorch_config), bodyparts=tuple(moved.bodyparts),
            test_error_px=moved.test_error_px, settings_hash=moved.settings_hash,
        )  # fmt: skip
    return out


def _mkdirs(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p


# --------------------------------------------------------------------------------------
# DeepLabCut


@contextlib.contextmanager
def quiet_stdout():
    """DeepLabCut prints a lot; keep it off stdout (it goes to the log at DEBUG level)."""
    if log.isEnabledFor(logging.DEBUG):
        yield
        return
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        yield


def import_dlc():
    """``import deeplabcut`` offline (``HF_HUB_OFFLINE=1``), its import warnings silenced."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import deeplabcut

    return deeplabcut


def make_project(
    folder: Path,
    role: str,
    images: np.ndarray,
    labels: Mapping[str, np.ndarray],
    *,
    test_indices: np.ndarray | Sequence[np.ndarray],
    net_type: str = "cspnext_s",
    scorer: str = "sim",
    bodyparts: Sequence[str] | None = None,
) -> Path:
    """Create a DeepLabCut project with labelled images (arrays) and its shuffles; returns config.yaml.

    The images go to ``labeled-data/<video>/img<k>.png`` next to DeepLabCut's own
    ``CollectedData_<scorer>.h5``; ``<video>`` is a short video of the first images, which
    is the project's video (``create_new_project`` needs one). Body parts are the role's
    unless ``bodyparts`` names them. One shuffle per train/test split: shuffle ``k + 1``
    tests on ``test_indices[k]`` when a sequence of index arrays (all of one length) is given.

    Parameters
    ----------
    folder : Path
        Where the project folder is created.
    role : str
        One of :data:`pipeline.pose.ROLES`.
    images : (n, h, w) uint8
    labels : mapping of str to (n, 2) float64
        Body part -> x, y (image pixels); NaN = unlabelled.
    test_indices : (m,) int, or sequence of (m,) int
        Images of the test split; the others train. A sequence: one split per shuffle.
    net_type : str
    scorer : str
    bodyparts : sequence of str, optional
        The project's body parts (default the role's); ``labels`` has one entry for each.
    """
    import cv2

    from pipeline.io.dlc import write_collected_data
    from pipeline.io.video import write_video

    dlc = import_dlc()
    from deeplabcut.utils import auxiliaryfunctions

    folder.mkdir(parents=True, exist_ok=True)
    video = folder / f"sim_{role}.avi"
    write_video(video, images[: min(len(images), 20)], 30.0)
    with quiet_stdout():
        config = Path(dlc.create_new_project(f"ibl_{role}", scorer, [str(video)], working_directory=str(folder),
                                             copy_videos=True, video_extensions=["avi"]))  # fmt: skip
    video.unlink()
    bodyparts = list(ROLE_BODYPARTS[role] if bodyparts is None else bodyparts)
    n = len(images)
    splits = np.asarray(test_indices, dtype=int)
    tests = [np.sort(splits)] if splits.ndim == 1 else [np.sort(t) for t in splits]
    trains = [np.setdiff1d(np.arange(n), t) for t in tests]
    train = trains[0]
    cfg = auxiliaryfunctions.read_config(str(config))
    cfg["bodyparts"] = bodyparts
    cfg["skeleton"] = []
    # DeepLabCut names the shuffle folder after the split's fraction, rounded as here
    cfg["TrainingFraction"] = [round(len(train) / n, 2)]
    cfg["default_net_type"] = net_type
    cfg["numframes2pick"] = len(images)
    auxiliaryfunctions.write_config(str(config), cfg)
    labeled = config.parent / "labeled-data" / video.stem
    labeled.mkdir(parents=True, exist_ok=True)
    names = [f"img{k:05d}.png" for k in range(len(images))]
    for name, img in zip(names, images, strict=True):
        cv2.imwrite(str(labeled / name), img)
    write_collected_data(labeled, scorer, bodyparts, names, labels)
    with quiet_stdout():
        dlc.create_training_dataset(
            str(config), num_shuffles=len(tests), Shuffles=list(range(1, len(tests) + 1)),
            trainIndices=[t.tolist() for t in trains], testIndices=[t.tolist() for t in tests],
            net_type=net_type, engine=dlc.Engine.PYTORCH, userfeedback=False,
        )  # fmt: skip
    return config


def configure_shuffle(train_dir: Path, t, seed: int) -> dict:
    """Edit the shuffle's ``pytorch_config.yaml``: the recipe of DESIGN.md section 8.

    ``t`` is a :class:`NetworkTraining` (or anything with its attributes, such as
    :class:`populate.models.RoleTraining`). Returns the edited configuration.
    """
    from deeplabcut.pose_estimation_pytorch.config import read_config_as_dict, write_config

    path = train_dir / "pytorch_config.yaml"
    cfg = read_config_as_dict(path)
    aug = cfg["data"]["train"]
    aug.pop("crop_sampling", None)
    aug["affine"] = {
        "p": 0.9,
        "rotation": 10,
        "scaling": [0.9, 1.1],
        "translation": int(t.translation_px),
    }
    aug["motion_blur"] = False
    aug.pop("hflip", None)
    for head in cfg["model"]["heads"].values():
        head["target_generator"]["pos_dist_thresh"] = int(t.heatmap_radius_px)
    ts = cfg["train_settings"]
    ts.update(epochs=int(t.epochs), batch_size=int(t.batch_size), seed=int(seed), dataloader_workers=0,
              display_iters=10**6)  # fmt: skip
    runner = cfg["runner"]
    runner["eval_interval"] = int(t.epochs)
    runner["snapshots"] = {
        "max_snapshots": 1,
        "save_epochs": int(t.epochs),
        "save_optimizer_state": False,
    }
    e = int(t.epochs)
    lr = float(t.learning_rate)
    runner["optimizer"] = {"type": "AdamW", "params": {"lr": lr}}
    runner["scheduler"] = {
        "type": "LRListScheduler",
        "params": {
            "lr_list": [[lr / 5], [lr / 50]],
            "milestones": [max(1, int(0.7 * e)), max(2, int(0.9 * e))],
        },
    }
    write_config(path, cfg)
    return cfg


def train_and_evaluate(role, t, key, config, project, train_dir, cfg, build, n, n_test, seed, net_type,
                       device, progress, shuffle: int = 1) -> ModelInfo:  # fmt: skip
    """Train a configured shuffle from a randomly initialised backbone, then evaluate it.

    ``deeplabcut.train_network`` from the weights of ``PoseModel.build(cfg["model"],
    pretrained_backbone=False)`` (torch and NumPy seeded with ``seed``), then
    ``deeplabcut.evaluate_network(..., per_keypoint_evaluation=True)``. DeepLabCut logs one
    line per epoch to the console (stdout) and the shuffle's ``train.txt``.
    """
    import torch
    from deeplabcut.pose_estimation_pytorch.models import PoseModel

    from pipeline.io.dlc import best_snapshot, read_evaluation

    dlc = import_dlc()
    torch.manual_seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    model = PoseModel.build(cfg["model"], pretrained_backbone=False)
    init = build / "init.pt"
    torch.save({"model": model.state_dict()}, init)
    del model
    say(
        progress,
        f"{role}: training {t.epochs} epochs of {net_type} on {n - n_test} images (batch {t.batch_size}, {device})",
    )
    t1 = time.perf_counter()
    dlc.train_network(str(config), shuffle=int(shuffle), snapshot_path=str(init), device=device, epochs=int(t.epochs),
                      batch_size=int(t.batch_size), save_epochs=int(t.epochs))  # fmt: skip
    train_seconds = time.perf_counter() - t1
    init.unlink()
    # evaluation runs only after the last epoch, so the best snapshot is the last one
    snapshot = best_snapshot(train_dir)
    say(progress, f"{role}: trained in {train_seconds:.0f} s; evaluating")
    with quiet_stdout():
        dlc.evaluate_network(str(config), Shuffles=[int(shuffle)], device=device, per_keypoint_evaluation=True)
    ev = read_evaluation(project, int(shuffle))
    say(
        progress,
        f"{role}: test RMSE {ev['test_error_px']:.2f} px, train RMSE {ev['train_error_px']:.2f} px (image pixels)",
    )
    return ModelInfo(
        role=role, project_dir=project.project_path, snapshot=snapshot,
        pytorch_config=train_dir / "pytorch_config.yaml", bodyparts=tuple(project.bodyparts),
        n_train=int(n - n_test), n_test=int(n_test), test_error_px=float(ev["test_error_px"]),
        train_error_px=float(ev["train_error_px"]), train_seconds=float(train_seconds),
        epochs=int(t.epochs), net_type=net_type, settings_hash=key,
    )  # fmt: skip


# --------------------------------------------------------------------------------------
# a project labelled by people


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def net_types() -> list[str]:
    """DeepLabCut 3's single-animal (bottom-up) net types: its ``config/backbones/*.yaml``.

    Read from the installed package's files without importing it (the import takes seconds).
    """
    import importlib.util

    spec = importlib.util.find_spec("deeplabcut")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("DeepLabCut is not installed (pip install deeplabcut==3.0.2)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "pose_estimation_pytorch" / "config" / "backbones"
    return sorted(p.stem for p in folder.glob("*.yaml"))


def _check_project_args(role: str, train_fraction: float | None, shuffle: int, net_type: str) -> None:
    if net_type not in net_types():
        raise ValueError(f"unknown net type {net_type!r}; DeepLabCut's single-animal net types: {', '.join(net_types())}")
    if role not in ROLE_BODYPARTS:
        raise ValueError(f"unknown pose role {role!r}; roles: {', '.join(ROLES)}")
    if train_fraction is not None and not 0 < float(train_fraction) < 1:
        raise ValueError(f"train_fraction must be between 0 and 1 (exclusive), got {train_fraction}")
    if int(shuffle) < 1:
        raise ValueError(f"shuffle must be >= 1, got {shuffle}")


def project_settings(
    project: Path | str,
    role: str,
    training: NetworkTraining,
    *,
    seed: int = 0,
    net_type: str = "cspnext_s",
    train_fraction: float | None = None,
    shuffle: int = 1,
) -> tuple[dict, object]:
    """Check a labelled project and describe the training run (the cache key's contents).

    Returns
    -------
    settings : dict
        Code version, role, the MD5 of ``config.yaml``, of every labelled-data table and of
        every labelled image, the split's fraction, seed, net type, shuffle and
        ``training``.
    labelled : pipeline.io.dlc.LabelledData

    Raises
    ------
    FileNotFoundError
        No ``config.yaml`` (naming it), no labelled frames (naming the pattern), a missing
        image (naming it).
    ValueError
        Unknown role or net type, a multi-animal project, labelled-data tables that do not
        match the project (naming the file), too few labelled frames for a train and a test
        split.
    """
    from pipeline.io.dlc import read_labelled_data, read_project

    _check_project_args(role, train_fraction, shuffle, net_type)
    proj = read_project(project)
    labelled = read_labelled_data(proj)
    fraction = float(train_fraction) if train_fraction is not None else proj.training_fractions[0]
    n = len(labelled.images)
    n_train = int(round(fraction * n))
    if n_train < 1 or n_train >= n:
        raise ValueError(
            f"{proj.config_path}: {n} labelled frame(s) cannot be split {fraction:.2f}/{1 - fraction:.2f} "
            f"into a training and a test set (need at least one of each)"
        )
    settings = {
        "code_version": PROJECT_CODE_VERSION,
        "role": role,
        "config_md5": _md5(proj.config_path),
        "labelled_data_md5": {f.relative_to(proj.project_path).as_posix(): _md5(f) for f in labelled.files},
        "images_md5": {"/".join(k): _md5(proj.project_path.joinpath(*k)) for k in labelled.images},
        "train_fraction": fraction,
        "seed": int(seed),
        "net_type": net_type,
        "shuffle": int(shuffle),
        "training": asdict(training),
    }
    return settings, labelled


def train_project(
    project: Path | str,
    role: str,
    training: NetworkTraining | None = None,
    *,
    seed: int = 0,
    net_type: str = "cspnext_s",
    train_fraction: float | None = None,
    shuffle: int = 1,
    device: str = "cpu",
    root: Path | str | None = None,
    progress: bool | Callable[[str], None] = True,
    torch_threads: int = 1,
) -> ModelInfo:
    """Train a network from a DeepLabCut project labelled by people (or return it from the cache).

    The project itself is never changed: its ``config.yaml``, its labelled-data tables and
    images are copied into a new cache entry, where ``project_path`` is set to the copy and
    ``video_sets`` to one entry per ``labeled-data`` folder holding labelled frames (a
    lab's ``video_sets`` names videos on the labeller's machine; DeepLabCut only uses their
    file stems to find ``labeled-data/<stem>``; entries of the original that match a folder
    keep their crop), and ``TrainingFraction`` to the split's. The split is drawn with
    ``seed`` over the frames with at least one labelled point (in the order of DeepLabCut's
    merged table): ``round(train_fraction * n)`` frames train, the others test; frames
    without any label are left out. Then :func:`configure_shuffle` and
    :func:`train_and_evaluate` (the recipe of the module docstring).

    Parameters
    ----------
    project : path
        The project folder or its ``config.yaml``.
    role : str
        The region the network is for (:data:`pipeline.pose.ROLES`); the project's body
        parts may differ from the role's (module docstring), which is reported.
    training : NetworkTraining, optional
        Epochs, batch size, augmentation (default ``NetworkTraining()``: 50 epochs, batch 8).
    seed : int
        Seeds the split and torch.
    net_type : str
        DeepLabCut 3 net type (``cspnext_s`` is the smallest).
    train_fraction : float, optional
        Fraction of labelled frames to train on (default the project's first
        ``TrainingFraction``).
    shuffle : int
        DeepLabCut shuffle number of the copy.
    device : str
        Torch device (``"cpu"``, ``"cuda"``).
    root : path, optional
        Cache folder (default :func:`cache_root`).
    progress : bool or callable
        See :func:`say`; DeepLabCut's own per-epoch lines go to stdout.
    torch_threads : int
        Torch CPU threads while training (see :func:`populate.models.train_role`).

    Returns
    -------
    ModelInfo
        The trained network in the cache; ``n_train``/``n_test`` count labelled frames.

    Raises
    ------
    FileNotFoundError, ValueError
        See :func:`project_settings`.
    """
    from pipeline.io.dlc import read_project, shuffle_folder

    training = training or NetworkTraining()
    settings, labelled = project_settings(project, role, training, seed=seed, net_type=net_type,
                                          train_fraction=train_fraction, shuffle=shuffle)  # fmt: skip
    source = read_project(project)
    missing = sorted(set(ROLE_BODYPARTS[role]) - set(source.bodyparts))
    if missing:
        say(progress, f"{role}: {source.config_path} lacks the {role} points {missing}: the network "
                      f"registers, but a model set for the pipeline will refuse it as its {role} model")  # fmt: skip
    n = len(labelled.images)
    n_train = int(round(settings["train_fraction"] * n))
    rng = np.random.default_rng([int(seed), 7])
    test = np.sort(rng.choice(n, n - n_train, replace=False))
    train = np.setdiff1d(np.arange(n), test)
    name = f"{role}-project"

    def build(folder: Path, key: str) -> ModelInfo:
        dlc = import_dlc()
        from deeplabcut.utils import auxiliaryfunctions

        from pipeline.pose import limit_torch_threads

        copy = folder / source.project_path.name
        _copy_labelled_project(source, labelled, copy)
        config = copy / "config.yaml"
        cfg = auxiliaryfunctions.read_config(str(config))
        cfg["project_path"] = str(copy)
        cfg["video_sets"] = _video_sets(cfg.get("video_sets") or {}, labelled, copy)
        cfg["TrainingFraction"] = [round(len(train) / n, 2)]
        cfg["default_net_type"] = net_type
        cfg["engine"] = "pytorch"
        cfg["iteration"] = 0
        auxiliaryfunctions.write_config(str(config), cfg)
        say(progress, f"{role}: {n} labelled frames of {source.project_path.name} "
                      f"({len(train)} train, {len(test)} test); making the training dataset")  # fmt: skip
        # DeepLabCut's merged table is sorted like labelled.images, with unlabelled rows too
        order = _merged_positions(labelled, copy)
        with quiet_stdout():
            dlc.create_training_dataset(
                str(config), num_shuffles=1, Shuffles=[int(shuffle)],
                trainIndices=[order[train].tolist()], testIndices=[order[test].tolist()],
                net_type=net_type, engine=dlc.Engine.PYTORCH, userfeedback=False,
            )  # fmt: skip
        proj = read_project(config)
        train_dir = shuffle_folder(proj, int(shuffle)) / "train"
        cfg_model = configure_shuffle(train_dir, training, seed)
        with limit_torch_threads(torch_threads):
            return train_and_evaluate(role, training, key, config, proj, train_dir, cfg_model, folder, n,
                                      len(test), seed, net_type, device, progress, shuffle=int(shuffle))  # fmt: skip

    root = Path(root) if root is not None else cache_root()
    return cached_model(root, name, settings, build, progress=progress)


def _copy_labelled_project(source, labelled, copy: Path) -> None:
    """Copy ``config.yaml`` and the labelled folders (tables and images) of ``source`` to ``copy``."""
    copy.mkdir(parents=True)
    shutil.copy2(source.config_path, copy / "config.yaml")
    for folder in labelled.folders:
        src = source.project_path / "labeled-data" / folder
        dst = copy / "labeled-data" / folder
        dst.mkdir(parents=True)
        for f in src.iterdir():
            if f.is_file() and (f.name.startswith("CollectedData_") or f.suffix.lower() in (".png", ".jpg", ".jpeg")):
                link_or_copy(f, dst / f.name)
    (copy / "videos").mkdir()


def _video_sets(original: dict, labelled, copy: Path) -> dict:
    """One ``video_sets`` entry per labelled folder: the original's entry whose file stem is the
    folder's name (keeping its crop), else ``videos/<folder>.mp4`` with the first image's size."""
    import cv2

    by_stem = {Path(str(k).replace("\\", "/")).stem: v for k, v in original.items()}
    out = {}
    for folder in labelled.folders:
        entry = by_stem.get(folder)
        if not isinstance(entry, dict) or "crop" not in entry:
            first = next(k for k in labelled.images if k[1] == folder)
            img = cv2.imread(str(copy.joinpath(*first)), cv2.IMREAD_UNCHANGED)
            if img is None:
                raise ValueError(f"cannot read labelled image {copy.joinpath(*first)}")
            entry = {"crop": f"0, {img.shape[1]}, 0, {img.shape[0]}"}
        out[str(copy / "videos" / f"{folder}.mp4")] = entry
    return out


def _merged_positions(labelled, copy: Path) -> np.ndarray:
    """Row of each labelled frame in DeepLabCut's merged, sorted annotation table (which also
    holds the rows without any label)."""
    import pandas as pd

    from pipeline.io.dlc import _image_key

    keys = []
    for f in labelled.files:
        rel = f.relative_to(f.parents[2])
        df = pd.read_hdf(copy / rel)
        keys.extend(_image_key(v, f) for v in df.index)
    rows = {k: i for i, k in enumerate(sorted(keys))}
    return np.array([rows[k] for k in labelled.images], dtype=int)
