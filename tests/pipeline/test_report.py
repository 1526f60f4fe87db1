"""pipeline.report: one self-contained HTML page from PNG figures and tables (``ibl-video report``)."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from pipeline.report import (
    Figure,
    Section,
    Table,
    png_data_uri,
    render_report,
    study_folder_items,
    write_report,
)


def _png(tmp_path, name="fig.png", size=(40, 30)) -> bytes:
    """A real PNG drawn by matplotlib."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure

    fig = MplFigure(figsize=(size[0] / 10, size[1] / 10))
    FigureCanvasAgg(fig)
    fig.subplots().plot([0, 1], [1, 0])
    path = tmp_path / name
    fig.savefig(path, dpi=10)
    return path.read_bytes()


class _Tags(HTMLParser):
    """Every start tag with its attributes, and the page's text."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def _parse(page: str) -> _Tags:
    parser = _Tags()
    parser.feed(page)
    return parser


def test_every_figure_is_embedded_as_a_data_uri_and_no_file_is_referenced(tmp_path):
    png = _png(tmp_path)
    path = tmp_path / "second.png"
    path.write_bytes(_png(tmp_path, "b.png", (60, 20)))
    page = render_report("Session M1", [
        Section("one", [Figure("from bytes", png, "caption one")]),
        Section("two", [Figure("from a file", path), Table("t", ["a", "b"], [[1, 2.5]])], text="some text"),
    ])  # fmt: skip
    tags = _parse(page).tags
    images = [attrs for tag, attrs in tags if tag == "img"]
    assert len(images) == 2
    decoded = [base64.b64decode(a["src"].removeprefix("data:image/png;base64,"), validate=True) for a in images]
    assert all(a["src"].startswith("data:image/png;base64,") for a in images)
    assert decoded == [png, path.read_bytes()]  # the bytes themselves, not a reference to the file
    # nothing else is loaded: no src/href to a file or URL, no external stylesheet or script
    for tag, attrs in tags:
        for name in ("src", "href"):
            if name in attrs:
                assert attrs[name].startswith("data:"), (tag, attrs)
    assert "second.png" not in page and str(tmp_path) not in page
    assert not any(tag in ("script", "link", "iframe") for tag, _ in tags)
    assert page.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in page


def test_text_is_escaped_everywhere(tmp_path):
    evil = '<script>alert("x")</script> & "quoted"'
    page = render_report(evil, [Section(evil, [Figure(evil, _png(tmp_path), evil),
                                               Table(evil, [evil], [[evil]], evil, row_classes=['PASS" onclick="x'])],
                                        text=evil)], subtitle=evil)  # fmt: skip
    parsed = _parse(page)
    assert not any(tag == "script" for tag, _ in parsed.tags)
    assert "<script>" not in page and "&lt;script&gt;" in page
    # the text a browser shows is the original string, in every place it was given
    assert "".join(parsed.text).count(evil) >= 7
    img = next(attrs for tag, attrs in parsed.tags if tag == "img")
    assert img["alt"] == evil
    row = next(attrs for tag, attrs in parsed.tags if tag == "tr" and "class" in attrs)
    assert row == {"class": 'PASS" onclick="x'}  # one attribute, the quote escaped


def test_tables_show_numbers_dates_and_missing_values():
    df = pd.DataFrame({"name": ["a", None], "x": [1.23456789, np.nan], "n": pd.array([3, None], dtype="Int64"),
                       "day": [pd.Timestamp("2025-01-31").date(), None]})  # fmt: skip
    table = Table.from_dataframe("numbers", df)
    assert table.rows == [["a", "1.235", "3", "2025-01-31"], ["", "", "", ""]]
    page = render_report("r", [Section("s", [table])])
    assert "<td>1.235</td>" in page and ">nan<" not in page.lower() and "&lt;NA&gt;" not in page


def test_bad_figures_and_tables_are_refused_naming_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="figure not found: .*missing.png"):
        render_report("r", [Section("s", [Figure("f", tmp_path / "missing.png")])])
    (tmp_path / "fake.png").write_text("not a png")
    with pytest.raises(ValueError, match=r"fake.png is not a PNG image"):
        png_data_uri(tmp_path / "fake.png")
    with pytest.raises(ValueError, match="row 0 has 1 cells for 2 columns"):
        render_report("r", [Section("s", [Table("t", ["a", "b"], [[1]])])])


def test_write_report_is_atomic_and_study_folders_give_tables_then_figures(tmp_path):
    folder = tmp_path / "study"
    folder.mkdir()
    pd.DataFrame({"crf": [17, 35], "mb_per_hour": [900.0, 180.0]}).to_csv(folder / "compression_study.csv", index=False)
    (folder / "compression_study.png").write_bytes(_png(tmp_path))
    (folder / "keypoints.png").write_bytes(_png(tmp_path))
    (folder / "encode_crf17.mp4").write_bytes(b"video")  # ignored
    items = study_folder_items(folder)
    assert [(type(i).__name__, i.title) for i in items] == [
        ("Table", "study/compression_study.csv"), ("Figure", "study/compression_study.png"), ("Figure", "study/keypoints.png")]
    out = write_report(tmp_path / "r" / "report.html", render_report("r", [Section("study", items)]))
    assert out.read_text().count("<img ") == 2 and [p.name for p in out.parent.iterdir()] == ["report.html"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no study results"):
        study_folder_items(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="study folder not found"):
        study_folder_items(tmp_path / "nowhere")
    assert re.search(r"<h3>study/compression_study.csv</h3><table>", render_report("r", [Section("s", items)]))
