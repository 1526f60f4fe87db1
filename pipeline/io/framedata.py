"""IBL's per-frame camera metadata file, ``_iblrig_<label>Camera.frameData.bin``.

Layout (DESIGN.md section 9): 4 float64 values per frame, little-endian, in this order:
computer time (seconds, the acquisition computer's clock), camera timestamp (the camera's
raw 32-bit cycle count, wraps every 128 s), frame counter (the camera's embedded count of
exposures; gaps reveal dropped frames), GPIO state (raw 32-bit register, pin bits 28-31).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

FRAMEDATA_COLUMNS = ("computer_time", "camera_timestamp", "frame_counter", "gpio")

#: The camera's 32-bit timestamp: seconds (7 bits, 0-127), cycle count (13 bits,
#: 8000 Hz) and cycle offset (12 bits); it wraps every 128 s.
CAMERA_TIMESTAMP_WRAP_S = 128.0


@dataclass(frozen=True)
class FrameData:
    """Per-frame metadata of one recording, one entry per video frame.

    Attributes
    ----------
    computer_time : (n,) float64
        Seconds on the acquisition computer's clock.
    camera_timestamp : (n,) float64
        Raw camera timestamp register (see :func:`unwrap_camera_timestamps`).
    frame_counter : (n,) int64
        Embedded frame counter; increments by 1 per exposure, so a step > 1 is a drop.
    gpio : (n,) int64
        Raw GPIO register; pin states are bits 28-31.
    """

    computer_time: np.ndarray
    camera_timestamp: np.ndarray
    frame_counter: np.ndarray
    gpio: np.ndarray

    def __len__(self) -> int:
        return len(self.frame_counter)

    def to_array(self) -> np.ndarray:
        """Return the ``(n, 4)`` float64 array in the file's column order."""
        return np.column_stack(
            [self.computer_time, self.camera_timestamp, self.frame_counter, self.gpio]
        ).astype(np.float64)


def read_framedata(path: Path | str) -> FrameData:
    """Read a ``frameData.bin`` file.

    Raises
    ------
    FileNotFoundError
        If the file is missing.
    ValueError
        If its size is not a whole number of 32-byte rows (a truncated file), naming the
        file and the byte counts.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"frameData file not found: {path}")
    size = path.stat().st_size
    if size % 32:
        raise ValueError(
            f"truncated frameData file {path}: {size} bytes is not a whole number of "
            f"32-byte frames ({size // 32} frames and {size % 32} bytes left over)"
        )
    data = np.fromfile(path, dtype="<f8").reshape(-1, 4)
    return FrameData(
        computer_time=data[:, 0].copy(),
        camera_timestamp=data[:, 1].copy(),
        frame_counter=data[:, 2].astype(np.int64),
        gpio=data[:, 3].astype(np.int64),
    )


def write_framedata(path: Path | str, frame_data: FrameData) -> Path:
    """Write ``frame_data`` in IBL's layout; returns the path."""
    frame_data.to_array().astype("<f8").tofile(path)
    return Path(path)


def camera_timestamp_seconds(raw: np.ndarray) -> np.ndarray:
    """Convert raw FLIR/PointGrey 32-bit timestamps to seconds in [0, 128) (still wrapped)."""
    raw = np.asarray(raw, dtype=np.int64)
    seconds = (raw >> 25) & 0x7F
    cycles = (raw >> 12) & 0x1FFF
    offset = raw & 0xFFF
    return seconds + (cycles + offset / 3072.0) / 8000.0


def encode_camera_timestamp(t: np.ndarray) -> np.ndarray:
    """Inverse of :func:`camera_timestamp_seconds` for times in seconds (wraps at 128 s)."""
    t = np.mod(np.asarray(t, dtype=np.float64), CAMERA_TIMESTAMP_WRAP_S)
    seconds = np.floor(t).astype(np.int64)
    frac_cycles = (t - seconds) * 8000.0
    cycles = np.floor(frac_cycles).astype(np.int64)
    offset = np.floor((frac_cycles - cycles) * 3072.0).astype(np.int64)
    return (seconds << 25) | (cycles << 12) | offset


def unwrap_camera_timestamps(raw: np.ndarray) -> np.ndarray:
    """Camera timestamps in seconds since the first frame, unwrapped across 128 s rollovers."""
    t = camera_timestamp_seconds(raw)
    if t.size == 0:
        return t
    steps = np.diff(t)
    wraps = np.concatenate([[0.0], np.cumsum(steps < 0) * CAMERA_TIMESTAMP_WRAP_S])
    return t + wraps - t[0]


def gpio_pin_state(gpio: np.ndarray, pin: int) -> np.ndarray:
    """Boolean state of GPIO ``pin`` (0-3) per frame, from the raw register's bits 28-31."""
    return (np.asarray(gpio, dtype=np.int64) >> (28 + pin)) & 1 == 1
