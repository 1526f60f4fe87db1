"""IBL rig files: the task settings and the Bpod's per-trial data, as iblrig 5-8 write them.

``raw_behavior_data/_iblrig_taskSettings.raw.json``: one JSON object; the session's subject,
date, number, start time, Bpod board and protocol (:func:`read_task_settings`).

``raw_behavior_data/_iblrig_taskData.raw.jsonable``: one JSON object per trial, one trial per
line, appended by the rig as the session runs. Its ``behavior_data`` holds the trial's
``"Bpod start timestamp"``, ``"Trial start timestamp"``, ``"Trial end timestamp"``, the
``"States timestamps"`` (``{state: [[start, end], ...]}``) and ``"Events timestamps"``
(``{event: [t, ...]}``); state and event times are relative to the trial's start, so a time
on the session's Bpod clock (seconds from Bpod start, as ibllib's ``trial_times_to_times``
gives it) is ``t + "Trial start timestamp" - "Bpod start timestamp"``. The camera's TTL is
on Bpod port 1: ``Port1In`` is a frame's rising edge, ``Port1Out`` its falling edge; the
Bpod records them only while a trial runs (:func:`read_task_data`).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

TASK_SETTINGS = "_iblrig_taskSettings.raw.json"
TASK_DATA = "_iblrig_taskData.raw.jsonable"

#: Bpod events of the camera's TTL (port 1): rising and falling edge of each frame's pulse.
CAMERA_RISE_EVENT, CAMERA_FALL_EVENT = "Port1In", "Port1Out"
#: The audio TTL (the sound card's, also on the cameras' GPIO pin 4): Bpod BNC input 2, as
#: ibllib's ``raw_data_loaders.load_bpod_fronts`` reads it.
AUDIO_RISE_EVENT, AUDIO_FALL_EVENT = "BNC2High", "BNC2Low"
#: The state whose start is the trial-start TTL the Bpod sends to the FPGA (BNC1).
TRIAL_START_STATE = "trial_start"


@dataclass(frozen=True)
class TaskSettings:
    """What a session's ``_iblrig_taskSettings.raw.json`` says of it.

    Attributes
    ----------
    subject, date, number : str, datetime.date, int
        ``SUBJECT_NAME``, ``SESSION_DATE``, ``SESSION_NUMBER``.
    start_time : datetime.datetime
        ``SESSION_DATETIME`` (the rig computer's local time).
    board, protocol, version : str
        ``PYBPOD_BOARD``, ``PYBPOD_PROTOCOL``, ``IBLRIG_VERSION_TAG`` ("" where absent).
    rig_type : str or None
        ``"ephys"`` or ``"training"``: from the protocol as ibllib chooses its extractor
        (``_iblrig_tasks_ephysChoiceWorld`` is ephys; training, biased and habituation
        protocols run Bpod-timed cameras, as on a training rig), else from the board's name
        (``_iblrig_<lab>_ephys_0``, ``_iblrig_<lab>_behavior_0``); None when neither says.
    path : Path
        The file read.
    """

    subject: str
    date: dt.date
    number: int
    start_time: dt.datetime
    board: str
    protocol: str
    version: str
    rig_type: str | None
    path: Path


def rig_type_of(protocol: str, board: str) -> str | None:
    """The rig type a session's protocol or, failing that, its Bpod board's name says."""
    task = protocol.lower()
    if "ephyschoiceworld" in task or "passive" in task:
        return "ephys"
    if any(kind in task for kind in ("trainingchoiceworld", "biasedchoiceworld", "habituationchoiceworld")):
        return "training"
    parts = board.lower().split("_")
    if "ephys" in parts:
        return "ephys"
    if "behavior" in parts or "behaviour" in parts or "training" in parts:
        return "training"
    return None


def read_task_settings(path: Path | str) -> TaskSettings:
    """Read a session's ``_iblrig_taskSettings.raw.json``.

    Raises
    ------
    FileNotFoundError
        If the file does not exist (the message names it).
    ValueError
        If it is not JSON, or a key the session needs is missing or malformed (the message
        names the file and the key).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"task settings not found: {path}")
    try:
        settings = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except ValueError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(settings, dict):
        raise ValueError(f"{path} holds {type(settings).__name__}, not a JSON object")

    def need(key: str) -> str:
        value = settings.get(key)
        if value is None or str(value).strip() == "":
            raise ValueError(f"{path} has no {key}: it is needed to register the session")
        return str(value).strip()

    subject = need("SUBJECT_NAME")
    try:
        date = dt.date.fromisoformat(need("SESSION_DATE"))
        start_time = dt.datetime.fromisoformat(need("SESSION_DATETIME")).replace(tzinfo=None)
    except ValueError as exc:
        if str(path) in str(exc):
            raise
        raise ValueError(f"{path}: SESSION_DATE or SESSION_DATETIME is not an ISO date/time: {exc}") from None
    try:
        number = int(need("SESSION_NUMBER"))
    except ValueError:
        raise ValueError(f"{path}: SESSION_NUMBER {settings.get('SESSION_NUMBER')!r} is not a number") from None
    board = str(settings.get("PYBPOD_BOARD") or settings.get("_BOARD") or "")
    protocol = str(settings.get("PYBPOD_PROTOCOL") or settings.get("_PROTOCOL") or "")
    return TaskSettings(
        subject=subject, date=date, number=number, start_time=start_time, board=board, protocol=protocol,
        version=str(settings.get("IBLRIG_VERSION_TAG") or ""), rig_type=rig_type_of(protocol, board), path=path,
    )  # fmt: skip


@dataclass
class BpodData:
    """The camera TTL and the trials of a session's ``_iblrig_taskData.raw.jsonable``.

    Every time is on the session's Bpod clock: seconds from Bpod start.

    Attributes
    ----------
    camera_rises_s, camera_falls_s : (n,) float64
        ``Port1In`` and ``Port1Out`` times of every trial, in order.
    trial_intervals_s : (m, 2) float64
        Start and end of each trial.
    trial_start_ttl_s : (m, 2) float64
        Start and end of each trial's ``trial_start`` state: the TTL the Bpod sends to the
        FPGA, for the FPGA<->Bpod clock fit.
    trials_without_camera : list of int
        Trial numbers (1-based, the file's order) with no ``Port1In`` event.
    audio_rises_s, audio_falls_s : (k,) float64
        ``BNC2High`` and ``BNC2Low`` times: the audio TTL.
    path : Path
        The file read.
    """

    camera_rises_s: np.ndarray
    camera_falls_s: np.ndarray
    trial_intervals_s: np.ndarray
    trial_start_ttl_s: np.ndarray
    trials_without_camera: list[int] = field(default_factory=list)
    audio_rises_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    audio_falls_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    path: Path | None = None


def _finite_times(values, where: str) -> np.ndarray:
    try:
        times = np.asarray(values, np.float64).ravel()
    except (TypeError, ValueError):
        raise ValueError(f"{where} is not a list of numbers: {values!r}"[:300]) from None
    if not np.all(np.isfinite(times)):
        raise ValueError(f"{where} has NaN or infinite times: {values!r}"[:300])
    return times


def read_task_data(path: Path | str) -> BpodData:
    """Read the Bpod's camera TTL and trials from ``_iblrig_taskData.raw.jsonable``.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If a line is not a JSON object (a truncated last line included), a trial lacks its
        ``behavior_data`` timestamps, or a camera event or trial time is NaN: the message
        names the file and the trial (its line number).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Bpod task data not found: {path}")
    rises, falls, intervals, ttl, without, audio_up, audio_down = [], [], [], [], [], [], []
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = [line for line in f if line.strip()]
    for number, line in enumerate(lines, start=1):
        where = f"{path}, trial {number} (line {number})"
        try:
            trial = json.loads(line)
        except ValueError as exc:
            state = "truncated (the rig stopped while writing it?)" if number == len(lines) else "not valid JSON"
            raise ValueError(f"{where} is {state}: {exc}") from None
        data = trial.get("behavior_data") if isinstance(trial, dict) else None
        if not isinstance(data, dict):
            raise ValueError(f"{where} has no behavior_data")
        try:
            bpod_start = float(data["Bpod start timestamp"])
            start = float(data["Trial start timestamp"]) - bpod_start
            end = float(data["Trial end timestamp"]) - bpod_start
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{where}: behavior_data lacks a usable timestamp ({exc})") from None
        if not (math.isfinite(start) and math.isfinite(end)) or end < start:
            raise ValueError(f"{where}: trial start {start} and end {end} are not a finite interval")
        events = data.get("Events timestamps") or {}
        trial_rises = _finite_times(events.get(CAMERA_RISE_EVENT, []), f"{where}: {CAMERA_RISE_EVENT}") + start
        trial_falls = _finite_times(events.get(CAMERA_FALL_EVENT, []), f"{where}: {CAMERA_FALL_EVENT}") + start
        state = (data.get("States timestamps") or {}).get(TRIAL_START_STATE) or [[0.0, 0.0]]
        onset = _finite_times(state[0], f"{where}: state {TRIAL_START_STATE}")
        audio_up.append(_finite_times(events.get(AUDIO_RISE_EVENT, []), f"{where}: {AUDIO_RISE_EVENT}") + start)
        audio_down.append(_finite_times(events.get(AUDIO_FALL_EVENT, []), f"{where}: {AUDIO_FALL_EVENT}") + start)
        intervals.append((start, end))
        ttl.append((start + onset[0], start + onset[-1]))
        if len(trial_rises) == 0:
            without.append(number)
            continue
        rises.append(trial_rises)
        falls.append(trial_falls)
    if not intervals:
        raise ValueError(f"{path} has no trials")
    if np.any(np.diff(np.asarray(intervals)[:, 0]) <= 0):
        bad = int(np.flatnonzero(np.diff(np.asarray(intervals)[:, 0]) <= 0)[0]) + 2
        raise ValueError(f"{path}, trial {bad} starts no later than the trial before it")
    join = lambda parts: np.concatenate(parts) if parts else np.zeros(0)  # noqa: E731
    return BpodData(
        camera_rises_s=join(rises), camera_falls_s=join(falls),
        trial_intervals_s=np.asarray(intervals, np.float64).reshape(-1, 2),
        trial_start_ttl_s=np.asarray(ttl, np.float64).reshape(-1, 2), trials_without_camera=without,
        audio_rises_s=join(audio_up), audio_falls_s=join(audio_down), path=path,
    )  # fmt: skip


def write_task_data(
    path: Path | str,
    trial_intervals_s: np.ndarray,
    trial_start_ttl_s: np.ndarray,
    camera_rises_s: np.ndarray,
    camera_falls_s: np.ndarray,
    audio_rises_s: np.ndarray = (),
    audio_falls_s: np.ndarray = (),
    *,
    protocol: str = "_iblrig_tasks_trainingChoiceWorld",
) -> Path:
    """Write a ``_iblrig_taskData.raw.jsonable`` as iblrig does (the simulated rig's Bpod).

    Each trial's camera edges inside its interval become its ``Port1In``/``Port1Out``
    events and its audio edges its ``BNC2High``/``BNC2Low`` events, relative to the trial's
    start; ``Bpod start timestamp`` is 0 (times in the
    arguments are seconds from Bpod start). Only the keys :func:`read_task_data` and
    ibllib's camera extraction read are written, with the trial number.
    """
    path = Path(path)
    intervals = np.asarray(trial_intervals_s, np.float64).reshape(-1, 2)
    ttl = np.asarray(trial_start_ttl_s, np.float64).reshape(-1, 2)
    with open(path, "w", encoding="utf-8") as f:
        for i, (start, end) in enumerate(intervals):
            events = {}
            for name, edges in ((CAMERA_RISE_EVENT, camera_rises_s), (CAMERA_FALL_EVENT, camera_falls_s),
                                (AUDIO_RISE_EVENT, audio_rises_s), (AUDIO_FALL_EVENT, audio_falls_s)):  # fmt: skip
                edges = np.asarray(edges, np.float64)
                inside = edges[(edges >= start) & (edges <= end)]
                if len(inside):
                    events[name] = (inside - start).tolist()
            trial = {
                "task_protocol": protocol, "trial_num": i + 1,
                "behavior_data": {
                    "Bpod start timestamp": 0.0, "Trial start timestamp": float(start), "Trial end timestamp": float(end),
                    "States timestamps": {TRIAL_START_STATE: [[float(ttl[i, 0] - start), float(ttl[i, 1] - start)]]},
                    "Events timestamps": events,
                },
            }  # fmt: skip
            f.write(json.dumps(trial) + "\n")
    return path


def write_task_settings(path: Path | str, *, subject: str, date: dt.date, number: int, start_time: dt.datetime,
                        board: str, protocol: str, version: str = "8.0.0") -> Path:  # fmt: skip
    """Write a ``_iblrig_taskSettings.raw.json`` with the keys :func:`read_task_settings` reads."""
    path = Path(path)
    content = {
        "SUBJECT_NAME": subject, "SESSION_DATE": date.isoformat(), "SESSION_NUMBER": f"{number:03d}",
        "SESSION_DATETIME": start_time.isoformat(), "PYBPOD_BOARD": board, "PYBPOD_PROTOCOL": protocol,
        "IBLRIG_VERSION_TAG": version,
    }  # fmt: skip
    path.write_text(json.dumps(content, indent=1))
    return path


def board_name(rig_type: str, lab: str = "simulated") -> str:
    """A Bpod board name iblrig would give a rig of this type (``_iblrig_<lab>_<kind>_0``)."""
    return f"_iblrig_{lab}_{'ephys' if rig_type == 'ephys' else 'behavior'}_0"


__all__: Sequence[str] = [
    "TASK_DATA", "TASK_SETTINGS", "BpodData", "TaskSettings", "board_name", "read_task_data", "read_task_settings",
    "rig_type_of", "write_task_data", "write_task_settings",
]  # fmt: skip
