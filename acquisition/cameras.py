"""Camera interface for acquisition, shaped like FLIR's PySpin examples.

One abstract :class:`Camera` (a context manager) with the life cycle of FLIR's
``Acquisition.py`` example: open (``Init``), :meth:`Camera.configure` (node map settings),
:meth:`Camera.start` (``BeginAcquisition``), :meth:`Camera.grab` (``GetNextImage`` +
``Release``), :meth:`Camera.stop` (``EndAcquisition``) and :meth:`Camera.close` (``DeInit``).
:func:`open_camera` picks a backend:

``"simulated"``
    :class:`SimulatedCamera`: replays one camera of the simulator
    (``acquisition.simulator.MouseScene`` for the pictures, ``acquisition.daq.CameraTiming``
    for the frame counter, camera timestamp and GPIO of every *recorded* frame, in order;
    frames the simulated camera dropped are absent and show as counter gaps). Frames are
    rendered in chunks, so a session is never held in memory. When every frame has been
    grabbed, :meth:`Camera.grab` raises :class:`EndOfStream`.
``"pyspin"``
    :class:`PySpinCamera`: a FLIR camera through FLIR's Spinnaker SDK. ``PySpin`` is imported
    only when this backend is asked for; it comes from FLIR's own ``spinnaker_python`` wheel
    (not on PyPI; the PyPI package ``pyspin`` is an unrelated terminal spinner).
``"pylon"``
    :class:`PylonCamera`: a Basler camera through ``pypylon``. With ``emulation=N`` (or the
    environment variable ``PYLON_CAMEMU=N``) pylon's built-in camera emulation provides ``N``
    virtual cameras, which is how this backend runs without hardware (see the class
    docstring for what the emulated camera does and does not provide).

Every :class:`GrabbedFrame` carries IBL's per-frame metadata (DESIGN.md section 9): the
embedded frame counter, the camera timestamp in FLIR/PointGrey's raw 32-bit format
(:func:`pipeline.io.framedata.encode_camera_timestamp`; it wraps every 128 s), the raw GPIO
register (pin ``k`` in bit ``28 + k``) and the computer time at which the frame arrived.
"""

from __future__ import annotations

import abc
import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.io.framedata import encode_camera_timestamp

__all__ = [
    "BACKENDS",
    "Camera",
    "CameraConfig",
    "CameraError",
    "EndOfStream",
    "GrabTimeout",
    "GrabbedFrame",
    "PylonCamera",
    "PySpinCamera",
    "SettingsReport",
    "SimulatedCamera",
    "configure_spinnaker_nodemap",
    "gpio_from_line_status",
    "import_pyspin",
    "open_camera",
]

BACKENDS = ("simulated", "pyspin", "pylon")

#: Bit of the IBL GPIO register that holds GPIO pin 0 (pins 0-3 are bits 28-31).
GPIO_SHIFT = 28

SPINNAKER_WHEEL_MESSAGE = (
    "the 'pyspin' camera backend needs FLIR's Spinnaker SDK Python bindings (import name "
    "'PySpin'), which come from FLIR's own 'spinnaker_python' wheel: download the Spinnaker SDK "
    "and its Python wheel for your platform from FLIR/Teledyne's website and `pip install "
    "spinnaker_python-<version>-<platform>.whl`. The PyPI package named 'pyspin' is an unrelated "
    "terminal spinner; do not install it. Use backend='simulated' (or 'pylon' with "
    "PYLON_CAMEMU) to run without a FLIR camera."
)


class CameraError(RuntimeError):
    """A camera could not be found, configured or read; the message names the camera."""


class EndOfStream(CameraError):
    """A finite camera (the simulated backend) has delivered all of its frames."""


class GrabTimeout(CameraError):
    """No frame arrived within the timeout given to :meth:`Camera.grab`."""


@dataclass(frozen=True)
class CameraConfig:
    """Fixed acquisition settings of one camera (DESIGN.md section 2).

    Attributes
    ----------
    fps : float
        Frame rate, frames per second (free-running; ``AcquisitionFrameRate``).
    exposure_us : float
        Exposure time, microseconds; must be shorter than the frame period ``1e6 / fps``.
    gain_db : float
        Sensor gain, dB (automatic gain off).
    pixel_format : str
        Only ``"Mono8"`` (8-bit grey, IBL's format) is supported.
    width, height : int or None
        Image size in pixels; None keeps the camera's current size.
    ttl_line : str or None
        Output line that carries the exposure-active TTL to the DAQ (``LineSelector`` with
        ``LineMode = Output`` and ``LineSource = ExposureActive``); None leaves the lines alone.
    """

    fps: float
    exposure_us: float
    gain_db: float = 0.0
    pixel_format: str = "Mono8"
    width: int | None = None
    height: int | None = None
    ttl_line: str | None = "Line2"

    def __post_init__(self) -> None:
        if not np.isfinite(self.fps) or self.fps <= 0:
            raise ValueError(f"fps must be a positive number of frames per second, got {self.fps}")
        period_us = 1e6 / self.fps
        if not np.isfinite(self.exposure_us) or not 0 < self.exposure_us < period_us:
            raise ValueError(
                f"exposure_us must be in (0, {period_us:.1f}) us, the frame period at "
                f"{self.fps} fps; got {self.exposure_us}"
            )
        if not np.isfinite(self.gain_db):
            raise ValueError(f"gain_db must be finite, got {self.gain_db}")
        if self.pixel_format != "Mono8":
            raise ValueError(
                f"pixel_format {self.pixel_format!r} is not supported; recordings are 8-bit grey "
                "('Mono8')"
            )
        for name in ("width", "height"):
            value = getattr(self, name)
            if value is not None and (int(value) != value or value <= 0):
                raise ValueError(f"{name} must be a positive whole number of pixels, got {value}")

    @classmethod
    def from_settings(
        cls, settings: Any, *, scale: float = 1.0, ttl_line: str | None = "Line2"
    ) -> CameraConfig:
        """Config from a :class:`pipeline.rigs.CameraSettings` row, the size scaled by ``scale``.

        Scaled sizes are rounded to even numbers of pixels (at least 16).
        """
        width, height = scaled_size(settings.width, settings.height, scale)
        return cls(
            fps=float(settings.fps),
            exposure_us=float(settings.exposure_us),
            gain_db=float(settings.gain_db),
            width=width,
            height=height,
            ttl_line=ttl_line,
        )


def scaled_size(width: int, height: int, scale: float) -> tuple[int, int]:
    """``(width, height)`` times ``scale``, rounded to even pixel counts of at least 16."""
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"scale must be a positive number, got {scale}")
    return (
        max(16, 2 * int(round(width * scale / 2))),
        max(16, 2 * int(round(height * scale / 2))),
    )


@dataclass(frozen=True)
class GrabbedFrame:
    """One frame and its metadata.

    Attributes
    ----------
    image : (height, width) uint8
        Grey image.
    frame_counter : int
        The camera's embedded count of exposures (a step > 1 between frames is a drop).
    camera_timestamp : int
        Raw 32-bit camera timestamp (FLIR/PointGrey format: 7 bits of seconds, 13 bits of
        8 kHz cycles, 12 bits of cycle offset; wraps every 128 s).
    gpio : int
        Raw GPIO register; pin ``k`` (0-3) is bit ``28 + k``.
    computer_time : float
        Seconds on the acquisition computer's clock (``time.time()`` epoch) when the frame
        was received.
    """

    image: np.ndarray
    frame_counter: int
    camera_timestamp: int
    gpio: int
    computer_time: float = field(default_factory=time.time)


def gpio_from_line_status(line_status_all: int) -> int:
    """IBL GPIO register from a ``LineStatusAll``-style bit field (line ``k`` in bit ``k``).

    Lines 0-3 go to bits 28-31, where :func:`pipeline.io.framedata.gpio_pin_state` reads them.
    """
    return (int(line_status_all) & 0xF) << GPIO_SHIFT


class Camera(abc.ABC):
    """One camera: ``configure`` -> ``start`` -> ``grab`` ... -> ``stop`` -> ``close``.

    Use as a context manager (``with open_camera(...) as cam:``) so that the camera is
    stopped and released even on errors. Subclasses set :attr:`label`, :attr:`serial`,
    :attr:`backend` and :attr:`paced`.

    Attributes
    ----------
    label : str
        Camera label (e.g. ``"left"``), used in file names.
    serial : str
        The device's serial number (or a name for simulated cameras).
    backend : str
        One of :data:`BACKENDS`.
    paced : bool
        True when frames arrive at the camera's own rate whatever the reader does (real
        cameras, real-time simulation). The recorder drops frames for a paced camera when its
        queue is full; for an unpaced camera (as-fast-as-possible simulation) it waits.
    config : CameraConfig or None
        The configuration applied by :meth:`configure`.
    missing_features : tuple of str
        Features the camera lacks (e.g. chunk data on an emulated camera), with what is
        recorded instead; filled by :meth:`configure`.
    """

    label: str = ""
    serial: str = ""
    backend: str = ""
    paced: bool = True

    def __init__(self) -> None:
        self.config: CameraConfig | None = None
        self.missing_features: tuple[str, ...] = ()
        self._started = False
        self._closed = False

    @property
    def width(self) -> int:
        """Image width in pixels (after :meth:`configure`)."""
        if self.config is None or self.config.width is None:
            raise CameraError(f"camera {self.label!r} is not configured")
        return int(self.config.width)

    @property
    def height(self) -> int:
        """Image height in pixels (after :meth:`configure`)."""
        if self.config is None or self.config.height is None:
            raise CameraError(f"camera {self.label!r} is not configured")
        return int(self.config.height)

    @property
    def fps(self) -> float:
        """Frame rate in frames per second (after :meth:`configure`)."""
        if self.config is None:
            raise CameraError(f"camera {self.label!r} is not configured")
        return float(self.config.fps)

    @property
    def expected_frames(self) -> int | None:
        """Number of frames the stream will deliver, if finite and known (simulation)."""
        return None

    @abc.abstractmethod
    def configure(self, config: CameraConfig) -> CameraConfig:
        """Apply ``config``; returns the configuration in effect (sizes filled in)."""

    @abc.abstractmethod
    def start(self) -> None:
        """Begin continuous acquisition."""

    @abc.abstractmethod
    def grab(self, timeout_s: float = 1.0) -> GrabbedFrame:
        """Return the next frame.

        Raises
        ------
        GrabTimeout
            If no frame arrived within ``timeout_s`` seconds.
        EndOfStream
            If a finite (simulated) camera has no frames left.
        """

    @abc.abstractmethod
    def stop(self) -> None:
        """End acquisition (frames not yet grabbed are discarded)."""

    def close(self) -> None:
        """Stop if needed and release the device. Safe to call twice."""
        if self._closed:
            return
        try:
            if self._started:
                self.stop()
        finally:
            self._release()
            self._closed = True

    def _release(self) -> None:  # noqa: B027 - optional hook
        """Release the device (backend-specific)."""

    def describe(self) -> dict[str, Any]:
        """Small JSON-able description (backend, serial, settings, missing features)."""
        cfg = self.config
        return {
            "backend": self.backend,
            "serial": self.serial,
            "label": self.label,
            "fps": None if cfg is None else cfg.fps,
            "exposure_us": None if cfg is None else cfg.exposure_us,
            "gain_db": None if cfg is None else cfg.gain_db,
            "width": None if cfg is None else cfg.width,
            "height": None if cfg is None else cfg.height,
            "ttl_line": None if cfg is None else cfg.ttl_line,
            "missing_features": list(self.missing_features),
        }

    def __enter__(self) -> Camera:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(label={self.label!r}, serial={self.serial!r})"


# --------------------------------------------------------------------------------------
# Simulated backend
# --------------------------------------------------------------------------------------


class SimulatedCamera(Camera):
    """One simulated camera: the simulator's pictures with the DAQ simulation's metadata.

    Parameters
    ----------
    scene : acquisition.simulator.MouseScene
        Renders the camera's view: ``scene.render(times_s) -> (n, height, width) uint8``.
    timing : acquisition.daq.CameraTiming
        Metadata of the recorded frames: ``frame_times_s`` (n,) exposure times on the FPGA
        clock, ``frame_counter``, ``camera_timestamp`` and ``gpio`` (n,) int64.
    label : str
        Camera label.
    realtime : bool
        If True, :meth:`grab` waits until each frame's time has come (relative to
        :meth:`start`), like a real camera; if False (default) frames are delivered as fast
        as they render and the camera is *unpaced* (the recorder never drops its frames).
    chunk_frames : int
        Frames rendered per call to ``scene.render`` (memory: ``chunk_frames * width *
        height`` bytes).
    latency_s : float
        Delay from exposure to arrival on the computer, s, used when ``timing`` has no
        ``computer_time_s``.

    Notes
    -----
    Computer times are ``t0 + (timing.computer_time_s - frame_times_s[0])`` with ``t0`` the
    ``time.time()`` at :meth:`start` (the simulated arrival times, which include the DAQ
    simulation's random latency; ``frame_times_s + latency_s`` without them), so they are
    deterministic relative to the start; in real-time mode :meth:`grab` returns at that time.
    ``gain_db`` scales the rendered image by ``10 ** (gain_db / 20)`` (clipped at 255);
    exposure time is recorded but does not change the picture.
    """

    backend = "simulated"

    def __init__(
        self,
        scene: Any,
        timing: Any,
        *,
        label: str = "left",
        realtime: bool = False,
        chunk_frames: int = 32,
        latency_s: float = 0.002,
    ) -> None:
        super().__init__()
        self.scene = scene
        self.timing = timing
        self.label = label
        self.serial = f"simulated-{label}"
        self.paced = bool(realtime)
        self.realtime = bool(realtime)
        if int(chunk_frames) < 1:
            raise ValueError(f"chunk_frames must be >= 1, got {chunk_frames}")
        self.chunk_frames = int(chunk_frames)
        self.latency_s = float(latency_s)
        self._times = np.asarray(timing.frame_times_s, dtype=np.float64)
        self._counter = np.asarray(timing.frame_counter, dtype=np.int64)
        self._stamp = np.asarray(timing.camera_timestamp, dtype=np.int64)
        self._gpio = np.asarray(timing.gpio, dtype=np.int64)
        n = len(self._times)
        lengths = {len(self._counter), len(self._stamp), len(self._gpio)}
        if lengths != {n}:
            raise ValueError(
                f"camera timing for {label!r} is inconsistent: {n} frame times but "
                f"{len(self._counter)} counters, {len(self._stamp)} timestamps, {len(self._gpio)} gpio"
            )
        arrival = np.asarray(getattr(timing, "computer_time_s", ()), dtype=np.float64)
        if len(arrival) != n:  # no arrival times simulated: a constant latency
            arrival = self._times + self.latency_s
        # seconds after the first frame's exposure at which each frame reaches the computer
        self._arrival = arrival - (self._times[0] if n else 0.0)
        self._next = 0
        self._chunk_start = 0
        self._chunk: np.ndarray | None = None
        self._t0_wall = 0.0
        self._t0_mono = 0.0
        self._gain = 1.0

    @property
    def expected_frames(self) -> int:
        """Number of recorded frames in the simulated stream."""
        return len(self._times)

    @property
    def remaining(self) -> int:
        """Frames not yet grabbed."""
        return len(self._times) - self._next

    def _scene_size(self) -> tuple[int, int]:
        width = getattr(self.scene, "width", None)
        height = getattr(self.scene, "height", None)
        if width is None or height is None:
            probe = self.scene.render(self._times[:1] if len(self._times) else np.zeros(1))
            height, width = probe.shape[1:]
        return int(width), int(height)

    def nominal_fps(self) -> float:
        """The timing's ``fps``, else the median exposure interval's rate, frames per second."""
        fps = getattr(self.timing, "fps", None)
        if fps:
            return float(fps)
        exposures = np.asarray(getattr(self.timing, "exposure_times_s", self._times), float)
        if len(exposures) < 2:
            return float("nan")
        return float(1.0 / np.median(np.diff(exposures)))

    def configure(self, config: CameraConfig) -> CameraConfig:
        """Check ``config`` against the simulation and apply its gain.

        Raises
        ------
        ValueError
            If the size differs from the scene's, or the frame rate differs from the
            simulated timing's by more than 1 %.
        """
        width, height = self._scene_size()
        if (config.width or width, config.height or height) != (width, height):
            raise ValueError(
                f"simulated camera {self.label!r} renders {width}x{height} pixels; config asks for "
                f"{config.width}x{config.height}"
            )
        nominal = self.nominal_fps()
        if np.isfinite(nominal) and abs(nominal - config.fps) > 0.01 * config.fps:
            raise ValueError(
                f"simulated camera {self.label!r} runs at {nominal:.3f} fps (its DAQ timing); "
                f"config asks for {config.fps} fps"
            )
        self.config = CameraConfig(
            fps=config.fps,
            exposure_us=config.exposure_us,
            gain_db=config.gain_db,
            pixel_format=config.pixel_format,
            width=width,
            height=height,
            ttl_line=config.ttl_line,
        )
        self._gain = float(10 ** (config.gain_db / 20.0))
        return self.config

    def start(self) -> None:
        """Start the stream from its first recorded frame."""
        if self.config is None:
            self.configure(
                CameraConfig(fps=self.nominal_fps(), exposure_us=1e6 / self.nominal_fps() / 2)
            )
        self._next = 0
        self._chunk = None
        self._t0_wall = time.time()
        self._t0_mono = time.monotonic()
        self._started = True

    def _render_chunk(self, start: int) -> None:
        stop = min(start + self.chunk_frames, len(self._times))
        frames = np.asarray(self.scene.render(self._times[start:stop]))
        if frames.dtype != np.uint8 or frames.ndim != 3:
            raise CameraError(
                f"simulated scene for {self.label!r} rendered {frames.dtype} {frames.shape}; "
                "expected (n, height, width) uint8"
            )
        if self._gain != 1.0:
            frames = np.clip(frames.astype(np.float32) * self._gain, 0, 255).astype(np.uint8)
        self._chunk = frames
        self._chunk_start = start

    def grab(self, timeout_s: float = 1.0) -> GrabbedFrame:
        """Next recorded frame, in order.

        Raises
        ------
        EndOfStream
            When all ``expected_frames`` have been grabbed.
        GrabTimeout
            In real-time mode, if the next frame is due later than ``timeout_s``.
        CameraError
            If the camera was not started.
        """
        if not self._started:
            raise CameraError(f"simulated camera {self.label!r}: grab() before start()")
        i = self._next
        if i >= len(self._times):
            raise EndOfStream(
                f"simulated camera {self.label!r} has delivered all {len(self._times)} frames"
            )
        offset = float(self._arrival[i])
        if self.realtime:
            wait = self._t0_mono + offset - time.monotonic()
            if wait > timeout_s:
                time.sleep(max(timeout_s, 0.0))
                raise GrabTimeout(f"simulated camera {self.label!r}: no frame within {timeout_s} s")
            if wait > 0:
                time.sleep(wait)
        if self._chunk is None or not self._chunk_start <= i < self._chunk_start + len(self._chunk):
            self._render_chunk(i)
        image = self._chunk[i - self._chunk_start]
        self._next = i + 1
        return GrabbedFrame(
            image=image,
            frame_counter=int(self._counter[i]),
            camera_timestamp=int(self._stamp[i]),
            gpio=int(self._gpio[i]),
            computer_time=self._t0_wall + offset,
        )

    def stop(self) -> None:
        """Stop the stream (a later :meth:`start` replays it from the beginning)."""
        self._started = False
        self._chunk = None


# --------------------------------------------------------------------------------------
# FLIR / PySpin backend
# --------------------------------------------------------------------------------------


def import_pyspin() -> Any:
    """Import FLIR's ``PySpin``; raises ImportError naming the ``spinnaker_python`` wheel."""
    try:
        import PySpin  # type: ignore[import-not-found]
    except ImportError as exc:
        raise ImportError(SPINNAKER_WHEEL_MESSAGE) from exc
    if not hasattr(PySpin, "System"):
        raise ImportError(
            f"the module 'PySpin' found at {getattr(PySpin, '__file__', '?')} is not FLIR's "
            f"Spinnaker bindings (no PySpin.System). {SPINNAKER_WHEEL_MESSAGE}"
        )
    return PySpin


@dataclass(frozen=True)
class SettingsReport:
    """What :func:`configure_spinnaker_nodemap` did.

    Attributes
    ----------
    applied : dict
        Node name (with selector, e.g. ``"ChunkEnable[FrameID]"``) to the value set.
    missing : tuple of str
        Optional features the camera does not offer, with a note on what is lost.
    """

    applied: dict[str, Any]
    missing: tuple[str, ...]


#: Chunk data IBL needs: frame counter, timestamp and the GPIO line states.
SPINNAKER_CHUNKS = ("FrameID", "Timestamp", "ExposureEndLineStatusAll")


class _NodeSetter:
    """Node-map access the way FLIR's examples do it (cast, check access, set)."""

    def __init__(self, ps: Any, nodemap: Any) -> None:
        self.ps = ps
        self.nodemap = nodemap
        self.applied: dict[str, Any] = {}
        self.missing: list[str] = []

    def _node(self, cast: str, name: str) -> Any:
        node = self.nodemap.GetNode(name)
        if node is None:
            return None
        return getattr(self.ps, cast)(node)

    def writable(self, cast: str, name: str) -> Any:
        node = self._node(cast, name)
        if node is None or not self.ps.IsAvailable(node) or not self.ps.IsWritable(node):
            return None
        return node

    def enum(self, name: str, entry: str, *, required: bool = True, key: str | None = None) -> bool:
        node = self.writable("CEnumerationPtr", name)
        if node is None:
            return self._absent(name, required, "node not available or not writable")
        entry_node = node.GetEntryByName(entry)
        if (
            entry_node is None
            or not self.ps.IsAvailable(entry_node)
            or not self.ps.IsReadable(entry_node)
        ):
            return self._absent(f"{name}={entry}", required, "entry not available")
        node.SetIntValue(entry_node.GetValue())
        self.applied[key or name] = entry
        return True

    def number(self, cast: str, name: str, value: float, *, required: bool = True) -> bool:
        node = self.writable(cast, name)
        if node is None:
            return self._absent(name, required, "node not available or not writable")
        lo, hi = node.GetMin(), node.GetMax()
        if not lo <= value <= hi:
            raise CameraError(f"{name} = {value} is outside the camera's range [{lo}, {hi}]")
        if cast == "CIntegerPtr":
            value = int(value)
            inc = node.GetInc() if hasattr(node, "GetInc") else 1
            if inc and (value - lo) % inc:
                raise CameraError(f"{name} = {value} is not a multiple of the camera's step {inc}")
        node.SetValue(value)
        self.applied[name] = value
        return True

    def boolean(
        self, name: str, value: bool, *, required: bool = True, key: str | None = None
    ) -> bool:
        node = self.writable("CBooleanPtr", name)
        if node is None:
            return self._absent(key or name, required, "node not available or not writable")
        node.SetValue(bool(value))
        self.applied[key or name] = bool(value)
        return True

    def read_float(self, name: str) -> float | None:
        node = self._node("CFloatPtr", name)
        if node is None or not self.ps.IsAvailable(node) or not self.ps.IsReadable(node):
            return None
        return float(node.GetValue())

    def _absent(self, what: str, required: bool, why: str) -> bool:
        if required:
            raise CameraError(f"camera cannot set {what}: {why}")
        self.missing.append(f"{what}: {why}")
        return False


def configure_spinnaker_nodemap(ps: Any, nodemap: Any, config: CameraConfig) -> SettingsReport:
    """Apply ``config`` to a Spinnaker (FLIR) node map, following FLIR's PySpin examples.

    Order matters: the pixel format and image size first, then exposure (automatic
    exposure off), gain (automatic gain off), then the frame rate (its maximum depends on
    the exposure), the exposure-active TTL on ``config.ttl_line``, and finally chunk data
    (frame ID, timestamp and the line states at exposure end) with chunk mode active.

    Parameters
    ----------
    ps : module
        The ``PySpin`` module (or a stand-in with the same names, for tests).
    nodemap : INodeMap
        ``cam.GetNodeMap()`` of an initialised camera.
    config : CameraConfig
        Settings to apply.

    Returns
    -------
    SettingsReport
        Values set, and optional features the camera lacks.

    Raises
    ------
    CameraError
        If a required node (acquisition mode, pixel format, exposure, gain, frame rate) is
        missing or read-only, a value is outside the camera's range, or the frame rate read
        back differs from the one asked for by more than 0.5 %.
    """
    s = _NodeSetter(ps, nodemap)
    s.enum("AcquisitionMode", "Continuous")
    s.enum("PixelFormat", config.pixel_format)
    if config.width is not None:
        s.number("CIntegerPtr", "Width", config.width)
    if config.height is not None:
        s.number("CIntegerPtr", "Height", config.height)
    s.enum("ExposureAuto", "Off")
    s.number("CFloatPtr", "ExposureTime", float(config.exposure_us))
    s.enum("GainAuto", "Off")
    s.number("CFloatPtr", "Gain", float(config.gain_db))
    # Blackfly S: AcquisitionFrameRateEnable; older (Chameleon3, Flea3): ...Enabled + Auto Off.
    if not s.boolean("AcquisitionFrameRateEnable", True, required=False):
        s.enum("AcquisitionFrameRateAuto", "Off", required=False)
        s.boolean("AcquisitionFrameRateEnabled", True, required=False)
    s.number("CFloatPtr", "AcquisitionFrameRate", float(config.fps))
    actual = s.read_float("AcquisitionFrameRate")
    if actual is not None and abs(actual - config.fps) > 0.005 * config.fps:
        raise CameraError(
            f"camera runs at {actual:.3f} fps after asking for {config.fps} fps "
            f"(exposure {config.exposure_us} us may be too long, or the link too slow)"
        )
    if config.ttl_line is not None:
        line = config.ttl_line
        if s.enum("LineSelector", line, required=False):
            s.enum("LineMode", "Output", required=False, key=f"LineMode[{line}]")
            s.enum("LineSource", "ExposureActive", required=False, key=f"LineSource[{line}]")
        else:
            s.missing.append(f"exposure-active TTL on {line}: no DAQ pulses from this camera")
    if s.boolean("ChunkModeActive", True, required=False):
        for chunk in SPINNAKER_CHUNKS:
            if s.enum("ChunkSelector", chunk, required=False, key=f"ChunkSelector[{chunk}]"):
                s.boolean("ChunkEnable", True, required=False, key=f"ChunkEnable[{chunk}]")
    else:
        s.missing.append("chunk data: frame counter, timestamp and GPIO are not embedded")
    return SettingsReport(applied=dict(s.applied), missing=tuple(s.missing))


class PySpinCamera(Camera):
    """A FLIR camera through FLIR's Spinnaker SDK (``PySpin``).

    Parameters
    ----------
    index_or_serial : int or str
        Index in ``system.GetCameras()`` (int) or the camera's serial number (str).
    label : str
        Camera label.
    pyspin : module, optional
        The PySpin module to use; imported (:func:`import_pyspin`) when None.

    Notes
    -----
    Per-frame metadata comes from chunk data: ``FrameID`` is the frame counter, the 64-bit
    ``Timestamp`` (ns) is converted to the 32-bit FLIR/PointGrey format IBL stores, and
    ``ExposureEndLineStatusAll`` (line ``k`` in bit ``k``) gives the GPIO register. A camera
    without a chunk falls back to 0 for it and lists it in :attr:`missing_features`.
    Incomplete images are released and skipped; the frame counter shows the gap.
    """

    backend = "pyspin"

    def __init__(
        self, index_or_serial: int | str = 0, *, label: str = "left", pyspin: Any = None
    ) -> None:
        super().__init__()
        self.ps = pyspin if pyspin is not None else import_pyspin()
        self.label = label
        self._system = self.ps.System.GetInstance()
        self._cam_list = self._system.GetCameras()
        n = self._cam_list.GetSize()
        self._cam = None
        try:
            if n == 0:
                raise CameraError(
                    "no FLIR camera found by the Spinnaker SDK (is it plugged in and powered?)"
                )
            if isinstance(index_or_serial, str):
                cam = self._cam_list.GetBySerial(index_or_serial)
                if cam is None or (hasattr(cam, "IsValid") and not cam.IsValid()):
                    raise CameraError(
                        f"no FLIR camera with serial {index_or_serial!r} among {n} cameras"
                    )
            else:
                if not 0 <= int(index_or_serial) < n:
                    raise CameraError(
                        f"FLIR camera index {index_or_serial} out of range: {n} camera(s) found"
                    )
                cam = self._cam_list.GetByIndex(int(index_or_serial))
            cam.Init()
        except Exception:
            self._release()
            raise
        self._cam = cam
        self.nodemap = cam.GetNodeMap()
        self.serial = self._read_serial(cam, index_or_serial)
        self._chunks: set[str] = set()
        self.settings_report: SettingsReport | None = None

    def _read_serial(self, cam: Any, fallback: int | str) -> str:
        try:
            node = self.ps.CStringPtr(cam.GetTLDeviceNodeMap().GetNode("DeviceSerialNumber"))
            if self.ps.IsAvailable(node) and self.ps.IsReadable(node):
                return str(node.GetValue())
        except Exception:  # noqa: BLE001 - serial is informative only
            pass
        return str(fallback)

    def configure(self, config: CameraConfig) -> CameraConfig:
        """Apply ``config`` with :func:`configure_spinnaker_nodemap`."""
        report = configure_spinnaker_nodemap(self.ps, self.nodemap, config)
        self.settings_report = report
        self.missing_features = report.missing
        self._chunks = {c for c in SPINNAKER_CHUNKS if report.applied.get(f"ChunkEnable[{c}]")}
        width = config.width
        height = config.height
        if width is None or height is None:
            width = int(self.ps.CIntegerPtr(self.nodemap.GetNode("Width")).GetValue())
            height = int(self.ps.CIntegerPtr(self.nodemap.GetNode("Height")).GetValue())
        self.config = CameraConfig(
            fps=config.fps,
            exposure_us=config.exposure_us,
            gain_db=config.gain_db,
            pixel_format=config.pixel_format,
            width=width,
            height=height,
            ttl_line=config.ttl_line,
        )
        return self.config

    def start(self) -> None:
        """``BeginAcquisition`` (continuous mode was set by :meth:`configure`)."""
        if self.config is None:
            raise CameraError(f"FLIR camera {self.serial}: configure() before start()")
        self._cam.BeginAcquisition()
        self._started = True

    def grab(self, timeout_s: float = 1.0) -> GrabbedFrame:
        """``GetNextImage``, copy the pixels and chunk data, ``Release``."""
        deadline = time.monotonic() + timeout_s
        while True:
            remaining_ms = max(1, int((deadline - time.monotonic()) * 1000))
            try:
                image = self._cam.GetNextImage(remaining_ms)
            except self.ps.SpinnakerException as exc:
                if (
                    time.monotonic() >= deadline
                    or "timeout" in str(exc).lower()
                    or getattr(exc, "errorcode", None)
                    == getattr(self.ps, "SPINNAKER_ERR_TIMEOUT", -1011)
                ):
                    raise GrabTimeout(
                        f"FLIR camera {self.serial}: no frame within {timeout_s} s"
                    ) from exc
                raise CameraError(f"FLIR camera {self.serial}: {exc}") from exc
            try:
                if image.IsIncomplete():
                    if time.monotonic() >= deadline:
                        raise GrabTimeout(
                            f"FLIR camera {self.serial}: only incomplete images within {timeout_s} s"
                        )
                    continue
                received = time.time()
                pixels = np.array(image.GetNDArray(), dtype=np.uint8, copy=True)
                chunk = image.GetChunkData()
                counter = int(chunk.GetFrameID()) if "FrameID" in self._chunks else 0
                stamp_ns = int(chunk.GetTimestamp()) if "Timestamp" in self._chunks else 0
                lines = (
                    int(chunk.GetExposureEndLineStatusAll())
                    if "ExposureEndLineStatusAll" in self._chunks
                    else 0
                )
            finally:
                image.Release()
            return GrabbedFrame(
                image=pixels.reshape(pixels.shape[0], -1),
                frame_counter=counter,
                camera_timestamp=int(encode_camera_timestamp(np.array([stamp_ns * 1e-9]))[0]),
                gpio=gpio_from_line_status(lines),
                computer_time=received,
            )

    def stop(self) -> None:
        """``EndAcquisition``."""
        if self._started:
            self._started = False
            self._cam.EndAcquisition()

    def _release(self) -> None:
        cam, self._cam = self._cam, None
        if cam is not None:
            try:
                cam.DeInit()
            finally:
                del cam
        if getattr(self, "_cam_list", None) is not None:
            self._cam_list.Clear()
            self._cam_list = None
        if getattr(self, "_system", None) is not None:
            self._system.ReleaseInstance()
            self._system = None


# --------------------------------------------------------------------------------------
# Basler / pypylon backend
# --------------------------------------------------------------------------------------


class PylonCamera(Camera):
    """A Basler camera through ``pypylon`` (pylon's camera emulation included).

    Parameters
    ----------
    index_or_serial : int or str
        Index among the devices pylon enumerates, or a serial number (emulated cameras are
        ``"0815-0000"``, ``"0815-0001"``, ...).
    label : str
        Camera label.
    emulation : int, optional
        Number of emulated cameras to make available; sets ``PYLON_CAMEMU`` (to at least this
        number) before devices are enumerated. None uses whatever the environment says.
    image_dir : path, optional
        Emulated cameras only: a folder of image files that the camera replays in name
        order, looping (pylon's ``ImageFileMode``); the images must have the configured size.
        Without it the emulated camera sends its built-in test pattern.
    max_buffers : int
        pylon's ``MaxNumBuffer``: frames the driver holds before the camera has to drop.

    Notes
    -----
    Settings are applied where the camera has them (``AcquisitionFrameRateEnable`` /
    ``AcquisitionFrameRate(Abs)``, ``ExposureAuto`` Off / ``ExposureTime(Abs)``,
    ``GainAuto`` Off / ``Gain``, ``PixelFormat``, ``Width``/``Height``, the TTL line
    ``LineMode`` Output / ``LineSource`` ExposureActive, and chunk data ``Timestamp``,
    ``LineStatusAll`` when ``ChunkSelector`` exists); what is missing is listed in
    :attr:`missing_features`. The frame counter is the grab result's ``BlockID`` (16-bit
    on GigE, unwrapped here). The timestamp is the grab result's ``TimeStamp`` (ticks,
    ``GevTimestampTickFrequency`` or 1 GHz) converted to FLIR's 32-bit format.

    pylon's emulated camera (measured with pypylon 26.9 / pylon 12.4): frame rate, exposure,
    gain, pixel format, size and line settings exist and are accepted; ``ChunkModeActive``
    exists but there is no ``ChunkSelector`` (enabling it makes grabbing fail), so there is
    no chunk data and the GPIO register is recorded as 0; ``TimeStamp`` is always 0, so the
    computer's monotonic clock since :meth:`start` stands in for the camera timestamp;
    ``BlockID`` counts 0, 1, 2, ...; the emulator produces a frame only when a buffer is
    free, so it never drops frames. The frame rate is honoured (frames every 1/fps s).
    """

    backend = "pylon"

    def __init__(
        self,
        index_or_serial: int | str = 0,
        *,
        label: str = "left",
        emulation: int | None = None,
        image_dir: os.PathLike | str | None = None,
        max_buffers: int = 32,
    ) -> None:
        super().__init__()
        self.label = label
        if emulation is not None:
            current = int(os.environ.get("PYLON_CAMEMU", "0") or 0)
            os.environ["PYLON_CAMEMU"] = str(max(current, int(emulation)))
        try:
            from pypylon import genicam, pylon
        except ImportError as exc:
            raise ImportError(
                "the 'pylon' camera backend needs Basler's pypylon (`pip install pypylon`)"
            ) from exc
        self._pylon, self._genicam = pylon, genicam
        factory = pylon.TlFactory.GetInstance()
        devices = factory.EnumerateDevices()
        if len(devices) == 0:
            raise CameraError(
                "no Basler camera found by pylon; for emulated cameras set PYLON_CAMEMU=<n> "
                "(or pass emulation=<n>)"
            )
        if isinstance(index_or_serial, str):
            matches = [d for d in devices if d.GetSerialNumber() == index_or_serial]
            if not matches:
                found = ", ".join(d.GetSerialNumber() for d in devices)
                raise CameraError(
                    f"no Basler camera with serial {index_or_serial!r}; found: {found}"
                )
            device = matches[0]
        else:
            if not 0 <= int(index_or_serial) < len(devices):
                raise CameraError(
                    f"Basler camera index {index_or_serial} out of range: {len(devices)} camera(s) found"
                )
            device = devices[int(index_or_serial)]
        self.serial = device.GetSerialNumber()
        self.model = device.GetModelName()
        self.emulated = device.GetDeviceClass() == "BaslerCamEmu"
        self._cam = pylon.InstantCamera(factory.CreateDevice(device))
        self._cam.Open()
        self._cam.MaxNumBuffer.Value = int(max_buffers)
        self.image_dir = None if image_dir is None else os.fspath(image_dir)
        self._chunk_timestamp = False
        self._chunk_lines = False
        self._tick_hz = 1e9
        self._block_offset = 0
        self._last_block = -1
        self._t0_mono = 0.0
        self.applied: dict[str, Any] = {}

    def _node(self, name: str) -> Any:
        node = self._cam.GetNodeMap().GetNode(name)
        if node is None or not self._genicam.IsAvailable(node):
            return None
        return node

    def _set(
        self, names: tuple[str, ...], value: Any, *, required: bool = False, what: str = ""
    ) -> bool:
        for name in names:
            node = self._node(name)
            if node is not None and self._genicam.IsWritable(node):
                if (
                    isinstance(value, int | float)
                    and not isinstance(value, bool)
                    and hasattr(node, "GetMin")
                ):
                    lo, hi = node.GetMin(), node.GetMax()
                    if not lo <= value <= hi:
                        raise CameraError(
                            f"Basler camera {self.serial}: {name} = {value} outside [{lo}, {hi}]"
                        )
                node.Value = value
                self.applied[name] = value
                return True
        label = what or "/".join(names)
        if required:
            raise CameraError(f"Basler camera {self.serial} cannot set {label}")
        self._missing.append(f"{label}: not available on {self.model}")
        return False

    def configure(self, config: CameraConfig) -> CameraConfig:
        """Apply what the camera has of ``config``; missing features go to :attr:`missing_features`."""
        self._missing: list[str] = []
        self.applied = {}
        self._set(("AcquisitionMode",), "Continuous")
        self._set(("PixelFormat",), config.pixel_format, required=True)
        if config.width is not None:
            self._set(("Width",), int(config.width), required=True)
        if config.height is not None:
            self._set(("Height",), int(config.height), required=True)
        self._set(("ExposureAuto",), "Off")
        self._set(("ExposureTime", "ExposureTimeAbs"), float(config.exposure_us), required=True)
        self._set(("GainAuto",), "Off")
        if not self._set(("Gain",), float(config.gain_db), what="Gain (dB)"):
            pass
        self._set(("AcquisitionFrameRateEnable",), True)
        self._set(
            ("AcquisitionFrameRate", "AcquisitionFrameRateAbs"), float(config.fps), required=True
        )
        resulting = self._node("ResultingFrameRate") or self._node("ResultingFrameRateAbs")
        if resulting is not None and self._genicam.IsReadable(resulting):
            actual = float(resulting.GetValue())
            if abs(actual - config.fps) > 0.005 * config.fps:
                raise CameraError(
                    f"Basler camera {self.serial} runs at {actual:.3f} fps after asking for {config.fps}"
                )
        if config.ttl_line is not None:
            if self._set(
                ("LineSelector",), config.ttl_line, what=f"LineSelector {config.ttl_line}"
            ):
                self._set(("LineMode",), "Output")
                self._set(("LineSource",), "ExposureActive")
        # Chunk data only when the camera can select chunks (the emulator has ChunkModeActive
        # but no ChunkSelector, and grabbing fails if chunk mode is on there).
        self._chunk_timestamp = self._chunk_lines = False
        if self._node("ChunkSelector") is not None and self._set(("ChunkModeActive",), True):
            for chunk in ("Timestamp", "LineStatusAll"):
                if self._set(("ChunkSelector",), chunk, what=f"chunk {chunk}"):
                    ok = self._set(("ChunkEnable",), True, what=f"chunk {chunk}")
                    if chunk == "Timestamp":
                        self._chunk_timestamp = ok
                    else:
                        self._chunk_lines = ok
        else:
            self._missing.append(
                "chunk data (ChunkSelector): no embedded line status, GPIO recorded as 0"
            )
        tick = self._node("GevTimestampTickFrequency")
        self._tick_hz = float(tick.GetValue()) if tick is not None else 1e9
        if self.emulated:
            self._missing.append(
                "camera timestamp: the emulator's TimeStamp is 0; the computer's monotonic clock "
                "since start() is recorded instead"
            )
            if self.image_dir is not None:
                self._set(("ImageFilename",), self.image_dir, required=True)
                self._set(("ImageFileMode",), "On", required=True)
                self._set(("TestImageSelector",), "Off")
        self.missing_features = tuple(self._missing)
        width = int(self._cam.Width.GetValue())
        height = int(self._cam.Height.GetValue())
        self.config = CameraConfig(
            fps=config.fps,
            exposure_us=config.exposure_us,
            gain_db=config.gain_db,
            pixel_format=config.pixel_format,
            width=width,
            height=height,
            ttl_line=config.ttl_line,
        )
        return self.config

    def start(self) -> None:
        """Start continuous grabbing (``GrabStrategy_OneByOne``: no frame is overwritten)."""
        if self.config is None:
            raise CameraError(f"Basler camera {self.serial}: configure() before start()")
        self._block_offset = 0
        self._last_block = -1
        self._t0_mono = time.monotonic()
        self._cam.StartGrabbing(self._pylon.GrabStrategy_OneByOne)
        self._started = True

    def grab(self, timeout_s: float = 1.0) -> GrabbedFrame:
        """``RetrieveResult``; copy pixels and metadata; ``Release``."""
        pylon = self._pylon
        deadline = time.monotonic() + timeout_s
        while True:
            remaining_ms = max(1, int((deadline - time.monotonic()) * 1000))
            result = self._cam.RetrieveResult(remaining_ms, pylon.TimeoutHandling_Return)
            if result is None or not result.IsValid():
                raise GrabTimeout(f"Basler camera {self.serial}: no frame within {timeout_s} s")
            try:
                if not result.GrabSucceeded():
                    if time.monotonic() >= deadline:
                        raise GrabTimeout(
                            f"Basler camera {self.serial}: failed grabs only within {timeout_s} s "
                            f"(last: {result.GetErrorDescription()})"
                        )
                    continue
                received = time.time()
                received_mono = time.monotonic()
                pixels = np.array(result.GetArray(), dtype=np.uint8, copy=True)
                block = int(result.GetBlockID())
                ticks = int(result.GetTimeStamp())
                lines = 0
                if self._chunk_lines and self._genicam.IsReadable(result.ChunkLineStatusAll):
                    lines = int(result.ChunkLineStatusAll.Value)
                if self._chunk_timestamp and self._genicam.IsReadable(result.ChunkTimestamp):
                    ticks = int(result.ChunkTimestamp.Value)
            finally:
                result.Release()
            if block < self._last_block:  # GigE block IDs wrap at 65535 (and skip 0)
                self._block_offset += 65535
            self._last_block = block
            if self.emulated and ticks == 0:  # the emulator's TimeStamp is always 0
                seconds = received_mono - self._t0_mono
            else:
                seconds = ticks / self._tick_hz
            return GrabbedFrame(
                image=pixels,
                frame_counter=block + self._block_offset,
                camera_timestamp=int(encode_camera_timestamp(np.array([seconds]))[0]),
                gpio=gpio_from_line_status(lines),
                computer_time=received,
            )

    def stop(self) -> None:
        """``StopGrabbing``."""
        if self._started:
            self._started = False
            self._cam.StopGrabbing()

    def _release(self) -> None:
        cam = getattr(self, "_cam", None)
        if cam is not None:
            self._cam = None
            cam.Close()
            cam.DestroyDevice()


# --------------------------------------------------------------------------------------


def open_camera(backend: str, index_or_serial: int | str = 0, **kw: Any) -> Camera:
    """Open one camera.

    Parameters
    ----------
    backend : {"simulated", "pyspin", "pylon"}
        Which implementation to use.
    index_or_serial : int or str
        For ``"pyspin"``/``"pylon"``: device index or serial number. For ``"simulated"``:
        ignored when ``label`` is given in ``kw``, else used as the camera label.
    **kw
        Passed to the backend class: :class:`SimulatedCamera` (``scene``, ``timing``,
        ``label``, ``realtime``, ``chunk_frames``), :class:`PySpinCamera` (``label``,
        ``pyspin``), :class:`PylonCamera` (``label``, ``emulation``, ``image_dir``,
        ``max_buffers``).

    Raises
    ------
    ValueError
        For an unknown backend (the message lists the backends).
    ImportError
        ``"pyspin"`` without FLIR's ``spinnaker_python`` wheel installed.
    """
    if backend == "simulated":
        if "scene" not in kw or "timing" not in kw:
            raise ValueError(
                "the simulated backend needs scene= (acquisition.simulator.MouseScene) and "
                "timing= (acquisition.daq.CameraTiming); acquisition.session.record_session "
                "builds both"
            )
        kw.setdefault("label", str(index_or_serial))
        return SimulatedCamera(kw.pop("scene"), kw.pop("timing"), **kw)
    if backend == "pyspin":
        return PySpinCamera(index_or_serial, **kw)
    if backend == "pylon":
        return PylonCamera(index_or_serial, **kw)
    raise ValueError(f"unknown camera backend {backend!r}; choose one of {', '.join(BACKENDS)}")
