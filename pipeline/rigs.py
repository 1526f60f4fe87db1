"""Default rig and camera settings (DESIGN.md section 2), as plain data.

These defaults fill the ``RigType`` and ``Camera`` lookup tables and parametrise the
simulator. They are data, not behaviour: a lab with other cameras adds rows to the lookup
tables instead of editing this file.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Labels of the cameras IBL rigs use, in the order IBL lists them.
CAMERA_LABELS: tuple[str, ...] = ("left", "right", "body")

#: The 23 points tracked by the specialised networks (DESIGN.md section 3).
TRACKED_POINTS: tuple[str, ...] = (
    "pupil_top_r", "pupil_right_r", "pupil_bottom_r", "pupil_left_r",
    "tube_top", "tongue_end_r", "tube_bottom", "tongue_end_l",
    "pinky_r", "ring_finger_r", "middle_finger_r", "pointer_finger_r",
    "pupil_top_l", "pupil_right_l", "pupil_bottom_l", "pupil_left_l",
    "chin_l",
    "pinky_l", "ring_finger_l", "middle_finger_l", "pointer_finger_l",
    "nostril_edge_low", "nostril_edge_high",
)  # fmt: skip


@dataclass(frozen=True)
class CameraSettings:
    """Fixed settings of one camera on one rig type.

    Attributes
    ----------
    rig_type : str
        ``"training"`` or ``"ephys"``.
    label : str
        Camera label: ``"left"``, ``"right"`` or ``"body"``.
    fps : float
        Expected frame rate, frames per second.
    width, height : int
        Expected resolution in pixels.
    sync_device : str
        Where the camera's TTL goes: ``"fpga"`` (its channel is the session's wiring map's
        ``<label>_camera``) or ``"bpod"`` (port 1: ``Port1In``/``Port1Out``).
    jitter_us : float
        Expected standard deviation of the frame-to-frame interval, microseconds.
    exposure_us : float
        Exposure time, microseconds.
    gain_db : float
        Sensor gain, dB.
    """

    rig_type: str
    label: str
    fps: float
    width: int
    height: int
    sync_device: str
    jitter_us: float
    exposure_us: float
    gain_db: float


#: ibllib's two default FPGA channel maps (``ibllib.io.extractors.ephys_fpga.CHMAPS``): which
#: sync channel of an ephys rig's FPGA records which signal. ``3A``: the probe's own sync port
#: (``ap``); ``3B``: the NI-DAQ (``nidq``). The cameras' GPIO pin 4 carries the ``audio`` TTL.
#: They fill the ``SyncWiring`` lookups; a lab's own ``*.wiring.json`` beside the SpikeGLX files
#: (:mod:`pipeline.io.spikeglx`) takes precedence over a session's map.
FPGA_WIRINGS: dict[str, dict[str, int]] = {
    "3A": {
        "left_camera": 2, "right_camera": 3, "body_camera": 4, "bpod": 7, "frame2ttl": 12,
        "rotary_encoder_0": 13, "rotary_encoder_1": 14, "audio": 15,
    },
    "3B": {
        "left_camera": 0, "right_camera": 1, "body_camera": 2, "imec_sync": 3, "frame2ttl": 4,
        "rotary_encoder_0": 5, "rotary_encoder_1": 6, "audio": 7, "bpod": 16, "laser": 17, "laser_ttl": 18,
    },
}  # fmt: skip

#: Descriptions of :data:`FPGA_WIRINGS` (the ``SyncWiring`` lookup).
FPGA_WIRING_DESCRIPTIONS: dict[str, str] = {
    "3A": "Neuropixels 3A: sync on the probe's ap file (ibllib CHMAPS['3A']['ap'])",
    "3B": "Neuropixels 3B: sync on the NI-DAQ (ibllib CHMAPS['3B']['nidq'])",
}

#: The map an ephys session gets when nothing says otherwise (IBL's current rigs).
DEFAULT_FPGA_WIRING = "3B"


def camera_signal(label: str) -> str:
    """Name of a camera's TTL in a wiring map (``left`` -> ``left_camera``)."""
    return f"{label}_camera"


DEFAULT_CAMERAS: tuple[CameraSettings, ...] = (
    CameraSettings("training", "left", 30.0, 1280, 1024, "bpod", 195.6, 5000.0, 0.0),
    CameraSettings("ephys", "left", 60.0, 1280, 1024, "fpga", 195.6, 5000.0, 0.0),
    CameraSettings("ephys", "right", 150.0, 640, 512, "fpga", 143.2, 3000.0, 0.0),
    CameraSettings("ephys", "body", 30.0, 1280, 1024, "fpga", 195.6, 5000.0, 0.0),
)  # fmt: skip

RIG_TYPES: dict[str, str] = {
    "training": "Training rig: one side camera, TTL to the Bpod; Bpod clock.",
    "ephys": "Recording rig: three cameras, TTL to the FPGA (right camera also to the Bpod); FPGA clock.",
}


def camera_settings(rig_type: str, label: str) -> CameraSettings:
    """Return the default settings of camera ``label`` on ``rig_type``.

    Raises
    ------
    KeyError
        If the rig has no such camera; the message lists the cameras it has.
    """
    for cam in DEFAULT_CAMERAS:
        if cam.rig_type == rig_type and cam.label == label:
            return cam
    known = sorted(f"{c.rig_type}/{c.label}" for c in DEFAULT_CAMERAS)
    raise KeyError(f"unknown camera {rig_type!r}/{label!r}; known cameras: {', '.join(known)}")


def rig_cameras(rig_type: str) -> tuple[CameraSettings, ...]:
    """Return the default cameras of ``rig_type`` (empty tuple if the rig type is unknown)."""
    return tuple(c for c in DEFAULT_CAMERAS if c.rig_type == rig_type)
