"""The contents of ``ibl-video report``: a session's or a rig's figures and tables from the tables.

Functions
---------
session_report : a session's frame jitter (the note's Figure 2), its overview with the crop
    regions (Figure 6, :func:`schemas.analysis.plot_session`) and its QC checks.
rig_report : a rig type's file sizes per hour (Table 1) and frame jitter per camera.

Each returns :class:`pipeline.report.Section` objects; :func:`pipeline.report.render_report`
makes the page. Figures are drawn into a working folder the caller gives (and removes).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from pipeline.plots import plot_jitter
from pipeline.report import Figure, Section, Table
from schemas.session import RigType, Session, session_name
from schemas.studies import file_size_study, jitter_study

__all__ = ["QC_COLUMNS", "qc_table", "rig_report", "session_report"]

#: Columns of the QC table of :func:`session_report`.
QC_COLUMNS: tuple[str, ...] = ("camera", "stage", "check", "outcome", "value", "threshold", "details")

SESSION_STEPS = ("jitter", "overview", "qc")
RIG_STEPS = ("sizes", "jitter")


def _step(progress: Callable[[str], None] | None, name: str) -> None:
    if progress is not None:
        progress(name)


def _camera_thresholds(params: dict) -> dict[str, str]:
    """The threshold of each camera check, as text, from a ``CameraQCParams`` row."""
    return {
        "brightness": f"mean grey in [{params['brightness_low']:g}, {params['brightness_high']:g}] "
                      f"in >= {params['brightness_pct_pass']:.0%} of frames",
        "framerate": f"within {params['framerate_tolerance_hz']:g} Hz of expected",
        "dropped_frames": f"< {params['dropped_threshold_pct']:g} % dropped",
        "position": f"shift < {params['position_pass_pct']:g} % (WARNING < {params['position_warn_pct']:g} %)",
        "focus": f"sharpness ratio > {params['focus_warn_ratio']:g} (FAIL < {params['focus_fail_ratio']:g})",
        "file_headers": "file frame rate = expected",
        "resolution": "frame size = expected",
        "timestamps": "one time per video frame",
        "pin_state": "GPIO changes = DAQ TTL pulses",
    }  # fmt: skip


def qc_table(key: dict) -> Table:
    """The QC grid of a session as a table: every ``CameraQC`` and ``PoseQC`` check.

    Rows are ordered by camera, then camera checks before pose checks, in the order they
    were inserted; the threshold of a camera check comes from its ``CameraQCParams`` row
    (pose checks: their thresholds are in the details). Each row's CSS class is its outcome.
    """
    from schemas.features import PoseQC
    from schemas.qc import CameraQC, CameraQCParams

    rows, classes = [], []
    thresholds = {r["camera_qc_params"]: _camera_thresholds(r) for r in CameraQCParams.to_dicts()}
    camera_rows = (CameraQC * CameraQC.Check & key).to_dicts()
    pose_rows = (PoseQC.Check & key).to_dicts()
    for stage, found in (("camera", camera_rows), ("pose", pose_rows)):
        for r in found:
            limit = thresholds.get(r.get("camera_qc_params"), {}).get(r["check_name"], "") if stage == "camera" else ""
            try:
                details = json.loads(r["check_details"] or "{}")
                details = ", ".join(f"{k}: {v}" for k, v in details.items()) if isinstance(details, dict) else str(details)
            except ValueError:
                details = r["check_details"]
            rows.append([r["camera_label"], stage, r["check_name"], r["outcome"], r["check_value"] or "", limit, details])
            classes.append(r["outcome"])
    order = sorted(range(len(rows)), key=lambda i: (rows[i][0], rows[i][1]))
    return Table(
        title="QC checks", columns=list(QC_COLUMNS), rows=[rows[i] for i in order],
        row_classes=[classes[i] for i in order],
        caption="CameraQC (IBL's camera checks) and PoseQC (pose checks); threshold: the CameraQCParams set used",
    )  # fmt: skip


def _jitter_items(restriction: dict, workdir: Path, name: str, title: str) -> list[Figure | Table]:
    """Figure 2 and its table for the ``SyncPulses`` rows matching ``restriction``."""
    result = jitter_study(restriction)
    png = plot_jitter(result.panels, workdir / f"{name}.png", title=title)
    columns = ["subject", "session_date", "session_number", "camera_label", "clock", "fps", "n_intervals",
               "jitter_us", "note_jitter_us", "sync_pulses_jitter_us"]  # fmt: skip
    return [
        Figure("Frame jitter (the note's Figure 2)", png.read_bytes(),
               "Frame interval minus the nominal period, measured frames only; the note's jitter dashed"),
        Table.from_dataframe("Frame jitter per camera (us)", result.table.loc[:, columns]),
    ]  # fmt: skip


def session_report(key: dict, workdir: Path | str, *, feature_params: str = "ibl",
                   progress: Callable[[str], None] | None = None) -> list[Section]:  # fmt: skip
    """The sections of a session's report: jitter (Figure 2), overview (Figure 6), QC grid.

    Parameters
    ----------
    key : dict
        The session's key (``subject``, ``session_date``, ``session_number``).
    workdir : path
        An existing folder for the figures' PNG files.
    feature_params : str
        Feature parameter set of the pupil and lick traces.
    progress : callable, optional
        Called with each step's name (:data:`SESSION_STEPS`) before it runs.

    Returns
    -------
    list of pipeline.report.Section
        A part the tables do not hold yet (no ``SyncPulses``, no ``DLCPose``) is a section
        saying so and which ``populate`` makes it.

    Raises
    ------
    ValueError
        If the session is not in ``Session``.
    """
    from schemas.analysis import plot_session
    from schemas.pose import DLCPose
    from schemas.sync import SyncPulses

    workdir = Path(workdir)
    key = {k: key[k] for k in Session.primary_key}
    if not Session & key:
        raise ValueError(f"no session {session_name(key)} in the Session table")
    sections = []
    _step(progress, "jitter")
    if SyncPulses & key:
        sections.append(Section("Frame timing", _jitter_items(key, workdir, "jitter", f"{session_name(key)}: frame jitter")))
    else:
        sections.append(Section("Frame timing", text="No SyncPulses rows yet: run `ibl-video populate SyncPulses`."))
    _step(progress, "overview")
    if DLCPose & key:
        png = plot_session(key, workdir / "session.png", feature_params=feature_params)
        sections.append(Section("Session overview (the note's Figure 6)", [Figure(
            "Tracked points and crop regions on a frame, pupil diameter, licks, QC outcomes", png.read_bytes(),
            "Boxes: the crop regions (CropROI) the pose was made in; dots: confident points (likelihood >= 0.9)")]))  # fmt: skip
    else:
        sections.append(Section("Session overview (the note's Figure 6)",
                                text="No DLCPose rows yet: run `ibl-video populate` through DLCPose."))  # fmt: skip
    _step(progress, "qc")
    table = qc_table(key)
    if table.rows:
        sections.append(Section("Quality control", [table]))
    else:
        sections.append(Section("Quality control", text="No QC rows yet: run `ibl-video populate CameraQC PoseQC`."))
    return sections


def rig_report(rig_type: str, workdir: Path | str, *,
               progress: Callable[[str], None] | None = None) -> list[Section]:  # fmt: skip
    """The sections of a rig type's report: file sizes per hour (Table 1), jitter per camera (Figure 2).

    Parameters
    ----------
    rig_type : str
        A ``RigType``.
    workdir : path
        An existing folder for the figures' PNG files.
    progress : callable, optional
        Called with each step's name (:data:`RIG_STEPS`) before it runs.

    Raises
    ------
    ValueError
        If the rig type is not in ``RigType`` (naming those that are).
    """
    import pandas as pd

    workdir = Path(workdir)
    if not RigType & {"rig_type": rig_type}:
        known = ", ".join(sorted(RigType.to_arrays("rig_type")))
        raise ValueError(f"no rig type {rig_type!r} in the RigType table (known: {known})")
    restriction = {"rig_type": rig_type}
    sections = []
    _step(progress, "sizes")
    try:
        sizes = file_size_study(restriction)
    except ValueError as e:
        sections.append(Section("File size per hour (the note's Table 1)", text=str(e)))
    else:
        columns = ["camera_label", "compression_params", "crf", "video_codec", "width", "height", "fps", "n_recordings",
                   "mb_per_hour", "clips_mb_per_hour", "total_mb_per_hour", "scaled_mb_per_hour", "note_mb_per_hour"]  # fmt: skip
        sizes = sizes.loc[:, columns].astype(object).where(pd.notna(sizes.loc[:, columns]), None)
        sections.append(Section("File size per hour (the note's Table 1)", [Table.from_dataframe(
            f"MB per hour, {rig_type} rig", sizes,
            "MB = 10^6 bytes; scaled: to the note's 944x956 at 150 Hz; camera 'all': the rig's total")]))  # fmt: skip
    _step(progress, "jitter")
    from schemas.sync import SyncPulses

    if SyncPulses & (Session & restriction).proj():
        sections.append(Section("Frame jitter per camera",
                                _jitter_items(restriction, workdir, "rig_jitter", f"{rig_type} rig: frame jitter")))  # fmt: skip
    else:
        sections.append(Section("Frame jitter per camera", text=f"No SyncPulses rows of {rig_type} sessions yet."))
    return sections
