"""DataJoint tables of the pipeline.

Every schema module declares its tables on an unactivated ``dj.Schema()``; nothing touches
a database at import. :func:`activate` connects (embedded server or a lab's server) and
binds all schemas to ``<prefix>_<module>`` names, in dependency order::

    import schemas
    schemas.activate()                       # settings from env / config file / defaults
    from schemas.session import Session
    Session()
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator

from schemas.config import Settings, resolve_settings, set_current

# DataJoint logs to stdout by default; keep stdout for results (e.g. `status --json`).
os.environ.setdefault("DJ_LOG_STREAM", "stderr")

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="No datajoint.json found")
    import datajoint as dj  # noqa: F401  (imported once here, quietly)


class _JobsTableNativeTypeWarning:
    """Drops DataJoint 2.3.5's "Native type 'smallint' is used in attribute ..." warnings.

    DataJoint declares a table's jobs table (``populate(reserve_jobs=True)``) from its key
    attributes' SQL types (``smallint`` for our ``int16``) and then warns about the native
    type it wrote itself, twice per populate call. Our own definitions use core types only
    (``tests/schemas/test_workarounds.py`` checks that DataJoint still warns, and that ours
    declare no native type).
    """

    NATIVE_NAMES_OF_CORE_TYPES = ("smallint", "integer", "bigint", "tinyint", "int", "double", "float", "real")

    def filter(self, record) -> bool:
        message = record.getMessage()
        return not (message.startswith("Native type '") and message.split("'")[1] in self.NATIVE_NAMES_OF_CORE_TYPES)


JOBS_WARNING_FILTER = _JobsTableNativeTypeWarning()
logging.getLogger("datajoint").addFilter(JOBS_WARNING_FILTER)

#: Schema modules in dependency order; each has a module-level ``schema = dj.Schema()``.
SCHEMA_MODULES: tuple[str, ...] = ("session", "sync", "compression", "qc", "pose", "features", "studies")


def _modules():
    return [importlib.import_module(f"schemas.{name}") for name in SCHEMA_MODULES]


def activate(settings: Settings | None = None, connection=None):
    """Connect and bind every schema to ``<prefix>_<module>``; returns the connection.

    Calling it again with other settings or another connection re-binds the tables (used
    by the tests to run one suite on several servers).
    """
    from schemas.database import connect

    settings = settings or resolve_settings()
    settings.data_root.mkdir(parents=True, exist_ok=True)
    set_current(settings)
    connection = connection or connect(settings)
    with declaration_lock(connection, settings.schema_prefix):
        for module in _modules():
            schema = module.schema
            name = f"{settings.schema_prefix}_{module.__name__.rsplit('.', 1)[1]}"
            if schema.database is not None and (schema.database != name or schema.connection is not connection):
                _deactivate(schema)
            schema.activate(name, connection=connection)
            for table in vars(module).values():
                if isinstance(table, type) and issubclass(table, (dj.Imported, dj.Computed)) and table.__module__ == module.__name__:
                    table.jobs  # noqa: B018  (declares the jobs table on first access; here, under the lock)
    return connection


@contextlib.contextmanager
def declaration_lock(connection, prefix: str) -> Iterator[None]:
    """Serialise schema declaration and lookup contents across processes and hosts.

    DataJoint declares missing tables, fills lookups and declares jobs tables without a lock
    of its own: workers starting together on a fresh schema prefix collide ("duplicate key
    value violates unique constraint pg_type_typname_nsp_index"). This holds a server-wide
    advisory lock named after the prefix (PostgreSQL ``pg_advisory_lock``, MySQL/MariaDB
    ``GET_LOCK``) for as long as the block runs; a process that has to wait says so on stderr.
    """
    # MySQL lock names are at most 64 characters; the digest keeps any prefix in range
    name = "ibl_video_declare_" + hashlib.md5(prefix.encode()).hexdigest()[:24]
    if connection.adapter.backend == "postgresql":
        try_sql, wait_sql, release_sql = (
            "SELECT pg_try_advisory_lock(hashtext(%s))", "SELECT pg_advisory_lock(hashtext(%s)), true",
            "SELECT pg_advisory_unlock(hashtext(%s))",
        )  # fmt: skip
    else:
        try_sql, wait_sql, release_sql = "SELECT GET_LOCK(%s, 0)", "SELECT GET_LOCK(%s, 600)", "SELECT RELEASE_LOCK(%s)"
    if not connection.query(try_sql, (name,)).fetchone()[0]:
        print(f"waiting for another process declaring the schemas of prefix {prefix!r} ...", file=sys.stderr, flush=True)
        if not connection.query(wait_sql, (name,)).fetchone()[-1]:
            raise TimeoutError(f"another process held the declaration lock of prefix {prefix!r} for 600 s")
    try:
        yield
    finally:
        connection.query(release_sql, (name,))


def _deactivate(schema) -> None:
    """Unbind a schema so it can be activated again (DataJoint 2.3.5 has no public call for this)."""
    schema.database = None
    schema.connection = None


def drop_all(*, force: bool = True) -> None:
    """Drop every schema of the active prefix (tests and ``ibl-video db reset``)."""
    for module in reversed(_modules()):
        schema = module.schema
        if schema.database is not None and schema.exists:
            schema.drop(prompt=not force)
        _deactivate(schema)
