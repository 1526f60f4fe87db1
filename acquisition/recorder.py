"""Record cameras to lossless video plus IBL frame metadata, without blocking acquisition.

For each camera, :func:`record` runs two threads:

* a **grab thread** that calls :meth:`Camera.grab` and puts each frame into a bounded queue;
  when the queue is full the frame is **dropped and counted** (``n_queue_drops``) instead of
  blocking, because a real camera does not wait (for an *unpaced* camera, i.e. a simulation
  that runs as fast as it renders, the grab thread waits instead: nothing is lost);
* a **writer thread** that pipes the frames into an ``ffmpeg`` process (raw grey frames on
  its standard input, lossless FFV1 out) and collects the frame's metadata, written at the
  end as ``_iblrig_<label>Camera.frameData.bin`` (:mod:`pipeline.io.framedata` layout).

Files are named by :mod:`pipeline.layout`: ``<out_dir>/_iblrig_<label>Camera.raw.avi`` and
``<out_dir>/_iblrig_<label>Camera.frameData.bin``; the video and the frameData file always
hold the same number of frames. Frames dropped (by the camera or at the queue) are absent
from both, so they show as gaps in the frame counter.

Recording stops when every camera's stream ends (simulation), after ``duration_s`` seconds
or ``max_frames`` frames, or on Ctrl-C (SIGINT) / ``stop_event``. In every case ffmpeg is
closed properly, so the video is playable; a recording stopped by Ctrl-C or ``stop_event``
is marked ``interrupted`` (a session with an interrupted camera must not be inserted).
"""

from __future__ import annotations

import math
import queue
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from acquisition.cameras import Camera, EndOfStream, GrabbedFrame, GrabTimeout
from pipeline.io.ffmpeg import FFmpegError, ffmpeg_exe
from pipeline.io.framedata import FrameData, write_framedata
from pipeline.layout import framedata_name, raw_video_name

__all__ = [
    "FFV1Writer",
    "FrameWriter",
    "RecordingError",
    "RecordingResult",
    "record",
]

STOP_END_OF_STREAM = "end_of_stream"
STOP_DURATION = "duration"
STOP_MAX_FRAMES = "max_frames"
STOP_INTERRUPTED = "interrupted"
STOP_ERROR = "error"


@dataclass(frozen=True)
class RecordingResult:
    """Outcome of recording one camera.

    Attributes
    ----------
    label : str
        Camera label.
    path : Path
        The video file (FFV1 in AVI, grey).
    framedata_path : Path
        The ``frameData.bin`` file, one row per video frame.
    n_frames : int
        Frames in the video (= rows in frameData).
    n_grabbed : int
        Frames received from the camera (``n_frames + n_queue_drops``).
    n_queue_drops : int
        Frames received but discarded because the writer's queue was full.
    n_counter_gaps : int
        Frames missing according to the frame counter between the first and last frame
        written (camera drops and queue drops).
    fps : float
        Nominal frame rate written in the video header, frames per second.
    width, height : int
        Frame size in pixels.
    interrupted : bool
        True if recording was stopped by Ctrl-C, ``stop_event`` or an error; the files
        are playable but the session is incomplete.
    stop_reason : str
        ``"end_of_stream"``, ``"duration"``, ``"max_frames"``, ``"interrupted"`` or ``"error"``.
    wall_time_s : float
        Seconds from the first to the last frame written (computer clock).
    measured_fps : float
        ``(n_frames - 1 + n_counter_gaps) / wall_time_s``: the rate at which the camera
        actually delivered, frames per second (NaN with fewer than 2 frames).
    error : str or None
        What went wrong, if anything.
    """

    label: str
    path: Path
    framedata_path: Path
    n_frames: int
    n_grabbed: int
    n_queue_drops: int
    n_counter_gaps: int
    fps: float
    width: int
    height: int
    interrupted: bool
    stop_reason: str
    wall_time_s: float
    measured_fps: float = float("nan")
    error: str | None = None


class RecordingError(RuntimeError):
    """A camera or a writer failed; ``results`` holds what was recorded (files are closed)."""

    def __init__(self, message: str, results: dict[str, RecordingResult]) -> None:
        super().__init__(message)
        self.results = results


class FrameWriter(Protocol):
    """Where the writer thread puts frames (:class:`FFV1Writer`, or a test double)."""

    def write(self, image: np.ndarray) -> None: ...

    def close(self) -> None: ...


class FFV1Writer:
    """Pipe ``(height, width)`` uint8 frames into ffmpeg, writing lossless FFV1 (grey).

    Parameters
    ----------
    path : path
        Output video (``.avi``; the container follows the extension).
    width, height : int
        Frame size in pixels.
    fps : float
        Frame rate written in the header, frames per second.
    threads : int
        ffmpeg encoder threads (FFV1 slices); 1 is fastest per core on small machines.

    Raises
    ------
    FFmpegError
        From :meth:`write` if ffmpeg has exited, and from :meth:`close` if it exits with an
        error; the message names the file and quotes ffmpeg.
    """

    def __init__(
        self, path: Path | str, width: int, height: int, fps: float, *, threads: int = 1
    ) -> None:
        self.path = Path(path)
        self.width, self.height = int(width), int(height)
        self._stderr = tempfile.TemporaryFile()
        slice_args = ["-slices", "4", "-threads", str(threads)] if threads > 1 else []
        cmd = [
            ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "gray", "-s", f"{self.width}x{self.height}",
            "-r", f"{fps}", "-i", "-",
            "-c:v", "ffv1", "-level", "3", "-g", "1", "-slicecrc", "1", *slice_args,
            "-pix_fmt", "gray", str(self.path),
        ]  # fmt: skip
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=self._stderr)
        self.n_written = 0

    def _ffmpeg_message(self) -> str:
        self._stderr.seek(0)
        text = self._stderr.read().decode(errors="replace").strip()
        return "\n".join(text.splitlines()[-5:]) or "(no message)"

    def write(self, image: np.ndarray) -> None:
        """Append one frame."""
        if image.shape != (self.height, self.width) or image.dtype != np.uint8:
            raise ValueError(
                f"frame {self.n_written} for {self.path.name} is {image.dtype} {image.shape}; "
                f"expected uint8 ({self.height}, {self.width})"
            )
        try:
            self._proc.stdin.write(np.ascontiguousarray(image).data)
        except (BrokenPipeError, OSError) as exc:
            self._proc.wait()
            raise FFmpegError(
                f"ffmpeg stopped while writing {self.path} (exit {self._proc.returncode}) after "
                f"{self.n_written} frames: {self._ffmpeg_message()}"
            ) from exc
        self.n_written += 1

    def close(self, timeout_s: float = 120.0) -> None:
        """Close ffmpeg's input and wait for it to finish the file."""
        if self._proc.stdin and not self._proc.stdin.closed:
            try:
                self._proc.stdin.close()
            except (BrokenPipeError, OSError):
                pass
        try:
            rc = self._proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
            raise FFmpegError(f"ffmpeg did not finish {self.path} within {timeout_s} s") from None
        finally:
            message = self._ffmpeg_message()
            self._stderr.close()
        if rc != 0:
            raise FFmpegError(f"ffmpeg failed writing {self.path} (exit {rc}): {message}")


WriterFactory = Callable[[Path, int, int, float], FrameWriter]


def _default_writer(path: Path, width: int, height: int, fps: float) -> FrameWriter:
    return FFV1Writer(path, width, height, fps)


_SENTINEL = object()


class _CameraRun:
    """State shared by one camera's grab and writer threads (ints updated by one thread each)."""

    def __init__(self, label: str, camera: Camera, out_dir: Path, queue_frames: int) -> None:
        self.label = label
        self.camera = camera
        self.video_path = out_dir / raw_video_name(label, "avi")
        self.framedata_path = out_dir / framedata_name(label)
        self.queue: queue.Queue = queue.Queue(maxsize=queue_frames)
        self.n_grabbed = 0
        self.n_queue_drops = 0
        self.n_written = 0
        self.stop_reason = ""
        self.error: str | None = None
        self.first_time: float | None = None
        self.last_time: float | None = None
        self.rows: list[tuple[float, int, int, int]] = []
        self.grab_thread: threading.Thread | None = None
        self.write_thread: threading.Thread | None = None


def _grab_loop(
    run: _CameraRun,
    stop: threading.Event,
    deadline: float | None,
    max_frames: int | None,
    grab_timeout_s: float,
) -> None:
    cam = run.camera
    try:
        while True:
            if stop.is_set():
                run.stop_reason = run.stop_reason or STOP_INTERRUPTED
                break
            if max_frames is not None and run.n_grabbed >= max_frames:
                run.stop_reason = STOP_MAX_FRAMES
                break
            if deadline is not None and time.monotonic() >= deadline:
                run.stop_reason = STOP_DURATION
                break
            timeout = grab_timeout_s
            if deadline is not None:
                timeout = max(0.001, min(timeout, deadline - time.monotonic()))
            try:
                frame = cam.grab(timeout)
            except GrabTimeout:
                continue
            except EndOfStream:
                run.stop_reason = STOP_END_OF_STREAM
                break
            run.n_grabbed += 1
            if cam.paced:
                try:
                    run.queue.put_nowait(frame)
                except queue.Full:
                    run.n_queue_drops += 1
            else:
                while not stop.is_set():
                    try:
                        run.queue.put(frame, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                else:
                    run.n_queue_drops += 1
    except Exception as exc:  # noqa: BLE001 - reported in the result and re-raised by record()
        run.error = (
            f"camera {run.label!r} failed after {run.n_grabbed} frames: {type(exc).__name__}: {exc}"
        )
        run.stop_reason = STOP_ERROR
        stop.set()
    finally:
        while True:  # the writer always drains, so this ends unless the writer thread died
            try:
                run.queue.put(_SENTINEL, timeout=0.5)
                break
            except queue.Full:
                if run.write_thread is not None and not run.write_thread.is_alive():
                    break


def _write_loop(run: _CameraRun, writer_factory: WriterFactory, stop: threading.Event) -> None:
    cam = run.camera
    writer: FrameWriter | None = None
    failed = False
    try:
        writer = writer_factory(run.video_path, cam.width, cam.height, cam.fps)
    except Exception as exc:  # noqa: BLE001
        run.error = f"cannot start the video writer for {run.video_path}: {exc}"
        failed = True
        stop.set()
    while True:
        item = run.queue.get()
        if item is _SENTINEL:
            break
        if failed:
            continue
        frame: GrabbedFrame = item
        try:
            writer.write(frame.image)
        except Exception as exc:  # noqa: BLE001
            run.error = f"writing {run.video_path} failed after {run.n_written} frames: {exc}"
            failed = True
            stop.set()
            continue
        run.rows.append(
            (frame.computer_time, frame.camera_timestamp, frame.frame_counter, frame.gpio)
        )
        if run.first_time is None:
            run.first_time = frame.computer_time
        run.last_time = frame.computer_time
        run.n_written += 1
    if writer is not None:
        try:
            writer.close()
        except Exception as exc:  # noqa: BLE001
            run.error = run.error or f"closing {run.video_path} failed: {exc}"
    rows = np.array(run.rows, dtype=np.float64).reshape(-1, 4)
    write_framedata(
        run.framedata_path,
        FrameData(
            computer_time=rows[:, 0],
            camera_timestamp=rows[:, 1],
            frame_counter=rows[:, 2].astype(np.int64),
            gpio=rows[:, 3].astype(np.int64),
        ),
    )


def _expected_total(cam: Camera, duration_s: float | None, max_frames: int | None) -> int | None:
    totals = []
    if cam.expected_frames is not None:
        totals.append(cam.expected_frames)
    if duration_s is not None:
        totals.append(int(math.ceil(duration_s * cam.fps)))
    if max_frames is not None:
        totals.append(max_frames)
    return min(totals) if totals else None


def record(
    cameras: Mapping[str, Camera] | Sequence[Camera],
    out_dir: Path | str,
    *,
    duration_s: float | None = None,
    max_frames: int | None = None,
    queue_frames: int = 64,
    progress: bool = True,
    stop_event: threading.Event | None = None,
    writer_factory: WriterFactory | None = None,
    grab_timeout_s: float = 0.5,
    handle_sigint: bool = True,
) -> dict[str, RecordingResult]:
    """Record configured cameras until their streams end, a limit is hit, or Ctrl-C.

    Parameters
    ----------
    cameras : mapping of label to Camera, or sequence of Camera
        Opened and configured cameras (a sequence uses each camera's ``label``). They are
        started and stopped here, not closed.
    out_dir : path
        Folder for the files (created if missing), normally ``<session>/raw_video_data``.
    duration_s : float, optional
        Stop after this many seconds of the computer's clock.
    max_frames : int, optional
        Stop each camera after this many grabbed frames.
    queue_frames : int
        Frames buffered between a camera and its writer; when full, frames of paced cameras
        are dropped (counted), frames of unpaced cameras wait.
    progress : bool
        Show one progress bar per camera (tqdm).
    stop_event : threading.Event, optional
        Setting it stops the recording as Ctrl-C does (marked interrupted).
    writer_factory : callable, optional
        ``(path, width, height, fps) -> FrameWriter``; default :class:`FFV1Writer`.
    grab_timeout_s : float
        Longest wait for one frame before checking for a stop, seconds.
    handle_sigint : bool
        When called from the main thread, turn SIGINT (Ctrl-C) into a clean stop while
        recording (the previous handler is restored afterwards).

    Returns
    -------
    dict of label to RecordingResult

    Raises
    ------
    ValueError
        If no camera is given, labels repeat, a camera is not configured, or no stop
        condition exists for a camera with an endless stream.
    RecordingError
        If a camera or writer failed; files are closed and ``err.results`` describes them.
    """
    if isinstance(cameras, Mapping):
        items = list(cameras.items())
    else:
        items = [(cam.label, cam) for cam in cameras]
    if not items:
        raise ValueError("record() needs at least one camera")
    labels = [label for label, _ in items]
    if len(set(labels)) != len(labels):
        raise ValueError(f"camera labels must be unique, got {labels}")
    for label, cam in items:
        if cam.config is None:
            raise ValueError(f"camera {label!r} is not configured; call configure() first")
        if (
            cam.expected_frames is None
            and duration_s is None
            and max_frames is None
            and stop_event is None
        ):
            raise ValueError(
                f"camera {label!r} streams forever: give duration_s, max_frames or stop_event"
            )
    if queue_frames < 1:
        raise ValueError(f"queue_frames must be >= 1, got {queue_frames}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    factory = writer_factory or _default_writer

    stop = threading.Event()
    interrupted = threading.Event()
    runs = [_CameraRun(label, cam, out_dir, queue_frames) for label, cam in items]

    def on_sigint(signum: int, frame: Any) -> None:
        interrupted.set()
        stop.set()

    previous_handler = None
    install = handle_sigint and threading.current_thread() is threading.main_thread()
    if install:
        previous_handler = signal.signal(signal.SIGINT, on_sigint)
    bars: list[Any] = []
    started: list[Camera] = []
    start_mono = time.monotonic()
    try:
        from tqdm.auto import tqdm

        for i, run in enumerate(runs):
            total = _expected_total(run.camera, duration_s, max_frames)
            bars.append(
                tqdm(total=total, desc=f"{run.label:>6}", unit="frame", position=i,
                     leave=True, disable=not progress, dynamic_ncols=True)
            )  # fmt: skip
        for run in runs:
            run.write_thread = threading.Thread(
                target=_write_loop,
                args=(run, factory, stop),
                name=f"write-{run.label}",
                daemon=True,
            )
            run.write_thread.start()
        for run in runs:
            run.camera.start()
            started.append(run.camera)
        start_mono = time.monotonic()
        deadline = None if duration_s is None else start_mono + float(duration_s)
        for run in runs:
            run.grab_thread = threading.Thread(
                target=_grab_loop,
                args=(run, stop, deadline, max_frames, grab_timeout_s),
                name=f"grab-{run.label}",
                daemon=True,
            )
            run.grab_thread.start()
        threads = [t for run in runs for t in (run.grab_thread, run.write_thread)]
        while any(t.is_alive() for t in threads):
            try:
                if stop_event is not None and stop_event.is_set() and not stop.is_set():
                    interrupted.set()
                    stop.set()
                for t in threads:
                    t.join(timeout=0.1)
                    if t.is_alive():
                        break
                for bar, run in zip(bars, runs, strict=True):
                    bar.n = run.n_written
                    if run.n_queue_drops:
                        bar.set_postfix(dropped=run.n_queue_drops, refresh=False)
                    bar.refresh()
                # stop the cameras as soon as their grab thread is done
                for run in runs:
                    if not run.grab_thread.is_alive() and run.camera in started:
                        started.remove(run.camera)
                        run.camera.stop()
            except KeyboardInterrupt:  # SIGINT handler not installed (not the main thread)
                interrupted.set()
                stop.set()
    finally:
        stop.set()
        for run in runs:
            if run.grab_thread is None and run.write_thread is not None:
                run.queue.put(_SENTINEL)  # never started grabbing: end its writer here
            for t in (run.grab_thread, run.write_thread):
                if t is not None:
                    t.join()
        for cam in started:
            try:
                cam.stop()
            except Exception:  # noqa: BLE001 - stopping is best effort while cleaning up
                pass
        for bar, run in zip(bars, runs, strict=False):
            bar.n = run.n_written
            bar.close()
        if install:
            signal.signal(signal.SIGINT, previous_handler)

    failed = [run for run in runs if run.error]
    results: dict[str, RecordingResult] = {}
    for run in runs:
        counters = np.array([r[2] for r in run.rows], dtype=np.int64)
        gaps = int(np.sum(np.diff(counters) - 1)) if len(counters) > 1 else 0
        reason = run.stop_reason
        if run.error:
            reason = STOP_ERROR
        elif interrupted.is_set() or (failed and reason == STOP_INTERRUPTED):
            reason = STOP_INTERRUPTED
        wall = 0.0
        if run.first_time is not None and run.last_time is not None:
            wall = float(run.last_time - run.first_time)
        results[run.label] = RecordingResult(
            label=run.label,
            path=run.video_path,
            framedata_path=run.framedata_path,
            n_frames=run.n_written,
            n_grabbed=run.n_grabbed,
            n_queue_drops=run.n_queue_drops,
            n_counter_gaps=gaps,
            fps=run.camera.fps,
            width=run.camera.width,
            height=run.camera.height,
            interrupted=reason in (STOP_INTERRUPTED, STOP_ERROR),
            stop_reason=reason,
            wall_time_s=wall,
            measured_fps=(run.n_written - 1 + gaps) / wall if wall > 0 else float("nan"),
            error=run.error,
        )
    if failed:
        raise RecordingError("; ".join(run.error for run in failed), results)
    return results
