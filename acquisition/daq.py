"""Simulated DAQ of an IBL rig: camera TTLs, Bpod trial pulses, clocks, with exact truth.

:func:`simulate_daq` builds what the rig's devices record during one session:

- **Cameras.** Each camera exposes at its frame rate on its own clock (which drifts against
  the FPGA clock by ``camera_drift_ppm``), with i.i.d. jitter on each exposure, and emits a
  TTL pulse (high for the exposure time) at every exposure. A fraction ``drop_rate`` of the
  exposures is *dropped*: the pulse is there, the image is not, and the embedded frame
  counter of the next recorded frame jumps. Extra pulses with no frame at all (the DAQ
  running before the camera is armed, or after the video stops) may be added at the start
  and end; they are not counted by the frame counter.
- **FPGA** (ephys rigs): 30 kHz sampling; each camera's TTL, the Bpod's trial-onset pulses
  and the audio TTL on their channels of the wiring map ``config.fpga_wiring`` (one of
  :data:`pipeline.rigs.FPGA_WIRINGS`, ibllib's 3A and 3B maps; written beside the sync files
  as IBL's ``*.nidq.wiring.json``), as IBL's sync arrays (``times``, ``channels``, ``polarities`` with
  +1 for rising and -1 for falling edges), edge times quantised to the sample at or after
  the edge.
- **Bpod**: its clock is ``t_bpod = bpod_offset_s + t_fpga * (1 + bpod_drift_ppm * 1e-6)``,
  quantised to its 10 kHz cycle. It records trial onsets (channel 1) and the TTL of one
  camera (channel 0: the left camera on training rigs, the right camera on ephys rigs),
  but only *within trials*: pulses between a trial's end and the next onset are lost, as
  on IBL training rigs. ``trial_intervals_bpod_s`` are the trials' ``[start, end]``.
- **Audio**: one tone per trial, ``audio_delay_s`` after its onset (the go cue after the
  quiescent period), high for ``gpio_high_s``; on the FPGA's ``audio`` channel and as the
  Bpod's ``BNC2High``/``BNC2Low`` events.
- **Per-frame metadata** of every recorded frame: frame counter, the camera's raw 32-bit
  timestamp (:func:`pipeline.io.framedata.encode_camera_timestamp` of its own clock) and
  the GPIO register, whose pin ``gpio_pin`` (bit ``28 + pin``; IBL's pin 4 is 3) is high
  while the audio TTL is (IBL wires the sound card's TTL to the cameras).

The session clock of :mod:`acquisition.simulator` is the FPGA clock (on training rigs,
which have no FPGA, it is the true time; ``fpga_sync`` is then empty).

Jitter: DESIGN.md section 2 gives the standard deviation of the frame-to-frame *interval*
(195.6 us at 60 Hz, 143.2 us at 150 Hz). With i.i.d. per-exposure jitter ``sigma`` the
interval's std is ``sigma * sqrt(2)``, and quantising each edge to the FPGA's samples adds
a uniform error of variance ``q**2 / 12`` per edge (``q`` = one sample); ``sigma`` is chosen
so that the std of ``diff`` of the *recorded* pulse times equals the configured value.

Files: :func:`write_daq_files` writes IBL's sync and trial files, :func:`load_daq_files`
reads them back; :func:`save_truth` / :func:`load_truth` keep the simulation's ground truth
in ``simulation_truth/``.
"""

from __future__ import annotations

import dataclasses
import json
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from acquisition.simulator import SceneTruth, simulate_trial_onsets
from pipeline.io.daq import (  # noqa: F401  (re-exported: the DAQ file format lives in pipeline.io)
    BPOD_AUDIO_CHANNEL,
    BPOD_CAMERA_CHANNEL,
    BPOD_TRIAL_CHANNEL,
    FPGA_SYNC,
    DaqFiles,
    SyncArrays,
    load_daq_files,
    write_bpod_task_data,
    write_sync,
)
from pipeline.io.framedata import encode_camera_timestamp
from pipeline.io.spikeglx import write_wiring_file
from pipeline.layout import RAW_BEHAVIOR_DIR, RAW_EPHYS_DIR
from pipeline.rigs import FPGA_WIRINGS, RIG_TYPES, camera_settings, camera_signal, rig_cameras

__all__ = [
    "BPOD_CAMERA_CHANNEL",
    "BPOD_TRIAL_CHANNEL",
    "TRUTH_DIR",
    "CameraTiming",
    "DaqConfig",
    "DaqFiles",
    "SessionTruth",
    "SimulatedDaq",
    "SyncArrays",
    "load_daq_files",
    "load_truth",
    "save_truth",
    "simulate_daq",
    "write_daq_files",
]

#: Folder of the simulation's ground truth inside a session folder.
TRUTH_DIR = "simulation_truth"
#: The wiring file an IBL ephys rig keeps beside its NI-DAQ files.
WIRING_FILE = "_spikeglx_ephysData_g0_t0.nidq.wiring.json"


@dataclass(frozen=True)
class DaqConfig:
    """Settings of a simulated DAQ session.

    Attributes
    ----------
    fpga_rate_hz : float
        FPGA sampling rate, Hz.
    drop_rate : float
        Fraction of exposures dropped by each camera (pulse but no image), in [0, 1);
        ``round(drop_rate * N)`` exposures are dropped, never the first or last one.
    extra_pulses_start, extra_pulses_end : int
        Pulses with no frame before the first / after the last exposure, one frame period
        apart, on every camera.
    jitter_us : mapping of label to float, optional
        Standard deviation of the frame-to-frame interval on the DAQ, microseconds (default
        per camera: :func:`pipeline.rigs.camera_settings` ``.jitter_us``).
    fps : mapping of label to float, optional
        Frame rates, frames per second (default from :mod:`pipeline.rigs`).
    dropped_frames : mapping of label to sequence of int, optional
        Exposure indices to drop for that camera, replacing ``drop_rate`` for it.
    bpod_offset_s : float
        Bpod clock at FPGA time 0, s.
    bpod_drift_ppm : float
        Bpod clock rate error, parts per million (positive: the Bpod clock runs fast).
    bpod_rate_hz : float
        Bpod time resolution (state machine cycle), Hz.
    camera_drift_ppm : float
        Camera clock rate error against the FPGA clock, ppm (shifts the true frame rate and
        the embedded timestamps).
    camera_start_s : float
        First exposure of every camera no earlier than this (plus a random phase of up to
        one frame period), FPGA clock, s.
    camera_stop_margin_s : float
        Exposures end this long before the end of the session, s.
    first_trial_s : float
        First trial onset, s.
    trial_duration_s : (float, float)
        Range of trial durations (onset to next onset), s.
    inter_trial_gap_s : (float, float)
        Range of the Bpod's dead time between a trial's end and the next onset, s.
    trial_pulse_s : float
        Width of the Bpod's trial-onset pulse, s.
    gpio_pin : int
        GPIO pin (0-3) carrying the audio TTL (register bit ``28 + gpio_pin``; IBL's "pin 4"
        is 3).
    gpio_high_s : float
        Length of each audio tone (TTL high), s.
    gpio_base : int
        Register value with the audio TTL low (the bit of ``gpio_pin`` is cleared).
    audio_delay_s : (float, float)
        Range of the delay from a trial's onset to its tone, s.
    fpga_wiring : str
        The FPGA channel map (a key of :data:`pipeline.rigs.FPGA_WIRINGS`).
    frame_counter_start : int
        Frame counter of the first exposure.
    computer_latency_s : (float, float)
        Range of the delay from exposure to arrival on the acquisition computer, s.
    seed : int
        Random seed; the same config gives the same session.
    """

    fpga_rate_hz: float = 30000.0
    drop_rate: float = 0.0
    extra_pulses_start: int = 0
    extra_pulses_end: int = 0
    jitter_us: Mapping[str, float] | None = None
    fps: Mapping[str, float] | None = None
    dropped_frames: Mapping[str, Sequence[int]] | None = None
    bpod_offset_s: float = 3.2
    bpod_drift_ppm: float = 50.0
    bpod_rate_hz: float = 10000.0
    camera_drift_ppm: float = 5.0
    camera_start_s: float = 0.5
    camera_stop_margin_s: float = 0.5
    first_trial_s: float = 1.0
    trial_duration_s: tuple[float, float] = (3.0, 8.0)
    inter_trial_gap_s: tuple[float, float] = (0.1, 0.4)
    trial_pulse_s: float = 1e-4
    gpio_pin: int = 3
    gpio_high_s: float = 0.1
    gpio_base: int = 0
    audio_delay_s: tuple[float, float] = (0.2, 0.6)
    fpga_wiring: str = "3B"
    frame_counter_start: int = 0
    computer_latency_s: tuple[float, float] = (0.002, 0.008)
    seed: int = 0

    def to_dict(self) -> dict:
        """JSON-compatible dict of the settings."""
        out = dataclasses.asdict(self)
        for key in ("jitter_us", "fps"):
            if out[key] is not None:
                out[key] = {k: float(v) for k, v in out[key].items()}
        if out["dropped_frames"] is not None:
            out["dropped_frames"] = {
                k: [int(i) for i in v] for k, v in out["dropped_frames"].items()
            }
        for key in ("trial_duration_s", "inter_trial_gap_s", "computer_latency_s", "audio_delay_s"):
            out[key] = list(out[key])
        return out

    @classmethod
    def from_dict(cls, d: Mapping) -> DaqConfig:
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        for key in ("trial_duration_s", "inter_trial_gap_s", "computer_latency_s", "audio_delay_s"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)


@dataclass
class CameraTiming:
    """Timing and metadata of one simulated camera.

    Attributes
    ----------
    label : str
    fps : float
        Nominal frame rate (camera clock), frames per second.
    exposure_times_s : (N,) float64
        Every exposure (true start time), FPGA clock, s; a pulse is emitted for each.
    recorded : (N,) bool
        False for exposures the camera dropped (pulse, but no image).
    frame_counter : (n,) int64
        Embedded frame counter of the recorded frames (gaps at drops).
    camera_timestamp : (n,) int64
        Raw 32-bit FLIR timestamps of the recorded frames (camera clock, wraps every 128 s).
    gpio : (n,) int64
        Raw GPIO register of the recorded frames.
    pulse_times_s : (P,) float64
        Every TTL rising edge the camera emits, extra pulses included, FPGA clock,
        quantised to FPGA samples. ``P = N + extra_pulses_start + extra_pulses_end``. (For a
        camera wired to the Bpod only, the Bpod records those within trials; see
        ``SimulatedDaq.bpod_sync``.)
    frame_times_s : (n,) float64
        Truth: the exposure time of each recorded frame, FPGA clock, s.
    pulse_fall_times_s : (P,) float64
        Falling edges (end of exposure), FPGA clock, quantised.
    computer_time_s : (n,) float64
        Arrival time of each recorded frame on the acquisition computer (FPGA clock plus a
        random 2-8 ms latency), s.
    sync_device : str
        ``"fpga"`` or ``"bpod"``: where the camera's TTL goes.
    sync_channel : int
        Channel on that device (the FPGA's from the wiring map; the Bpod's
        :data:`BPOD_CAMERA_CHANNEL`).
    jitter_us : float
        Configured std of the frame-to-frame interval on the DAQ, microseconds.
    exposure_us : float
        TTL high time, microseconds.
    camera_drift_ppm : float
        Camera clock rate error against the FPGA clock, ppm.
    extra_pulses_start, extra_pulses_end : int
    """

    label: str
    fps: float
    exposure_times_s: np.ndarray
    recorded: np.ndarray
    frame_counter: np.ndarray
    camera_timestamp: np.ndarray
    gpio: np.ndarray
    pulse_times_s: np.ndarray
    frame_times_s: np.ndarray
    pulse_fall_times_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    computer_time_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sync_device: str = "fpga"
    sync_channel: int = 0
    jitter_us: float = 0.0
    exposure_us: float = 0.0
    camera_drift_ppm: float = 0.0
    extra_pulses_start: int = 0
    extra_pulses_end: int = 0

    @property
    def n_frames(self) -> int:
        """Number of recorded frames."""
        return len(self.frame_times_s)

    @property
    def dropped_indices(self) -> np.ndarray:
        """Exposure indices (0-based) of the dropped frames."""
        return np.flatnonzero(~self.recorded)

    _ARRAYS = (
        "exposure_times_s", "recorded", "frame_counter", "camera_timestamp", "gpio",
        "pulse_times_s", "frame_times_s", "pulse_fall_times_s", "computer_time_s",
    )  # fmt: skip
    _SCALARS = (
        "label", "fps", "sync_device", "sync_channel", "jitter_us", "exposure_us",
        "camera_drift_ppm", "extra_pulses_start", "extra_pulses_end",
    )  # fmt: skip


@dataclass
class SimulatedDaq:
    """Everything the rig's devices record during a simulated session.

    Attributes
    ----------
    rig_type : str
    duration_s : float
    config : DaqConfig
    cameras : dict[str, CameraTiming]
    trial_onsets_fpga_s : (m,) float64
        True trial onsets, FPGA clock, s.
    trial_onsets_bpod_s : (m,) float64
        Trial onsets as the Bpod timestamps them (its clock, quantised), s.
    trial_intervals_bpod_s : (m, 2) float64
        ``[start, end]`` of each trial, Bpod clock, s.
    trial_intervals_fpga_s : (m, 2) float64
        The same on the FPGA clock (true), s.
    bpod_offset_s, bpod_drift_ppm, fpga_rate_hz : float
    fpga_sync : SyncArrays
        FPGA clock (empty on training rigs).
    bpod_sync : SyncArrays
        Bpod clock; camera edges only within trials.
    bpod_camera : str or None
        Label of the camera whose TTL the Bpod records on channel 0.
    audio_onsets_fpga_s : (m,) float64
        True onsets of the audio TTL (one tone per trial), FPGA clock, s.
    """

    rig_type: str
    duration_s: float
    config: DaqConfig
    cameras: dict[str, CameraTiming]
    trial_onsets_fpga_s: np.ndarray
    trial_onsets_bpod_s: np.ndarray
    trial_intervals_bpod_s: np.ndarray
    trial_intervals_fpga_s: np.ndarray
    bpod_offset_s: float
    bpod_drift_ppm: float
    fpga_rate_hz: float
    fpga_sync: SyncArrays
    bpod_sync: SyncArrays
    bpod_camera: str | None = None
    audio_onsets_fpga_s: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def fpga_to_bpod(self, t: np.ndarray) -> np.ndarray:
        """FPGA-clock times (s) to the Bpod clock (s), exact (no quantisation)."""
        return self.bpod_offset_s + np.asarray(t, np.float64) * (1 + self.bpod_drift_ppm * 1e-6)

    def bpod_to_fpga(self, t: np.ndarray) -> np.ndarray:
        """Bpod-clock times (s) to the FPGA clock (s)."""
        return (np.asarray(t, np.float64) - self.bpod_offset_s) / (1 + self.bpod_drift_ppm * 1e-6)


def _rng(seed: int, stream: str) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(stream.encode())])


def _quantise(t: np.ndarray, rate_hz: float) -> np.ndarray:
    """Time of the first sample at or after ``t`` (s) on a clock sampled at ``rate_hz``."""
    return np.ceil(np.asarray(t, np.float64) * rate_hz - 1e-9) / rate_hz


def _per_camera(mapping: Mapping | None, label: str, default):
    if mapping is not None and label in mapping:
        return mapping[label]
    return default


def _check_config(config: DaqConfig, duration_s: float) -> None:
    if not duration_s > 0:
        raise ValueError(f"duration_s must be > 0, got {duration_s}")
    if not config.fpga_rate_hz > 0 or not config.bpod_rate_hz > 0:
        raise ValueError(
            f"sampling rates must be > 0, got fpga {config.fpga_rate_hz}, bpod {config.bpod_rate_hz}"
        )
    if not 0 <= config.drop_rate < 1:
        raise ValueError(f"drop_rate must be in [0, 1), got {config.drop_rate}")
    if config.extra_pulses_start < 0 or config.extra_pulses_end < 0:
        raise ValueError(
            f"extra pulses must be >= 0, got start {config.extra_pulses_start}, end {config.extra_pulses_end}"
        )
    if config.gpio_pin not in (0, 1, 2, 3):
        raise ValueError(f"gpio_pin must be 0-3, got {config.gpio_pin}")
    if config.fpga_wiring not in FPGA_WIRINGS:
        raise ValueError(f"unknown fpga_wiring {config.fpga_wiring!r}; known: {', '.join(FPGA_WIRINGS)}")
    lo, hi = config.audio_delay_s
    if not 0 <= lo <= hi or hi + config.gpio_high_s >= config.trial_duration_s[0] - config.inter_trial_gap_s[1]:
        raise ValueError(f"audio_delay_s {config.audio_delay_s} plus the tone must fit in the shortest trial")
    if (
        config.camera_start_s < 0
        or config.camera_start_s + config.camera_stop_margin_s >= duration_s
    ):
        raise ValueError(
            f"cameras start at {config.camera_start_s} s and stop {config.camera_stop_margin_s} s "
            f"before the end of a {duration_s} s session: no time left to record"
        )


def _simulate_camera(
    label: str,
    rig_type: str,
    duration_s: float,
    config: DaqConfig,
    audio_onsets: np.ndarray,
) -> tuple[CameraTiming, np.ndarray, np.ndarray]:
    """One camera's timing, and its true (unquantised) rising and falling edge times."""
    settings = camera_settings(rig_type, label)
    fps = float(_per_camera(config.fps, label, settings.fps))
    jitter_us = float(_per_camera(config.jitter_us, label, settings.jitter_us))
    if not fps > 0 or jitter_us < 0:
        raise ValueError(
            f"camera {label!r}: fps must be > 0 and jitter_us >= 0, got {fps}, {jitter_us}"
        )
    rng = _rng(config.seed, f"camera-{label}")
    drift = config.camera_drift_ppm * 1e-6
    period = 1.0 / fps / (1 + drift)  # camera-clock period, on the FPGA clock
    exposure_s = settings.exposure_us * 1e-6
    if exposure_s >= period:
        raise ValueError(
            f"camera {label!r}: exposure {settings.exposure_us} us does not fit in a {1e6 / fps:.0f} us frame"
        )
    start = config.camera_start_s + config.extra_pulses_start * period + rng.uniform(0, period)
    stop = duration_s - config.camera_stop_margin_s - config.extra_pulses_end * period
    n = int(np.ceil((stop - start) / period))
    if n < 2:
        raise ValueError(
            f"camera {label!r}: only {n} exposures fit between {start:.3f} s and {stop:.3f} s "
            f"(duration {duration_s} s, {config.extra_pulses_start}+{config.extra_pulses_end} extra pulses)"
        )
    k = np.arange(-config.extra_pulses_start, n + config.extra_pulses_end)
    # per-exposure jitter such that std(diff(quantised pulse times)) == jitter_us
    q = 1.0 / config.fpga_rate_hz
    var_interval = (jitter_us * 1e-6) ** 2 - 2 * q * q / 12
    sigma = np.sqrt(max(var_interval, 0.0) / 2)
    true_pulses = start + k * period + rng.normal(0.0, sigma, len(k))
    rises = _quantise(true_pulses, config.fpga_rate_hz)
    falls = _quantise(true_pulses + exposure_s, config.fpga_rate_hz)
    is_frame = (k >= 0) & (k < n)
    exposures = true_pulses[is_frame]

    dropped_cfg = _per_camera(config.dropped_frames, label, None)
    if dropped_cfg is not None:
        dropped = np.unique(np.asarray(dropped_cfg, np.int64))
        if dropped.size and (dropped.min() < 0 or dropped.max() >= n):
            raise ValueError(
                f"camera {label!r}: dropped_frames must be in [0, {n}), got {dropped.min()}..{dropped.max()}"
            )
    else:
        n_drop = int(round(config.drop_rate * n))
        if n_drop > n - 2:
            raise ValueError(f"camera {label!r}: cannot drop {n_drop} of {n} frames")
        dropped = (
            np.sort(rng.choice(np.arange(1, n - 1), size=n_drop, replace=False))
            if n_drop
            else np.zeros(0, np.int64)
        )
    recorded = np.ones(n, bool)
    recorded[dropped] = False
    frame_times = exposures[recorded]
    counter = (np.flatnonzero(recorded) + config.frame_counter_start).astype(np.int64)
    cam_clock0 = rng.uniform(0, 128.0)
    camera_timestamp = encode_camera_timestamp(cam_clock0 + frame_times * (1 + drift)).astype(
        np.int64
    )
    bit = 1 << (28 + config.gpio_pin)
    base = int(config.gpio_base) & ~bit
    if len(audio_onsets):
        j = np.searchsorted(audio_onsets, frame_times, side="right") - 1
        high = (j >= 0) & (frame_times - audio_onsets[np.clip(j, 0, None)] < config.gpio_high_s)
    else:
        high = np.zeros(len(frame_times), bool)
    gpio = np.where(high, base | bit, base).astype(np.int64)
    computer_time = (
        frame_times + exposure_s + rng.uniform(*config.computer_latency_s, len(frame_times))
    )
    timing = CameraTiming(
        label=label, fps=fps, exposure_times_s=exposures, recorded=recorded,
        frame_counter=counter, camera_timestamp=camera_timestamp, gpio=gpio,
        pulse_times_s=rises, frame_times_s=frame_times, pulse_fall_times_s=falls,
        computer_time_s=computer_time, sync_device=settings.sync_device,
        sync_channel=FPGA_WIRINGS[config.fpga_wiring][camera_signal(label)] if settings.sync_device == "fpga" else BPOD_CAMERA_CHANNEL,
        jitter_us=jitter_us, exposure_us=float(settings.exposure_us),
        camera_drift_ppm=float(config.camera_drift_ppm),
        extra_pulses_start=int(config.extra_pulses_start), extra_pulses_end=int(config.extra_pulses_end),
    )  # fmt: skip
    return timing, true_pulses, true_pulses + exposure_s


def simulate_daq(
    rig_type: str,
    duration_s: float,
    config: DaqConfig | None = None,
    cameras: Sequence[str] | None = None,
    *,
    trial_onsets_s: np.ndarray | None = None,
) -> SimulatedDaq:
    """Simulate the DAQ recordings of one session.

    Parameters
    ----------
    rig_type : str
        ``"training"`` (left camera, TTL to the Bpod) or ``"ephys"`` (left, right and body
        cameras on the FPGA; the right camera also on the Bpod).
    duration_s : float
        Session duration, s (FPGA clock).
    config : DaqConfig, optional
        Settings (default ``DaqConfig()``).
    cameras : sequence of str, optional
        Camera labels to simulate (default: all cameras of the rig).
    trial_onsets_s : (m,) array, optional
        Trial onsets on the FPGA clock, s (e.g. ``Behaviour.trial_onsets_s``). Default:
        :func:`acquisition.simulator.simulate_trial_onsets` with ``config.seed``, which is what
        ``Behaviour(duration_s, seed=config.seed)`` uses too.

    Returns
    -------
    SimulatedDaq

    Raises
    ------
    ValueError
        Unknown rig type or camera, or settings that do not fit the duration.
    """
    config = DaqConfig() if config is None else config
    if rig_type not in RIG_TYPES:
        raise ValueError(f"unknown rig type {rig_type!r}; known: {', '.join(sorted(RIG_TYPES))}")
    _check_config(config, duration_s)
    available = [c.label for c in rig_cameras(rig_type)]
    labels = list(available if cameras is None else cameras)
    unknown = [c for c in labels if c not in available]
    if unknown:
        raise ValueError(f"rig {rig_type!r} has no camera(s) {unknown}; it has {available}")
    if len(set(labels)) != len(labels):
        raise ValueError(f"cameras listed twice: {labels}")

    if trial_onsets_s is None:
        onsets = simulate_trial_onsets(
            duration_s, config.seed, first_onset_s=config.first_trial_s,
            trial_duration_s=config.trial_duration_s,
        )  # fmt: skip
    else:
        onsets = np.array(trial_onsets_s, np.float64).ravel()
        if np.any(np.diff(onsets) <= 0) or (
            onsets.size and (onsets[0] < 0 or onsets[-1] >= duration_s)
        ):
            raise ValueError(
                f"trial_onsets_s must be strictly increasing within [0, {duration_s}) s ({onsets.size} onsets)"
            )
    audio = onsets + _rng(config.seed, "audio").uniform(*config.audio_delay_s, len(onsets))
    simulated = {
        label: _simulate_camera(label, rig_type, duration_s, config, audio) for label in labels
    }
    timings = {label: sim[0] for label, sim in simulated.items()}

    # trials: each ends a little before the next onset (the Bpod's dead time)
    rng = _rng(config.seed, "bpod")
    m = len(onsets)
    gaps = rng.uniform(*config.inter_trial_gap_s, m)
    ends = np.append(
        onsets[1:] - gaps[:-1],
        min(onsets[-1] + config.trial_duration_s[1], duration_s) if m else [],
    )
    ends = np.maximum(ends, onsets + min(0.05, config.inter_trial_gap_s[0]))
    intervals_fpga = np.column_stack([onsets, ends]).reshape(-1, 2)
    drift = config.bpod_drift_ppm * 1e-6

    def to_bpod(t):
        return _quantise(config.bpod_offset_s + np.asarray(t) * (1 + drift), config.bpod_rate_hz)

    onsets_bpod = to_bpod(onsets)
    intervals_bpod = to_bpod(intervals_fpga).reshape(-1, 2)
    pulse_bpod = to_bpod(onsets + config.trial_pulse_s)
    pulse_bpod = np.maximum(pulse_bpod, onsets_bpod + 1.0 / config.bpod_rate_hz)

    # FPGA sync (ephys rigs)
    if rig_type == "training":
        fpga_sync = SyncArrays.empty()
    else:
        fs = config.fpga_rate_hz
        rise_fpga = _quantise(onsets, fs)
        fall_fpga = np.maximum(_quantise(onsets + config.trial_pulse_s, fs), rise_fpga + 1 / fs)
        wiring = FPGA_WIRINGS[config.fpga_wiring]
        audio_up = _quantise(audio, fs)
        parts = [
            (rise_fpga, wiring["bpod"], 1), (fall_fpga, wiring["bpod"], -1),
            (audio_up, wiring["audio"], 1), (np.maximum(_quantise(audio + config.gpio_high_s, fs), audio_up + 1 / fs), wiring["audio"], -1),
        ]  # fmt: skip
        for tm in timings.values():
            if tm.sync_device != "fpga":
                continue
            parts += [
                (tm.pulse_times_s, tm.sync_channel, 1),
                (tm.pulse_fall_times_s, tm.sync_channel, -1),
            ]
        fpga_sync = SyncArrays.from_edges(parts)

    # Bpod sync: trial onsets and one camera's edges within trials
    bpod_camera = "left" if rig_type == "training" else "right"
    bpod_camera = bpod_camera if bpod_camera in timings else None
    parts = [
        (onsets_bpod, BPOD_TRIAL_CHANNEL, 1), (pulse_bpod, BPOD_TRIAL_CHANNEL, -1),
        (to_bpod(audio), BPOD_AUDIO_CHANNEL, 1), (to_bpod(audio + config.gpio_high_s), BPOD_AUDIO_CHANNEL, -1),
    ]  # fmt: skip
    if bpod_camera is not None:
        _, true_rises, true_falls = simulated[bpod_camera]
        # the camera's true edges seen on the Bpod's clock
        for edges, pol in ((true_rises, 1), (true_falls, -1)):
            tb = to_bpod(edges)
            j = np.searchsorted(intervals_bpod[:, 0], tb, side="right") - 1
            inside = (
                (j >= 0) & (tb <= intervals_bpod[np.clip(j, 0, None), 1])
                if m
                else np.zeros(len(tb), bool)
            )
            parts.append((tb[inside], BPOD_CAMERA_CHANNEL, pol))
    bpod_sync = SyncArrays.from_edges(parts)
    return SimulatedDaq(
        rig_type=rig_type, duration_s=float(duration_s), config=config, cameras=timings,
        trial_onsets_fpga_s=onsets, trial_onsets_bpod_s=onsets_bpod,
        trial_intervals_bpod_s=intervals_bpod, trial_intervals_fpga_s=intervals_fpga,
        bpod_offset_s=float(config.bpod_offset_s), bpod_drift_ppm=float(config.bpod_drift_ppm),
        fpga_rate_hz=float(config.fpga_rate_hz), fpga_sync=fpga_sync, bpod_sync=bpod_sync,
        bpod_camera=bpod_camera, audio_onsets_fpga_s=audio,
    )  # fmt: skip


# --------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------


def write_daq_files(daq: SimulatedDaq, session_dir: Path | str) -> list[Path]:
    """Write the session's DAQ files as IBL's rigs do; returns the paths written.

    ``raw_ephys_data/_spikeglx_sync.{times,channels,polarities}.npy`` (ephys rigs, FPGA
    clock) with the wiring file :data:`WIRING_FILE`, and ``raw_behavior_data/_iblrig_taskData.raw.jsonable`` (the Bpod's trials with
    the camera's ``Port1In``/``Port1Out`` events, Bpod clock).
    """
    session_dir = Path(session_dir)
    paths: list[Path] = []
    if daq.rig_type != "training":
        paths += write_sync(session_dir / RAW_EPHYS_DIR, FPGA_SYNC, daq.fpga_sync)
        wiring = daq.config.fpga_wiring
        paths.append(write_wiring_file(session_dir / RAW_EPHYS_DIR / WIRING_FILE, wiring, FPGA_WIRINGS[wiring]))
    paths.append(write_bpod_task_data(session_dir / RAW_BEHAVIOR_DIR, daq.bpod_sync, daq.trial_intervals_bpod_s))
    return paths


# --------------------------------------------------------------------------------------
# Ground truth
# --------------------------------------------------------------------------------------


@dataclass
class SessionTruth:
    """What :func:`load_truth` returns.

    Attributes
    ----------
    session : dict
        Contents of ``simulation_truth/session.json``: ``rig_type``, ``duration_s``,
        ``fpga_rate_hz``, ``bpod_offset_s``, ``bpod_drift_ppm``, ``bpod_camera``,
        ``config`` (``DaqConfig.to_dict()``), ``cameras``, ``trial_onsets_fpga_s``,
        ``trial_onsets_bpod_s``, ``trial_intervals_bpod_s``, and when a behaviour was given
        ``behaviour_seed``, ``lick_intervals_s``, ``blink_intervals_s``.
    timing : dict[str, CameraTiming]
    scenes : dict[str, SceneTruth]
        Only the cameras whose scene truth was saved.
    """

    session: dict
    timing: dict[str, CameraTiming]
    scenes: dict[str, SceneTruth]

    @property
    def lick_intervals_s(self) -> np.ndarray:
        """(k, 2) true licks, FPGA clock, s (empty if no behaviour was saved)."""
        return np.asarray(self.session.get("lick_intervals_s", []), np.float64).reshape(-1, 2)


def save_truth(
    session_dir: Path | str,
    daq: SimulatedDaq,
    scenes: Mapping[str, SceneTruth] | None = None,
    behaviour=None,
) -> list[Path]:
    """Save the simulation's ground truth in ``<session_dir>/simulation_truth/``.

    Parameters
    ----------
    session_dir : path
        Session folder.
    daq : SimulatedDaq
        Its timing of every camera goes to ``<label>Camera.truth.npz``.
    scenes : mapping of label to SceneTruth, optional
        Scene truth per camera (normally of the recorded frames,
        ``scene.truth(daq.cameras[label].frame_times_s)``), saved in the same file.
    behaviour : acquisition.simulator.Behaviour, optional
        Its licks and blinks go to ``session.json``.

    Returns
    -------
    list of Path
        ``session.json`` and one ``.npz`` per camera.
    """
    folder = Path(session_dir) / TRUTH_DIR
    folder.mkdir(parents=True, exist_ok=True)
    scenes = dict(scenes or {})
    unknown = sorted(set(scenes) - set(daq.cameras))
    if unknown:
        raise ValueError(
            f"scene truth for camera(s) {unknown} not in the DAQ's cameras {sorted(daq.cameras)}"
        )
    info = {
        "rig_type": daq.rig_type,
        "duration_s": daq.duration_s,
        "fpga_rate_hz": daq.fpga_rate_hz,
        "bpod_offset_s": daq.bpod_offset_s,
        "bpod_drift_ppm": daq.bpod_drift_ppm,
        "bpod_camera": daq.bpod_camera,
        "config": daq.config.to_dict(),
        "cameras": sorted(daq.cameras),
        "trial_onsets_fpga_s": daq.trial_onsets_fpga_s.tolist(),
        "trial_onsets_bpod_s": daq.trial_onsets_bpod_s.tolist(),
        "trial_intervals_bpod_s": daq.trial_intervals_bpod_s.tolist(),
        "trial_intervals_fpga_s": daq.trial_intervals_fpga_s.tolist(),
    }
    if behaviour is not None:
        info["behaviour_seed"] = int(behaviour.seed)
        info["lick_intervals_s"] = behaviour.lick_intervals_s.tolist()
        info["blink_intervals_s"] = behaviour.blink_intervals_s.tolist()
    path = folder / "session.json"
    path.write_text(json.dumps(info, indent=1))
    paths = [path]
    for label, tm in daq.cameras.items():
        arrays: dict[str, np.ndarray] = {
            f"timing/{k}": getattr(tm, k) for k in CameraTiming._ARRAYS
        }
        meta = {k: getattr(tm, k) for k in CameraTiming._SCALARS}
        sc = scenes.get(label)
        if sc is not None:
            arrays.update(
                {
                    "scene/times_s": sc.times_s,
                    "scene/pupil_diameter_px": sc.pupil_diameter_px,
                    "scene/tongue_out": sc.tongue_out,
                    "scene/blinking": sc.blinking,
                    "scene/lick_intervals_s": sc.lick_intervals_s,
                }
            )
            arrays.update({f"point/{k}": v for k, v in sc.points.items()})
            arrays.update({f"extra/{k}": v for k, v in sc.extra_points.items()})
            meta["scene"] = {
                "label": sc.label, "width": sc.width, "height": sc.height,
                "visible_points": list(sc.visible_points), "points": list(sc.points),
            }  # fmt: skip
        arrays["meta"] = np.array(json.dumps(meta))
        path = folder / f"{label}Camera.truth.npz"
        np.savez_compressed(path, **arrays)
        paths.append(path)
    return paths


def load_truth(session_dir: Path | str) -> SessionTruth:
    """Read what :func:`save_truth` wrote.

    Raises
    ------
    FileNotFoundError
        If ``simulation_truth/session.json`` or a camera's ``.npz`` listed in it is missing.
    """
    folder = Path(session_dir) / TRUTH_DIR
    path = folder / "session.json"
    if not path.is_file():
        raise FileNotFoundError(f"simulation truth not found: {path}")
    info = json.loads(path.read_text())
    timing: dict[str, CameraTiming] = {}
    scenes: dict[str, SceneTruth] = {}
    for label in info["cameras"]:
        npz_path = folder / f"{label}Camera.truth.npz"
        if not npz_path.is_file():
            raise FileNotFoundError(f"truth file of camera {label!r} not found: {npz_path}")
        with np.load(npz_path) as z:
            meta = json.loads(str(z["meta"]))
            scene_meta = meta.pop("scene", None)
            timing[label] = CameraTiming(
                **meta, **{k: z[f"timing/{k}"] for k in CameraTiming._ARRAYS}
            )
            if scene_meta is not None:
                scenes[label] = SceneTruth(
                    times_s=z["scene/times_s"],
                    points={k: z[f"point/{k}"] for k in scene_meta["points"]},
                    pupil_diameter_px=z["scene/pupil_diameter_px"],
                    tongue_out=z["scene/tongue_out"],
                    blinking=z["scene/blinking"],
                    extra_points={
                        k[len("extra/") :]: z[k] for k in z.files if k.startswith("extra/")
                    },
                    lick_intervals_s=z["scene/lick_intervals_s"],
                    label=scene_meta["label"],
                    width=int(scene_meta["width"]),
                    height=int(scene_meta["height"]),
                    visible_points=tuple(scene_meta["visible_points"]),
                )
    return SessionTruth(session=info, timing=timing, scenes=scenes)
