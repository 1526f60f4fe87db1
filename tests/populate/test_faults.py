"""Fault tests of the populate workers: real processes on a real database server.

Each test runs ``ibl-video`` in subprocesses against one embedded PostgreSQL server, and
the SIGKILL, corrupt-video and two-worker tests also against the machine's PostgreSQL
(127.0.0.1:5432) and MariaDB (127.0.0.1:3306) when they answer (with CI=true they must);
the server-restart and Ctrl-C tests run on the embedded server, the one a test can stop
and start. Fresh schemas per test:

- a worker killed with SIGKILL mid-key leaves no row and no file in place, and its key is
  recovered and completed by the next populate;
- the database server restarted under a ``--loop`` worker: reported, and work goes on; a
  server that does not come back ends the run with exit code 3 and says so;
- a corrupt raw video in one of three sessions: its key errors naming the file, the others
  complete, ``ibl-video errors`` shows it;
- two workers started at once on the same keys compute every key once;
- Ctrl-C finishes the current key (exit 0); a second Ctrl-C aborts it (exit 130).

Slowness and a call log are injected into the worker processes by a ``sitecustomize``
module written to a temporary folder on ``PYTHONPATH`` (active only when
``IBL_VIDEO_TEST_FAULTS`` is set); it also registers a test-only schema module with
``SlowCopy``, a slow table that writes a file atomically.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import types
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

# ---------------------------------------------------------------- fault injection plugin
PLUGIN = r'''
"""Test-only fault injection for ibl-video processes (see tests/populate/test_faults.py)."""

import importlib
import json
import os
import sys
import time
import types

SLOW_TABLE_SOURCE = """
import os, time
import datajoint as dj
from schemas import config
from schemas.session import CameraRecording

schema = dj.Schema()


@schema
class SlowCopy(dj.Computed):
    definition = \"\"\"
    -> CameraRecording
    ---
    copy_path: varchar(255)     # relative to the data root
    n_bytes: int64
    \"\"\"

    def make_fetch(self, key):
        return ((CameraRecording & key).fetch1("raw_video_path"),)

    def make_compute(self, key, raw_video_path):
        root = config.current().data_root
        data = (root / raw_video_path).read_bytes()
        rel = f"slowcopy/{key['subject']}_{key['camera_label']}.avi"
        dst = root / rel
        dst.parent.mkdir(exist_ok=True)
        tmp = dst.with_name("." + dst.name + ".partial")
        seconds = float(os.environ.get("SLOWCOPY_SECONDS", "0"))
        with open(tmp, "wb") as fh:
            for i in range(8):
                fh.write(data[i * len(data) // 8:(i + 1) * len(data) // 8])
                fh.flush()
                time.sleep(seconds / 8)
        os.replace(tmp, dst)
        return (dict(key, copy_path=rel, n_bytes=len(data)),)

    def make_insert(self, key, row):
        self.insert1(row)
"""


def add_slow_table():
    import schemas

    if "faulttest" in schemas.SCHEMA_MODULES:
        return
    module = types.ModuleType("schemas.faulttest")
    sys.modules["schemas.faulttest"] = module
    schemas.faulttest = module
    exec(compile(SLOW_TABLE_SOURCE, "schemas/faulttest.py", "exec"), module.__dict__)
    schemas.SCHEMA_MODULES = (*schemas.SCHEMA_MODULES, "faulttest")


def remove_slow_table():
    import schemas

    schemas.SCHEMA_MODULES = tuple(m for m in schemas.SCHEMA_MODULES if m != "faulttest")
    sys.modules.pop("schemas.faulttest", None)


def log_call(path, table, key):
    line = json.dumps({"table": table, "key": {k: str(v) for k, v in key.items()}, "pid": os.getpid(), "t": time.time()})
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def wait_for_workers(calls_log, n):
    """Block until the call log shows n different processes (at most 60 s)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with open(calls_log) as fh:
            if len({json.loads(line)["pid"] for line in fh}) >= n:
                return
        time.sleep(0.05)


def patch_tables(slow, calls_log, barrier=0):
    """make_compute of each named table logs its call, then sleeps slow[name] seconds.

    With ``barrier`` n, a process's first call waits until n processes have made one.
    """
    import schemas

    first = [True]

    for module_name in schemas.SCHEMA_MODULES:
        module = importlib.import_module(f"schemas.{module_name}")
        for name, seconds in slow.items():
            cls = getattr(module, name, None)
            if cls is None or cls.__module__ != module.__name__ or "make_compute" not in vars(cls):
                continue
            original = cls.make_compute

            def wrapped(self, key, *args, _orig=original, _name=name, _s=seconds):
                if calls_log:
                    log_call(calls_log, _name, key)
                if barrier and first[0]:
                    first[0] = False
                    wait_for_workers(calls_log, barrier)
                time.sleep(_s)
                return _orig(self, key, *args)

            cls.make_compute = wrapped


def patch_functions(delays):
    """Each dotted function named sleeps delays[name] seconds before it runs."""
    for dotted, seconds in delays.items():
        module_name, attr = dotted.rsplit(".", 1)
        module = importlib.import_module(module_name)
        original = getattr(module, attr)

        def wrapped(*args, _orig=original, _s=seconds, **kwargs):
            time.sleep(_s)
            return _orig(*args, **kwargs)

        setattr(module, attr, wrapped)


def install():
    spec = json.loads(os.environ.get("IBL_VIDEO_TEST_FAULTS") or "{}")
    add_slow_table()
    patch_tables(spec.get("slow", {}), spec.get("calls_log"), spec.get("barrier", 0))
    patch_functions(spec.get("delay", {}))
'''

SITECUSTOMIZE = """
import os

if os.environ.get("IBL_VIDEO_TEST_FAULTS"):
    import ibl_video_faults

    ibl_video_faults.install()
"""

#: A hook inside CompressedVideo's encode, after the partial .mp4 is written and before it
#: is verified and renamed into place: a delay there lets the test kill mid-encode.
ENCODE_HOOK = "pipeline.compression._check_file"


# ---------------------------------------------------------------- helpers
def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


#: backend -> (port, user, DataJoint backend); "embedded" is the private server of the data root
SERVERS = {"embedded": None, "postgres": (5432, "postgres", "postgresql"), "mysql": (3306, "root", "mysql")}


def _backends() -> list[str]:
    chosen = os.environ.get("IBL_VIDEO_TEST_BACKENDS")
    names = [b.strip() for b in chosen.split(",")] if chosen else list(SERVERS)
    return [b for b in names if b in SERVERS]


def wait_for(condition, timeout: float, what: str, poll: float = 0.05):
    """Poll ``condition()`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll)
    pytest.fail(f"timed out after {timeout:g} s waiting for {what}")


def visible_files(root: Path) -> set[str]:
    """Files under the data root that a user would see as results (no hidden temp files,
    no object store, database or logs)."""
    found = set()
    for p in root.rglob("*"):
        rel = p.relative_to(root)
        if (
            p.is_file()
            and not any(part.startswith(".") for part in rel.parts)
            and rel.parts[0] != "logs"
        ):
            found.add(str(rel))
    return found


@dataclass
class Proc:
    """A started ``ibl-video`` process with its output in files."""

    popen: subprocess.Popen
    stdout_path: Path
    stderr_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        return self.popen.returncode

    def poll(self) -> int | None:
        return self.popen.poll()

    def wait(self, timeout: float | None = None) -> int:
        return self.popen.wait(timeout=timeout)

    def send_signal(self, signum: int) -> None:
        self.popen.send_signal(signum)

    def kill(self) -> None:
        self.popen.kill()

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        """Wait for the end; its stdout and stderr."""
        self.popen.wait(timeout=timeout)
        return self.stdout_path.read_text(), self.stderr_path.read_text()


@dataclass
class Pipeline:
    """One test's pipeline: data root, schema prefix, backend, and how to run the CLI."""

    backend: str
    settings: object
    connection: object
    plugin_dir: Path
    out_dir: Path
    procs: list = field(default_factory=list)

    @property
    def calls_log(self) -> Path:
        return self.out_dir / "calls.log"

    @property
    def root(self) -> Path:
        return self.settings.data_root

    def env(self, faults: dict | None = None, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJ_", "IBL_VIDEO_"))}
        env.update(
            IBL_VIDEO_DATA_ROOT=str(self.root), IBL_VIDEO_SCHEMA_PREFIX=self.settings.schema_prefix,
            PYTHONPATH=os.pathsep.join([str(self.plugin_dir), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
            IBL_VIDEO_TEST_FAULTS=json.dumps({"calls_log": str(self.calls_log), **(faults or {})}),
            DJ_LOG_LEVEL="WARNING", HF_HUB_OFFLINE="1",
        )  # fmt: skip
        if self.backend == "embedded":
            env["IBL_VIDEO_DATABASE"] = "embedded"
        else:
            port, user, dj_backend = SERVERS[self.backend]
            env.update(
                IBL_VIDEO_DATABASE="datajoint", DJ_HOST="127.0.0.1", DJ_PORT=str(port), DJ_USER=user,
                DJ_PASS="", DJ_BACKEND=dj_backend, DJ_USE_TLS="false",
            )  # fmt: skip
        env.update(extra)
        return env

    def start(self, *args: str, faults: dict | None = None, **extra: str) -> Proc:
        """Start ``ibl-video ARGS``; its stdout and stderr go to files (a pipe nobody reads
        would block a chatty process)."""
        out = self.out_dir / f"proc{len(self.procs)}"
        with open(f"{out}.out", "w") as stdout, open(f"{out}.err", "w") as stderr:
            popen = subprocess.Popen(
                [sys.executable, "-m", "populate.cli", *args], cwd=ROOT, env=self.env(faults, **extra),
                stdout=stdout, stderr=stderr,
            )  # fmt: skip
        proc = Proc(popen, Path(f"{out}.out"), Path(f"{out}.err"))
        self.procs.append(proc)
        return proc

    def run(
        self, *args: str, faults: dict | None = None, timeout: float = 120, **extra: str
    ) -> subprocess.CompletedProcess:
        proc = self.start(*args, faults=faults, **extra)
        stdout, stderr = proc.communicate(timeout=timeout)
        return subprocess.CompletedProcess(proc.popen.args, proc.returncode, stdout, stderr)

    def cli(self, *args: str):
        """Run ``ibl-video ARGS`` in this process (faster than a subprocess; same database).

        On a lab server the command runs as a subprocess instead: DataJoint reads its
        ``DJ_*`` settings once per process, and this one is configured for the tests.
        """
        from typer.testing import CliRunner

        from populate.cli import app

        if self.backend != "embedded":
            done = self.run(*args)
            return types.SimpleNamespace(exit_code=done.returncode, stdout=done.stdout, output=done.stdout + done.stderr)

        env = {k: v for k, v in self.env().items() if k.startswith(("IBL_VIDEO_", "DJ_"))}
        env.pop("IBL_VIDEO_TEST_FAULTS")
        return CliRunner().invoke(app, list(args), env=env)

    def table(self, name: str):
        from populate.tables import all_tables

        return all_tables()[name]

    def reserved(self, name: str) -> list[dict]:
        from populate.worker import jobs_table

        job = jobs_table(self.table(name))
        return [] if job is None else (job & "status='reserved'").proj("pid", "host").to_dicts()

    def job_rows(self, name: str) -> list[dict]:
        from populate.worker import jobs_table

        job = jobs_table(self.table(name))
        return [] if job is None else job.proj("status", "pid", "error_message").to_dicts()

    def calls(self, table: str | None = None) -> list[dict]:
        if not self.calls_log.exists():
            return []
        rows = [json.loads(line) for line in self.calls_log.read_text().splitlines()]
        return [r for r in rows if table is None or r["table"] == table]

    def add_sessions(self, subjects: list[str], duration_s: float = 4.0) -> list[dict]:
        from acquisition.insert import insert_recording
        from acquisition.session import record_session

        keys = []
        for i, subject in enumerate(subjects):
            rec = record_session(
                self.root, subject, "ephys", duration_s, scale=0.125, progress=False, seed=i
            )
            keys.append(insert_recording(rec))
        return keys

    def reconnect(self) -> None:
        """Reconnect this test process's own connection (after a server restart)."""
        wait_for(lambda: _try_connect(self.connection), 30, "the test's own reconnection")


def _try_connect(connection) -> bool:
    try:
        connection.connect()
        connection.cancel_transaction()
        return bool(connection.adapter.ping(connection._conn))
    except Exception:
        return False


@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("fault_plugin")
    (folder / "ibl_video_faults.py").write_text(PLUGIN)
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return folder


@pytest.fixture(scope="module")
def embedded_root() -> Path:
    """Data root of the embedded server shared by this module's tests (stopped at the end).

    Not under pytest's temporary folder: run as root, the server runs as another user, and
    a pytest session starting meanwhile makes ``pytest-of-root`` private again, which
    locks that user out of its own data folder.
    """
    from schemas.config import Settings
    from schemas.database import stop_embedded

    root = Path(tempfile.mkdtemp(prefix="ibl-video-faults-"))
    try:
        yield root
    finally:
        stop_embedded(Settings(data_root=root, database="embedded"))
        shutil.rmtree(root, ignore_errors=True)


def _make_pipeline(backend: str, root: Path, plugin_dir: Path, tmp_path: Path):
    import datajoint as dj

    import schemas
    from schemas.config import Settings
    from schemas.database import configure_store, connect

    sys.path.insert(0, str(plugin_dir))
    import ibl_video_faults

    ibl_video_faults.add_slow_table()
    prefix = f"test_{uuid.uuid4().hex[:10]}"
    if backend == "embedded":
        settings = Settings(data_root=root, schema_prefix=prefix, database="embedded")
        connection = connect(settings)
    else:
        port, user, dj_backend = SERVERS[backend]
        if not _answers("127.0.0.1", port):
            ibl_video_faults.remove_slow_table()
            message = f"{backend} server at 127.0.0.1:{port} does not answer"
            if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
                pytest.fail(message + " (CI=true: every backend must run)")
            pytest.skip(message)
        settings = Settings(data_root=root, schema_prefix=prefix, database="datajoint")
        configure_store(settings)
        connection = dj.Connection(
            host="127.0.0.1", user=user, password="", port=port, backend=dj_backend, use_tls=False
        )
    schemas.activate(settings, connection=connection)
    return Pipeline(backend, settings, connection, plugin_dir, tmp_path), ibl_video_faults


@pytest.fixture
def pg_pipe(plugin_dir, tmp_path):
    """A pipeline on the machine's PostgreSQL with its data root in ``tmp_path/data``."""
    root = tmp_path / "data"
    root.mkdir()
    pipe, plugin = _make_pipeline("postgres", root, plugin_dir, tmp_path)
    try:
        yield pipe
    finally:
        _teardown(pipe, plugin)


def _teardown(pipe: Pipeline, plugin) -> None:
    import datajoint as dj

    import schemas

    for proc in pipe.procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if not pipe.connection.adapter.ping(pipe.connection._conn):
        pipe.reconnect()
    with dj.config.override(safemode=False):
        schemas.drop_all()
    plugin.remove_slow_table()


@pytest.fixture
def pipe(embedded_root, plugin_dir, tmp_path):
    """Fresh schemas on the embedded server, with the SlowCopy test table."""
    pipeline, plugin = _make_pipeline("embedded", embedded_root, plugin_dir, tmp_path)
    yield pipeline
    _teardown(pipeline, plugin)


@pytest.fixture(params=_backends())
def any_pipe(request, embedded_root, plugin_dir, tmp_path, tmp_path_factory):
    """Like ``pipe``, on the embedded server and on the machine's PostgreSQL and MariaDB."""
    root = embedded_root if request.param == "embedded" else tmp_path_factory.mktemp(f"faults_{request.param}")
    pipeline, plugin = _make_pipeline(request.param, root, plugin_dir, tmp_path)
    yield pipeline
    _teardown(pipeline, plugin)


def _restart_embedded(pipe: Pipeline, down_s: float) -> None:
    from schemas.database import stop_embedded

    assert stop_embedded(pipe.settings)
    time.sleep(down_s)
    _start_embedded(pipe)


def _start_embedded(pipe: Pipeline) -> None:
    started = pipe.run("db", "start", timeout=60)
    assert started.returncode == 0, started.stderr
    pipe.reconnect()


# ---------------------------------------------------------------- SIGKILL mid-key
def _kill_case(pipe: Pipeline, table: str) -> tuple[dict, dict, str | None]:
    """Faults and environment that make ``table`` slow mid-key, and the temp file to wait for."""
    if table == "SlowCopy":
        return {}, {"SLOWCOPY_SECONDS": "6"}, "slowcopy/.*.partial"
    if table == "CompressedVideo":
        import pipeline.compression

        if hasattr(pipeline.compression, ENCODE_HOOK.rsplit(".", 1)[1]):
            return {"delay": {ENCODE_HOOK: 6}}, {}, "**/.*.partial.mp4"
    return {"slow": {table: 6}}, {}, None


def _real_table() -> str:
    """The real table that writes files, if the pipeline has it yet; else CameraRecording."""
    import schemas

    return "CompressedVideo" if "compression" in schemas.SCHEMA_MODULES else "CameraRecording"


@pytest.mark.parametrize("table", ["SlowCopy", "real"])
def test_killed_worker_leaves_nothing_and_its_key_is_recovered(any_pipe, table):
    """SlowCopy shows the mechanism (killed while its file is half written); "real" is the
    pipeline's CompressedVideo (killed mid-encode), or CameraRecording until it exists."""
    pipe = any_pipe
    if table == "real":
        table = _real_table()
    pipe.add_sessions(["KIL"])
    cls = pipe.table(table)
    if table != "CameraRecording":
        pipe.table("CameraRecording").populate(reserve_jobs=True)
    n_keys = len(cls().key_source)
    before = visible_files(pipe.root)
    store_before = {p for p in (pipe.root / ".store").rglob("*") if p.is_file()}
    faults, extra, partial_glob = _kill_case(pipe, table)

    worker = pipe.start("worker", table, "--max-calls", "1", faults=faults, **extra)
    reserved = wait_for(lambda: pipe.reserved(table), 60, f"a reserved {table} key")[0]
    if partial_glob:
        wait_for(lambda: list(pipe.root.glob(partial_glob)), 30, f"a partial file {partial_glob}")
    else:
        time.sleep(0.5)
    os.kill(reserved["pid"], signal.SIGKILL)
    assert worker.wait(timeout=30) == -signal.SIGKILL

    # no row, no result file in place, no object in the store; the reservation is left
    assert len(cls()) == 0
    assert visible_files(pipe.root) == before
    assert {p for p in (pipe.root / ".store").rglob("*") if p.is_file()} == store_before
    assert [r["pid"] for r in pipe.reserved(table)] == [reserved["pid"]]
    listed = pipe.cli("recover", "--dry-run")
    assert listed.exit_code == 0, listed.output
    assert f"process {reserved['pid']} on" in listed.stdout and "is gone" in listed.stdout
    status = pipe.cli("status").output
    assert "1 reservation(s) belong to workers that are gone" in status
    assert "workers (reserved keys)" in status and str(reserved["pid"]) in status and "gone" in status
    assert pipe.reserved(table)  # a dry run frees nothing

    # the next populate recovers the reservation first, then computes the key
    key = {k: v for k, v in reserved.items() if k in cls.primary_key}
    done = pipe.run("populate", table, "--key", json.dumps({k: str(v) for k, v in key.items()}))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "recovered" in done.stderr and f"process {reserved['pid']}" in done.stderr
    assert f"{table}: 1 done, 0 errors" in done.stdout
    assert len(cls & key) == 1
    assert pipe.reserved(table) == []
    new_files = visible_files(pipe.root) - before
    hidden_left = [p for p in pipe.root.rglob(".*partial*")]
    assert hidden_left == []  # the next attempt cleaned or replaced the dead one's temp file
    assert n_keys > 1 and len(cls()) == 1  # only the restricted key
    if table == "SlowCopy":
        assert new_files == {(cls & key).fetch1("copy_path")}
    if table == "CompressedVideo":
        path = (cls & key).fetch1("compressed_video_path")
        assert path in new_files


# ---------------------------------------------------------------- database server restarts
def test_database_restart_under_a_loop_worker(pipe):
    """Restarted mid-key: reported, the key goes back to pending, work goes on. Then stopped
    for good: the run ends with exit code 3 and says why."""
    pipe.add_sessions(["RST"])
    run = pipe.start(
        "populate", "CameraRecording", "--loop", "--interval", "0.3", "--reconnect-timeout", "4",
        faults={"slow": {"CameraRecording": 1.2}},
    )  # fmt: skip
    cls = pipe.table("CameraRecording")
    wait_for(
        lambda: len(cls()) >= 1 and pipe.reserved("CameraRecording"),
        60,
        "one key done and the next one reserved",
    )
    _restart_embedded(pipe, down_s=1.5)
    wait_for(lambda: len(cls()) == 3, 60, "all 3 recordings after the restart", poll=0.2)
    assert run.poll() is None  # still polling for new keys
    assert [r for r in pipe.job_rows("CameraRecording") if r["status"] == "error"] == []
    keys = [json.dumps(c["key"], sort_keys=True) for c in pipe.calls("CameraRecording")]
    assert len(set(keys)) == 3  # the interrupted key was computed again, nothing else twice

    from schemas.database import stop_embedded

    t0 = time.monotonic()
    assert stop_embedded(pipe.settings)
    try:
        stdout, stderr = run.communicate(timeout=60)
        elapsed = time.monotonic() - t0
    finally:
        _start_embedded(pipe)
    assert run.returncode == 3, stdout + stderr
    # the restart was reported (by the worker's reconnect, or after DataJoint's own retry)
    assert stderr.count("lost the connection to the database server") >= 2
    assert "is back after" in stderr or "DataJoint reconnected" in stderr
    assert "did not come back within 4 s" in stderr
    assert "CameraRecording: 3 done, 0 errors" in stdout
    assert elapsed < 20


# ---------------------------------------------------------------- bad input
def test_corrupt_video_in_one_of_three_sessions(any_pipe):
    pipe = any_pipe
    from pipeline import layout

    keys = pipe.add_sessions(["COR0", "COR1", "COR2"])
    folder = pipe.root / layout.session_folder("COR1", keys[1]["session_date"], 1)
    bad = folder / layout.RAW_VIDEO_DIR / layout.raw_video_name("left")
    bad.write_bytes(bad.read_bytes()[:2048])

    run = pipe.run("populate", "CameraRecording", "SyncPulses", "--workers", "2")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "CameraRecording: 8 done, 1 errors" in run.stdout
    assert str(bad) in run.stderr  # the worker's log line names the file
    assert "ibl-video errors" in run.stderr

    recordings, sync = pipe.table("CameraRecording"), pipe.table("SyncPulses")
    for subject in ("COR0", "COR2"):
        assert len(recordings & {"subject": subject}) == 3
        assert len(sync & {"subject": subject}) == 3
    assert len(recordings & {"subject": "COR1"}) == 2

    listed = pipe.cli("errors", "--json")
    assert listed.exit_code == 0, listed.output
    errors = json.loads(listed.stdout)
    assert len(errors) == 1
    assert errors[0]["table"] == "CameraRecording"
    assert errors[0]["key"]["subject"] == "COR1" and errors[0]["key"]["camera_label"] == "left"
    assert str(bad) in errors[0]["message"]
    human = pipe.cli("errors", "CameraRecording")
    assert "CameraRecording subject=COR1" in human.stdout and str(bad) in human.stdout
    status = json.loads(pipe.cli("status", "--json").stdout)
    assert status["CameraRecording"] == {"rows": 8, "pending": 0, "reserved": 0, "errors": 1}
    assert status["SyncPulses"] == {"rows": 8, "pending": 0, "reserved": 0, "errors": 0}
    assert status["Session"] == {"rows": 3, "pending": 0, "reserved": 0, "errors": 0}

    # retry clears the error: the key is pending again, and populate tries it again
    assert pipe.cli("retry", "CameraRecording", "--key", '{"subject": "COR1"}').exit_code == 0
    status = json.loads(pipe.cli("status", "--json").stdout)
    assert status["CameraRecording"] == {"rows": 8, "pending": 1, "reserved": 0, "errors": 0}


# ---------------------------------------------------------------- concurrency
def test_two_workers_started_at_once_compute_every_key_once(any_pipe):
    pipe = any_pipe
    pipe.add_sessions(["TW0", "TW1"])
    # each worker's first make waits until the other has started one: they overlap for sure
    faults = {"slow": {"CameraRecording": 0.3, "SyncPulses": 0.0}, "barrier": 2}
    runs = [
        pipe.start("populate", "CameraRecording", "SyncPulses", faults=faults) for _ in range(2)
    ]
    outputs = [r.communicate(timeout=120) for r in runs]
    for run, (stdout, stderr) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, stdout + stderr
    for table in ("CameraRecording", "SyncPulses"):
        calls = pipe.calls(table)
        keys = [json.dumps(c["key"], sort_keys=True) for c in calls]
        assert len(keys) == len(set(keys)) == 6, calls  # each key computed exactly once
        assert len(pipe.table(table)()) == 6
        assert pipe.job_rows(table) == []  # nothing left reserved or in error
    assert len({c["pid"] for c in pipe.calls("CameraRecording")}) == 2  # both workers worked


# ---------------------------------------------------------------- Ctrl-C
def test_ctrl_c_finishes_the_current_key_then_exits_0(pipe):
    pipe.add_sessions(["SIG"])
    pipe.table("CameraRecording").populate(reserve_jobs=True)
    run = pipe.start("populate", "SlowCopy", SLOWCOPY_SECONDS="3")
    reserved = wait_for(lambda: pipe.reserved("SlowCopy"), 60, "a reserved SlowCopy key")[0]
    run.send_signal(signal.SIGINT)
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 0, stdout + stderr
    assert "finishing the current key" in stderr
    cls = pipe.table("SlowCopy")
    assert len(cls & {k: v for k, v in reserved.items() if k in cls.primary_key}) == 1  # finished
    assert len(cls()) < 3  # and nothing more after it
    assert f"SlowCopy: {len(cls())} done, 0 errors" in stdout
    assert pipe.reserved("SlowCopy") == []


def test_second_ctrl_c_aborts_the_current_key(pipe):
    pipe.add_sessions(["ABO"])
    pipe.table("CameraRecording").populate(reserve_jobs=True)
    before = visible_files(pipe.root)
    run = pipe.start("populate", "SlowCopy", SLOWCOPY_SECONDS="8")
    reserved = wait_for(lambda: pipe.reserved("SlowCopy"), 60, "a reserved SlowCopy key")[0]
    wait_for(lambda: list(pipe.root.glob("slowcopy/.*.partial")), 30, "the partial copy")
    run.send_signal(signal.SIGINT)
    time.sleep(0.5)
    run.send_signal(signal.SIGINT)
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 130, stdout + stderr
    assert "abort" in stderr
    assert len(pipe.table("SlowCopy")()) == 0
    assert visible_files(pipe.root) == before
    key = {k: v for k, v in reserved.items() if k in pipe.table("SlowCopy").primary_key}
    from populate.worker import jobs_table

    assert (
        len(jobs_table(pipe.table("SlowCopy")) & key) == 0
    )  # neither reserved nor an error: pending again
