"""The command line: --help everywhere, errors to stderr with exit codes."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from populate.cli import app

runner = CliRunner()


def _commands(typer_app, prefix=()):
    import typer.main

    group = typer.main.get_command(typer_app)
    stack = [(prefix, group)]
    while stack:
        path, cmd = stack.pop()
        yield path
        for name, sub in getattr(cmd, "commands", {}).items():
            stack.append(((*path, name), sub))


@pytest.mark.parametrize("path", sorted(_commands(app)), ids=lambda p: " ".join(p) or "ibl-video")
def test_help_on_every_subcommand(path):
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_unknown_table_is_a_usage_error(tmp_path):
    result = runner.invoke(app, ["--data-root", str(tmp_path), "populate", "NoSuchTable"])
    assert result.exit_code == 2
    assert "unknown table" in result.output and "CameraRecording" in result.output


def test_acquire_command_records_and_inserts(tmp_path):
    root = str(tmp_path / "root")
    result = runner.invoke(app, ["--data-root", root, "acquire", "--subject", "CLI01", "--duration", "3", "--scale", "0.25"])
    assert result.exit_code == 0, result.output
    assert "inserted session CLI01/" in result.output
    status = runner.invoke(app, ["--data-root", root, "status", "--json"])
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["Session"]["rows"] == 1
    again = runner.invoke(app, ["--data-root", root, "session", "insert", str(tmp_path / "root" / "CLI01")])
    assert again.exit_code == 2
