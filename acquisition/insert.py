"""Registering recorded sessions in the database (the acquisition script's last step)."""

from __future__ import annotations

from pathlib import Path

from acquisition.session import SESSION_FILE, SessionRecording, read_session_folder
from pipeline.io.iblrig import TASK_SETTINGS, read_task_settings
from pipeline.layout import RAW_BEHAVIOR_DIR


def insert_recorded_session(folder: Path | str, *, rig_type: str | None = None, start_time=None,
                            sync_wiring: str | None = None, subject_file: Path | str | None = None) -> dict:
    """Insert the ``Session`` row of a session folder; returns its key.

    A folder written by :func:`acquisition.session.record_session` (it has ``session.json``)
    must be complete: an interrupted or half-copied recording has no completion marker
    and is refused. A folder as IBL's rigs write it is registered from its
    ``raw_behavior_data/_iblrig_taskSettings.raw.json`` (subject, date, number, start time,
    and the rig type from the protocol or board; ``rig_type`` and ``start_time`` override).
    A folder with neither needs both ``rig_type`` and ``start_time``. ``sync_wiring`` names
    the FPGA channel map of an ephys session (default ``3B``; a ``*.wiring.json`` beside the
    SpikeGLX files overrides its channels).

    The subject's ``Subject`` row (sex, date of birth, species, strain) comes from
    ``subject_file`` (Alyx's subject record as JSON, :func:`pipeline.io.subject.read_subject_file`)
    when given, else from ``session.json``'s ``subject_info``; a subject already in the table
    keeps its row (a file that disagrees with it is refused), a new one without a description
    gets a row with everything unknown.

    Raises
    ------
    acquisition.session.IncompleteSessionError
        If the recording is not complete (the message names the missing marker).
    ValueError
        If the rig type is neither given nor readable, the task settings lack a key or
        disagree with the folder's path, a camera label is unknown, the subject's description
        is bad or disagrees with its row, or the session is already in the table.
    FileNotFoundError
        If ``subject_file`` does not exist.
    """
    from pipeline.io.subject import read_subject_file
    from schemas.session import insert_session

    folder = Path(folder)
    subject_info = read_subject_file(subject_file) if subject_file is not None else None
    source = str(subject_file) if subject_file is not None else "subject"
    if (folder / SESSION_FILE).is_file():
        info = read_session_folder(folder)
        if rig_type is not None and rig_type != info.rig_type:
            raise ValueError(f"{folder / SESSION_FILE} says rig type {info.rig_type!r}, not {rig_type!r}")
        if subject_info is None and info.description.get("subject_info") is not None:
            subject_info, source = info.description["subject_info"], f"{folder / SESSION_FILE} subject_info"
        return insert_session(
            folder, rig_type=info.rig_type, start_time=info.start_time, session_uuid=info.uuid,
            subject=info.subject, date=info.date, number=info.number, sync_wiring=sync_wiring,
            subject_info=subject_info, subject_source=source,
        )  # fmt: skip
    settings_path = folder / RAW_BEHAVIOR_DIR / TASK_SETTINGS
    if settings_path.is_file():
        task = read_task_settings(settings_path)
        named = (folder.parent.parent.name, folder.parent.name, folder.name)
        said = (task.subject, task.date.isoformat(), f"{task.number:03d}")
        if named != said:
            raise ValueError(
                f"{settings_path} describes session {'/'.join(said)} but the folder is {'/'.join(named)}: "
                "rename the folder or fix the settings"
            )
        rig = rig_type or task.rig_type
        if rig is None:
            raise ValueError(
                f"{settings_path}: neither its protocol {task.protocol!r} nor its board {task.board!r} "
                "says the rig type: give it (--rig training or --rig ephys)"
            )
        return insert_session(
            folder, rig_type=rig, start_time=start_time or task.start_time,
            subject=task.subject, date=task.date, number=task.number, sync_wiring=sync_wiring,
            subject_info=subject_info, subject_source=source,
        )  # fmt: skip
    if rig_type is None or start_time is None:
        raise ValueError(
            f"{folder} has neither {SESSION_FILE} nor {settings_path.relative_to(folder)} "
            f"(looked for {settings_path}): give the rig type and start time to register it"
        )
    return insert_session(folder, rig_type=rig_type, start_time=start_time, sync_wiring=sync_wiring,
                          subject_info=subject_info, subject_source=source)


def insert_recording(recording: SessionRecording, *, sync_wiring: str | None = None) -> dict:
    """Insert a just-recorded session; refuses an interrupted one."""
    if recording.interrupted or not recording.complete:
        raise ValueError(f"the recording in {recording.folder} was interrupted; it is not inserted")
    return insert_recorded_session(recording.folder, sync_wiring=sync_wiring)


def insert_simulated_references(width_height: dict[str, tuple[int, int]], rig_type: str = "ephys") -> None:
    """Insert the simulator's reference views as CameraReference rows (demo and tests)."""
    from acquisition.setup_aids import reference_frame
    from schemas.qc import CameraReference

    for label, (width, height) in width_height.items():
        CameraReference.insert1(
            dict(rig_type=rig_type, camera_label=label, reference_width=width, reference_height=height,
                 reference_frame=reference_frame(rig_type, label, width, height), reference_source="simulator reference rig"),
            skip_duplicates=True,
        )  # fmt: skip
