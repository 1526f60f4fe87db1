"""Project settings: data root, schema prefix, object store, and which database to use.

Precedence for each setting (highest first): an explicit argument (the CLI's
``--data-root``), an environment variable (``IBL_VIDEO_DATA_ROOT``,
``IBL_VIDEO_SCHEMA_PREFIX``, ``IBL_VIDEO_DATABASE``), the project config file
``ibl_video.json`` (in the working folder, or the file named by ``IBL_VIDEO_CONFIG``), then
the defaults (``./data``, ``ibl_video``, embedded database unless DataJoint is configured).

The lab's metadata for exported files (NWB ``institution``, ``lab``, ``experimenter``) come
from ``IBL_VIDEO_INSTITUTION``, ``IBL_VIDEO_LAB``, ``IBL_VIDEO_EXPERIMENTER`` (names separated
by ``;``, each ``"Last, First"``) or the config file's ``institution``, ``lab`` and
``experimenter`` (a string or a list of strings); unset by default.

Database credentials never live here: a lab's server is configured only through
DataJoint's own ``datajoint.json``, ``.secrets/`` and ``DJ_*`` variables.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

CONFIG_FILENAME = "ibl_video.json"
DEFAULT_PREFIX = "ibl_video"
#: Name of the DataJoint object store holding large arrays (``<npy@ibl_video>`` in the
#: table definitions). Its location is ``<data root>/.store`` unless DataJoint's own
#: configuration defines a store of this name (e.g. on a lab's file server or S3).
STORE = "ibl_video"
_PREFIX_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
#: Config file keys of the lab's metadata for exported files.
_METADATA_KEYS = ("institution", "lab", "experimenter")


@dataclass(frozen=True)
class Settings:
    """Resolved project settings.

    Attributes
    ----------
    data_root : Path
        Absolute folder holding every file the pipeline reads or writes.
    schema_prefix : str
        Prefix of every database schema name (``<prefix>_session`` ...), so that several
        pipelines share one server.
    database : str
        ``"embedded"`` (a private PostgreSQL server under the data root) or
        ``"datajoint"`` (the server DataJoint's own configuration names).
    institution, lab : str, optional
        Where sessions are recorded, for exported files' metadata (NWB).
    experimenter : tuple of str
        Who records them, ``"Last, First"`` each, for exported files' metadata (NWB).
    """

    data_root: Path
    schema_prefix: str = DEFAULT_PREFIX
    database: str = "embedded"
    institution: str | None = None
    lab: str | None = None
    experimenter: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_root", Path(self.data_root).expanduser().resolve())

    @property
    def store_location(self) -> Path:
        """Folder of the object store (under the data root unless DataJoint config names one)."""
        return self.data_root / ".store"

    @property
    def embedded_dir(self) -> Path:
        """Folder of the embedded PostgreSQL server's files."""
        return self.data_root / ".db"

    @property
    def log_dir(self) -> Path:
        """Folder of the workers' log files."""
        return self.data_root / "logs"


def _config_file() -> dict:
    path = Path(os.environ.get("IBL_VIDEO_CONFIG", CONFIG_FILENAME))
    if not path.is_file():
        if "IBL_VIDEO_CONFIG" in os.environ:
            raise FileNotFoundError(f"IBL_VIDEO_CONFIG names a file that does not exist: {path}")
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"config file {path} is not valid JSON: {err}") from None
    unknown = set(data) - {"data_root", "schema_prefix", "database", "web_token", *_METADATA_KEYS}
    if unknown:
        raise ValueError(f"config file {path} has unknown keys: {', '.join(sorted(unknown))}")
    return data


def datajoint_configured() -> bool:
    """True if DataJoint's own configuration names a server (``datajoint.json`` or ``DJ_HOST``)."""
    if os.environ.get("DJ_HOST"):
        return True
    from datajoint.settings import find_config_file

    return find_config_file() is not None


def resolve_settings(data_root: Path | str | None = None, schema_prefix: str | None = None) -> Settings:
    """Resolve the settings from arguments, environment, config file and defaults.

    Raises
    ------
    ValueError
        If the schema prefix is not a lower-case identifier, or the database choice is unknown.
    """
    file = _config_file()
    root = data_root or os.environ.get("IBL_VIDEO_DATA_ROOT") or file.get("data_root") or "data"
    prefix = schema_prefix or os.environ.get("IBL_VIDEO_SCHEMA_PREFIX") or file.get("schema_prefix") or DEFAULT_PREFIX
    if not _PREFIX_RE.match(prefix):
        raise ValueError(f"schema prefix {prefix!r} must be lower-case letters, digits and '_' (max 40), starting with a letter")
    database = os.environ.get("IBL_VIDEO_DATABASE") or file.get("database")
    if database is None:
        database = "datajoint" if datajoint_configured() else "embedded"
    if database not in ("embedded", "datajoint"):
        raise ValueError(f"database must be 'embedded' or 'datajoint', not {database!r}")
    experimenter = os.environ.get("IBL_VIDEO_EXPERIMENTER")
    if experimenter is not None:
        experimenter = experimenter.split(";")
    else:
        experimenter = file.get("experimenter", [])
    if isinstance(experimenter, str):
        experimenter = [experimenter]
    if not isinstance(experimenter, list) or not all(isinstance(e, str) for e in experimenter):
        raise ValueError(f"experimenter must be a string or a list of strings, got {experimenter!r}")
    return Settings(
        data_root=Path(root).expanduser().resolve(),
        schema_prefix=prefix,
        database=database,
        institution=os.environ.get("IBL_VIDEO_INSTITUTION") or file.get("institution") or None,
        lab=os.environ.get("IBL_VIDEO_LAB") or file.get("lab") or None,
        experimenter=tuple(e.strip() for e in experimenter if e.strip()),
    )


def web_token() -> str | None:
    """The token of ``ibl-video serve``'s actions: ``IBL_VIDEO_WEB_TOKEN``, else the config
    file's ``web_token``; None if neither is set (the server then makes a random one)."""
    return os.environ.get("IBL_VIDEO_WEB_TOKEN") or _config_file().get("web_token") or None


_current: Settings | None = None


def set_current(settings: Settings) -> None:
    """Make ``settings`` the ones the tables use (called by :func:`schemas.activate`)."""
    global _current
    _current = settings


def current() -> Settings:
    """The active settings; resolves them from the environment if none were set."""
    global _current
    if _current is None:
        _current = resolve_settings()
    return _current


def with_prefix(settings: Settings, prefix: str) -> Settings:
    """A copy of ``settings`` with another schema prefix."""
    return replace(settings, schema_prefix=prefix)
