"""The note's jitter and file-size studies on the tables (schemas.studies, `ibl-video study`), every backend.

One short simulated ephys session (2% dropped frames; three cameras on the FPGA clock, crf 17
and crf 35 with training clips) and one training session (Bpod clock, frames between trials
filled), against the simulator's truth.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTE_AREA_RATE = 944 * 956 * 150.0


@pytest.fixture(scope="module")
def sessions(db):
    from acquisition.daq import DaqConfig
    from acquisition.insert import insert_recording
    from acquisition.session import record_session
    from schemas.compression import CompressedVideo, RigCompression, TrainingClips
    from schemas.session import CameraRecording
    from schemas.sync import SyncPulses

    RigCompression.insert1(dict(rig_type="ephys", compression_params="compact"))  # crf 35, every 25th trial at crf 29
    recs = {
        "ephys": record_session(db.data_root, "STUDY01", "ephys", 12.0, scale=0.125, seed=21,
                                daq_config=DaqConfig(seed=21, drop_rate=0.02), progress=False),
        "training": record_session(db.data_root, "STUDY02", "training", 16.0, scale=0.125, seed=22,
                                   daq_config=DaqConfig(seed=22), progress=False),
    }  # fmt: skip
    keys = {rig: insert_recording(rec) for rig, rec in recs.items()}
    for table in (CameraRecording, SyncPulses, CompressedVideo, TrainingClips):
        result = table.populate(list(keys.values()), reserve_jobs=True, suppress_errors=True)
        assert result["error_list"] == [], (table.__name__, result["error_list"])
    return keys, recs


def _truth_jitter_us(timing, clock: str) -> float:
    """The simulator's jitter on the DAQ clock the frame times are on.

    The simulator makes the std of the FPGA-sampled (30 kHz) pulse intervals equal to
    ``timing.jitter_us``; the Bpod samples the true edges at 10 kHz instead, which adds
    ``2 q**2 / 12`` to the interval variance and takes away the FPGA's.
    """
    if clock == "fpga":
        return timing.jitter_us
    q_fpga, q_bpod = 1e6 / 30000, 1e6 / 10000
    return float(np.sqrt(timing.jitter_us**2 - 2 * q_fpga**2 / 12 + 2 * q_bpod**2 / 12))


def test_jitter_against_the_simulators_truth(db, sessions):
    from acquisition.daq import load_truth
    from schemas.studies import JITTER_COLUMNS, jitter_study
    from schemas.sync import SyncPulses

    keys, recs = sessions
    result = jitter_study()
    table = result.table
    assert list(table.columns) == list(JITTER_COLUMNS)
    assert len(table) == 4  # three ephys cameras and the training rig's one
    for row in table.to_dict("records"):
        rig = "ephys" if row["subject"] == "STUDY01" else "training"
        timing = load_truth(recs[rig].folder).timing[row["camera_label"]]
        key = {k: row[k] for k in SyncPulses.primary_key}
        extrapolated = np.asarray((SyncPulses & key).fetch1("is_extrapolated"))
        # intervals between two measured frames that were consecutive exposures (no drop between)
        exposure = np.flatnonzero(timing.recorded)
        expected_n = int(np.sum((np.diff(exposure) == 1) & ~extrapolated[1:] & ~extrapolated[:-1]))
        assert row["n_intervals"] == expected_n
        assert row["n_excluded"] == len(extrapolated) - 1 - expected_n
        assert row["n_extrapolated"] == int(extrapolated.sum())
        # a sample std of n normal intervals has a relative standard error of 1/sqrt(2(n-1)): within 4 of them
        truth = _truth_jitter_us(timing, row["clock"])
        tolerance = 4 / np.sqrt(2 * (row["n_intervals"] - 1))
        assert abs(row["jitter_us"] / truth - 1) < tolerance, (row, truth, tolerance)
        assert row["fps"] == timing.fps and abs(row["median_fps"] - timing.fps) < 0.01 * timing.fps
        assert row["note_jitter_us"] == {60.0: 195.6, 150.0: 143.2}.get(timing.fps) or (
            np.isnan(row["note_jitter_us"]) and timing.fps not in (60.0, 150.0))
    ephys = table[table["subject"] == "STUDY01"]
    assert (ephys["clock"] == "fpga").all() and (ephys["n_excluded"] > 0).all()  # the dropped frames' intervals
    training = table[table["subject"] == "STUDY02"].iloc[0]
    assert training["clock"] == "bpod" and training["n_extrapolated"] > 0  # frames between trials, filled
    # SyncPulses' own figure keeps the filled frames, which sit at the median rate: lower
    assert training["sync_pulses_jitter_us"] < training["jitter_us"]
    # Figure 2: one panel per camera, each with every measured interval
    assert [p.label for p in result.panels] == ["ephys left, 60 Hz", "ephys right, 150 Hz", "ephys body, 30 Hz",
                                                "training left, 30 Hz"]  # fmt: skip
    for panel in result.panels:
        rig, label = panel.label.split(",")[0].split()
        row = table[(table["rig_type"] == rig) & (table["camera_label"] == label)].iloc[0]
        assert panel.deviations_us.size == row["n_intervals"]
        assert panel.jitter_us == pytest.approx(row["jitter_us"], rel=1e-9)
        assert abs(np.mean(panel.deviations_us)) < 3 * row["jitter_us"] / np.sqrt(row["n_intervals"]) + 1.0


def test_jitter_restriction_and_bad_keys(db, sessions):
    from schemas.studies import jitter_study

    right = jitter_study({"camera_label": "right"}).table
    assert list(right["camera_label"]) == ["right"]
    assert jitter_study({"rig_type": "training"}).table["subject"].tolist() == ["STUDY02"]
    with pytest.raises(ValueError, match="no SyncPulses rows matching"):
        jitter_study({"subject": "NOBODY"})
    with pytest.raises(ValueError, match="cam_label"):
        jitter_study({"cam_label": "left"})


def test_file_sizes_per_rig_camera_and_set(db, sessions):
    from schemas.compression import CompressedVideo, TrainingClips
    from schemas.session import CameraRecording
    from schemas.studies import file_size_study

    table = file_size_study()
    cams = table[table["camera_label"] != "all"]
    encodes = (CompressedVideo * CameraRecording.proj("duration_s", "fps")).to_dicts()
    assert len(cams[cams["compression_params"] != "raw"]) == len(encodes) == 3 * 2 + 1
    for e in encodes:
        row = cams[(cams["camera_label"] == e["camera_label"]) & (cams["compression_params"] == e["compression_params"])
                   & (cams["rig_type"] == ("ephys" if e["subject"] == "STUDY01" else "training"))].iloc[0]  # fmt: skip
        hours = e["duration_s"] / 3600
        assert row["mb_per_hour"] == pytest.approx(e["file_size"] / 1e6 / hours, rel=1e-9)
        scale = NOTE_AREA_RATE / (e["width"] * e["height"] * e["fps"])
        assert row["scaled_mb_per_hour"] == pytest.approx(row["mb_per_hour"] * scale, rel=1e-9)
        clips = sum(c["file_size"] for c in (TrainingClips.Clip & {k: e[k] for k in CompressedVideo.primary_key}).to_dicts())
        assert row["clips_mb_per_hour"] == pytest.approx(clips / 1e6 / hours, rel=1e-9)
        assert row["total_mb_per_hour"] == pytest.approx(row["mb_per_hour"] + row["clips_mb_per_hour"], rel=1e-12)
        assert (row["width"], row["height"], row["n_recordings"]) == (e["width"], e["height"], 1)
    # the note's figures beside ours: crf 35 and 29 per camera, uncompressed beside the raw video; none at crf 17
    note = dict(zip(cams["compression_params"], cams["note_mb_per_hour"], strict=False))
    assert note["compact"] == 189.0 and note["training"] == 378.0 and note["raw"] == 18900.0 and np.isnan(note["archival"])
    assert (cams.loc[cams["compression_params"] == "raw", "video_codec"] == "ffv1").all()
    assert cams.loc[cams["compression_params"] == "compact", "clips_mb_per_hour"].gt(0).all()  # trial 0 of every 25
    # a rig's total is the sum of its cameras; the note's ~330 MB/h beside the recording rig's crf 35 plan
    totals = table[table["camera_label"] == "all"].set_index(["rig_type", "compression_params"])
    for (rig, params), total in totals.iterrows():
        parts = cams[(cams["rig_type"] == rig) & (cams["compression_params"] == params)]
        assert total["mb_per_hour"] == pytest.approx(parts["mb_per_hour"].sum(), rel=1e-9)
        assert total["total_mb_per_hour"] == pytest.approx(parts["total_mb_per_hour"].sum(), rel=1e-9)
        assert np.isnan(total["scaled_mb_per_hour"])
    assert totals.loc[("ephys", "compact"), "note_mb_per_hour"] == 330.0
    assert np.isnan(totals.loc[("ephys", "archival"), "note_mb_per_hour"])
    # crf 35 is smaller than crf 17 on every camera
    for label in ("left", "right", "body"):
        sizes = cams[(cams["rig_type"] == "ephys") & (cams["camera_label"] == label)].set_index("compression_params")
        assert sizes.loc["compact", "mb_per_hour"] < sizes.loc["archival", "mb_per_hour"] < sizes.loc["raw", "mb_per_hour"]
    only = file_size_study({"compression_params": "archival"})
    assert set(only["compression_params"]) == {"archival", "raw"} and set(only["rig_type"]) == {"ephys"}


def _cli(db, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "populate.cli", "study", *args], cwd=ROOT, env=db.cli_env(),
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def test_study_jitter_command(db, sessions, tmp_path):
    import matplotlib.image

    from schemas.studies import JITTER_COLUMNS

    done = _cli(db, "jitter", "--key", '{"rig_type": "ephys"}', "--out", str(tmp_path), "--json")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)  # --json prints only JSON
    csv = pd.read_csv(tmp_path / "jitter.csv")
    assert list(csv.columns) == list(JITTER_COLUMNS) and len(csv) == 3 == len(printed["rows"])
    assert printed["csv"] == str(tmp_path / "jitter.csv") and printed["png"] == str(tmp_path / "jitter.png")
    assert [r["camera_label"] for r in printed["rows"]] == csv["camera_label"].tolist()
    assert printed["rows"][0]["session_date"] == str(sessions[0]["ephys"]["session_date"])  # as in the CSV
    np.testing.assert_allclose(csv["jitter_us"], [r["jitter_us"] for r in printed["rows"]], rtol=1e-12)
    image = matplotlib.image.imread(tmp_path / "jitter.png")
    assert image.shape[1] > 2.5 * image.shape[0]  # three panels side by side
    bad = _cli(db, "jitter", "--key", '{"subject": "NOBODY"}', "--out", str(tmp_path / "none"))
    assert bad.returncode == 2 and bad.stdout == ""
    assert "no SyncPulses rows matching" in " ".join(bad.stderr.split())
    assert not (tmp_path / "none").exists()
    bad = _cli(db, "jitter", "--key", "not json")
    assert bad.returncode == 2 and "--key is not valid JSON" in bad.stderr


def test_study_sizes_command(db, sessions, tmp_path):
    from pipeline.studies import SIZE_COLUMNS

    done = _cli(db, "sizes", "--out", str(tmp_path), "--json")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    csv = pd.read_csv(tmp_path / "sizes.csv")
    assert list(csv.columns) == list(SIZE_COLUMNS) and len(csv) == len(printed["rows"])
    totals = csv[csv["camera_label"] == "all"]
    assert set(zip(totals["rig_type"], totals["compression_params"], strict=True)) == {
        ("ephys", "raw"), ("ephys", "archival"), ("ephys", "compact"), ("training", "raw"), ("training", "training")}
    assert totals.set_index(["rig_type", "compression_params"]).loc[("ephys", "compact"), "note_mb_per_hour"] == 330.0
    assert [r["note_mb_per_hour"] for r in printed["rows"]] == [None if np.isnan(x) else x for x in csv["note_mb_per_hour"]]
    table = _cli(db, "sizes", "--out", str(tmp_path / "again"))
    assert table.returncode == 0, table.stderr
    assert "ephys" in table.stdout and "compact" in table.stdout and (tmp_path / "again" / "sizes.csv").is_file()
    bad = _cli(db, "sizes", "--key", '{"no_such_attribute": 1}', "--out", str(tmp_path / "none"))
    assert bad.returncode == 2 and bad.stdout == "" and "no_such_attribute" in bad.stderr
    assert not (tmp_path / "none").exists()


def _report(db, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "populate.cli", "report", *args], cwd=ROOT, env=db.cli_env(),
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def test_rig_report_embeds_table_1_the_jitter_and_study_folders(db, sessions, tmp_path):
    import base64
    import re

    studied = _cli(db, "jitter", "--key", '{"rig_type": "ephys"}', "--out", str(tmp_path / "study"))
    assert studied.returncode == 0, studied.stderr
    done = _report(db, "--rig", "ephys", "--study", str(tmp_path / "study"), "--out", str(tmp_path / "rig.html"))
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "rig.html").read_text()
    sources = re.findall(r'<img src="([^"]*)"', page)
    assert len(sources) == 2 and all(s.startswith("data:image/png;base64,") for s in sources)  # rig jitter, study's jitter.png
    assert base64.b64decode(sources[1].split(",", 1)[1]) == (tmp_path / "study" / "jitter.png").read_bytes()
    assert "<h3>MB per hour, ephys rig</h3>" in page and "<h3>study/jitter.csv</h3>" in page
    table1 = page[page.index("<h3>MB per hour, ephys rig</h3>"):page.index("Frame jitter per camera")]
    for params in ("raw", "archival", "compact"):
        assert f"<td>{params}</td>" in table1
    assert "<td>189</td>" in table1 and "<td>330</td>" in table1 and "STUDY02" not in page  # the note's figures; ephys only
    assert "report" in done.stderr  # progress
    for args, message in ((["--rig", "nosuch"], "no rig type 'nosuch' in the RigType table"),
                          ([], "give a session (SUBJECT DATE NUMBER) or --rig RIG_TYPE"),
                          (["--rig", "ephys", "--study", str(tmp_path / "nowhere")], "study folder not found"),
                          (["STUDY01", "2020-01-01", "1"], "no session STUDY01/2020-01-01/001")):  # fmt: skip
        bad = _report(db, *args, "--out", str(tmp_path / "bad.html"))
        assert bad.returncode == 2 and message in " ".join(bad.stderr.split()), (args, bad.stderr)
    assert not (tmp_path / "bad.html").exists()
