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


def test_datajoint_jobs_table_still_warns_about_its_own_native_types(db, caplog):
    """DataJoint 2.3.5 declares a jobs table from the key's SQL types and warns about them.

    ``schemas.JOBS_WARNING_FILTER`` drops those warnings (twice per populate otherwise).
    When this test fails, DataJoint no longer warns: remove the filter. The pipeline's own
    tables declare no native type: declaring them with the filter off warns nothing.
    """
    import logging

    import schemas

    log = logging.getLogger("datajoint")
    log.removeFilter(schemas.JOBS_WARNING_FILTER)
    schema = dj.Schema(f"{db.settings.schema_prefix}_jobsprobe", connection=db.connection)
    try:

        @schema
        class Parent(dj.Manual):
            definition = """
            parent_number: int16
            """

        with caplog.at_level(logging.WARNING, logger="datajoint"):

            @schema
            class Child(dj.Computed):
                definition = """
                -> Parent
                """

                def make(self, key):
                    self.insert1(key)

            assert not [r for r in caplog.records if "Native type" in r.getMessage()]  # our own declaration: none
            Parent.insert1({"parent_number": 1})
            Child.populate(reserve_jobs=True)
        native = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Native type '")]
        assert native and all(not schemas.JOBS_WARNING_FILTER.filter(r) for r in caplog.records if r.getMessage() in native)
    finally:
        log.addFilter(schemas.JOBS_WARNING_FILTER)
        schema.drop(prompt=False)
