"""Each workaround for a dependency's bug, with a test that fails once the bug is fixed."""

from __future__ import annotations

import uuid

import datajoint as dj
import pytest


def test_datajoint_uuid_on_postgresql_still_broken(db):
    """DataJoint 2.3.5 inserts a ``uuid`` attribute as bytes into PostgreSQL's ``uuid`` column.

    ``schemas.session.Session`` keeps ``session_uuid`` as ``char(36)`` because of this. When
    this test fails on PostgreSQL, the bug is fixed: switch the attribute back to ``uuid``.
    """
    schema = dj.Schema(f"{db.settings.schema_prefix}_uuidprobe", connection=db.connection)

    @schema
    class Probe(dj.Manual):
        definition = """
        probe_id: int32
        ---
        probe_uuid: uuid
        """

    value = uuid.uuid4()
    try:
        if db.backend == "mysql":  # MySQL stores uuid as binary(16): works there
            Probe.insert1({"probe_id": 1, "probe_uuid": value})
            assert (Probe & {"probe_id": 1}).fetch1("probe_uuid") == value
        else:
            with pytest.raises(Exception, match="type uuid but expression is of type bytea"):
                Probe.insert1({"probe_id": 1, "probe_uuid": value})
    finally:
        schema.drop(prompt=False)
