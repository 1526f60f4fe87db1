"""Bench rows for pipeline.sync (frame times from DAQ pulses)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from bench import BenchResult, row
from pipeline.layout import RAW_BEHAVIOR_DIR, RAW_EPHYS_DIR

FS = 30000.0
REPEATS = 5
#: An ephys session's cameras: label -> (fps, interval jitter us, frames in 1 h).
EPHYS_CAMERAS = {"left": (60.0, 195.6, 216_000), "right": (150.0, 143.2, 540_000),
                 "body": (30.0, 195.6, 108_000)}  # fmt: skip


def _session(duration_s: float = 3600.0, drop_rate: float = 0.001, seed: int = 0) -> dict:
    """Numpy-only timings of a simulated ephys session (no video): per camera the DAQ
    pulses (5 extra at the start, 3 at the end), the frame counter, raw camera timestamps,
    GPIO (pin 0 follows a 0.5 s trial signal) and the FPGA's trial-onset edges."""
    from pipeline.io.framedata import encode_camera_timestamp

    rng = np.random.default_rng(seed)
    onsets = np.cumsum(rng.uniform(3.0, 9.0, int(duration_s / 3) + 1)) + 1.0
    onsets = np.round(onsets[onsets < duration_s] * FS) / FS
    cams = {}
    for label, (fps, jitter_us, n) in EPHYS_CAMERAS.items():
        total = n + 8
        exposures = 0.5 + np.concatenate(
            [[0.0], np.cumsum(1 / fps + rng.normal(0, jitter_us * 1e-6, total - 1))]
        )
        keep = rng.random(n) >= drop_rate
        keep[0] = keep[-1] = True
        rec = np.arange(5, 5 + n)[keep]
        k = np.searchsorted(onsets, exposures[rec], side="right") - 1
        high = (k >= 0) & (exposures[rec] - onsets[np.clip(k, 0, None)] < 0.5)
        cams[label] = dict(
            pulses=np.round(exposures * FS) / FS,
            counter=rec + 17,
            gpio=high.astype(np.int64) << 28,
            camera_timestamps=encode_camera_timestamp(exposures[rec] * (1 + 3e-5) + 11.0),
            fps=fps,
            truth=exposures[rec],
        )
    return {"cameras": cams, "onsets": onsets}


def _write_session(s: dict, folder: Path) -> None:
    """Write the session's inputs as a session folder would hold them: the FPGA sync files
    (camera channels and the Bpod channel) and one ``frameData.bin`` per camera."""
    from pipeline.io.daq import (
        BPOD_TRIAL_CHANNEL,
        FPGA_SYNC,
        SyncArrays,
        write_bpod_task_data,
        write_sync,
    )
    from pipeline.io.framedata import FrameData, write_framedata
    from pipeline.rigs import FPGA_WIRINGS, camera_signal

    ch = FPGA_WIRINGS["3B"]
    # the cameras' GPIO follows the onsets here: the audio TTL is taken at the same times
    parts = [(s["onsets"], ch["bpod"], 1), (s["onsets"] + 0.1, ch["bpod"], -1)]
    parts += [(s["onsets"], ch["audio"], 1), (s["onsets"] + 0.1, ch["audio"], -1)]
    for label, cam in s["cameras"].items():
        c = ch[camera_signal(label)]
        parts += [(cam["pulses"], c, 1), (cam["pulses"] + 0.002, c, -1)]
        n = cam["counter"].size
        write_framedata(
            folder / f"{label}.frameData.bin",
            FrameData(np.zeros(n), cam["camera_timestamps"].astype(np.float64), cam["counter"], cam["gpio"]),
        )
    write_sync(folder / RAW_EPHYS_DIR, FPGA_SYNC, SyncArrays.from_edges(parts))
    trial_ttl = SyncArrays.from_edges([(s["onsets"], BPOD_TRIAL_CHANNEL, 1), (s["onsets"] + 1e-4, BPOD_TRIAL_CHANNEL, -1)])
    write_bpod_task_data(folder / RAW_BEHAVIOR_DIR, trial_ttl, np.column_stack([s["onsets"], s["onsets"] + 2]))


def _load_inputs(folder: Path) -> list:
    """The baseline: load the session's input arrays from disk, nothing else."""
    from pipeline.io.daq import load_daq_files
    from pipeline.io.framedata import read_framedata

    return [load_daq_files(folder)] + [read_framedata(folder / f"{label}.frameData.bin") for label in EPHYS_CAMERAS]


def _sync_end_to_end(folder: Path) -> list:
    """Ours: load the same files and compute every camera's frame times, QC and clock fit."""
    from pipeline.io.framedata import read_framedata
    from pipeline.io.spikeglx import Wiring
    from pipeline.rigs import FPGA_WIRINGS, camera_settings
    from pipeline.sync import frame_times_for_camera

    params = dict(max_dropped_fraction=0.001, fps_tolerance_hz=1.0, max_extrapolated_fraction=0.01, max_jitter_factor=2.0)
    rows = []
    for label in EPHYS_CAMERAS:
        fd = read_framedata(folder / f"{label}.frameData.bin")
        c = camera_settings("ephys", label)
        camera = dict(camera_label=label, sync_device="fpga", expected_fps=c.fps, expected_jitter_us=c.jitter_us)
        rows.append(frame_times_for_camera(folder, len(fd), fd, camera, params, f"bench {label} camera", Wiring(FPGA_WIRINGS["3B"], "3B")))
    return rows


@row("sync-1h-ephys")
def sync_1h_ephys() -> BenchResult:
    s = _session()

    def best_of(fn, repeats: int = REPEATS) -> float:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times)

    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        folder = Path(tmp)
        _write_session(s, folder)
        rows = _sync_end_to_end(folder)
        worst = max(
            float(np.abs(r["frame_times"] - cam["truth"]).max()) for r, cam in zip(rows, s["cameras"].values(), strict=True)
        )
        ours = best_of(lambda: _sync_end_to_end(folder))
        base = best_of(lambda: _load_inputs(folder))
    n = sum(c["counter"].size for c in s["cameras"].values())
    return BenchResult(
        row="sync-1h-ephys",
        seconds=ours,
        baseline="load the input arrays from disk (sync .npy + 3 frameData.bin)",
        baseline_seconds=base,
        ratio=ours / base,
        note=(
            f"3 cameras, {n} frames (216k@60 + 540k@150 + 108k@30 Hz), 0.1% drops, {s['onsets'].size} trial onsets; "
            f"end to end (load + sync + QC + clock fit); methods {', '.join(sorted({r['sync_method'] for r in rows}))}; "
            f"max |error| {worst * 1e6:.1f} us; best of {REPEATS}; target < 1 s"
        ),
    )
