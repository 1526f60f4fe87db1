"""Bench row for acquisition/simulator.py.

``simulate-session``: render ``K`` left-camera frames at the camera's full 1280x1024 with
:meth:`acquisition.simulator.MouseScene.render` (in chunks of 30 frames, as a simulated
camera does), against real time: the ``K / 60`` s the real camera takes to expose them at
60 Hz. Here ``ratio = baseline_seconds / seconds`` (a throughput ratio): above 1 the
simulator renders faster than real time. Building the scene (static background, textures,
noise field; once per camera and session) is timed separately and reported in the note.
"""

from __future__ import annotations

import os
import time

import numpy as np

from bench import BenchResult, row

FPS = 60.0


@row("simulate-session")
def simulate_session() -> BenchResult:
    from acquisition.simulator import Behaviour, MouseScene

    k = int(os.environ.get("BENCH_SIMULATE_FRAMES", "600"))
    chunk = 30
    behaviour = Behaviour(60.0, seed=0)
    t0 = time.perf_counter()
    scene = MouseScene(behaviour, "left", 1280, 1024, seed=0)
    build = time.perf_counter() - t0
    times = 5.0 + np.arange(k) / FPS  # includes licks (trial onsets from 1 s) and a blink
    out = np.empty((chunk, 1024, 1280), np.uint8)
    scene.render(times[:chunk], out=out)  # warm-up (first-touch of memory)
    t0 = time.perf_counter()
    for start in range(0, k, chunk):
        part = times[start : start + chunk]
        scene.render(part, out=out[: len(part)])
    seconds = time.perf_counter() - t0
    baseline = k / FPS
    licking = int(behaviour.licking(times).sum())
    return BenchResult(
        row="simulate-session",
        seconds=seconds,
        baseline="real time at 60 Hz",
        baseline_seconds=baseline,
        ratio=baseline / seconds,
        note=(
            f"{k} left-camera frames 1280x1024 rendered in chunks of {chunk} "
            f"({k / seconds:.0f} frames/s; {licking} with the tongue out); ratio = real time / "
            f"render time, >1 = faster than real time; scene build {build:.2f} s not included"
        ),
    )
