"""Rigs, cameras, sessions and raw camera recordings.

Tables
------
RigType, Camera, RigCamera : lookups (defaults from :mod:`pipeline.rigs`).
SyncWiring, SyncWiringChannel : FPGA channel maps (ibllib's 3A and 3B; a lab adds its own).
Subject : the mice (sex, date of birth, species, strain, as IBL's Alyx subjects).
Session : one behavioural session of a Subject, inserted by the acquisition script.
CameraRecording : one raw video per camera of a session, ingested from the session folder.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from pathlib import Path

import datajoint as dj
import numpy as np

from pipeline import layout, rigs
from pipeline.io.framedata import legacy_paths, read_framedata, read_legacy_framedata
from pipeline.io.spikeglx import Wiring, session_wiring
from pipeline.io.subject import DEFAULT_SPECIES, SUBJECT_FIELDS, normalize_subject
from pipeline.io.video import probe_video
from schemas import config

schema = dj.Schema()


@schema
class RigType(dj.Lookup):
    """Kinds of rig.

    Attributes:
        rig_type (str): ``training`` or ``ephys``.
        rig_description (str): What the rig records and which clock it syncs to.
    """

    definition = """
    rig_type: varchar(16)            # training, ephys
    ---
    rig_description: varchar(255)
    """
    contents = [{"rig_type": k, "rig_description": v} for k, v in rigs.RIG_TYPES.items()]


@schema
class Camera(dj.Lookup):
    """Camera positions, by IBL's labels.

    Attributes:
        camera_label (str): ``left``, ``right`` or ``body``.
        camera_description (str): What the camera sees.
    """

    definition = """
    camera_label: varchar(16)        # left, right, body
    ---
    camera_description: varchar(255)
    """
    contents = [
        {"camera_label": "left", "camera_description": "side view of the face, from the mouse's left"},
        {"camera_label": "right", "camera_description": "side view of the face, from the mouse's right"},
        {"camera_label": "body", "camera_description": "view of the trunk"},
    ]


@schema
class RigCamera(dj.Lookup):
    """Each rig type's cameras and their fixed settings (DESIGN.md section 2).

    Attributes:
        rig_type, camera_label: The rig and the camera on it.
        expected_fps (float): Frame rate, frames/s.
        expected_width, expected_height (int): Resolution, pixels.
        sync_device (str): DAQ the camera's TTL goes to (``fpga``: channel ``<label>_camera``
            of the session's ``SyncWiring``; ``bpod``: port 1).
        expected_jitter_us (float): Expected std of the frame interval, microseconds.
        exposure_us (float): Exposure time, microseconds.
        gain_db (float): Sensor gain, dB.
    """

    definition = """
    -> RigType
    -> Camera
    ---
    expected_fps: float64            # frames per second
    expected_width: int32            # pixels
    expected_height: int32           # pixels
    sync_device: enum('fpga', 'bpod')
    expected_jitter_us: float64      # std of frame interval, microseconds
    exposure_us: float64             # microseconds
    gain_db: float64                 # dB
    """
    contents = [
        dict(rig_type=c.rig_type, camera_label=c.label, expected_fps=c.fps, expected_width=c.width,
             expected_height=c.height, sync_device=c.sync_device,
             expected_jitter_us=c.jitter_us, exposure_us=c.exposure_us, gain_db=c.gain_db)
        for c in rigs.DEFAULT_CAMERAS
    ]  # fmt: skip


@schema
class SyncWiring(dj.Lookup):
    """Named FPGA channel maps: which sync channel records which signal.

    Attributes:
        sync_wiring (str): Name of the map (``3A``, ``3B``, or a lab's own).
        wiring_description (str): The recording system it belongs to.

    A ``*.wiring.json`` beside a session's SpikeGLX files overrides its map's channels
    (:func:`fpga_wiring`).
    """

    definition = """
    sync_wiring: varchar(32)
    ---
    wiring_description: varchar(255)
    """
    contents = [{"sync_wiring": k, "wiring_description": v} for k, v in rigs.FPGA_WIRING_DESCRIPTIONS.items()]


@schema
class SyncWiringChannel(dj.Lookup):
    """One signal of a ``SyncWiring`` map and its FPGA sync channel.

    Attributes:
        signal (str): ``left_camera``, ``right_camera``, ``body_camera``, ``bpod``, ``audio``, ...
        fpga_channel (int): Sync channel number.
    """

    definition = """
    -> SyncWiring
    signal: varchar(32)
    ---
    fpga_channel: int16
    """
    contents = [
        {"sync_wiring": name, "signal": signal, "fpga_channel": ch}
        for name, channels in rigs.FPGA_WIRINGS.items() for signal, ch in channels.items()
    ]  # fmt: skip


@schema
class Subject(dj.Manual):
    """A subject (mouse), described as IBL's Alyx describes it (:mod:`pipeline.io.subject`).

    Attributes:
        subject (str): Subject nickname (Alyx's ``nickname``), the sessions' folder name.
        sex (str): ``M``, ``F`` or ``U`` (unknown).
        date_of_birth (date): Day of birth; null when unknown (NWB then gets the open age
            range ``P0D/``: "zero days or older", see :func:`schemas.export.nwb_subject`).
        species (str): Latin binomial (``Mus musculus``) or NCBI taxonomy IRI.
        strain (str): e.g. ``C57BL/6J``; empty when unknown.

    Rows come from the acquisition script and ``ibl-video session insert`` (a subject file,
    or the simulator's mouse); a session of a nickname with no row adds a row with
    everything unknown (:func:`ensure_subject`), so every older insertion path still works.
    """

    definition = """
    subject: varchar(64)             # subject nickname (Alyx's nickname)
    ---
    sex: enum('M', 'F', 'U')         # U: unknown
    date_of_birth=null: date         # null: unknown
    species: varchar(128)            # Latin binomial or NCBI taxonomy IRI
    strain="": varchar(64)           # empty: unknown
    """


def _known(value) -> bool:
    """A Subject attribute that says something (not null, empty or sex ``U``)."""
    return value is not None and str(value) not in ("", "U")


def ensure_subject(subject: str, info=None, *, where: str = "subject") -> dict:
    """The ``Subject`` row of ``subject``, inserted first if there is none.

    Parameters
    ----------
    subject : str
        Nickname.
    info : mapping, optional
        Its description (:func:`pipeline.io.subject.normalize_subject` keys); None: use the
        row there is, or insert one with everything unknown (sex ``U``, no date of birth,
        :data:`pipeline.io.subject.DEFAULT_SPECIES`, no strain).
    where : str
        Where ``info`` came from, for messages.

    Returns
    -------
    dict
        The row.

    Raises
    ------
    ValueError
        A bad value, a nickname in ``info`` other than ``subject``, or a description that
        disagrees with what the row already there knows (naming the attributes; nothing is
        changed). Attributes the row does not know (sex ``U``, no date of birth, no strain)
        are filled in from ``info``.
    """
    row = None
    if info is not None:
        row = normalize_subject(info, where)
        named = row.pop("subject", subject)
        if named != subject:
            raise ValueError(f"{where} describes subject {named!r}, not {subject!r}")
        row = {"subject": subject, **row}
    existing = (Subject & {"subject": subject}).to_dicts()
    if existing:
        old = existing[0]
        if row is not None:
            differ = [
                f"{k}: {old[k]!r} in the table, {row[k]!r} in {where}"
                for k in SUBJECT_FIELDS
                if _known(old[k]) and _known(row[k]) and str(old[k]) != str(row[k])
            ]
            if differ:
                raise ValueError(
                    f"subject {subject} is already in the Subject table with other values ({'; '.join(differ)}); "
                    "update the row or fix the file"
                )
            learnt = {k: row[k] for k in SUBJECT_FIELDS if not _known(old[k]) and _known(row[k])}
            if learnt:  # what was unknown is filled in; nothing known is changed
                Subject.update1(dict(subject=subject, **learnt))
                old = dict(old, **learnt)
        return old
    if row is None:
        row = {"subject": subject, "sex": "U", "date_of_birth": None, "species": DEFAULT_SPECIES, "strain": ""}
    Subject.insert1(row)
    return row


@schema
class Session(dj.Manual):
    """A behavioural session, keyed by IBL's convention (subject, date, number).

    Attributes:
        subject (str): Subject nickname (a ``Subject`` row: the parent table).
        session_date (date): Day of the session.
        session_number (int): Number of the session on that day for that subject (1, 2, ...).
        session_uuid (str): Globally unique id, canonical 36-character text (unique index).

    Note: DataJoint 2.3.5's ``uuid`` type inserts bytes into PostgreSQL's ``uuid`` column and
    fails ("column is of type uuid but expression is of type bytea"), so the UUID is kept as
    text; ``tests/schemas/test_workarounds.py`` fails once that is fixed upstream.
        rig_type (str): Kind of rig it was recorded on.
        session_start_time (datetime): Start of the recording (acquisition computer clock).
        session_dir (str): Session folder relative to the data root.
        sync_wiring (str): The FPGA channel map of an ephys session (null on training rigs).
    """

    definition = """
    -> Subject
    session_date: date
    session_number: int16            # number of the session that day (1, 2, ...)
    ---
    session_uuid: char(36)           # UUID, canonical text form (see note below)
    -> RigType
    session_start_time: datetime     # acquisition computer clock
    session_dir: varchar(255)        # relative to the data root
    -> [nullable] SyncWiring
    unique index(session_uuid)
    """


@schema
class CameraRecording(dj.Imported):
    """One raw video of one camera of a session, with its per-frame metadata.

    Attributes:
        raw_video_path (str): Raw video file, relative to the data root.
        video_codec (str): Codec as ffmpeg names it.
        n_frames (int): Frames decoded from the file (counted, not read from the header).
        fps (float): Container frame rate, frames/s.
        width, height (int): Frame size, pixels.
        duration_s (float): ``n_frames / fps``, seconds.
        file_size (int): Bytes.
        checksum (str): MD5 of the file, hex.
        frame_data (array): ``(n_frames, 4)`` float64 from ``frameData.bin`` (computer time s,
            raw camera timestamp, frame counter, GPIO register), or empty if absent.
    """

    definition = """
    -> Session
    -> Camera
    ---
    raw_video_path: varchar(255)     # relative to the data root
    video_codec: varchar(32)
    n_frames: int32                  # frames decoded from the file
    fps: float64                     # container frame rate, frames/s
    width: int32                     # pixels
    height: int32                    # pixels
    duration_s: float64              # seconds (n_frames / fps)
    file_size: int64                 # bytes
    checksum: char(32)               # md5, hex
    has_frame_data: bool             # a frameData.bin was found
    frame_data=null: <npy@ibl_video> # (n_frames, 4): computer time s, camera timestamp, counter, gpio
    """

    @property
    def key_source(self):
        # one key per camera the session's rig type has
        return (Session * Camera & RigCamera).proj()

    def make_fetch(self, key):
        session_dir = (Session & key).fetch1("session_dir")
        return (session_dir,)

    def make_compute(self, key, session_dir):  # noqa: D102
        root = config.current().data_root
        folder = layout.resolve_under(root, session_dir)
        label = key["camera_label"]
        videos = layout.find_raw_videos(folder)
        if label not in videos:
            raise FileNotFoundError(
                f"no raw video for the {label} camera of {_session_name(key)} in {folder / layout.RAW_VIDEO_DIR}"
            )
        video = videos[label]
        info = probe_video(video)
        fd_path = video.parent / layout.framedata_name(label)
        # frameData.bin, else the three older files (iblrig < 7), else none: counter-less timing
        frame_data = read_framedata(fd_path) if fd_path.exists() else read_legacy_framedata(video.parent, label)
        if frame_data is not None:
            frame_data = frame_data.to_array()
            if len(frame_data) != info.n_frames:
                source = fd_path if fd_path.exists() else legacy_paths(video.parent, label)["frame_counter.bin"]
                raise ValueError(f"{source} has {len(frame_data)} frames but {video} has {info.n_frames}")
        row = dict(
            key,
            raw_video_path=layout.to_relative(root, video),
            video_codec=info.codec,
            n_frames=info.n_frames,
            fps=info.fps,
            width=info.width,
            height=info.height,
            duration_s=info.duration_s,
            file_size=video.stat().st_size,
            checksum=file_md5(video),
            has_frame_data=frame_data is not None,
            frame_data=frame_data,
        )
        return (row,)

    def make_insert(self, key, row):
        self.insert1(row)


def file_md5(path: Path, chunk: int = 1 << 22) -> str:
    """MD5 of a file, hex."""
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _session_name(key: dict) -> str:
    return f"{key['subject']}/{key['session_date']}/{int(key['session_number']):03d}"


def session_name(key: dict) -> str:
    """``subject/date/NNN`` of a session key, for messages."""
    return _session_name(key)


def session_key_from_text(subject: str, date, number) -> dict:
    """The ``Session`` key of a session named as text (a URL's or a command line's parts).

    Parameters
    ----------
    subject : str
        Subject nickname.
    date : str or datetime.date
        Session date, ``YYYY-MM-DD``.
    number : str or int
        Session number of that day.

    Raises
    ------
    ValueError
        If the date is not ``YYYY-MM-DD``, the number not an integer, or the session is not in
        ``Session`` (the message names it).
    """
    try:
        day = date if isinstance(date, dt.date) else dt.date.fromisoformat(str(date))
    except ValueError:
        raise ValueError(f"no session {subject}/{date}/{number}: the date must be YYYY-MM-DD, got {date!r}") from None
    try:
        n = int(number)
    except (TypeError, ValueError):
        raise ValueError(f"no session {subject}/{date}/{number}: the session number must be an integer, got {number!r}") from None
    key = {"subject": subject, "session_date": day, "session_number": n}
    if not Session & key:
        raise ValueError(f"no session {_session_name(key)} in the Session table")
    return key


def insert_session(folder: Path, *, rig_type: str, start_time, session_uuid: uuid.UUID | None = None,
                   subject: str | None = None, date=None, number: int | None = None,
                   sync_wiring: str | None = None, subject_info=None,
                   subject_source: str = "subject") -> dict:
    """Register an existing session folder (under the data root) as a ``Session`` row.

    Its ``Subject`` row is added first when the nickname has none (:func:`ensure_subject`:
    from ``subject_info``, a mapping as :func:`pipeline.io.subject.normalize_subject` takes,
    from ``subject_source``; else with everything unknown); both rows go in one
    transaction.

    Subject, date and number are read from the folder's path
    (``<subject>/<date>/<NNN>``) unless given. ``sync_wiring`` names the FPGA channel map
    (a ``SyncWiring`` row) of a rig whose cameras go to the FPGA; default
    :data:`pipeline.rigs.DEFAULT_FPGA_WIRING` (a ``*.wiring.json`` in the session's
    ``raw_ephys_data`` overrides its channels when frames are timed).

    Raises
    ------
    FileNotFoundError
        If the folder does not exist.
    DataRootError
        If it is outside the data root.
    ValueError
        If the rig type is unknown, a raw video has a camera label the rig does not have,
        the session is already in the table, or ``subject_info`` is bad or disagrees with
        the subject's row (nothing is inserted).
    """
    root = config.current().data_root
    folder = Path(folder)
    rel = layout.to_relative(root, folder)
    full = layout.resolve_under(root, rel)
    if not full.is_dir():
        raise FileNotFoundError(f"session folder not found: {full}")
    parts = Path(rel).parts
    if len(parts) < 3 and (subject is None or date is None or number is None):
        raise ValueError(f"session folder {rel} is not <subject>/<date>/<number> under the data root")
    key = dict(
        subject=subject or parts[-3],
        session_date=str(date or parts[-2]),
        session_number=int(number if number is not None else parts[-1]),
    )
    if not (RigType & {"rig_type": rig_type}):
        known = ", ".join(RigType().to_arrays("rig_type"))
        raise ValueError(f"unknown rig type {rig_type!r}; known rig types: {known}")
    cameras = set((RigCamera & {"rig_type": rig_type}).to_arrays("camera_label"))
    found = layout.find_raw_videos(full)
    unknown = sorted(set(found) - cameras)
    if unknown:
        raise ValueError(
            f"unknown camera label(s) {', '.join(unknown)} in {full / layout.RAW_VIDEO_DIR} "
            f"({', '.join(str(found[u].name) for u in unknown)}); rig {rig_type!r} has cameras {', '.join(sorted(cameras))}"
        )
    if Session & key:
        raise ValueError(f"session {_session_name(key)} is already in the Session table; not inserted again")
    uses_fpga = bool(RigCamera & {"rig_type": rig_type, "sync_device": "fpga"})
    if sync_wiring is None and uses_fpga:
        sync_wiring = rigs.DEFAULT_FPGA_WIRING
    if sync_wiring is not None and not (SyncWiring & {"sync_wiring": sync_wiring}):
        known = ", ".join(SyncWiring().to_arrays("sync_wiring"))
        raise ValueError(f"unknown sync wiring {sync_wiring!r}; known: {known} (add a SyncWiring row for a lab's own)")
    row = dict(
        key,
        session_uuid=str(session_uuid or uuid.uuid4()),
        rig_type=rig_type,
        session_start_time=start_time,
        session_dir=rel,
        sync_wiring=sync_wiring,
    )
    if subject_info is not None:
        # check the description before anything is inserted
        normalize_subject(subject_info, subject_source)
    with Session.connection.transaction:
        ensure_subject(key["subject"], subject_info, where=subject_source)
        Session.insert1(row)
    return key


def fpga_wiring(key: dict) -> Wiring:
    """The FPGA channel map of a session: its ``SyncWiring`` rows, overridden by the lab's
    ``raw_ephys_data/*.wiring.json`` if there is one (as ibllib's ``get_ibl_sync_map``).

    A session without a map (inserted by hand) gets :data:`pipeline.rigs.DEFAULT_FPGA_WIRING`.
    """
    session_dir, name = (Session & key).fetch1("session_dir", "sync_wiring")
    name = name or rigs.DEFAULT_FPGA_WIRING
    signals, channels = (SyncWiringChannel & {"sync_wiring": name}).to_arrays("signal", "fpga_channel")
    folder = layout.resolve_under(config.current().data_root, session_dir)
    return session_wiring(folder / layout.RAW_EPHYS_DIR, name, dict(zip(signals, map(int, channels), strict=True)), relative_to=folder)


def frame_data_array(key: dict) -> np.ndarray | None:
    """The ``(n_frames, 4)`` frameData of a recording, or None."""
    fd = (CameraRecording & key).fetch1("frame_data")
    return None if fd is None else np.asarray(fd)
