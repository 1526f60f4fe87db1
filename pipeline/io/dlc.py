"""DeepLabCut project files and pose outputs: read projects, snapshots, evaluation results and
``.h5`` predictions; write labelled data and IBL's ``_ibl_<label>Camera.dlc.pqt``.

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
    "DlcProject",
    "alf_dlc_name",
    "best_snapshot",
    "read_alf_dlc",
    "read_dlc_h5",
    "read_evaluation",
    "read_project",
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
    name = f"{project.task}{project.date}-trainset{int(frac * 100)}shuffle{int(shuffle)}"
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


def read_dlc_h5(path: Path | str) -> tuple[str, dict[str, np.ndarray]]:
    """Read a DLC prediction file (``analyze_videos`` output, key ``df_with_missing``).

    Returns
    -------
    scorer : str
    points : dict of str to (n, 3) float64
        Body part to x, y (pixels) and likelihood, in the file's column order.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the table is not DLC's single-animal layout (scorer / bodyparts / coords).
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"DeepLabCut output not found: {path}")
    df = pd.read_hdf(path, key="df_with_missing")
    cols = df.columns
    if cols.nlevels != 3 or list(cols.names) != ["scorer", "bodyparts", "coords"]:
        raise ValueError(
            f"{path}: expected columns scorer/bodyparts/coords, got levels {list(cols.names)}"
        )
    scorers = cols.get_level_values(0).unique()
    if len(scorers) != 1:
        raise ValueError(f"{path}: expected one scorer, found {len(scorers)}")
    points: dict[str, np.ndarray] = {}
    for bp in cols.get_level_values(1).unique():
        sub = df[scorers[0]][bp]
        missing = {"x", "y", "likelihood"} - set(sub.columns)
        if missing:
            raise ValueError(f"{path}: body part {bp!r} lacks {sorted(missing)}")
        points[str(bp)] = sub[["x", "y", "likelihood"]].to_numpy(dtype=np.float64)
    return str(scorers[0]), points


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
