"""The live camera of ``/camera/<label>``: frames from a camera backend as set-up panels (JPEG).

The simulated backend renders the simulator's mouse at the stream's rate in real time (a
:class:`acquisition.cameras.SimulatedCamera` paced at ``fps``, replayed from the start when
its stream ends); ``pyspin`` and ``pylon`` open the first camera of that SDK configured as the
rig's camera. Each frame becomes :func:`acquisition.setup_aids.live_panel`: saturation view
with the reference outline, histogram and brightness verdict.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np

from acquisition.cameras import BACKENDS, CameraConfig, EndOfStream, open_camera, scaled_size
from acquisition.setup_aids import live_panel, outline_mask, reference_frame
from pipeline.rigs import camera_settings

#: Seconds of simulated behaviour before the simulated stream replays from its start.
SIMULATED_LOOP_S = 120.0


class LiveCamera:
    """A started camera whose :meth:`panel_jpeg` returns the latest set-up panel.

    Parameters
    ----------
    backend : str
        ``simulated``, ``pyspin`` or ``pylon``.
    rig_type, label : str
        The rig camera (its settings, and the reference outline).
    scale : float
        Image size factor of the simulated backend (1 = the rig's resolution).
    fps : float
        Frames per second of the simulated backend's stream.

    Raises
    ------
    ValueError
        For an unknown backend or rig camera.
    ImportError
        For a camera SDK that is not installed.
    """

    def __init__(self, backend: str, rig_type: str, label: str, *, scale: float = 0.5, fps: float = 5.0, seed: int = 0):
        if backend not in BACKENDS:
            raise ValueError(f"unknown camera backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        settings = camera_settings(rig_type, label)  # ValueError/KeyError for an unknown camera
        self.title = f"{rig_type} {label} camera ({backend})"
        if backend == "simulated":
            from acquisition.simulator import Behaviour, MouseScene

            width, height = scaled_size(settings.width, settings.height, scale)
            scene = MouseScene(Behaviour(SIMULATED_LOOP_S, seed=seed), label, width, height, seed=seed)
            n = int(SIMULATED_LOOP_S * fps)
            timing = SimpleNamespace(
                fps=fps, frame_times_s=np.arange(n) / fps, frame_counter=np.arange(n, dtype=np.int64),
                camera_timestamp=np.zeros(n, np.int64), gpio=np.zeros(n, np.int64),
            )  # fmt: skip
            self.camera = open_camera("simulated", label, scene=scene, timing=timing, realtime=True, chunk_frames=1)
            self.camera.configure(CameraConfig(fps=fps, exposure_us=settings.exposure_us, gain_db=settings.gain_db,
                                               width=width, height=height))  # fmt: skip
        else:
            self.camera = open_camera(backend, 0, label=label)
            self.camera.configure(CameraConfig.from_settings(settings, scale=scale))
        self.rig_type, self.label = rig_type, label
        self._outline = None
        self.camera.start()

    def _grab(self) -> np.ndarray:
        try:
            return self.camera.grab(timeout_s=2.0).image
        except EndOfStream:
            self.camera.stop()
            self.camera.start()
            return self.camera.grab(timeout_s=2.0).image

    def panel(self) -> tuple[np.ndarray, bool, str]:
        """The next frame as a set-up panel: RGB image, passed, verdict message."""
        image = self._grab()
        if self._outline is None or self._outline.shape != image.shape:
            self._outline = outline_mask(reference_frame(self.rig_type, self.label, image.shape[1], image.shape[0]))
        return live_panel(image, self._outline, title=self.title)

    def panel_jpeg(self, quality: int = 80) -> tuple[bytes, bool, str]:
        """The next set-up panel as JPEG bytes, with the verdict."""
        import cv2

        rgb, passed, message = self.panel()
        ok, buffer = cv2.imencode(".jpg", rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise RuntimeError(f"could not encode a JPEG of the {self.title}")
        return buffer.tobytes(), passed, message

    def close(self) -> None:
        """Stop and release the camera."""
        try:
            self.camera.stop()
        finally:
            self.camera.close()


def mjpeg_parts(camera: LiveCamera, boundary: str, *, max_frames: int | None = None):
    """Parts of a ``multipart/x-mixed-replace`` stream, one JPEG each (a blocking generator)."""
    sent = 0
    while max_frames is None or sent < max_frames:
        started = time.monotonic()
        jpeg, _, _ = camera.panel_jpeg()
        yield (f"--{boundary}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n").encode() + jpeg + b"\r\n"
        sent += 1
        if camera.camera.backend != "simulated":  # a paced simulated camera waits in grab()
            time.sleep(max(0.0, 0.2 - (time.monotonic() - started)))
