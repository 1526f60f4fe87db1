"""The populate worker in this process, on every backend: reservation, status, errors,
retry, recovery of dead reservations, stop and abort, lost connections, heartbeats, logging.

The tables under test are two small test-only tables in their own schema (``Probe`` after
``Session``, ``ProbeChild`` after ``Probe``) whose make does what each test asks: succeed,
fail, send itself SIGTERM (once or twice), drop its database connection, or watch its
reservation's heartbeat. Real processes and the pipeline's own tables are in
``test_faults.py``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from typer.testing import CliRunner

from populate import worker as w
from populate.cli import app

#: What Probe's make does, per (subject, session_number): ok, fail, stop, abort, drop, heartbeat.
BEHAVIOUR: dict[tuple[str, int], str] = {}
#: One entry per Probe.make_compute call.
CALLS: list[dict] = []


@pytest.fixture(scope="module")
def probe(db):
    """The test-only tables, declared in ``<prefix>_wtest``; dropped afterwards."""
    import datajoint as dj

    from schemas.session import Session

    context = {"Session": Session}
    schema = dj.Schema(
        f"{db.settings.schema_prefix}_wtest", connection=db.connection, context=context
    )

    @schema
    class Probe(dj.Computed):
        definition = """
        -> Session
        ---
        result: int32
        """

        def make_fetch(self, key, device="cpu", batch_size=8):
            return device, batch_size

        def make_compute(self, key, device, batch_size):
            tag = (key["subject"], int(key["session_number"]))
            what = BEHAVIOUR.get(tag, "ok")
            CALLS.append(
                dict(
                    subject=key["subject"],
                    number=tag[1],
                    device=device,
                    batch_size=batch_size,
                    what=what,
                )
            )
            if what == "fail":
                raise ValueError(
                    f"{key['subject']} session {tag[1]}: cannot read /data/{key['subject']}/left.avi"
                )
            if what == "stop":
                os.kill(os.getpid(), signal.SIGTERM)
            if what == "abort":
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.05)
                os.kill(os.getpid(), signal.SIGTERM)  # the second one raises KeyboardInterrupt here
                time.sleep(1.0)
            if what == "drop":
                BEHAVIOUR[tag] = "ok"
                self.connection._conn.close()  # as if the server had gone away
            if what == "heartbeat":
                job = w.jobs_table(type(self))
                first = (job & key).fetch1("reserved_time")
                time.sleep(1.5)
                CALLS[-1]["reserved_times"] = (first, (job & key).fetch1("reserved_time"))
            return (tag[1],)

        def make_insert(self, key, result):
            self.insert1(dict(key, result=result))

    context["Probe"] = Probe

    @schema
    class ProbeChild(dj.Computed):
        definition = """
        -> Probe
        ---
        doubled: int32
        """

        def make(self, key):
            self.insert1(dict(key, doubled=2 * (Probe & key).fetch1("result")))

    yield {"Probe": Probe, "ProbeChild": ProbeChild}
    schema.drop(prompt=False)


def add_sessions(subject: str, n: int) -> list[dict]:
    from schemas.session import Session, ensure_subject

    ensure_subject(subject)  # Session's parent (a row with everything unknown)
    keys = []
    for i in range(1, n + 1):
        key = dict(subject=subject, session_date=dt.date(2026, 1, 1), session_number=i)
        Session.insert1(dict(key, session_uuid=str(uuid.uuid4()), rig_type="ephys",
                             session_start_time=dt.datetime(2026, 1, 1, 10, i), session_dir=f"{subject}/2026-01-01/{i:03d}"))  # fmt: skip
        keys.append(key)
    return keys


def run_worker(tables, subject: str, **options) -> w.WorkerReport:
    opts = w.WorkerOptions(restriction={"subject": subject}, **options)
    return w.Worker(tables, opts).run()


# ---------------------------------------------------------------- no database
def test_make_kwargs_go_only_where_accepted():
    import datajoint as dj

    class ThreePart(dj.Computed):
        def make_fetch(self, key, device="cpu"):
            return ()

        def make_compute(self, key):
            return ()

        def make_insert(self, key):
            pass

    class Catchall(ThreePart):
        def make_fetch(self, key, **kwargs):
            return ()

    class OwnMake(dj.Computed):
        def make(self, key, batch_size=4):
            pass

    class Plain(dj.Computed):
        def make(self, key):
            pass

    options = {"device": "cuda", "batch_size": 16}
    assert w.accepted_make_kwargs(ThreePart, options) == {"device": "cuda"}
    assert w.accepted_make_kwargs(Catchall, options) == options
    assert w.accepted_make_kwargs(OwnMake, options) == {"batch_size": 16}
    assert w.accepted_make_kwargs(Plain, options) == {}
    assert w.accepted_make_kwargs(ThreePart, {"device": None, "batch_size": None}) == {}


def test_pid_alive_sees_running_finished_and_zombie_processes():
    assert w.pid_alive(os.getpid())
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    assert not w.pid_alive(done.pid)
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and w.pid_alive(zombie.pid):  # exited but not reaped
        time.sleep(0.05)
    assert not w.pid_alive(zombie.pid)
    zombie.wait()
    assert not w.pid_alive(0) and not w.pid_alive(-1)


def test_keys_print_and_serialise_plainly():
    key = {"subject": "M1", "session_date": dt.date(2026, 1, 2), "session_number": 3}
    assert w.format_key(key) == "subject=M1 session_date=2026-01-02 session_number=3"
    assert json.loads(json.dumps(w.plain_key(key))) == {
        "subject": "M1",
        "session_date": "2026-01-02",
        "session_number": 3,
    }


@pytest.mark.parametrize(
    "args, message",
    [
        (["populate", "--interval", "5"], "--interval only applies with --loop"),
        (["populate", "--device", "tpu"], "--device must be cpu, cuda or cuda:N"),
        (["populate", "--workers", "0"], "--workers"),
        (["populate", "--key", "[1, 2]"], "--key must be a non-empty JSON object"),
        (["retry", "--key", "{not json"], "--key is not valid JSON"),
    ],
)
def test_misuse_is_a_usage_error(tmp_path, args, message):
    result = CliRunner().invoke(app, ["--data-root", str(tmp_path), *args])
    assert result.exit_code == 2
    assert message in result.output


# ---------------------------------------------------------------- status, errors, retry
def test_status_counts_rows_pending_reserved_errors(db, probe):
    from schemas.session import Session

    add_sessions("ST", 3)
    BEHAVIOUR[("ST", 2)] = "fail"
    tables = {"Session": Session, **probe}
    before = w.table_status(tables)
    assert set(before) == {"Session", "Probe", "ProbeChild"}
    assert all(set(v) == {"rows", "pending", "reserved", "errors"} for v in before.values())
    assert (
        before["Session"]["pending"]
        == before["Session"]["reserved"]
        == before["Session"]["errors"]
        == 0
    )
    assert before["Probe"]["pending"] >= 3
    report = run_worker(probe, "ST")
    assert report.done == {"Probe": 2, "ProbeChild": 2} and report.failed == {"Probe": 1}
    assert report.exit_code == w.EXIT_ERRORS
    # a reservation of a live worker elsewhere
    job = w.jobs_table(probe["Probe"])
    key = add_sessions("ST2", 1)[0]
    job.insert1(
        dict(
            key,
            status="reserved",
            priority=5,
            host="elsewhere",
            pid=1,
            reserved_time=w._server_now(db.connection),
        )
    )
    after = w.table_status(tables)
    st_probe = len(probe["Probe"] & {"subject": "ST"})
    assert st_probe == 2
    assert after["Probe"]["reserved"] == 1 and after["Probe"]["errors"] >= 1
    assert (
        after["Probe"]["pending"] == before["Probe"]["pending"] - 3
    )  # ST done or in error, ST2 reserved
    (job & key).delete_quick()


def test_errors_are_listed_and_retry_clears_them(db, probe):
    add_sessions("ER", 2)
    BEHAVIOUR[("ER", 1)] = "fail"
    report = run_worker(probe, "ER")
    assert report.failed == {"Probe": 1}
    assert (
        report.errors[0]["key"]["subject"] == "ER" and "ER session 1" in report.errors[0]["message"]
    )
    errors = [e for e in w.list_errors(probe) if e.key["subject"] == "ER"]
    assert len(errors) == 1
    assert errors[0].table == "Probe" and errors[0].key["session_number"] == 1
    assert errors[0].message == "ValueError: ER session 1: cannot read /data/ER/left.avi"
    assert errors[0].host == w.this_host() and errors[0].pid == os.getpid()
    assert w.list_errors(probe, stack=True)[0].stack.startswith("Traceback")
    # errored keys are not retried until their error rows are cleared
    BEHAVIOUR[("ER", 1)] = "ok"
    assert run_worker(probe, "ER").done == {}
    with pytest.raises(ValueError, match="no table has the key attribute"):
        w.clear_errors(probe, {"subjet": "ER"})  # a typo must not clear everything
    assert w.clear_errors(probe, {"subject": "nobody"}) == {}
    assert w.clear_errors(probe, {"subject": "ER", "session_number": 1}) == {"Probe": 1}
    assert run_worker(probe, "ER").done == {"Probe": 1, "ProbeChild": 1}


# ---------------------------------------------------------------- the worker
def test_worker_passes_options_and_logs_one_line_per_key(db, probe, tmp_path):
    add_sessions("OK", 2)
    CALLS.clear()
    path = w.setup_logging(tmp_path / "logs")
    try:
        report = run_worker(
            probe, "OK", make_options={"device": "cuda:1", "batch_size": 32, "unused": 1}
        )
    finally:
        project = logging.getLogger("ibl_video")
        for handler in [h for h in project.handlers if getattr(h, "_ibl_video_log", False)]:
            project.removeHandler(handler)
            handler.close()
    assert (
        report.done == {"Probe": 2, "ProbeChild": 2}
        and report.errors == []
        and report.exit_code == 0
    )
    assert [(c["device"], c["batch_size"]) for c in CALLS] == [("cuda:1", 32)] * 2
    assert path == tmp_path / "logs" / "ibl-video.log"
    lines = [line for line in path.read_text().splitlines() if "subject=OK" in line]
    assert len(lines) == 4  # one per key: 2 Probe, 2 ProbeChild (parents first)
    assert all(f"{w.this_host()}[{os.getpid()}]" in line and " done in " in line for line in lines)
    assert [line.split(" INFO ")[1].split()[0] for line in lines] == [
        "Probe",
        "Probe",
        "ProbeChild",
        "ProbeChild",
    ]
    for line in lines:
        assert float(line.rsplit(" done in ", 1)[1].split()[0]) >= 0


def test_restriction_must_fit_every_table(probe):
    with pytest.raises(ValueError, match="not all in the key of"):
        w.Worker(probe, w.WorkerOptions(restriction={"camera_label": "left"}))


def test_first_sigterm_finishes_the_current_key(db, probe):
    add_sessions("SG", 3)
    BEHAVIOUR.update({("SG", i): "stop" for i in (1, 2, 3)})  # whichever key comes first
    report = run_worker(probe, "SG")
    assert report.outcome == "stopped" and report.exit_code == 0
    assert report.done == {"Probe": 1}  # the key in hand was finished, nothing after it
    assert len(probe["Probe"] & {"subject": "SG"}) == 1
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored
    BEHAVIOUR.update({("SG", i): "ok" for i in (1, 2, 3)})
    assert run_worker(probe, "SG").done == {"Probe": 2, "ProbeChild": 3}


def test_second_sigterm_aborts_and_leaves_the_key_pending(db, probe):
    (key,) = add_sessions("AB", 1)
    BEHAVIOUR[("AB", 1)] = "abort"
    report = run_worker(probe, "AB")
    assert report.outcome == "aborted" and report.exit_code == w.EXIT_ABORTED
    assert len(probe["Probe"] & key) == 0
    assert len(w.jobs_table(probe["Probe"]) & key) == 0  # neither reserved nor error
    BEHAVIOUR[("AB", 1)] = "ok"
    assert run_worker(probe, "AB").done == {"Probe": 1, "ProbeChild": 1}


def test_lost_connection_during_a_key_is_reported_and_the_key_retried(db, probe, caplog):
    add_sessions("LC", 2)
    BEHAVIOUR[("LC", 1)] = "drop"
    with caplog.at_level(logging.WARNING, logger="ibl_video"):
        report = run_worker(probe, "LC")
    assert report.done == {"Probe": 2, "ProbeChild": 2} and report.errors == []
    assert "lost the connection to the database server" in caplog.text
    assert len(w.jobs_table(probe["Probe"]) & {"subject": "LC"}) == 0


def test_reconnect_gives_up_with_a_clear_message(db):
    gone = w.clone_connection(db.connection)
    gone.close()
    gone.conn_info["port"] = 9  # nothing listens there (and no socket of that name)
    start = time.monotonic()
    with pytest.raises(w.DatabaseLost, match=r"did not come back within 1 s \(last error: "):
        w.reconnect(gone, timeout=1.0)
    assert time.monotonic() - start < 15


def test_heartbeat_refreshes_the_reservation(db, probe):
    add_sessions("HB", 1)
    BEHAVIOUR[("HB", 1)] = "heartbeat"
    CALLS.clear()
    report = run_worker(probe, "HB", heartbeat=0.3)
    assert report.done == {"Probe": 1, "ProbeChild": 1}
    first, last = CALLS[0]["reserved_times"]
    assert last > first


# ---------------------------------------------------------------- dead reservations
def test_recover_frees_dead_and_stale_reservations_only(db, probe):
    keys = add_sessions("RC", 4)
    job = w.jobs_table(probe["Probe"], declare=True)
    now = w._server_now(db.connection)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    rows = [
        dict(host=w.this_host(), pid=gone.pid, reserved_time=now),  # this host, process gone
        dict(
            host=w.this_host(), pid=os.getpid(), reserved_time=now - dt.timedelta(days=1)
        ),  # alive, however old
        dict(
            host="elsewhere", pid=123, reserved_time=now - dt.timedelta(seconds=10)
        ),  # fresh heartbeat
        dict(
            host="elsewhere", pid=os.getpid(), reserved_time=now - dt.timedelta(hours=3)
        ),  # no heartbeat for 3 h: dead, although its process id runs here (another host's id)
    ]
    for key, row in zip(keys, rows, strict=True):
        job.insert1(dict(key, status="reserved", priority=5, **row))
    held = w.reservations({"Probe": probe["Probe"]}, stale_after=7200)
    assert sorted((r.key["session_number"], r.host, r.alive) for r in held) == [
        (1, w.this_host(), False), (2, w.this_host(), True), (3, "elsewhere", True), (4, "elsewhere", False),
    ]  # fmt: skip
    dead = w.find_dead_reservations({"Probe": probe["Probe"]}, stale_after=7200)
    assert sorted(r.key["session_number"] for r in dead) == [1, 4]
    assert "is gone" in next(r.reason for r in dead if r.key["session_number"] == 1)
    assert "no heartbeat from elsewhere" in next(
        r.reason for r in dead if r.key["session_number"] == 4
    )
    assert len(w.recover({"Probe": probe["Probe"]}, 7200, dry_run=True)) == 2
    assert len(job & {"subject": "RC"}) == 4
    recovered = w.recover({"Probe": probe["Probe"]}, 7200)
    assert sorted(r.key["session_number"] for r in recovered) == [1, 4]
    assert sorted(k["session_number"] for k in (job & {"subject": "RC"}).keys()) == [2, 3]
    assert w.recover({"Probe": probe["Probe"]}, 7200) == []  # nothing twice
    (job & {"subject": "RC"}).delete_quick()


def test_a_run_waits_for_its_sibling_workers_upstream_only(db, probe):
    (key,) = add_sessions("SB", 1)
    job = w.jobs_table(probe["Probe"], declare=True)
    sibling = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        job.insert1(dict(key, status="reserved", priority=5, host=w.this_host(), pid=sibling.pid))
        opts = dict(restriction={"subject": "SB"})
        # started by this process like its sibling: wait for the sibling's key upstream
        assert w.Worker(
            probe, w.WorkerOptions(**opts, siblings_of=os.getpid())
        )._siblings_busy_upstream()
        # not a sibling (another run's worker, or no supervisor): do not wait
        assert not w.Worker(
            probe, w.WorkerOptions(**opts, siblings_of=os.getpid() + 1)
        )._siblings_busy_upstream()
        assert not w.Worker(probe, w.WorkerOptions(**opts))._siblings_busy_upstream()
        # only tables upstream of a selected table count
        only_child = {"ProbeChild": probe["ProbeChild"]}
        assert not w.Worker(
            only_child, w.WorkerOptions(**opts, siblings_of=os.getpid())
        )._siblings_busy_upstream()
    finally:
        sibling.kill()
        sibling.wait()
    assert not w.Worker(
        probe, w.WorkerOptions(**opts, siblings_of=os.getpid())
    )._siblings_busy_upstream()
    (job & key).delete_quick()
