"""IBL rig files read as iblrig writes them: a real session's task settings and Bpod data
(ibllib's test session ``session_training_ge5``, tests/data/iblrig/README.md), and bad input."""

from __future__ import annotations

import datetime as dt
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from pipeline.io.iblrig import (
    TASK_DATA,
    TASK_SETTINGS,
    read_task_data,
    read_task_settings,
    rig_type_of,
    write_task_data,
    write_task_settings,
)

REAL = Path(__file__).resolve().parents[1] / "data" / "iblrig" / "session_training_ge5" / "raw_behavior_data"


def _trials(path: Path = REAL / TASK_DATA) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_real_task_settings():
    s = read_task_settings(REAL / TASK_SETTINGS)
    assert (s.subject, s.date, s.number) == ("_iblrig_test_mouse", dt.date(2019, 7, 1), 1)
    assert s.start_time == dt.datetime(2019, 7, 1, 12, 15, 18, 145140)
    assert s.version == "5.0.0" and s.board == "_iblrig_mainenlab_ephys_0"
    # a training protocol on an ephys rig's Bpod: cameras timed by the Bpod, as ibllib extracts it
    assert s.protocol == "_iblrig_tasks_trainingChoiceWorld" and s.rig_type == "training"


def test_rig_type_from_protocol_then_board():
    assert rig_type_of("_iblrig_tasks_ephysChoiceWorld6.4.0", "_iblrig_x_behavior_0") == "ephys"
    assert rig_type_of("_iblrig_tasks_biasedChoiceWorld", "") == "training"
    assert rig_type_of("myTask", "_iblrig_cortexlab_behavior_3") == "training"
    assert rig_type_of("myTask", "_iblrig_cortexlab_ephys_0") == "ephys"
    assert rig_type_of("myTask", "bpod1") is None


def test_real_task_data_times_are_trial_times_plus_trial_start():
    bpod = read_task_data(REAL / TASK_DATA)
    trials = _trials()
    assert len(bpod.trial_intervals_s) == len(trials) == 12
    expected = []
    for t in trials:  # ibllib's trial_times_to_times, written out
        data = t["behavior_data"]
        offset = data["Trial start timestamp"] - data["Bpod start timestamp"]
        expected += [e + offset for e in data["Events timestamps"].get("Port1In", [])]
    np.testing.assert_allclose(bpod.camera_rises_s, expected, rtol=0, atol=1e-9)
    assert len(bpod.camera_rises_s) == 3010 and bpod.trials_without_camera == []
    assert np.all(np.diff(bpod.camera_rises_s) > 0)
    first = trials[0]["behavior_data"]
    assert bpod.camera_rises_s[0] == pytest.approx(2.8014)  # trial 1 starts at Bpod start
    assert bpod.trial_intervals_s[0, 1] == pytest.approx(first["Trial end timestamp"] - first["Bpod start timestamp"])
    assert np.all(bpod.trial_intervals_s[1:, 0] >= bpod.trial_intervals_s[:-1, 1])
    # trial-start TTL: the trial_start state's start
    np.testing.assert_allclose(bpod.trial_start_ttl_s[:, 0], bpod.trial_intervals_s[:, 0], atol=1e-9)


def _copy(tmp_path: Path, edit=None, text_edit=None) -> Path:
    path = tmp_path / TASK_DATA
    if edit is None and text_edit is None:
        shutil.copy(REAL / TASK_DATA, path)
        return path
    trials = _trials()
    if edit:
        edit(trials)
    text = "".join(json.dumps(t) + "\n" for t in trials)
    path.write_text(text_edit(text) if text_edit else text)
    return path


def test_trial_without_camera_events_is_skipped_and_reported(tmp_path):
    def drop(trials):
        events = trials[4]["behavior_data"]["Events timestamps"]
        events.pop("Port1In"), events.pop("Port1Out", None)

    bpod = read_task_data(_copy(tmp_path, drop))
    assert bpod.trials_without_camera == [5]
    assert len(bpod.trial_intervals_s) == 12
    assert len(bpod.camera_rises_s) == 3010 - len(_trials()[4]["behavior_data"]["Events timestamps"]["Port1In"])


def test_truncated_last_line_names_file_and_trial(tmp_path):
    path = _copy(tmp_path, text_edit=lambda text: text[: len(text) - 5000])
    with pytest.raises(ValueError, match=rf"{TASK_DATA}, trial 12 .*truncated"):
        read_task_data(path)


def test_nan_camera_event_names_file_and_trial(tmp_path):
    def nan(trials):
        trials[2]["behavior_data"]["Events timestamps"]["Port1In"][7] = math.nan

    with pytest.raises(ValueError, match=rf"{TASK_DATA}, trial 3 .*Port1In has NaN"):
        read_task_data(_copy(tmp_path, nan))


def test_settings_without_subject_names_file_and_key(tmp_path):
    settings = json.loads((REAL / TASK_SETTINGS).read_text())
    del settings["SUBJECT_NAME"]
    path = tmp_path / TASK_SETTINGS
    path.write_text(json.dumps(settings))
    with pytest.raises(ValueError, match=rf"{path} has no SUBJECT_NAME"):
        read_task_settings(path)
    with pytest.raises(FileNotFoundError, match="task settings not found"):
        read_task_settings(tmp_path / "nothing.json")


def test_written_files_read_back(tmp_path):
    intervals = np.array([[0.0, 2.0], [2.5, 4.0]])
    ttl = np.column_stack([intervals[:, 0], intervals[:, 0] + 1e-4])
    rises = np.arange(0.01, 4.0, 1 / 30)
    rises = rises[((rises >= 0) & (rises <= 2)) | ((rises >= 2.5) & (rises <= 4))]
    bpod = read_task_data(write_task_data(tmp_path / TASK_DATA, intervals, ttl, rises, rises + 0.002))
    np.testing.assert_allclose(bpod.camera_rises_s, rises, atol=1e-12)
    np.testing.assert_allclose(bpod.trial_start_ttl_s, ttl, atol=1e-12)
    start = dt.datetime(2026, 1, 2, 3, 4, 5)
    path = write_task_settings(tmp_path / TASK_SETTINGS, subject="m1", date=start.date(), number=2, start_time=start,
                               board="_iblrig_simulated_behavior_0", protocol="_iblrig_tasks_trainingChoiceWorld")  # fmt: skip
    s = read_task_settings(path)
    assert (s.subject, s.number, s.start_time, s.rig_type) == ("m1", 2, start, "training")


LEGACY = Path(__file__).resolve().parents[1] / "data" / "iblrig" / "session_ephys" / "raw_video_data"


def _legacy_copy(tmp_path: Path, n_lines: int | None = 510) -> Path:
    for p in LEGACY.iterdir():
        shutil.copy(p, tmp_path / p.name)
    if n_lines is not None:
        ssv = tmp_path / "_iblrig_bodyCamera.timestamps.ssv"
        ssv.write_text("".join(ssv.read_text().splitlines(keepends=True)[:n_lines]))
    return tmp_path


def test_real_legacy_camera_files(tmp_path):
    from pipeline.io.framedata import read_legacy_framedata, unwrap_camera_timestamps

    # as ibllib keeps them, the .ssv is longer than the two .bin files: refused, naming all three
    with pytest.raises(ValueError, match=r"frame_counter.bin has 510.*GPIO.bin has 510.*timestamps.ssv has 6001"):
        read_legacy_framedata(LEGACY, "body")
    fd = read_legacy_framedata(_legacy_copy(tmp_path), "body")
    assert len(fd) == 510 and fd.frame_counter[0] == 16696704 and np.all(np.diff(fd.frame_counter) == 1)
    assert set(np.unique(fd.gpio >> 28)) <= set(range(16)) and np.any(fd.gpio)
    # the body camera runs at 30 Hz: both clocks agree on it
    assert np.median(np.diff(unwrap_camera_timestamps(fd.camera_timestamp))) == pytest.approx(1 / 30, rel=0.02)
    assert np.median(np.diff(fd.computer_time)) == pytest.approx(1 / 30, rel=0.02)
    assert read_legacy_framedata(tmp_path / "nothing-here", "body") is None


def test_incomplete_legacy_camera_files_name_the_missing_one(tmp_path):
    from pipeline.io.framedata import read_legacy_framedata

    (_legacy_copy(tmp_path) / "_iblrig_bodyCamera.GPIO.bin").unlink()
    with pytest.raises(FileNotFoundError, match=r"missing .*_iblrig_bodyCamera.GPIO.bin"):
        read_legacy_framedata(tmp_path, "body")
    ssv = _legacy_copy(tmp_path) / "_iblrig_bodyCamera.timestamps.ssv"
    lines = ssv.read_text().splitlines(keepends=True)
    ssv.write_text("".join(lines[:9] + ["garbage\n"] + lines[10:]))
    with pytest.raises(ValueError, match=r"timestamps.ssv, line 10"):
        read_legacy_framedata(tmp_path, "body")
