"""Files written by ``deeplabcut.analyze_videos`` itself imported into DLCPose, and the features from them.

A 5 s full-resolution left-camera session; DeepLabCut runs the cached test eye and tongue
networks (tests/pose_fixtures.py) on regions of the full video with its own ``cropping``
(its coordinates are then the crop's: the import adds the offset from DLC's ``_meta.pickle``).
Runs on the embedded database only, like test_pose_chain.py (DeepLabCut is the expensive
part; the table mechanics are tested on every backend in test_pose_import.py).
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dlc_import(pose_model_infos, tmp_path_factory, embedded_connection):
    """Record, ingest and encode a session; run DeepLabCut on its eye and tongue regions; import."""
    import datajoint as dj
    import deeplabcut

    import schemas
    from acquisition.daq import DaqConfig, load_truth
    from acquisition.insert import insert_recording
    from acquisition.session import record_session
    from pipeline import crops
    from schemas.compression import CompressedVideo
    from schemas.config import Settings
    from schemas.pose_import import import_pose
    from schemas.session import CameraRecording
    from schemas.sync import SyncPulses

    settings = Settings(data_root=tmp_path_factory.mktemp("dlc_import"), schema_prefix="test_dlc_import", database="embedded")
    schemas.activate(settings, connection=embedded_connection)
    try:
        rec = record_session(settings.data_root, "DLCIMP01", "ephys", 5.0, seed=5, cameras=["left"],
                             daq_config=DaqConfig(seed=5), progress=False)  # fmt: skip
        key = insert_recording(rec)
        ckey = dict(key, camera_label="left")
        for table in (CameraRecording, SyncPulses, CompressedVideo):
            assert table.populate(ckey, reserve_jobs=True, suppress_errors=True)["error_list"] == [], table.__name__
        loaded = load_truth(rec.folder)
        truth = loaded.scenes["left"]
        width, height = (CameraRecording & ckey).fetch1("width", "height")
        anchors = {"pupil_center": np.nanmean(np.asarray(truth.extra_points["pupil_center"]), axis=0),
                   "tube_top": np.nanmean(np.asarray(truth.points["tube_top"]), axis=0)}  # fmt: skip
        rois = {
            role: crops.roi_from_anchor(crops.DEFAULT_ROI_SPECS[role], anchors[crops.DEFAULT_ROI_SPECS[role].anchor],
                                        width, height, scale=1.0, mirror=False)
            for role in ("eye", "tongue")
        }  # fmt: skip
        out = tmp_path_factory.mktemp("dlc_out")
        video = rec.cameras["left"].path
        files = {}
        for role, roi in rois.items():
            assert (roi.out_w, roi.out_h) == (roi.w, roi.h)  # the networks' input size: no scaling
            dest = out / role
            scorer = deeplabcut.analyze_videos(
                str(pose_model_infos[role].project_dir / "config.yaml"), [str(video)], destfolder=str(dest),
                cropping=[roi.x, roi.x + roi.w, roi.y, roi.y + roi.h], save_as_csv=role == "eye", batch_size=16,
                device="cpu",
            )  # fmt: skip
            files[role] = dest / f"{video.stem}{scorer}.h5"
        result = import_pose(key, "left", [files["eye"], files["tongue"]])
        yield dict(key=key, ckey=ckey, truth=truth, licks=loaded.lick_intervals_s, rois=rois, files=files, result=result, video=video,
                   size=(width, height))  # fmt: skip
    finally:
        with dj.config.override(safemode=False):
            schemas.drop_all()


def test_dlc_h5_imports_in_full_frame_pixels_equal_to_our_own_inference(dlc_import, pose_model_infos):
    """DeepLabCut's points on its crop plus the offset are the pipeline's run_pose points on the same region."""
    from pipeline import crops, pose
    from pipeline.io.video import read_frames
    from schemas.pose import DLCPose, pose_arrays

    key = dlc_import["result"]["key"]
    assert key["pose_model_set"] == "imported" and key["compression_params"] == "archival"
    rows = (DLCPose.ImportedFile & key).to_dicts()
    assert [r["source_format"] for r in rows] == ["dlc_h5", "dlc_h5"]
    assert sorted(r["scorer"] for r in rows) == sorted(f.stem.split("raw")[-1] for f in dlc_import["files"].values())
    eye_row = next(r for r in rows if "_eye" in r["scorer"])
    roi = dlc_import["rois"]["eye"]
    assert (eye_row["offset_x"], eye_row["offset_y"]) == (roi.x, roi.y)
    stored = pose_arrays(key)
    frames = read_frames(dlc_import["video"], *dlc_import["size"])
    worst = {}
    for role in ("eye", "tongue"):
        roi = dlc_import["rois"][role]
        ours = pose.run_pose(crops.crop_frames(frames, roi), pose_model_infos[role].model(), roi, batch_size=16)
        for bp, a in ours.items():
            worst[bp] = float(np.nanmax(np.abs(stored[bp] - a)))
    print("\nimported DLC points against our run_pose on the same regions, max |difference|:", worst)
    assert max(worst.values()) < 1e-3
    truth = dlc_import["truth"]
    for bp in ("pupil_top_l", "pupil_bottom_l", "tube_top"):
        ok = stored[bp][:, 2] >= 0.9
        err = np.linalg.norm(stored[bp][ok, :2] - np.asarray(truth.points[bp])[ok], axis=1)
        assert ok.mean() > 0.8 and np.median(err) < 3.0, (bp, ok.mean(), np.median(err))


def test_pupil_diameter_and_licks_compute_from_the_imported_dlc_pose(dlc_import):
    from pipeline import features, pose
    from schemas.features import FeatureParams, LickEvents, PoseQC, PupilDiameter
    from schemas.pose import pose_arrays
    from schemas.sync import SyncPulses

    key = dlc_import["result"]["key"]
    for table in (PupilDiameter, LickEvents, PoseQC):
        assert table.populate(key, reserve_jobs=True, suppress_errors=True)["error_list"] == [], table.__name__
    row = (PupilDiameter & key & {"feature_params": "ibl"}).fetch1()
    est = np.asarray(row["pupil_diameter_px"])
    true = np.asarray(dlc_import["truth"].pupil_diameter_px)
    ok = np.isfinite(est) & np.isfinite(true)
    r = np.corrcoef(est[ok], true[ok])[0, 1]
    # the pipeline's own DLCPose of these points: median-filtered over 5 confident frames, then the same features
    params = FeatureParams.params({"feature_params": "ibl"})
    fps = float((SyncPulses & key).fetch1("median_fps"))
    own = pose.median_filter_pose(pose_arrays(key), window=5)
    own_raw = features.pupil_diameter_from_points(features.likelihood_threshold(own, params.likelihood_threshold), suffix="l")
    own_smooth = features.smooth_pupil_diameter(own_raw, fps, window_s=params.pupil_window_s, order=params.pupil_order,
                                                std_thresh=params.pupil_std_thresh, nan_thresh_s=params.pupil_nan_thresh_s,
                                                max_nan_fraction=params.pupil_max_nan_fraction)  # fmt: skip
    both = np.isfinite(est) & np.isfinite(own_smooth)
    diff = float(np.median(np.abs(est[both] - own_smooth[both])))
    print(f"\nimported DLC pose: pupil r = {r:.3f} against the truth, {100 * ok.mean():.0f}% of frames; "
          f"median |imported - pipeline's own (filtered)| = {diff:.3f} px of a {np.nanmean(est):.1f} px pupil")  # fmt: skip
    assert r > 0.9 and ok.mean() > 0.8
    assert diff < 0.05 * np.nanmean(est)
    times = np.asarray((SyncPulses & key).fetch1("frame_times"))
    starts = dlc_import["licks"][:, 0]
    starts = starts[(starts >= times[0]) & (starts <= times[-1])]
    for method in ("ibl", "distance"):
        onsets = np.asarray((LickEvents & key & {"feature_params": method}).fetch1("lick_onset_times"))
        recall = np.mean([np.any(np.abs(onsets - t) <= 2 / fps) for t in starts])
        precision = np.mean([np.any(np.abs(starts - t) <= 2 / fps) for t in onsets]) if len(onsets) else 0.0
        print(f"{method}: {len(onsets)} lick onsets, {len(starts)} true licks, precision {precision:.2f}, recall {recall:.2f}")
        assert len(starts) >= 5 and recall >= 0.8 and precision >= 0.8


def test_dlcs_csv_imports_the_same_and_a_wrong_length_file_stores_nothing(dlc_import, tmp_path):
    from schemas.pose import AnchorPoints, CropROI, DLCPose, PoseModelSet, pose_arrays
    from schemas.pose_import import import_pose

    csv = dlc_import["files"]["eye"].with_suffix(".csv")
    assert csv.is_file()  # analyze_videos(save_as_csv=True) wrote it beside the .h5
    key = import_pose(dlc_import["key"], "left", [csv], pose_model_set="dlc-csv")["key"]
    from_csv, from_h5 = pose_arrays(key), pose_arrays(dlc_import["result"]["key"])
    assert (DLCPose.ImportedFile & key).fetch1("source_format") == "dlc_csv"
    for bp, a in from_csv.items():
        np.testing.assert_allclose(a, from_h5[bp], rtol=0, atol=1e-4)

    lines = csv.read_text().splitlines(keepends=True)
    short = tmp_path / csv.name
    short.write_text("".join(lines[:-1]))  # DeepLabCut's own file, last frame cut
    tables = (PoseModelSet, AnchorPoints, CropROI, DLCPose, DLCPose.BodyPart, DLCPose.ImportedFile)
    before = [len(t()) for t in tables]
    n = int((DLCPose & dlc_import["result"]["key"]).fetch1("n_frames"))
    with pytest.raises(ValueError, match=rf"{short.name} has {n - 1} frames but the .* left camera recording has {n}; nothing imported"):
        import_pose(dlc_import["key"], "left", [short], pose_model_set="short")
    assert [len(t()) for t in tables] == before
    assert not PoseModelSet & {"pose_model_set": "short"}
