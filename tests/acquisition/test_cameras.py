"""Camera backends: simulated stream, FLIR settings logic (fake node map), pylon emulation."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import numpy as np
import pytest

from acquisition.cameras import (
    CameraConfig,
    CameraError,
    EndOfStream,
    GrabTimeout,
    PySpinCamera,
    SimulatedCamera,
    configure_spinnaker_nodemap,
    gpio_from_line_status,
    import_pyspin,
    open_camera,
)
from pipeline.io.framedata import encode_camera_timestamp, gpio_pin_state
from pipeline.rigs import camera_settings

# --------------------------------------------------------------------------------------
# CameraConfig
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"fps": 0, "exposure_us": 100}, "fps must be a positive"),
        ({"fps": 60, "exposure_us": 20000}, "exposure_us must be in"),
        ({"fps": 60, "exposure_us": 5000, "pixel_format": "Mono16"}, "Mono8"),
        ({"fps": 60, "exposure_us": 5000, "width": -3}, "width must be a positive"),
    ],
)
def test_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CameraConfig(**kwargs)


def test_config_from_rig_settings_scales_to_even_sizes():
    cfg = CameraConfig.from_settings(camera_settings("ephys", "right"), scale=0.5)
    assert (cfg.width, cfg.height, cfg.fps) == (320, 256, 150.0)
    assert cfg.exposure_us == camera_settings("ephys", "right").exposure_us


def test_gpio_register_puts_lines_in_bits_28_to_31():
    reg = gpio_from_line_status(0b0101)
    assert gpio_pin_state(np.array([reg]), 0)[0] and gpio_pin_state(np.array([reg]), 2)[0]
    assert not gpio_pin_state(np.array([reg]), 1)[0]


# --------------------------------------------------------------------------------------
# Simulated backend
# --------------------------------------------------------------------------------------


class IndexScene:
    """Stand-in scene whose frame at time t is filled with round(t * fps) % 256."""

    def __init__(self, width=32, height=24, fps=30.0):
        self.width, self.height, self.fps = width, height, fps
        self.calls = []

    def render(self, times_s):
        self.calls.append(len(times_s))
        values = np.round(np.asarray(times_s) * self.fps).astype(np.int64) % 256
        return np.broadcast_to(
            values[:, None, None], (len(times_s), self.height, self.width)
        ).astype(np.uint8)


def make_timing(n_exposures=40, fps=30.0, dropped=(5, 6, 20)):
    exposure = np.arange(n_exposures) / fps
    recorded = np.ones(n_exposures, bool)
    recorded[list(dropped)] = False
    idx = np.flatnonzero(recorded)
    return SimpleNamespace(
        exposure_times_s=exposure,
        recorded=recorded,
        frame_times_s=exposure[idx],
        frame_counter=idx.astype(np.int64) + 1,
        camera_timestamp=encode_camera_timestamp(exposure[idx] + 3.0),
        gpio=np.where(idx % 10 < 5, 1 << 28, 0).astype(np.int64),
    )


def test_simulated_backend_yields_recorded_frames_in_order_then_end_of_stream():
    scene, timing = IndexScene(), make_timing()
    cam = open_camera("simulated", "left", scene=scene, timing=timing, chunk_frames=8)
    with cam:
        cam.configure(CameraConfig(fps=30.0, exposure_us=5000))
        assert (cam.width, cam.height, cam.expected_frames) == (32, 24, 37)
        cam.start()
        frames = [cam.grab() for _ in range(cam.expected_frames)]
        with pytest.raises(EndOfStream, match="all 37 frames"):
            cam.grab()
    counters = np.array([f.frame_counter for f in frames])
    np.testing.assert_array_equal(counters, timing.frame_counter)
    assert np.sum(np.diff(counters) - 1) == 3  # the three dropped exposures show as gaps
    np.testing.assert_array_equal([f.camera_timestamp for f in frames], timing.camera_timestamp)
    np.testing.assert_array_equal([f.gpio for f in frames], timing.gpio)
    expected_pixels = np.round(timing.frame_times_s * 30.0).astype(int) % 256
    np.testing.assert_array_equal([f.image[0, 0] for f in frames], expected_pixels)
    assert all(f.image.shape == (24, 32) and f.image.dtype == np.uint8 for f in frames)
    # computer times follow the frame times (plus a constant latency)
    times = np.array([f.computer_time for f in frames])
    np.testing.assert_allclose(np.diff(times), np.diff(timing.frame_times_s), atol=1e-6)
    # rendered in chunks of at most 8 frames, never the whole stream at once
    assert max(scene.calls) <= 8 and sum(scene.calls) == 37


def test_simulated_backend_checks_size_and_rate():
    cam = SimulatedCamera(IndexScene(), make_timing(), label="left")
    with pytest.raises(ValueError, match="renders 32x24"):
        cam.configure(CameraConfig(fps=30.0, exposure_us=5000, width=64, height=48))
    with pytest.raises(ValueError, match="runs at 30.000 fps"):
        cam.configure(CameraConfig(fps=60.0, exposure_us=5000))


def test_simulated_realtime_camera_is_paced():
    cam = SimulatedCamera(IndexScene(fps=2.0), make_timing(10, fps=2.0, dropped=()), realtime=True)
    cam.configure(CameraConfig(fps=2.0, exposure_us=2000))
    assert cam.paced
    cam.start()
    cam.grab(1.0)
    with pytest.raises(GrabTimeout):
        cam.grab(0.0)  # the next frame is 500 ms away
    cam.close()


def test_simulated_backend_needs_scene_and_timing():
    with pytest.raises(ValueError, match="scene="):
        open_camera("simulated", "left")
    with pytest.raises(ValueError, match="unknown camera backend 'usb'"):
        open_camera("usb", 0)


# --------------------------------------------------------------------------------------
# PySpin: missing wheel, and settings logic against a fake node map
# --------------------------------------------------------------------------------------


def test_pyspin_missing_names_the_spinnaker_wheel(monkeypatch):
    monkeypatch.setitem(sys.modules, "PySpin", None)  # makes `import PySpin` fail
    with pytest.raises(ImportError, match="spinnaker_python") as info:
        open_camera("pyspin", 0)
    assert "unrelated" in str(info.value)
    with pytest.raises(ImportError, match="spinnaker_python"):
        import_pyspin()


class FakeSpinnakerException(Exception):
    def __init__(self, message, errorcode=-1):
        super().__init__(message)
        self.errorcode = errorcode


class Node:
    def __init__(self, nodemap, name, value=None, *, available=True, writable=True):
        self.nodemap, self.name, self.value = nodemap, name, value
        self.available, self.writable = available, writable

    def GetValue(self):
        return self.value

    def SetValue(self, value):
        if not self.writable:
            raise FakeSpinnakerException(f"{self.name} not writable")
        self.value = value
        self.nodemap.log.append((self.name, value, self.nodemap.context(self.name)))


class FloatNode(Node):
    def __init__(self, nodemap, name, value, lo, hi, **kw):
        super().__init__(nodemap, name, value, **kw)
        self.lo, self.hi = lo, hi

    def GetMin(self):
        return self.lo

    def GetMax(self):
        return self.hi() if callable(self.hi) else self.hi

    def SetValue(self, value):
        if not self.GetMin() <= value <= self.GetMax():
            raise FakeSpinnakerException(f"{self.name}={value} out of range")
        super().SetValue(value)


class IntNode(FloatNode):
    def GetInc(self):
        return 2


class Entry:
    def __init__(self, symbolic, value):
        self.symbolic, self.value, self.available = symbolic, value, True

    def GetValue(self):
        return self.value

    def GetSymbolic(self):
        return self.symbolic


class EnumNode(Node):
    def __init__(self, nodemap, name, entries, value, **kw):
        super().__init__(nodemap, name, value, **kw)
        self.entries = {e: Entry(e, i) for i, e in enumerate(entries)}

    def GetEntryByName(self, name):
        return self.entries.get(name)

    def SetIntValue(self, value):
        symbolic = next(e for e, entry in self.entries.items() if entry.value == value)
        Node.SetValue(self, symbolic)


class FakeNodeMap:
    """Enough of a Blackfly S node map for the settings logic; logs every write."""

    def __init__(
        self, *, chunks=("FrameID", "Timestamp", "ExposureEndLineStatusAll"), legacy_rate=False
    ):
        self.log = []
        n = {}
        n["AcquisitionMode"] = EnumNode(
            self, "AcquisitionMode", ["SingleFrame", "Continuous"], "SingleFrame"
        )
        n["PixelFormat"] = EnumNode(self, "PixelFormat", ["Mono8", "Mono16"], "Mono16")
        n["Width"] = IntNode(self, "Width", 1440, 16, 1440)
        n["Height"] = IntNode(self, "Height", 1080, 16, 1080)
        n["ExposureAuto"] = EnumNode(self, "ExposureAuto", ["Off", "Continuous"], "Continuous")
        n["ExposureTime"] = FloatNode(self, "ExposureTime", 20000.0, 10.0, 30e6)
        n["GainAuto"] = EnumNode(self, "GainAuto", ["Off", "Continuous"], "Continuous")
        n["Gain"] = FloatNode(self, "Gain", 0.0, 0.0, 47.0)
        # the frame rate's maximum depends on the exposure time, as on the real camera
        exposure = n["ExposureTime"]
        n["AcquisitionFrameRate"] = FloatNode(
            self, "AcquisitionFrameRate", 30.0, 1.0, lambda: min(226.0, 1e6 / exposure.value)
        )
        if legacy_rate:
            n["AcquisitionFrameRateAuto"] = EnumNode(
                self, "AcquisitionFrameRateAuto", ["Off", "Continuous"], "Continuous"
            )
            n["AcquisitionFrameRateEnabled"] = Node(self, "AcquisitionFrameRateEnabled", False)
        else:
            n["AcquisitionFrameRateEnable"] = Node(self, "AcquisitionFrameRateEnable", False)
        n["LineSelector"] = EnumNode(
            self, "LineSelector", ["Line0", "Line1", "Line2", "Line3"], "Line0"
        )
        n["LineMode"] = EnumNode(self, "LineMode", ["Input", "Output"], "Input")
        n["LineSource"] = EnumNode(
            self, "LineSource", ["Off", "ExposureActive", "UserOutput1"], "Off"
        )
        n["ChunkModeActive"] = Node(self, "ChunkModeActive", False)
        n["ChunkSelector"] = EnumNode(self, "ChunkSelector", ["Image", "CRC", *chunks], "Image")
        n["ChunkEnable"] = Node(self, "ChunkEnable", False)
        self.nodes = n

    def GetNode(self, name):
        return self.nodes.get(name)

    def context(self, name):
        if name in ("LineMode", "LineSource"):
            return self.nodes["LineSelector"].value
        if name == "ChunkEnable":
            return self.nodes["ChunkSelector"].value
        return None

    def writes(self, name):
        return [(value, ctx) for node, value, ctx in self.log if node == name]


def _access(attr):
    return lambda node: node is not None and getattr(node, attr, True)


def make_fake_pyspin(system=None):
    def identity(node):
        return node

    return SimpleNamespace(
        CEnumerationPtr=identity,
        CFloatPtr=identity,
        CIntegerPtr=identity,
        CBooleanPtr=identity,
        CStringPtr=identity,
        IsAvailable=_access("available"),
        IsReadable=_access("available"),
        IsWritable=lambda node: node is not None and node.available and node.writable,
        SpinnakerException=FakeSpinnakerException,
        SPINNAKER_ERR_TIMEOUT=-1011,
        System=system,
    )


def test_spinnaker_settings_follow_flir_examples():
    nodemap = FakeNodeMap()
    cfg = CameraConfig(
        fps=150.0, exposure_us=3000.0, gain_db=6.0, width=640, height=512, ttl_line="Line2"
    )
    report = configure_spinnaker_nodemap(make_fake_pyspin(), nodemap, cfg)
    v = {name: node.value for name, node in nodemap.nodes.items()}
    assert v["AcquisitionMode"] == "Continuous" and v["PixelFormat"] == "Mono8"
    assert (v["Width"], v["Height"]) == (640, 512)
    assert v["ExposureAuto"] == "Off" and v["ExposureTime"] == 3000.0
    assert v["GainAuto"] == "Off" and v["Gain"] == 6.0
    assert v["AcquisitionFrameRateEnable"] is True and v["AcquisitionFrameRate"] == 150.0
    # exposure before frame rate (150 fps is impossible at the default 20 ms exposure)
    order = [name for name, _, _ in nodemap.log]
    assert order.index("ExposureTime") < order.index("AcquisitionFrameRate")
    assert order.index("ExposureAuto") < order.index("ExposureTime")
    # the exposure-active TTL goes out on the chosen line
    assert nodemap.writes("LineMode") == [("Output", "Line2")]
    assert nodemap.writes("LineSource") == [("ExposureActive", "Line2")]
    # chunk mode on with frame ID, timestamp and line status enabled
    assert v["ChunkModeActive"] is True
    enabled = {ctx for value, ctx in nodemap.writes("ChunkEnable") if value}
    assert enabled == {"FrameID", "Timestamp", "ExposureEndLineStatusAll"}
    assert report.missing == ()
    assert report.applied["ChunkEnable[FrameID]"] is True


def test_spinnaker_settings_older_camera_without_line_status_chunk():
    nodemap = FakeNodeMap(chunks=("FrameID", "Timestamp"), legacy_rate=True)
    report = configure_spinnaker_nodemap(
        make_fake_pyspin(), nodemap, CameraConfig(fps=60.0, exposure_us=5000.0)
    )
    assert nodemap.nodes["AcquisitionFrameRateAuto"].value == "Off"
    assert nodemap.nodes["AcquisitionFrameRateEnabled"].value is True
    assert any("ExposureEndLineStatusAll" in m for m in report.missing)


@pytest.mark.parametrize(
    ("cfg", "match"),
    [
        (CameraConfig(fps=60.0, exposure_us=5000.0, gain_db=60.0), r"Gain = 60.0 is outside"),
        (CameraConfig(fps=60.0, exposure_us=5000.0, width=4000), r"Width = 4000 is outside"),
        (CameraConfig(fps=300.0, exposure_us=3000.0), r"AcquisitionFrameRate = 300.0 is outside"),
    ],
)
def test_spinnaker_settings_refuse_out_of_range(cfg, match):
    with pytest.raises(CameraError, match=match):
        configure_spinnaker_nodemap(make_fake_pyspin(), FakeNodeMap(), cfg)


def test_spinnaker_settings_required_node_missing():
    nodemap = FakeNodeMap()
    nodemap.nodes["ExposureTime"].writable = False
    with pytest.raises(CameraError, match="cannot set ExposureTime"):
        configure_spinnaker_nodemap(
            make_fake_pyspin(), nodemap, CameraConfig(fps=30.0, exposure_us=5000.0)
        )


class FakeImage:
    def __init__(self, pixels, frame_id, stamp_ns, lines, incomplete=False):
        self.pixels, self.incomplete, self.released = pixels, incomplete, False
        self.chunk = SimpleNamespace(
            GetFrameID=lambda: frame_id,
            GetTimestamp=lambda: stamp_ns,
            GetExposureEndLineStatusAll=lambda: lines,
        )

    def IsIncomplete(self):
        return self.incomplete

    def GetNDArray(self):
        return self.pixels

    def GetChunkData(self):
        return self.chunk

    def Release(self):
        self.released = True


class FakeSpinCamera:
    def __init__(self, images):
        self.nodemap = FakeNodeMap()
        self.images = list(images)
        self.calls = []

    def Init(self):
        self.calls.append("Init")

    def GetNodeMap(self):
        return self.nodemap

    def GetTLDeviceNodeMap(self):
        return SimpleNamespace(GetNode=lambda name: Node(self.nodemap, name, "20123456"))

    def BeginAcquisition(self):
        self.calls.append("BeginAcquisition")

    def EndAcquisition(self):
        self.calls.append("EndAcquisition")

    def DeInit(self):
        self.calls.append("DeInit")

    def GetNextImage(self, timeout_ms):
        if not self.images:
            raise FakeSpinnakerException(
                "Spinnaker: Failed waiting for EventData on NEW_BUFFER_DATA event. [-1011]", -1011
            )
        return self.images.pop(0)


def make_fake_system(camera):
    cam_list = SimpleNamespace(
        GetSize=lambda: 1,
        GetByIndex=lambda i: camera,
        GetBySerial=lambda s: camera if s == "20123456" else None,
        Clear=lambda: camera.calls.append("Clear"),
    )
    system = SimpleNamespace(
        GetCameras=lambda: cam_list, ReleaseInstance=lambda: camera.calls.append("ReleaseInstance")
    )
    return SimpleNamespace(GetInstance=lambda: system)


def test_pyspin_camera_reads_chunk_metadata_and_skips_incomplete_images():
    px = np.arange(24 * 32, dtype=np.uint8).reshape(24, 32)
    images = [
        FakeImage(px, 7, 1_500_000_000, 0b0001),
        FakeImage(px, 8, 1_516_666_666, 0b0000, incomplete=True),
        FakeImage(px + 1, 9, 1_533_333_333, 0b1001),
    ]
    fake_cam = FakeSpinCamera(images)
    ps = make_fake_pyspin(make_fake_system(fake_cam))
    with open_camera("pyspin", "20123456", label="right", pyspin=ps) as cam:
        assert isinstance(cam, PySpinCamera) and cam.serial == "20123456"
        cam.configure(CameraConfig(fps=60.0, exposure_us=5000.0, width=32, height=24))
        cam.start()
        first, second = cam.grab(0.5), cam.grab(0.5)
        with pytest.raises(GrabTimeout):
            cam.grab(0.05)
    assert (first.frame_counter, second.frame_counter) == (7, 9)  # 8 was incomplete: a gap
    assert first.camera_timestamp == encode_camera_timestamp(np.array([1.5]))[0]
    assert second.gpio == (0b1001 << 28)
    np.testing.assert_array_equal(second.image, px + 1)
    assert all(img.released for img in images)
    assert fake_cam.calls == [
        "Init",
        "BeginAcquisition",
        "EndAcquisition",
        "DeInit",
        "Clear",
        "ReleaseInstance",
    ]


def test_pyspin_camera_unknown_serial():
    ps = make_fake_pyspin(make_fake_system(FakeSpinCamera([])))
    with pytest.raises(CameraError, match="no FLIR camera with serial '999'"):
        open_camera("pyspin", "999", pyspin=ps)


# --------------------------------------------------------------------------------------
# pylon camera emulation (real vendor SDK)
# --------------------------------------------------------------------------------------


def test_pylon_emulated_camera_grabs_at_the_configured_rate(monkeypatch):
    pytest.importorskip("pypylon")
    monkeypatch.setenv("PYLON_CAMEMU", "1")
    with open_camera("pylon", 0, label="left") as cam:
        assert cam.emulated and cam.serial == "0815-0000"
        cfg = cam.configure(CameraConfig(fps=50.0, exposure_us=2000.0, width=64, height=48))
        assert (cfg.width, cfg.height) == (64, 48)
        assert cam.applied["LineSource"] == "ExposureActive"
        assert any("ChunkSelector" in m for m in cam.missing_features)
        cam.start()
        frames = [cam.grab(1.0) for _ in range(6)]
    counters = np.array([f.frame_counter for f in frames])
    np.testing.assert_array_equal(np.diff(counters), 1)
    assert frames[0].image.shape == (48, 64) and frames[0].image.dtype == np.uint8
    intervals = np.diff([f.computer_time for f in frames])
    assert np.median(intervals) == pytest.approx(0.02, abs=0.008)


def test_pylon_unknown_serial(monkeypatch):
    pytest.importorskip("pypylon")
    monkeypatch.setenv("PYLON_CAMEMU", "1")
    with pytest.raises(CameraError, match="no Basler camera with serial 'nope'; found: 0815-0000"):
        open_camera("pylon", "nope")
