"""Registering recorded sessions in the database (the acquisition script's last step)."""

from __future__ import annotations

from pathlib import Path

from acquisition.session import SESSION_FILE, SessionRecording, read_session_folder


def insert_recorded_session(folder: Path | str, *, rig_type: str | None = None, start_time=None) -> dict:
    """Insert the ``Session`` row of a session folder; returns its key.

    A folder written by :func:`acquisition.session.record_session` (it has ``session.json``)
    must be complete: an interrupted or half-copied recording has no completion marker
    and is refused. A folder made by other software (IBL's rigs: no ``session.json``) is
    registered from its path, with ``rig_type`` and ``start_time`` given by the caller.

    Raises
    ------
    acquisition.session.IncompleteSessionError
        If the recording is not complete (the message names the missing marker).
    ValueError
        If ``rig_type`` is missing for a folder without ``session.json``, a camera label is
        unknown, or the session is already in the table.
    """
    from schemas.session import insert_session

    folder = Path(folder)
    if (folder / SESSION_FILE).is_file():
        info = read_session_folder(folder)
        if rig_type is not None and rig_type != info.rig_type:
            raise ValueError(f"{folder / SESSION_FILE} says rig type {info.rig_type!r}, not {rig_type!r}")
        return insert_session(
            folder, rig_type=info.rig_type, start_time=info.start_time, session_uuid=info.uuid,
            subject=info.subject, date=info.date, number=info.number,
        )  # fmt: skip
    if rig_type is None or start_time is None:
        raise ValueError(f"{folder} has no {SESSION_FILE}: give the rig type and start time to register it")
    return insert_session(folder, rig_type=rig_type, start_time=start_time)


def insert_recording(recording: SessionRecording) -> dict:
    """Insert a just-recorded session; refuses an interrupted one."""
    if recording.interrupted or not recording.complete:
        raise ValueError(f"the recording in {recording.folder} was interrupted; it is not inserted")
    return insert_recorded_session(recording.folder)
