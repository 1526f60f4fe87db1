"""IBL's ALF files of a session's video results: write and read them back.

The files an IBL analyst loads (``one.load_object(eid, "leftCamera")``, ``"licks"``), in the
session's ``alf/`` folder:

``_ibl_<label>Camera.times.npy``
    ``(n_frames,)`` float64: one time per video frame, seconds on the DAQ clock (FPGA on
    recording rigs, Bpod on training rigs).
``_ibl_<label>Camera.dlc.pqt``
    One row per frame; columns ``<point>_x``, ``<point>_y`` (full-frame pixels of the camera's
    own, unflipped frame) and ``<point>_likelihood`` per point (:func:`pipeline.io.dlc.write_alf_dlc`),
    under IBL's names on every camera (``pupil_top_r`` ... ``nose_tip``, ``paw_l``, ``paw_r``,
    ``tube_top``, ``tube_bottom``, ``tongue_end_l``, ``tongue_end_r``), as brainbox expects them.
    The mapping from the note's names our tables keep, with the combined points' likelihood
    rule, is :mod:`pipeline.io.ibl_names` (:func:`~pipeline.io.ibl_names.to_ibl`).
``_ibl_<label>Camera.features.pqt``
    One row per frame; columns ``pupilDiameter_raw`` and ``pupilDiameter_smooth`` (pixels),
    as ibllib's ``EphysPostDLC`` task writes them (side cameras only).
``licks.times.npy``
    ``(k,)`` float64: lick onsets of the session, seconds. Unlike IBL's file (both cameras'
    lick frames concatenated, so a lick seen by two cameras counts at least twice), one time
    per lick, both cameras merged (:func:`pipeline.features.merge_camera_licks`).

Nothing here imports DataJoint; :mod:`schemas.export` gathers a session from the tables.
Every file is written atomically (a temporary file renamed into place) with the mode of any
new file of the user (their umask).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.io import atomic_write
from pipeline.io.dlc import alf_dlc_name, read_alf_dlc, write_alf_dlc
from pipeline.io.ibl_names import IBL_LIKELIHOOD_THRESHOLD, to_ibl

__all__ = [
    "CameraExport",
    "FEATURE_COLUMNS",
    "LICKS_NAME",
    "SessionExport",
    "camera_file_names",
    "read_alf_session",
    "read_features",
    "write_alf_session",
    "write_camera_times",
    "write_features",
    "write_lick_times",
]

#: IBL's column names in ``features.pqt``: raw and smooth pupil diameter, pixels.
FEATURE_COLUMNS: tuple[str, str] = ("pupilDiameter_raw", "pupilDiameter_smooth")
LICKS_NAME = "licks.times.npy"
_TIMES_RE = re.compile(r"^_ibl_(?P<label>[A-Za-z0-9]+)Camera\.times\.npy$")


@dataclass(frozen=True)
class CameraExport:
    """One camera's exportable results.

    Attributes
    ----------
    label : str
        Camera label (``left``, ``right``, ``body``).
    times : (n,) float64
        Frame times, seconds on the session's export clock.
    points : mapping of str to (n, 3) float64, optional
        Body part (the note's names, as in ``DLCPose``) to x, y (full-frame pixels) and
        likelihood; None without pose.
    pupil_raw, pupil_smooth : (n,) float64, optional
        Pupil diameter per frame, pixels; None without features.
    lick_times : (k,) float64, optional
        This camera's lick onsets, seconds (NWB only; ALF has the merged ``licks.times``).
    video_path : str, optional
        The video file (NWB: an external file link, relative to the NWB file).
    width, height : int, optional
        Frame size, pixels.
    """

    label: str
    times: np.ndarray
    points: Mapping[str, np.ndarray] | None = None
    pupil_raw: np.ndarray | None = None
    pupil_smooth: np.ndarray | None = None
    lick_times: np.ndarray | None = None
    video_path: str | None = None
    width: int | None = None
    height: int | None = None

    def __post_init__(self) -> None:
        t = np.asarray(self.times, dtype=np.float64)
        if t.ndim != 1:
            raise ValueError(f"{self.label} camera: times must be 1-D, got shape {t.shape}")
        n = len(t)
        if self.points is not None:
            for name, a in self.points.items():
                a = np.asarray(a)
                if a.shape != (n, 3):
                    raise ValueError(
                        f"{self.label} camera: {name!r} has shape {a.shape}, expected ({n}, 3) for {n} frame times"
                    )
        for name in ("pupil_raw", "pupil_smooth"):
            a = getattr(self, name)
            if a is not None and np.shape(a) != (n,):
                raise ValueError(
                    f"{self.label} camera: {name} has shape {np.shape(a)}, expected ({n},) for {n} frame times"
                )
        if (self.pupil_raw is None) != (self.pupil_smooth is None):
            raise ValueError(
                f"{self.label} camera: give both pupil_raw and pupil_smooth, or neither"
            )


@dataclass(frozen=True)
class SessionExport:
    """A session's exportable video results.

    Attributes
    ----------
    subject : str
    session_date : str
        ``YYYY-MM-DD``.
    session_number : int
    session_uuid : str
    session_start_time : datetime.datetime
        Acquisition computer clock (naive: local time).
    rig_type : str
    clock : str
        Clock of every time in the export (``fpga`` or ``bpod``).
    cameras : tuple of CameraExport
    lick_times : (k,) float64, optional
        Lick onsets of the session, both side cameras merged, seconds on ``clock``.
    pose_description : str
        What produced the pose (model set, parameters), for the files' metadata.
    likelihood_threshold : float
        Likelihood from which a point counts as seen (the ``FeatureParams`` set's); ALF's
        ``paw_l``/``paw_r`` average the fingertips at or above it
        (:func:`pipeline.io.ibl_names.to_ibl`).
    subject_info : mapping, optional
        The subject's ``Subject`` row (``sex``, ``date_of_birth``, ``species``, ``strain``,
        ...) for NWB; None: unknown.
    institution, lab : str, optional
        Where the session was recorded (NWB ``institution``, ``lab``).
    experimenter : tuple of str
        Who ran it, ``"Last, First"`` (NWB ``experimenter``).
    """

    subject: str
    session_date: str
    session_number: int
    session_uuid: str
    session_start_time: object
    rig_type: str
    clock: str
    cameras: tuple[CameraExport, ...] = field(default_factory=tuple)
    lick_times: np.ndarray | None = None
    pose_description: str = ""
    likelihood_threshold: float = IBL_LIKELIHOOD_THRESHOLD
    subject_info: Mapping[str, object] | None = None
    institution: str | None = None
    lab: str | None = None
    experimenter: tuple[str, ...] = ()

    def camera(self, label: str) -> CameraExport:
        """The camera with this label (KeyError naming the labels there are)."""
        for c in self.cameras:
            if c.label == label:
                return c
        raise KeyError(
            f"no {label!r} camera in the export (cameras: {', '.join(c.label for c in self.cameras)})"
        )


def camera_file_names(label: str) -> dict[str, str]:
    """IBL's ALF file names of one camera: keys ``times``, ``dlc``, ``features``."""
    return {
        "times": f"_ibl_{label}Camera.times.npy",
        "dlc": alf_dlc_name(label),
        "features": f"_ibl_{label}Camera.features.pqt",
    }


def _save_npy(path: Path, array: np.ndarray) -> Path:
    def write(tmp):
        with open(tmp, "wb") as fh:
            np.save(fh, array)

    return atomic_write(path, write)


def write_camera_times(folder: Path | str, label: str, times) -> Path:
    """Write ``_ibl_<label>Camera.times.npy`` ((n,) float64 seconds) into ``folder``."""
    t = np.asarray(times, dtype=np.float64)
    if t.ndim != 1:
        raise ValueError(f"{label} camera times must be 1-D, got shape {t.shape}")
    return _save_npy(Path(folder) / camera_file_names(label)["times"], t)


def write_features(folder: Path | str, label: str, pupil_raw, pupil_smooth) -> Path:
    """Write ``_ibl_<label>Camera.features.pqt`` with IBL's columns (see :data:`FEATURE_COLUMNS`).

    Parameters
    ----------
    folder : path
        Output folder (the session's ``alf/``).
    label : str
        Camera label.
    pupil_raw, pupil_smooth : (n,) array_like
        Pupil diameter per frame, pixels, NaN where unknown.
    """
    import pandas as pd

    raw = np.asarray(pupil_raw, dtype=np.float64)
    smooth = np.asarray(pupil_smooth, dtype=np.float64)
    if raw.ndim != 1 or raw.shape != smooth.shape:
        raise ValueError(
            f"{label} camera: raw {raw.shape} and smooth {smooth.shape} pupil diameters must be 1-D of one length"
        )
    df = pd.DataFrame({FEATURE_COLUMNS[0]: raw, FEATURE_COLUMNS[1]: smooth})
    return atomic_write(
        Path(folder) / camera_file_names(label)["features"], lambda tmp: df.to_parquet(tmp)
    )


def read_features(path: Path | str) -> dict[str, np.ndarray]:
    """Read a ``features.pqt`` back: column name -> (n,) float64.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If an IBL column (:data:`FEATURE_COLUMNS`) is missing.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ALF features table not found: {path}")
    df = pd.read_parquet(path)
    missing = [c for c in FEATURE_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(
            f"{path}: lacks column(s) {', '.join(missing)} (has {', '.join(map(str, df.columns))})"
        )
    return {str(c): df[c].to_numpy(dtype=np.float64) for c in df.columns}


def write_lick_times(folder: Path | str, lick_times) -> Path:
    """Write ``licks.times.npy`` (sorted (k,) float64 seconds) into ``folder``."""
    t = np.sort(np.asarray(lick_times, dtype=np.float64).ravel())
    return _save_npy(Path(folder) / LICKS_NAME, t)


def write_alf_session(folder: Path | str, session: SessionExport) -> list[Path]:
    """Write every ALF file of a session into ``folder``.

    Per camera: ``times`` always, ``dlc`` when it has pose (under IBL's point names,
    :func:`pipeline.io.ibl_names.to_ibl`), ``features`` when it has pupil diameters;
    ``licks.times.npy`` when the session has lick times.

    Returns
    -------
    list of Path
        The files written, in that order.
    """
    folder = Path(folder)
    written: list[Path] = []
    for cam in session.cameras:
        written.append(write_camera_times(folder, cam.label, cam.times))
        if cam.points is not None:
            points = to_ibl(cam.points, cam.label, likelihood_threshold=session.likelihood_threshold)
            if points:
                written.append(write_alf_dlc(folder / camera_file_names(cam.label)["dlc"], points))
        if cam.pupil_raw is not None:
            written.append(write_features(folder, cam.label, cam.pupil_raw, cam.pupil_smooth))
    if session.lick_times is not None:
        written.append(write_lick_times(folder, session.lick_times))
    return written


def read_alf_session(folder: Path | str) -> dict:
    """Read a session's ALF video files back (what :func:`write_alf_session` wrote).

    Returns
    -------
    dict
        ``"cameras"``: label -> dict with ``times`` (n,), and when present ``points``
        (part -> (n, 3), under the file's names: IBL's; :func:`pipeline.io.ibl_names.from_ibl`
        gives the note's), ``pupil_raw``, ``pupil_smooth`` (n,); ``"lick_times"``: (k,) or
        None.

    Raises
    ------
    FileNotFoundError
        If the folder has no ``_ibl_<label>Camera.times.npy``.
    """
    folder = Path(folder)
    labels = sorted(
        m.group("label")
        for p in folder.glob("_ibl_*Camera.times.npy")
        if (m := _TIMES_RE.match(p.name))
    )
    if not labels:
        raise FileNotFoundError(f"no _ibl_<label>Camera.times.npy in {folder}")
    cameras: dict[str, dict] = {}
    for label in labels:
        names = camera_file_names(label)
        cam: dict = {"times": np.load(folder / names["times"])}
        if (folder / names["dlc"]).is_file():
            cam["points"] = read_alf_dlc(folder / names["dlc"])
        if (folder / names["features"]).is_file():
            feats = read_features(folder / names["features"])
            cam["pupil_raw"], cam["pupil_smooth"] = (
                feats[FEATURE_COLUMNS[0]],
                feats[FEATURE_COLUMNS[1]],
            )
        cameras[label] = cam
    licks = folder / LICKS_NAME
    return {"cameras": cameras, "lick_times": np.load(licks) if licks.is_file() else None}
