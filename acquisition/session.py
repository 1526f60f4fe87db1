"""Record a whole session into IBL's folder layout, and read such a folder back.

:func:`record_session` records the cameras of one rig into
``<data_root>/<subject>/<YYYY-MM-DD>/<NNN>/`` (:func:`pipeline.layout.session_folder`)::

    raw_video_data/_iblrig_<label>Camera.raw.avi         FFV1, grey (acquisition.recorder)
    raw_video_data/_iblrig_<label>Camera.frameData.bin   IBL per-frame metadata
    raw_ephys_data/_spikeglx_sync.*.npy                  simulated backend, ephys rigs
    raw_behavior_data/_iblrig_taskData.raw.jsonable, _iblrig_taskSettings.raw.json   Bpod (simulated)
    simulation_truth/                                    simulated backend: ground truth
    session.json                                         session description (below)
    raw_video_data/recording.complete                    completion marker, written LAST

``session.json`` (format ``"ibl-video-session/1"``) holds ``subject``, ``date``, ``number``,
``rig_type``, ``start_time`` (ISO 8601, local time of the computer, no time zone),
``end_time``, ``uuid``, ``backend``, ``duration_s``, ``interrupted``, ``daq_files``,
``subject_info`` (the subject's sex, date of birth, species and strain, or null:
:mod:`pipeline.io.subject`) and, per camera under ``cameras``, the files (relative to the session folder) and the recording
figures (frames, drops, settings, serial, features the camera lacks).

The **completion marker** ``raw_video_data/recording.complete`` (:data:`COMPLETE_MARKER`)
is written only after every file is closed and ``session.json`` is written; it repeats
the session's ``uuid`` and lists every file with its size. A folder without it is
half-recorded, interrupted (Ctrl-C) or failed: :func:`read_session_folder` refuses it, so
such a session is never inserted. IBL's own rigs mark finished sessions with a flag file in
the same spirit (``transfer_me.flag``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
import threading
import uuid as uuid_module
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from acquisition.cameras import BACKENDS, Camera, CameraConfig, open_camera, scaled_size
from acquisition.recorder import RecordingError, RecordingResult, record
from pipeline.io.iblrig import TASK_SETTINGS, board_name, write_task_settings
from pipeline.layout import RAW_BEHAVIOR_DIR, RAW_VIDEO_DIR, session_folder
from pipeline.rigs import RIG_TYPES, camera_settings, rig_cameras

__all__ = [
    "COMPLETE_MARKER",
    "SESSION_FILE",
    "IncompleteSessionError",
    "SessionCamera",
    "SessionInfo",
    "SessionRecording",
    "next_session_number",
    "read_session_folder",
    "record_session",
    "write_replay_images",
]

#: Completion marker, relative to the session folder; written last.
COMPLETE_MARKER = f"{RAW_VIDEO_DIR}/recording.complete"
#: Session description file, relative to the session folder.
SESSION_FILE = "session.json"
SESSION_FORMAT = "ibl-video-session/1"


class IncompleteSessionError(FileNotFoundError):
    """A session folder has no completion marker (interrupted, failed or still recording)."""


@dataclass(frozen=True)
class SessionRecording:
    """What :func:`record_session` produced.

    Attributes
    ----------
    folder : Path
        The session folder ``<data_root>/<subject>/<date>/<NNN>``.
    subject : str
    date : datetime.date
    number : int
        Session number of the day (1, 2, ...).
    rig_type : str
    start_time : datetime.datetime
        Local time of the computer when recording started (naive).
    uuid : str
        Unique id of this recording (also in the marker).
    backend : str
    cameras : dict of label to RecordingResult
    interrupted : bool
        True if any camera was interrupted; then no completion marker was written.
    complete : bool
        True when the completion marker exists.
    daq_files : list of Path
        DAQ files written (simulated backend).
    truth_files : list of Path
        Ground-truth files written (simulated backend).
    """

    folder: Path
    subject: str
    date: dt.date
    number: int
    rig_type: str
    start_time: dt.datetime
    uuid: str
    backend: str
    cameras: dict[str, RecordingResult]
    interrupted: bool
    complete: bool
    daq_files: list[Path] = field(default_factory=list)
    truth_files: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class SessionCamera:
    """One camera of a recorded session, as :func:`read_session_folder` reads it.

    Attributes
    ----------
    label : str
    video_path, framedata_path : Path
        Absolute paths.
    fps : float
        Nominal frame rate, frames per second.
    width, height : int
        Pixels.
    n_frames : int
        Frames in the video (= rows of frameData).
    n_queue_drops : int
        Frames lost at the recorder's queue.
    n_counter_gaps : int
        Frames missing according to the frame counter.
    settings : dict
        The camera's description (backend, serial, exposure_us, gain_db, missing_features...).
    """

    label: str
    video_path: Path
    framedata_path: Path
    fps: float
    width: int
    height: int
    n_frames: int
    n_queue_drops: int
    n_counter_gaps: int
    settings: dict[str, Any]


@dataclass(frozen=True)
class SessionInfo:
    """A complete session folder, as :func:`read_session_folder` reads it.

    Attributes
    ----------
    folder : Path
    subject : str
    date : datetime.date
    number : int
    rig_type : str
    start_time : datetime.datetime
        Naive local time.
    end_time : datetime.datetime
    uuid : str
    backend : str
    cameras : dict of label to SessionCamera
    simulated : bool
        Recorded with the simulated backend (then DAQ files and ``simulation_truth/`` exist).
    daq_files : list of Path
        Absolute paths of the DAQ files listed in ``session.json``.
    description : dict
        The whole of ``session.json``.
    """

    folder: Path
    subject: str
    date: dt.date
    number: int
    rig_type: str
    start_time: dt.datetime
    end_time: dt.datetime
    uuid: str
    backend: str
    cameras: dict[str, SessionCamera]
    simulated: bool
    daq_files: list[Path]
    description: dict[str, Any]


def next_session_number(data_root: Path | str, subject: str, date: dt.date | str) -> int:
    """The next free session number of ``subject`` on ``date`` (1 when there is none)."""
    day = Path(data_root) / session_folder(subject, date, 0).parent
    if not day.is_dir():
        return 1
    numbers = [int(p.name) for p in day.iterdir() if p.is_dir() and p.name.isdigit()]
    return max(numbers, default=0) + 1


def _make_session_dir(
    data_root: Path, subject: str, date: dt.date, number: int | None
) -> tuple[Path, int]:
    if number is not None:
        if int(number) < 0 or int(number) > 999:
            raise ValueError(f"session number must be in 0..999, got {number}")
        folder = data_root / session_folder(subject, date, int(number))
        if folder.exists():
            raise FileExistsError(f"session folder already exists: {folder}")
        folder.mkdir(parents=True)
        return folder, int(number)
    for _ in range(100):  # another process may take the same number: mkdir is the lock
        n = next_session_number(data_root, subject, date)
        folder = data_root / session_folder(subject, date, n)
        try:
            folder.mkdir(parents=True)
            return folder, n
        except FileExistsError:
            continue
    raise RuntimeError(
        f"could not allocate a session folder for {subject} on {date} under {data_root}"
    )


def _write_json_atomic(path: Path, content: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(content, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _rel(folder: Path, path: Path) -> str:
    return Path(path).relative_to(folder).as_posix()


def _simulated_cameras(
    labels: Sequence[str],
    rig_type: str,
    duration_s: float,
    scale: float,
    seed: int,
    daq_config: Any,
    realtime: bool,
) -> tuple[dict[str, Camera], Any, Any, dict[str, Any]]:
    from acquisition.daq import DaqConfig, simulate_daq
    from acquisition.simulator import Behaviour, MouseScene

    behaviour = Behaviour(duration_s, seed=seed)
    config = DaqConfig(seed=seed) if daq_config is None else daq_config
    daq = simulate_daq(
        rig_type, duration_s, config, cameras=list(labels), trial_onsets_s=behaviour.trial_onsets_s
    )
    cameras: dict[str, Camera] = {}
    scenes: dict[str, Any] = {}
    for label in labels:
        settings = camera_settings(rig_type, label)
        width, height = scaled_size(settings.width, settings.height, scale)
        scene = MouseScene(behaviour, label, width, height, seed=seed)
        timing = daq.cameras[label]
        cam = open_camera("simulated", label, scene=scene, timing=timing, realtime=realtime)
        cam.configure(
            CameraConfig(
                fps=float(timing.fps),
                exposure_us=float(timing.exposure_us or settings.exposure_us),
                gain_db=float(settings.gain_db),
                width=width,
                height=height,
            )
        )
        cameras[label] = cam
        scenes[label] = scene
    return cameras, daq, behaviour, scenes


def write_replay_images(
    folder: Path | str,
    rig_type: str,
    label: str,
    n_frames: int,
    *,
    scale: float = 1.0,
    seed: int = 0,
    duration_s: float | None = None,
) -> Path:
    """Render ``n_frames`` simulator frames of one camera as PNG files, for pylon's emulator.

    Frame ``k`` shows the simulated mouse at ``k / fps`` s (the rig's frame rate), so a
    camera replaying the folder (``PylonCamera(image_dir=...)``) delivers a moving mouse.
    Files are ``frame_000000.png``, ... (the emulator plays them in name order, looping).

    Returns
    -------
    Path
        ``folder``.
    """
    import cv2

    from acquisition.simulator import Behaviour, MouseScene

    settings = camera_settings(rig_type, label)
    width, height = scaled_size(settings.width, settings.height, scale)
    times = np.arange(int(n_frames)) / settings.fps
    # (the simulator's Behaviour needs a few seconds to hold a trial)
    behaviour = Behaviour(max(duration_s or 0.0, float(times[-1]) + 1.0, 10.0), seed=seed)
    scene = MouseScene(behaviour, label, width, height, seed=seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for start in range(0, len(times), 32):
        frames = scene.render(times[start : start + 32])
        for k, frame in enumerate(frames, start):
            cv2.imwrite(str(folder / f"frame_{k:06d}.png"), frame, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    return folder


def _hardware_cameras(
    backend: str,
    labels: Sequence[str],
    rig_type: str,
    scale: float,
    serials: Mapping[str, int | str] | None,
    camera_options: Mapping[str, Any] | None,
    replay: Mapping[str, Path] | None = None,
) -> dict[str, Camera]:
    cameras: dict[str, Camera] = {}
    options = dict(camera_options or {})
    try:
        for i, label in enumerate(labels):
            which = (serials or {}).get(label, i)
            per_label = options.get(label, {}) if isinstance(options.get(label), Mapping) else {}
            shared = {k: v for k, v in options.items() if k not in labels}
            kw = {**shared, **per_label}
            if replay and label in replay:
                kw.setdefault("image_dir", replay[label])
            cam = open_camera(backend, which, label=label, **kw)
            cameras[label] = cam
            cam.configure(CameraConfig.from_settings(camera_settings(rig_type, label), scale=scale))
    except Exception:
        for cam in cameras.values():
            cam.close()
        raise
    return cameras


def record_session(
    data_root: Path | str,
    subject: str,
    rig_type: str,
    duration_s: float,
    *,
    backend: str = "simulated",
    date: dt.date | str | None = None,
    number: int | None = None,
    scale: float = 1.0,
    seed: int = 0,
    daq_config: Any = None,
    cameras: Sequence[str] | None = None,
    progress: bool = True,
    realtime: bool = False,
    serials: Mapping[str, int | str] | None = None,
    camera_options: Mapping[str, Any] | None = None,
    queue_frames: int = 64,
    replay_simulation: bool = False,
    stop_event: threading.Event | None = None,
    subject_info: Mapping[str, Any] | None = None,
) -> SessionRecording:
    """Record one session into ``<data_root>/<subject>/<date>/<NNN>/``.

    Parameters
    ----------
    data_root : path
        Root of the data (created if missing).
    subject : str
        Subject name (a folder name: letters, digits, ``_`` and ``-``).
    rig_type : {"training", "ephys"}
        Rig type; its cameras and their settings come from :mod:`pipeline.rigs`.
    duration_s : float
        Session length, s. Simulated: the simulated session's length (its cameras expose
        from ~0.5 s to ``duration_s - 0.5`` s, see :class:`acquisition.daq.DaqConfig`);
        hardware: recording time on the computer's clock.
    backend : {"simulated", "pyspin", "pylon"}
        Camera backend.
    date : datetime.date or "YYYY-MM-DD", optional
        Session date (default: today).
    number : int, optional
        Session number; default the next free one (1 for the first session of the day).
    scale : float
        Image size factor on the rig's default sizes (0.25: 320x256 for 1280x1024).
    seed : int
        Simulation seed (behaviour, scenes, DAQ).
    daq_config : acquisition.daq.DaqConfig, optional
        Simulated DAQ settings (default ``DaqConfig(seed=seed)``).
    cameras : sequence of str, optional
        Camera labels to record (default: all of the rig's cameras).
    progress : bool
        Show progress bars.
    realtime : bool
        Simulated backend: deliver frames at their real times (default: as fast as possible).
    serials : mapping of label to int or str, optional
        Hardware backends: device index or serial number per camera (default: the i-th
        device for the i-th camera).
    camera_options : mapping, optional
        Hardware backends: extra keyword arguments for :func:`acquisition.cameras.open_camera`
        (e.g. ``{"emulation": 3}`` for pylon's camera emulation); a value keyed by a camera
        label applies to that camera only (e.g. ``{"left": {"image_dir": ...}}``).
    queue_frames : int
        Recorder queue size per camera, frames.
    replay_simulation : bool
        ``"pylon"`` with camera emulation only: the emulated cameras replay simulator frames
        (:func:`write_replay_images`, rendered to a temporary folder first) instead of
        pylon's test pattern, so the videos show a mouse. There are no DAQ files or truth
        for such a session (the emulator is not wired to a DAQ).
    stop_event : threading.Event, optional
        Setting it stops the recording like Ctrl-C (the session is marked interrupted).
    subject_info : mapping, optional
        The subject's sex, date of birth, species, strain (Alyx's or our keys,
        :func:`pipeline.io.subject.normalize_subject`; e.g. :func:`pipeline.io.subject.read_subject_file`),
        written to ``session.json`` for the ``Subject`` row. Default: the simulator's mouse
        (:func:`acquisition.simulator.simulated_subject`) on the simulated backend, none
        (unknown, or the row already in the table) on cameras.

    Returns
    -------
    SessionRecording
        ``interrupted`` is True (and ``complete`` False) after Ctrl-C; the folder then has
        playable files but no completion marker.

    Raises
    ------
    ValueError
        Unknown rig type, backend or camera, bad subject name or description, or a
        duration <= 0.
    FileExistsError
        If ``number`` is given and that session folder exists.
    acquisition.recorder.RecordingError
        If a camera or writer failed (the folder is left without its marker).
    """
    if rig_type not in RIG_TYPES:
        raise ValueError(f"unknown rig type {rig_type!r}; known: {', '.join(sorted(RIG_TYPES))}")
    if backend not in BACKENDS:
        raise ValueError(f"unknown camera backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if not subject or not all(c.isalnum() or c in "_-" for c in subject):
        raise ValueError(
            f"subject {subject!r} must be letters, digits, '_' or '-' (it names a folder)"
        )
    if not duration_s > 0:
        raise ValueError(f"duration_s must be > 0, got {duration_s}")
    available = [c.label for c in rig_cameras(rig_type)]
    labels = list(available if cameras is None else cameras)
    unknown = [c for c in labels if c not in available]
    if unknown or not labels or len(set(labels)) != len(labels):
        raise ValueError(
            f"cameras {labels} are not distinct cameras of rig {rig_type!r} ({available})"
        )
    if date is None:
        date = dt.date.today()
    elif isinstance(date, str):
        date = dt.date.fromisoformat(date)
    if subject_info is None and backend == "simulated":
        from acquisition.simulator import simulated_subject

        subject_info = simulated_subject(subject)
    if subject_info is not None:
        from pipeline.io.subject import normalize_subject

        subject_info = normalize_subject(subject_info, "subject_info")
        if subject_info.pop("subject", subject) != subject:
            raise ValueError(f"subject_info describes another subject than {subject!r}")
        dob = subject_info["date_of_birth"]
        subject_info["date_of_birth"] = None if dob is None else dob.isoformat()

    data_root = Path(data_root)
    data_root.mkdir(parents=True, exist_ok=True)
    simulated = backend == "simulated"
    daq = behaviour = None
    scenes: dict[str, Any] = {}
    if replay_simulation and backend != "pylon":
        raise ValueError("replay_simulation needs backend='pylon' (pylon's camera emulation)")
    replay_dir = tempfile.TemporaryDirectory(prefix="ibl-replay-") if replay_simulation else None
    replay: dict[str, Path] = {}
    if replay_dir is not None:
        for label in labels:
            fps = camera_settings(rig_type, label).fps
            replay[label] = write_replay_images(
                Path(replay_dir.name) / label, rig_type, label, int(np.ceil(duration_s * fps)) + 16,
                scale=scale, seed=seed, duration_s=duration_s + 1.0,
            )  # fmt: skip
    if simulated:
        cams, daq, behaviour, scenes = _simulated_cameras(
            labels, rig_type, duration_s, scale, seed, daq_config, realtime
        )
    else:
        try:
            cams = _hardware_cameras(
                backend, labels, rig_type, scale, serials, camera_options, replay
            )
        except Exception:
            if replay_dir is not None:
                replay_dir.cleanup()
            raise

    try:
        folder, number = _make_session_dir(data_root, subject, date, number)
    except Exception:
        for cam in cams.values():
            cam.close()
        if replay_dir is not None:
            replay_dir.cleanup()
        raise
    session_uuid = str(uuid_module.uuid4())
    start_time = dt.datetime.now().replace(microsecond=0)
    daq_files: list[Path] = []
    truth_files: list[Path] = []
    results: dict[str, RecordingResult] = {}
    error: RecordingError | None = None
    try:
        try:
            results = record(
                cams,
                folder / RAW_VIDEO_DIR,
                duration_s=None if simulated else duration_s,
                queue_frames=queue_frames,
                progress=progress,
                stop_event=stop_event,
            )
        except RecordingError as exc:
            error, results = exc, exc.results
        if simulated and error is None:
            from acquisition.daq import save_truth, write_daq_files

            daq_files = write_daq_files(daq, folder)
            # the simulated rig's iblrig: the task settings IBL's rigs write beside the Bpod data
            daq_files.append(write_task_settings(
                folder / RAW_BEHAVIOR_DIR / TASK_SETTINGS, subject=subject, date=date,
                number=number, start_time=start_time, board=board_name(rig_type),
                protocol="_iblrig_tasks_ephysChoiceWorld" if rig_type == "ephys" else "_iblrig_tasks_trainingChoiceWorld",
            ))  # fmt: skip
            scene_truth = {
                label: scenes[label].truth(daq.cameras[label].frame_times_s) for label in labels
            }
            truth_files = save_truth(folder, daq, scene_truth, behaviour)
    finally:
        descriptions = {label: cam.describe() for label, cam in cams.items()}
        for cam in cams.values():
            cam.close()
        if replay_dir is not None:
            replay_dir.cleanup()

    interrupted = error is not None or any(r.interrupted for r in results.values())
    end_time = dt.datetime.now().replace(microsecond=0)
    description = {
        "format": SESSION_FORMAT,
        "subject": subject,
        "date": date.isoformat(),
        "number": number,
        "rig_type": rig_type,
        "start_time": start_time.isoformat(),
        "end_time": end_time.isoformat(),
        "uuid": session_uuid,
        "backend": backend,
        "duration_s": float(duration_s),
        "interrupted": interrupted,
        "error": None if error is None else str(error),
        "simulation": {"seed": seed, "scale": scale, "replayed_by_emulator": replay_simulation}
        if simulated or replay_simulation
        else None,
        "daq_files": [_rel(folder, p) for p in daq_files],
        "subject_info": subject_info,
        "truth_dir": "simulation_truth" if truth_files else None,
        "cameras": {
            label: {
                "video": _rel(folder, res.path),
                "frame_data": _rel(folder, res.framedata_path),
                "fps": res.fps,
                "width": res.width,
                "height": res.height,
                "n_frames": res.n_frames,
                "n_grabbed": res.n_grabbed,
                "n_queue_drops": res.n_queue_drops,
                "n_counter_gaps": res.n_counter_gaps,
                "measured_fps": None if np.isnan(res.measured_fps) else res.measured_fps,
                "stop_reason": res.stop_reason,
                "interrupted": res.interrupted,
                "settings": descriptions[label],
            }
            for label, res in results.items()
        },
    }
    _write_json_atomic(folder / SESSION_FILE, description)
    if error is not None:
        raise error
    complete = not interrupted
    if complete:
        files = [folder / SESSION_FILE, *daq_files, *truth_files]
        for res in results.values():
            files += [res.path, res.framedata_path]
        marker = {
            "uuid": session_uuid,
            "completed_at": dt.datetime.now().replace(microsecond=0).isoformat(),
            "files": {_rel(folder, p): p.stat().st_size for p in files},
        }
        _write_json_atomic(folder / COMPLETE_MARKER, marker)
    return SessionRecording(
        folder=folder,
        subject=subject,
        date=date,
        number=number,
        rig_type=rig_type,
        start_time=start_time,
        uuid=session_uuid,
        backend=backend,
        cameras=results,
        interrupted=interrupted,
        complete=complete,
        daq_files=daq_files,
        truth_files=truth_files,
    )


def read_session_folder(folder: Path | str) -> SessionInfo:
    """Read a complete session folder written by :func:`record_session`.

    Raises
    ------
    FileNotFoundError
        If the folder or ``session.json`` does not exist.
    IncompleteSessionError
        If the completion marker ``raw_video_data/recording.complete`` is missing (the
        recording was interrupted, failed, or is still running); the message names it.
    ValueError
        If the marker belongs to another recording (uuid differs), or a file it lists is
        missing or has changed size, or ``session.json`` is not in this format.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"session folder not found: {folder}")
    marker_path = folder / COMPLETE_MARKER
    desc_path = folder / SESSION_FILE
    if not marker_path.is_file():
        state = ""
        if desc_path.is_file():
            try:
                desc = json.loads(desc_path.read_text())
                if desc.get("interrupted"):
                    state = " session.json says the recording was interrupted"
                    if desc.get("error"):
                        state += f" ({desc['error']})"
                    state += "."
            except (OSError, ValueError):
                pass
        else:
            state = " There is no session.json either: the recording may still be running."
        raise IncompleteSessionError(
            f"session {folder} is incomplete: its completion marker {COMPLETE_MARKER} is "
            f"missing, so it must not be inserted.{state}"
        )
    if not desc_path.is_file():
        raise FileNotFoundError(f"session description not found: {desc_path}")
    desc = json.loads(desc_path.read_text())
    marker = json.loads(marker_path.read_text())
    if desc.get("format") != SESSION_FORMAT:
        raise ValueError(
            f"{desc_path} has format {desc.get('format')!r}, expected {SESSION_FORMAT!r}"
        )
    if marker.get("uuid") != desc.get("uuid"):
        raise ValueError(
            f"completion marker {marker_path} is for recording {marker.get('uuid')} but "
            f"{desc_path} describes {desc.get('uuid')}"
        )
    problems = []
    for rel, size in marker.get("files", {}).items():
        path = folder / rel
        if not path.is_file():
            problems.append(f"{rel} is missing")
        elif rel != SESSION_FILE and path.stat().st_size != size:
            problems.append(f"{rel} has {path.stat().st_size} bytes, {size} when recorded")
    if problems:
        raise ValueError(f"session {folder} changed since it was recorded: {'; '.join(problems)}")
    cameras = {
        label: SessionCamera(
            label=label,
            video_path=folder / c["video"],
            framedata_path=folder / c["frame_data"],
            fps=float(c["fps"]),
            width=int(c["width"]),
            height=int(c["height"]),
            n_frames=int(c["n_frames"]),
            n_queue_drops=int(c["n_queue_drops"]),
            n_counter_gaps=int(c["n_counter_gaps"]),
            settings=dict(c.get("settings", {})),
        )
        for label, c in desc["cameras"].items()
    }
    return SessionInfo(
        folder=folder,
        subject=desc["subject"],
        date=dt.date.fromisoformat(desc["date"]),
        number=int(desc["number"]),
        rig_type=desc["rig_type"],
        start_time=dt.datetime.fromisoformat(desc["start_time"]),
        end_time=dt.datetime.fromisoformat(desc["end_time"]),
        uuid=desc["uuid"],
        backend=desc["backend"],
        cameras=cameras,
        simulated=desc["backend"] == "simulated",
        daq_files=[folder / p for p in desc.get("daq_files", [])],
        description=desc,
    )
