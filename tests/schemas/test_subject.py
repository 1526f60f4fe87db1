"""The Subject table (Session's parent): every insertion path fills it, from a file or with unknowns."""

from __future__ import annotations

import datetime as dt
import json

import pytest

START = dt.datetime(2026, 1, 2, 10, 0)


def _folder(db, subject: str, number: int = 1):
    folder = db.data_root / subject / "2026-01-02" / f"{number:03d}"
    (folder / "raw_video_data").mkdir(parents=True)  # a session folder (its videos are not needed here)
    return folder


def test_subject_is_sessions_parent(db):
    from schemas.session import Session, Subject

    assert Subject.full_table_name in Session.parents()
    assert Subject.primary_key == ["subject"] and "subject" in Session.primary_key


def test_session_without_a_description_gets_a_subject_with_everything_unknown(db):
    from schemas.session import Subject, insert_session

    key = insert_session(_folder(db, "NODESC"), rig_type="training", start_time=START)
    row = (Subject & key).fetch1()
    assert (row["sex"], row["date_of_birth"], row["species"], row["strain"]) == ("U", None, "Mus musculus", "")
    # a second session of the subject reuses the row
    insert_session(_folder(db, "NODESC", 2), rig_type="training", start_time=START)
    assert len(Subject & key) == 1
    # a later description fills in what was unknown, and a description that knows less changes nothing
    insert_session(_folder(db, "NODESC", 3), rig_type="training", start_time=START,
                   subject_info={"nickname": "NODESC", "sex": "F", "birth_date": "2025-08-30"})  # fmt: skip
    row = (Subject & key).fetch1()
    assert (row["sex"], row["date_of_birth"], row["strain"]) == ("F", dt.date(2025, 8, 30), "")
    insert_session(_folder(db, "NODESC", 4), rig_type="training", start_time=START, subject_info={"nickname": "NODESC"})
    assert (Subject & key).fetch1("sex") == "F"


def test_session_insert_takes_the_subject_from_alyxs_record_and_refuses_a_disagreeing_one(db, tmp_path):
    from acquisition.insert import insert_recorded_session
    from schemas.session import Session, Subject

    alyx = tmp_path / "KS9.json"
    alyx.write_text(json.dumps({"nickname": "KS9", "sex": "F", "birth_date": "2025-08-30", "species": "Mus musculus",
                                "strain": "C57BL/6J", "lab": "cortexlab", "line": None}))  # fmt: skip
    key = insert_recorded_session(_folder(db, "KS9"), rig_type="training", start_time=START, subject_file=alyx)
    row = (Subject & key).fetch1()
    assert (row["sex"], row["date_of_birth"], row["strain"]) == ("F", dt.date(2025, 8, 30), "C57BL/6J")
    other = tmp_path / "KS9_other.json"
    other.write_text(json.dumps({"nickname": "KS9", "sex": "M", "birth_date": "2025-08-30"}))
    folder = _folder(db, "KS9", 2)
    with pytest.raises(ValueError, match=r"subject KS9 is already in the Subject table with other values \(sex: 'F'"):
        insert_recorded_session(folder, rig_type="training", start_time=START, subject_file=other)
    assert not (Session & {"subject": "KS9", "session_number": 2})  # nothing half-written
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"nickname": "KS10"}))
    with pytest.raises(ValueError, match=r"wrong.json describes subject 'KS10', not 'KS9'"):
        insert_recorded_session(folder, rig_type="training", start_time=START, subject_file=wrong)
    assert not (Session & {"subject": "KS9", "session_number": 2})


def test_bad_subject_file_is_refused_naming_file_and_key_with_nothing_inserted(db, tmp_path):
    from acquisition.insert import insert_recorded_session
    from schemas.session import Session, Subject

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"nickname": "BAD1", "sex": "female"}))
    folder = _folder(db, "BAD1")
    with pytest.raises(ValueError, match=r"bad.json: sex must be one of M, F, U \(U: unknown\), got 'female'"):
        insert_recorded_session(folder, rig_type="training", start_time=START, subject_file=bad)
    bad.write_text(json.dumps({"sex": "F", "birth_date": "30/08/2025"}))
    with pytest.raises(ValueError, match=r"bad.json: date_of_birth must be YYYY-MM-DD, got '30/08/2025'"):
        insert_recorded_session(folder, rig_type="training", start_time=START, subject_file=bad)
    bad.write_text(json.dumps({"sex": "F", "species": "mouse"}))
    with pytest.raises(ValueError, match=r"bad.json: species must be a Latin binomial"):
        insert_recorded_session(folder, rig_type="training", start_time=START, subject_file=bad)
    with pytest.raises(FileNotFoundError, match="subject file not found: .*missing.json"):
        insert_recorded_session(folder, rig_type="training", start_time=START, subject_file=tmp_path / "missing.json")
    assert not (Subject & {"subject": "BAD1"}) and not (Session & {"subject": "BAD1"})


def test_cli_session_insert_with_a_subject_file(db, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import populate.cli as cli
    from schemas.session import Subject

    monkeypatch.setattr(cli, "_activate", lambda: db.settings)  # the test's schemas are active already
    runner = CliRunner()
    good = tmp_path / "CLI1.json"
    good.write_text(json.dumps({"nickname": "CLI1", "sex": "M", "birth_date": None, "strain": "C57BL/6J"}))
    args = ["session", "insert", str(_folder(db, "CLI1")), "--rig", "training", "--start-time", START.isoformat()]
    result = runner.invoke(cli.app, [*args, "--subject-file", str(good)])
    assert result.exit_code == 0, result.output
    assert (Subject & {"subject": "CLI1"}).fetch1("sex", "date_of_birth") == ("M", None)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    args = ["session", "insert", str(_folder(db, "CLI2")), "--rig", "training", "--start-time", START.isoformat()]
    result = runner.invoke(cli.app, [*args, "--subject-file", str(bad)])
    assert result.exit_code == 2 and "bad.json is not valid JSON" in " ".join(result.output.split())
    assert not (Subject & {"subject": "CLI2"})


def test_cli_acquire_keeps_the_subject_file_in_session_json_and_refuses_a_disagreeing_one(db, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import populate.cli as cli
    from schemas.session import Session, Subject

    monkeypatch.setattr(cli, "_activate", lambda: db.settings)  # the test's schemas are active already
    runner = CliRunner()
    alyx = tmp_path / "ACQ1.json"
    alyx.write_text(json.dumps({"nickname": "ACQ1", "sex": "F", "birth_date": "2025-06-01", "strain": "C57BL/6J"}))
    args = ["acquire", "--subject", "ACQ1", "--rig", "training", "--duration", "2", "--scale", "0.125"]
    result = runner.invoke(cli.app, [*args, "--subject-file", str(alyx)])
    assert result.exit_code == 0, result.output
    assert (Subject & {"subject": "ACQ1"}).fetch1("sex", "date_of_birth") == ("F", dt.date(2025, 6, 1))
    folder = next((db.data_root / "ACQ1").glob("*/001"))
    assert json.loads((folder / "session.json").read_text())["subject_info"]["date_of_birth"] == "2025-06-01"
    alyx.write_text(json.dumps({"nickname": "ACQ1", "sex": "M", "birth_date": "2025-06-01"}))
    result = runner.invoke(cli.app, [*args, "--subject-file", str(alyx)])
    out = " ".join(result.output.split())
    assert result.exit_code == 2 and "subject ACQ1 is already in the Subject table with other values" in out
    assert len(Session & {"subject": "ACQ1"}) == 1  # the second recording is kept on disk, not inserted
