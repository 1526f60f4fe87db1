"""Tests of the simulated DAQ (acquisition/daq.py): pulses, drops, jitter, clocks, files."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from acquisition.daq import (
    BPOD_AUDIO_CHANNEL,
    BPOD_CAMERA_CHANNEL,
    BPOD_TRIAL_CHANNEL,
    WIRING_FILE,
    DaqConfig,
    SimulatedDaq,
    load_daq_files,
    load_truth,
    save_truth,
    simulate_daq,
    write_daq_files,
)
from acquisition.simulator import Behaviour, MouseScene
from pipeline.io.framedata import gpio_pin_state, unwrap_camera_timestamps
from pipeline.rigs import FPGA_WIRINGS

FPGA_CHANNELS = {k.removesuffix("_camera"): v for k, v in FPGA_WIRINGS["3B"].items()}

CONFIG = DaqConfig(drop_rate=0.002, extra_pulses_start=3, extra_pulses_end=2, seed=4)


@pytest.fixture(scope="module")
def ephys() -> SimulatedDaq:
    """Three minutes of an ephys rig: about 10,800 frames at 60 Hz and 27,000 at 150 Hz."""
    return simulate_daq("ephys", 180.0, CONFIG)


def _mean_fps(times: np.ndarray) -> float:
    return (len(times) - 1) / (times[-1] - times[0])


def test_frame_counter_gaps_are_exactly_the_drops(ephys):
    for label, cam in ephys.cameras.items():
        dropped = cam.dropped_indices
        assert len(dropped) == round(0.002 * len(cam.exposure_times_s)) > 0, label
        steps = np.diff(cam.frame_counter)
        gap_at = np.flatnonzero(steps > 1)
        # the frame after each gap is the first recorded one after a drop run
        missing = np.setdiff1d(
            np.arange(cam.frame_counter[0], cam.frame_counter[-1] + 1), cam.frame_counter
        )
        np.testing.assert_array_equal(missing - CONFIG.frame_counter_start, dropped)
        assert steps[gap_at].sum() - len(gap_at) == len(dropped)
        assert cam.n_frames == len(cam.frame_counter) == len(cam.gpio) == len(cam.camera_timestamp)
        np.testing.assert_array_equal(cam.frame_times_s, cam.exposure_times_s[cam.recorded])


def test_pulse_count_is_frames_plus_drops_plus_extras(ephys):
    for label, cam in ephys.cameras.items():
        rising = ephys.fpga_sync.edges(FPGA_CHANNELS[label], 1)
        falling = ephys.fpga_sync.edges(FPGA_CHANNELS[label], -1)
        expected = cam.n_frames + len(cam.dropped_indices) + 3 + 2
        assert len(rising) == len(falling) == len(cam.pulse_times_s) == expected, label
        np.testing.assert_array_equal(rising, cam.pulse_times_s)
        # extras lie before the first and after the last exposure
        assert np.all(rising[:3] < cam.exposure_times_s[0])
        assert np.all(rising[-2:] > cam.exposure_times_s[-1])
        # each exposure's pulse is at the sample at or after it
        fs = ephys.fpga_rate_hz
        lag = rising[3:-2] - cam.exposure_times_s
        assert lag.min() >= -1e-9 and lag.max() <= 1 / fs + 1e-9


def test_pulses_are_quantised_to_fpga_samples(ephys):
    samples = ephys.fpga_sync.times * ephys.fpga_rate_hz
    np.testing.assert_allclose(samples, np.round(samples), atol=1e-6)
    assert np.all(np.diff(ephys.fpga_sync.times) >= 0)
    assert set(np.unique(ephys.fpga_sync.polarities)) == {-1, 1}
    # ibllib's 3B map: cameras 0/1/2, audio 7, bpod 16
    assert set(np.unique(ephys.fpga_sync.channels)) == {0, 1, 2, 7, 16}


@pytest.mark.parametrize(("label", "expected_us"), [("left", 195.6), ("right", 143.2)])
def test_measured_jitter_matches_design(ephys, label, expected_us):
    rising = ephys.fpga_sync.edges(FPGA_CHANNELS[label])
    measured_us = np.std(np.diff(rising)) * 1e6
    assert measured_us == pytest.approx(expected_us, rel=0.10)
    assert ephys.cameras[label].jitter_us == expected_us


def test_configured_jitter_is_the_interval_std():
    daq = simulate_daq(
        "ephys", 120.0, DaqConfig(jitter_us={"left": 600.0, "right": 30.0}), ["left", "right"]
    )
    for label, jitter in (("left", 600.0), ("right", 30.0)):
        measured = np.std(np.diff(daq.cameras[label].pulse_times_s)) * 1e6
        assert measured == pytest.approx(jitter, rel=0.10), label


def test_frame_rate_and_camera_clock(ephys):
    for label, fps in (("left", 60.0), ("right", 150.0), ("body", 30.0)):
        cam = ephys.cameras[label]
        assert _mean_fps(cam.exposure_times_s) == pytest.approx(fps, rel=1e-4)
        # the camera's own timestamps: its clock runs camera_drift_ppm fast
        stamp = unwrap_camera_timestamps(cam.camera_timestamp)
        true = (cam.frame_times_s - cam.frame_times_s[0]) * (1 + CONFIG.camera_drift_ppm * 1e-6)
        np.testing.assert_allclose(stamp, true, atol=1e-6)
        assert stamp[-1] > 128  # wrapped at least once and unwrapped
        assert np.all(np.diff(cam.computer_time_s) > 0)


def test_bpod_clock_offset_and_drift(ephys):
    fpga_onsets = ephys.fpga_sync.edges(FPGA_CHANNELS["bpod"], 1)
    bpod_onsets = ephys.bpod_sync.edges(BPOD_TRIAL_CHANNEL, 1)
    assert len(fpga_onsets) == len(bpod_onsets) == len(ephys.trial_onsets_fpga_s) > 10
    np.testing.assert_array_equal(bpod_onsets, ephys.trial_onsets_bpod_s)
    np.testing.assert_array_equal(ephys.trial_intervals_bpod_s[:, 0], ephys.trial_onsets_bpod_s)
    slope, intercept = np.polyfit(fpga_onsets, bpod_onsets, 1)
    assert (slope - 1) * 1e6 == pytest.approx(50.0, abs=1.0)
    assert intercept == pytest.approx(CONFIG.bpod_offset_s, abs=1e-4)
    predicted = CONFIG.bpod_offset_s + ephys.trial_onsets_fpga_s * (1 + 50e-6)
    np.testing.assert_allclose(bpod_onsets, predicted, atol=1.01e-4)
    np.testing.assert_allclose(ephys.bpod_to_fpga(ephys.fpga_to_bpod(fpga_onsets)), fpga_onsets)
    # without drift correction the clocks disagree by far more than a sample at the end
    assert abs((bpod_onsets[-1] - CONFIG.bpod_offset_s) - fpga_onsets[-1]) > 5e-3


def test_bpod_records_camera_pulses_only_within_trials(ephys):
    assert ephys.bpod_camera == "right"
    cam = ephys.cameras["right"]
    rising = ephys.bpod_sync.edges(BPOD_CAMERA_CHANNEL, 1)
    intervals = ephys.trial_intervals_bpod_s
    j = np.searchsorted(intervals[:, 0], rising, side="right") - 1
    assert np.all(j >= 0) and np.all(rising <= intervals[j, 1])
    # every pulse inside a trial is there, on the Bpod clock
    as_bpod = ephys.fpga_to_bpod(cam.pulse_times_s)
    k = np.searchsorted(intervals[:, 0], as_bpod, side="right") - 1
    inside = (k >= 0) & (as_bpod <= intervals[np.clip(k, 0, None), 1])
    assert abs(len(rising) - inside.sum()) <= 2  # quantisation at interval edges
    assert len(rising) < len(cam.pulse_times_s)  # pulses between trials are lost
    nearest = np.clip(np.searchsorted(as_bpod, rising), 1, len(as_bpod) - 1)
    error = np.minimum(abs(as_bpod[nearest] - rising), abs(as_bpod[nearest - 1] - rising))
    assert error.max() < 1.5e-4  # Bpod cycle (100 us) plus FPGA sample


def test_training_rig_camera_goes_to_bpod():
    daq = simulate_daq("training", 60.0, DaqConfig(seed=2))
    cam = daq.cameras["left"]
    assert list(daq.cameras) == ["left"] and cam.sync_device == "bpod"
    assert cam.sync_channel == BPOD_CAMERA_CHANNEL and len(daq.fpga_sync) == 0
    assert _mean_fps(cam.exposure_times_s) == pytest.approx(30.0, rel=1e-4)
    assert 0 < len(daq.bpod_sync.edges(BPOD_CAMERA_CHANNEL)) < len(cam.pulse_times_s)


def test_gpio_pin_4_carries_the_audio_ttl(ephys):
    """As on IBL's rigs: the sound card's TTL on the cameras' GPIO pin 4 (bit 31) and on the
    FPGA's ``audio`` channel (3B map: 7), one tone per trial after its onset."""
    assert CONFIG.gpio_pin == 3
    onsets = ephys.audio_onsets_fpga_s
    assert len(onsets) == len(ephys.trial_onsets_fpga_s)
    delay = onsets - ephys.trial_onsets_fpga_s
    assert np.all((delay >= CONFIG.audio_delay_s[0]) & (delay <= CONFIG.audio_delay_s[1]))
    np.testing.assert_allclose(ephys.fpga_sync.edges(FPGA_CHANNELS["audio"], 1), onsets, atol=1 / CONFIG.fpga_rate_hz)
    for cam in ephys.cameras.values():
        high = gpio_pin_state(cam.gpio, CONFIG.gpio_pin)
        j = np.searchsorted(onsets, cam.frame_times_s, side="right") - 1
        expected = (j >= 0) & (cam.frame_times_s - onsets[np.clip(j, 0, None)] < CONFIG.gpio_high_s)
        np.testing.assert_array_equal(high, expected)
        # one run of high frames per trial onset inside the recording
        rises = np.flatnonzero(np.diff(high.astype(int)) == 1)
        in_rec = (onsets > cam.frame_times_s[0]) & (onsets < cam.frame_times_s[-1] - 0.2)
        assert len(rises) == in_rec.sum()
        other_pins = [gpio_pin_state(cam.gpio, p) for p in (0, 1, 2)]
        assert not any(p.any() for p in other_pins)


def test_determinism_from_seed():
    a = simulate_daq("ephys", 30.0, DaqConfig(drop_rate=0.01, seed=9))
    b = simulate_daq("ephys", 30.0, DaqConfig(drop_rate=0.01, seed=9))
    c = simulate_daq("ephys", 30.0, DaqConfig(drop_rate=0.01, seed=10))
    for field in ("times", "channels", "polarities"):
        np.testing.assert_array_equal(getattr(a.fpga_sync, field), getattr(b.fpga_sync, field))
        np.testing.assert_array_equal(getattr(a.bpod_sync, field), getattr(b.bpod_sync, field))
    np.testing.assert_array_equal(
        a.cameras["left"].camera_timestamp, b.cameras["left"].camera_timestamp
    )
    np.testing.assert_array_equal(a.cameras["left"].recorded, b.cameras["left"].recorded)
    assert not np.array_equal(a.cameras["left"].pulse_times_s, c.cameras["left"].pulse_times_s)


def test_trials_match_behaviour_of_same_seed():
    daq = simulate_daq("ephys", 100.0, DaqConfig(seed=21))
    np.testing.assert_array_equal(daq.trial_onsets_fpga_s, Behaviour(100.0, seed=21).trial_onsets_s)
    beh = Behaviour(100.0, seed=3, trial_onsets_s=[5.0, 20.0, 50.0])
    daq = simulate_daq("ephys", 100.0, DaqConfig(), trial_onsets_s=beh.trial_onsets_s)
    np.testing.assert_array_equal(daq.trial_onsets_fpga_s, [5.0, 20.0, 50.0])


def test_explicit_dropped_frames():
    daq = simulate_daq("ephys", 10.0, DaqConfig(dropped_frames={"left": [5, 6, 40]}), ["left"])
    cam = daq.cameras["left"]
    np.testing.assert_array_equal(cam.dropped_indices, [5, 6, 40])
    np.testing.assert_array_equal(np.flatnonzero(np.diff(cam.frame_counter) > 1), [4, 37])


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("lab", 10.0, DaqConfig()), "rig type"),
        (("ephys", 10.0, DaqConfig(), ["top"]), "no camera"),
        (("ephys", 10.0, DaqConfig(drop_rate=1.0)), "drop_rate"),
        (("ephys", 10.0, DaqConfig(extra_pulses_start=-1)), "extra pulses"),
        (("ephys", 0.8, DaqConfig()), "no time left"),
        (("ephys", 2.0, DaqConfig(extra_pulses_start=200)), "exposures fit"),
        (("ephys", 10.0, DaqConfig(gpio_pin=5)), "gpio_pin"),
    ],
)
def test_rejects_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        simulate_daq(*args)


def test_daq_files_round_trip(tmp_path, ephys):
    paths = write_daq_files(ephys, tmp_path)
    names = sorted(p.relative_to(tmp_path).as_posix() for p in paths)
    assert "raw_ephys_data/_spikeglx_sync.times.npy" in names
    assert "raw_behavior_data/_iblrig_taskData.raw.jsonable" in names
    assert not (tmp_path / "raw_behavior_data/_iblrig_bpod.sync.times.npy").exists()  # no private format
    files = load_daq_files(tmp_path)
    np.testing.assert_array_equal(files.fpga_sync.times, ephys.fpga_sync.times)
    np.testing.assert_array_equal(files.fpga_sync.channels, ephys.fpga_sync.channels)
    # the Bpod's times go through the jsonable's trial-relative times: equal to 1 ns
    got, want = files.bpod_sync, ephys.bpod_sync
    assert len(got) == len(want)
    for channel in (BPOD_CAMERA_CHANNEL, BPOD_TRIAL_CHANNEL, BPOD_AUDIO_CHANNEL):
        for polarity in (1, -1):
            np.testing.assert_allclose(got.edges(channel, polarity), want.edges(channel, polarity), rtol=0, atol=1e-9)
    np.testing.assert_allclose(files.trial_intervals_bpod_s, ephys.trial_intervals_bpod_s, rtol=0, atol=1e-9)
    # the wiring file IBL's ephys rigs keep beside the NI-DAQ files, read back as the same map
    from pipeline.io.spikeglx import read_wiring_file

    assert read_wiring_file(tmp_path / "raw_ephys_data" / WIRING_FILE) == FPGA_WIRINGS["3B"]
    # an ephys session needs no Bpod file: FPGA only
    task_data = tmp_path / "raw_behavior_data/_iblrig_taskData.raw.jsonable"
    saved = task_data.read_bytes()
    task_data.unlink()
    files = load_daq_files(tmp_path)
    assert files.fpga_sync is not None and files.bpod_sync is None and files.trial_intervals_bpod_s is None
    task_data.write_bytes(saved)
    (tmp_path / "raw_ephys_data/_spikeglx_sync.channels.npy").unlink()
    with pytest.raises(FileNotFoundError, match="channels"):
        load_daq_files(tmp_path)
    shutil.rmtree(tmp_path / "raw_ephys_data")
    assert load_daq_files(tmp_path).fpga_sync is None
    task_data.unlink()
    with pytest.raises(FileNotFoundError, match="_iblrig_taskData.raw.jsonable"):
        load_daq_files(tmp_path)


def test_training_files_have_no_fpga_sync(tmp_path):
    daq = simulate_daq("training", 20.0)
    write_daq_files(daq, tmp_path)
    assert not (tmp_path / "raw_ephys_data").exists()
    assert load_daq_files(tmp_path).fpga_sync is None


def test_truth_round_trip(tmp_path):
    beh = Behaviour(12.0, seed=1)
    daq = simulate_daq("ephys", 12.0, DaqConfig(drop_rate=0.01, seed=1), ["left", "right"])
    scene = MouseScene(beh, "left", 160, 128)
    truth = scene.truth(daq.cameras["left"].frame_times_s)
    save_truth(tmp_path, daq, {"left": truth}, beh)
    loaded = load_truth(tmp_path)
    assert loaded.session["rig_type"] == "ephys" and loaded.session["cameras"] == ["left", "right"]
    np.testing.assert_array_equal(loaded.lick_intervals_s, beh.lick_intervals_s)
    for label, cam in daq.cameras.items():
        got = loaded.timing[label]
        for name in (
            "exposure_times_s",
            "recorded",
            "frame_counter",
            "camera_timestamp",
            "gpio",
            "pulse_times_s",
        ):
            np.testing.assert_array_equal(getattr(got, name), getattr(cam, name))
        assert got.sync_channel == cam.sync_channel and got.jitter_us == cam.jitter_us
    assert set(loaded.scenes) == {"left"}
    sc = loaded.scenes["left"]
    for name, xy in truth.points.items():
        np.testing.assert_array_equal(sc.points[name], xy)
    np.testing.assert_array_equal(sc.pupil_diameter_px, truth.pupil_diameter_px)
    np.testing.assert_array_equal(sc.tongue_out, truth.tongue_out)
    assert sc.visible_points == truth.visible_points and (sc.width, sc.height) == (160, 128)
    assert DaqConfig.from_dict(loaded.session["config"]) == daq.config
    with pytest.raises(FileNotFoundError):
        load_truth(tmp_path / "nowhere")
