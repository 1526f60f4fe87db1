"""DataJoint's diagram of the pipeline, saved as a picture or as Mermaid text."""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import datajoint as dj

import schemas


def pipeline_diagram() -> dj.Diagram:
    """``dj.Diagram`` of every activated schema of the pipeline."""
    diagram = None
    for name in schemas.SCHEMA_MODULES:
        module = importlib.import_module(f"schemas.{name}")
        d = dj.Diagram(module.schema)
        diagram = d if diagram is None else diagram + d
    return diagram


def write_diagram(path: Path | str) -> Path:
    """Write the pipeline's diagram to ``path``.

    ``.mmd`` gives DataJoint's Mermaid text (no extra software); ``.svg`` and ``.png`` use
    DataJoint's graphviz rendering, which needs graphviz's ``dot`` program on ``PATH``
    (Debian: ``apt install graphviz``).

    Raises
    ------
    RuntimeError
        If a picture is asked for and ``dot`` is not installed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    diagram = pipeline_diagram()
    if path.suffix in (".mmd", ".mermaid"):
        path.write_text(diagram.make_mermaid())
        return path
    if shutil.which("dot") is None:
        raise RuntimeError(
            f"cannot render {path}: graphviz's 'dot' is not installed (apt install graphviz); "
            "write a .mmd file for a Mermaid diagram instead"
        )
    # Diagram.save(".svg") needs IPython in DataJoint 2.3.5 (make_svg imports it); write
    # DataJoint's own SVG and PNG renderings directly instead.
    if path.suffix == ".svg":
        path.write_text(diagram.svg_string())
    else:
        path.write_bytes(diagram.make_png().getvalue())
    return path
