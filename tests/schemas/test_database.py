"""The embedded server: shared by processes on one data root, started and stopped by the CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = textwrap.dedent(
    """
    import json, sys, time
    from schemas.config import Settings
    from schemas.database import connect, start_embedded
    settings = Settings(data_root=sys.argv[1], database="embedded")
    conn = connect(settings)
    info = start_embedded(settings)
    backend_pid = conn.query("select pg_backend_pid()").fetchone()[0]
    time.sleep(float(sys.argv[2]))
    print(json.dumps({"server_pid": info.pid, "socket": str(info.socket_dir), "backend_pid": backend_pid}))
    """
)


def _cli(*args, root: Path, check=True):
    return subprocess.run(
        [sys.executable, "-m", "populate.cli", "--data-root", str(root), *args],
        capture_output=True, text=True, cwd=ROOT, check=check,
    )  # fmt: skip


def test_two_processes_share_one_embedded_server(tmp_path):
    root = tmp_path / "shared"
    root.mkdir()
    procs = [
        subprocess.Popen([sys.executable, "-c", PROBE, str(root), "2"], stdout=subprocess.PIPE, text=True, cwd=ROOT)
        for _ in range(2)
    ]
    results = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert results[0]["server_pid"] == results[1]["server_pid"]
    assert results[0]["socket"] == results[1]["socket"]
    assert results[0]["backend_pid"] != results[1]["backend_pid"]  # two sessions, one server
    # the last process to exit stopped the server (no `db start` was asked for)
    status = _cli("db", "status", root=root, check=False)
    assert status.returncode == 3, status.stdout + status.stderr


def test_db_start_status_stop(tmp_path):
    root = tmp_path / "cli"
    started = _cli("db", "start", root=root)
    assert "embedded server running" in started.stdout
    try:
        status = _cli("db", "status", root=root)
        assert "running" in status.stdout
        # a process using the data root reuses the server and does not stop it on exit
        subprocess.run([sys.executable, "-c", PROBE, str(root), "0"], check=True, cwd=ROOT, capture_output=True)
        assert _cli("db", "status", root=root).returncode == 0
    finally:
        stopped = _cli("db", "stop", root=root)
    assert "stopped" in stopped.stdout
    assert _cli("db", "status", root=root, check=False).returncode == 3


SECRET_RE = re.compile(r"""(?i)\b(dj_pass|password|passwd)\b\s*[=:]\s*(?:(["'])([^"']+)\2|(?<![\w\[(])([^\s"'(\[,)]+)$)""", re.M)


def test_no_password_in_repository():
    """No tracked file holds a credential (placeholders like ``...``, ``<pw>``, ``$VAR`` are fine)."""
    tracked = subprocess.run(["git", "ls-files"], capture_output=True, text=True, cwd=ROOT).stdout.split()
    assert "datajoint.json" not in tracked and not any(p.startswith(".secrets/") for p in tracked)
    offenders = []
    for rel in tracked:
        path = ROOT / rel
        if rel == "tests/schemas/test_database.py" or not path.is_file() or path.suffix in (".svg", ".png"):
            continue
        for match in SECRET_RE.finditer(path.read_text(errors="ignore")):
            value = match.group(3) or match.group(4) or ""
            if value and not value.startswith((".", "<", "$", "{", "None", "str", "SecretStr")):
                offenders.append(f"{rel}: {match.group(0)}")
    assert offenders == []


@pytest.mark.parametrize("bad", ["../outside", "/etc/passwd", "a/../../b"])
def test_paths_escaping_the_data_root_are_refused(tmp_path, bad):
    from pipeline.layout import DataRootError, resolve_under, to_relative

    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(DataRootError, match="data root"):
        resolve_under(root, bad)
    with pytest.raises(DataRootError, match="outside the data root"):
        to_relative(root, root / bad if not bad.startswith("/") else bad)


def test_symlink_out_of_the_data_root_is_refused(tmp_path):
    from pipeline.layout import DataRootError, resolve_under

    root = tmp_path / "root"
    (root / "s").mkdir(parents=True)
    (tmp_path / "secret").mkdir()
    (root / "s" / "link").symlink_to(tmp_path / "secret")
    with pytest.raises(DataRootError):
        resolve_under(root, "s/link")
    assert resolve_under(root, "s") == (root / "s").resolve()
