"""Readers of pose made elsewhere (DeepLabCut .h5/.csv, Lightning Pose CSV, IBL dlc.pqt) and the
merge and anchor rules of an import, on small files written in each tool's layout.

Files written by DeepLabCut itself are read in tests/schemas/test_pose_import.py.
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from pipeline import pose_import
from pipeline.io import dlc as dlcio
from pipeline.io.ibl_names import to_ibl

N = 6
RNG = np.random.default_rng(3)


def _points(names, n=N):
    return {bp: np.column_stack([RNG.uniform(0, 100, (n, 2)), RNG.uniform(0.5, 1.0, n)]) for bp in names}


def _dlc_frame(points, scorer, individuals=None):
    """A table as deeplabcut.analyze_videos builds it (create_df_from_prediction)."""
    if individuals is None:
        cols = pd.MultiIndex.from_product([[scorer], list(points), ["x", "y", "likelihood"]],
                                          names=["scorer", "bodyparts", "coords"])  # fmt: skip
        data = np.concatenate([points[bp] for bp in points], axis=1)
    else:
        tuples, blocks = [], []
        for who, pts in individuals.items():
            for bp, a in pts.items():
                tuples += [(scorer, who, bp, c) for c in ("x", "y", "likelihood")]
                blocks.append(a)
        cols = pd.MultiIndex.from_tuples(tuples, names=["scorer", "individuals", "bodyparts", "coords"])
        data = np.concatenate(blocks, axis=1)
    return pd.DataFrame(data, columns=cols, index=range(len(data)))


def test_dlc_h5_and_csv_in_dlcs_layout_read_back_exactly(tmp_path):
    pts = _points(["pupil_top_l", "pupil_bottom_l"])
    df = _dlc_frame(pts, "DLC_Resnet50_eyeDec6shuffle1_snapshot_060")
    h5 = tmp_path / "videoDLC_Resnet50_eyeDec6shuffle1_snapshot_060.h5"
    df.to_hdf(h5, key="df_with_missing", format="table", mode="w")
    df.to_csv(h5.with_suffix(".csv"))
    for path, fmt in ((h5, "dlc_h5"), (h5.with_suffix(".csv"), "dlc_csv")):
        assert dlcio.detect_pose_format(path) == fmt
        got = dlcio.read_pose_file(path, "left")
        assert got.format == fmt and got.scorer == "DLC_Resnet50_eyeDec6shuffle1_snapshot_060"
        assert list(got.points) == list(pts) and got.n_frames == N and got.offset == (0.0, 0.0)
        for bp in pts:
            np.testing.assert_allclose(got.points[bp], pts[bp], rtol=0, atol=1e-12)


def test_multi_animal_file_is_refused_without_an_individual_and_one_is_taken_with_it(tmp_path):
    mice = {"mouse1": _points(["nose", "tail"]), "mouse2": _points(["nose", "tail"]), "single": _points(["spout"])}
    h5 = tmp_path / "ma.h5"
    _dlc_frame(None, "DLC_ma", individuals=mice).to_hdf(h5, key="df_with_missing", format="table", mode="w")
    with pytest.raises(ValueError, match=r"ma\.h5 is a multi-animal file with individuals mouse1, mouse2: name the one"):
        dlcio.read_pose_file(h5, "left")
    with pytest.raises(ValueError, match=r"no individual 'mouse3'; the file has mouse1, mouse2, single"):
        dlcio.read_pose_file(h5, "left", individual="mouse3")
    got = dlcio.read_pose_file(h5, "left", individual="mouse2")
    assert list(got.points) == ["nose", "tail", "spout"] and got.individual == "mouse2"
    np.testing.assert_allclose(got.points["nose"], mice["mouse2"]["nose"], atol=1e-12)
    np.testing.assert_allclose(got.points["spout"], mice["single"]["spout"], atol=1e-12)
    assert any(c.startswith("DLC_ma/mouse1/nose") for c in got.ignored)
    csv = tmp_path / "ma.csv"
    _dlc_frame(None, "DLC_ma", individuals={"mouse1": mice["mouse1"]}).to_csv(csv)
    one = dlcio.read_pose_file(csv, "left")  # one individual: taken without naming it
    assert list(one.points) == ["nose", "tail"]


def _dlc_meta(path, cropping, params, dims=(1280, 1024)):
    meta = {"data": {"Scorer": "DLC_x", "fps": 60.0, "frame_dimensions": dims, "nframes": N, "cropping": cropping,
                     "cropping_parameters": params, "pytorch-config": {"net_type": "cspnext_s"}}}  # fmt: skip
    with open(dlcio.dlc_meta_path(path), "wb") as f:
        pickle.dump(meta, f)


def test_dlc_cropping_offset_from_its_meta_pickle_gives_full_frame_pixels(tmp_path):
    pts = _points(["pupil_top_l"])
    h5 = tmp_path / "_iblrig_leftCamera.rawDLC_x.h5"
    _dlc_frame(pts, "DLC_x").to_hdf(h5, key="df_with_missing", format="table", mode="w")
    assert dlcio.read_dlc_crop_offset(h5) is None  # no metadata: coordinates taken as they are, said so
    bare = dlcio.read_pose_file(h5, "left")
    assert bare.offset == (0.0, 0.0)
    assert len(bare.warnings) == 1 and "_iblrig_leftCamera.rawDLC_x_meta.pickle" in bare.warnings[0]
    _dlc_meta(h5, True, [537, 637, 301, 401])
    assert dlcio.dlc_meta_path(h5).name == "_iblrig_leftCamera.rawDLC_x_meta.pickle"
    got = dlcio.read_pose_file(h5, "left")
    assert got.offset == (537.0, 301.0) and got.warnings == ()
    np.testing.assert_allclose(got.points["pupil_top_l"][:, :2], pts["pupil_top_l"][:, :2] + [537, 301], atol=1e-9)
    np.testing.assert_array_equal(got.points["pupil_top_l"][:, 2], pts["pupil_top_l"][:, 2])
    _dlc_meta(h5, False, [0, 1280, 0, 1024])
    assert dlcio.read_pose_file(h5, "left").offset == (0.0, 0.0)


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def test_a_meta_pickle_runs_no_code_and_a_bad_one_is_named(tmp_path):
    h5 = tmp_path / "vDLC_x.h5"
    _dlc_frame(_points(["a"]), "DLC_x").to_hdf(h5, key="df_with_missing", format="table", mode="w")
    marker = tmp_path / "pwned"
    with open(dlcio.dlc_meta_path(h5), "wb") as f:
        pickle.dump({"data": {"cropping": _Exploit(str(marker)), "cropping_parameters": [0, 1, 0, 1]}}, f)
    with pytest.raises(ValueError, match=r"vDLC_x_meta\.pickle: DeepLabCut metadata without readable cropping"):
        dlcio.read_pose_file(h5, "left")
    assert not marker.exists()


def test_lightning_pose_csv_with_ensemble_columns_and_its_set_column(tmp_path):
    pts = _points(["paw1", "paw2"])
    coords = ["x", "y", "likelihood", "x_ens_median", "y_ens_median", "x_ens_var", "y_ens_var", "x_posterior_var"]
    tuples = [("heatmap_mhcrnn_tracker", bp, c) for bp in pts for c in coords]
    data = np.column_stack([np.column_stack([pts[bp], RNG.uniform(0, 1, (N, len(coords) - 3))]) for bp in pts])
    df = pd.DataFrame(data, columns=pd.MultiIndex.from_tuples(tuples, names=["scorer", "bodyparts", "coords"]))
    path = tmp_path / "predictions.csv"
    df.to_csv(path)
    assert dlcio.detect_pose_format(path) == "lightning_pose_csv"
    got = dlcio.read_pose_file(path, "left")
    assert got.format == "lightning_pose_csv" and got.scorer == "heatmap_mhcrnn_tracker"
    np.testing.assert_allclose(got.points["paw2"], pts["paw2"], atol=1e-9)
    assert "heatmap_mhcrnn_tracker/paw1/x_ens_var" in got.ignored
    # predictions on labelled images (predict_dataset): a "set" column and image names as rows
    df[("set", "", "")] = "train"
    df.index = [f"labeled-data/v/img{i:03d}.png" for i in range(N)]
    df.to_csv(path)
    with pytest.raises(ValueError, match=r"predictions\.csv: rows are not video frames"):
        dlcio.read_pose_file(path, "left")


def test_ibl_pqt_is_read_under_our_names_on_the_right_camera(tmp_path):
    ours = _points(["pupil_top_r", "pupil_right_r", "pupil_bottom_r", "pupil_left_r", "tube_top", "tongue_end_l"])
    path = dlcio.write_alf_dlc(tmp_path / "_ibl_rightCamera.dlc.pqt", to_ibl(ours, "right"))
    assert "pupil_right_r_x" in pd.read_parquet(path).columns
    got = dlcio.read_pose_file(path, "right")
    assert got.format == "ibl_pqt" and got.scorer == ""
    assert sorted(got.points) == sorted(ours)
    for bp in ours:
        np.testing.assert_array_equal(got.points[bp], ours[bp])
    # IBL's pupil_right_r is our pupil_left_r on the right camera (the image was flipped for tracking)
    np.testing.assert_array_equal(got.points["pupil_left_r"], ours["pupil_left_r"])


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("p.txt", "x", r"p\.txt: unknown pose file type '\.txt'"),
        ("p.csv", "a,b\n1,2\n", r"p\.csv: not a DeepLabCut-style CSV"),
        ("p.h5", "not hdf5", r"p\.h5 is not a DeepLabCut \.h5 file"),
        ("p.pqt", "not parquet", r"p\.pqt: not an IBL dlc\.pqt table"),
    ],
)
def test_unreadable_files_are_errors_naming_them(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        dlcio.read_pose_file(path, "left")


def test_h5_without_dlcs_key_names_the_keys(tmp_path):
    path = tmp_path / "other.h5"
    _dlc_frame(_points(["a"]), "DLC_x").to_hdf(path, key="tracks", mode="w")
    with pytest.raises(ValueError, match=r"other\.h5: no 'df_with_missing' table .* holds \['/tracks'\]"):
        dlcio.read_pose_file(path, "left")
    with pytest.raises(FileNotFoundError, match="gone.h5"):
        dlcio.read_pose_file(tmp_path / "gone.h5", "left")


def _file(tmp_path, name, points):
    return dlcio.PoseFile(path=tmp_path / name, format="dlc_h5", scorer="s", points=points)


def test_merge_checks_frame_counts_and_refuses_a_body_part_in_two_files(tmp_path):
    eye = _file(tmp_path, "eye.h5", _points(["pupil_top_l", "pupil_bottom_l"]))
    tongue = _file(tmp_path, "tongue.h5", _points(["tube_top", "tongue_end_l"]))
    merged = pose_import.merge_pose_files([eye, tongue], N, "S/2026-01-01/001 left camera")
    assert list(merged) == ["pupil_top_l", "pupil_bottom_l", "tube_top", "tongue_end_l"]
    short = _file(tmp_path, "short.h5", _points(["pupil_top_l"], n=N - 1))
    with pytest.raises(ValueError, match=rf"short\.h5 has {N - 1} frames but the S/2026-01-01/001 left camera recording has {N}"):
        pose_import.merge_pose_files([eye, short], N, "S/2026-01-01/001 left camera")
    again = _file(tmp_path, "tongue2.h5", _points(["tongue_end_l"]))
    with pytest.raises(ValueError, match=r"body part 'tongue_end_l' is in two files, .*tongue\.h5 and .*tongue2\.h5"):
        pose_import.merge_pose_files([tongue, again], N, "x")
    with pytest.raises(ValueError, match="no pose files"):
        pose_import.merge_pose_files([], N, "x")


def test_points_outside_the_frame_are_refused_naming_the_part():
    pts = {"pupil_top_l": np.array([[10.0, 20.0, 0.99], [np.nan, np.nan, 0.1], [639.0, 511.0, 0.5]])}
    pose_import.check_inside_frame(pts, 640, 512, "S right camera")  # NaN is not checked
    pts["tube_top"] = np.array([[10.0, 20.0, 0.99], [900.0, 30.0, 0.9], [700.0, 30.0, 0.9]])
    with pytest.raises(ValueError, match=r"S right camera: 'tube_top' lies outside the 640x512 frame in 2 of 3 frames"):
        pose_import.check_inside_frame(pts, 640, 512, "S right camera")


def test_import_anchors_are_means_of_confident_detections():
    n = 10
    center = np.array([600.0, 400.0])
    lik = np.full(n, 0.99)
    lik[[2, 5]] = 0.3  # two unsure frames of the top edge: the top/bottom pair is not used there
    pts = {
        "pupil_top_l": np.column_stack([np.full(n, center[0]), np.full(n, center[1] - 10), lik]),
        "pupil_bottom_l": np.column_stack([np.full(n, center[0]), np.full(n, center[1] + 10), np.full(n, 0.99)]),
        "pupil_left_l": np.column_stack([np.full(n, center[0] - 12), np.full(n, center[1] + 1), np.full(n, 0.95)]),
        "pupil_right_l": np.column_stack([np.full(n, center[0] + 12), np.full(n, center[1] + 1), np.full(n, 0.95)]),
        "tube_top": np.column_stack([np.arange(n, dtype=float), np.full(n, 50.0), np.r_[np.full(5, 0.95), np.full(5, 0.1)]]),
    }
    anchors, counts = pose_import.import_anchors(pts, "left")
    # frames 2 and 5 use the left/right pair only (y = center + 1); the others average both pairs (y = center + 0.5)
    expect_y = (8 * (center[1] + 0.5) + 2 * (center[1] + 1)) / 10
    np.testing.assert_allclose(anchors["pupil_center"], [center[0], expect_y], atol=1e-9)
    assert counts["pupil_center"] == n
    np.testing.assert_allclose(anchors["tube_top"], [2.0, 50.0])  # frames 0-4 only
    assert counts["tube_top"] == 5
    assert anchors["nose_tip"] is None and counts["nose_tip"] == 0
    none, _ = pose_import.import_anchors({"tongue_end_l": pts["tube_top"]}, "right")
    assert none == {"pupil_center": None, "nose_tip": None, "tube_top": None}
