"""Helpers shared by bench rows: cached test recordings and a throwaway database."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from pipeline import layout
from pipeline.io import link_or_copy
from pipeline.io.ffmpeg import run_ffmpeg

CACHE = Path(__file__).resolve().parent / ".cache"


def lavfi_recording(
    seconds: float = 60.0, width: int = 1280, height: int = 1024, fps: float = 60.0
) -> Path:
    """A cached lossless (FFV1) grey recording made by ffmpeg's ``testsrc2`` with sensor noise."""
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"testsrc2_{width}x{height}_{fps:g}Hz_{seconds:g}s.avi"
    if not path.exists():
        tmp = path.with_suffix(".partial.avi")
        run_ffmpeg(
            ["-y", "-v", "error", "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps:g}:duration={seconds:g}",
             "-vf", "format=gray,noise=alls=2:allf=t", "-pix_fmt", "gray", "-c:v", "ffv1", "-level", "3", "-threads", "0", str(tmp)],
            path=tmp,
        )  # fmt: skip
        tmp.replace(path)
    return path


@contextlib.contextmanager
def throwaway_pipeline(prefix: str = "ibl-video-bench-") -> Iterator[object]:
    """Activate the pipeline on a fresh embedded database in a temporary data root.

    Afterwards the schemas are dropped, the connection closed, the embedded server (whose
    files are in the data root) stopped, and the data root removed.
    """
    import schemas  # before DataJoint: it sends DataJoint's log to stderr (stdout may be --json)
    from schemas.config import Settings
    from schemas.database import stop_embedded

    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    settings = Settings(data_root=tmp, schema_prefix=f"bench_{uuid.uuid4().hex[:8]}", database="embedded")
    try:
        connection = schemas.activate(settings)
        try:
            yield settings
        finally:
            import datajoint as dj

            with dj.config.override(safemode=False):
                schemas.drop_all()
            with contextlib.suppress(Exception):
                connection.close()
    finally:
        with contextlib.suppress(Exception):
            stop_embedded(settings)
        shutil.rmtree(tmp, ignore_errors=True)


def session_with_video(
    settings, video: Path, label: str = "left", subject: str = "bench", rig_type: str = "training"
) -> dict:
    """Hard-link ``video`` into a new session folder under the data root and insert the Session.

    A hard link (not a symlink, which the data root refuses) costs nothing and keeps the
    cached file; across file systems it falls back to a copy. ``rig_type`` decides which
    compression sets the recording gets (``RigCompression``: ``ephys`` -> archival).
    """
    from schemas.session import insert_session

    folder = settings.data_root / layout.session_folder(subject, dt.date.today(), 1)
    (folder / layout.RAW_VIDEO_DIR).mkdir(parents=True)
    target = folder / layout.RAW_VIDEO_DIR / layout.raw_video_name(label, video.suffix)
    link_or_copy(video, target)
    return insert_session(folder, rig_type=rig_type, start_time=dt.datetime.now())


def cache_dir() -> Path:
    """Folder for generated bench inputs (``$IBL_BENCH_CACHE`` or ``<tmp>/ibl-video-bench``)."""
    root = os.environ.get("IBL_BENCH_CACHE") or Path(tempfile.gettempdir()) / "ibl-video-bench"
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def pose_store_table() -> Iterator[type]:
    """A throwaway pipeline with a Manual table ``body_part -> pose <npy@ibl_video>`` (dropped after)."""
    import datajoint as dj

    import schemas.session

    with throwaway_pipeline() as settings:
        schema = dj.Schema(
            f"{settings.schema_prefix}_bench", connection=schemas.session.schema.connection
        )

        @schema
        class PoseStore(dj.Manual):
            definition = """
            body_part: varchar(32)
            ---
            pose: <npy@ibl_video>   # (n_frames, 3)
            """

        try:
            yield PoseStore
        finally:
            schema.drop(prompt=False)


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    """``(seconds, result)`` of one call."""
    t0 = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - t0, result
