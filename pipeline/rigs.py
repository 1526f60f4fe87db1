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
        Where the camera's TTL goes: ``"fpga"`` or ``"bpod"``.
    sync_channel : int
        DAQ channel number of the camera's TTL on that device.
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
    sync_channel: int
    jitter_us: float
    exposure_us: float
    gain_db: float


#: FPGA (ephys) sync channel numbers, as IBL's ephys rigs wire them (ibllib's
#: ``CHMAPS['3B']['nidq']``): left camera 2, right camera 3, body camera 4, bpod 16.
FPGA_CHANNELS: dict[str, int] = {"left": 2, "right": 3, "body": 4, "bpod": 16}

DEFAULT_CAMERAS: tuple[CameraSettings, ...] = (
    CameraSettings("training", "left", 30.0, 1280, 1024, "bpod", 0, 195.6, 5000.0, 0.0),
    CameraSettings("ephys", "left", 60.0, 1280, 1024, "fpga", FPGA_CHANNELS["left"], 195.6, 5000.0, 0.0),
    CameraSettings("ephys", "right", 150.0, 640, 512, "fpga", FPGA_CHANNELS["right"], 143.2, 3000.0, 0.0),
    CameraSettings("ephys", "body", 30.0, 1280, 1024, "fpga", FPGA_CHANNELS["body"], 195.6, 5000.0, 0.0),
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
