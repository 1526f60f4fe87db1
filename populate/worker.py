"""Populate workers: DataJoint's job reservation, dead-worker recovery, reconnects, clean stops.

What ``ibl-video populate`` runs. Every computed or imported table of the pipeline has a
DataJoint jobs table (``Table.jobs``, statuses ``pending``, ``reserved``, ``success``,
``error``, ``ignore``). A worker takes a key only by reserving its job row (DataJoint's
atomic ``UPDATE ... WHERE status='pending'``, which records host, process id, connection id
and time), so any number of workers on any number of machines share one server's work and
never compute a key twice.

One worker (:class:`Worker`, one process, one connection):

1. recovers reservations left by workers that died (:func:`recover`);
2. for each table in dependency order: adds new keys to the jobs table
   (``jobs.refresh()``), then reserves and computes the pending keys one at a time,
   logging one line per key (table, key, seconds) to stderr and to
   ``<data root>/logs/ibl-video.log``;
3. repeats while it made progress or while a sibling worker (same ``populate`` run) holds
   a key upstream of a selected table (its result gives new keys downstream); with
   ``loop`` it polls every ``interval`` seconds until stopped.

While a key is computed, a heartbeat thread (its own connection) refreshes the job row's
``reserved_time`` every ``heartbeat`` seconds, so a reservation whose time is old belongs
to a dead worker, however long a key takes.

Stopping: Ctrl-C or SIGTERM finishes the current key and exits (code 0); a second one
aborts the key (its transaction is rolled back, its job row deleted so it stays pending).
A lost database connection (server restarted) is reported and retried with backoff for
``reconnect_timeout`` seconds; the interrupted key goes back to pending. If the server does
not return, the worker exits with :data:`EXIT_DATABASE_LOST` and says so.

:func:`run_workers` (``ibl-video populate --workers N``) starts N worker processes of the
command line itself, each in its own session (a terminal's Ctrl-C reaches only the
supervisor, so a worker's ffmpeg children are not killed mid-key), forwards stop and abort
requests to them through their stdin, and sums up their reports.

This module reads DataJoint 2.3.5's jobs tables directly and calls its per-key
``AutoPopulate._populate1`` (reserve, three-part make in a transaction, error record) so
that stopping between keys is in the worker's hands: ``populate()`` replaces the SIGTERM
handler with one that raises inside ``make``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import inspect
import json
import logging
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("ibl_video.worker")

#: Exit codes of a worker and of ``ibl-video populate``.
EXIT_OK = 0
EXIT_ERRORS = 1  #: some keys failed (non-loop run), or a worker died
EXIT_USAGE = 2
EXIT_DATABASE_LOST = 3  #: the database server did not come back within the timeout
EXIT_ABORTED = 130  #: a second Ctrl-C / SIGTERM aborted the current key

LOG_FILE = "ibl-video.log"
DEFAULT_STALE_AFTER_S = 7200.0
DEFAULT_RECONNECT_TIMEOUT_S = 60.0
DEFAULT_HEARTBEAT_S = 30.0
#: A key whose make fails this many times in one worker with a lost connection is then
#: recorded as an ordinary error instead of being put back to pending again.
MAX_TRANSIENT_RETRIES = 3
_UPSTREAM_POLL_S = 1.0


# ---------------------------------------------------------------- small helpers
def format_key(key: Mapping[str, Any]) -> str:
    """``name=value`` pairs of a primary key, for log lines and messages."""
    return " ".join(f"{k}={_plain(v)}" for k, v in key.items())


def _plain(value: Any) -> Any:
    """A JSON-friendly form of a key value (dates as ISO text, numpy scalars as Python)."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value


def plain_key(key: Mapping[str, Any]) -> dict[str, Any]:
    """A key with JSON-friendly values."""
    return {k: _plain(v) for k, v in key.items()}


def pid_alive(pid: int) -> bool:
    """True if a process with this id runs on this machine (zombies count as dead)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def parent_pid(pid: int) -> int | None:
    """Parent process id of a process on this machine (None if it is gone)."""
    import psutil

    try:
        return psutil.Process(pid).ppid()
    except (psutil.Error, ValueError):
        return None


def this_host() -> str:
    """The host name DataJoint records in a job row."""
    return platform.node()


def accepted_make_kwargs(table: type, options: Mapping[str, Any]) -> dict[str, Any]:
    """The subset of ``options`` that the table's ``make_fetch`` (or ``make``) accepts.

    A table with the three-part make receives ``make_kwargs`` in ``make_fetch``; one with
    its own ``make`` receives them there. A parameter is accepted when it is named in the
    signature (or the signature has ``**kwargs``); options whose value is None are dropped.
    """
    given = {k: v for k, v in options.items() if v is not None}
    if not given:
        return {}
    from datajoint.autopopulate import AutoPopulate

    own_make = table.make is not AutoPopulate.make
    func = table.make if own_make or not hasattr(table, "make_fetch") else table.make_fetch
    params = inspect.signature(func).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return given
    named = {n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return {k: v for k, v in given.items() if k in named}


def _connection_of(tables: Mapping[str, type]):
    return next(iter(tables.values())).connection


def _server_now(connection) -> dt.datetime:
    """The database server's clock, naive (as ``datetime(3)`` job times are stored)."""
    now = connection.query("SELECT CURRENT_TIMESTAMP(3)").fetchone()[0]
    return now.replace(tzinfo=None) if now.tzinfo is not None else now


def jobs_table(table: type, *, declare: bool = False):
    """The DataJoint jobs table of ``table``; None if it was never declared and not ``declare``.

    Unlike ``table.jobs`` this does not create the jobs table unless asked, and it
    tolerates another process declaring it at the same moment.
    """
    from datajoint.jobs import Job

    job = Job(table())
    if job.is_declared:
        return job
    if not declare:
        return None
    for attempt in range(5):
        try:
            job.declare()
        except Exception:
            if job.is_declared:  # declared concurrently by another worker
                break
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))
        else:
            break
    return job


def _reserved_rows(job) -> list[dict]:
    return (job & "status='reserved'").proj("host", "pid", "reserved_time").to_dicts()


# ---------------------------------------------------------------- status, errors, retry
def table_status(tables: Mapping[str, type] | None = None) -> dict[str, dict[str, int]]:
    """Per table: rows done, keys pending, reserved and in error.

    ``pending`` counts keys of the table's ``key_source`` that have no row yet and are
    neither reserved, in error nor ignored (whether or not a worker has put them in the
    jobs table yet). Lookup and manual tables have zeros for pending, reserved and errors.
    Reads only: no jobs table is created.
    """
    import datajoint as dj
    from datajoint.condition import Not

    from populate.tables import all_tables

    status: dict[str, dict[str, int]] = {}
    for name, table in (tables if tables is not None else all_tables()).items():
        entry = {"rows": len(table()), "pending": 0, "reserved": 0, "errors": 0}
        if issubclass(table, dj.Imported | dj.Computed):
            todo = table().key_source - table().proj()
            job = jobs_table(table)
            if job is None:
                entry["pending"] = len(todo)
            else:
                counts = job.progress()
                busy = job & "status in ('reserved', 'error', 'ignore')"
                entry.update(
                    pending=len(todo.restrict(Not(busy), semantic_check=False)),
                    reserved=counts["reserved"],
                    errors=counts["error"],
                )
        status[name] = entry
    return status


@dataclass(frozen=True)
class JobError:
    """One job in error: which table and key, what went wrong, where and when."""

    table: str
    key: dict[str, Any]
    message: str
    host: str
    pid: int
    time: str
    stack: str | None = None


def list_errors(tables: Mapping[str, type], *, stack: bool = False) -> list[JobError]:
    """The error rows of the jobs tables of ``tables`` (oldest first)."""
    found = []
    for name, table in tables.items():
        job = jobs_table(table)
        if job is None:
            continue
        attrs = ["error_message", "host", "pid", "completed_time"] + (
            ["error_stack"] if stack else []
        )
        for row in (job & "status='error'").proj(*attrs).to_dicts(order_by="completed_time"):
            key = {k: row[k] for k in job.primary_key}
            when = row["completed_time"]
            found.append(
                JobError(
                    table=name, key=plain_key(key), message=row["error_message"], host=row["host"],
                    pid=int(row["pid"]), time=when.isoformat(sep=" ", timespec="seconds") if when else "",
                    stack=row.get("error_stack") if stack else None,
                )
            )  # fmt: skip
    return found


def check_restriction(
    tables: Mapping[str, type], restriction: Mapping[str, Any]
) -> dict[str, type]:
    """The tables among ``tables`` whose primary key has every attribute of ``restriction``.

    DataJoint silently ignores dict entries that name no attribute, which would turn a
    typo into "all keys"; this is the guard against it.

    Raises
    ------
    ValueError
        If no table has all the attributes; the message lists each table's key attributes.
    """
    if not restriction:
        return dict(tables)
    fits = {n: t for n, t in tables.items() if set(restriction) <= set(t.primary_key)}
    if not fits:
        keys = "; ".join(f"{n}: {', '.join(t.primary_key)}" for n, t in tables.items())
        raise ValueError(
            f"no table has the key attribute(s) {', '.join(sorted(restriction))} ({keys})"
        )
    return fits


def check_restriction_all(tables: Mapping[str, type], restriction: Mapping[str, Any]) -> None:
    """Check that every table's primary key has every attribute of ``restriction``.

    Raises
    ------
    ValueError
        Naming the tables that lack an attribute, with their key attributes.
    """
    lacking = {n: t for n, t in tables.items() if not set(restriction) <= set(t.primary_key)}
    if lacking:
        keys = "; ".join(f"{n}: {', '.join(t.primary_key)}" for n, t in lacking.items())
        raise ValueError(
            f"the key attribute(s) {', '.join(sorted(restriction))} are not all in the key of {keys}"
        )


def clear_errors(
    tables: Mapping[str, type], restriction: Mapping[str, Any] | None = None
) -> dict[str, int]:
    """Delete error rows (optionally restricted by key values) so the next populate retries them.

    Returns the number of error rows deleted per table (tables with none are left out).

    Raises
    ------
    ValueError
        If ``restriction`` names an attribute that no table's key has.
    """
    restriction = dict(restriction or {})
    cleared = {}
    for name, table in check_restriction(tables, restriction).items():
        job = jobs_table(table)
        if job is None:
            continue
        n = (job & "status='error'" & restriction).delete_quick(get_count=True)
        if n:
            cleared[name] = n
            log.info(
                "retry: cleared %d error(s) of %s%s",
                n,
                name,
                f" ({format_key(restriction)})" if restriction else "",
            )
    return cleared


# ---------------------------------------------------------------- recovery of dead reservations
@dataclass(frozen=True)
class Reservation:
    """A reserved job: who holds it (host, process), its last heartbeat, and whether that
    worker is gone (``reason`` says why; empty for a live one)."""

    table: str
    key: dict[str, Any]
    host: str
    pid: int
    reserved_time: str
    age_s: float
    reason: str

    @property
    def alive(self) -> bool:
        return not self.reason


def find_dead_reservations(
    tables: Mapping[str, type],
    stale_after: float = DEFAULT_STALE_AFTER_S,
    *,
    jobs: Mapping[str, Any] | None = None,
) -> list[Reservation]:
    """Reserved jobs whose worker is gone (:func:`reservations` that are not alive)."""
    return [r for r in reservations(tables, stale_after, jobs=jobs) if not r.alive]


def reservations(
    tables: Mapping[str, type],
    stale_after: float = DEFAULT_STALE_AFTER_S,
    *,
    jobs: Mapping[str, Any] | None = None,
) -> list[Reservation]:
    """Every reserved job, with its worker's host, process and heartbeat age; dead ones have
    a ``reason``.

    A reservation is dead if it was made on this host by a process that no longer runs,
    or (any host) if its ``reserved_time`` is older than ``stale_after`` seconds: this
    module's workers refresh that time every few seconds while they compute, so an old
    time means no worker has been alive for it that long. A reservation by a live process
    on this host is never counted dead, however old.

    Parameters
    ----------
    stale_after : float
        Seconds without a heartbeat after which a reservation from another host is dead.
    jobs : mapping of str to jobs table, optional
        Jobs tables already at hand (by table name).
    """
    host = this_host()
    found = []
    now = None
    for name, table in tables.items():
        job = jobs[name] if jobs and name in jobs else jobs_table(table)
        if job is None:
            continue
        rows = _reserved_rows(job)
        if rows and now is None:
            now = _server_now(job.connection)
        for row in rows:
            key = {k: row[k] for k in job.primary_key}
            when = row["reserved_time"]
            age = (now - when).total_seconds() if when is not None else float("inf")
            pid = int(row["pid"])
            reason = ""
            if row["host"] == host:
                if not pid_alive(pid):
                    reason = f"process {pid} on {host} is gone"
            elif age > stale_after:
                # another host: its process ids say nothing here, only the heartbeat does
                reason = f"no heartbeat from {row['host']} (process {pid}) for {age:.0f} s > {stale_after:g} s"
            found.append(
                Reservation(
                    table=name, key=plain_key(key), host=row["host"], pid=pid,
                    reserved_time=when.isoformat(sep=" ", timespec="seconds") if when else "", age_s=age, reason=reason,
                )
            )  # fmt: skip
    return found


def recover(
    tables: Mapping[str, type],
    stale_after: float = DEFAULT_STALE_AFTER_S,
    *,
    dry_run: bool = False,
    jobs: Mapping[str, Any] | None = None,
) -> list[Reservation]:
    """Delete the job rows of dead reservations (see :func:`find_dead_reservations`).

    The keys become pending again at the next ``jobs.refresh()`` (every populate pass).
    Nothing of the dead worker's key is in the table: DataJoint inserts a key's rows in one
    transaction, which the server rolled back when the worker's connection closed.
    Returns the reservations deleted (each logged); with ``dry_run``, those that would be.
    """
    jobs = dict(jobs or {})
    dead = find_dead_reservations(tables, stale_after, jobs=jobs)
    if dry_run:
        return dead
    done = []
    for r in dead:
        job = jobs.get(r.table) or jobs_table(tables[r.table])
        n = (job & r.key & {"status": "reserved", "host": r.host, "pid": r.pid}).delete_quick(
            get_count=True
        )
        if n:  # another worker may have recovered it first
            done.append(r)
            log.warning(
                "recovered %s %s: reserved %s, %s",
                r.table,
                format_key(r.key),
                r.reserved_time,
                r.reason,
            )
    return done


# ---------------------------------------------------------------- logging
def setup_logging(log_dir: Path, *, worker: bool = False) -> Path:
    """Send the project's log records to ``<log_dir>/ibl-video.log`` as well as stderr.

    The file gets INFO and above (DEBUG with ``--verbose``) whatever ``--quiet`` says, with
    host and process id on each line. The console keeps the level the command line chose.
    Returns the log file's path.
    """
    root = logging.getLogger()
    console_level = root.level or logging.WARNING
    for handler in root.handlers:
        if handler.level == logging.NOTSET:
            handler.setLevel(console_level)
        if worker:
            handler.setFormatter(
                logging.Formatter("%(asctime)s %(levelname)s [%(process)d] %(message)s")
            )
    file_level = logging.DEBUG if console_level <= logging.DEBUG else logging.INFO
    project = logging.getLogger("ibl_video")
    project.setLevel(file_level)
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / LOG_FILE
    for old in [h for h in project.handlers if getattr(h, "_ibl_video_log", False)]:
        if Path(old.baseFilename) != path:  # another data root's file, from an earlier call
            project.removeHandler(old)
            old.close()
    if not any(getattr(h, "_ibl_video_log", False) for h in project.handlers):
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setLevel(file_level)
        handler.setFormatter(
            logging.Formatter(f"%(asctime)s {this_host()}[%(process)d] %(levelname)s %(message)s")
        )
        handler._ibl_video_log = True
        project.addHandler(handler)
    # DataJoint sets its own level when first imported (after the command line chose one)
    # and prints through its own handler: keep it to warnings, printed once.
    datajoint_log = logging.getLogger("datajoint")
    datajoint_log.setLevel(logging.DEBUG if console_level <= logging.DEBUG else logging.WARNING)
    datajoint_log.propagate = False
    # DataJoint logs each suppressed make error bare; the worker logs it with table and key.
    if _drop_datajoint_make_errors not in datajoint_log.filters:
        datajoint_log.addFilter(_drop_datajoint_make_errors)
    logging.getLogger("numexpr").setLevel(logging.WARNING)
    return path


def _drop_datajoint_make_errors(record: logging.LogRecord) -> bool:
    return not (record.funcName == "_populate1" and record.levelno >= logging.ERROR)


# ---------------------------------------------------------------- stopping
class Aborted(Exception):
    """A second stop request: the current key was abandoned."""


class DatabaseLost(Exception):
    """The database server did not come back within the reconnect timeout."""


class StoppedWaiting(Exception):
    """Asked to stop while waiting for the database server."""


class StopRequest:
    """Stop after the current key on the first request; abort on the second.

    Requests come from SIGINT/SIGTERM (main thread) or, for a supervised worker, from a
    thread reading the supervisor's ``stop`` / ``abort`` lines on stdin.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self.aborted = False

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def request(self, why: str) -> bool:
        """Ask to stop after the current key; False if a stop was already requested."""
        with self._lock:
            if self._event.is_set():
                return False
            self._event.set()
        log.warning("%s: finishing the current key, then stopping (again to abort)", why)
        return True

    def abort_from_thread(self, why: str) -> None:
        """Abort from a non-main thread: interrupt the main thread like a second Ctrl-C."""
        self._event.set()
        log.warning("%s: aborting the current key", why)
        os.kill(os.getpid(), signal.SIGINT)

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True if a stop was requested meanwhile."""
        return self._event.wait(max(seconds, 0.0))

    def _on_signal(self, signum, frame) -> None:
        if self._event.is_set():
            self.aborted = True
            raise KeyboardInterrupt(f"{signal.Signals(signum).name} received twice")
        self.request(f"{signal.Signals(signum).name} received")

    @contextlib.contextmanager
    def signals(self):
        """Handle SIGINT and SIGTERM with this request while the block runs (main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for s, h in old.items():
                signal.signal(s, h)

    def watch_stdin(self, stream=None) -> threading.Thread:
        """Follow a supervisor's requests on stdin; its end (supervisor gone) means stop."""
        stream = stream or sys.stdin

        def follow() -> None:
            for line in stream:
                command = line.strip()
                if command == "stop":
                    self.request("asked to stop")
                elif command == "abort":
                    self.abort_from_thread("asked to abort")
                    return
            self.request("the supervising process is gone")

        thread = threading.Thread(target=follow, name="stdin-watch", daemon=True)
        thread.start()
        return thread


# ---------------------------------------------------------------- database connection
def _is_connection_error(exc: BaseException) -> bool:
    """Errors that mean the connection (not the key) failed."""
    from datajoint.errors import LostConnectionError

    if isinstance(exc, LostConnectionError):
        return True
    kinds: list[type] = []
    with contextlib.suppress(ImportError):
        import psycopg2

        kinds += [psycopg2.OperationalError, psycopg2.InterfaceError]
    with contextlib.suppress(ImportError):
        import pymysql

        kinds += [pymysql.err.OperationalError, pymysql.err.InterfaceError]
    return isinstance(exc, tuple(kinds))


def _alive(connection) -> bool:
    """True if the server answers on this connection.

    (DataJoint 2.3.5's ``Connection.is_connected`` stays True after the server went away:
    its adapters' ``ping`` returns False instead of raising.)
    """
    try:
        return connection._conn is not None and bool(connection.adapter.ping(connection._conn))
    except Exception:
        return False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _describe_server(connection) -> str:
    info = connection.conn_info
    return f"{info['host']}:{info['port']}"


def clone_connection(connection):
    """A new DataJoint connection to the same server with the same credentials."""
    import datajoint as dj

    info = connection.conn_info
    with warnings.catch_warnings():
        # DataJoint warned about MariaDB when the worker connected; once is enough
        warnings.filterwarnings("ignore", message="MariaDB is not officially supported")
        return dj.Connection(
            host=info["host"], user=info["user"], password=info["passwd"], port=info["port"],
            use_tls=info.get("ssl_input"), database_name=info.get("database_name"),
            backend=connection.adapter.backend,
        )  # fmt: skip


def reconnect(
    connection,
    timeout: float,
    stop: StopRequest | None = None,
    first_error: BaseException | None = None,
) -> float:
    """Reconnect ``connection`` with backoff for up to ``timeout`` seconds; returns seconds waited.

    Raises
    ------
    DatabaseLost
        If the server does not answer within ``timeout`` (the message names it).
    StoppedWaiting
        If a stop was requested while waiting.
    """
    server = _describe_server(connection)
    why = f" ({_first_line(first_error)})" if first_error else ""
    log.warning(
        "lost the connection to the database server %s%s; reconnecting for up to %g s",
        server,
        why,
        timeout,
    )
    start = time.monotonic()
    delay, last = 0.25, first_error
    while True:
        try:
            connection.connect()
            if not _alive(connection):
                raise ConnectionError("connected, but the server does not answer")
            with contextlib.suppress(Exception):
                connection.connection_id = connection.adapter.get_connection_id(connection._conn)
            with contextlib.suppress(Exception):
                connection.cancel_transaction()  # forget the transaction the server dropped
            waited = time.monotonic() - start
            log.warning("database server %s is back after %.1f s; carrying on", server, waited)
            return waited
        except Exception as exc:  # noqa: BLE001 - any failure to connect is retried
            last = exc
        elapsed = time.monotonic() - start
        if elapsed >= timeout:
            raise DatabaseLost(
                f"the database server {server} did not come back within {timeout:g} s "
                f"(last error: {_first_line(last)})"
            )
        if stop is not None and stop.requested:
            raise StoppedWaiting(f"stopped while waiting for the database server {server}")
        time.sleep(min(delay, timeout - elapsed))
        delay = min(delay * 2, 5.0)


class _Heartbeat:
    """Refresh ``reserved_time`` of this process's reserved jobs every ``interval`` seconds."""

    def __init__(self, connection, job_tables: Iterable[str], interval: float) -> None:
        self._source = connection
        self._tables = list(job_tables)
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="job-heartbeat", daemon=True)

    def __enter__(self):
        if self._interval > 0 and self._tables:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()

    def _run(self) -> None:
        conn = None
        args = (this_host(), os.getpid())
        while not self._stop.wait(self._interval):
            try:
                if conn is None:
                    conn = clone_connection(self._source)
                q = conn.adapter.quote_identifier
                for table in self._tables:
                    conn.query(
                        f"UPDATE {table} SET {q('reserved_time')}=CURRENT_TIMESTAMP(3) "
                        f"WHERE {q('status')}='reserved' AND {q('host')}=%s AND {q('pid')}=%s",
                        args=args, reconnect=False,
                    )  # fmt: skip
            except Exception as exc:  # noqa: BLE001 - the main thread reports lost connections
                log.debug("heartbeat failed: %s", exc)
                with contextlib.suppress(Exception):
                    conn.close()
                conn = None
        with contextlib.suppress(Exception):
            if conn is not None:
                conn.close()


# ---------------------------------------------------------------- the worker
@dataclass(frozen=True)
class WorkerOptions:
    """What one worker does.

    Attributes
    ----------
    max_calls : int or None
        At most this many keys per table (per worker).
    loop : bool
        Keep polling for new keys until stopped.
    interval : float
        With ``loop``: seconds between polls when there is nothing to do.
    make_options : mapping
        Options for tables whose ``make_fetch``/``make`` accepts them (``device``,
        ``batch_size``); see :func:`accepted_make_kwargs`.
    stale_after : float
        Seconds after which another host's reservation without heartbeat is dead.
    reconnect_timeout : float
        Seconds to wait for the database server after a lost connection.
    heartbeat : float
        Seconds between refreshes of the reservation time of the key being computed.
    restriction : mapping
        Only keys with these attribute values (every table's key must have the attributes).
    siblings_of : int or None
        Process id of the supervisor that started this worker and its siblings; without
        ``loop``, the worker waits for siblings' keys upstream of a selected table.
    """

    max_calls: int | None = None
    loop: bool = False
    interval: float = 60.0
    make_options: Mapping[str, Any] = field(default_factory=dict)
    stale_after: float = DEFAULT_STALE_AFTER_S
    reconnect_timeout: float = DEFAULT_RECONNECT_TIMEOUT_S
    heartbeat: float = DEFAULT_HEARTBEAT_S
    restriction: Mapping[str, Any] = field(default_factory=dict)
    siblings_of: int | None = None


@dataclass
class WorkerReport:
    """What a worker did: keys done and failed per table, the failures, and how it ended.

    ``outcome`` is ``finished`` (nothing left), ``stopped`` (asked to stop), ``aborted``,
    or ``database_lost``.
    """

    done: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    outcome: str = "finished"
    message: str = ""
    loop: bool = False

    @property
    def exit_code(self) -> int:
        """0, or :data:`EXIT_ERRORS` if keys failed in a run without ``loop``, or the outcome's code."""
        if self.outcome == "database_lost":
            return EXIT_DATABASE_LOST
        if self.outcome == "aborted":
            return EXIT_ABORTED
        return EXIT_ERRORS if self.errors and not self.loop else EXIT_OK

    def write(self, path: Path) -> None:
        """Write as JSON, atomically."""
        tmp = path.with_name(f".{path.name}.partial")
        tmp.write_text(json.dumps(asdict(self)))
        tmp.replace(path)

    @classmethod
    def read(cls, path: Path) -> WorkerReport:
        return cls(**json.loads(path.read_text()))


class Worker:
    """Populate ``tables`` (name to class, dependency order) with job reservation.

    Parameters
    ----------
    tables : mapping of str to table class
        The tables to populate, in dependency order
        (:func:`populate.tables.resolve_names`).
    options : WorkerOptions
    stop : StopRequest, optional
        Shared stop request (default: a new one; SIGINT/SIGTERM feed it during :meth:`run`).
    """

    def __init__(
        self,
        tables: Mapping[str, type],
        options: WorkerOptions | None = None,
        stop: StopRequest | None = None,
    ) -> None:
        if not tables:
            raise ValueError("no table to populate")
        self.tables = dict(tables)
        self.options = options or WorkerOptions()
        check_restriction_all(self.tables, self.options.restriction)
        self._restriction = dict(self.options.restriction)
        self.stop = stop or StopRequest()
        self.connection = _connection_of(self.tables)
        self.report = WorkerReport(loop=self.options.loop)
        self._jobs: dict[str, Any] = {}
        self._kwargs = {
            n: accepted_make_kwargs(t, self.options.make_options) for n, t in self.tables.items()
        }
        self._calls = dict.fromkeys(self.tables, 0)
        self._transient: dict[tuple[str, str], int] = {}
        self._upstream = self._upstream_of_selected()
        self._raw_connection = self.connection._conn

    # -- public
    def run(self) -> WorkerReport:
        """Work until nothing is left (or, with ``loop``, until stopped); never raises for a key."""
        with self.stop.signals():
            try:
                self._prepare()
                with _Heartbeat(
                    self.connection,
                    [j.full_table_name for j in self._jobs.values()],
                    self.options.heartbeat,
                ):
                    self._work()
            except DatabaseLost as exc:
                self.report.outcome, self.report.message = "database_lost", str(exc)
                log.error("%s; stopping", exc)
            except StoppedWaiting as exc:
                self.report.outcome, self.report.message = "stopped", str(exc)
                log.warning("%s", exc)
            except (Aborted, KeyboardInterrupt) as exc:
                self.report.outcome, self.report.message = "aborted", str(exc) or "aborted"
                log.warning("aborted: %s", self.report.message)
        return self.report

    # -- internals
    def _prepare(self) -> None:
        while True:
            try:
                for name, table in self.tables.items():
                    self._jobs[name] = jobs_table(table, declare=True)
                return
            except (DatabaseLost, StoppedWaiting, Aborted):
                raise
            except Exception as exc:
                self._after_failure(exc)

    def _work(self) -> None:
        while not self.stop.requested:
            try:
                if not _alive(self.connection):
                    self._reconnect()
                self._notice_silent_reconnect()
                recover(self.tables, self.options.stale_after, jobs=self._jobs)
                progressed = self._pass()
                if self.stop.requested:
                    break
                if self._all_max_calls_reached():
                    log.info("every table reached --max-calls %d", self.options.max_calls)
                    break
                if progressed:
                    continue
                if self.options.loop:
                    log.debug("nothing to do; next poll in %g s", self.options.interval)
                    self.stop.wait(self.options.interval)
                    continue
                if self._siblings_busy_upstream():
                    self.stop.wait(_UPSTREAM_POLL_S)
                    continue
                break
            except (DatabaseLost, StoppedWaiting, Aborted):
                raise
            except Exception as exc:
                self._after_failure(exc)
        if self.stop.requested:
            self.report.outcome = "stopped"

    def _after_failure(self, exc: Exception) -> None:
        """Reconnect after a lost connection; anything else is a bug and propagates."""
        if not (_is_connection_error(exc) or not _alive(self.connection)):
            raise exc
        self._reconnect(exc)

    def _reconnect(self, exc: BaseException | None = None) -> None:
        reconnect(self.connection, self.options.reconnect_timeout, self.stop, exc)
        self._raw_connection = self.connection._conn

    def _notice_silent_reconnect(self) -> None:
        """Report a reconnection DataJoint made by itself (it retries a query once)."""
        if self.connection._conn is not self._raw_connection:
            self._raw_connection = self.connection._conn
            with contextlib.suppress(Exception):
                self.connection.connection_id = self.connection.adapter.get_connection_id(
                    self.connection._conn
                )
            log.warning(
                "lost the connection to the database server %s; DataJoint reconnected",
                _describe_server(self.connection),
            )

    def _pass(self) -> bool:
        """One pass over the tables in dependency order; True if any key was attempted."""
        attempted = False
        for name, table in self.tables.items():
            if self.stop.requested:
                break
            limit = self._remaining_calls(name)
            if limit == 0:
                continue
            job = self._jobs[name]
            restrictions = (self._restriction,) if self._restriction else ()
            job.refresh(*restrictions, delay=-1)  # add new keys; delay=-1: schedulable at once
            pending = (
                job
                & "status='pending'"
                & "scheduled_time <= CURRENT_TIMESTAMP(3)"
                & self._restriction
            )
            keys = pending.keys(order_by="priority ASC, scheduled_time ASC")
            for key in keys:
                if self.stop.requested or self._remaining_calls(name) == 0:
                    break
                attempted |= self._one(name, table, job, key)
        return attempted

    def _one(self, name: str, table: type, job, key: dict) -> bool:
        """Reserve and make one key; True if this worker made the attempt."""
        start = time.monotonic()
        try:
            status = table()._populate1(
                key,
                job,
                suppress_errors=True,
                return_exception_objects=True,
                make_kwargs=self._kwargs[name] or None,
            )
        except Exception as exc:
            # escaped DataJoint's own handling, e.g. the connection died while it rolled back
            if not (_is_connection_error(exc) or not _alive(self.connection)):
                raise
            if self._transient_ok(name, key):
                self._requeue(name, job, key, exc)
            else:  # this key keeps losing the connection: record it as its error
                if not _alive(self.connection):
                    self._reconnect(exc)
                job.error(key, error_message=_first_line(exc), error_stack=traceback.format_exc())
                self._failed(name, key, _first_line(exc), time.monotonic() - start)
            return True
        seconds = time.monotonic() - start
        self._notice_silent_reconnect()
        if status is False:
            log.debug("%s %s: taken by another worker or already done", name, format_key(key))
            return False
        self._calls[name] += 1
        if status is True:
            self.report.done[name] = self.report.done.get(name, 0) + 1
            log.info("%s %s done in %.2f s", name, format_key(key), seconds)
            return True
        _, error = status
        if isinstance(error, KeyboardInterrupt | SystemExit):
            self._forget_job(job, key)
            raise Aborted(f"{name} {format_key(key)} abandoned after {seconds:.1f} s")
        if (_is_connection_error(error) or not _alive(self.connection)) and self._transient_ok(
            name, key
        ):
            self._calls[name] -= 1
            self._requeue(name, job, key, error)
            return True
        message = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        self._failed(name, key, message, seconds)
        return True

    def _failed(self, name: str, key: dict, message: str, seconds: float) -> None:
        self.report.failed[name] = self.report.failed.get(name, 0) + 1
        self.report.errors.append({"table": name, "key": plain_key(key), "message": message})
        log.error("%s %s failed after %.2f s: %s", name, format_key(key), seconds, message)

    def _transient_ok(self, name: str, key: dict) -> bool:
        tag = (name, format_key(key))
        self._transient[tag] = self._transient.get(tag, 0) + 1
        return self._transient[tag] <= MAX_TRANSIENT_RETRIES

    def _requeue(self, name: str, job, key: dict, exc: BaseException) -> None:
        """After a lost connection during a key: reconnect, then put the key back to pending."""
        if not _alive(self.connection):
            self._reconnect(exc)
        self._forget_job(job, key)
        log.warning(
            "%s %s: interrupted by the lost connection; it goes back to pending",
            name,
            format_key(key),
        )

    def _forget_job(self, job, key: dict) -> None:
        """Delete this worker's job row of ``key`` (reserved or error) so the key is pending again."""
        mine = {"host": this_host(), "pid": os.getpid()}
        try:
            (job & key & mine & "status in ('reserved', 'error')").delete_quick()
        except Exception as exc:  # noqa: BLE001 - left for recovery: this process's row dies with it
            log.debug("could not delete the job row of %s: %s", format_key(key), exc)

    def _remaining_calls(self, name: str) -> int | None:
        if self.options.max_calls is None:
            return None
        return max(self.options.max_calls - self._calls[name], 0)

    def _all_max_calls_reached(self) -> bool:
        return self.options.max_calls is not None and all(
            self._remaining_calls(n) == 0 for n in self.tables
        )

    def _upstream_of_selected(self) -> list[str]:
        """Selected tables that have a selected descendant (their new rows make new keys)."""
        full = {t.full_table_name: n for n, t in self.tables.items()}
        upstream = []
        for name, table in self.tables.items():
            descendants = set(table().descendants()) - {table.full_table_name}
            if descendants & set(full):
                upstream.append(name)
        return upstream

    def _siblings_busy_upstream(self) -> bool:
        """True if a sibling worker (same supervisor) holds a key upstream of a selected table.

        Its result will make new keys downstream, so a run without ``loop`` waits for it
        rather than leaving them to the sibling alone. Workers of other runs are not waited
        for: a run ends when what it can do now is done.
        """
        parent = self.options.siblings_of
        if not parent or not self._upstream:
            return False
        host, me = this_host(), os.getpid()
        for name in self._upstream:
            job = self._jobs.get(name) or jobs_table(self.tables[name])
            if job is None:
                continue
            rows = (job & "status='reserved'" & {"host": host}).proj("pid").to_dicts()
            if any(int(r["pid"]) != me and parent_pid(int(r["pid"])) == parent for r in rows):
                return True
        return False


# ---------------------------------------------------------------- the supervisor
@dataclass
class WorkerProcess:
    """A worker process started by :func:`run_workers`."""

    index: int
    process: subprocess.Popen
    report_path: Path

    def send(self, command: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.process.stdin.write(f"{command}\n".encode())
            self.process.stdin.flush()


@dataclass
class RunSummary:
    """What ``ibl-video populate`` reports: sums over its workers, and their troubles."""

    done: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    exit_code: int = EXIT_OK


def worker_command(global_args: list[str], worker_args: list[str]) -> list[str]:
    """Command line of one worker process (this command line's hidden ``worker`` command)."""
    return [sys.executable, "-m", "populate.cli", *global_args, "worker", *worker_args]


def run_workers(
    n_workers: int,
    global_args: list[str],
    worker_args: list[str],
    env: Mapping[str, str] | None = None,
) -> RunSummary:
    """Run ``n_workers`` worker processes to completion and sum up their reports.

    Each worker runs in its own session (a terminal's Ctrl-C reaches only this process).
    The first SIGINT/SIGTERM asks every worker to finish its current key and stop; the
    second aborts them. A worker that dies (e.g. killed) is reported; its reservation is
    recovered by the next populate or ``ibl-video recover``.
    """
    stop = StopRequest()
    summary = RunSummary()
    with tempfile.TemporaryDirectory(prefix="ibl-video-workers-") as tmp:
        procs = []
        for i in range(n_workers):
            report = Path(tmp) / f"worker-{i + 1}.json"
            cmd = worker_command(
                global_args, [*worker_args, "--report", str(report), "--supervised"]
            )
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                env=dict(env) if env is not None else None,
                start_new_session=True,
            )
            procs.append(WorkerProcess(i + 1, proc, report))
            log.debug("started worker %d: pid %d", i + 1, proc.pid)
        forwarded = 0

        def forward(signum, frame) -> None:
            nonlocal forwarded
            forwarded += 1
            command = "stop" if forwarded == 1 else "abort"
            if forwarded == 1:
                stop.request(f"{signal.Signals(signum).name} received")
            else:
                log.warning(
                    "%s received again: aborting the workers' current keys",
                    signal.Signals(signum).name,
                )
            for p in procs:
                if p.process.poll() is None:
                    p.send(command)

        old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            while any(p.process.poll() is None for p in procs):
                time.sleep(0.1)
        finally:
            for s, h in old.items():
                signal.signal(s, h)
            for p in procs:
                with contextlib.suppress(OSError):
                    p.process.stdin.close()
        codes = []
        for p in procs:
            code = p.process.returncode
            codes.append(code)
            if p.report_path.exists():
                rep = WorkerReport.read(p.report_path)
                for name, n in rep.done.items():
                    summary.done[name] = summary.done.get(name, 0) + n
                for name, n in rep.failed.items():
                    summary.failed[name] = summary.failed.get(name, 0) + n
                if rep.outcome == "database_lost":
                    summary.problems.append(
                        f"worker {p.index} (pid {p.process.pid}): {rep.message}"
                    )
            elif code != 0:
                how = (
                    f"killed by {signal.Signals(-code).name}"
                    if code < 0
                    else f"exited with code {code}"
                )
                summary.problems.append(
                    f"worker {p.index} (pid {p.process.pid}) {how} without a report; a key it held is "
                    "recovered by the next populate or `ibl-video recover`"
                )
    summary.exit_code = _combine_exit_codes(codes)
    return summary


def _combine_exit_codes(codes: list[int]) -> int:
    if any(c == EXIT_ABORTED for c in codes):
        return EXIT_ABORTED
    if any(c == EXIT_DATABASE_LOST for c in codes):
        return EXIT_DATABASE_LOST
    if any(c != 0 for c in codes):
        return EXIT_ERRORS
    return EXIT_OK
