"""The demo: record a simulated session, ingest it, and print what the tables hold."""

from __future__ import annotations

import datetime as dt

from rich.console import Console

from schemas.config import Settings


def run_demo(settings: Settings, *, subject: str = "demo_mouse", duration_s: float = 4.0, console: Console | None = None) -> dict:
    """Run the demo end to end and return the pipeline status.

    A second run reuses the session recorded by the first (same subject and date).
    """
    from populate.cli import print_status, table_status
    from populate.tables import computed_tables
    from schemas.session import CameraRecording, Session

    console = console or Console()
    console.rule("ibl-video-pipeline demo")
    console.print(f"data root: {settings.data_root}   schemas: {settings.schema_prefix}_*   database: {settings.database}")
    key = _demo_session(settings, subject, duration_s, console)
    for name, table in computed_tables().items():
        result = table.populate(key, reserve_jobs=True, suppress_errors=True, display_progress=True)
        for k, message in result["error_list"]:
            console.print(f"[red]{name} {k}: {message}")
    console.print(str(Session & key), soft_wrap=True, highlight=False)
    recordings = (CameraRecording & key).proj("n_frames", "fps", "width", "height", "duration_s", "file_size")
    console.print(str(recordings), soft_wrap=True, highlight=False)
    status = table_status()
    print_status(status)
    return status


def _demo_session(settings: Settings, subject: str, duration_s: float, console: Console) -> dict:
    """Record (or reuse) today's demo session; returns its key."""
    from acquisition.session import record_session
    from schemas.session import Session, insert_session

    today = dt.date.today()
    existing = Session & {"subject": subject, "session_date": today}
    if existing:
        console.print(f"reusing the demo session of {today}")
        return existing.proj().to_dicts()[0]
    console.print(f"recording a simulated ephys session of {duration_s:g} s (3 cameras) ...")
    rec = record_session(settings.data_root, subject, "ephys", duration_s, backend="simulated", scale=0.25, seed=1)
    return insert_session(rec.folder, rig_type="ephys", start_time=rec.start_time)
