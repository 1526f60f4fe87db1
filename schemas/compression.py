"""h.264 compression of the raw videos, verified before any raw file may be removed.

Tables
------
CompressionParams : lookup of parameter sets (codec, crf, preset, pixel format, options).
CompressedVideo : one verified encode per camera recording and parameter set.
TrainingClips : for sessions with trials, every n-th trial cut at the training crf (Part ``Clip``).
RigCompression : which parameter sets each rig type's recordings get (the storage plan).
RawRemoval : raw files deleted after a verified archival encode (who, when, what).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import socket
from pathlib import Path

import datajoint as dj
import numpy as np

from pipeline import compression, layout
from pipeline.io.daq import load_daq_files
from schemas import config
from schemas.session import CameraRecording, RigType, Session, session_name  # noqa: F401 (RigType: in a definition)
from schemas.sync import SyncPulses

schema = dj.Schema()

COMPRESSED_DIR = "compressed_video_data"


def params_hash(settings: compression.CompressionSettings) -> str:
    """MD5 of a parameter set's contents, so the same parameters are never stored twice."""
    return hashlib.md5(json.dumps(settings.to_dict(), sort_keys=True).encode()).hexdigest()


def _params_row(name: str, settings: compression.CompressionSettings, description: str, clips_every: int = 0,
                h264_raw: str = "register") -> dict:  # fmt: skip
    return dict(
        compression_params=name, codec=settings.codec, crf=settings.crf, preset=settings.preset,
        pix_fmt=settings.pix_fmt, extra_options=json.dumps(list(settings.extra_options)),
        training_clips_every=clips_every, params_hash=params_hash(settings), params_description=description,
        h264_raw=h264_raw,
    )  # fmt: skip


@schema
class CompressionParams(dj.Lookup):
    """h.264 parameter sets; adding a set is inserting a row (:func:`add_params`).

    Attributes:
        compression_params (str): Name of the set (``archival``, ``training``, ``compact``...).
        codec (str): ffmpeg encoder.
        crf (int): x264 constant rate factor; +6 roughly halves the size.
        preset (str): x264 speed preset.
        pix_fmt (str): Output pixel format.
        extra_options (str): JSON list of more ffmpeg output options.
        training_clips_every (int): Keep every n-th trial as a clip at the ``training`` set
            (0: none); the design's ``compact`` plan keeps every 25th.
        h264_raw (str): What to do with a raw video that is already h.264 (IBL's rigs write
            ``_iblrig_<label>Camera.raw.mp4``): ``register`` it as its own encode after a full
            decode (``archival``, ``training``: re-encoding only loses quality), or
            ``reencode`` it with these settings (``compact``: the point is a smaller file).
        params_hash (str): MD5 of the contents (unique).
    """

    definition = """
    compression_params: varchar(32)
    ---
    codec: varchar(16)
    crf: int16                       # 0..51
    preset: varchar(16)
    pix_fmt: varchar(16)
    extra_options: varchar(255)      # JSON list of ffmpeg output options
    training_clips_every=0: int16    # keep every n-th trial as a clip (0: none)
    h264_raw="register": enum('register', 'reencode')  # an h.264 raw: registered as is, or re-encoded
    params_hash: char(32)            # md5 of the contents
    params_description: varchar(255)
    unique index(params_hash)
    """
    contents = [
        _params_row("archival", compression.COMPRESSION_SETS["archival"], "crf 17: everything on recording rigs"),
        _params_row("training", compression.COMPRESSION_SETS["training"], "crf 29: training rigs and training-set clips"),
        _params_row("compact", compression.COMPRESSION_SETS["compact"], "crf 35 where storage is short; every 25th trial kept at crf 29", 25,
                    h264_raw="reencode"),
    ]

    @staticmethod
    def settings(params: dict) -> compression.CompressionSettings:
        """The :class:`pipeline.compression.CompressionSettings` of a row."""
        return compression.CompressionSettings(
            codec=params["codec"], crf=int(params["crf"]), preset=params["preset"],
            pix_fmt=params["pix_fmt"], extra_options=tuple(json.loads(params["extra_options"])),
        )  # fmt: skip


@schema
class RigCompression(dj.Lookup):
    """Which parameter sets each rig type's recordings are encoded with (the storage plan).

    The design: crf 17 (``archival``) for everything on recording rigs, crf 29
    (``training``) on training rigs. A lab short of storage adds ``compact`` for its
    recording rigs (with every 25th trial kept at crf 29) by inserting a row.

    Attributes:
        rig_type (str): The rig type.
        compression_params (str): A parameter set its recordings get.
    """

    definition = """
    -> RigType
    -> CompressionParams
    """
    contents = [
        dict(rig_type="ephys", compression_params="archival"),
        dict(rig_type="training", compression_params="training"),
    ]


def add_params(name: str, crf: int, *, preset: str = "faster", pix_fmt: str = "yuv420p",
               extra_options: tuple[str, ...] = (), description: str = "", training_clips_every: int = 0,
               h264_raw: str = "reencode") -> dict:
    """Insert a new parameter set; refuses a name or contents that already exist."""
    settings = compression.CompressionSettings(crf=crf, preset=preset, pix_fmt=pix_fmt, extra_options=extra_options)
    existing = CompressionParams & {"params_hash": params_hash(settings)}
    if existing:
        raise ValueError(f"these parameters already exist as set {existing.fetch1('compression_params')!r}")
    if CompressionParams & {"compression_params": name}:
        raise ValueError(f"compression parameter set {name!r} exists already with other contents; choose a new name")
    row = _params_row(name, settings, description, training_clips_every, h264_raw)
    CompressionParams.insert1(row)
    return row


def compressed_path(session_dir: str, params: str, label: str) -> str:
    """Where the encode of a recording goes, relative to the data root."""
    return f"{session_dir}/{COMPRESSED_DIR}/{params}/_iblrig_{label}Camera.raw.mp4"


def _remove_stale_partials(out_path: Path) -> None:
    """Delete temporary files left by an encode of this output that was killed."""
    if out_path.parent.is_dir():
        for stale in out_path.parent.glob(f".{out_path.stem}.*.partial.mp4"):
            stale.unlink(missing_ok=True)


@schema
class CompressedVideo(dj.Computed):
    """A verified h.264 encode of one raw video with one parameter set.

    Verified means: decoded to the end with the raw's frame count and size, and its
    quality measured on sampled frames against the raw (PSNR, SSIM). A raw video that is
    already h.264 (IBL's ``.raw.mp4``) is registered as its own encode where the parameter
    set says ``h264_raw="register"``: ``compressed_video_path`` is then the raw file itself
    (ratio 1, PSNR 999, SSIM 1), and ``raw cleanup`` never removes it.

    Attributes:
        compressed_video_path (str): The .mp4, relative to the data root.
        file_size (int): Bytes.
        raw_size (int): Bytes of the raw file.
        compression_ratio (float): ``raw_size / file_size``.
        bitrate_kbps (float): Kilobits per second of video.
        encode_seconds (float): Wall time of the encode (with the full decode beside it), seconds.
        verify_seconds (float): Wall time after the encode until verified, seconds.
        psnr_db (float): PSNR against the raw on sampled frames, dB.
        ssim (float): Mean SSIM on the same frames.
        n_quality_frames (int): Frames sampled for the quality figures.
        n_frames, width, height (int): Of the encode (equal to the raw's).
    """

    definition = """
    -> CameraRecording
    -> CompressionParams
    ---
    compressed_video_path: varchar(255)  # relative to the data root
    file_size: int64                 # bytes
    raw_size: int64                  # bytes
    compression_ratio: float64       # raw_size / file_size
    bitrate_kbps: float64
    encode_seconds: float64          # wall time, s
    verify_seconds: float64          # wall time, s
    psnr_db: float64                 # against the raw, sampled frames
    ssim: float64
    n_quality_frames: int32
    n_frames: int32
    width: int32                     # pixels
    height: int32                    # pixels
    """

    @property
    def key_source(self):
        # the parameter sets of the session's rig type (RigCompression), not every set
        return (CameraRecording.proj() * CompressionParams.proj()) & (Session.proj("rig_type") * RigCompression).proj()

    def make_fetch(self, key):
        session_dir = (Session & key).fetch1("session_dir")
        raw_video_path, n_frames, codec = (CameraRecording & key).fetch1("raw_video_path", "n_frames", "video_codec")
        params = (CompressionParams & key).fetch1()
        return session_dir, raw_video_path, int(n_frames), codec, params

    def make_compute(self, key, session_dir, raw_video_path, n_frames, codec, params):
        root = config.current().data_root
        raw = layout.resolve_under(root, raw_video_path)
        if codec == "h264" and params["h264_raw"] == "register":
            # already h.264 (compressed on the rig): the raw is its own encode, verified by a full decode
            rel = raw_video_path
            result = compression.register_h264(raw, expected_frames=n_frames)
        else:
            rel = compressed_path(session_dir, key["compression_params"], key["camera_label"])
            out = layout.resolve_under(root, rel)
            _remove_stale_partials(out)
            result = compression.encode_video(
                raw, out, CompressionParams.settings(params), expected_frames=n_frames, progress=False
            )
        return (dict(
            key, compressed_video_path=rel, file_size=result.size_bytes, raw_size=result.raw_size_bytes,
            compression_ratio=result.ratio, bitrate_kbps=result.bitrate_kbps, encode_seconds=result.encode_seconds,
            verify_seconds=result.verify_seconds, psnr_db=min(result.psnr_db, 999.0), ssim=result.ssim,
            n_quality_frames=result.n_quality_frames, n_frames=result.n_frames, width=result.width, height=result.height,
        ),)  # fmt: skip

    def make_insert(self, key, row):
        self.insert1(row)


@schema
class TrainingClips(dj.Computed):
    """Training-set clips: every n-th trial of a recording, cut from the raw at the ``training`` set.

    Only for parameter sets with ``training_clips_every > 0`` and sessions with trials.
    Trial intervals (Bpod clock) are put on the frames' clock with the SyncPulses fit.

    Attributes:
        n_trials (int): Trials in the session.
        n_clips (int): Clips written.
    """

    definition = """
    -> CompressedVideo
    -> SyncPulses
    ---
    n_trials: int32
    n_clips: int32
    """

    class Clip(dj.Part):
        """One trial's clip.

        Attributes:
            trial_index (int): Zero-based trial number.
            clip_path (str): The .mp4, relative to the data root.
            start_frame (int): First video frame of the trial.
            n_frames (int): Frames in the clip.
            file_size (int): Bytes.
            psnr_db (float): Against the raw, dB.
        """

        definition = """
        -> master
        trial_index: int32
        ---
        clip_path: varchar(255)
        start_frame: int32
        n_frames: int32
        file_size: int64
        psnr_db: float64
        """

    @property
    def key_source(self):
        return (CompressedVideo * SyncPulses & (CompressionParams & "training_clips_every > 0")).proj()

    def make_fetch(self, key):
        """Small values only: the trials to cut as ``(trial, start_frame, n_frames)`` triples."""
        session_dir = (Session & key).fetch1("session_dir")
        raw_video_path = (CameraRecording & key).fetch1("raw_video_path")
        every = (CompressionParams & key).fetch1("training_clips_every")
        clock, offset, drift, times = (SyncPulses & key).fetch1("clock", "clock_offset_s", "clock_drift_ppm", "frame_times")
        intervals = load_daq_files(layout.resolve_under(config.current().data_root, session_dir)).trial_intervals_bpod_s
        if intervals is None:
            raise FileNotFoundError(f"{_name(key)}: no Bpod task data ({layout.RAW_BEHAVIOR_DIR}/_iblrig_taskData.raw.jsonable): no trials to cut clips of")
        if clock == "fpga":  # trial intervals are on the Bpod clock
            if offset is None:
                raise ValueError(f"{_name(key)}: no FPGA-Bpod clock fit (fewer than 2 trial onsets); cannot place trials")
            intervals = (intervals - offset) / (1 + drift * 1e-6)
        starts, counts = compression.trial_frame_ranges(np.asarray(times), intervals)
        trials = [(int(t), int(starts[t]), int(counts[t])) for t in compression.select_training_trials(len(intervals), every) if counts[t] > 0]
        training = (CompressionParams & {"compression_params": "training"}).fetch1()
        return session_dir, raw_video_path, len(intervals), trials, training

    def make_compute(self, key, session_dir, raw_video_path, n_trials, trials, training):
        root = config.current().data_root
        raw = layout.resolve_under(root, raw_video_path)
        settings = CompressionParams.settings(training)
        clips = []
        for trial, start, count in trials:
            rel = f"{session_dir}/{COMPRESSED_DIR}/training_clips/_iblrig_{key['camera_label']}Camera.trial{trial:04d}.mp4"
            r = compression.cut_clip(raw, layout.resolve_under(root, rel), start, count, settings)
            clips.append(dict(key, trial_index=trial, clip_path=rel, start_frame=start,
                              n_frames=r.n_frames, file_size=r.size_bytes, psnr_db=min(r.psnr_db, 999.0)))  # fmt: skip
        return dict(key, n_trials=n_trials, n_clips=len(clips)), clips

    def make_insert(self, key, master, clips):
        self.insert1(master)
        self.Clip.insert(clips)


@schema
class RawRemoval(dj.Manual):
    """A raw video deleted after its archival encode was verified (``ibl-video raw cleanup --apply``).

    Attributes:
        compression_params (str): The verified encode that made the deletion safe.
        raw_video_path (str): The deleted file, relative to the data root.
        raw_checksum (str): Its MD5 (from CameraRecording).
        removed_time (datetime): When.
        removed_by (str): ``user@host``.
    """

    definition = """
    -> CameraRecording
    ---
    -> CompressedVideo
    raw_video_path: varchar(255)
    raw_checksum: char(32)
    removed_time: datetime
    removed_by: varchar(128)
    """


def removable_raw_files(params: str = "archival") -> list[dict]:
    """Raw files that may be deleted: their ``params`` encode is verified and still on disk.

    A recording without a CompressedVideo row for ``params``, whose encode is missing or
    has another size on disk, or whose "encode" is the raw file itself (an h.264 raw
    registered as is), is never listed.
    """
    root = config.current().data_root
    encodes = CompressedVideo.proj("compressed_video_path", "file_size") & {"compression_params": params}
    rows = CameraRecording.proj("raw_video_path", "checksum") * encodes - RawRemoval.proj()
    out = []
    for r in rows.to_dicts():
        raw = layout.resolve_under(root, r["raw_video_path"])
        encoded = layout.resolve_under(root, r["compressed_video_path"])
        if r["compressed_video_path"] == r["raw_video_path"]:
            continue  # an h.264 raw registered as its own encode: the only copy
        if raw.is_file() and encoded.is_file() and encoded.stat().st_size == r["file_size"]:
            out.append(dict(r, raw_full_path=raw))
    return out


def remove_raw_files(params: str = "archival", *, apply: bool = False) -> list[dict]:
    """Delete (only with ``apply=True``) the raw files :func:`removable_raw_files` lists; returns them."""
    candidates = removable_raw_files(params)
    if not apply:
        return candidates
    who = f"{os.environ.get('USER', 'unknown')}@{socket.gethostname()}"
    for r in candidates:
        key = {k: r[k] for k in CameraRecording.primary_key}
        with RawRemoval.connection.transaction:
            RawRemoval.insert1(dict(
                key, compression_params=params, raw_video_path=r["raw_video_path"], raw_checksum=r["checksum"],
                removed_time=dt.datetime.now().replace(microsecond=0), removed_by=who[:128],
            ))  # fmt: skip
            Path(r["raw_full_path"]).unlink()
    return candidates


def _name(key: dict) -> str:
    return f"{session_name(key)} {key['camera_label']} camera"
