"""``ibl-video slurm submit`` on a real single-node SLURM cluster against the machine's
PostgreSQL (issue 19).

The cluster is Debian's ``slurm-wlm`` and ``munge``, installed by this module when missing
(``apt-get``, as root), with its own munge key, socket, ports and state in a temporary folder,
one node with the machine's CPUs and one (declared) GPU so that ``--gres=gpu:1`` jobs run.
Without the packages and no way to install them the tests skip, saying why; with CI=true
they fail instead.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.debian import apt_install
from tests.populate.test_faults import visible_files, wait_for

pytestmark = pytest.mark.slow
PACKAGES = ("slurm-wlm", "munge")


def _ensure_installed() -> None:
    apt_install(PACKAGES, what="SLURM", timeout=900,
                installed=lambda: all(shutil.which(e) for e in ("slurmctld", "slurmd", "sbatch", "munged", "mungekey")))  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A running one-node cluster: its ``SLURM_CONF`` and client commands."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.env = dict(os.environ, SLURM_CONF=str(folder / "slurm.conf"))

    def run(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(list(args), env=self.env, capture_output=True, text=True, timeout=60)
        if check and done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def jobs_left(self, job_id: str) -> str:
        return self.run("squeue", "-h", "-j", job_id, "-o", "%i %T", check=False).strip()

    def wait_done(self, job_id: str, timeout: float) -> None:
        wait_for(lambda: not self.jobs_left(job_id), timeout, f"SLURM job {job_id} to finish")

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted((self.folder / "log").glob("*.log")))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    _ensure_installed()
    folder = tmp_path_factory.mktemp("slurm")
    for sub in ("munge", "state", "spool", "log"):
        (folder / sub).mkdir()
    (folder / "munge").chmod(0o700)
    munge_socket = folder / "munge" / "munge.socket"
    subprocess.run(["mungekey", "-c", "-f", "-k", str(folder / "munge" / "munge.key")], check=True, capture_output=True)
    subprocess.run(
        ["munged", "-f", f"--key-file={folder / 'munge' / 'munge.key'}", f"--socket={munge_socket}",
         f"--log-file={folder / 'log' / 'munged.log'}", f"--pid-file={folder / 'munge' / 'munged.pid'}",
         f"--seed-file={folder / 'munge' / 'munged.seed'}"],
        check=True, capture_output=True,
    )  # fmt: skip
    host = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout.split()[0].split("=")[1]
    cpus = os.cpu_count() or 1
    (folder / "slurm.conf").write_text(f"""
ClusterName=iblvideotest
SlurmctldHost={host}
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
AuthType=auth/munge
AuthInfo=socket={munge_socket}
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation={folder / 'state'}
SlurmdSpoolDir={folder / 'spool'}
SlurmctldPidFile={folder / 'slurmctld.pid'}
SlurmdPidFile={folder / 'slurmd.pid'}
SlurmctldLogFile={folder / 'log' / 'slurmctld.log'}
SlurmdLogFile={folder / 'log' / 'slurmd.log'}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
KillWait=5
GresTypes=gpu
NodeName={host} CPUs={cpus} RealMemory=1000 Gres=gpu:1 State=UNKNOWN
PartitionName=cpu Nodes={host} Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes={host} MaxTime=INFINITE State=UP
""")
    # a declared GPU without a device (File=/dev/null): enough for --gres=gpu:1 scheduling
    (folder / "gres.conf").write_text(f"AutoDetect=off\nNodeName={host} Name=gpu File=/dev/null\n")
    c = Cluster(folder)
    try:
        c.run("slurmctld")
        c.run("slurmd")
        wait_for(lambda: c.run("sinfo", "-h", "-o", "%t", check=False).split()[:1] == ["idle"], 60, "the SLURM node to be idle")
        yield c
    except Exception as e:
        raise RuntimeError(f"{e}\n--- SLURM logs ---\n{c.logs()}") from e
    finally:
        c.run("scancel", "--user", "root", check=False)
        for pid_file in ("slurmd.pid", "slurmctld.pid", "munge/munged.pid"):
            path = folder / pid_file
            if path.exists():
                try:
                    os.kill(int(path.read_text().split()[0]), signal.SIGTERM)
                except (ProcessLookupError, ValueError):
                    pass


def _submit(pipe, cluster, *args: str, faults: dict | None = None, **extra: str) -> list[dict]:
    done = pipe.run("slurm", "submit", "--json", *args, faults=faults, SLURM_CONF=cluster.env["SLURM_CONF"], **extra)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def test_dry_run_script_holds_no_credentials_and_sends_pose_to_the_gpu(pg_pipe):
    secret = uuid.uuid4().hex  # a password the lab's environment would hold (the test server takes any)
    done = pg_pipe.run("slurm", "submit", "--dry-run", "--json", "--workers", "3", "--gpu", "--partition", "cpu",
                       "--gpu-partition", "gpu", "--time", "02:00:00", **{"DJ_" + "PASS": secret})  # fmt: skip
    assert done.returncode == 0, done.stderr
    jobs = {j["name"]: j for j in json.loads(done.stdout)}
    assert set(jobs) == {"ibl-video-cpu", "ibl-video-gpu"}
    gpu, cpu = jobs["ibl-video-gpu"], jobs["ibl-video-cpu"]
    assert "DLCPose" in gpu["tables"] and "DLCPose" not in cpu["tables"] and "SyncPulses" in cpu["tables"]
    assert "#SBATCH --gres=gpu:1" in gpu["script"] and "--device cuda" in gpu["script"]
    assert "#SBATCH --partition=gpu" in gpu["script"] and "#SBATCH --partition=cpu" in cpu["script"]
    assert "#SBATCH --array=0-2" in cpu["script"] and "#SBATCH --time=02:00:00" in cpu["script"]
    assert "--gres" not in cpu["script"]
    for job in jobs.values():
        assert secret not in job["script"] and "DJ_PASS" not in job["script"] and "127.0.0.1" not in job["script"]
    bad = pg_pipe.run("slurm", "submit", "--dry-run", "--time", "2 hours")
    assert bad.returncode == 2 and "--time" in bad.stderr


def test_three_array_tasks_compute_every_key_once(pg_pipe, cluster):
    pipe = pg_pipe
    pipe.add_sessions(["SL1", "SL2", "SL3"], duration_s=3.0)
    pipe.table("CameraRecording").populate(reserve_jobs=True)
    cls = pipe.table("SlowCopy")
    n_keys = len(cls().key_source)
    assert n_keys == 9
    (job,) = _submit(pipe, cluster, "--workers", "3", "--tables", "SlowCopy", faults={"slow": {"SlowCopy": 1.0}})
    assert job["workers"] == 3 and job["tables"] == ["SlowCopy"]
    cluster.wait_done(job["job_id"], 300)
    calls = pipe.calls("SlowCopy")
    keys = [json.dumps(c["key"], sort_keys=True) for c in calls]
    assert len(cls()) == n_keys, (pipe.job_rows("SlowCopy"), cluster.logs())
    assert len(keys) == len(set(keys)) == n_keys  # every key computed once
    assert len({c["pid"] for c in calls}) >= 2  # by more than one array task
    assert pipe.job_rows("SlowCopy") == [] or all(r["status"] != "error" for r in pipe.job_rows("SlowCopy"))
    outputs = list(pipe.root.glob("logs/slurm-ibl-video-cpu-*_*.out"))
    assert len(outputs) == 3


def test_scancelled_task_leaves_its_key_to_recovery_and_another_job_computes_it(pg_pipe, cluster):
    pipe = pg_pipe
    pipe.add_sessions(["SLK"], duration_s=3.0)
    pipe.table("CameraRecording").populate(reserve_jobs=True)
    cls = pipe.table("SlowCopy")
    before = visible_files(pipe.root)
    # each key's file takes 60 s to write; scancel's SIGTERM asks the worker to finish it,
    # KillWait (5 s) later SLURM kills it with its half-written file
    (job,) = _submit(pipe, cluster, "--workers", "1", "--tables", "SlowCopy", SLOWCOPY_SECONDS="60")
    reserved = wait_for(lambda: pipe.reserved("SlowCopy"), 120, "a reserved SlowCopy key")[0]
    wait_for(lambda: list(pipe.root.glob("slowcopy/.*.partial")), 60, "a half-written SlowCopy file")
    cluster.run("scancel", job["job_id"])
    cluster.wait_done(job["job_id"], 60)
    time.sleep(1)
    assert len(cls()) == 0
    assert [r["pid"] for r in pipe.reserved("SlowCopy")] == [reserved["pid"]]  # left behind
    key = {k: v for k, v in reserved.items() if k in cls.primary_key}
    # another job: its populate frees the dead task's reservation, then computes every key
    (job2,) = _submit(pipe, cluster, "--workers", "1", "--tables", "SlowCopy", SLOWCOPY_SECONDS="0")
    cluster.wait_done(job2["job_id"], 300)
    assert len(cls & key) == 1 and len(cls()) == len(cls().key_source), cluster.logs()
    assert pipe.reserved("SlowCopy") == []
    out = "".join(p.read_text() for p in pipe.root.glob(f"logs/slurm-ibl-video-cpu-{job2['job_id']}_*.out"))
    assert "recovered" in out and f"process {reserved['pid']}" in out
    assert [p for p in pipe.root.rglob(".*partial*")] == []  # no stray temporary file
    assert len(visible_files(pipe.root) - before) == len(cls())  # one result file per row, nothing else
