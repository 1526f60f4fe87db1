"""The demo: the whole chain on a simulated ephys session, with key figures against the truth.

1. Record a simulated ephys session (3 cameras at the rig's resolutions) and insert it.
2. Train (once; cached) and register DeepLabCut networks on simulated frames.
3. Populate every table in dependency order, with DataJoint's job reservation.
4. Print the status table and the key figures (frames synced, compression ratio, pose
   error, pupil correlation, lick recall against the simulator's truth), and write a
   summary figure (``<data root>/demo_summary.png``).

A second run reuses the session, the models and every row already computed.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from rich.console import Console
from rich.table import Table

from schemas.config import Settings

DEMO_SECONDS = 16.0
TOLERANCE_FRAMES = 2


def run_demo(settings: Settings, *, subject: str = "demo_mouse", duration_s: float = DEMO_SECONDS,
             console: Console | None = None, device: str = "cpu") -> dict:  # fmt: skip
    """Run the demo end to end; returns ``{"status": ..., "figures": ...}``."""
    from acquisition.insert import insert_simulated_references
    from populate.cli import print_status, table_status
    from populate.models import TEST_TRAINING, train_from_simulator
    from populate.tables import computed_tables
    from schemas.pose import register_simulated_models

    console = console or Console()
    console.rule("ibl-video-pipeline demo")
    console.print(f"data root: {settings.data_root}   schemas: {settings.schema_prefix}_*   database: {settings.database}")
    key, folder = _demo_session(settings, subject, duration_s, console)
    from acquisition.session import read_session_folder

    info = read_session_folder(folder)
    insert_simulated_references({label: (c.width, c.height) for label, c in info.cameras.items()})
    console.print("pose networks: training on simulated frames (cached after the first run) ...")
    set_name = register_simulated_models(train_from_simulator(training=TEST_TRAINING, device=device, progress=True))
    console.print(f"model set {set_name}")
    for name, table in computed_tables().items():
        kwargs = _make_kwargs(table, device)
        result = table.populate(key, reserve_jobs=True, suppress_errors=True, display_progress=True, make_kwargs=kwargs or None)
        for k, message in result["error_list"]:
            console.print(f"[red]{name} {k}: {message}", highlight=False)
    status = table_status()
    print_status(status)
    figures = key_figures(key, folder)
    _print_figures(figures, console)
    png = write_summary_figure(key, folder, settings.data_root / "demo_summary.png")
    console.print(f"summary figure: {png}")
    return {"status": status, "figures": figures}


def _make_kwargs(table, device: str) -> dict:
    import inspect

    params = inspect.signature(table.make_fetch).parameters if hasattr(table, "make_fetch") else {}
    return {"device": device} if "device" in params else {}


def _demo_session(settings: Settings, subject: str, duration_s: float, console: Console) -> tuple[dict, object]:
    """Record (or reuse) today's demo session; returns its key and folder."""
    from acquisition.daq import DaqConfig
    from acquisition.insert import insert_recording
    from acquisition.session import record_session
    from pipeline import layout
    from schemas.session import Session

    today = dt.date.today()
    existing = Session & {"subject": subject, "session_date": today}
    if existing:
        console.print(f"reusing the demo session of {today}")
        key = existing.proj().to_dicts()[0]
        return key, layout.resolve_under(settings.data_root, (Session & key).fetch1("session_dir"))
    console.print(f"recording a simulated ephys session of {duration_s:g} s (3 cameras, rig resolutions) ...")
    rec = record_session(settings.data_root, subject, "ephys", duration_s, backend="simulated", seed=1,
                         daq_config=DaqConfig(seed=1, drop_rate=0.001))  # fmt: skip
    return insert_recording(rec), rec.folder


def key_figures(key: dict, folder) -> dict:
    """Frames synced, compression ratio, pose error, pupil correlation and lick recall vs truth."""
    from acquisition.daq import load_truth
    from schemas.compression import CompressedVideo
    from schemas.features import LickEvents, PupilDiameter
    from schemas.pose import DLCPose, pose_arrays
    from schemas.sync import SyncPulses

    truth = load_truth(folder)
    figures: dict = {}
    sync = (SyncPulses & key).to_dicts()
    figures["frames_synced"] = int(sum(len(np.asarray(r["frame_times"])) for r in sync))
    figures["dropped_frames"] = int(sum(r["n_dropped_frames"] for r in sync))
    cv = (CompressedVideo & key).to_dicts()
    if cv:
        figures["compression_ratio"] = float(sum(r["raw_size"] for r in cv) / sum(r["file_size"] for r in cv))
        figures["psnr_db"] = float(np.mean([r["psnr_db"] for r in cv]))
    for row in (DLCPose & key).proj().to_dicts():
        label = row["camera_label"]
        pose, scene = pose_arrays(row), truth.scenes[label]
        errs = []
        for part, arr in pose.items():
            if part.startswith("pupil_"):
                true = np.asarray(scene.points[part])[: len(arr)]
                ok = np.isfinite(true).all(axis=1) & (arr[:, 2] >= 0.9)
                errs.append(np.linalg.norm(arr[ok, :2] - true[ok], axis=1))
        if errs:
            figures[f"{label}_pupil_point_error_px"] = float(np.median(np.concatenate(errs)))
    for row in (PupilDiameter & key & {"feature_params": "ibl"}).to_dicts():
        est = np.asarray(row["pupil_diameter_px"])
        true = np.asarray(truth.scenes[row["camera_label"]].pupil_diameter_px)[: len(est)]
        ok = np.isfinite(est) & np.isfinite(true)
        figures[f"{row['camera_label']}_pupil_r"] = float(np.corrcoef(est[ok], true[ok])[0, 1])
    starts = truth.lick_intervals_s[:, 0]
    for row in (LickEvents & key).to_dicts():
        times = np.asarray((SyncPulses & row).fetch1("frame_times"))
        tol = TOLERANCE_FRAMES * float(np.median(np.diff(times)))
        true = starts[(starts >= times[0]) & (starts <= times[-1])]
        found = np.asarray(row["lick_onset_times"])
        recall = float(np.mean([np.any(np.abs(found - t) <= tol) for t in true])) if len(true) else float("nan")
        precision = float(np.mean([np.any(np.abs(true - f) <= tol) for f in found])) if len(found) else float("nan")
        name = f"{row['camera_label']}_{row['feature_params']}"
        figures[f"{name}_lick_recall"], figures[f"{name}_lick_precision"] = recall, precision
    return figures


def _print_figures(figures: dict, console: Console) -> None:
    table = Table(title="key figures (against the simulator's truth)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in figures.items():
        table.add_row(name, f"{value:.3f}" if isinstance(value, float) else str(value))
    console.print(table)


def write_summary_figure(key: dict, folder, png):
    """A frame with the tracked points and crops drawn, the pupil trace against truth, the lick raster."""
    from acquisition.daq import load_truth
    from pipeline import layout
    from pipeline.io.video import read_frames_at
    from pipeline.plots_session import plot_session_overview
    from schemas import config
    from schemas.features import LickEvents, PupilDiameter, session_lick_times
    from schemas.pose import CropROI, DLCPose, pose_arrays
    from schemas.qc import CameraQC
    from schemas.session import CameraRecording

    root = config.current().data_root
    truth = load_truth(folder)
    views, rois, pupil, pupil_truth, licks, qc = {}, {}, {}, {}, {}, {}
    for row in (DLCPose & key).proj().to_dicts():
        label = row["camera_label"]
        rec = (CameraRecording & row).fetch1()
        index = rec["n_frames"] // 2
        video = layout.resolve_under(root, rec["raw_video_path"])
        frame = read_frames_at(video, rec["width"], rec["height"], [index])[0] if video.exists() else None
        points = {k: tuple(v[index, :2]) for k, v in pose_arrays(row).items() if v[index, 2] >= 0.9}
        views[label] = (frame, points, index)
        rois[label] = {r["region"]: (r["x"], r["y"], r["w"], r["h"]) for r in (CropROI.Region & row).to_dicts()}
    for row in (PupilDiameter & key & {"feature_params": "ibl"}).to_dicts():
        label = row["camera_label"]
        t = np.asarray(row["frame_times"])
        pupil[label] = (t, np.asarray(row["pupil_diameter_raw_px"]), np.asarray(row["pupil_diameter_px"]))
        pupil_truth[label] = (t, np.asarray(truth.scenes[label].pupil_diameter_px)[: len(t)])
    for row in (LickEvents & key & {"feature_params": "ibl"}).to_dicts():
        licks[f"{row['camera_label']} camera"] = np.asarray(row["lick_onset_times"])
    licks["merged"] = session_lick_times(key)
    licks["truth"] = truth.lick_intervals_s[:, 0]
    for row in (CameraQC.Check & key).to_dicts():
        qc.setdefault(f"{row['camera_label']} camera", {})[row["check_name"]] = row["outcome"]
    return plot_session_overview(png, views=views, pupil=pupil, licks=licks, qc=qc, clock="FPGA",
                                 title=f"{key['subject']} {key['session_date']} {int(key['session_number']):03d}",
                                 rois=rois, pupil_truth=pupil_truth)  # fmt: skip
