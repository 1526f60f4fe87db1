"""Debian packages a test needs (SLURM, Chromium), installed by the tests themselves.

The project's own set-up step for system software: when a package is missing, the test installs
it with ``apt-get`` as root (``apt-get update`` and a second try when the first install fails).
Without root or ``apt-get`` the calling test skips, saying why; with ``CI=true`` it fails
instead, so CI never passes with a real path left out.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Sequence

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(message: str, what: str):
    """Skip the calling test (fail it with ``CI=true``) because ``what`` cannot run."""
    if IN_CI:
        pytest.fail(f"{message} (CI=true: the {what} tests must run)")
    pytest.skip(message)


def apt_install(packages: Sequence[str], *, what: str, installed: Callable[[], bool], timeout: float = 1800) -> None:
    """Install Debian ``packages`` unless ``installed()`` already says they are there.

    ``what`` names the tests that need them in the skip or failure message.
    """
    if installed():
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        unavailable(f"{what} is not installed and this user cannot install it (needs root and apt-get)", what)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=timeout)
        done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0 or not installed():
        unavailable(f"apt-get could not install {' '.join(packages)}: {done.stderr.strip()[-500:]}", what)
