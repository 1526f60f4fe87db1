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

    @classmethod
    def from_array(cls, array) -> FrameData:
        """Inverse of :meth:`to_array` (exact: every column is an integer below 2**53 or seconds)."""
        a = np.asarray(array, np.float64).reshape(-1, 4)
        return cls(computer_time=a[:, 0].copy(), camera_timestamp=a[:, 1].copy(),
                   frame_counter=a[:, 2].astype(np.int64), gpio=a[:, 3].astype(np.int64))  # fmt: skip


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


#: The older per-camera metadata files IBL's rigs wrote before ``frameData.bin``
#: (iblrig < 7): one float64 per frame each, and a text file of "<ISO time> <camera timestamp>".
LEGACY_FILES = ("GPIO.bin", "frame_counter.bin", "timestamps.ssv")


def legacy_paths(video_dir: Path | str, label: str) -> dict[str, Path]:
    """``_iblrig_<label>Camera.{GPIO.bin,frame_counter.bin,timestamps.ssv}`` in ``video_dir``."""
    return {name: Path(video_dir) / f"_iblrig_{label}Camera.{name}" for name in LEGACY_FILES}


def read_legacy_framedata(video_dir: Path | str, label: str) -> FrameData | None:
    """Per-frame metadata from the three older files, as one :class:`FrameData`; None if none exist.

    ``frame_counter.bin`` and ``GPIO.bin`` hold one float64 per frame (the embedded count and
    the raw GPIO register); ``timestamps.ssv`` one line per frame with the acquisition
    computer's ISO time and the camera's raw timestamp, in either order (as ibllib's
    ``load_camera_ssv_times`` reads it). Computer times become POSIX seconds of the
    computer's local time (the offset is dropped, as numpy does).

    Raises
    ------
    FileNotFoundError
        If some of the three files exist but not all (the message names the missing ones).
    ValueError
        If the files disagree on the number of frames, or a line of the ``.ssv`` does not
        parse (the message names the file and the line).
    """
    paths = legacy_paths(video_dir, label)
    present = {name: p for name, p in paths.items() if p.is_file()}
    if not present:
        return None
    if len(present) < len(paths):
        missing = [str(p) for name, p in paths.items() if name not in present]
        raise FileNotFoundError(f"camera metadata of the {label} camera is incomplete: missing {', '.join(missing)}")
    counter = np.fromfile(paths["frame_counter.bin"], dtype="<f8")
    gpio = np.fromfile(paths["GPIO.bin"], dtype="<f8")
    computer, camera = [], []
    with open(paths["timestamps.ssv"]) as f:
        for number, line in enumerate(f, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2:
                raise ValueError(f"{paths['timestamps.ssv']}, line {number}: expected '<time> <camera timestamp>', got {line.strip()!r}")
            stamp, iso = (fields[0], fields[1]) if fields[0].isdigit() else (fields[1], fields[0])
            try:
                camera.append(int(stamp))
                computer.append(np.datetime64(iso[:26] if "T" in iso else iso, "us").astype(np.int64) / 1e6)
            except ValueError as exc:
                raise ValueError(f"{paths['timestamps.ssv']}, line {number}: {exc}") from None
    sizes = {"frame_counter.bin": len(counter), "GPIO.bin": len(gpio), "timestamps.ssv": len(camera)}
    if len(set(sizes.values())) != 1:
        raise ValueError(
            f"camera metadata files of the {label} camera disagree on the number of frames: "
            + ", ".join(f"{paths[name]} has {n}" for name, n in sizes.items())
        )
    return FrameData(
        computer_time=np.asarray(computer, np.float64), camera_timestamp=np.asarray(camera, np.float64),
        frame_counter=counter.astype(np.int64), gpio=gpio.astype(np.uint32).astype(np.int64),
    )  # fmt: skip
