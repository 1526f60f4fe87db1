"""DeepLabCut's error against h.264 compression: the design note's Figure 7 (no DataJoint here).

The note: "to test the effect of compression on DLC, we compressed the raw videos at different
crf values, extracted the same labelled frames from every encode and trained a network freshly
each time; the error is not obviously affected even at crf 47". :func:`dlc_error_study` does
that for one labelled video (:class:`LabelledVideo`):

1. :func:`pipeline.compression.compression_study` encodes the lossless video at each crf
   (size, PSNR and SSIM per crf, the encodes kept);
2. from every encode the labelled frames are decoded and cut to the region the network sees
   (:func:`pipeline.crops.crop_frames`; the eye region for the simulator's video);
3. per crf, one DeepLabCut project (:func:`pipeline.training.make_project`) holds those images
   and the labels, with one shuffle per random train/test split (the same splits for every
   crf, so crfs are compared on the same frames);
4. each shuffle is trained from a randomly initialised network and evaluated by DeepLabCut's
   own ``evaluate_network`` (:func:`pipeline.training.train_and_evaluate`): train and test
   error in pixels of the images trained on.

Labelled videos come from the simulator (:func:`populate.models.simulated_labelled_video`: a
raw recording of one camera rendered with its truth) or from a DeepLabCut project labelled by people
(:func:`project_labelled_video`: its labelled frames, in order, as a lossless video; their
sizes per hour are those of that sequence, not of a recording).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from pipeline.training import NetworkTraining, say

__all__ = [
    "FULL",
    "QUICK",
    "STUDY_COLUMNS",
    "DlcStudySettings",
    "LabelledVideo",
    "dlc_error_study",
    "project_labelled_video",
    "split_test_indices",
]


@dataclass(frozen=True)
class DlcStudySettings:
    """Shape of the study: labelled frames, splits, training (all recorded in the CSV's settings).

    Attributes
    ----------
    n_labels : int
        Labelled frames drawn from a simulated video (a project's are all its labelled frames).
    duration_s : float
        Length of a simulated raw video, seconds (60 Hz left camera).
    splits : int
        Random train/test splits; one fresh network per split and crf.
    train_fraction : float
        Fraction of the labelled frames trained on (the note: one half).
    training : NetworkTraining
        Epochs, batch size, augmentation of every network.
    net_type : str
        DeepLabCut 3 net type.
    """

    n_labels: int = 400
    duration_s: float = 60.0
    splits: int = 4
    train_fraction: float = 0.5
    training: NetworkTraining = field(default_factory=lambda: NetworkTraining(epochs=40))
    net_type: str = "cspnext_s"

    def __post_init__(self):
        if int(self.splits) < 1:
            raise ValueError(f"splits must be >= 1, got {self.splits}")
        if not 0 < float(self.train_fraction) < 1:
            raise ValueError(f"train_fraction must be between 0 and 1 (exclusive), got {self.train_fraction}")
        if int(self.n_labels) < 4:
            raise ValueError(f"n_labels must be >= 4, got {self.n_labels}")
        if not float(self.duration_s) > 0:
            raise ValueError(f"duration_s must be positive, got {self.duration_s}")


#: The note's shape: 400 labelled frames, half trained on, 4 splits, 40 epochs (for a GPU).
FULL = DlcStudySettings()
#: Fits a 2-core CPU in minutes: 80 labelled eye crops of a 10 s video, 2 splits, 15 epochs in
#: batches of 2 (300 steps per network; batches of 8 gave 75 steps and networks that had not
#: converged: 2.8-5.0 px against 1.8-3.2 px with batches of 2, measured on crf 17 and 35).
QUICK = DlcStudySettings(n_labels=80, duration_s=10.0, splits=2,
                         training=NetworkTraining(epochs=15, batch_size=2))  # fmt: skip

#: Columns of :func:`dlc_error_study`'s per-crf table.
STUDY_COLUMNS: tuple[str, ...] = (
    "crf", "size_bytes", "mb_per_hour", "ratio", "psnr_db", "ssim",
    "test_error_px", "test_error_sd_px", "train_error_px", "train_error_sd_px",
    "n_train", "n_test", "splits", "train_seconds", "preset",
)  # fmt: skip


@dataclass(frozen=True)
class LabelledVideo:
    """A lossless video with labelled frames: the input of :func:`dlc_error_study`.

    Attributes
    ----------
    raw : Path
        Lossless video (FFV1), the "raw" every crf is encoded from.
    frame_indices : (n,) int
        Labelled frames, zero-based, increasing.
    labels : dict of str to (n, 2) float64
        Body part -> ``(x, y)`` in the pixels of the images trained on (after ``roi``);
        NaN = not labelled.
    bodyparts : tuple of str
    roi : pipeline.crops.Roi or None
        Region cut from each decoded frame (None: the whole frame).
    name : str
        What the network is for, used in folder and project names (e.g. ``eye``).
    """

    raw: Path
    frame_indices: np.ndarray
    labels: dict[str, np.ndarray]
    bodyparts: tuple[str, ...]
    roi: object | None
    name: str


def split_test_indices(n: int, train_fraction: float, splits: int, seed: int) -> list[np.ndarray]:
    """``splits`` random test sets of ``n - round(train_fraction * n)`` images each (seeded).

    Raises
    ------
    ValueError
        If the fraction leaves no image to train or test on.
    """
    n_train = int(round(float(train_fraction) * n))
    if n_train < 1 or n_train >= n:
        raise ValueError(f"{n} labelled frames cannot be split {train_fraction:.2f}/{1 - train_fraction:.2f} "
                         "into a training and a test set (need at least one of each)")  # fmt: skip
    rng = np.random.default_rng([int(seed), 17])
    return [np.sort(rng.choice(n, n - n_train, replace=False)) for _ in range(int(splits))]


def project_labelled_video(project: Path | str, folder: Path | str, *, fps: float = 30.0) -> LabelledVideo:
    """A DeepLabCut project's labelled frames as a lossless video (the frames in DLC's order).

    Images are read as grey; all must have one size (the first image's).

    Raises
    ------
    FileNotFoundError, ValueError
        No project, no labelled frames, an unreadable image or images of different sizes
        (each naming the file).
    """
    import cv2

    from pipeline.io.dlc import read_labelled_data, read_project
    from pipeline.io.video import write_video

    proj = read_project(project)
    labelled = read_labelled_data(proj)
    images = []
    for key in labelled.images:
        path = proj.project_path.joinpath(*key)
        img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise ValueError(f"cannot read labelled image {path}")
        if images and img.shape != images[0].shape:
            raise ValueError(f"labelled image {path} is {img.shape[1]}x{img.shape[0]}, the first one "
                             f"{images[0].shape[1]}x{images[0].shape[0]}: a study needs one frame size")  # fmt: skip
        images.append(img)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    h, w = images[0].shape
    # libx264 with yuv420p needs even sizes: pad right/bottom with one black column/row
    pad = ((0, 0), (0, h % 2), (0, w % 2))
    stack = np.pad(np.stack(images), pad)
    raw = write_video(folder / f"{proj.project_path.name}.labelled.raw.avi", stack, fps)
    labels = {bp: labelled.labels[:, i, :].copy() for i, bp in enumerate(labelled.bodyparts)}
    return LabelledVideo(raw, np.arange(len(images)), labels, tuple(labelled.bodyparts), None, "project")


def dlc_error_study(
    video: LabelledVideo,
    crfs: Sequence[int],
    preset: str,
    out_dir: Path | str,
    settings: DlcStudySettings = QUICK,
    *,
    seed: int = 0,
    device: str = "cpu",
    torch_threads: int = 1,
    keep_projects: bool = False,
    progress: bool | Callable[[str], None] = True,
):
    """Size, quality and DeepLabCut error per crf (module docstring).

    Parameters
    ----------
    video : LabelledVideo
    crfs : sequence of int
    preset : str
        x264 preset of every encode.
    out_dir : path
        Folder for the encodes (``encodes/``) and the DeepLabCut projects (``dlc/``, removed
        afterwards unless ``keep_projects``).
    settings : DlcStudySettings
    seed : int
        Seeds the splits and each network's initial weights (split ``k`` uses ``seed + k``
        for every crf).
    device : str
        Torch device.
    torch_threads : int
        Torch CPU threads while training.
    progress : bool or callable
        See :func:`pipeline.training.say`.

    Returns
    -------
    table : pandas.DataFrame
        One row per crf (:data:`STUDY_COLUMNS`): ``compression_study``'s size and quality, the
        mean and standard deviation over splits of DeepLabCut's test and train error (pixels
        of the images trained on), images per split, splits and training seconds (sum).
    per_split : pandas.DataFrame
        One row per crf and split: ``crf``, ``split``, ``test_error_px``,
        ``train_error_px``, ``train_seconds``, ``seconds`` (project, training, evaluation).
    timing : dict
        ``encode_seconds``, ``train_seconds``, ``total_seconds`` of the whole study.
    """
    import pandas as pd

    from pipeline.compression import compression_study
    from pipeline.crops import crop_frames
    from pipeline.io.dlc import read_project, shuffle_folder
    from pipeline.io.video import probe_video, read_frames_at
    from pipeline.pose import limit_torch_threads
    from pipeline.training import configure_shuffle, import_dlc, make_project, train_and_evaluate

    t_start = time.perf_counter()
    out_dir = Path(out_dir)
    crf_list = sorted({int(c) for c in crfs})
    n = len(video.frame_indices)
    tests = split_test_indices(n, settings.train_fraction, settings.splits, seed)
    say(progress, f"compression study: encoding {video.raw.name} at crf {', '.join(map(str, crf_list))}")
    sizes = compression_study(video.raw, crf_list, preset, out_dir / "encodes", progress=False)
    encode_seconds = time.perf_counter() - t_start
    import_dlc()
    rows, per_split = [], []
    t = settings.training
    for crf in crf_list:
        encode = out_dir / "encodes" / f"{video.raw.stem}.crf{crf}.mp4"
        info = probe_video(encode, decode=False)
        frames = read_frames_at(encode, info.width, info.height, video.frame_indices)
        images = crop_frames(frames, video.roi) if video.roi is not None else frames
        folder = out_dir / "dlc" / f"crf{crf}"
        shutil.rmtree(folder, ignore_errors=True)
        say(progress, f"crf {crf}: {n} images ({images.shape[2]}x{images.shape[1]}), {settings.splits} split(s)")
        config = make_project(folder, video.name, images, video.labels, test_indices=tests,
                              net_type=settings.net_type, bodyparts=video.bodyparts)  # fmt: skip
        project = read_project(config)
        for k in range(settings.splits):
            t0 = time.perf_counter()
            train_dir = shuffle_folder(project, k + 1) / "train"
            cfg = configure_shuffle(train_dir, t, seed + k)
            with limit_torch_threads(torch_threads):
                info_k = train_and_evaluate(
                    f"crf {crf} split {k + 1}", t, "", config, project, train_dir, cfg, folder, n,
                    len(tests[k]), seed + k, settings.net_type, device, progress, shuffle=k + 1,
                )  # fmt: skip
            per_split.append(dict(crf=crf, split=k + 1, test_error_px=info_k.test_error_px,
                                  train_error_px=info_k.train_error_px, train_seconds=info_k.train_seconds,
                                  seconds=time.perf_counter() - t0))  # fmt: skip
        if not keep_projects:
            shutil.rmtree(folder, ignore_errors=True)
        mine = [r for r in per_split if r["crf"] == crf]
        size = sizes.loc[sizes["crf"] == crf].iloc[0]
        test_e = np.array([r["test_error_px"] for r in mine])
        train_e = np.array([r["train_error_px"] for r in mine])
        rows.append(dict(
            crf=crf, size_bytes=int(size["size_bytes"]), mb_per_hour=float(size["mb_per_hour"]),
            ratio=float(size["ratio"]), psnr_db=float(size["psnr_db"]), ssim=float(size["ssim"]),
            test_error_px=float(test_e.mean()), test_error_sd_px=float(test_e.std(ddof=1)) if len(mine) > 1 else float("nan"),
            train_error_px=float(train_e.mean()), train_error_sd_px=float(train_e.std(ddof=1)) if len(mine) > 1 else float("nan"),
            n_train=int(n - len(tests[0])), n_test=int(len(tests[0])), splits=len(mine),
            train_seconds=float(sum(r["train_seconds"] for r in mine)), preset=preset,
        ))  # fmt: skip
        say(progress, f"crf {crf}: test error {test_e.mean():.2f} px, train error {train_e.mean():.2f} px")
    if not keep_projects:
        shutil.rmtree(out_dir / "dlc", ignore_errors=True)
    table = pd.DataFrame(rows, columns=list(STUDY_COLUMNS))
    timing = {
        "encode_seconds": encode_seconds,
        "train_seconds": float(sum(r["train_seconds"] for r in per_split)),
        "total_seconds": time.perf_counter() - t_start,
    }
    return table, pd.DataFrame(per_split), timing


def settings_record(settings: DlcStudySettings, **extra) -> dict:
    """The study's settings as a flat JSON-ready dict (written beside the CSV)."""
    d = asdict(settings)
    d["training"] = asdict(settings.training)
    d.update(extra)
    return d
