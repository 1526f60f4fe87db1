"""Features on the DAQ clock: pupil diameter and licks, and the pose QC.

Tables
------
FeatureParams : lookup of thresholds (likelihood, pupil smoothing, lick method).
PupilDiameter : raw and smoothed pupil diameter per frame, pixels, with frame times.
LickEvents : per-frame tongue contact and one onset time per lick.
PoseQC : IBL's pose checks (Part ``Check``).
"""

from __future__ import annotations

from dataclasses import fields, replace

import datajoint as dj
import numpy as np

from pipeline import crops, features, qc
from schemas.pose import CropROI, DLCPose, pose_arrays
from schemas.qc import check_rows
from schemas.session import CameraRecording, session_name
from schemas.sync import SyncPulses

schema = dj.Schema()

_PARAM_FIELDS = [f.name for f in fields(features.FeatureParams)]


@schema
class FeatureParams(dj.Lookup):
    """Thresholds of the feature computations (:class:`pipeline.features.FeatureParams`).

    Attributes:
        feature_params (str): Name of the set: ``ibl`` (IBL's lick detection) or
            ``distance`` (tongue tip within a distance of the spout, the design note's).
    """

    definition = """
    feature_params: varchar(32)
    ---
    likelihood_threshold: float64
    pupil_window_s: float64          # Savitzky-Golay window, seconds
    pupil_order: int16
    pupil_std_thresh: float64        # outlier threshold, standard deviations
    pupil_nan_thresh_s: float64      # NaN runs longer than this stay NaN, seconds
    pupil_max_nan_fraction: float64
    lick_method: enum('ibl', 'distance')
    lick_std_divisor: float64
    lick_distance_px: float64        # pixels of a 1280-wide view
    lick_min_gap_s: float64          # debounce between onsets, seconds
    lick_min_hidden_s: float64       # tongue hidden this long ends a lick, seconds
    lick_merge_tolerance_s: float64  # same lick on two cameras, seconds
    """
    contents = [
        dict(feature_params="ibl", **{k: getattr(features.FeatureParams(), k) for k in _PARAM_FIELDS}),
        dict(feature_params="distance", **{k: getattr(features.FeatureParams(lick_method="distance"), k) for k in _PARAM_FIELDS}),
    ]

    @staticmethod
    def params(key: dict) -> features.FeatureParams:
        row = (FeatureParams & {"feature_params": key["feature_params"]}).fetch1()
        return features.FeatureParams(**{k: row[k] for k in _PARAM_FIELDS})


def _name(key: dict) -> str:
    return f"{session_name(key)} {key['camera_label']} camera"


def _pose_and_times(key: dict, params: features.FeatureParams) -> tuple[dict, np.ndarray, float]:
    """Likelihood-thresholded pose, frame times (DAQ clock, s) and frame rate; lengths checked."""
    pose = features.likelihood_threshold(pose_arrays(key), params.likelihood_threshold)
    times, fps = (SyncPulses & key).fetch1("frame_times", "median_fps")
    times = np.asarray(times)
    n_pose = len(next(iter(pose.values()))) if pose else 0
    if n_pose != len(times):
        raise ValueError(
            f"{_name(key)}: pose has {n_pose} frames but SyncPulses has {len(times)} frame times; not truncated"
        )
    return pose, times, float(fps)


@schema
class PupilDiameter(dj.Computed):
    """Pupil diameter per frame (median of six estimates), smoothed as IBL does.

    Attributes:
        clock (str): Clock of ``frame_times`` (``fpga`` or ``bpod``).
        frame_times (array): ``(n,)`` seconds.
        pupil_diameter_raw_px (array): ``(n,)`` pixels, NaN where fewer than two points.
        pupil_diameter_px (array): ``(n,)`` smoothed, pixels.
        nan_fraction (float): Fraction of frames without a raw diameter.
    """

    definition = """
    -> DLCPose
    -> FeatureParams
    ---
    clock: enum('fpga', 'bpod')
    frame_times: <npy@ibl_video>            # (n,) s on `clock`
    pupil_diameter_raw_px: <npy@ibl_video>  # (n,) pixels
    pupil_diameter_px: <npy@ibl_video>      # (n,) pixels, smoothed
    nan_fraction: float64
    """

    @property
    def key_source(self):
        return DLCPose.proj() * FeatureParams.proj() & SyncPulses.proj()

    def make(self, key):
        params = FeatureParams.params(key)
        pose, times, fps = _pose_and_times(key, params)
        suffix = "l" if key["camera_label"] == "left" else "r"
        raw = features.pupil_diameter_from_points(pose, suffix=suffix)
        try:
            smooth = features.smooth_pupil_diameter(
                raw, fps, window_s=params.pupil_window_s, order=params.pupil_order, std_thresh=params.pupil_std_thresh,
                nan_thresh_s=params.pupil_nan_thresh_s, max_nan_fraction=params.pupil_max_nan_fraction,
            )  # fmt: skip
        except ValueError as e:
            raise ValueError(f"{_name(key)}: {e}") from None
        self.insert1(dict(
            key, clock=(SyncPulses & key).fetch1("clock"), frame_times=times, pupil_diameter_raw_px=raw,
            pupil_diameter_px=smooth, nan_fraction=float(np.mean(~np.isfinite(raw))),
        ))  # fmt: skip


@schema
class LickEvents(dj.Computed):
    """Licks seen by one camera: per-frame contact and one onset per lick, on the DAQ clock.

    Attributes:
        clock (str): Clock of the times.
        lick_onset_times (array): ``(k,)`` seconds.
        contact (array): ``(n,)`` bool per frame.
        n_licks (int): ``k``.
        lick_rate_hz (float): Licks per second over the recording.
        lick_method (str): ``ibl`` or ``distance``.
    """

    definition = """
    -> DLCPose
    -> FeatureParams
    ---
    clock: enum('fpga', 'bpod')
    lick_onset_times: <npy@ibl_video>  # (k,) s on `clock`
    contact: <npy@ibl_video>           # (n,) bool per frame
    n_licks: int32
    lick_rate_hz: float64
    lick_method: varchar(16)
    """

    @property
    def key_source(self):
        return DLCPose.proj() * FeatureParams.proj() & SyncPulses.proj()

    def make(self, key):
        params = FeatureParams.params(key)
        pose, times, _ = _pose_and_times(key, params)
        tongue = {k: pose[k][:, :2] for k in ("tongue_end_l", "tongue_end_r") if k in pose}
        spout = {k: pose[k][:, :2] for k in ("tube_top", "tube_bottom") if k in pose}
        if not tongue:
            raise ValueError(f"{_name(key)}: the pose has no tongue points (tongue_end_l/r)")
        # the contact distance is given for a 1280-wide view: scale it to this camera's frames
        width = (CameraRecording & key).fetch1("width")
        params = replace(params, lick_distance_px=params.lick_distance_px * crops.camera_view(key["camera_label"], width)[0])
        result = features.detect_licks(tongue, times, params, spout_points=spout or None)
        duration = float(times[-1] - times[0]) if len(times) > 1 else float("nan")
        self.insert1(dict(
            key, clock=(SyncPulses & key).fetch1("clock"), lick_onset_times=np.asarray(result.onset_times, np.float64),
            contact=np.asarray(result.contact, bool), n_licks=len(result.onset_times),
            lick_rate_hz=len(result.onset_times) / duration if duration > 0 else 0.0, lick_method=result.method,
        ))  # fmt: skip


def session_lick_times(session_key: dict, feature_params: str = "ibl") -> np.ndarray:
    """Lick onsets of a session, both side cameras merged without double counting (DAQ clock, s)."""
    rows = (LickEvents & session_key & {"feature_params": feature_params}).to_dicts()
    params = FeatureParams.params({"feature_params": feature_params})
    merged = np.zeros(0)
    for r in sorted(rows, key=lambda r: r["camera_label"]):
        merged = features.merge_camera_licks(merged, np.asarray(r["lick_onset_times"]), params.lick_merge_tolerance_s)
    return merged


@schema
class PoseQC(dj.Computed):
    """IBL's pose checks on one DLCPose run.

    Attributes:
        overall_outcome (str): The worst outcome of the checks.
    """

    definition = """
    -> DLCPose
    ---
    overall_outcome: enum('NOT_SET', 'PASS', 'WARNING', 'FAIL', 'CRITICAL')
    """

    class Check(dj.Part):
        """One check: value, outcome and details (JSON)."""

        definition = """
        -> master
        check_name: varchar(32)
        ---
        outcome: enum('NOT_SET', 'PASS', 'WARNING', 'FAIL', 'CRITICAL')
        check_value=null: varchar(64)
        check_details: varchar(2000)
        """

    @property
    def key_source(self):
        return DLCPose.proj() & SyncPulses.proj()

    def make(self, key):
        params = features.FeatureParams()
        pose, times, fps = _pose_and_times(key, params)
        xy = {k: v[:, :2] for k, v in pose.items()}
        regions = {r["region"]: r for r in (CropROI.Region & key).to_dicts()}
        results = [qc.check_time_trace_length_match(len(times), xy), qc.check_trace_all_nan(xy)]
        for region, names in (("eye", "pupil_"), ("nostril", "nostril_"), ("tongue", "tube_"), ("paws", "finger")):
            if region in regions:
                r = regions[region]
                box = (r["x"], r["x"] + r["w"], r["y"], r["y"] + r["h"])
                inside = {k: v for k, v in xy.items() if names in k}
                res = qc.check_points_in_box(inside, box)
                results.append(qc.QCResult(f"in_box_{region}", res.outcome, res.value, res.details))
        suffix = "l" if key["camera_label"] == "left" else "r"
        # imported pose (schemas.pose_import) may hold some body parts only: checks of absent points are NOT_SET
        pupil = [f"pupil_{e}_{suffix}" for e in ("top", "right", "bottom", "left")]
        if all(p in pose for p in pupil):
            raw = features.pupil_diameter_from_points(pose, suffix=suffix)
            results.append(qc.check_pupil_blocked(raw, max_std_px=10.0 if key["camera_label"] == "left" else 5.0))
        else:
            results.append(qc.QCResult("pupil_blocked", "NOT_SET", None, {"missing": [p for p in pupil if p not in pose]}))
        tongue = {k: v for k, v in xy.items() if k.startswith("tongue_end")}
        results.append(qc.check_tongue_hidden(tongue))
        results.append(qc.check_paws_nan({k: v for k, v in xy.items() if "finger" in k or k.startswith("pinky")}))
        if tongue:
            licks = features.detect_licks(tongue, times, params)
            results.append(qc.check_lick_rate(licks.onset_times, float(times[-1] - times[0])))
        else:
            results.append(qc.QCResult("lick_rate", "NOT_SET", None, {"missing": "tongue_end_l, tongue_end_r"}))
        master, checks = check_rows(key, results, default=str)
        self.insert1(master)
        self.Check.insert(checks)
