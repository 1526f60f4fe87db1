"""One self-contained HTML page from figures (PNG) and tables: ``ibl-video report``.

Pure building: no database. Every figure is embedded as a ``data:image/png;base64`` URI, so
the page is one file that opens anywhere (mail it, attach it to a lab notebook); every text
goes through :func:`html.escape`. :mod:`schemas.report` gathers a session's or a rig's
figures and tables; :func:`study_folder_items` reads the folders the ``study`` commands
write.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.io import atomic_write

__all__ = ["Figure", "Section", "Table", "png_data_uri", "render_report", "study_folder_items", "write_report"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Figure:
    """A figure of a report.

    Attributes
    ----------
    title : str
        Heading above the figure (and the image's ``alt`` text).
    png : bytes or Path
        The PNG's bytes, or the file to read them from.
    caption : str
        Text under the figure (may be empty).
    """

    title: str
    png: bytes | Path
    caption: str = ""


@dataclass(frozen=True)
class Table:
    """A table of a report.

    Attributes
    ----------
    title : str
        Heading above the table.
    columns : sequence of str
        Column headings.
    rows : sequence of sequence
        One sequence of cells per row (any values: shown with :func:`format_cell`).
    caption : str
        Text under the table (may be empty).
    row_classes : sequence of str, optional
        A CSS class per row (e.g. the QC outcome, which colours the row); empty: none.
    """

    title: str
    columns: Sequence[str]
    rows: Sequence[Sequence[object]]
    caption: str = ""
    row_classes: Sequence[str] = ()

    @classmethod
    def from_dataframe(cls, title: str, df, caption: str = "", *, digits: int = 4) -> Table:
        """A table of a pandas DataFrame's columns and rows (floats to ``digits`` significant digits)."""
        rows = [[format_cell(v, digits) for v in row] for row in df.itertuples(index=False, name=None)]
        return cls(title=title, columns=[str(c) for c in df.columns], rows=rows, caption=caption)


@dataclass(frozen=True)
class Section:
    """A heading with text, figures and tables, in the order given.

    Attributes
    ----------
    heading : str
    items : sequence of Figure or Table
    text : str
        A paragraph under the heading (may be empty).
    """

    heading: str
    items: Sequence[Figure | Table] = field(default_factory=tuple)
    text: str = ""


def format_cell(value, digits: int = 4) -> str:
    """A table cell as text: None and NaN as an empty cell, floats to ``digits`` significant digits."""
    if value is None:
        return ""
    if isinstance(value, float | int) and not isinstance(value, bool):
        if value != value:  # NaN
            return ""
        if isinstance(value, float):
            return f"{value:.{digits}g}"
        return str(value)
    try:
        import pandas as pd

        if not isinstance(value, str) and pd.isna(value):
            return ""
    except (TypeError, ValueError):  # arrays and other non-scalars
        pass
    if hasattr(value, "item") and not isinstance(value, str):
        try:
            return format_cell(value.item(), digits)
        except (TypeError, ValueError):
            pass
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def png_data_uri(png: bytes | Path | str) -> str:
    """A PNG as a ``data:image/png;base64,...`` URI.

    Parameters
    ----------
    png : bytes or path
        The PNG's bytes or its file.

    Raises
    ------
    FileNotFoundError
        If the file does not exist (naming it).
    ValueError
        If the bytes are not a PNG (naming the file when one was given).
    """
    what = "PNG bytes"
    if not isinstance(png, bytes | bytearray):
        path = Path(png)
        if not path.is_file():
            raise FileNotFoundError(f"figure not found: {path}")
        what, png = str(path), path.read_bytes()
    if not bytes(png[:8]) == PNG_SIGNATURE:
        raise ValueError(f"{what} is not a PNG image (no PNG signature)")
    return "data:image/png;base64," + base64.b64encode(bytes(png)).decode("ascii")


_STYLE = """
body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.25em; border-bottom: 1px solid #ccc; margin-top: 2em; }
h3 { font-size: 1.05em; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption, .caption { color: #555; font-size: 0.9em; margin-top: 0.3em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
tr.PASS td { background: #e8f6e8; } tr.WARNING td { background: #fff6d9; }
tr.FAIL td, tr.CRITICAL td { background: #fde2e2; } tr.NOT_SET td { color: #888; }
.meta { color: #666; font-size: 0.85em; }
"""


def _figure_html(fig: Figure) -> str:
    esc = html.escape
    caption = f"<figcaption>{esc(fig.caption)}</figcaption>" if fig.caption else ""
    return (f'<figure><h3>{esc(fig.title)}</h3><img src="{png_data_uri(fig.png)}" alt="{esc(fig.title, quote=True)}">'
            f"{caption}</figure>")  # fmt: skip


def _table_html(table: Table) -> str:
    esc = html.escape
    if table.row_classes and len(table.row_classes) != len(table.rows):
        raise ValueError(f"table {table.title!r}: {len(table.row_classes)} row classes for {len(table.rows)} rows")
    head = "".join(f"<th>{esc(str(c))}</th>" for c in table.columns)
    body = []
    for i, row in enumerate(table.rows):
        if len(row) != len(table.columns):
            raise ValueError(f"table {table.title!r}: row {i} has {len(row)} cells for {len(table.columns)} columns")
        cls = f' class="{esc(table.row_classes[i], quote=True)}"' if table.row_classes else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{esc(format_cell(v))}</td>" for v in row) + "</tr>")
    caption = f'<p class="caption">{esc(table.caption)}</p>' if table.caption else ""
    return (f"<h3>{esc(table.title)}</h3><table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            f"{caption}")  # fmt: skip


def render_report(title: str, sections: Sequence[Section], *, subtitle: str = "") -> str:
    """The report as one HTML document: every figure a ``data:`` URI, every text escaped.

    Parameters
    ----------
    title : str
        The page's title and top heading.
    sections : sequence of Section
    subtitle : str
        A line under the title (e.g. what the report was made from).

    Returns
    -------
    str
        The HTML document (UTF-8 text).

    Raises
    ------
    FileNotFoundError, ValueError
        A figure file missing or not a PNG (naming it), a table row of the wrong length.

    Examples
    --------
    >>> page = render_report("a <b>", [Section("s", [Table("t", ["x"], [[1.5]])])])
    >>> "<title>a &lt;b&gt;</title>" in page and "<td>1.5</td>" in page
    True
    """
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
    ]
    if subtitle:
        parts.append(f'<p class="meta">{esc(subtitle)}</p>')
    for section in sections:
        parts.append(f"<section><h2>{esc(section.heading)}</h2>")
        if section.text:
            parts.append(f"<p>{esc(section.text)}</p>")
        for item in section.items:
            if isinstance(item, Figure):
                parts.append(_figure_html(item))
            elif isinstance(item, Table):
                parts.append(_table_html(item))
            else:
                raise TypeError(f"section {section.heading!r}: expected Figure or Table, got {type(item).__name__}")
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(path: Path | str, document: str) -> Path:
    """Write an HTML document atomically (a temporary file renamed into place); returns ``path``."""
    path = Path(path)
    return atomic_write(path, lambda tmp: Path(tmp).write_text(document, encoding="utf-8"))


def study_folder_items(folder: Path | str) -> list[Figure | Table]:
    """The figures (``*.png``) and tables (``*.csv``) a ``study`` command wrote into ``folder``.

    Files are taken in name order, each table before the figure of the same stem (e.g.
    ``keypoints.csv`` then ``keypoints.png``); the encodes and other files are ignored.

    Raises
    ------
    FileNotFoundError
        If ``folder`` is not a folder, or holds no CSV or PNG (naming it).
    ValueError
        If a CSV cannot be read as a table or a PNG is not one (naming the file).
    """
    import pandas as pd

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"study folder not found: {folder}")
    files = sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in (".csv", ".png")
                    and not p.name.startswith(".")), key=lambda p: (p.stem, p.suffix.lower() != ".csv"))  # fmt: skip
    if not files:
        raise FileNotFoundError(f"no study results (*.csv, *.png) in {folder}")
    items: list[Figure | Table] = []
    for p in files:
        if p.suffix.lower() == ".csv":
            try:
                df = pd.read_csv(p)
            except Exception as e:  # noqa: BLE001 - any unreadable file is named with its error
                raise ValueError(f"{p} is not a readable CSV table: {type(e).__name__}: {e}") from e
            items.append(Table.from_dataframe(f"{folder.name}/{p.name}", df))
        else:
            png_data_uri(p)  # checks it is a PNG, naming the file
            items.append(Figure(f"{folder.name}/{p.name}", p))
    return items
