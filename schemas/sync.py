"""Frame times on the DAQ clock: one time per video frame, with drops, jitter and drift.

Tables
------
SyncParams : lookup of QC thresholds for frame times.
SyncPulses : per camera recording, the frame times on the FPGA (ephys rigs) or Bpod
    (training rigs) clock, the counts of what was matched, dropped and extrapolated, and the
    FPGA-Bpod clock fit when the session has both clocks.
"""

from __future__ import annotations

from pathlib import Path

import datajoint as dj
import numpy as np

from pipeline import layout, sync
from pipeline.io.alf import write_camera_times
from pipeline.io.framedata import FrameData
from pipeline.io.spikeglx import Wiring
from schemas import config
from schemas.session import CameraRecording, RigCamera, Session, fpga_wiring, session_name

schema = dj.Schema()


@schema
class SyncParams(dj.Lookup):
    """Thresholds of the frame-time QC (IBL's camera QC on timing).

    Attributes:
        sync_params (str): Name of the parameter set.
        max_dropped_fraction (float): Dropped frames above this fraction of exposures fail.
        fps_tolerance_hz (float): Median frame rate further than this from expected fails, Hz.
        max_extrapolated_fraction (float): More extrapolated frames than this warn.
        max_jitter_factor (float): Jitter above this multiple of the expected jitter warns.
    """

    definition = """
    sync_params: varchar(32)
    ---
    max_dropped_fraction: float64    # fraction of exposures
    fps_tolerance_hz: float64        # Hz
    max_extrapolated_fraction: float64
    max_jitter_factor: float64       # multiple of the expected jitter
    """
    contents = [
        dict(sync_params="ibl", max_dropped_fraction=0.001, fps_tolerance_hz=1.0,
             max_extrapolated_fraction=0.01, max_jitter_factor=2.0),
    ]  # fmt: skip


@schema
class SyncPulses(dj.Imported):
    """One time per video frame on the DAQ clock, and how it was obtained.

    Attributes:
        clock (str): ``fpga`` or ``bpod``: the clock of ``frame_times``.
        frame_times (array): ``(n_frames,)`` seconds on ``clock``, strictly increasing.
        is_extrapolated (array): ``(n_frames,)`` bool, frames without their own pulse.
        n_pulses (int): Rising edges on the camera's channel.
        n_extra_pulses_start, n_extra_pulses_end (int): Pulses before the first / after the
            last frame, dropped.
        n_dropped_frames (int): Exposures with a pulse but no image (frame-counter gaps).
        n_extrapolated (int): Frames whose time was extrapolated or filled.
        jitter_us (float): Standard deviation of the frame interval, microseconds.
        median_fps (float): Median frame rate, frames/s.
        sync_method (str): How frames were matched to pulses (``pipeline.sync.METHODS``).
        qc_status (str): ``pass``, ``warning`` or ``fail``; ``qc_reasons`` says why.
        clock_offset_s, clock_drift_ppm, clock_residual_us, n_clock_points: The fit
            ``bpod = offset + (1 + drift) * fpga`` from trial-onset pulses (ephys rigs with a
            Bpod file; null, and said in ``sync_warnings``, without one).
        sync_wiring (str): The FPGA channel map the channels were read from (ephys rigs).
    """

    definition = """
    -> CameraRecording
    ---
    -> SyncParams
    clock: enum('fpga', 'bpod')
    frame_times: <npy@ibl_video>     # (n_frames,) s on `clock`
    is_extrapolated: <npy@ibl_video> # (n_frames,) bool
    n_pulses: int32
    n_extra_pulses_start: int32
    n_extra_pulses_end: int32
    n_dropped_frames: int32
    n_extrapolated: int32
    jitter_us: float64               # std of the frame interval, microseconds
    median_fps: float64              # frames/s
    sync_method: varchar(32)
    sync_warnings: varchar(2000)
    qc_status: enum('pass', 'warning', 'fail')
    qc_reasons: varchar(2000)
    clock_offset_s=null: float64     # bpod = offset + (1 + drift) * fpga
    clock_drift_ppm=null: float64
    clock_residual_us=null: float64  # std of the fit's residuals, microseconds
    n_clock_points=null: int32
    sync_wiring=null: varchar(255)   # FPGA map used: its name, + the lab's wiring file if any
    """

    def make_fetch(self, key, sync_params: str = "ibl"):
        session_dir, rig_type = (Session & key).fetch1("session_dir", "rig_type")
        recording = (CameraRecording & key).fetch1("n_frames", "frame_data")
        camera = (RigCamera & {"rig_type": rig_type, "camera_label": key["camera_label"]}).fetch1()
        params = (SyncParams & {"sync_params": sync_params}).fetch1()
        wiring = fpga_wiring(key) if camera["sync_device"] == "fpga" else None
        return session_dir, recording, camera, params, None if wiring is None else (wiring.channels, wiring.source)

    def make_compute(self, key, session_dir, recording, camera, params, wiring):
        root = config.current().data_root
        name = f"{session_name(key)} {key['camera_label']} camera"
        n_frames, frame_data = recording
        # the recording's stored per-frame metadata (frameData.bin or the older files)
        frame_data = None if frame_data is None else FrameData.from_array(frame_data)
        wiring = None if wiring is None else Wiring(*wiring)
        row = sync.frame_times_for_camera(layout.resolve_under(root, session_dir), int(n_frames), frame_data, camera, params, name, wiring)
        return (dict(key, sync_params=params["sync_params"], **row),)

    def make_insert(self, key, row):
        self.insert1(row)


def frame_times(key: dict) -> np.ndarray:
    """``(n_frames,)`` frame times of one camera recording, seconds on its ``clock``."""
    return np.asarray((SyncPulses & key).fetch1("frame_times"))


def export_times(key: dict, out_dir: Path | None = None) -> Path:
    """Write IBL's ``_ibl_<label>Camera.times.npy`` (default: the session's ``alf/`` folder).

    Written as :func:`pipeline.io.alf.write_camera_times` writes it: float64, atomically.
    """
    root = config.current().data_root
    if out_dir is None:
        out_dir = layout.resolve_under(root, (Session & key).fetch1("session_dir")) / layout.ALF_DIR
    return write_camera_times(out_dir, key["camera_label"], frame_times(key))
