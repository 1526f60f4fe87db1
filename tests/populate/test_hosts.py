"""Workers on separate hosts against one PostgreSQL (issue 19).

Each "host" is a network namespace made by the test (``ip netns``, a veth pair to the test's
namespace), with its own UTS namespace (its own host name) and its own mount of the shared
data root (``unshare --mount``, a bind mount at a path of its own). The machine's PostgreSQL
listens on 127.0.0.1 only, so the test forwards one TCP port per host link to it. Cutting
one host's link (link down) mid-key leaves no row of that key; once the cut host's
heartbeat is older than ``--stale-after``, the other host's populate frees the reservation
and computes the key.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

from tests.populate.test_faults import ROOT, wait_for

pytestmark = pytest.mark.slow
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
STALE_AFTER_S = 15


def _need(condition: bool, message: str) -> None:
    if not condition:
        if IN_CI:
            pytest.fail(message + " (CI=true: the multi-host test must run)")
        pytest.skip(message)


def _sh(*args: str) -> None:
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {done.stderr.strip()}")


class Forwarder:
    """TCP forwarding from addresses on the hosts' links to 127.0.0.1:5432, in a thread."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.servers = []
        self.writers = set()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def listen(self, host: str) -> int:
        async def pipe(reader, writer):
            self.writers.add(writer)
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                writer.close()

        async def handle(reader, writer):
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", 5432)
            self.writers.add(writer)
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

        async def start():
            server = await asyncio.start_server(handle, host, 0)
            self.servers.append(server)
            return server.sockets[0].getsockname()[1]

        return asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)

    def close(self) -> None:
        async def stop():
            for s in self.servers:
                s.close()
            for w in list(self.writers):
                w.close()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)


@pytest.fixture
def hosts(tmp_path):
    """Two namespaces ``host1``, ``host2``: (netns, veth in the test's namespace, address of
    the test's end, forwarded port)."""
    _need(os.geteuid() == 0, "network namespaces need root")
    _need(all(shutil.which(x) for x in ("ip", "unshare", "mount")), "needs ip (iproute2), unshare and mount")
    tag = uuid.uuid4().hex[:5]
    made, forwarder = [], Forwarder()
    try:
        out = {}
        for i, name in enumerate(("host1", "host2"), start=1):
            ns, outer, inner = f"iv{tag}{i}", f"v{tag}{i}o", f"v{tag}{i}i"
            net = f"10.{200 + int(tag[:2], 16) % 50}.{i}"
            _sh("ip", "netns", "add", ns)
            made.append(ns)
            _sh("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
            _sh("ip", "link", "set", inner, "netns", ns)
            _sh("ip", "addr", "add", f"{net}.1/24", "dev", outer)
            _sh("ip", "link", "set", outer, "up")
            _sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{net}.2/24", "dev", inner)
            _sh("ip", "netns", "exec", ns, "ip", "link", "set", inner, "up")
            _sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
            out[name] = dict(netns=ns, outer=outer, address=f"{net}.1", port=forwarder.listen(f"{net}.1"))
        yield out
    finally:
        forwarder.close()
        for ns in made:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)  # deletes its veth pair too


def _start_on(host: str, link: dict, pipe, tmp_path: Path, *args: str, **extra: str) -> subprocess.Popen:
    """``ibl-video ARGS`` on ``host``: its namespace, host name and mount of the data root."""
    mount = tmp_path / f"{host}-mnt"
    mount.mkdir(exist_ok=True)
    env = pipe.env(**extra)
    env.update(DJ_HOST=link["address"], DJ_PORT=str(link["port"]), IBL_VIDEO_DATA_ROOT=str(mount))
    inner = (f"hostname {host} && mount --bind {shlex.quote(str(pipe.root))} {shlex.quote(str(mount))} && exec "
             + shlex.join([sys.executable, "-m", "populate.cli", *args]))  # fmt: skip
    out = open(tmp_path / f"{host}.out", "w"), open(tmp_path / f"{host}.err", "w")
    return subprocess.Popen(
        ["ip", "netns", "exec", link["netns"], "unshare", "--mount", "--uts", "--propagation", "private", "sh", "-c", inner],
        cwd=ROOT, env=env, stdout=out[0], stderr=out[1],
    )  # fmt: skip


def test_a_host_cut_off_mid_key_leaves_no_row_and_another_host_finishes_it(pg_pipe, hosts, tmp_path):
    pipe = pg_pipe
    pipe.add_sessions(["NET"], duration_s=3.0)
    pipe.table("CameraRecording").populate(reserve_jobs=True)
    cls = pipe.table("SlowCopy")
    n_keys = len(cls().key_source)

    # host1 takes a key and writes its file slowly; then its link goes down
    h1 = _start_on("host1", hosts["host1"], pipe, tmp_path, "populate", "SlowCopy", SLOWCOPY_SECONDS="120")
    reserved = wait_for(lambda: [r for r in pipe.reserved("SlowCopy") if r["host"] == "host1"], 120,
                        "host1 to reserve a key")[0]  # fmt: skip
    wait_for(lambda: list(pipe.root.glob("slowcopy/.*.partial")), 60, "host1's half-written file")
    _sh("ip", "link", "set", hosts["host1"]["outer"], "down")
    key = {k: v for k, v in reserved.items() if k in cls.primary_key}
    assert len(cls & key) == 0  # no half row: host1's transaction never committed

    # host2 frees host1's reservation once its heartbeat is older than --stale-after
    def heartbeat_age() -> float:
        from populate.worker import _server_now, jobs_table

        job = jobs_table(cls)
        when = (job & key & "status='reserved'").fetch1("reserved_time")
        return (_server_now(pipe.connection) - when).total_seconds()

    early = _start_on("host2", hosts["host2"], pipe, tmp_path, "populate", "SlowCopy", "--key", json.dumps({"subject": "NET", "camera_label": key["camera_label"]}),
                      "--stale-after", "3600", SLOWCOPY_SECONDS="0")  # fmt: skip
    assert early.wait(timeout=120) == 0
    assert pipe.reserved("SlowCopy") and len(cls & key) == 0  # a fresh-enough heartbeat is respected
    wait_for(lambda: heartbeat_age() > STALE_AFTER_S + 1, 120, f"host1's heartbeat to be {STALE_AFTER_S} s old")
    if h1.poll() is None:
        os.kill(h1.pid, signal.SIGKILL)  # the cut host is gone for good (its file writes too)
    h2 = _start_on("host2", hosts["host2"], pipe, tmp_path, "populate", "SlowCopy", "--stale-after", str(STALE_AFTER_S),
                   SLOWCOPY_SECONDS="0")  # fmt: skip
    assert h2.wait(timeout=300) == 0, (tmp_path / "host2.err").read_text()
    err = (tmp_path / "host2.err").read_text()
    assert "recovered" in err and f"no heartbeat from host1 (process {reserved['pid']})" in err
    assert len(cls & key) == 1 and len(cls()) == n_keys
    assert pipe.reserved("SlowCopy") == []
    # host2 wrote through its own mount: the rows' paths are relative, the files in the shared root
    for row in cls().to_dicts():
        assert not row["copy_path"].startswith("/") and (pipe.root / row["copy_path"]).is_file()
