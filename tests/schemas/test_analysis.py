"""The analyst's path on a simulated session, on every backend: schemas.analysis, schemas.export,
the ephys join example (examples/ephys_join.py), the `export` and `plot` commands and README's example.

The session is recorded once (30 s, side cameras, 1/8 resolution) and copied into each backend's
data root. CameraRecording, SyncPulses, CameraQC, PupilDiameter, LickEvents and PoseQC are
populated for real; DLCPose (with the AnchorPoints and CropROI rows it needs) is the simulator's
true pose inserted directly, because no trained DeepLabCut models exist in the test suite, and
CompressedVideo is a row naming the raw video (no encode), to keep the tests fast.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SUBJECT, DATE = "KS023", "2025-01-31"
DURATION_S = 30.0



@pytest.fixture(scope="module")
def recorded(tmp_path_factory, load_example):
    """One simulated session folder, recorded once for every backend."""
    sim = load_example("simulated_session")
    root = tmp_path_factory.mktemp("analysis_recording")
    rec = sim.record_and_sync(root, SUBJECT, date=DATE, duration_s=DURATION_S, seed=3)
    return rec["folder"], Path(rec["folder"]).relative_to(root)


@pytest.fixture(scope="module")
def session(db, recorded, load_example):
    """The session in this backend's tables, with true pose, features and the example's units."""
    sim = load_example("simulated_session")
    ex = load_example("ephys_join")
    source, rel = recorded
    folder = db.data_root / rel
    shutil.copytree(source, folder)
    key = sim.ingest(folder)
    sim.insert_truth_pose(key, folder, encode=False)
    sim.populate_features(key)
    ex.activate(db.settings.schema_prefix, db.connection)
    ex.insert_units(key, folder, seed=0)
    try:
        yield {"key": key, "folder": folder, "ex": ex}
    finally:
        ex.drop()


def _truth(folder):
    from acquisition.daq import load_truth

    return load_truth(folder)


# ------------------------------------------------------------------------------ pose and times
def test_pose_times_are_the_sync_pulses_times_on_either_clock(db, session):
    from schemas import analysis
    from schemas.session import Session
    from schemas.sync import SyncPulses

    key = session["key"]
    sess = Session & {"subject": SUBJECT, "session_date": DATE}
    for label in ("left", "right"):
        sync = (SyncPulses & key & {"camera_label": label}).fetch1()
        times = np.asarray(sync["frame_times"])
        df = analysis.pose_dataframe(sess, camera=label, clock="fpga")
        assert sync["clock"] == "fpga"
        np.testing.assert_array_equal(df.index.to_numpy(), times)
        assert df.index.name == "times" and df.shape == (len(times), 3 * 23)
        assert list(df.columns[:3]) == ["pupil_top_r_x", "pupil_top_r_y", "pupil_top_r_likelihood"]
        bpod = analysis.pose_dataframe(sess, camera=label, clock="bpod").index.to_numpy()
        expected = sync["clock_offset_s"] + (1 + sync["clock_drift_ppm"] * 1e-6) * times
        np.testing.assert_allclose(bpod, expected, rtol=0, atol=1e-9)
        np.testing.assert_array_equal(analysis.frame_times(key, camera=label), times)
    # the simulated Bpod clock: offset 3.2 s, drift 50 ppm (fit from 5 trial onsets)
    offset, drift = analysis.clock_fit(sess)
    assert offset == pytest.approx(3.2, abs=1e-3) and drift == pytest.approx(50.0, abs=10.0)


def test_restrictions_select_one_row_or_say_which_match(db, session):
    from schemas import analysis
    from schemas.pose import DLCPose
    from schemas.session import Session

    key = session["key"]
    with pytest.raises(
        ValueError, match=r"2 DLCPose rows match .*camera_label=left.*camera_label=right"
    ):
        analysis.pose_dataframe(Session & key)
    with pytest.raises(ValueError, match="no DLCPose row matches"):
        analysis.pose_dataframe({"subject": "nobody"}, camera="left")
    with pytest.raises(ValueError, match="unknown feature"):
        analysis.feature_at([1.0], key, "pupil_size", camera="left")
    # a query of another table restricts by its primary key (semantic matching on keys only)
    df = analysis.pose_dataframe(DLCPose & key & {"camera_label": "left"})
    assert df.attrs["clock"] == "fpga" and df.attrs["key"]["camera_label"] == "left"
    assert analysis.session_key([key, {"subject": "nobody"}]) == analysis.session_key(Session & key)
    with pytest.raises(ValueError, match="0 sessions match"):
        analysis.session_key({"subject": "nobody"})


def test_feature_at_given_times_matches_a_direct_interpolation(db, session):
    from schemas import analysis
    from schemas.features import LickEvents, PupilDiameter
    from schemas.pose import DLCPose, pose_arrays

    key = session["key"]
    row = (PupilDiameter & key & {"camera_label": "left", "feature_params": "ibl"}).fetch1()
    t, pupil = np.asarray(row["frame_times"]), np.asarray(row["pupil_diameter_px"])
    spikes = np.asarray((session["ex"].Unit & key & {"unit_id": 2}).fetch1("spike_times"))
    got = analysis.feature_at(spikes, key, "pupil_diameter_px", "fpga", camera="left")
    inside = (spikes >= t[0]) & (spikes <= t[-1])
    np.testing.assert_allclose(got[inside], np.interp(spikes[inside], t, pupil), rtol=0, atol=1e-9)
    assert (
        np.isnan(got[~inside]).all() and (~inside).sum() > 0
    )  # spikes before the first / after the last frame
    # on the Bpod clock: the same values at the converted times
    offset, drift = analysis.clock_fit(key)
    got_bpod = analysis.feature_at(
        offset + (1 + drift * 1e-6) * spikes, key, "pupil_diameter_px", "bpod", camera="left"
    )
    np.testing.assert_allclose(got_bpod, got, rtol=0, atol=1e-6, equal_nan=True)
    # a regular grid of a pose coordinate, and the per-frame contact with "previous"
    grid = analysis.regular_grid(1.0, 29.0, rate_hz=10.0)
    x = analysis.feature_at(grid, key, "tube_top_x", camera="left")
    np.testing.assert_allclose(
        x, np.interp(grid, t, pose_arrays(analysis.one_key(DLCPose, key, "left"))["tube_top"][:, 0])
    )
    contact = np.asarray(
        (LickEvents & key & {"camera_label": "left", "feature_params": "ibl"}).fetch1("contact"),
        float,
    )
    frame_i = np.searchsorted(t, grid, side="right") - 1
    np.testing.assert_array_equal(
        analysis.feature_at(grid, key, "lick_contact", camera="left", method="previous"),
        contact[frame_i],
    )


def test_lick_times_merge_both_cameras_without_double_counting(db, session):
    from schemas import analysis
    from schemas.features import LickEvents

    key = session["key"]
    true_onsets = _truth(session["folder"]).lick_intervals_s[:, 0]
    per_camera = {
        r["camera_label"]: r["n_licks"]
        for r in (LickEvents & key & {"feature_params": "ibl"}).to_dicts()
    }
    licks = analysis.lick_times(key, clock="fpga")
    assert per_camera["left"] + per_camera["right"] > len(licks) == len(true_onsets)
    # every detected onset lies within one frame (60 Hz) after a true onset
    lag = licks - true_onsets
    assert lag.min() >= 0 and lag.max() < 1 / 60 + 1e-6


# ------------------------------------------------------------------------------ the ephys example
def test_ephys_join_recovers_the_simulated_lick_effect_and_pupil_coupling(db, session):
    from schemas import analysis

    ex = session["ex"]
    results = {r["unit_id"]: r for r in ex.analyse_session(session["key"])}
    drives = ex.DEFAULT_DRIVES
    assert len(results) == len(drives)
    for unit_id, drive in enumerate(drives):
        r = results[unit_id]
        assert r["drive"] == drive.drive and r["n_licks"] > 20
        if drive.drive == "lick":
            # rate in the 80 ms after each detected onset / rate > 0.5 s from any lick: the factor put in
            assert r["lick_ratio"] == pytest.approx(drive.lick_gain, rel=0.2), r
            assert r["baseline_hz"] == pytest.approx(drive.base_hz, rel=0.1), r
        else:
            # the rate follows the true pupil; the pipeline's pupil (from pose) recovers sign and strength
            assert np.sign(r["pupil_r"]) == np.sign(drive.pupil_gain) and abs(r["pupil_r"]) > 0.8, r
    spikes = np.asarray((ex.Unit & session["key"] & {"unit_id": 0}).fetch1("spike_times"))
    psth = ex.lick_triggered(spikes, analysis.lick_times(session["key"], "fpga"))
    after = psth.mean()[(psth.time_axis > 0) & (psth.time_axis < 0.08)].mean()
    # the lick-triggered rate just after onsets is the gain times the base rate (before an onset the
    # rate is higher than the base too: licks come in bouts, ~135 ms apart)
    assert after == pytest.approx(drives[0].lick_gain * drives[0].base_hz, rel=0.2)


# ------------------------------------------------------------------------------ exports
def test_alf_export_reads_back_equal_to_the_tables(db, session, tmp_path):
    import pandas as pd

    from pipeline.io.ibl_names import IBL_POINTS, to_ibl
    from pipeline.rigs import TRACKED_POINTS
    from schemas import analysis
    from schemas.export import export_alf
    from schemas.features import PupilDiameter
    from schemas.pose import DLCPose, pose_arrays
    from schemas.sync import SyncPulses

    key = session["key"]
    paths = export_alf(key, tmp_path)
    assert sorted(p.name for p in paths) == sorted(
        f"_ibl_{label}Camera.{kind}" for label in ("left", "right") for kind in ("times.npy", "dlc.pqt", "features.pqt")
    ) + ["licks.times.npy"]  # fmt: skip
    for label in ("left", "right"):
        ckey = dict(key, camera_label=label)
        np.testing.assert_array_equal(
            np.load(tmp_path / f"_ibl_{label}Camera.times.npy"),
            (SyncPulses & ckey).fetch1("frame_times"),
        )
        dlc = pd.read_parquet(tmp_path / f"_ibl_{label}Camera.dlc.pqt")
        # IBL's names on every camera; the tables keep the note's (pipeline.io.ibl_names)
        assert list(dlc.columns) == [f"{p}_{c}" for p in IBL_POINTS for c in ("x", "y", "likelihood")]
        ours = pose_arrays(analysis.one_key(DLCPose, ckey))
        assert set(ours) <= set(TRACKED_POINTS)
        for part, arr in to_ibl(ours, label).items():
            np.testing.assert_array_equal(
                dlc[[f"{part}_x", f"{part}_y", f"{part}_likelihood"]].to_numpy(), arr
            )
        feats = pd.read_parquet(tmp_path / f"_ibl_{label}Camera.features.pqt")
        raw, smooth = (PupilDiameter & ckey & {"feature_params": "ibl"}).fetch1(
            "pupil_diameter_raw_px", "pupil_diameter_px"
        )
        assert list(feats.columns) == ["pupilDiameter_raw", "pupilDiameter_smooth"]
        np.testing.assert_array_equal(feats["pupilDiameter_raw"].to_numpy(), raw)
        np.testing.assert_array_equal(feats["pupilDiameter_smooth"].to_numpy(), smooth)
    licks = np.load(tmp_path / "licks.times.npy")
    np.testing.assert_array_equal(licks, analysis.lick_times(key))
    assert len(licks) == len(
        _truth(session["folder"]).lick_intervals_s
    )  # one per lick, not one per camera


def test_nwb_export_reads_back_with_pynwb_equal_to_the_tables(db, session, tmp_path):
    from pynwb import NWBHDF5IO

    from schemas import analysis
    from schemas.export import export_nwb
    from schemas.features import PupilDiameter
    from schemas.pose import DLCPose, pose_arrays
    from schemas.session import Session
    from schemas.sync import SyncPulses

    key = session["key"]
    path = export_nwb(Session & key, tmp_path)
    assert path.name == "KS023_2025-01-31_001.nwb"
    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        assert nwb.identifier == (Session & key).fetch1("session_uuid")
        for label, cap in (("left", "Left"), ("right", "Right")):
            ckey = dict(key, camera_label=label)
            times = np.asarray((SyncPulses & ckey).fetch1("frame_times"))
            video = nwb.acquisition[f"Video{cap}Camera"]
            np.testing.assert_array_equal(video.timestamps[:], times)
            assert (
                (path.parent / video.external_file[0]).resolve().is_file()
            )  # linked relative to the NWB file
            pose = nwb.processing["behavior"][f"PoseEstimation{cap}Camera"]
            for part, arr in pose_arrays(analysis.one_key(DLCPose, ckey)).items():
                series = pose.pose_estimation_series[part]
                np.testing.assert_array_equal(series.data[:], arr[:, :2])
                np.testing.assert_array_equal(series.confidence[:], arr[:, 2])
                np.testing.assert_array_equal(series.timestamps[:], times)
            smooth = (PupilDiameter & ckey & {"feature_params": "ibl"}).fetch1("pupil_diameter_px")
            np.testing.assert_array_equal(
                nwb.processing["behavior"][f"{cap}PupilDiameterSmooth"].data[:], smooth
            )
        np.testing.assert_array_equal(
            nwb.events["Licks"]["timestamp"].data[:], analysis.lick_times(key)
        )


# ------------------------------------------------------------------------------ the field's own readers
# Issue 16: our ALF and NWB files read by IBL's ONE-api and brainbox (ibllib 4.1), nwbinspector
# and movement, each from PyPI (pyproject's dev extra), on this session's exports.
@pytest.fixture(scope="module")
def exported(db, session, tmp_path_factory):
    """The session exported once to ALF and NWB, with the user's umask 0o027."""
    import os

    from schemas.export import export_alf, export_nwb

    out = tmp_path_factory.mktemp("field_readers")
    old = os.umask(0o027)
    try:
        alf = export_alf(session["key"], out / "alf")
        nwb = export_nwb(session["key"], out / "nwb")
    finally:
        os.umask(old)
    return {"alf_dir": out / "alf", "alf": alf, "nwb": nwb}


def test_exported_files_have_the_users_umask(exported):
    for path in [*exported["alf"], exported["nwb"]]:
        assert path.stat().st_mode & 0o777 == 0o640, (path, oct(path.stat().st_mode))


def test_one_api_load_object_reads_every_camera_and_the_licks(db, session, exported):
    from one.alf.io import load_object

    from pipeline.io.ibl_names import IBL_POINTS
    from schemas import analysis
    from schemas.sync import SyncPulses

    key = session["key"]
    for label in ("left", "right"):
        cam = load_object(exported["alf_dir"], f"{label}Camera", namespace="ibl")
        assert set(cam) == {"times", "dlc", "features"}
        times = np.asarray((SyncPulses & key & {"camera_label": label}).fetch1("frame_times"))
        np.testing.assert_array_equal(cam["times"], times)
        assert cam["dlc"].shape == (len(times), 3 * len(IBL_POINTS))
        assert list(cam["features"].columns) == ["pupilDiameter_raw", "pupilDiameter_smooth"]
    licks = load_object(exported["alf_dir"], "licks")
    np.testing.assert_array_equal(licks["times"], analysis.lick_times(key))


@pytest.mark.parametrize("label", ["left", "right"])
def test_brainbox_pupil_and_licks_on_our_alf_match_our_tables(db, session, exported, label):
    from brainbox.behavior.dlc import (
        get_licks,
        get_pupil_diameter,
        get_smooth_pupil_diameter,
        likelihood_threshold,
    )
    from one.alf.io import load_object

    from schemas.features import FeatureParams, LickEvents, PupilDiameter

    fkey = dict(session["key"], camera_label=label, feature_params="ibl")
    threshold = (FeatureParams & fkey).fetch1("likelihood_threshold")
    raw, smooth = (PupilDiameter & fkey).fetch1("pupil_diameter_raw_px", "pupil_diameter_px")
    raw, smooth = np.asarray(raw), np.asarray(smooth)
    contact = np.asarray((LickEvents & fkey).fetch1("contact"), bool)
    onsets = np.asarray((LickEvents & fkey).fetch1("lick_onset_times"))

    cam = load_object(exported["alf_dir"], f"{label}Camera", namespace="ibl")
    dlc = likelihood_threshold(cam["dlc"].copy(), threshold)
    ibl_raw = get_pupil_diameter(dlc)
    assert np.isfinite(ibl_raw).mean() > 0.5
    np.testing.assert_allclose(ibl_raw, raw, rtol=0, atol=1e-6, equal_nan=True)
    ibl_smooth = get_smooth_pupil_diameter(ibl_raw, label)
    both = np.isfinite(ibl_smooth) & np.isfinite(smooth)
    assert both.mean() > 0.9
    np.testing.assert_allclose(ibl_smooth[both], smooth[both], rtol=0, atol=1e-3)
    print(f"{label}: {len(raw)} frames, max |brainbox - ours| raw {np.nanmax(np.abs(ibl_raw - raw)):.2g} px, "
          f"smooth {np.max(np.abs(ibl_smooth[both] - smooth[both])):.2g} px on {both.mean():.1%} of frames")  # fmt: skip
    # IBL's lick times: every frame whose tongue tips jump (ours: the same per-frame contact,
    # and one onset per lick among those frames)
    ibl_licks = get_licks(dlc, cam["times"])
    assert len(ibl_licks) > 20
    np.testing.assert_array_equal(ibl_licks, cam["times"][contact])
    assert np.isin(onsets, ibl_licks).all() and len(onsets) < len(ibl_licks)


def test_nwbinspector_finds_nothing_critical_and_no_best_practice_violation(db, session, exported):
    from nwbinspector import Importance, inspect_nwbfile
    from pynwb import NWBHDF5IO

    messages = list(inspect_nwbfile(nwbfile_path=exported["nwb"]))
    bad = [m for m in messages if m.importance in (Importance.CRITICAL, Importance.BEST_PRACTICE_VIOLATION)]
    assert bad == [], "\n".join(f"{m.importance.name} {m.check_function_name}: {m.message}" for m in bad)
    with NWBHDF5IO(str(exported["nwb"]), "r") as io:
        nwb = io.read()
        assert nwb.session_id == "KS023_2025-01-31_001"
        # the simulator's mouse, from its Subject row
        assert nwb.subject.sex in ("F", "M") and nwb.subject.species == "Mus musculus"
        assert nwb.subject.strain == "C57BL/6J" and nwb.subject.date_of_birth is not None


def test_movement_loads_each_cameras_pose_estimation(db, session, exported):
    from movement.io import load_poses

    from schemas import analysis
    from schemas.pose import DLCPose, pose_arrays
    from schemas.sync import SyncPulses

    key = session["key"]
    for label, cap in (("left", "Left"), ("right", "Right")):
        ds = load_poses.from_nwb_file(exported["nwb"], pose_estimation_key=f"PoseEstimation{cap}Camera")
        ours = pose_arrays(analysis.one_key(DLCPose, dict(key, camera_label=label)))
        times = np.asarray((SyncPulses & key & {"camera_label": label}).fetch1("frame_times"))
        assert sorted(map(str, ds.keypoints.values)) == sorted(ours)
        assert ds.position.sizes["time"] == len(times)
        # movement keeps a frame rate, not the timestamps (its time axis starts at 0 s): the rate
        # is the median of our DAQ-clock frame intervals, which stay in the NWB file
        assert ds.attrs["fps"] == pytest.approx(1 / np.median(np.diff(times)), rel=1e-5)
        for part, arr in ours.items():
            xy = ds.position.sel(keypoints=part).squeeze().transpose("time", "space").values
            np.testing.assert_array_equal(xy, arr[:, :2])
            np.testing.assert_array_equal(ds.confidence.sel(keypoints=part).squeeze().values, arr[:, 2])


# ------------------------------------------------------------------------------ figures and commands
@pytest.mark.slow
def test_figures_and_commands(db, session, tmp_path, monkeypatch):
    from PIL import Image
    from typer.testing import CliRunner

    import populate.cli as cli
    from schemas import analysis

    key = session["key"]
    png = analysis.plot_session(key, tmp_path / "session.png")
    assert Image.open(png).size[0] > 500
    png = analysis.plot_peri_event(
        key,
        tmp_path / "pe.png",
        feature="pupil_diameter_px",
        camera="left",
        window=(-1, 1),
        bin_s=0.1,
    )
    assert Image.open(png).size[0] > 300
    with pytest.raises(ValueError, match="2 PupilDiameter rows match"):
        analysis.plot_peri_event(key, tmp_path / "pe2.png", feature="pupil_diameter_px")
    monkeypatch.setattr(
        cli, "_activate", lambda: db.settings
    )  # the test's schemas are active already
    runner = CliRunner()
    args = [SUBJECT, DATE, "1"]
    for command in (["export", "alf", *args, "--out", str(tmp_path / "alf")],
                    ["export", "nwb", *args, "--out", str(tmp_path / "s.nwb")],
                    ["plot", "session", *args, "--out", str(tmp_path / "cli_session.png")],
                    ["plot", "peri-event", *args, "--feature", "licks", "--window", "-0.5", "0.5", "--bin", "0.05",
                     "--out", str(tmp_path / "cli_pe.png")]):  # fmt: skip
        result = runner.invoke(cli.app, command)
        assert result.exit_code == 0, (command, result.output)
        assert "wrote" in result.output
    assert (tmp_path / "alf" / "licks.times.npy").is_file() and (tmp_path / "s.nwb").is_file()
    assert (tmp_path / "cli_pe.png").is_file() and (tmp_path / "cli_session.png").is_file()
    result = runner.invoke(cli.app, ["export", "alf", SUBJECT, DATE, "7"])
    assert result.exit_code == 2 and "no session KS023/2025-01-31/007" in result.output


# ------------------------------------------------------------------------------ the HTML report (issue 17)
@pytest.fixture(scope="module")
def report(db, session, tmp_path_factory):
    """``ibl-video report`` of the session, run once in this process on the test's schemas."""
    from typer.testing import CliRunner

    import populate.cli as cli
    from schemas.analysis import plot_session
    from schemas.pose import AnchorPoints, CropROI

    out = tmp_path_factory.mktemp("report") / "report.html"
    key = session["key"]
    # the session's pose is the simulator's truth, placed in no crop region: an eye box around
    # each camera's pupil anchor (removed afterwards), drawn in Figure 6 as the autocrop boxes
    without_boxes = plot_session(key, out.with_name("no_boxes.png"))
    regions = []
    for crop in (CropROI * AnchorPoints & key).to_dicts():
        x, y = int(crop["pupil_center_x"]) - 12, int(crop["pupil_center_y"]) - 10
        regions.append(dict({k: crop[k] for k in CropROI.primary_key}, region="eye", x=x, y=y, w=24, h=20, out_w=24,
                            out_h=20, mirror=False, crop_video_path="none.mp4"))  # fmt: skip
    CropROI.Region.insert(regions, allow_direct_insert=True)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(cli, "_activate", lambda: db.settings)  # the test's schemas are active already
            result = CliRunner().invoke(cli.app, ["report", SUBJECT, DATE, "1", "--out", str(out)])
            missing = CliRunner().invoke(cli.app, ["report", SUBJECT, DATE, "7", "--out", str(out.with_name("none.html"))])
    finally:
        (CropROI.Region & key).delete_quick()
    assert result.exit_code == 0, result.output
    return dict(out=out, result=result, missing=missing, without_boxes=without_boxes, n_regions=len(regions))


def _yellow_pixels(png: bytes) -> int:
    """Pixels of the crop boxes' colour (matplotlib's "yellow", pure red + green)."""
    import io

    from PIL import Image

    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    return int(np.sum((rgb[..., 0] > 230) & (rgb[..., 1] > 230) & (rgb[..., 2] < 40)))


@pytest.mark.slow
def test_report_embeds_figures_2_and_6_and_the_qc_grid(db, session, report):
    import base64
    import html

    from schemas.features import PoseQC
    from schemas.qc import CameraQC

    page = report["out"].read_text()
    sources = re.findall(r'<img src="([^"]*)"', page)
    assert len(sources) == 2  # Figure 2 (jitter per camera) and Figure 6 (the session overview)
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Frame jitter" in page and "Figure 6" in page and f"wrote {report['out']}" in " ".join(report["result"].output.split())
    # Figure 6 draws the crop regions: the boxes' yellow is there, and not without them
    overview = base64.b64decode(sources[1].split(",", 1)[1])
    assert report["n_regions"] == 2 and _yellow_pixels(overview) > 100 > _yellow_pixels(report["without_boxes"].read_bytes())
    # the QC grid: one row per CameraQC and PoseQC check, with its outcome, value and threshold
    qc = page[page.index("<h3>QC checks</h3>"):]
    checks = (CameraQC.Check & session["key"]).to_dicts() + (PoseQC.Check & session["key"]).to_dicts()
    assert qc.count("<tr class=") == len(checks) > 10
    for c in checks:
        assert f'<tr class="{c["outcome"]}"><td>{c["camera_label"]}</td>' in qc
    assert html.escape("mean grey in [40, 200]") in qc and "within 1 Hz of expected" in qc
    # a session that is not there: exit 2, the reason on stderr, nothing written
    missing = report["missing"]
    assert missing.exit_code == 2 and "no session KS023/2025-01-31/007" in missing.output
    assert not report["out"].with_name("none.html").exists()


@pytest.mark.slow
def test_report_shows_every_figure_in_a_real_browser(report, chromium_browser):
    from tests.browser import screenshot_dir

    page = chromium_browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(report["out"].resolve().as_uri())
        page.wait_for_load_state("load")
        images = page.evaluate("""() => Array.from(document.images).map(
            img => ({complete: img.complete, width: img.naturalWidth, height: img.naturalHeight, alt: img.alt}))""")
        assert len(images) >= 2, images
        assert all(i["complete"] and i["width"] > 100 and i["height"] > 100 for i in images), images
        # nothing but the page itself was requested: no other file, no network
        requests = []
        page.on("request", lambda r: requests.append(r.url))
        page.reload()
        page.wait_for_load_state("load")
        assert [u for u in requests if not u.startswith(("file://", "data:"))] == []
        assert page.locator("table tr").count() > 10
        shot = screenshot_dir() / "report_session.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 20_000
    finally:
        page.close()


# ------------------------------------------------------------------------------ README
def readme_example() -> str:
    """The ```python block under README.md's "## For analysts" heading."""
    text = (ROOT / "README.md").read_text()
    section = re.search(r"^## For analysts\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert section, "README.md has no '## For analysts' section"
    block = re.search(r"```python\n(.*?)```", section.group(1), re.S)
    assert block, "the 'For analysts' section has no ```python block"
    return block.group(1)


def test_readme_example_runs(db, session, tmp_path, monkeypatch):
    import schemas

    code = readme_example()
    assert "schemas.activate()" in code and SUBJECT in code and DATE in code
    monkeypatch.setattr(
        schemas, "activate", lambda *a, **k: db.connection
    )  # the test's schemas are active already
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "README.md (For analysts)", "exec"), namespace)  # noqa: S102
    assert namespace["pose"].shape[1] == 69 and len(namespace["licks"]) > 20
    assert (tmp_path / "out" / "alf" / "licks.times.npy").is_file()
    assert (tmp_path / "out" / "session.png").is_file()
