"""pipeline.analysis and pipeline.plots_session on small arrays: each result against a direct computation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import analysis as an


# ------------------------------------------------------------------------------ clocks
def test_clock_conversion_follows_the_fit_and_round_trips():
    t = np.array([0.0, 1.5, 1000.0])
    bpod = an.fpga_to_bpod(t, 3.2, 50.0)
    np.testing.assert_allclose(bpod, 3.2 + (1 + 50e-6) * t, rtol=0, atol=1e-12)
    np.testing.assert_allclose(an.bpod_to_fpga(bpod, 3.2, 50.0), t, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(an.convert_clock(t, "fpga", "bpod", 3.2, 50.0), bpod)
    np.testing.assert_array_equal(an.convert_clock(t, "bpod", "bpod"), t)
    with pytest.raises(ValueError, match="needs the clock fit"):
        an.convert_clock(t, "fpga", "bpod")
    with pytest.raises(ValueError, match="to_clock must be one of"):
        an.convert_clock(t, "fpga", "pc")


# ------------------------------------------------------------------------------ interpolation
def test_interpolation_matches_a_direct_computation():
    rng = np.random.default_rng(1)
    t = np.cumsum(rng.uniform(0.01, 0.03, 400))
    v = np.sin(t * 3) * 10 + 20
    v[[50, 51, 52, 200]] = np.nan
    q = rng.uniform(t[0] - 0.5, t[-1] + 0.5, 2000)
    got = an.interpolate_at(t, v, q)
    # direct: for every query, the two samples around it by a loop-free brute force
    i = np.array([np.max(np.flatnonzero(t <= x)) if x >= t[0] else -1 for x in q])
    expected = np.full(len(q), np.nan)
    for k, (x, j) in enumerate(zip(q, i, strict=True)):
        if j < 0 or x > t[-1]:
            continue
        if t[j] == x:
            expected[k] = v[j]
        else:
            expected[k] = v[j] + (x - t[j]) / (t[j + 1] - t[j]) * (v[j + 1] - v[j])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12, equal_nan=True)
    # NaN across the gap, outside the series; a query on a sample next to a NaN keeps it
    assert np.isnan(an.interpolate_at(t, v, [(t[50] + t[51]) / 2, t[0] - 1e-6, t[-1] + 1e-6])).all()
    assert an.interpolate_at(t, v, [t[49]])[0] == v[49]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-100, 100, allow_nan=False), min_size=2, max_size=40),
    st.integers(0, 2**31 - 1),
)
def test_interpolation_equals_numpy_inside_a_finite_series(values, seed):
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.uniform(0.001, 1.0, len(values)))
    q = rng.uniform(t[0], t[-1], 50)
    np.testing.assert_allclose(
        an.interpolate_at(t, values, q), np.interp(q, t, values), rtol=1e-9, atol=1e-9
    )


def test_nearest_and_previous_and_shapes():
    t = np.array([0.0, 1.0, 2.0])
    v = np.array([0.0, 10.0, 20.0])
    np.testing.assert_array_equal(
        an.interpolate_at(t, v, [0.4, 0.6, 1.5], method="nearest"), [0.0, 10.0, 10.0]
    )
    np.testing.assert_array_equal(
        an.interpolate_at(t, v, [0.4, 0.99, 1.0], method="previous"), [0.0, 0.0, 10.0]
    )
    assert an.interpolate_at(t, v, np.zeros((3, 4))).shape == (3, 4)
    assert an.interpolate_at(t, np.column_stack([v, v]), [0.5]).shape == (1, 2)


@pytest.mark.parametrize(
    ("times", "values", "message"),
    [
        ([0.0, 1.0, 1.0], [1, 2, 3], "strictly increasing"),
        ([0.0, np.nan], [1, 2], "NaN or infinite"),
        ([0.0, 1.0], [1, 2, 3], "2 times but values of shape"),
    ],
)
def test_bad_series_raise(times, values, message):
    with pytest.raises(ValueError, match=message):
        an.interpolate_at(times, values, [0.5])


def test_regular_grid():
    np.testing.assert_allclose(an.regular_grid(1.0, 2.0, 10.0), 1.0 + np.arange(11) / 10.0)
    with pytest.raises(ValueError, match="rate_hz"):
        an.regular_grid(0, 1, 0)


# ------------------------------------------------------------------------------ binning
def test_bin_counts_and_means_against_loops():
    rng = np.random.default_rng(2)
    points = rng.uniform(0, 10, 300)
    edges = np.linspace(0, 10, 21)
    expected = [
        np.sum((points >= a) & (points < b)) for a, b in zip(edges[:-1], edges[1:], strict=True)
    ]
    np.testing.assert_array_equal(an.bin_counts(points, edges), expected)
    t = np.sort(rng.uniform(0, 10, 500))
    v = rng.normal(size=500)
    v[::7] = np.nan
    means = an.bin_mean(t, v, edges)
    for k, (a, b) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        sel = (t >= a) & (t < b) & np.isfinite(v)
        assert means[k] == pytest.approx(v[sel].mean(), abs=1e-12)
    assert np.isnan(an.bin_mean([0.5], [1.0], [1.0, 2.0]))[0]


def test_nan_corrcoef():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=100), rng.normal(size=100)
    assert an.nan_corrcoef(a, b) == pytest.approx(np.corrcoef(a, b)[0, 1], abs=1e-12)
    a[5] = np.nan
    assert an.nan_corrcoef(a, b) == pytest.approx(
        np.corrcoef(np.delete(a, 5), np.delete(b, 5))[0, 1], abs=1e-12
    )
    assert np.isnan(an.nan_corrcoef([1, 1, 1], [1, 2, 3]))


# ------------------------------------------------------------------------------ peri-event
def test_peri_event_axis_and_bad_bins():
    edges, centres = an.peri_event_axis((-1, 2), 0.5)
    np.testing.assert_allclose(edges, np.arange(-1, 2.01, 0.5))
    np.testing.assert_allclose(centres, np.arange(-0.75, 2, 0.5))
    with pytest.raises(ValueError, match="does not divide"):
        an.peri_event_axis((-1, 2), 0.7)
    with pytest.raises(ValueError, match="start < end"):
        an.peri_event_axis((1, -1), 0.1)


def test_peri_event_interp_is_interpolation_at_the_bin_centres():
    t = np.arange(0, 20, 1 / 60)
    v = np.cos(t)
    events = np.array([0.5, 5.0, 19.5])
    result = an.peri_event(t, v, events, window=(-1, 2), bin_s=0.1, statistic="interp")
    matrix, axis = result  # unpacks as (values, time axis)
    assert matrix.shape == (3, 30) and axis.shape == (30,)
    np.testing.assert_allclose(
        matrix, an.interpolate_at(t, v, events[:, None] + axis[None, :]), equal_nan=True
    )
    np.testing.assert_allclose(matrix[1], np.interp(5.0 + axis, t, v), atol=1e-12)
    outside = (events[:, None] + axis[None, :] < t[0]) | (events[:, None] + axis[None, :] > t[-1])
    assert (
        outside.sum() == 5 + 15
        and np.isnan(matrix[outside]).all()
        and np.isfinite(matrix[~outside]).all()
    )


def test_peri_event_mean_is_the_mean_of_the_samples_in_each_bin():
    rng = np.random.default_rng(4)
    t = np.sort(rng.uniform(0, 10, 2000))
    v = rng.normal(size=2000)
    v[rng.integers(0, 2000, 100)] = np.nan
    events = np.array([2.0, 4.3, 7.7])
    result = an.peri_event(t, v, events, window=(-0.5, 0.5), bin_s=0.25)
    for i, e in enumerate(events):
        for k, c in enumerate(result.time_axis):
            sel = (t >= e + c - 0.125) & (t < e + c + 0.125) & np.isfinite(v)
            assert result.values[i, k] == pytest.approx(v[sel].mean(), abs=1e-12)


def test_peri_event_rate_counts_against_a_loop():
    rng = np.random.default_rng(5)
    spikes = rng.uniform(0, 100, 3000)
    events = rng.uniform(5, 95, 40)
    result = an.peri_event_rate(spikes, events, window=(-0.5, 1.0), bin_s=0.05)
    assert result.rates.shape == (40, 30)
    for i, e in enumerate(events):
        rel = spikes - e
        counts = [np.sum((rel >= a) & (rel < a + 0.05)) for a in -0.5 + 0.05 * np.arange(30)]
        np.testing.assert_allclose(result.rates[i], np.array(counts) / 0.05, atol=1e-9)
    # 20 Hz more in the 0.5 s after each event is seen as 20 Hz more (196 events: +-0.65 Hz)
    rng = np.random.default_rng(0)
    base = np.sort(rng.uniform(0, 1000, 20000))
    ev = np.arange(10, 990, 5.0)
    extra = (
        ev[:, None] + rng.uniform(0, 0.5, (len(ev), 10))
    ).ravel()  # +20 Hz for 0.5 s after each event
    r = an.peri_event_rate(np.concatenate([base, extra]), ev, window=(-0.5, 0.5), bin_s=0.5).mean()
    assert r[1] - r[0] == pytest.approx(20.0, rel=0.1)


# ------------------------------------------------------------------------------ pose table
def test_pose_frame_has_ibl_columns_in_order():
    pts = {"b": np.ones((3, 3)), "a": np.zeros((3, 3)), "tube_top": np.full((3, 3), 2.0)}
    df = an.pose_frame(pts, [0.1, 0.2, 0.3], order=("tube_top", "zz"))
    assert list(df.columns) == ["tube_top_x", "tube_top_y", "tube_top_likelihood", "a_x", "a_y", "a_likelihood",
                                "b_x", "b_y", "b_likelihood"]  # fmt: skip
    assert df.index.name == "times" and df.index.tolist() == [0.1, 0.2, 0.3]
    with pytest.raises(ValueError, match="2 frames but there are 3 frame times"):
        an.pose_frame({"a": np.zeros((2, 3))}, [0, 1, 2])


# ------------------------------------------------------------------------------ figures
def test_figures_write_pngs(tmp_path):
    from PIL import Image

    from pipeline.plots_session import plot_peri_event, plot_session_overview

    rng = np.random.default_rng(6)
    result = an.peri_event_rate(
        rng.uniform(0, 60, 600), np.arange(2, 58, 2.0), window=(-1, 1), bin_s=0.1
    )
    png = plot_peri_event(
        tmp_path / "pe.png", result.values, result.time_axis, ylabel="rate (Hz)", title="t"
    )
    assert Image.open(png).size[0] > 300
    t = np.arange(0, 10, 1 / 60)
    frame = rng.integers(0, 255, (64, 80), dtype=np.uint8)
    png = plot_session_overview(
        tmp_path / "sub" / "overview.png", views={"left": (frame, {"pupil_top_l": (10.0, 12.0)}, 3), "right": (None, {}, 0)},
        pupil={"left": (t, np.sin(t) + 20, np.sin(t) + 20)}, licks={"left": [1.0, 2.0], "merged": [1.0, 2.0, 3.0]},
        qc={"left camera": {"brightness": "PASS", "focus": "FAIL"}, "right camera": {"brightness": "WARNING"}},
        title="overview",
    )  # fmt: skip
    assert png.is_file() and Image.open(png).size[1] > 500
    with pytest.raises(ValueError, match="do not match a time axis"):
        plot_peri_event(tmp_path / "bad.png", np.zeros((2, 3)), np.zeros(4))
