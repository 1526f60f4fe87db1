"""The design note's measurements on the pipeline's tables: frame jitter and file sizes.

Tables
------
NoteJitter : the note's measured frame jitter (Figure 2), by frame rate.
NoteFileSize : the note's file sizes per hour (Table 1, and the recording rig's total).

Functions
---------
jitter_study : jitter per camera recording from ``SyncPulses`` (``ibl-video study jitter``).
file_size_study : MB per hour per rig, camera and parameter set from ``CompressedVideo``
    (``ibl-video study sizes``).
keypoint_projects : the labelled projects of a model set or model (``ibl-video study keypoints``).

The note's figures are rows, so a lab can add its own reference measurements; the
computation is :mod:`pipeline.studies`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import datajoint as dj
import numpy as np

from pipeline import rigs, studies
from pipeline.plots import JitterPanel
from schemas.compression import CompressedVideo, CompressionParams, TrainingClips
from schemas.session import CameraRecording, RigCamera, RigType, Session  # noqa: F401 (RigType: in a definition)
from schemas.sync import SyncPulses

schema = dj.Schema()

#: ``compression_params`` of the raw videos' rows in :func:`file_size_study`.
RAW = "raw"


@schema
class NoteJitter(dj.Lookup):
    """The note's frame jitter, by frame rate (its Figure 2), to compare measurements with.

    Attributes:
        frame_rate_hz (int): Nominal frame rate of the camera, frames/s; a recording is
            compared with the row of its camera's ``RigCamera.expected_fps``, rounded.
        note_jitter_us (float): Standard deviation of the frame-to-frame interval the note
            measured, microseconds.
        note_source (str): Where the figure comes from.
    """

    definition = """
    frame_rate_hz: int16             # nominal frame rate, frames/s
    ---
    note_jitter_us: float64          # std of the frame-to-frame interval, microseconds
    note_source: varchar(255)
    """
    contents = [
        dict(frame_rate_hz=60, note_jitter_us=195.6, note_source="IBL video note, Figure 2 (60 Hz side camera)"),
        dict(frame_rate_hz=150, note_jitter_us=143.2, note_source="IBL video note, Figure 2 (150 Hz side camera)"),
    ]


@schema
class NoteFileSize(dj.Lookup):
    """The note's file sizes per hour of video (its Table 1 and storage plan).

    A row with no ``rig_type`` is one camera's video in the note's format (``width`` x
    ``height`` at ``fps``) at ``crf`` (null: uncompressed); a row with a ``rig_type`` is that
    rig's total for the parameter set of ``crf`` (the note's plan: crf 35 with every 25th
    trial kept at crf 29, about 330 MB per hour on the recording rig).

    Attributes:
        note_size (str): Name of the figure.
        crf (int): The encode's crf; null for uncompressed video.
        rig_type (str): The rig of a whole-rig figure; null for one camera.
        width, height (int): Frame size of a camera figure, pixels.
        fps (float): Frame rate of a camera figure, frames/s.
        note_mb_per_hour (float): 10^6 bytes per hour of video.
        note_source (str): Where the figure comes from.
    """

    definition = """
    note_size: varchar(32)
    ---
    crf=null: int16                  # null: uncompressed
    -> [nullable] RigType
    width=null: int32                # pixels
    height=null: int32               # pixels
    fps=null: float64                # frames/s
    note_mb_per_hour: float64        # 10^6 bytes per hour of video
    note_source: varchar(255)
    """
    contents = [
        dict(note_size="uncompressed", crf=None, rig_type=None, width=944, height=956, fps=150.0,
             note_mb_per_hour=18900.0, note_source="IBL video note, Table 1: uncompressed, 1 h at 150 Hz, 944x956: 18.9 GB"),
        dict(note_size="crf29", crf=29, rig_type=None, width=944, height=956, fps=150.0,
             note_mb_per_hour=378.0, note_source="IBL video note, Table 1: crf 29, 1 h at 150 Hz, 944x956: 378 MB"),
        dict(note_size="crf35", crf=35, rig_type=None, width=944, height=956, fps=150.0,
             note_mb_per_hour=189.0, note_source="IBL video note, Table 1: crf 35, 1 h at 150 Hz, 944x956: 189 MB"),
        dict(note_size="recording_rig", crf=35, rig_type="ephys", width=None, height=None, fps=None,
             note_mb_per_hour=330.0, note_source="IBL video note: crf 35 with every 25th trial at crf 29, ~330 MB/h on the recording rig"),
    ]  # fmt: skip


def _restricted(query, restriction: dict | None, what: str):
    """``query & restriction``; attributes the query does not have are an error (DataJoint ignores them)."""
    if not restriction:
        return query
    unknown = sorted(set(restriction) - set(query.heading.names))
    if unknown:
        raise ValueError(f"restriction attribute(s) {', '.join(unknown)} are not attributes of {what} (it has {', '.join(query.heading.names)})")
    return query & restriction


def _camera_order() -> list[str]:
    return list(rigs.CAMERA_LABELS)


@dataclass(frozen=True)
class JitterStudy:
    """Result of :func:`jitter_study`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per camera recording: the key (``subject``, ``session_date``,
        ``session_number``, ``camera_label``), ``rig_type``, ``clock``, ``fps`` (nominal,
        frames/s), ``median_fps``, ``n_intervals``, ``n_excluded``, ``n_extrapolated``,
        ``jitter_us`` (measured frames only), ``sync_pulses_jitter_us`` (the stored
        ``SyncPulses.jitter_us``, over every frame), ``note_jitter_us`` (NaN where the note
        has no figure for the frame rate).
    panels : list of pipeline.plots.JitterPanel
        One per rig type and camera, recordings pooled, for :func:`pipeline.plots.plot_jitter`.
    """

    table: object
    panels: list[JitterPanel]


JITTER_COLUMNS: tuple[str, ...] = (
    "subject", "session_date", "session_number", "camera_label", "rig_type", "clock", "fps", "median_fps",
    "n_intervals", "n_excluded", "n_extrapolated", "jitter_us", "sync_pulses_jitter_us", "note_jitter_us",
)  # fmt: skip


def jitter_study(restriction: dict | None = None, *, progress: Callable | None = None) -> JitterStudy:
    """Frame jitter of every ``SyncPulses`` row (matching ``restriction``), from its frame times.

    Parameters
    ----------
    restriction : dict, optional
        Attributes of ``SyncPulses``, ``Session`` or ``RigCamera`` (e.g. ``{"subject": "M1"}``,
        ``{"camera_label": "right"}``, ``{"rig_type": "ephys"}``).
    progress : callable, optional
        ``progress(iterable, total)`` wrapping the loop over recordings (e.g. tqdm).

    Returns
    -------
    JitterStudy

    Raises
    ------
    ValueError
        If ``restriction`` names an attribute the tables do not have, or no row matches.
    """
    import pandas as pd

    query = (
        SyncPulses.proj("clock", sync_pulses_jitter_us="jitter_us")
        * Session.proj("rig_type")
        * RigCamera.proj("expected_fps")
    )
    query = _restricted(query, restriction, "SyncPulses joined with Session and RigCamera")
    rows = query.to_dicts(order_by=list(SyncPulses.primary_key))
    if not rows:
        where = f" matching {restriction}" if restriction else ""
        raise ValueError(f"no SyncPulses rows{where}: run `ibl-video populate SyncPulses` first")
    notes = {r["frame_rate_hz"]: r["note_jitter_us"] for r in NoteJitter.to_dicts()}
    keys = progress(rows, len(rows)) if progress is not None else rows
    out, pooled = [], {}
    for r in keys:
        key = {k: r[k] for k in SyncPulses.primary_key}
        times, extrapolated = (SyncPulses & key).fetch1("frame_times", "is_extrapolated")
        j = studies.frame_jitter(np.asarray(times), np.asarray(extrapolated), float(r["expected_fps"]))
        note = notes.get(int(round(r["expected_fps"])), np.nan)
        out.append(dict(
            key, rig_type=r["rig_type"], clock=r["clock"], fps=j.nominal_fps, median_fps=j.median_fps,
            n_intervals=j.n_intervals, n_excluded=j.n_excluded, n_extrapolated=j.n_extrapolated,
            jitter_us=j.jitter_us, sync_pulses_jitter_us=r["sync_pulses_jitter_us"], note_jitter_us=note,
        ))  # fmt: skip
        pooled.setdefault((r["rig_type"], r["camera_label"], j.nominal_fps, note), []).append(j.deviations_us)
    order = {label: i for i, label in enumerate(_camera_order())}
    panels = []
    for (rig, label, fps, note), parts in sorted(pooled.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 99), kv[0][1])):
        dev = np.concatenate(parts)
        panels.append(JitterPanel(
            label=f"{rig} {label}, {fps:g} Hz", deviations_us=dev,
            jitter_us=float(np.std(dev, ddof=1)) if dev.size >= 2 else float("nan"),
            note_jitter_us=float(note), n_recordings=len(parts),
        ))  # fmt: skip
    return JitterStudy(table=pd.DataFrame(out, columns=list(JITTER_COLUMNS)), panels=panels)


def _note_sizes():
    """The note's figures: the reference format and the per-camera and per-rig figures."""
    rows = NoteFileSize.to_dicts()
    camera = [r for r in rows if r["rig_type"] is None]
    formats = {(r["width"], r["height"], r["fps"]) for r in camera}
    if len(formats) != 1 or None in next(iter(formats)):
        raise ValueError(f"NoteFileSize's camera rows must share one format (width, height, fps), found {sorted(formats, key=str)}")
    (width, height, fps), = formats
    by_crf = {r["crf"]: r["note_mb_per_hour"] for r in camera}
    by_rig = {(r["rig_type"], r["crf"]): r["note_mb_per_hour"] for r in rows if r["rig_type"] is not None}
    return (int(width), int(height), float(fps)), by_crf, by_rig


def file_size_study(restriction: dict | None = None):
    """MB per hour of video per rig type, camera and parameter set, and per rig.

    Every ``CompressedVideo`` row (matching ``restriction``), its training clips
    (``TrainingClips.Clip``) and, as rows of set ``raw``, the raw videos of the same
    recordings (``CameraRecording.file_size``), tabulated by
    :func:`pipeline.studies.file_size_table` with the note's figures (``NoteFileSize``)
    beside ours and sizes scaled to the note's format.

    Parameters
    ----------
    restriction : dict, optional
        Attributes of ``CompressedVideo``, ``Session`` or ``CameraRecording`` (e.g.
        ``{"compression_params": "archival"}``, ``{"rig_type": "ephys"}``).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`pipeline.studies.SIZE_COLUMNS`.

    Raises
    ------
    ValueError
        If ``restriction`` names an attribute the tables do not have, or no row matches.
    """
    import pandas as pd

    # renamed first: a natural join on the shared name file_size would pair unrelated sizes
    clip_sizes = TrainingClips.Clip.proj(clip_size="file_size")
    clips = CompressedVideo.proj().aggr(clip_sizes, clips_size="sum(clip_size)")  # every encode (NULL: no clips)
    query = (
        CompressedVideo.proj("file_size", "width", "height", "compressed_video_path")
        * CompressionParams.proj("crf", encoder="codec")
        * Session.proj("rig_type")
        * CameraRecording.proj("duration_s", "fps", "video_codec", "raw_video_path", raw_size="file_size")
        * clips
    )
    query = _restricted(query, restriction, "CompressedVideo joined with CompressionParams, Session and CameraRecording")
    rows = query.to_dicts()
    if not rows:
        where = f" matching {restriction}" if restriction else ""
        raise ValueError(f"no CompressedVideo rows{where}: run `ibl-video populate CompressedVideo` first")
    encodes = pd.DataFrame(rows)
    encodes["clips_size"] = pd.to_numeric(encodes["clips_size"]).fillna(0)
    raw = encodes.drop_duplicates(list(CameraRecording.primary_key)).copy()
    raw = raw.assign(compression_params=RAW, crf=np.nan, file_size=raw["raw_size"], clips_size=0)
    # an encode's codec is its set's encoder; an h.264 raw registered as its own encode keeps its codec
    registered = encodes["compressed_video_path"] == encodes["raw_video_path"]
    encodes["video_codec"] = encodes["video_codec"].where(registered, encodes["encoder"])
    videos = pd.concat([raw, encodes], ignore_index=True)
    videos["crf"] = pd.to_numeric(videos["crf"])
    (width, height, fps), by_crf, by_rig = _note_sizes()
    return studies.file_size_table(
        videos, reference_width=width, reference_height=height, reference_fps=fps,
        note_camera_mb_per_hour=by_crf, note_rig_mb_per_hour=by_rig, order=_camera_order(),
    )  # fmt: skip


def keypoint_projects(name: str) -> list[tuple[str, str, object]]:
    """The labelled DeepLabCut projects behind a model set or a model (``ibl-video study keypoints``).

    Parameters
    ----------
    name : str
        A ``PoseModelSet`` (each member's project, in role order) or a ``PoseModel``.

    Returns
    -------
    list of (str, str, Path)
        ``(group, role, project folder)``; the group is ``<role> (<pose_model>)``.

    Raises
    ------
    ValueError
        If no model set or model has that name.
    FileNotFoundError
        If a model's project folder is missing (naming it).
    """
    from pipeline import layout
    from pipeline.pose import ROLES
    from schemas import config
    from schemas.pose import PoseModel, PoseModelSet

    if PoseModelSet & {"pose_model_set": name}:
        rows = (PoseModel * PoseModelSet.Member & {"pose_model_set": name}).to_dicts()
        rows.sort(key=lambda r: ROLES.index(r["pose_role"]) if r["pose_role"] in ROLES else len(ROLES))
    elif PoseModel & {"pose_model": name}:
        rows = [(PoseModel & {"pose_model": name}).fetch1()]
    else:
        raise ValueError(f"{name!r} is neither a DeepLabCut project folder nor a registered model set or model "
                         f"(ibl-video models list)")  # fmt: skip
    root = config.current().data_root
    out = []
    for r in rows:
        project = layout.resolve_under(root, r["project_path"])
        if not (project / "config.yaml").is_file():
            raise FileNotFoundError(f"model {r['pose_model']}: project not found: {project / 'config.yaml'}")
        out.append((f"{r['pose_role']} ({r['pose_model']})", r["pose_role"], project))
    return out
