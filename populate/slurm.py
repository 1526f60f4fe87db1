"""Workers as SLURM job arrays (``ibl-video slurm submit``).

Each array task runs ``ibl-video populate TABLES --workers 1`` against the lab's server: it
frees the reservations of dead workers first (``--stale-after``), then computes keys with
DataJoint's job reservation, so tasks on any node never compute a key twice. A task that
SLURM kills (time limit, ``scancel``, preemption) gets SIGTERM first and finishes or
abandons its key cleanly; one killed outright leaves a stale reservation that the next task's
recovery frees (same node: its process is gone; another node: no heartbeat for
``--stale-after`` seconds).

The tables whose computation takes a ``device`` (the pose networks) go to their own array on
the GPU partition with ``--gres=gpu:1`` and ``--device cuda`` when ``gpu`` is set; the rest
run on CPU. The database settings travel in the environment sbatch exports (``--export=ALL``:
DataJoint's own ``DJ_*`` variables or its config file, and ``IBL_VIDEO_*``); the script holds
no host, user or password.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

_TIME = re.compile(r"^(\d+-)?\d{1,3}:\d{2}:\d{2}$")


@dataclass(frozen=True)
class ArrayJob:
    """One sbatch job array: its name, tables and script."""

    name: str
    tables: tuple[str, ...]
    workers: int
    gpu: bool
    script: str


def build_jobs(
    tables: Sequence[str],
    gpu_tables: Sequence[str],
    *,
    workers: int,
    gpu: bool,
    partition: str | None,
    gpu_partition: str | None,
    time_limit: str,
    stale_after: float,
    log_dir: Path,
    workdir: Path,
    python: str = sys.executable,
    gpu_workers: int | None = None,
) -> list[ArrayJob]:
    """The job arrays for ``tables`` (in dependency order): CPU tables in one array and, with
    ``gpu``, the ``gpu_tables`` among them in another on the GPU partition.

    Raises
    ------
    ValueError
        A time limit SLURM does not read, fewer than one worker, no tables.
    """
    if not _TIME.match(time_limit):
        raise ValueError(f"--time {time_limit!r} is not [D-]HH:MM:SS")
    if workers < 1:
        raise ValueError("--workers must be at least 1")
    if not tables:
        raise ValueError("no tables to populate")
    on_gpu = [t for t in tables if gpu and t in gpu_tables]
    on_cpu = [t for t in tables if t not in on_gpu]
    jobs = []
    for name, group, use_gpu, n in (
        ("ibl-video-cpu", on_cpu, False, workers),
        ("ibl-video-gpu", on_gpu, True, gpu_workers or workers),
    ):
        if not group:
            continue
        part = gpu_partition if use_gpu else partition
        lines = [
            "#!/bin/bash",
            f"#SBATCH --job-name={name}",
            f"#SBATCH --array=0-{n - 1}",
            f"#SBATCH --time={time_limit}",
            "#SBATCH --ntasks=1",
            "#SBATCH --cpus-per-task=1",
            "#SBATCH --export=ALL",
            f"#SBATCH --output={log_dir}/slurm-%x-%A_%a.out",
            *([f"#SBATCH --partition={part}"] if part else []),
            *(["#SBATCH --gres=gpu:1"] if use_gpu else []),
            "# ibl-video populate workers (ibl-video slurm submit). The database settings come from the",
            "# environment sbatch exports (DataJoint's configuration, IBL_VIDEO_*): none is written here.",
            "set -euo pipefail",
            f"cd {shlex.quote(str(workdir))}",
            "exec " + shlex.join([
                python, "-m", "populate.cli", "populate", *group, "--workers", "1",
                "--stale-after", f"{stale_after:g}", *(["--device", "cuda"] if use_gpu else []),
            ]),
        ]  # fmt: skip
        jobs.append(ArrayJob(name=name, tables=tuple(group), workers=n, gpu=use_gpu, script="\n".join(lines) + "\n"))
    return jobs


def sbatch_exe() -> str:
    """Path of ``sbatch``; FileNotFoundError saying so when SLURM's client is not installed."""
    exe = shutil.which("sbatch")
    if exe is None:
        raise FileNotFoundError("sbatch not found: SLURM's client commands are not installed on this machine (Debian: slurm-client)")
    return exe


def submit(job: ArrayJob, env: Mapping[str, str]) -> str:
    """Submit one array with ``sbatch --parsable`` (script on stdin); returns its job id.

    Raises
    ------
    RuntimeError
        sbatch refused the job (its message).
    """
    done = subprocess.run([sbatch_exe(), "--parsable"], input=job.script, env=dict(env), capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"sbatch refused {job.name}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip().split(";")[0]
