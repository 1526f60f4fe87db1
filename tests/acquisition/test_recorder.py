"""Recorder: FFV1 video + frameData, queue drops without blocking, clean interruption."""

from __future__ import annotations

import os
import signal
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

from acquisition.cameras import CameraConfig, SimulatedCamera
from acquisition.recorder import FFV1Writer, RecordingError, record
from pipeline.io.framedata import encode_camera_timestamp, read_framedata
from pipeline.io.video import probe_video, read_frames


class IndexScene:
    """Stand-in scene: frame at time t shows round(t * fps) % 256 in every pixel."""

    def __init__(self, width=32, height=24, fps=30.0):
        self.width, self.height, self.fps = width, height, fps

    def render(self, times_s):
        values = np.round(np.asarray(times_s) * self.fps).astype(np.int64) % 256
        frames = np.empty((len(times_s), self.height, self.width), np.uint8)
        frames[:] = values[:, None, None]
        frames[:, 0, :4] = 255  # a little structure, so the frame is not flat
        return frames


def make_camera(n_exposures, fps, *, dropped=(), realtime=False, label="left", size=(32, 24)):
    exposure = np.arange(n_exposures) / fps
    keep = np.ones(n_exposures, bool)
    keep[list(dropped)] = False
    idx = np.flatnonzero(keep)
    timing = SimpleNamespace(
        exposure_times_s=exposure,
        frame_times_s=exposure[idx],
        frame_counter=idx.astype(np.int64),
        camera_timestamp=encode_camera_timestamp(exposure[idx]),
        gpio=((idx // 7) % 2 << 28).astype(np.int64),
    )
    cam = SimulatedCamera(IndexScene(*size, fps), timing, label=label, realtime=realtime)
    cam.configure(CameraConfig(fps=fps, exposure_us=0.5e6 / fps))
    return cam, timing


def test_records_lossless_video_and_framedata_with_counter_gaps(tmp_path):
    left, timing = make_camera(60, 30.0, dropped=(10, 11, 40))
    body, _ = make_camera(20, 15.0, label="body", size=(48, 32))
    results = record({"left": left, "body": body}, tmp_path, progress=False)

    res = results["left"]
    assert res.path.name == "_iblrig_leftCamera.raw.avi"
    assert res.framedata_path.name == "_iblrig_leftCamera.frameData.bin"
    assert (res.n_frames, res.n_queue_drops, res.n_counter_gaps) == (57, 0, 3)
    assert not res.interrupted and res.stop_reason == "end_of_stream"
    info = probe_video(res.path)
    assert (info.n_frames, info.codec, info.width, info.height) == (57, "ffv1", 32, 24)
    assert info.fps == pytest.approx(30.0)
    fd = read_framedata(res.framedata_path)
    assert len(fd) == info.n_frames
    np.testing.assert_array_equal(fd.frame_counter, timing.frame_counter)
    np.testing.assert_array_equal(fd.camera_timestamp, timing.camera_timestamp)
    np.testing.assert_array_equal(fd.gpio, timing.gpio)
    # lossless: every decoded frame is the frame grabbed, in order
    decoded = read_frames(res.path, 32, 24)
    np.testing.assert_array_equal(decoded, IndexScene().render(timing.frame_times_s))

    assert results["body"].n_frames == probe_video(results["body"].path).n_frames == 20


class SlowWriter:
    """Wraps the real writer and sleeps per frame: a disk that cannot keep up."""

    def __init__(self, delay_s):
        self.delay_s = delay_s

    def __call__(self, path, width, height, fps):
        writer = FFV1Writer(path, width, height, fps)
        original = writer.write

        def slow_write(image):
            time.sleep(self.delay_s)
            original(image)

        writer.write = slow_write
        return writer


def test_full_queue_drops_frames_instead_of_blocking(tmp_path):
    # 150 frames at 300 fps = 0.5 s of camera time; the writer needs 20 ms per frame (3 s).
    cam, _ = make_camera(150, 300.0, realtime=True)
    t0 = time.monotonic()
    res = record([cam], tmp_path, queue_frames=4, progress=False, writer_factory=SlowWriter(0.02))[
        "left"
    ]
    elapsed = time.monotonic() - t0
    assert res.n_grabbed == 150  # the camera was read at its own pace, nothing lost there
    assert res.n_queue_drops > 100
    assert res.n_frames + res.n_queue_drops == 150
    assert elapsed < 2.5  # blocking on the writer would take 150 * 20 ms = 3 s
    fd = read_framedata(res.framedata_path)
    assert len(fd) == res.n_frames == probe_video(res.path).n_frames
    # dropped frames are gaps in the frame counter of the file (counters run 0..149)
    assert res.n_counter_gaps == int(np.sum(np.diff(fd.frame_counter) - 1))
    dropped_at_ends = fd.frame_counter[0] + (149 - fd.frame_counter[-1])
    assert res.n_counter_gaps + dropped_at_ends == res.n_queue_drops
    assert not res.interrupted


def test_unpaced_camera_is_never_dropped(tmp_path):
    cam, _ = make_camera(30, 30.0, realtime=False)
    res = record([cam], tmp_path, queue_frames=2, progress=False, writer_factory=SlowWriter(0.005))[
        "left"
    ]
    assert (res.n_frames, res.n_queue_drops) == (30, 0)


def test_stop_event_interrupts_and_leaves_a_playable_file(tmp_path):
    cam, _ = make_camera(3000, 50.0, realtime=True)  # 60 s stream
    stop = threading.Event()
    threading.Timer(0.4, stop.set).start()
    res = record([cam], tmp_path, stop_event=stop, progress=False)["left"]
    assert res.interrupted and res.stop_reason == "interrupted"
    assert 5 <= res.n_frames < 100
    assert probe_video(res.path).n_frames == res.n_frames == len(read_framedata(res.framedata_path))


def test_ctrl_c_interrupts_and_leaves_a_playable_file(tmp_path):
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("SIGINT is delivered to the main thread only")
    cam, _ = make_camera(3000, 50.0, realtime=True)
    timer = threading.Timer(0.4, os.kill, args=(os.getpid(), signal.SIGINT))
    timer.start()
    before = signal.getsignal(signal.SIGINT)
    res = record([cam], tmp_path, progress=False)["left"]
    timer.join()
    assert signal.getsignal(signal.SIGINT) is before  # handler restored
    assert res.interrupted and res.stop_reason == "interrupted"
    assert probe_video(res.path).n_frames == res.n_frames > 0


def test_duration_stops_without_interruption(tmp_path):
    cam, _ = make_camera(3000, 50.0, realtime=True)
    res = record([cam], tmp_path, duration_s=0.3, progress=False)["left"]
    assert res.stop_reason == "duration" and not res.interrupted
    assert 10 <= res.n_frames <= 17
    assert probe_video(res.path).n_frames == res.n_frames


def test_writer_failure_raises_with_closed_files(tmp_path):
    def failing_factory(path, width, height, fps):
        writer = FFV1Writer(path, width, height, fps)
        original = writer.write

        def write(image):
            if writer.n_written == 5:
                raise OSError("disk full")
            original(image)

        writer.write = write
        return writer

    cam, _ = make_camera(40, 30.0)
    with pytest.raises(RecordingError, match="disk full") as info:
        record([cam], tmp_path, progress=False, writer_factory=failing_factory)
    res = info.value.results["left"]
    assert res.interrupted and res.stop_reason == "error" and res.n_frames == 5
    assert probe_video(res.path).n_frames == 5 == len(read_framedata(res.framedata_path))


def test_record_refuses_bad_input(tmp_path):
    cam, _ = make_camera(10, 30.0)
    with pytest.raises(ValueError, match="at least one camera"):
        record([], tmp_path)
    with pytest.raises(ValueError, match="unique"):
        record([cam, cam], tmp_path)
    raw = SimulatedCamera(
        IndexScene(),
        SimpleNamespace(frame_times_s=[], frame_counter=[], camera_timestamp=[], gpio=[]),
    )
    with pytest.raises(ValueError, match="not configured"):
        record([raw], tmp_path)


def test_camera_that_fails_to_start_does_not_hang_the_recorder(tmp_path):
    good, _ = make_camera(10, 30.0)
    bad, _ = make_camera(10, 30.0, label="body")

    def broken_start():
        raise RuntimeError("USB link lost")

    bad.start = broken_start
    with pytest.raises(RuntimeError, match="USB link lost"):
        record([good, bad], tmp_path, progress=False)
    assert not good._started  # the camera that did start was stopped again
