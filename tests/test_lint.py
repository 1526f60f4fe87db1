"""The one linter config (ruff, in pyproject.toml) holds for the whole tree, and pipeline/ never imports DataJoint."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_clean():
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "."], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_pipeline_never_imports_datajoint():
    pattern = re.compile(r"^\s*(import datajoint|from datajoint)", re.M)
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "pipeline").rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []


def test_pipeline_imports_no_upper_layer():
    """pipeline/ is the bottom layer: nothing in it imports schemas/, populate/ or acquisition/."""
    pattern = re.compile(r"^\s*(from|import) (schemas|populate|acquisition)\b", re.M)
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "pipeline").rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []
