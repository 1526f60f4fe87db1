"""Command line of the bench harness: ``python -m bench [ROW ...] [--json] [--list]``."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator

from bench import BenchResult, load_rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("rows", nargs="*", help="row names to run (default: all)")
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    parser.add_argument("--list", action="store_true", help="list the row names and exit")
    args = parser.parse_args(argv)
    rows = load_rows()
    if args.list:
        print("\n".join(sorted(rows)))
        return 0
    names = args.rows or sorted(rows)
    unknown = [n for n in names if n not in rows]
    if unknown:
        print(f"unknown bench row(s): {', '.join(unknown)}; known: {', '.join(sorted(rows))}", file=sys.stderr)
        return 2
    results: list[BenchResult] = []
    with stdout_to_stderr():
        for name in names:
            print(f"running {name} ...", file=sys.stderr)
            results.append(rows[name]())
    if args.json:
        print(json.dumps([r.as_dict() for r in results], indent=2))
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title="ibl-video-pipeline bench")
        for col in ("row", "seconds", "baseline", "baseline s", "ratio", "note"):
            table.add_column(col)
        for r in results:
            table.add_row(r.row, f"{r.seconds:.3f}", r.baseline, f"{r.baseline_seconds:.3f}", f"{r.ratio:.3f}", r.note)
        Console(width=200).print(table)
    return 0


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send everything written to stdout while the rows run to stderr, so that stdout holds
    only the result (``--json`` parses): Python's prints, DataJoint's and DeepLabCut's
    messages, and subprocesses (ffmpeg) that inherit file descriptor 1."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


if __name__ == "__main__":
    sys.exit(main())
