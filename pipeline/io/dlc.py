"""DeepLabCut project files and pose outputs: read projects, snapshots, evaluation results and
``.h5`` predictions; write labelled data and IBL's ``_ibl_<label>Camera.dlc.pqt``; read pose
made elsewhere (:func:`read_pose_file`: DeepLabCut's ``.h5``/``.csv`` with its cropping offset,
Lightning Pose's CSV, IBL's ``dlc.pqt``) for ``ibl-video pose import``.

Nothing here imports DeepLabCut itself (its import takes many seconds): a DLC 3.x project is
read from its files.

A DLC project (``config.yaml``) holds ``Task``, ``scorer``, ``date``, ``project_path``,
``bodyparts``, ``iteration`` and ``TrainingFraction``. The PyTorch engine keeps each shuffle
in ``dlc-models-pytorch/iteration-<i>/<Task><date>-trainset<pct>shuffle<k>/`` with
``train/pytorch_config.yaml`` and snapshots ``train/snapshot-<epoch>.pt`` (the best one by
the test metric also as ``snapshot-best-<epoch>.pt``). ``deeplabcut.evaluate_network`` writes
``evaluation-results-pytorch/iteration-<i>/CombinedEvaluation-results.csv``.

Pose arrays are ``(n, 3)`` float64: ``x``, ``y`` (pixels) and likelihood (0-1) per frame.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.io import atomic_write

__all__ = [
    "POSE_FILE_FORMATS",
    "DlcProject",
    "LabelledData",
    "PoseFile",
    "alf_dlc_name",
    "best_snapshot",
    "detect_pose_format",
    "dlc_meta_path",
    "dlc_table_points",
    "read_alf_dlc",
    "read_dlc_crop_offset",
    "read_dlc_csv",
    "read_dlc_h5",
    "read_evaluation",
    "read_evaluation_predictions",
    "read_keypoint_evaluation",
    "read_labelled_data",
    "read_pose_file",
    "read_project",
    "read_split",
    "shuffle_folder",
    "write_alf_dlc",
    "write_collected_data",
    "write_dlc_h5",
]


@dataclass(frozen=True)
class DlcProject:
    """A DeepLabCut project as its ``config.yaml`` describes it.

    Attributes
    ----------
    config_path : Path
        The project's ``config.yaml``.
    project_path : Path
        The folder holding ``config.yaml`` (where the project is now, which may differ
        from the ``project_path`` written in the file if the project was moved).
    task, scorer, date : str
    bodyparts : tuple of str
    iteration : int
    training_fractions : tuple of float
    """

    config_path: Path
    project_path: Path
    task: str
    scorer: str
    date: str
    bodyparts: tuple[str, ...]
    iteration: int
    training_fractions: tuple[float, ...]


def _load_yaml(path: Path) -> dict:
    import yaml

    with open(path) as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a YAML mapping")
    return data


def read_project(config_or_dir: Path | str) -> DlcProject:
    """Read a DLC project from its ``config.yaml`` (or the folder that holds it).

    Raises
    ------
    FileNotFoundError
        If there is no ``config.yaml``.
    ValueError
        If a required key is missing or the project is multi-animal (naming the file).
    """
    path = Path(config_or_dir)
    config = path / "config.yaml" if path.is_dir() else path
    if not config.is_file():
        raise FileNotFoundError(f"DeepLabCut project config not found: {config}")
    cfg = _load_yaml(config)
    missing = [k for k in ("Task", "scorer", "date", "bodyparts") if k not in cfg]
    if missing:
        raise ValueError(f"DeepLabCut config {config} lacks {', '.join(missing)}")
    if cfg.get("multianimalproject"):
        raise ValueError(f"DeepLabCut project {config} is multi-animal; single-animal expected")
    bodyparts = cfg["bodyparts"]
    if not isinstance(bodyparts, list) or not bodyparts:
        raise ValueError(f"DeepLabCut config {config}: bodyparts must be a non-empty list")
    return DlcProject(
        config_path=config,
        project_path=config.parent,
        task=str(cfg["Task"]),
        scorer=str(cfg["scorer"]),
        date=str(cfg["date"]),
        bodyparts=tuple(str(b) for b in bodyparts),
        iteration=int(cfg.get("iteration", 0) or 0),
        training_fractions=tuple(float(f) for f in cfg.get("TrainingFraction", [0.95])),
    )


def trainset_percent(fraction: float) -> int:
    """The percentage in DeepLabCut's folder and file names of a training fraction.

    DeepLabCut 3.0.2 truncates (``int(trainFraction * 100)``, ``auxiliaryfunctions``), so
    0.58 names ``trainset57``; every name we build uses this one function.
    """
    return int(fraction * 100)


def shuffle_folder(project: DlcProject, shuffle: int = 1, trainset_index: int = 0) -> Path:
    """The PyTorch model folder of a shuffle (``.../<Task><date>-trainset<pct>shuffle<k>``).

    Raises
    ------
    FileNotFoundError
        If the folder does not exist (naming it).
    """
    if not 0 <= trainset_index < len(project.training_fractions):
        raise ValueError(
            f"trainset_index {trainset_index} out of range: {project.config_path} has "
            f"{len(project.training_fractions)} training fractions"
        )
    frac = project.training_fractions[trainset_index]
    name = f"{project.task}{project.date}-trainset{trainset_percent(frac)}shuffle{int(shuffle)}"
    folder = project.project_path / "dlc-models-pytorch" / f"iteration-{project.iteration}" / name
    if not folder.is_dir():
        raise FileNotFoundError(f"no model folder for shuffle {shuffle}: {folder}")
    return folder


_SNAPSHOT_RE = re.compile(r"^snapshot-(best-)?(\d+)\.pt$")


def best_snapshot(train_dir: Path | str) -> Path:
    """The snapshot DeepLabCut would analyse with: the best one, else the last one.

    Parameters
    ----------
    train_dir : path
        A shuffle's ``train`` folder (or the shuffle folder itself).

    Raises
    ------
    FileNotFoundError
        If the folder or any ``snapshot-*.pt`` is missing (naming the folder).
    """
    d = Path(train_dir)
    if (d / "train").is_dir():
        d = d / "train"
    if not d.is_dir():
        raise FileNotFoundError(f"DeepLabCut train folder not found: {d}")
    best, last = [], []
    for p in d.iterdir():
        m = _SNAPSHOT_RE.match(p.name)
        if m:
            (best if m.group(1) else last).append((int(m.group(2)), p))
    chosen = best or last
    if not chosen:
        raise FileNotFoundError(f"no DeepLabCut snapshot (snapshot-*.pt) in {d}")
    return max(chosen)[1]


def read_evaluation(project: DlcProject, shuffle: int = 1) -> dict[str, float]:
    """Errors of a shuffle from ``evaluate_network``'s combined results (last snapshot row).

    Returns
    -------
    dict
        ``train_error_px``, ``test_error_px`` (RMSE, pixels), ``train_error_pcutoff_px``,
        ``test_error_pcutoff_px`` (only points above the p-cutoff) and ``epochs``.

    Raises
    ------
    FileNotFoundError
        If the results file does not exist.
    ValueError
        If it has no row for the shuffle.
    """
    import pandas as pd

    path = (
        project.project_path / "evaluation-results-pytorch" / f"iteration-{project.iteration}"
        / "CombinedEvaluation-results.csv"
    )  # fmt: skip
    if not path.is_file():
        raise FileNotFoundError(f"DeepLabCut evaluation results not found: {path}")
    df = pd.read_csv(path)
    rows = df[df["Shuffle number"] == shuffle]
    if rows.empty:
        raise ValueError(f"{path} has no row for shuffle {shuffle} ({len(df)} rows)")
    row = rows.iloc[-1]

    def col(prefix: str) -> float:
        for c in df.columns:
            if c.strip().lower().startswith(prefix):
                return float(row[c])
        return float("nan")

    return {
        "train_error_px": col("train rmse"),
        "test_error_px": col("test rmse"),
        "train_error_pcutoff_px": col("train rmse_pcutoff"),
        "test_error_pcutoff_px": col("test rmse_pcutoff"),
        "epochs": col("training epochs"),
    }


# --------------------------------------------------------------------------------------
# labelled data and predictions


def _columns(scorer: str, bodyparts: Sequence[str]):
    import pandas as pd

    return pd.MultiIndex.from_product(
        [[scorer], list(bodyparts), ["x", "y"]], names=["scorer", "bodyparts", "coords"]
    )


def write_collected_data(
    folder: Path | str,
    scorer: str,
    bodyparts: Sequence[str],
    image_names: Sequence[str],
    labels: Mapping[str, np.ndarray],
) -> Path:
    """Write DLC's labelled-data table ``CollectedData_<scorer>.h5`` (and ``.csv``).

    Parameters
    ----------
    folder : path
        ``<project>/labeled-data/<video stem>``; the images must be in it.
    scorer : str
    bodyparts : sequence of str
    image_names : sequence of str
        File names of the images in ``folder`` (e.g. ``img0003.png``), one per row.
    labels : mapping of str to (n, 2) array
        Body part to ``(x, y)`` in the image's pixels; NaN for unlabelled.

    Returns
    -------
    Path
        The ``.h5`` file.
    """
    import pandas as pd

    folder = Path(folder)
    n = len(image_names)
    data = np.full((n, 2 * len(bodyparts)), np.nan)
    for j, bp in enumerate(bodyparts):
        if bp not in labels:
            raise ValueError(f"no labels for body part {bp!r} (writing {folder})")
        xy = np.asarray(labels[bp], dtype=np.float64)
        if xy.shape != (n, 2):
            raise ValueError(
                f"labels of {bp!r} have shape {xy.shape}, expected ({n}, 2) for {folder}"
            )
        data[:, 2 * j : 2 * j + 2] = xy
    index = pd.MultiIndex.from_tuples(
        [("labeled-data", folder.name, str(name)) for name in image_names]
    )
    df = pd.DataFrame(data, index=index, columns=_columns(scorer, bodyparts))
    h5 = folder / f"CollectedData_{scorer}.h5"
    df.to_hdf(h5, key="df_with_missing", mode="w")
    df.to_csv(folder / f"CollectedData_{scorer}.csv")
    return h5


def read_dlc_h5(path: Path | str, *, individual: str | None = None) -> tuple[str, dict[str, np.ndarray]]:
    """Read a DLC prediction file (``analyze_videos`` output, key ``df_with_missing``).

    Parameters
    ----------
    path : path
        The ``.h5`` file.
    individual : str, optional
        For a multi-animal file (an ``individuals`` column level): the individual to take
        (see :func:`dlc_table_points`).

    Returns
    -------
    scorer : str
    points : dict of str to (n, 3) float64
        Body part to x, y (pixels of the frames the network saw: add DLC's cropping offset,
        :func:`read_dlc_crop_offset`, for full-frame pixels) and likelihood, in the file's
        column order.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it is not an HDF5 file with a ``df_with_missing`` table in DLC's layout (scorer /
        [individuals /] bodyparts / coords), naming the file.
    """
    scorer, points, _ = _read_dlc_h5(path, individual)
    return scorer, points


def _read_dlc_h5(path: Path | str, individual: str | None) -> tuple[str, dict[str, np.ndarray], tuple[str, ...]]:
    """:func:`read_dlc_h5` with the ignored columns (:func:`dlc_table_points`)."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"DeepLabCut output not found: {path}")
    try:
        df = pd.read_hdf(path, key="df_with_missing")
    except KeyError:
        with pd.HDFStore(path, mode="r") as store:
            keys = list(store.keys())
        raise ValueError(f"{path}: no 'df_with_missing' table (DeepLabCut's key); the file holds {keys}") from None
    except (OSError, RuntimeError, TypeError, ValueError) as e:  # tables' HDF5ExtError is a RuntimeError
        raise ValueError(f"{path} is not a DeepLabCut .h5 file readable by pandas: {str(e).splitlines()[0]}") from None
    return dlc_table_points(df, path, individual=individual)


#: Column levels of DeepLabCut's prediction tables: single-animal, and multi-animal.
DLC_LEVELS = ("scorer", "bodyparts", "coords")
DLC_MA_LEVELS = ("scorer", "individuals", "bodyparts", "coords")
#: The coordinates kept per body part; other ``coords`` (e.g. Lightning Pose's ensemble
#: variances) are reported as ignored.
POSE_COORDS = ("x", "y", "likelihood")
#: DeepLabCut's name for the individual that holds a multi-animal project's unique body parts.
DLC_UNIQUE_INDIVIDUAL = "single"


def dlc_table_points(
    df, path: Path | str, *, individual: str | None = None
) -> tuple[str, dict[str, np.ndarray], tuple[str, ...]]:
    """Body parts of a prediction table in DeepLabCut's column layout.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per video frame (index 0..n-1); columns a MultiIndex with levels scorer /
        bodyparts / coords, or scorer / individuals / bodyparts / coords (multi-animal:
        ``deeplabcut.analyze_videos`` on a multi-animal project; unique body parts sit under
        the individual ``single``). Columns whose scorer level is blank or whose coords are
        not x / y / likelihood (Lightning Pose's ``set`` column, ensemble variances) are
        skipped and returned as ignored.
    path : path
        The file, for messages.
    individual : str, optional
        Multi-animal tables: the individual whose body parts to take (with the unique body
        parts of ``single``). Default: the only individual; a table with several is refused.

    Returns
    -------
    scorer : str
    points : dict of str to (n, 3) float64
        Body part -> x, y, likelihood.
    ignored : tuple of str
        Columns skipped, as ``"level0/level1/..."``.

    Raises
    ------
    ValueError
        Naming the file: other column levels, several scorers, several individuals and
        none chosen (listing them), an individual not in the file, a body part without x, y
        or likelihood, non-numeric values, or rows that are not frames 0..n-1.
    """
    import pandas as pd

    cols = df.columns
    names = tuple(cols.names) if isinstance(cols, pd.MultiIndex) else (cols.name,)
    if names not in (DLC_LEVELS, DLC_MA_LEVELS):
        raise ValueError(
            f"{path}: expected DeepLabCut's columns scorer/[individuals/]bodyparts/coords, got levels {list(names)}"
        )
    keep, ignored = [], []
    for c in cols:
        blank = any(str(v).startswith("Unnamed:") or str(v) == "" for v in c[1:])
        if blank or c[-1] not in POSE_COORDS:
            ignored.append("/".join(str(v) for v in c if str(v) and not str(v).startswith("Unnamed:")))
        else:
            keep.append(c)
    if not keep:
        raise ValueError(f"{path}: no x/y/likelihood columns (columns: {['/'.join(map(str, c)) for c in cols][:10]})")
    df = df[keep]
    scorers = sorted({c[0] for c in keep})
    if len(scorers) != 1:
        raise ValueError(f"{path}: expected one scorer, found {len(scorers)}: {scorers}")
    _check_frame_index(df.index, path)
    if names == DLC_MA_LEVELS:
        present = list(dict.fromkeys(c[1] for c in keep))
        animals = [i for i in present if i != DLC_UNIQUE_INDIVIDUAL]
        if individual is None:
            if len(animals) > 1:
                raise ValueError(
                    f"{path} is a multi-animal file with individuals {', '.join(animals)}: name the one to take "
                    "(--individual)"
                )
            individual = animals[0] if animals else DLC_UNIQUE_INDIVIDUAL
        elif individual not in present:
            raise ValueError(f"{path}: no individual {individual!r}; the file has {', '.join(present)}")
        take = [individual] + ([DLC_UNIQUE_INDIVIDUAL] if individual != DLC_UNIQUE_INDIVIDUAL else [])
        ignored += [f"{c[0]}/{c[1]}/{c[2]}/{c[3]}" for c in keep if c[1] not in take]
        parts = [(c[1], c[2]) for c in keep if c[1] in take]
    else:
        parts = [(None, c[1]) for c in keep]
    points: dict[str, np.ndarray] = {}
    for who, bp in dict.fromkeys(parts):
        sel = [(scorers[0], bp, k) if who is None else (scorers[0], who, bp, k) for k in POSE_COORDS]
        missing = [k for k, c in zip(POSE_COORDS, sel, strict=True) if c not in df.columns]
        if missing:
            raise ValueError(f"{path}: body part {bp!r} lacks {missing}")
        if str(bp) in points:
            raise ValueError(f"{path}: body part {bp!r} appears twice (individuals {individual} and single)")
        try:
            points[str(bp)] = df[sel].apply(pd.to_numeric, errors="raise").to_numpy(dtype=np.float64)
        except (ValueError, TypeError) as e:
            raise ValueError(f"{path}: body part {bp!r} has non-numeric values ({e})") from None
    return str(scorers[0]), points, tuple(ignored)


def _check_frame_index(index, path) -> None:
    """Rows must be video frames 0, 1, ..., n-1 (not labelled images, not a subset)."""
    values = np.asarray(index)
    if values.ndim != 1 or not np.issubdtype(values.dtype, np.integer):
        first = values[0] if len(values) else None
        raise ValueError(
            f"{path}: rows are not video frames (row labels such as {first!r}); "
            "import the predictions of a whole video, not of labelled images"
        )
    if len(values) and not np.array_equal(values, np.arange(len(values))):
        raise ValueError(f"{path}: rows are not frames 0..{len(values) - 1} in order")


def write_dlc_h5(path: Path | str, points: Mapping[str, np.ndarray], scorer: str) -> Path:
    """Write pose in DLC's prediction layout (``df_with_missing``; x, y, likelihood)."""
    import pandas as pd

    arrays = _check_points(points, str(path))
    n = len(next(iter(arrays.values())))
    cols = pd.MultiIndex.from_product(
        [[scorer], list(arrays), ["x", "y", "likelihood"]], names=["scorer", "bodyparts", "coords"]
    )
    data = np.concatenate([arrays[bp] for bp in arrays], axis=1) if arrays else np.zeros((n, 0))
    df = pd.DataFrame(data, columns=cols)
    path = Path(path)
    atomic_write(path, lambda tmp: df.to_hdf(tmp, key="df_with_missing", mode="w"))
    return path


def _check_points(points: Mapping[str, np.ndarray], what: str) -> dict[str, np.ndarray]:
    arrays = {str(k): np.asarray(v, dtype=np.float64) for k, v in points.items()}
    if not arrays:
        raise ValueError(f"no body parts to write to {what}")
    n = None
    for bp, a in arrays.items():
        if a.ndim != 2 or a.shape[1] != 3:
            raise ValueError(
                f"{bp!r}: expected an (n, 3) array of x, y, likelihood, got {a.shape} ({what})"
            )
        if n is None:
            n = a.shape[0]
        elif a.shape[0] != n:
            raise ValueError(f"{bp!r} has {a.shape[0]} frames, others {n} ({what})")
    return arrays


def alf_dlc_name(label: str) -> str:
    """``_ibl_<label>Camera.dlc.pqt``."""
    return f"_ibl_{label}Camera.dlc.pqt"


def write_alf_dlc(path: Path | str, points: Mapping[str, np.ndarray]) -> Path:
    """Write pose as IBL's ALF table (``_ibl_<label>Camera.dlc.pqt``), atomically.

    Parameters
    ----------
    path : path
        Output file (see :func:`alf_dlc_name`).
    points : mapping of str to (n, 3) array
        Body part to x, y (full-frame pixels) and likelihood per frame.

    Returns
    -------
    Path
        Columns ``<part>_x``, ``<part>_y``, ``<part>_likelihood`` per part, in the
        mapping's order; one row per video frame.
    """
    import pandas as pd

    arrays = _check_points(points, str(path))
    cols = {}
    for bp, a in arrays.items():
        cols[f"{bp}_x"] = a[:, 0]
        cols[f"{bp}_y"] = a[:, 1]
        cols[f"{bp}_likelihood"] = a[:, 2]
    df = pd.DataFrame(cols)
    path = Path(path)
    atomic_write(path, lambda tmp: df.to_parquet(tmp, index=False))
    return path


def read_alf_dlc(path: Path | str) -> dict[str, np.ndarray]:
    """Read an ALF ``dlc.pqt`` table back into body part -> (n, 3) x, y, likelihood.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If a ``<part>_x`` column lacks its ``_y`` or ``_likelihood`` partner.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ALF pose table not found: {path}")
    df = pd.read_parquet(path)
    out: dict[str, np.ndarray] = {}
    for c in df.columns:
        if not c.endswith("_x"):
            continue
        bp = c[:-2]
        need = [f"{bp}_y", f"{bp}_likelihood"]
        missing = [k for k in need if k not in df.columns]
        if missing:
            raise ValueError(f"{path}: column {c!r} without {', '.join(missing)}")
        out[bp] = df[[c, *need]].to_numpy(dtype=np.float64)
    return out


# --------------------------------------------------------------------------------------
# pose made elsewhere: DeepLabCut's .h5 / .csv, Lightning Pose's CSV, IBL's dlc.pqt

#: Formats :func:`read_pose_file` reads (the names stored with an import).
POSE_FILE_FORMATS: tuple[str, ...] = ("dlc_h5", "dlc_csv", "lightning_pose_csv", "ibl_pqt")


@dataclass(frozen=True)
class PoseFile:
    """Pose read from one file made by another tool, in full-frame pixels.

    Attributes
    ----------
    path : Path
    format : str
        One of :data:`POSE_FILE_FORMATS`.
    scorer : str
        The file's scorer (DLC: ``DLC_<net>_<task><date>shuffle<k>_snapshot_<n>``; Lightning
        Pose: ``<model_type>_tracker``; IBL's ``dlc.pqt`` has none: ``""``).
    points : dict of str to (n, 3) float64
        Body part -> x, y (full-frame pixels of the video) and likelihood (0-1), one row per
        video frame.
    offset : (float, float)
        Pixels added to x and y (DeepLabCut's ``cropping``, from its ``_meta.pickle``).
    individual : str or None
        The individual taken from a multi-animal file.
    ignored : tuple of str
        Columns of the file not imported (other individuals, Lightning Pose's ``set`` or
        ensemble variance columns).
    warnings : tuple of str
        What the reader had to assume (a DeepLabCut file without its ``_meta.pickle``: no
        cropping offset known, coordinates taken as full-frame).
    """

    path: Path
    format: str
    scorer: str
    points: dict[str, np.ndarray]
    offset: tuple[float, float] = (0.0, 0.0)
    individual: str | None = None
    ignored: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def n_frames(self) -> int:
        """Rows of the file (video frames)."""
        return len(next(iter(self.points.values()))) if self.points else 0


def _csv_header_rows(path: Path) -> int:
    """Header rows of a DLC-style CSV: the lines up to the one whose first cell is ``coords``."""
    import csv

    with open(path, newline="") as f:
        reader = csv.reader(f)
        for i, row in enumerate(reader):
            if i >= 4:
                break
            if row and row[0].strip() == "coords":
                return i + 1
    raise ValueError(
        f"{path}: not a DeepLabCut-style CSV (expected header rows scorer, [individuals,] bodyparts, coords)"
    )


def read_dlc_csv(path: Path | str, *, individual: str | None = None) -> tuple[str, dict[str, np.ndarray], tuple[str, ...]]:
    """Read a prediction CSV in DeepLabCut's layout (``analyze_videos(save_as_csv=True)``, Lightning Pose).

    The header rows are ``scorer``, [``individuals``,] ``bodyparts`` and ``coords``, then one
    row per frame whose first cell is the frame index.

    Returns
    -------
    scorer, points, ignored
        As :func:`dlc_table_points`.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it is not such a CSV (naming the file), or as :func:`dlc_table_points`.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pose CSV not found: {path}")
    n_header = _csv_header_rows(path)
    try:
        df = pd.read_csv(path, header=list(range(n_header)), index_col=0)
    except (ValueError, pd.errors.ParserError) as e:
        raise ValueError(f"{path}: cannot read it as a DeepLabCut-style CSV: {e}") from None
    return dlc_table_points(df, path, individual=individual)


def dlc_meta_path(predictions: Path | str) -> Path:
    """``analyze_videos``' metadata file beside its predictions: ``<video stem><scorer>_meta.pickle``."""
    p = Path(predictions)
    stem = p.stem[: -len("_filtered")] if p.stem.endswith("_filtered") else p.stem
    return p.with_name(f"{stem}_meta.pickle")


class _InertUnpickler:
    """Unpickle a DeepLabCut metadata file without running code from it.

    The metadata is plain dicts, lists, numbers and strings, but a pickle can name any
    callable. Every class or function the file names is replaced by an inert stand-in, so
    loading constructs nothing but builtin containers and stand-ins.
    """

    class Stub:
        def __init__(self, *args, **kwargs):
            self.args = args

        def __setstate__(self, state):
            self.state = state

        def __call__(self, *args, **kwargs):
            return _InertUnpickler.Stub(*args)

    @classmethod
    def load(cls, path: Path):
        import pickle

        class Restricted(pickle.Unpickler):
            def find_class(self, module, name):
                return cls.Stub

        with open(path, "rb") as f:
            return Restricted(f).load()


def read_dlc_crop_offset(predictions: Path | str) -> tuple[float, float] | None:
    """The offset DeepLabCut's ``cropping`` left in its coordinates, from its ``_meta.pickle``.

    ``deeplabcut.analyze_videos(..., cropping=[x1, x2, y1, y2])`` (or a project with
    ``cropping: true``) runs the network on ``frame[y1:y2, x1:x2]`` and writes the points
    in the crop's pixels: DeepLabCut 3.0.2 adds no offset (checked in
    ``tests/schemas/test_pose_import.py`` against our own inference on the same crop: equal
    to 0 px once ``(x1, y1)`` is added). The metadata file records ``cropping`` and
    ``cropping_parameters`` (its ``frame_dimensions`` is the crop's size, not the video's).
    DLC's ``VideoReader`` keeps the box as fractions of the frame and crops at
    ``int(width * (x1 / width))``, which gives back ``x1`` exactly for every integer ``x1``
    of frames 256 to 1280 pixels wide (checked), so ``(x1, y1)`` is the offset.

    Returns
    -------
    (dx, dy) or None
        Pixels to add to x and y; ``(0, 0)`` when the metadata says no cropping; None when
        there is no metadata file beside the predictions.

    Raises
    ------
    ValueError
        If the metadata file exists but lacks the cropping fields (naming it).
    """
    meta_path = dlc_meta_path(predictions)
    if not meta_path.is_file():
        return None
    try:
        meta = _InertUnpickler.load(meta_path)
        data = meta["data"]
        cropping = data["cropping"]
        values = list(data["cropping_parameters"])
        if not isinstance(cropping, bool) or len(values) != 4 or not all(isinstance(v, int | float) for v in values):
            raise TypeError(f"cropping {cropping!r}, cropping_parameters {values!r}")
        x1, _, y1, _ = (float(v) for v in values)
    except Exception as e:  # noqa: BLE001 - any malformed metadata ends here, named
        raise ValueError(f"{meta_path}: DeepLabCut metadata without readable cropping fields ({type(e).__name__}: {e})") from None
    return (x1, y1) if cropping else (0.0, 0.0)


def detect_pose_format(path: Path | str) -> str:
    """The format of a pose file from its name (and, for ``.csv``, its scorer row).

    ``.h5``/``.hdf5``: ``dlc_h5``; ``.pqt``/``.parquet``: ``ibl_pqt``; ``.csv``:
    ``lightning_pose_csv`` when every scorer ends with ``_tracker`` (Lightning Pose writes
    ``<model_type>_tracker``, e.g. ``heatmap_tracker``), else ``dlc_csv``.

    Raises
    ------
    ValueError
        For another suffix (naming the file and the formats).
    """
    import csv

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".h5", ".hdf5"):
        return "dlc_h5"
    if suffix in (".pqt", ".parquet"):
        return "ibl_pqt"
    if suffix == ".csv":
        if not path.is_file():
            raise FileNotFoundError(f"pose CSV not found: {path}")
        with open(path, newline="") as f:
            first = next(csv.reader(f), [])
        scorers = {c.strip() for c in first[1:] if c.strip() and c.strip() != "set"}
        return "lightning_pose_csv" if scorers and all(s.endswith("_tracker") for s in scorers) else "dlc_csv"
    raise ValueError(
        f"{path}: unknown pose file type {suffix!r}; expected .h5 or .csv (DeepLabCut), .csv (Lightning Pose) "
        f"or _ibl_<label>Camera.dlc.pqt (IBL); or name the format ({', '.join(POSE_FILE_FORMATS)})"
    )


def read_pose_file(
    path: Path | str, camera_label: str, *, format: str = "auto", individual: str | None = None
) -> PoseFile:
    """Read pose made by DeepLabCut, Lightning Pose or IBL into full-frame pixels and our names.

    Parameters
    ----------
    path : path
        ``<video><scorer>.h5`` or ``.csv`` (``deeplabcut.analyze_videos``; a ``_meta.pickle``
        beside it gives the cropping offset, :func:`read_dlc_crop_offset`), Lightning Pose's
        predictions CSV (same header layout; other coords such as ensemble variances and its
        ``set`` column are ignored), or IBL's ``_ibl_<label>Camera.dlc.pqt`` (IBL's point
        names, translated by :func:`pipeline.io.ibl_names.from_ibl` for ``camera_label``).
    camera_label : str
        The camera the pose belongs to (``left``, ``right``...): IBL's names depend on it.
    format : str
        ``"auto"`` (:func:`detect_pose_format`) or one of :data:`POSE_FILE_FORMATS`.
    individual : str, optional
        The individual to take from a multi-animal DeepLabCut file.

    Returns
    -------
    PoseFile

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        Naming the file: an unknown format, a table that is not the format's layout, a
        multi-animal file with several individuals and none named, or no body parts.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pose file not found: {path}")
    fmt = detect_pose_format(path) if format == "auto" else format
    if fmt not in POSE_FILE_FORMATS:
        raise ValueError(f"{path}: unknown pose format {fmt!r}; expected auto or one of {', '.join(POSE_FILE_FORMATS)}")
    offset, ignored, chosen, warnings = (0.0, 0.0), (), None, []
    if fmt == "ibl_pqt":
        from pipeline.io.ibl_names import from_ibl

        try:
            points = read_alf_dlc(path)
        except (OSError, ValueError) as e:
            raise ValueError(f"{path}: not an IBL dlc.pqt table: {e}") from None
        points = from_ibl(points, camera_label)
        scorer = ""
    else:
        if fmt == "dlc_h5":
            scorer, points, ignored = _read_dlc_h5(path, individual)
        else:
            scorer, points, ignored = read_dlc_csv(path, individual=individual)
        if fmt != "lightning_pose_csv":
            found = read_dlc_crop_offset(path)
            if found is None:
                warnings.append(
                    f"{path.name}: no DeepLabCut metadata {dlc_meta_path(path).name} beside it, so no cropping offset "
                    "is known: coordinates taken as full-frame pixels (a file of analyze_videos(..., cropping=...) "
                    "needs its _meta.pickle)"
                )
            offset = found or (0.0, 0.0)
        chosen = individual
    if not points:
        raise ValueError(f"{path}: no body parts")
    if offset != (0.0, 0.0):
        points = {bp: np.column_stack([a[:, 0] + offset[0], a[:, 1] + offset[1], a[:, 2]]) for bp, a in points.items()}
    points = {bp: np.asarray(a, dtype=np.float64) for bp, a in points.items()}
    _check_points(points, str(path))
    return PoseFile(path=path, format=fmt, scorer=scorer, points=points, offset=offset, individual=chosen,
                    ignored=tuple(ignored), warnings=tuple(warnings))  # fmt: skip


# --------------------------------------------------------------------------------------
# a project's labelled frames, its train/test split and its per-body-part evaluation


@dataclass(frozen=True)
class LabelledData:
    """The frames people labelled in a DLC project (``labeled-data/*/CollectedData_<scorer>.h5``).

    Attributes
    ----------
    images : tuple of tuple of str
        ``("labeled-data", <folder>, <image file>)`` per labelled frame, sorted: the order of
        DeepLabCut's merged annotation table (``merge_annotateddatasets`` sorts it), to
        which ``create_training_dataset``'s train and test indices refer.
    labels : (n, k, 2) float64
        x, y (image pixels) per frame and body part, in ``bodyparts`` order; NaN where the
        point was not labelled.
    bodyparts : tuple of str
        The project's body parts (``config.yaml``).
    files : tuple of Path
        The ``CollectedData_<scorer>.h5`` files read.
    folders : tuple of str
        The ``labeled-data`` folders holding labelled frames.
    n_rows : int
        Rows in the files, labelled or not (a row without any point is not used).
    """

    images: tuple[tuple[str, str, str], ...]
    labels: np.ndarray
    bodyparts: tuple[str, ...]
    files: tuple[Path, ...]
    folders: tuple[str, ...]
    n_rows: int


def _image_key(index_value, path: Path) -> tuple[str, str, str]:
    """DLC's row index as ``(labeled-data, folder, image)``: DLC 2.2+ writes a 3-level index,
    older projects one string ``labeled-data/<folder>/<image>`` (``\\`` on Windows)."""
    if isinstance(index_value, tuple):
        parts = tuple(str(p) for p in index_value)
    else:
        parts = tuple(str(index_value).replace("\\", "/").split("/"))
    if len(parts) != 3 or parts[0] != "labeled-data":
        raise ValueError(f"{path}: row {index_value!r} is not labeled-data/<folder>/<image>")
    return parts  # type: ignore[return-value]


def read_labelled_data(project: DlcProject) -> LabelledData:
    """Read every ``labeled-data/*/CollectedData_<scorer>.h5`` of a single-animal project.

    Raises
    ------
    FileNotFoundError
        No ``labeled-data`` folder or no ``CollectedData_<scorer>.h5`` in it (naming the
        pattern looked for), or a labelled image that is missing (naming it).
    ValueError
        A file that is not DLC's labelled-data table, another scorer's, or with body parts
        other than ``config.yaml``'s (naming the file); no frame with a labelled point.
    """
    import pandas as pd

    root = project.project_path
    pattern = f"labeled-data/*/CollectedData_{project.scorer}.h5"
    files = sorted(root.glob(pattern))
    if not files:
        raise FileNotFoundError(
            f"no labelled frames in DeepLabCut project {root}: no {pattern} "
            f"(label frames with deeplabcut.label_frames first)"
        )
    want = list(project.bodyparts)
    keys: list[tuple[str, str, str]] = []
    rows: list[np.ndarray] = []
    for f in files:
        try:
            df = pd.read_hdf(f)
        except Exception as e:  # noqa: BLE001 - any unreadable file is named with its error
            raise ValueError(f"{f} is not a readable labelled-data table: {type(e).__name__}: {e}") from e
        cols = df.columns
        if not isinstance(cols, pd.MultiIndex) or cols.nlevels != 3:
            raise ValueError(f"{f}: expected DLC's columns scorer/bodyparts/coords, got {list(cols)[:4]}")
        scorers = list(cols.get_level_values(0).unique())
        if scorers != [project.scorer]:
            raise ValueError(f"{f}: labelled by {scorers}, the project's scorer is {project.scorer!r}")
        have = list(cols.get_level_values(1).unique())
        if sorted(have) != sorted(want):
            raise ValueError(
                f"{f}: body parts {have} differ from {project.config_path}'s {want} "
                f"(missing {sorted(set(want) - set(have))}, unexpected {sorted(set(have) - set(want))})"
            )
        df = df.sort_index(axis=1)  # selection by name below; sorted columns index fast
        xy = np.stack(
            [df[(project.scorer, bp)][["x", "y"]].to_numpy(dtype=np.float64) for bp in want], axis=1
        )
        for index_value, frame in zip(df.index, xy, strict=True):
            keys.append(_image_key(index_value, f))
            rows.append(frame)
    n_rows = len(keys)
    order = sorted(range(n_rows), key=lambda i: keys[i])
    labelled = [i for i in order if np.isfinite(rows[i]).all(axis=1).any()]
    if not labelled:
        raise ValueError(
            f"no labelled frames in DeepLabCut project {root}: {', '.join(str(f) for f in files)} "
            f"hold {n_rows} rows and none has a labelled point"
        )
    images = tuple(keys[i] for i in labelled)
    seen = set()
    for key in images:
        if key in seen:
            raise ValueError(f"image {'/'.join(key)} is labelled twice in {root}/labeled-data")
        seen.add(key)
        path = root.joinpath(*key)
        if not path.is_file():
            raise FileNotFoundError(f"labelled image not found: {path}")
    return LabelledData(
        images=images,
        labels=np.stack([rows[i] for i in labelled]),
        bodyparts=tuple(want),
        files=tuple(files),
        folders=tuple(sorted({k[1] for k in images})),
        n_rows=n_rows,
    )


def _dataset_folder(project: DlcProject) -> Path:
    return (
        project.project_path / "training-datasets" / f"iteration-{project.iteration}"
        / f"UnaugmentedDataSet_{project.task}{project.date}"
    )  # fmt: skip


def _load_split_record(path: Path) -> list:
    """Load DeepLabCut's ``Documentation_data-*.pickle`` allowing only NumPy's array classes
    (a pickle can name any callable; this one holds lists, dicts, tuples and arrays)."""
    import pickle

    allowed = {
        ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"), ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
    }  # fmt: skip

    class Restricted(pickle.Unpickler):
        def find_class(self, module, name):
            if (module, name) in allowed:
                return super().find_class(module, name)
            raise ValueError(f"{path}: unexpected object {module}.{name} in DeepLabCut's split record")

    with open(path, "rb") as f:
        record = Restricted(f).load()
    if not isinstance(record, list) or len(record) < 3:
        raise ValueError(f"{path} is not DeepLabCut's split record [data, train, test, fraction]")
    return record


def read_split(project: DlcProject, shuffle: int = 1, trainset_index: int = 0) -> dict:
    """The train/test split of a shuffle, from the files ``create_training_dataset`` wrote.

    Reads ``training-datasets/iteration-<i>/UnaugmentedDataSet_<Task><date>/``
    ``Documentation_data-<Task>_<pct>shuffle<k>.pickle`` (DeepLabCut's record of the split:
    ``[data, train indices, test indices, fraction]``) and the merged
    ``CollectedData_<scorer>.h5`` beside it, to which the indices refer.

    Returns
    -------
    dict
        ``train_images``, ``test_images``: lists of ``labeled-data/<folder>/<image>``;
        ``train_labels``, ``test_labels``: dict body part -> number of frames of the split
        in which it is labelled.

    Raises
    ------
    FileNotFoundError
        Either file missing (naming it).
    """
    import pandas as pd

    frac = project.training_fractions[trainset_index]
    folder = _dataset_folder(project)
    doc = folder / f"Documentation_data-{project.task}_{trainset_percent(frac)}shuffle{int(shuffle)}.pickle"
    merged = folder / f"CollectedData_{project.scorer}.h5"
    for p in (doc, merged):
        if not p.is_file():
            raise FileNotFoundError(f"DeepLabCut training-dataset file not found: {p}")
    record = _load_split_record(doc)
    train_idx = np.asarray(record[1], dtype=int)
    test_idx = np.asarray(record[2], dtype=int)
    df = pd.read_hdf(merged).sort_index(axis=1)
    images = ["/".join(_image_key(v, merged)) for v in df.index]
    out: dict = {}
    for split, idx in (("train", train_idx), ("test", test_idx)):
        out[f"{split}_images"] = [images[i] for i in idx]
        counts = {}
        for bp in project.bodyparts:
            xy = df[(project.scorer, bp)][["x", "y"]].to_numpy(dtype=np.float64)[idx]
            counts[bp] = int(np.isfinite(xy).all(axis=1).sum())
        out[f"{split}_labels"] = counts
    return out


def _evaluation_folder(project: DlcProject, shuffle: int, snapshot: Path | str, trainset_index: int) -> tuple[Path, str]:
    """The folder ``evaluate_network`` writes a shuffle's results to, and the snapshot's ``<uid>``
    in their file names (``best-<epoch>`` or ``<epoch>``)."""
    m = _SNAPSHOT_RE.match(Path(snapshot).name)
    if not m:
        raise ValueError(f"not a DeepLabCut snapshot name: {snapshot}")
    uid = f"{'best-' if m.group(1) else ''}{int(m.group(2))}"
    frac = project.training_fractions[trainset_index]
    folder = (
        project.project_path / "evaluation-results-pytorch" / f"iteration-{project.iteration}"
        / f"{project.task}{project.date}-trainset{trainset_percent(frac)}shuffle{int(shuffle)}"
    )  # fmt: skip
    return folder, uid


def read_keypoint_evaluation(
    project: DlcProject, shuffle: int, snapshot: Path | str, trainset_index: int = 0
) -> dict[str, tuple[float, float]]:
    """Per-body-part errors of one snapshot from ``evaluate_network(per_keypoint_evaluation=True)``.

    DeepLabCut writes ``evaluation-results-pytorch/iteration-<i>/<Task><date>-trainset<pct>shuffle<k>/``
    ``DLC_<net>_<Task><date>shuffle<k>_snapshot_<uid>-keypoint-results.csv`` (rows
    ``Train error (px)``, ``Test error (px)``; one column per body part): each value is the
    mean distance between prediction and label over the split's frames in which the point
    is labelled, pixels (DLC calls its errors RMSE; its overall "rmse" is the same mean over
    every labelled point, so it is the label-count-weighted mean of these). ``<uid>`` is
    ``best-<epoch>`` or ``<epoch>`` from the snapshot's file name.

    Returns
    -------
    dict of str to (float, float)
        Body part -> (train error, test error), pixels; NaN where a split has no label.

    Raises
    ------
    FileNotFoundError
        No results file for this snapshot (naming the file looked for).
    """
    import pandas as pd

    folder, uid = _evaluation_folder(project, shuffle, snapshot, trainset_index)
    found = sorted(folder.glob(f"*shuffle{int(shuffle)}_snapshot_{uid}-keypoint-results.csv"))
    if not found:
        raise FileNotFoundError(
            f"no per-body-part evaluation of snapshot {Path(snapshot).name}: "
            f"{folder}/*_snapshot_{uid}-keypoint-results.csv (evaluate_network(..., per_keypoint_evaluation=True))"
        )
    df = pd.read_csv(found[-1], index_col=0)
    out = {}
    for bp in df.columns:
        train = float(df.loc["Train error (px)", bp]) if "Train error (px)" in df.index else float("nan")
        test = float(df.loc["Test error (px)", bp]) if "Test error (px)" in df.index else float("nan")
        out[str(bp)] = (train, test)
    return out


def read_evaluation_predictions(
    project: DlcProject, shuffle: int, snapshot: Path | str, trainset_index: int = 0
) -> tuple[tuple[tuple[str, str, str], ...], np.ndarray, tuple[str, ...]]:
    """The predictions ``evaluate_network`` stored for one snapshot, on every labelled image.

    DeepLabCut writes them beside its ``-keypoint-results.csv``
    (:func:`read_keypoint_evaluation`) as ``DLC_<net>_<Task><date>shuffle<k>_snapshot_<uid>.h5``
    (key ``df_with_missing``, rows indexed like the labelled-data tables, x, y and likelihood
    per body part, float32; DeepLabCut 3 writes a single animal as the one individual
    ``individual_1``): the points its errors were computed from.

    Returns
    -------
    images : tuple of (str, str, str)
        ``("labeled-data", <folder>, <image>)`` per row.
    points : (n, k, 3) float64
        x, y (image pixels) and likelihood per image and body part.
    bodyparts : tuple of str
        In the file's column order.

    Raises
    ------
    FileNotFoundError
        No predictions file for this snapshot (naming the file looked for).
    ValueError
        A file not in DeepLabCut's layout (naming it).
    """
    import pandas as pd

    folder, uid = _evaluation_folder(project, shuffle, snapshot, trainset_index)
    found = sorted(folder.glob(f"*shuffle{int(shuffle)}_snapshot_{uid}.h5"))
    if not found:
        raise FileNotFoundError(
            f"no predictions of snapshot {Path(snapshot).name} from evaluate_network: {folder}/*_snapshot_{uid}.h5"
        )
    path = found[-1]
    df = pd.read_hdf(path, key="df_with_missing")
    # rows are labelled images, not video frames; DLC 3 names its one animal "individual_1"
    _, points, _ = dlc_table_points(df.reset_index(drop=True), path)
    images = tuple(_image_key(v, path) for v in df.index)
    bodyparts = tuple(points)
    return images, np.stack([points[bp] for bp in bodyparts], axis=1), bodyparts
