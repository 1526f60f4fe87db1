"""A session's video results as an NWB file (pynwb, with ndx-pose for the pose).

Layout of the file :func:`write_nwb` writes (names use the camera label, e.g. ``Left``):

``acquisition/Video<Label>Camera``
    ``ImageSeries`` linking the video file (``external_file``, relative to the NWB file) with
    one timestamp per frame, and the camera as its ``device``.
``processing/behavior/Skeletons``
    One ndx-pose ``Skeleton`` per camera (its tracked points as nodes, no edges).
``processing/behavior/PoseEstimation<Label>Camera``
    ndx-pose ``PoseEstimation`` of one camera: one ``PoseEstimationSeries`` per tracked point
    (x, y in pixels of the video frame, likelihood as ``confidence``), all sharing the
    first series' timestamps (an HDF5 link).
``processing/behavior/<Label>PupilDiameterRaw``, ``<Label>PupilDiameterSmooth``
    ``TimeSeries`` of the pupil diameter, pixels, one value per frame.
``events/Licks``
    ``EventsTable`` with one row per lick (both side cameras merged), column ``timestamp``;
    ``events/<Label>CameraLicks``: each camera's own onsets.

Metadata: ``session_id`` is ``<subject>_<date>_<NNN>`` (no ``/``, which DANDI forbids); the
``Subject`` has the sex, date of birth, species and strain of the session's ``Subject`` row
(:func:`nwb_subject`); ``institution``, ``lab`` and ``experimenter`` are the project's
settings (:mod:`schemas.config`).

Times: NWB counts seconds from ``session_start_time``. The pipeline's times are on the
session's DAQ clock (FPGA on recording rigs, Bpod on training rigs), which starts near, but
not exactly at, the acquisition computer's start time; they are written as they are and
every description names the clock, so that they line up with spike times on the same clock.

Nothing here imports DataJoint; :mod:`schemas.export` gathers the session from the tables.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from pipeline.io import atomic_write
from pipeline.io.alf import CameraExport, SessionExport

__all__ = ["nwb_session_id", "nwb_subject", "read_nwb", "write_nwb"]

#: NWB ``age`` of a subject whose date of birth is unknown: the open ISO 8601 range
#: "0 days or older" (NWB's form for an unknown upper bound), so the age is stated as unknown.
UNKNOWN_AGE = "P0D/"

REFERENCE_FRAME = (
    "(0, 0) is the centre of the top-left pixel of the video frame; x to the right, y down, pixels"
)


def _cap(label: str) -> str:
    return label[:1].upper() + label[1:]


def _start_time(start) -> dt.datetime:
    if isinstance(start, str):
        start = dt.datetime.fromisoformat(start)
    if not isinstance(start, dt.datetime):
        raise ValueError(f"session_start_time must be a datetime, got {type(start).__name__}")
    return (
        start if start.tzinfo is not None else start.astimezone()
    )  # naive: the computer's local time


def nwb_session_id(subject: str, session_date: str, session_number: int) -> str:
    """``<subject>_<YYYY-MM-DD>_<NNN>``: the session's id in NWB (and its file name's stem)."""
    return f"{subject}_{session_date}_{int(session_number):03d}"


def nwb_subject(subject: str, info, session_start: dt.datetime):
    """NWB's ``Subject`` from a ``Subject`` row (:mod:`pipeline.io.subject` keys) or None.

    Parameters
    ----------
    subject : str
        Nickname (``subject_id``).
    info : mapping or None
        ``sex``, ``date_of_birth`` (date or None), ``species``, ``strain``; None: all unknown.
    session_start : datetime.datetime
        Time-zone aware; the date of birth is written as midnight in its time zone.

    Returns
    -------
    pynwb.file.Subject
        With ``date_of_birth`` when known; otherwise ``age`` :data:`UNKNOWN_AGE` (the open
        range "0 days or older") and a description saying the date of birth is unknown.
        Unknown sex is ``"U"``.
    """
    from pynwb.file import Subject

    from pipeline.io.subject import normalize_subject

    info = normalize_subject(dict(info or {}), f"subject {subject}")
    dob = info["date_of_birth"]
    kwargs = dict(subject_id=subject, sex=info["sex"], species=info["species"], strain=info["strain"] or None)
    if dob is not None:
        kwargs["date_of_birth"] = dt.datetime(dob.year, dob.month, dob.day, tzinfo=session_start.tzinfo)
        kwargs["description"] = f"{subject}, born {dob.isoformat()}"
    else:
        kwargs["age"] = UNKNOWN_AGE
        kwargs["description"] = f"{subject}; date of birth unknown (age given as the open range {UNKNOWN_AGE})"
    return Subject(**kwargs)


def write_nwb(
    path: Path | str, session: SessionExport, *, source_software_version: str | None = None
) -> Path:
    """Write a session's camera times, pose, pupil diameter and licks to an NWB file.

    Parameters
    ----------
    path : path
        The ``.nwb`` file to write (replaced atomically if it exists).
    session : SessionExport
        What to write (:func:`schemas.export.session_export`).
    source_software_version : str, optional
        DeepLabCut's version, for the pose's metadata.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        If the session has no camera, or a camera has no frame times.
    """
    from ndx_pose import PoseEstimation, PoseEstimationSeries, Skeleton, Skeletons
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries
    from pynwb.event import EventsTable
    from pynwb.image import ImageSeries

    if not session.cameras:
        raise ValueError(
            f"session {session.subject}/{session.session_date}/{session.session_number:03d} has no camera to export"
        )
    clock_note = f"seconds on the session's {session.clock.upper()} clock"
    name = f"{session.subject}/{session.session_date}/{int(session.session_number):03d}"
    start = _start_time(session.session_start_time)
    nwb = NWBFile(
        session_description=f"IBL video session {name} ({session.rig_type} rig): camera frame times, pose, pupil diameter and licks",
        identifier=str(session.session_uuid),
        session_start_time=start,
        session_id=nwb_session_id(session.subject, session.session_date, session.session_number),
        subject=nwb_subject(session.subject, session.subject_info, start),
        institution=session.institution or None,
        lab=session.lab or None,
        experimenter=list(session.experimenter) or None,
        experiment_description="Mouse behaviour filmed by the IBL rig's cameras: frame times on the DAQ clock, "
        "DeepLabCut pose, pupil diameter and licks (ibl-video-pipeline).",
        keywords=["IBL", "video", "pose estimation", "DeepLabCut", "pupil", "licking"],
        notes=f"All times are {clock_note} (the DAQ clock the pipeline synchronises video to).",
    )
    path = Path(path)
    behavior = nwb.create_processing_module(
        name="behavior", description=f"Pose and features from video; times in {clock_note}"
    )
    skeletons = []
    pose_containers = []
    for cam in session.cameras:
        times = np.asarray(cam.times, dtype=np.float64)
        if times.size == 0:
            raise ValueError(f"{name} {cam.label} camera has no frame times")
        device = nwb.create_device(
            name=f"{cam.label}Camera",
            description=f"{cam.label} camera of the {session.rig_type} rig",
        )
        external = cam.video_path or f"_iblrig_{cam.label}Camera.raw.mp4"
        video = ImageSeries(
            name=f"Video{_cap(cam.label)}Camera", description=f"{cam.label} camera video; timestamps in {clock_note}",
            external_file=[external], format="external", starting_frame=[0], timestamps=times, device=device,
            unit="n.a.", dimension=None if cam.width is None else [int(cam.width), int(cam.height)],
        )  # fmt: skip
        nwb.add_acquisition(video)
        timestamps_of_frames = video
        if cam.points:
            parts = list(cam.points)
            skeleton = Skeleton(
                name=f"{cam.label}CameraSkeleton",
                nodes=parts,
                edges=np.zeros((0, 2), dtype="uint8"),
            )
            skeletons.append(skeleton)
            series = []
            for part in parts:
                a = np.asarray(cam.points[part], dtype=np.float64)
                series.append(PoseEstimationSeries(
                    name=part, description=f"{part} in the {cam.label} camera's frame", data=a[:, :2], unit="pixels",
                    reference_frame=REFERENCE_FRAME, confidence=a[:, 2],
                    confidence_definition="DeepLabCut likelihood (0-1)",
                    timestamps=times if not series else series[0],
                ))  # fmt: skip
            pose_containers.append(PoseEstimation(
                name=f"PoseEstimation{_cap(cam.label)}Camera", pose_estimation_series=series,
                description=f"{cam.label} camera pose: {session.pose_description}".strip(), scorer=session.pose_description or None,
                source_software="DeepLabCut", source_software_version=source_software_version, skeleton=skeleton, device=device,
                source_video=video,
            ))  # fmt: skip
            timestamps_of_frames = series[0]
        if cam.pupil_raw is not None:
            for suffix, values, how in (("Raw", cam.pupil_raw, "median of six diameter estimates per frame"),
                                        ("Smooth", cam.pupil_smooth, "Savitzky-Golay smoothed, outliers removed")):  # fmt: skip
                behavior.add(TimeSeries(
                    name=f"{_cap(cam.label)}PupilDiameter{suffix}", data=np.asarray(values, dtype=np.float64), unit="pixels",
                    timestamps=timestamps_of_frames, description=f"{cam.label} camera pupil diameter ({how}), pixels; {clock_note}",
                ))  # fmt: skip
        if cam.lick_times is not None:
            nwb.add_events_table(_events(EventsTable, f"{_cap(cam.label)}CameraLicks", cam.lick_times,
                                         f"lick onsets seen by the {cam.label} camera; {clock_note}"))  # fmt: skip
    if skeletons:
        behavior.add(Skeletons(skeletons=skeletons))
    for pe in pose_containers:
        behavior.add(pe)
    if session.lick_times is not None:
        nwb.add_events_table(_events(EventsTable, "Licks", session.lick_times,
                                     f"lick onsets, one per lick, side cameras merged without double counting; {clock_note}"))  # fmt: skip

    def write(tmp: str) -> None:
        with NWBHDF5IO(tmp, "w") as io:
            io.write(nwb)

    return atomic_write(path, write, suffix=".partial.nwb")


def _events(events_table_cls, name: str, times, description: str):
    from pynwb.event import TimestampVectorData

    column = TimestampVectorData(
        name="timestamp",
        description="lick onset, s",
        data=np.sort(np.asarray(times, dtype=np.float64).ravel()),
    )
    return events_table_cls(
        name=name,
        description=description,
        source_description="pipeline lick detection from pose",
        columns=[column],
    )


def read_nwb(path: Path | str) -> SessionExport:
    """Read what :func:`write_nwb` wrote back into a :class:`SessionExport` (with pynwb).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    """
    from pynwb import NWBHDF5IO

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"NWB file not found: {path}")
    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        behavior = nwb.processing.get("behavior")
        cameras = []
        for key, video in sorted(nwb.acquisition.items()):
            if not (key.startswith("Video") and key.endswith("Camera")):
                continue
            label = key[len("Video") : -len("Camera")]
            label = label[:1].lower() + label[1:]
            cap = _cap(label)
            points = None
            if behavior is not None and f"PoseEstimation{cap}Camera" in behavior.data_interfaces:
                pe = behavior[f"PoseEstimation{cap}Camera"]
                points = {
                    part: np.column_stack(
                        [
                            np.asarray(s.data[:], dtype=np.float64),
                            np.asarray(s.confidence[:], dtype=np.float64),
                        ]
                    )
                    for part, s in pe.pose_estimation_series.items()
                }
                order = list(pe.skeleton.nodes[:]) if pe.skeleton is not None else list(points)
                points = {str(p): points[str(p)] for p in order}
            raw = smooth = None
            if behavior is not None and f"{cap}PupilDiameterRaw" in behavior.data_interfaces:
                raw = np.asarray(behavior[f"{cap}PupilDiameterRaw"].data[:], dtype=np.float64)
                smooth = np.asarray(behavior[f"{cap}PupilDiameterSmooth"].data[:], dtype=np.float64)
            licks = _read_events(nwb, f"{cap}CameraLicks")
            dims = video.dimension[:] if video.dimension is not None else None
            cameras.append(CameraExport(
                label=label, times=np.asarray(video.timestamps[:], dtype=np.float64), points=points, pupil_raw=raw,
                pupil_smooth=smooth, lick_times=licks, video_path=str(video.external_file[0]),
                width=None if dims is None else int(dims[0]), height=None if dims is None else int(dims[1]),
            ))  # fmt: skip
        subject, date, number = str(nwb.session_id).rsplit("_", 2)
        notes = str(nwb.notes or "")
        clock = "bpod" if "BPOD clock" in notes else "fpga"
        rig_type = "training" if "(training rig)" in nwb.session_description else "ephys"
        return SessionExport(
            subject=subject, session_date=date, session_number=int(number), session_uuid=str(nwb.identifier),
            session_start_time=nwb.session_start_time, rig_type=rig_type, clock=clock, cameras=tuple(cameras),
            lick_times=_read_events(nwb, "Licks"), pose_description="", subject_info=_read_subject(nwb.subject),
            institution=nwb.institution, lab=nwb.lab, experimenter=tuple(nwb.experimenter or ()),
        )  # fmt: skip


def _read_subject(subject) -> dict | None:
    if subject is None:
        return None
    dob = subject.date_of_birth
    return {"sex": subject.sex or "U", "date_of_birth": None if dob is None else dob.date(),
            "species": subject.species, "strain": subject.strain or ""}  # fmt: skip


def _read_events(nwb, name: str) -> np.ndarray | None:
    events = getattr(nwb, "events", None) or {}
    if name not in events:
        return None
    return np.asarray(events[name]["timestamp"].data[:], dtype=np.float64)
