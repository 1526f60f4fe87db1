"""The pipeline's tables, by name, in dependency order (from DataJoint's own dependency graph)."""

from __future__ import annotations

import importlib

import datajoint as dj

import schemas


def all_tables() -> dict[str, type]:
    """Map class name to table class for every table of the activated schemas."""
    found: dict[str, type] = {}
    for name in schemas.SCHEMA_MODULES:
        module = importlib.import_module(f"schemas.{name}")
        for attr, obj in vars(module).items():
            if isinstance(obj, type) and issubclass(obj, dj.Table) and obj.__module__ == module.__name__:
                if getattr(obj, "database", None):
                    found[attr] = obj
    return found


def computed_tables() -> dict[str, type]:
    """Imported and computed tables in topological (dependency) order."""
    tables = {n: t for n, t in all_tables().items() if issubclass(t, (dj.Imported, dj.Computed))}
    by_full_name = {t.full_table_name: n for n, t in tables.items()}
    connection = next(iter(tables.values())).connection if tables else None
    if connection is None:
        return tables
    connection.dependencies.load()
    order = [by_full_name[f] for f in connection.dependencies.topo_sort() if f in by_full_name]
    return {n: tables[n] for n in order}


def resolve_names(names: list[str] | None) -> dict[str, type]:
    """Tables for ``names`` (all computed tables if empty), in dependency order.

    Raises
    ------
    KeyError
        If a name is not a table of the pipeline; the message lists the table names.
    """
    tables = computed_tables()
    if not names:
        return tables
    unknown = [n for n in names if n not in tables]
    if unknown:
        raise KeyError(f"unknown table(s) {', '.join(unknown)}; tables: {', '.join(tables)}")
    return {n: t for n, t in tables.items() if n in names}
