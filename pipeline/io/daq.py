"""DAQ sync files in IBL's format (one row per edge) and the Bpod trial intervals.

``raw_ephys_data/_spikeglx_sync.{times,channels,polarities}.npy``: the ephys FPGA's edges
(seconds on the FPGA clock; channel numbers as :data:`pipeline.rigs.FPGA_CHANNELS`;
polarity +1 rising, -1 falling). ``raw_behavior_data/_iblrig_bpod.sync.*``: the Bpod's
edges in the same format on the Bpod clock (channel :data:`BPOD_CAMERA_CHANNEL`: camera
TTL, recorded only within trials; :data:`BPOD_TRIAL_CHANNEL`: trial onsets).
``raw_behavior_data/_iblrig_trials.intervals.npy``: ``(m, 2)`` trial start and end, Bpod
clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.layout import RAW_BEHAVIOR_DIR, RAW_EPHYS_DIR

#: Bpod sync channels.
BPOD_CAMERA_CHANNEL = 0
BPOD_TRIAL_CHANNEL = 1
FPGA_SYNC = "_spikeglx_sync"
BPOD_SYNC = "_iblrig_bpod.sync"
TRIAL_INTERVALS = "_iblrig_trials.intervals.npy"


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
    bpod_sync : SyncArrays
        ``raw_behavior_data/_iblrig_bpod.sync.*``, Bpod clock.
    trial_intervals_bpod_s : (m, 2) float64
        ``raw_behavior_data/_iblrig_trials.intervals.npy``, Bpod clock.
    """

    fpga_sync: SyncArrays | None
    bpod_sync: SyncArrays
    trial_intervals_bpod_s: np.ndarray


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
    """Read the files :func:`write_daq_files` writes.

    Raises
    ------
    FileNotFoundError
        If the session folder, the Bpod sync files or the trial intervals are missing
        (the FPGA sync is optional: None when ``raw_ephys_data`` has none).
    ValueError
        If a sync file set has arrays of different lengths.
    """
    session_dir = Path(session_dir)
    if not session_dir.is_dir():
        raise FileNotFoundError(f"session folder not found: {session_dir}")
    ephys = session_dir / RAW_EPHYS_DIR
    fpga = read_sync(ephys, FPGA_SYNC) if (ephys / f"{FPGA_SYNC}.times.npy").is_file() else None
    behavior = session_dir / RAW_BEHAVIOR_DIR
    bpod = read_sync(behavior, BPOD_SYNC)
    path = behavior / TRIAL_INTERVALS
    if not path.is_file():
        raise FileNotFoundError(f"trial intervals file not found: {path}")
    intervals = np.load(path).astype(np.float64).reshape(-1, 2)
    return DaqFiles(fpga_sync=fpga, bpod_sync=bpod, trial_intervals_bpod_s=intervals)
