"""A session's DAQ files as IBL's rigs write them.

``raw_ephys_data/_spikeglx_sync.{times,channels,polarities}.npy``: the ephys FPGA's edges
(seconds on the FPGA clock; channel numbers as the rig's wiring says; polarity +1 rising,
-1 falling). ``raw_behavior_data/_iblrig_taskData.raw.jsonable``: the Bpod's trials
(:mod:`pipeline.io.iblrig`), read into the same edge format on the Bpod clock (seconds
from Bpod start): channel :data:`BPOD_CAMERA_CHANNEL` holds the camera TTL (``Port1In``
rising, ``Port1Out`` falling; recorded only within trials), :data:`BPOD_TRIAL_CHANNEL`
each trial's start TTL (its ``trial_start`` state), :data:`BPOD_AUDIO_CHANNEL` the audio TTL
(``BNC2High``/``BNC2Low``). Which FPGA channel holds which signal is the session's wiring
(:mod:`pipeline.io.spikeglx`). An ephys session needs no Bpod file to time its frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.io.iblrig import TASK_DATA, BpodData, read_task_data, write_task_data
from pipeline.layout import RAW_BEHAVIOR_DIR, RAW_EPHYS_DIR

#: Channels of the Bpod's edges in :attr:`DaqFiles.bpod_sync` (read from the jsonable).
BPOD_CAMERA_CHANNEL = 0
BPOD_TRIAL_CHANNEL = 1
BPOD_AUDIO_CHANNEL = 2
FPGA_SYNC = "_spikeglx_sync"


@dataclass(frozen=True)
class SyncArrays:
    """IBL's sync format: one row per edge, sorted by time.

    Attributes
    ----------
    times : (e,) float64
        Edge times, s, on the device's clock.
    channels : (e,) int64
        Channel of each edge.
    polarities : (e,) int64
        +1 rising, -1 falling.
    """

    times: np.ndarray
    channels: np.ndarray
    polarities: np.ndarray

    def __len__(self) -> int:
        return len(self.times)

    def edges(self, channel: int, polarity: int = 1) -> np.ndarray:
        """Times of the edges of ``polarity`` on ``channel``, s."""
        sel = (self.channels == channel) & (self.polarities == polarity)
        return self.times[sel]

    @classmethod
    def empty(cls) -> SyncArrays:
        return cls(np.zeros(0), np.zeros(0, np.int64), np.zeros(0, np.int64))

    @classmethod
    def from_edges(cls, parts: Sequence[tuple[np.ndarray, int, int]]) -> SyncArrays:
        """Merge ``(times, channel, polarity)`` groups into time order (stable)."""
        if not parts:
            return cls.empty()
        times = np.concatenate([np.asarray(t, np.float64) for t, _, _ in parts])
        channels = np.concatenate([np.full(len(t), c, np.int64) for t, c, _ in parts])
        pol = np.concatenate([np.full(len(t), p, np.int64) for t, _, p in parts])
        order = np.argsort(times, kind="stable")
        return cls(times[order], channels[order], pol[order])


@dataclass(frozen=True)
class DaqFiles:
    """The DAQ files of a session folder, as read by :func:`load_daq_files`.

    Attributes
    ----------
    fpga_sync : SyncArrays or None
        ``raw_ephys_data/_spikeglx_sync.*`` (None when the session has none: training rig).
    bpod_sync : SyncArrays or None
        The camera, trial-start and audio TTLs of ``raw_behavior_data/_iblrig_taskData.raw.jsonable``
        as edges, Bpod clock (None when an ephys session has no Bpod file).
    trial_intervals_bpod_s : (m, 2) float64 or None
        Trial start and end from the same file, Bpod clock.
    bpod_trials_without_camera : list of int
        Trials (1-based) in which the Bpod saw no camera pulse: skipped for the camera TTL.
    """

    fpga_sync: SyncArrays | None
    bpod_sync: SyncArrays | None
    trial_intervals_bpod_s: np.ndarray | None
    bpod_trials_without_camera: list[int]


def bpod_sync_arrays(bpod: BpodData) -> SyncArrays:
    """The Bpod's camera and trial-start TTLs as edges (channels as :data:`BPOD_CAMERA_CHANNEL`)."""
    return SyncArrays.from_edges([
        (bpod.camera_rises_s, BPOD_CAMERA_CHANNEL, 1), (bpod.camera_falls_s, BPOD_CAMERA_CHANNEL, -1),
        (bpod.trial_start_ttl_s[:, 0], BPOD_TRIAL_CHANNEL, 1), (bpod.trial_start_ttl_s[:, 1], BPOD_TRIAL_CHANNEL, -1),
        (bpod.audio_rises_s, BPOD_AUDIO_CHANNEL, 1), (bpod.audio_falls_s, BPOD_AUDIO_CHANNEL, -1),
    ])  # fmt: skip


def write_bpod_task_data(folder: Path, bpod_sync: SyncArrays, trial_intervals_s: np.ndarray) -> Path:
    """Write Bpod edges and trials (Bpod clock) as ``_iblrig_taskData.raw.jsonable`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    ttl = np.column_stack([bpod_sync.edges(BPOD_TRIAL_CHANNEL, 1), bpod_sync.edges(BPOD_TRIAL_CHANNEL, -1)])
    return write_task_data(
        folder / TASK_DATA, trial_intervals_s, ttl,
        bpod_sync.edges(BPOD_CAMERA_CHANNEL, 1), bpod_sync.edges(BPOD_CAMERA_CHANNEL, -1),
        bpod_sync.edges(BPOD_AUDIO_CHANNEL, 1), bpod_sync.edges(BPOD_AUDIO_CHANNEL, -1),
    )  # fmt: skip


def write_sync(folder: Path, stem: str, sync: SyncArrays) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, arr, dtype in (
        ("times", sync.times, np.float64),
        ("channels", sync.channels, np.int64),
        ("polarities", sync.polarities, np.int64),
    ):
        path = folder / f"{stem}.{name}.npy"
        np.save(path, np.asarray(arr, dtype))
        paths.append(path)
    return paths


def read_sync(folder: Path, stem: str) -> SyncArrays:
    paths = {name: folder / f"{stem}.{name}.npy" for name in ("times", "channels", "polarities")}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"missing sync file(s): {', '.join(missing)}")
    arrays = {name: np.load(p) for name, p in paths.items()}
    sizes = {name: len(a) for name, a in arrays.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"sync files {folder / stem}.* have different lengths: {sizes}")
    return SyncArrays(
        times=arrays["times"].astype(np.float64),
        channels=arrays["channels"].astype(np.int64),
        polarities=arrays["polarities"].astype(np.int64),
    )


def load_daq_files(session_dir: Path | str) -> DaqFiles:
    """Read a session's FPGA sync (if any) and its Bpod task data.

    Raises
    ------
    FileNotFoundError
        If the session folder is missing, or it has neither FPGA sync files nor
        ``raw_behavior_data/_iblrig_taskData.raw.jsonable`` (each alone is enough: a training
        session has no FPGA, an ephys session's frames need no Bpod).
    ValueError
        If a sync file set has arrays of different lengths, or the task data is malformed
        (the message names the file and the trial).
    """
    session_dir = Path(session_dir)
    if not session_dir.is_dir():
        raise FileNotFoundError(f"session folder not found: {session_dir}")
    ephys = session_dir / RAW_EPHYS_DIR
    fpga = read_sync(ephys, FPGA_SYNC) if (ephys / f"{FPGA_SYNC}.times.npy").is_file() else None
    task_data = session_dir / RAW_BEHAVIOR_DIR / TASK_DATA
    if fpga is not None and not task_data.is_file():
        return DaqFiles(fpga_sync=fpga, bpod_sync=None, trial_intervals_bpod_s=None, bpod_trials_without_camera=[])
    bpod = read_task_data(task_data)
    return DaqFiles(
        fpga_sync=fpga, bpod_sync=bpod_sync_arrays(bpod), trial_intervals_bpod_s=bpod.trial_intervals_s,
        bpod_trials_without_camera=bpod.trials_without_camera,
    )  # fmt: skip
