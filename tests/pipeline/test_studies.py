"""The note's jitter and file-size computations on arrays (pipeline.studies, pipeline.plots.plot_jitter)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.studies import SIZE_COLUMNS, file_size_table, frame_jitter


def _frames(n: int, fps: float, exposure_sd_us: float, seed: int) -> np.ndarray:
    """Exposure times with i.i.d. jitter: the interval's std is ``sqrt(2) * exposure_sd_us``."""
    rng = np.random.default_rng(seed)
    return np.arange(n) / fps + rng.normal(0.0, exposure_sd_us * 1e-6, n)


@pytest.mark.parametrize(("fps", "interval_sd_us"), [(60.0, 195.6), (150.0, 143.2), (30.0, 500.0)])
def test_known_jitter_is_recovered(fps, interval_sd_us):
    n = 50_000
    t = _frames(n, fps, interval_sd_us / np.sqrt(2), seed=int(fps))
    j = frame_jitter(t, np.zeros(n, bool), fps)
    # sample std of ~50,000 intervals: relative standard error 1/sqrt(2n) = 0.3%; 1.5% is 5 of them
    assert j.jitter_us == pytest.approx(interval_sd_us, rel=0.015)
    assert (j.n_intervals, j.n_excluded, j.n_extrapolated) == (n - 1, 0, 0)
    assert j.median_fps == pytest.approx(fps, rel=1e-4) and j.nominal_fps == fps
    # the histogram's values are the same intervals, less the nominal period
    np.testing.assert_allclose(j.deviations_us, (np.diff(t) - 1 / fps) * 1e6, rtol=0, atol=1e-6)
    assert np.std(j.deviations_us, ddof=1) == pytest.approx(j.jitter_us, rel=1e-9)


def test_extrapolated_and_filled_frames_are_left_out():
    """Filled frames sit at the median rate: kept, they would pull the jitter down."""
    fps, n, sd = 30.0, 30_000, 250.0
    t = _frames(n, fps, sd / np.sqrt(2), seed=1)
    filled = np.zeros(n, bool)
    for start in range(100, n - 300, 300):  # 60 filled frames after every 240 measured (Bpod inter-trial gaps)
        filled[start:start + 60] = True
        t[start:start + 60] = t[start - 1] + np.arange(1, 61) / fps  # at the nominal rate, no jitter
    j = frame_jitter(t, filled, fps)
    both = ~filled[1:] & ~filled[:-1]
    assert j.n_intervals == int(both.sum()) and j.n_extrapolated == int(filled.sum())
    assert j.n_excluded == n - 1 - j.n_intervals
    assert j.jitter_us == pytest.approx(np.std(np.diff(t)[both], ddof=1) * 1e6, rel=1e-9)
    assert j.jitter_us == pytest.approx(sd, rel=0.03)
    every_frame = frame_jitter(t, np.zeros(n, bool), fps)
    assert every_frame.jitter_us < 0.92 * j.jitter_us  # what keeping them would have given


def test_intervals_spanning_a_dropped_frame_are_left_out():
    fps, n = 60.0, 20_000
    exposures = _frames(n, fps, 100.0, seed=2)
    dropped = np.zeros(n, bool)
    dropped[np.arange(50, n - 50, 97)] = True  # the camera skipped these: a double interval each
    t = exposures[~dropped]
    j = frame_jitter(t, np.zeros(t.size, bool), fps)
    assert j.n_excluded == int(dropped.sum()) and j.n_intervals == t.size - 1 - dropped.sum()
    assert np.abs(j.deviations_us).max() < 0.5e6 / fps  # no double period in the histogram
    assert j.jitter_us == pytest.approx(100.0 * np.sqrt(2), rel=0.03)


def test_too_few_measured_frames_give_nan_not_an_error():
    j = frame_jitter([0.0, 1 / 60, 2 / 60], [False, True, False], 60.0)
    assert np.isnan(j.jitter_us) and j.n_intervals == 0 and j.deviations_us.size == 0


@pytest.mark.parametrize(("times", "flags", "fps", "message"), [
    (np.zeros(5), np.zeros(4, bool), 60.0, "5 frame times but 4 is_extrapolated flags"),
    (np.zeros((2, 3)), np.zeros((2, 3), bool), 60.0, "must be 1-D"),
    (np.arange(5.0), np.zeros(5, bool), 0.0, "positive number of frames/s, got 0.0"),
    (np.arange(5.0), np.zeros(5, bool), np.nan, "positive number of frames/s, got nan"),
])  # fmt: skip
def test_bad_input_is_a_clear_error(times, flags, fps, message):
    with pytest.raises(ValueError, match=message):
        frame_jitter(times, flags, fps)


def _video(rig, cam, params, crf, width, height, fps, seconds, size, clips=0, codec="libx264"):
    return dict(rig_type=rig, camera_label=cam, compression_params=params, crf=crf, video_codec=codec, width=width,
                height=height, fps=fps, duration_s=seconds, file_size=size, clips_size=clips)  # fmt: skip


NOTE = dict(reference_width=944, reference_height=956, reference_fps=150.0,
            note_camera_mb_per_hour={None: 18900.0, 29: 378.0, 35: 189.0}, note_rig_mb_per_hour={("ephys", 35): 330.0},
            order=("left", "right", "body"))  # fmt: skip


def test_file_size_table_scales_pools_and_totals():
    videos = pd.DataFrame([
        # 1280x1024 at 60 Hz, crf 35: two half-hour sessions, 50 and 70 MB -> 120 MB/h pooled
        _video("ephys", "left", "compact", 35, 1280, 1024, 60.0, 1800.0, 50e6, clips=3e6),
        _video("ephys", "left", "compact", 35, 1280, 1024, 60.0, 1800.0, 70e6, clips=1e6),
        # the note's own format: no scaling
        _video("ephys", "right", "compact", 35, 944, 956, 150.0, 3600.0, 189e6),
        _video("ephys", "right", "raw", np.nan, 944, 956, 150.0, 3600.0, 18.9e9, codec="ffv1"),
        _video("ephys", "body", "archival", 17, 1280, 1024, 30.0, 900.0, 100e6),
    ])  # fmt: skip
    table = file_size_table(videos, **NOTE)
    assert list(table.columns) == list(SIZE_COLUMNS)
    rows = {(r["camera_label"], r["compression_params"]): r for r in table.to_dict("records")}
    left = rows["left", "compact"]
    assert left["n_recordings"] == 2 and left["hours"] == pytest.approx(1.0)
    assert left["mb_per_hour"] == pytest.approx(120.0) and left["clips_mb_per_hour"] == pytest.approx(4.0)
    assert left["total_mb_per_hour"] == pytest.approx(124.0)
    assert left["scaled_mb_per_hour"] == pytest.approx(120.0 * 944 * 956 * 150 / (1280 * 1024 * 60))
    assert left["note_mb_per_hour"] == 189.0
    right = rows["right", "compact"]
    assert right["mb_per_hour"] == pytest.approx(189.0) and right["scaled_mb_per_hour"] == pytest.approx(189.0)
    assert rows["right", "raw"]["note_mb_per_hour"] == 18900.0 and rows["right", "raw"]["video_codec"] == "ffv1"
    assert pd.isna(rows["right", "raw"]["crf"])
    body = rows["body", "archival"]
    assert body["mb_per_hour"] == pytest.approx(400.0) and np.isnan(body["note_mb_per_hour"])  # the note has no crf 17
    # rig totals per parameter set: the sum of the cameras' MB per hour, the note's rig figure at crf 35
    total = rows["all", "compact"]
    assert total["mb_per_hour"] == pytest.approx(120.0 + 189.0) and total["clips_mb_per_hour"] == pytest.approx(4.0)
    assert total["note_mb_per_hour"] == 330.0 and np.isnan(total["scaled_mb_per_hour"])
    assert pd.isna(total["width"]) and total["n_recordings"] == 3
    assert np.isnan(rows["all", "archival"]["note_mb_per_hour"])
    # order: cameras as the rig lists them, raw first, the totals last
    assert [(r["camera_label"], r["compression_params"]) for r in table.to_dict("records")] == [
        ("left", "compact"), ("right", "raw"), ("right", "compact"), ("body", "archival"),
        ("all", "raw"), ("all", "archival"), ("all", "compact")]  # fmt: skip


def test_file_size_table_keeps_formats_apart_and_totals_each_camera_once():
    videos = pd.DataFrame([
        _video("ephys", "left", "archival", 17, 1280, 1024, 60.0, 3600.0, 400e6),
        _video("ephys", "left", "archival", 17, 640, 512, 60.0, 1800.0, 50e6),  # a half-resolution session
    ])  # fmt: skip
    table = file_size_table(videos, **NOTE)
    cams = table[table["camera_label"] == "left"]
    assert sorted(cams["mb_per_hour"]) == pytest.approx([100.0, 400.0])
    # scaled per format, so both land near each other if size is linear in pixels
    assert sorted(cams["scaled_mb_per_hour"]) == pytest.approx(sorted([400.0 * 944 * 956 * 150 / (1280 * 1024 * 60),
                                                                       100.0 * 944 * 956 * 150 / (640 * 512 * 60)]))
    total = table[table["camera_label"] == "all"].iloc[0]
    assert total["mb_per_hour"] == pytest.approx(450e6 / 1e6 / 1.5)  # the camera's pooled rate, counted once


@pytest.mark.parametrize(("change", "message"), [
    ({"duration_s": 0.0}, "non-positive duration_s"),
    ({"width": 0}, "non-positive width"),
    ({"file_size": -1}, "negative file sizes"),
])  # fmt: skip
def test_file_size_table_bad_input(change, message):
    videos = pd.DataFrame([dict(_video("ephys", "left", "archival", 17, 1280, 1024, 60.0, 60.0, 1e6), **change)])
    with pytest.raises(ValueError, match=message):
        file_size_table(videos, **NOTE)
    with pytest.raises(ValueError, match=r"lacks columns \['duration_s'\]"):
        file_size_table(videos.drop(columns="duration_s"), **NOTE)


def test_jitter_figure_bins_follow_the_clock(tmp_path):
    """Figure 2's histogram: bins a whole number of DAQ ticks wide, one panel per camera."""
    import matplotlib.image

    from pipeline.plots import JitterPanel, _bins_on_the_clock_grid, plot_jitter

    tick = 1e6 / 30000  # FPGA samples, us
    rng = np.random.default_rng(3)
    dev = np.round(rng.normal(0, 195.6, 5000) / tick) * tick
    edges = _bins_on_the_clock_grid(dev, 40)
    widths = np.diff(edges) / tick
    np.testing.assert_allclose(widths, np.round(widths[0]), rtol=0, atol=1e-9)
    assert np.histogram(dev, edges)[0].sum() == dev.size  # every value in a bin, none on an edge
    assert _bins_on_the_clock_grid(rng.normal(0, 100, 500), 40) == 40  # not sampled: plain bins
    panels = [JitterPanel("ephys left, 60 Hz", dev, float(np.std(dev, ddof=1)), 195.6),
              JitterPanel("ephys body, 30 Hz", np.zeros(0), float("nan"))]  # fmt: skip
    png = plot_jitter(panels, tmp_path / "fig" / "jitter.png")
    image = matplotlib.image.imread(png)
    assert image.shape[1] > 1.8 * image.shape[0]
    with pytest.raises(ValueError, match="no cameras"):
        plot_jitter([], tmp_path / "none.png")


def test_point_errors_are_dlcs_mean_distance_and_average_over_labelled_points():
    from pipeline.studies import point_errors

    rng = np.random.default_rng(5)
    labels = rng.uniform(0, 300, (40, 3, 2))
    labels[rng.random((40, 3)) < 0.3] = np.nan  # unlabelled points
    labels[:, 2] = np.nan  # a point never labelled
    predictions = np.concatenate([labels + rng.normal(0, 4, labels.shape), rng.random((40, 3, 1))], axis=2)
    errors, counts, overall = point_errors(labels, np.nan_to_num(predictions, nan=7.0))
    for j in range(2):
        ok = np.isfinite(labels[:, j]).all(axis=1)
        assert counts[j] == ok.sum() and errors[j] == pytest.approx(np.mean(np.hypot(*(predictions[ok, j, :2] - labels[ok, j]).T)), rel=1e-12)
    assert counts[2] == 0 and np.isnan(errors[2])
    assert overall == pytest.approx(np.average(errors[:2], weights=counts[:2]), rel=1e-12)
    with pytest.raises(ValueError, match=r"labels must be \(n, k, 2\)"):
        point_errors(labels, predictions[:10])


def test_keypoint_error_table_is_the_mean_and_spread_over_splits():
    from pipeline.studies import (
        ALL_POINTS,
        KEYPOINT_COLUMNS,
        SplitErrors,
        keypoint_error_table,
        keypoint_split_table,
    )

    def split(i, train, test):
        counts = np.array([10, 5])
        return SplitErrors(group="eye", split=i, bodyparts=("a", "b"), train_error_px=np.array(train),
                           test_error_px=np.array(test), n_train_labels=counts, n_test_labels=counts // 5,
                           train_overall_px=float(np.average(train, weights=counts)),
                           test_overall_px=float(np.average(test, weights=counts)), dlc_train_error_px=np.array(train),
                           dlc_test_error_px=np.array(test), dlc_train_overall_px=0.0, dlc_test_overall_px=0.0,
                           n_train=10, n_test=2, train_seconds=1.0)  # fmt: skip

    splits = [split(0, [1.0, 2.0], [3.0, 6.0]), split(1, [3.0, 2.0], [5.0, np.nan])]
    table = keypoint_error_table(splits)
    assert list(table.columns) == list(KEYPOINT_COLUMNS) and table["body_part"].tolist() == ["a", "b", ALL_POINTS]
    table = table.set_index("body_part")
    assert table.loc["a", "test_error_px"] == 4.0 and table.loc["a", "test_sd_px"] == pytest.approx(np.sqrt(2))
    assert table.loc["b", "n_splits"] == 1 and table.loc["b", "test_error_px"] == 6.0 and np.isnan(table.loc["b", "test_sd_px"])
    assert table.loc["a", "n_train_labels"] == 20 and (table.loc["a", "train_min_px"], table.loc["a", "train_max_px"]) == (1.0, 3.0)
    assert len(keypoint_split_table(splits)) == 6
    with pytest.raises(ValueError, match="no splits"):
        keypoint_error_table([])
