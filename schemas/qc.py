"""Quality control of the camera recordings (IBL's camera QC), on the DAQ clock.

Tables
------
CameraQCParams : lookup of the thresholds.
CameraReference : a reference frame per rig camera (position and focus are judged against it).
CameraQC : per synced recording, each check's value and outcome (Part ``Check``) and the overall outcome.
QCReview : a reviewer's verdict on a session or one of its cameras (each review a new row).
"""

from __future__ import annotations

import datetime as dt
import json

import datajoint as dj
import numpy as np

from pipeline import layout, qc
from pipeline.io.daq import BPOD_AUDIO_CHANNEL, load_daq_files
from pipeline.io.framedata import FrameData, gpio_pin_state
from pipeline.io.video import read_frames_at
from schemas import config
from schemas.session import CameraRecording, RigCamera, Session, fpga_wiring, session_name
from schemas.sync import SyncPulses

schema = dj.Schema()

OUTCOME_ENUM = "enum('NOT_SET', 'PASS', 'WARNING', 'FAIL', 'CRITICAL')"


@schema
class CameraQCParams(dj.Lookup):
    """Camera QC thresholds (IBL's by default).

    Attributes:
        camera_qc_params (str): Name of the set.
        brightness_low, brightness_high (float): Accepted mean grey level of a frame.
        brightness_pct_pass (float): Fraction of sampled frames that must be within.
        framerate_tolerance_hz (float): Hz.
        dropped_threshold_pct (float): Percent of exposures.
        position_pass_pct, position_warn_pct (float): Shift limits, % of the frame size.
        focus_fail_ratio, focus_warn_ratio (float): Sharpness ratio limits to the reference.
        n_sample_frames (int): Frames sampled for brightness, position and focus.
    """

    definition = """
    camera_qc_params: varchar(32)
    ---
    brightness_low: float64
    brightness_high: float64
    brightness_pct_pass: float64
    framerate_tolerance_hz: float64
    dropped_threshold_pct: float64
    position_pass_pct: float64
    position_warn_pct: float64
    focus_fail_ratio: float64
    focus_warn_ratio: float64
    n_sample_frames: int32
    """
    contents = [
        dict(camera_qc_params="ibl", brightness_low=40.0, brightness_high=200.0, brightness_pct_pass=0.75,
             framerate_tolerance_hz=1.0, dropped_threshold_pct=0.1, position_pass_pct=10.0, position_warn_pct=15.0,
             focus_fail_ratio=0.25, focus_warn_ratio=0.5, n_sample_frames=20),
    ]  # fmt: skip

    @staticmethod
    def as_params(row: dict) -> qc.CameraQCParams:
        return qc.CameraQCParams(
            brightness_bounds=(row["brightness_low"], row["brightness_high"]),
            brightness_pct_pass=row["brightness_pct_pass"], framerate_tolerance_hz=row["framerate_tolerance_hz"],
            dropped_threshold_pct=row["dropped_threshold_pct"],
            position_thresh_pct=(row["position_pass_pct"], row["position_warn_pct"]),
            focus_ratio_thresh=(row["focus_fail_ratio"], row["focus_warn_ratio"]),
        )  # fmt: skip


@schema
class CameraReference(dj.Manual):
    """The reference view of a rig camera (the set-up aid's outline and the QC's position/focus).

    Attributes:
        reference_frame (array): ``(height, width)`` uint8 grey frame.
        reference_source (str): Where it came from.
    """

    definition = """
    -> RigCamera
    reference_width: int32           # pixels
    reference_height: int32          # pixels
    ---
    reference_frame: <npy@ibl_video> # (height, width) uint8
    reference_source: varchar(255)
    """


@schema
class CameraQC(dj.Computed):
    """IBL's camera QC of one synced recording.

    Attributes:
        camera_qc_params (str): Thresholds used.
        overall_outcome (str): The worst outcome of the checks.
    """

    definition = """
    -> SyncPulses
    ---
    -> CameraQCParams
    overall_outcome: enum('NOT_SET', 'PASS', 'WARNING', 'FAIL', 'CRITICAL')
    """

    class Check(dj.Part):
        """One check: its value (unit in ``pipeline.qc``'s docstrings), outcome and details.

        Attributes:
            check_name (str): ``brightness``, ``framerate``, ``dropped_frames``...
            outcome (str): NOT_SET, PASS, WARNING, FAIL or CRITICAL.
            check_value (str): The headline number, as text.
            check_details (str): JSON of the other numbers.
        """

        definition = """
        -> master
        check_name: varchar(32)
        ---
        outcome: enum('NOT_SET', 'PASS', 'WARNING', 'FAIL', 'CRITICAL')
        check_value=null: varchar(64)
        check_details: varchar(2000)  # JSON
        """

    def make_fetch(self, key, camera_qc_params: str = "ibl"):
        """Small values and lazy array references only (DataJoint re-runs and hashes this)."""
        session_dir, rig_type = (Session & key).fetch1("session_dir", "rig_type")
        rec = (CameraRecording & key).fetch1("raw_video_path", "n_frames", "fps", "width", "height", "frame_data")
        camera = (RigCamera & {"rig_type": rig_type, "camera_label": key["camera_label"]}).fetch1()
        params = (CameraQCParams & {"camera_qc_params": camera_qc_params}).fetch1()
        times = (SyncPulses & key).fetch1("frame_times")  # lazy reference to the object store
        reference = CameraReference & {"rig_type": rig_type, "camera_label": key["camera_label"],
                                       "reference_width": rec[3], "reference_height": rec[4]}  # fmt: skip
        reference = reference.fetch1("reference_frame") if reference else None
        audio_channel = fpga_wiring(key).channel("audio") if camera["sync_device"] == "fpga" else None
        return session_dir, rec, camera, params, times, reference, audio_channel

    def make_compute(self, key, session_dir, rec, camera, params, times, reference, audio_channel):
        root = config.current().data_root
        raw_video_path, n_frames, fps, width, height, frame_data = rec
        times = np.asarray(times)
        video = layout.resolve_under(root, raw_video_path)
        if not video.exists():
            raise FileNotFoundError(f"raw video of {session_name(key)} {key['camera_label']} camera is gone: {video}")
        indices = np.linspace(0, n_frames - 1, min(params["n_sample_frames"], n_frames)).round().astype(int)
        frames = read_frames_at(video, width, height, indices)
        counter = pin = n_ttl = None
        if frame_data is not None:
            fd = FrameData.from_array(frame_data)
            counter = fd.frame_counter
            changes = [np.count_nonzero(np.diff(gpio_pin_state(fd.gpio, p).astype(int))) for p in range(4)]
            pin = gpio_pin_state(fd.gpio, int(np.argmax(changes)))
            daq = load_daq_files(layout.resolve_under(root, session_dir))
            # the GPIO pin carries the audio TTL, which the DAQ of the camera's clock records too
            edges = daq.fpga_sync.edges(audio_channel) if audio_channel is not None else daq.bpod_sync.edges(BPOD_AUDIO_CHANNEL)
            n_ttl = int(np.count_nonzero((edges >= times[0]) & (edges <= times[-1])))
        results = qc.camera_qc(
            frames, frame_times_s=times, n_video_frames=n_frames, video_fps=fps, width=width, height=height,
            expected_fps=camera["expected_fps"], expected_width=camera["expected_width"],
            expected_height=camera["expected_height"], frame_counter=counter, pin_state=pin, n_ttl_events=n_ttl,
            reference=None if reference is None else np.asarray(reference), params=CameraQCParams.as_params(params),
        )  # fmt: skip
        master, checks = check_rows(key, results)
        return dict(master, camera_qc_params=params["camera_qc_params"]), checks

    def make_insert(self, key, master, checks):
        self.insert1(master)
        self.Check.insert(checks)


def check_rows(key: dict, results, *, default=None) -> tuple[dict, list[dict]]:
    """The rows of a QC master table and of its Part ``Check`` (``CameraQC``, ``PoseQC``).

    Parameters
    ----------
    key : dict
        Primary key of the master row.
    results : iterable of pipeline.qc.QCResult
        The checks, in the order they are to be inserted.
    default : callable, optional
        ``json.dumps``'s ``default`` for values of the details JSON cannot encode
        (NumPy scalars and arrays become numbers and lists by default).

    Returns
    -------
    master : dict
        ``key`` with ``overall_outcome``, the worst outcome of the checks.
    checks : list of dict
        One Part row per check: ``check_name``, ``outcome``, ``check_value`` (the value as
        text, at most 64 characters, or None) and ``check_details`` (JSON, at most 2000).
    """
    results = list(results)
    master = dict(key, overall_outcome=qc.overall_outcome(r.outcome for r in results))
    checks = [
        dict(key, check_name=r.check, outcome=r.outcome, check_value=None if r.value is None else str(r.value)[:64],
             check_details=json.dumps(r.details, default=default or _jsonable)[:2000])
        for r in results
    ]  # fmt: skip
    return master, checks


def _jsonable(x):
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


#: Verdicts of a :class:`QCReview`.
VERDICTS = ("pass", "fail", "needs-work")
#: ``QCReview.review_target`` of a review of the whole session (else a camera label).
SESSION_TARGET = "session"
#: Times :func:`add_review` tries to insert when other processes save reviews of the same target at once.
REVIEW_ATTEMPTS = 5


@schema
class QCReview(dj.Manual):
    """A reviewer's sign-off of a session or of one of its cameras (``ibl-video serve``).

    A later review adds a row (keyed by its time), never overwrites: the latest row of a
    target is its current verdict (:func:`latest_reviews`).

    Attributes:
        review_target (str): ``session`` for the whole session, else a camera label.
        review_time (datetime): When the review was saved (the database server's clock, ms).
        reviewer (str): Who reviewed.
        verdict (str): pass, fail or needs-work.
        note (str): Free text.
    """

    definition = """
    -> Session
    review_target: varchar(16)       # 'session', or the camera label reviewed
    review_time: datetime(3)         # database server clock
    ---
    reviewer: varchar(64)
    verdict: enum('pass', 'fail', 'needs-work')
    note: varchar(2000)
    """


def add_review(session_key: dict, reviewer: str, verdict: str, note: str = "", *,
               target: str = SESSION_TARGET) -> dict:
    """Insert a :class:`QCReview` row timed by the database server; returns the row.

    Raises
    ------
    ValueError
        If the session is not in ``Session``, the target is neither ``session`` nor a camera
        of the session's rig, the verdict is not one of :data:`VERDICTS`, the reviewer is
        empty, or the note is longer than 2000 characters.
    datajoint.errors.DuplicateError
        If other processes kept saving reviews of the same target at the same millisecond
        through :data:`REVIEW_ATTEMPTS` attempts (each attempt moves the time 1 ms later).
    """
    key = {k: session_key[k] for k in ("subject", "session_date", "session_number")}
    if not Session & key:
        raise ValueError(f"no session {session_name(key)} in the Session table")
    rig_type = (Session & key).fetch1("rig_type")
    cameras = sorted((RigCamera & {"rig_type": rig_type}).to_arrays("camera_label"))
    if target != SESSION_TARGET and target not in cameras:
        raise ValueError(f"review target must be {SESSION_TARGET!r} or a camera of the {rig_type} rig "
                         f"({', '.join(cameras)}), not {target!r}")  # fmt: skip
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}, not {verdict!r}")
    reviewer = reviewer.strip()
    if not reviewer or len(reviewer) > 64:
        raise ValueError("reviewer must be a name of 1 to 64 characters")
    if len(note) > 2000:
        raise ValueError(f"note is {len(note)} characters; at most 2000")
    target_key = dict(key, review_target=target)
    last = (QCReview & target_key).to_arrays("review_time")
    now = _server_time(QCReview.connection)
    if len(last) and now <= max(last):  # two reviews within the same millisecond: keep both, in order
        now = max(last) + dt.timedelta(milliseconds=1)
    row = dict(target_key, review_time=now, reviewer=reviewer, verdict=verdict, note=note)
    for _ in range(REVIEW_ATTEMPTS - 1):
        try:
            QCReview.insert1(row)
            return row
        except dj.errors.DuplicateError:  # another process saved a review of this target at that time
            last = (QCReview & target_key).to_arrays("review_time")
            row["review_time"] = max([row["review_time"], *last]) + dt.timedelta(milliseconds=1)
    QCReview.insert1(row)  # the last attempt: a DuplicateError now is raised
    return row


def _server_time(connection) -> dt.datetime:
    """The database server's clock (ms), without time zone."""
    now = connection.query("SELECT CURRENT_TIMESTAMP(3)").fetchone()[0]
    return now.replace(tzinfo=None) if now.tzinfo is not None else now


def latest_reviews(restriction=None) -> list[dict]:
    """The latest :class:`QCReview` row of each (session, target), ordered by session and target.

    Parameters
    ----------
    restriction : dict, list or query, optional
        Sessions to look at (default: all).
    """
    rows = (QCReview & restriction if restriction is not None else QCReview).to_dicts(order_by="review_time")
    latest: dict[tuple, dict] = {}
    for row in rows:
        latest[(row["subject"], row["session_date"], row["session_number"], row["review_target"])] = row
    return [latest[k] for k in sorted(latest, key=lambda k: (k[0], str(k[1]), k[2], k[3] != SESSION_TARGET, k[3]))]
