"""Export a session from the tables to IBL's ALF files and to NWB.

:func:`session_export` gathers one session's camera times, pose, pupil diameters and licks
into a :class:`pipeline.io.alf.SessionExport`; :func:`export_alf` and :func:`export_nwb`
write it with :mod:`pipeline.io.alf` and :mod:`pipeline.io.nwb`
(``ibl-video export alf|nwb <subject> <date> <number> --out DIR``).

Examples
--------
>>> from schemas.export import export_alf, export_nwb
>>> key = {"subject": "KS023", "session_date": "2025-01-31", "session_number": 1}
>>> export_alf(key, "out/alf")                     # doctest: +SKIP
>>> export_nwb(key, "out/KS023_2025-01-31_001.nwb")  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np

from pipeline import layout
from pipeline.io.alf import CameraExport, SessionExport, write_alf_session
from pipeline.io.ibl_names import IBL_LIKELIHOOD_THRESHOLD
from pipeline.rigs import TRACKED_POINTS
from schemas import config
from schemas.analysis import _restrict, _to_clock, lick_times, session_key
from schemas.compression import CompressedVideo
from schemas.features import FeatureParams, LickEvents, PupilDiameter
from schemas.pose import DLCPose, pose_arrays
from schemas.session import CameraRecording, Session, Subject, session_name
from schemas.sync import SyncPulses

__all__ = ["export_alf", "export_nwb", "nwb_file_name", "session_export"]


def _ordered(points: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """IBL's point order first, the others after them, sorted."""
    names = [p for p in TRACKED_POINTS if p in points] + sorted(
        p for p in points if p not in TRACKED_POINTS
    )
    return {p: points[p] for p in names}


def session_export(
    restriction: Any, *, clock: str | None = None, feature_params: str = "ibl"
) -> SessionExport:
    """One session's camera times, pose, pupil and licks, ready to write.

    Parameters
    ----------
    restriction : dict, list or query
        Selects one session; it also restricts the pose rows, so that
        ``DLCPose & {"pose_model_set": ...}`` picks a pose run when a camera has several.
    clock : {"fpga", "bpod"}, optional
        Clock of every time in the export; default the session's DAQ clock.
    feature_params : str
        The ``FeatureParams`` set of the pupil and lick features.

    Returns
    -------
    SessionExport
        A camera for every ``SyncPulses`` row of the session; its pose (the note's names; ALF
        renames them, :mod:`pipeline.io.ibl_names`), pupil diameters and lick onsets when the
        tables have them; the merged lick onsets; the ``FeatureParams`` set's likelihood
        threshold; the ``Subject`` row; the settings' institution, lab and experimenter.

    Raises
    ------
    ValueError
        If the restriction selects no or several sessions, a camera has several pose runs,
        or pose and frame times have different lengths.
    """
    skey = session_key(restriction)
    session = (Session & skey).fetch1()
    root = config.current().data_root
    cameras = []
    clocks = set()
    for sync_key in sorted((SyncPulses & skey).proj().to_dicts(), key=lambda k: k["camera_label"]):
        label = sync_key["camera_label"]
        times, native = (SyncPulses & sync_key).fetch1("frame_times", "clock")
        clocks.add(native)
        times = _to_clock(np.asarray(times), native, clock, sync_key)
        rec = (CameraRecording & sync_key).fetch1("raw_video_path", "width", "height")
        video_rel = rec[0]
        points = raw = smooth = licks = None
        pose_keys = (_restrict(DLCPose, restriction) & sync_key).proj().to_dicts()
        if len(pose_keys) > 1:
            runs = "; ".join(
                ", ".join(f"{k}={v}" for k, v in p.items() if k not in skey and k != "camera_label")
                for p in pose_keys
            )
            raise ValueError(
                f"{session_name(skey)} {label} camera has {len(pose_keys)} pose runs ({runs}); "
                f"restrict with DLCPose & {{...}} to one"
            )
        if pose_keys:
            pkey = pose_keys[0]
            points = _ordered(pose_arrays(pkey))
            n = len(next(iter(points.values())))
            if n != len(times):
                raise ValueError(
                    f"{session_name(skey)} {label} camera: pose has {n} frames but {len(times)} frame times"
                )
            compressed = CompressedVideo & pkey
            if compressed:
                video_rel = compressed.fetch1("compressed_video_path")
            fkey = dict(pkey, feature_params=feature_params)
            if PupilDiameter & fkey:
                raw, smooth = (PupilDiameter & fkey).fetch1(
                    "pupil_diameter_raw_px", "pupil_diameter_px"
                )
                raw, smooth = (
                    np.asarray(raw, dtype=np.float64),
                    np.asarray(smooth, dtype=np.float64),
                )
            if LickEvents & fkey:
                lick_native, onsets = (LickEvents & fkey).fetch1("clock", "lick_onset_times")
                licks = _to_clock(np.asarray(onsets), lick_native, clock, sync_key)
        cameras.append(CameraExport(
            label=label, times=times, points=points, pupil_raw=raw, pupil_smooth=smooth, lick_times=licks,
            video_path=str(layout.resolve_under(root, video_rel)), width=int(rec[1]), height=int(rec[2]),
        ))  # fmt: skip
    if not cameras:
        raise ValueError(
            f"session {session_name(skey)} has no SyncPulses rows: populate SyncPulses first"
        )
    merged = None
    if LickEvents & skey & {"feature_params": feature_params}:
        merged = lick_times(restriction, clock, feature_params=feature_params)
    pose_runs = sorted({
        f"{k['pose_model_set']} (compression {k['compression_params']}, roi {k['roi_params']})"
        for k in (_restrict(DLCPose, restriction) & skey).proj().to_dicts()
    })  # fmt: skip
    threshold = (FeatureParams & {"feature_params": feature_params}).to_arrays("likelihood_threshold")
    subject_rows = (Subject & {"subject": session["subject"]}).to_dicts()
    settings = config.current()
    return SessionExport(
        likelihood_threshold=float(threshold[0]) if len(threshold) else IBL_LIKELIHOOD_THRESHOLD,
        subject_info=subject_rows[0] if subject_rows else None,
        institution=settings.institution, lab=settings.lab, experimenter=settings.experimenter,
        subject=session["subject"], session_date=str(session["session_date"]), session_number=int(session["session_number"]),
        session_uuid=str(session["session_uuid"]), session_start_time=session["session_start_time"],
        rig_type=session["rig_type"], clock=clock or "/".join(sorted(clocks)), cameras=tuple(cameras), lick_times=merged,
        pose_description=f"pose model set {', '.join(pose_runs)}; features {feature_params}" if pose_runs else "",
    )  # fmt: skip


def export_alf(
    restriction: Any,
    out_dir: Path | str | None = None,
    *,
    clock: str | None = None,
    feature_params: str = "ibl",
) -> list[Path]:
    """Write a session's ALF files: camera times, ``dlc`` and ``features`` tables, lick times.

    Parameters
    ----------
    restriction : dict, list or query
        Selects one session (see :func:`session_export`).
    out_dir : path, optional
        Output folder; default the session's ``alf/`` folder under the data root.
    clock, feature_params
        See :func:`session_export`.

    Returns
    -------
    list of Path
        The files written (:func:`pipeline.io.alf.write_alf_session`).
    """
    data = session_export(restriction, clock=clock, feature_params=feature_params)
    if out_dir is None:
        skey = session_key(restriction)
        out_dir = (
            layout.resolve_under(config.current().data_root, (Session & skey).fetch1("session_dir"))
            / layout.ALF_DIR
        )
    return write_alf_session(out_dir, data)


def nwb_file_name(key: dict) -> str:
    """``<subject>_<date>_<NNN>.nwb`` for a session key (its NWB ``session_id`` and ``.nwb``)."""
    from pipeline.io.nwb import nwb_session_id

    return nwb_session_id(key["subject"], key["session_date"], key["session_number"]) + ".nwb"


def export_nwb(
    restriction: Any,
    out: Path | str | None = None,
    *,
    clock: str | None = None,
    feature_params: str = "ibl",
) -> Path:
    """Write a session to an NWB file (pynwb; pose with ndx-pose).

    Parameters
    ----------
    restriction : dict, list or query
        Selects one session (see :func:`session_export`).
    out : path, optional
        The ``.nwb`` file, or a folder to write :func:`nwb_file_name` into; default the
        session's ``nwb/`` folder under the data root.
    clock, feature_params
        See :func:`session_export`.

    Returns
    -------
    Path
        The file written. Its videos are linked (``external_file``) relative to it.
    """
    from pipeline.io.nwb import write_nwb

    data = session_export(restriction, clock=clock, feature_params=feature_params)
    skey = session_key(restriction)
    if out is None:
        out = (
            layout.resolve_under(config.current().data_root, (Session & skey).fetch1("session_dir"))
            / "nwb"
        )
    out = Path(out)
    path = out if out.suffix == ".nwb" else out / nwb_file_name(skey)
    path.parent.mkdir(parents=True, exist_ok=True)
    cameras = tuple(
        dataclasses.replace(c, video_path=os.path.relpath(c.video_path, path.parent.resolve()))
        if c.video_path
        else c
        for c in data.cameras
    )
    try:
        from importlib.metadata import version

        dlc_version = version("deeplabcut")
    except Exception:  # metadata only
        dlc_version = None
    return write_nwb(
        path, dataclasses.replace(data, cameras=cameras), source_software_version=dlc_version
    )
