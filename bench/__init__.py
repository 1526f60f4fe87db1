"""Benchmarks that print ratio tables: ``python -m bench [ROW ...] [--json]``.

Each row times the project's way of doing something against a named baseline in the same
run and reports the ratio ``seconds / baseline_seconds`` (or, where a row says so, a
throughput ratio). Rows register themselves with :func:`row` in the ``bench.rows_*``
modules, which are imported lazily so one row's heavy imports do not slow the others.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import asdict, dataclass


@dataclass
class BenchResult:
    """One row of the bench table.

    Attributes
    ----------
    row : str
        Row name (stable; later issues refer to rows by name).
    seconds : float
        Wall time of the measured operation, seconds.
    baseline : str
        What it is compared against.
    baseline_seconds : float
        Wall time of the baseline in the same run, seconds.
    ratio : float
        ``seconds / baseline_seconds`` unless the note says otherwise.
    note : str
        Sizes, counts and how to read the ratio.
    """

    row: str
    seconds: float
    baseline: str
    baseline_seconds: float
    ratio: float
    note: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


ROWS: dict[str, Callable[[], BenchResult]] = {}


def row(name: str) -> Callable[[Callable[[], BenchResult]], Callable[[], BenchResult]]:
    """Register a bench row function under ``name``."""

    def register(fn: Callable[[], BenchResult]) -> Callable[[], BenchResult]:
        ROWS[name] = fn
        return fn

    return register


def load_rows() -> dict[str, Callable[[], BenchResult]]:
    """Import every ``bench.rows_*`` module and return the registry."""
    import bench

    for info in pkgutil.iter_modules(bench.__path__):
        if info.name.startswith("rows_"):
            importlib.import_module(f"bench.{info.name}")
    return ROWS
