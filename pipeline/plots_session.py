"""Figures of one session for analysts: an overview and a peri-event plot.

Drawn with matplotlib's object API on the Agg canvas (no pyplot, no global backend change),
from arrays; :func:`schemas.analysis.plot_session` and :func:`schemas.analysis.plot_peri_event`
gather the arrays from the tables, ``ibl-video plot session|peri-event`` calls those.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib.patches
import numpy as np

from pipeline.plots import save_figure

__all__ = ["OUTCOME_COLOURS", "plot_peri_event", "plot_session_overview"]

#: Colours of the QC outcomes in the overview's grid.
OUTCOME_COLOURS: dict[str, str] = {
    "PASS": "#4daf4a",
    "WARNING": "#ff9f1c",
    "FAIL": "#e41a1c",
    "CRITICAL": "#7f0000",
    "NOT_SET": "#bdbdbd",
}
_OUTCOME_ORDER = ("PASS", "WARNING", "FAIL", "CRITICAL", "NOT_SET")


def _figure(size: tuple[float, float]):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def plot_session_overview(
    png: Path | str,
    *,
    views: Mapping[str, tuple[Any, Mapping[str, tuple[float, float]], int]],
    pupil: Mapping[str, tuple[Any, Any, Any]],
    licks: Mapping[str, Any],
    qc: Mapping[str, Mapping[str, str]],
    clock: str = "DAQ",
    title: str | None = None,
    rois: Mapping[str, Mapping[str, tuple[float, float, float, float]]] | None = None,
    pupil_truth: Mapping[str, tuple[Any, Any]] | None = None,
) -> Path:
    """Session overview: tracked points on a frame per camera, pupil trace, lick raster, QC grid.

    ``rois`` (camera label -> region name -> ``(x, y, w, h)`` full-frame pixels) draws the
    crop regions on the frames; ``pupil_truth`` (camera label -> ``(times, diameter_px)``)
    draws a known diameter (the simulator's) under the measured one.

    Parameters
    ----------
    png : path
        The PNG to write (folder created).
    views : mapping of camera label to (frame, points, index)
        ``frame``: (height, width) uint8 grey image, or None when the video is gone;
        ``points``: point name -> (x, y) full-frame pixels (the confident ones);
        ``index``: the frame's number.
    pupil : mapping of camera label to (times, raw, smooth)
        (n,) arrays: frame times (s) and pupil diameter (pixels).
    licks : mapping of row name to (k,) array
        Lick onsets (s) per camera, and e.g. ``"merged"``; one raster row each.
    qc : mapping of row name to mapping of check to outcome
        E.g. ``{"left camera": {"brightness": "PASS", ...}}``.
    clock : str
        Name of the clock of the times (axis labels).
    title : str, optional

    Returns
    -------
    Path
        ``png``.
    """
    n_views = max(len(views), 1)
    fig = _figure((4.0 * max(n_views, 2) + 1, 9.5))
    grid = fig.add_gridspec(4, n_views, height_ratios=[3.0, 1.6, 1.0, 1.8])
    for j, (label, (frame, points, index)) in enumerate(sorted(views.items())):
        ax = fig.add_subplot(grid[0, j])
        if frame is not None:
            ax.imshow(np.asarray(frame), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        else:
            ax.text(
                0.5, 0.5, "video not available", ha="center", va="center", transform=ax.transAxes
            )
            ax.invert_yaxis()
        if points:
            names = sorted(points)
            xy = np.array([points[n] for n in names], dtype=float)
            colours = [_point_colour(n) for n in names]
            ax.scatter(xy[:, 0], xy[:, 1], s=14, c=colours, edgecolors="white", linewidths=0.4)
        for name, (x, y, w, h) in ((rois or {}).get(label) or {}).items():
            ax.add_patch(matplotlib.patches.Rectangle((x, y), w, h, fill=False, lw=0.8, ec="yellow"))
            ax.text(x, y, name, color="yellow", fontsize=6, va="bottom")
        ax.set_title(f"{label} camera, frame {index} ({len(points)} points)", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    if not views:
        ax = fig.add_subplot(grid[0, 0])
        ax.text(0.5, 0.5, "no pose", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()

    ax_p = fig.add_subplot(grid[1, :])
    for i, (label, (t, raw, smooth)) in enumerate(sorted(pupil.items())):
        t = np.asarray(t, dtype=float)
        ax_p.plot(t, np.asarray(raw, dtype=float), lw=0.5, alpha=0.35, color=f"C{i}")
        ax_p.plot(
            t, np.asarray(smooth, dtype=float), lw=1.2, color=f"C{i}", label=f"{label} (smooth)"
        )
    for label, (t, d) in sorted((pupil_truth or {}).items()):
        ax_p.plot(np.asarray(t, float), np.asarray(d, float), lw=0.8, ls="--", color="k", label=f"{label} (truth)")
    ax_p.set_ylabel("pupil diameter (px)")
    if pupil:
        ax_p.legend(frameon=False, fontsize=8, loc="upper right")
    else:
        ax_p.text(0.5, 0.5, "no pupil diameter", ha="center", va="center", transform=ax_p.transAxes)

    ax_l = fig.add_subplot(grid[2, :], sharex=ax_p if pupil else None)
    names = list(licks)
    if names:
        ax_l.eventplot([np.asarray(licks[n], dtype=float) for n in names], colors=[f"C{i}" for i in range(len(names))],
                       linelengths=0.8)  # fmt: skip
        ax_l.set_yticks(range(len(names)), [f"{n} ({len(licks[n])})" for n in names], fontsize=8)
    else:
        ax_l.text(0.5, 0.5, "no licks", ha="center", va="center", transform=ax_l.transAxes)
    ax_l.set_xlabel(f"time ({clock} clock, s)")
    ax_l.set_ylabel("licks")

    ax_q = fig.add_subplot(grid[3, :])
    _qc_grid(ax_q, qc)
    if title:
        fig.suptitle(title)
    return save_figure(fig, png)


def _point_colour(name: str) -> str:
    for key, colour in (("pupil", "#00bfff"), ("tongue", "#ff4500"), ("tube", "#ffd700"), ("nostril", "#9acd32"),
                        ("chin", "#ba55d3"), ("finger", "#ff69b4"), ("pinky", "#ff69b4")):  # fmt: skip
        if key in name:
            return colour
    return "#ffffff"


def _qc_grid(ax, qc: Mapping[str, Mapping[str, str]]) -> None:
    from matplotlib.colors import ListedColormap

    rows = sorted(qc)
    checks = sorted({c for r in rows for c in qc[r]})
    if not rows or not checks:
        ax.text(0.5, 0.5, "no QC results", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    codes = np.full((len(rows), len(checks)), np.nan)
    for i, r in enumerate(rows):
        for j, c in enumerate(checks):
            if c in qc[r]:
                outcome = str(qc[r][c]).upper()
                codes[i, j] = (
                    _OUTCOME_ORDER.index(outcome)
                    if outcome in _OUTCOME_ORDER
                    else len(_OUTCOME_ORDER) - 1
                )
    cmap = ListedColormap([OUTCOME_COLOURS[o] for o in _OUTCOME_ORDER])
    cmap = cmap.with_extremes(bad="white")
    ax.imshow(
        np.ma.masked_invalid(codes),
        cmap=cmap,
        vmin=-0.5,
        vmax=len(_OUTCOME_ORDER) - 0.5,
        aspect="auto",
    )
    for i, r in enumerate(rows):
        for j, c in enumerate(checks):
            if c in qc[r]:
                ax.text(
                    j, i, str(qc[r][c])[:4], ha="center", va="center", fontsize=6, color="black"
                )
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.set_xticks(range(len(checks)), checks, rotation=40, ha="right", fontsize=7)
    ax.set_title("quality control", fontsize=9)


def plot_peri_event(
    png: Path | str,
    values: Any,
    time_axis: Any,
    *,
    ylabel: str = "value",
    event_name: str = "event",
    title: str | None = None,
) -> Path:
    """Peri-event figure: one row per event (heat map) above the mean and its standard error.

    Parameters
    ----------
    png : path
        The PNG to write.
    values : (n_events, n_bins) array_like
        :attr:`pipeline.analysis.PeriEvent.values` (a feature, or a rate in Hz); NaN allowed.
    time_axis : (n_bins,) array_like
        Bin centres relative to the event, seconds.
    ylabel : str
        What the values are (with unit).
    event_name : str
        What the events are (axis labels).
    title : str, optional

    Returns
    -------
    Path
        ``png``.

    Raises
    ------
    ValueError
        If the shapes disagree.
    """
    import warnings

    m = np.asarray(values, dtype=float)
    t = np.asarray(time_axis, dtype=float)
    if m.ndim != 2 or m.shape[1] != t.shape[0]:
        raise ValueError(f"values of shape {m.shape} do not match a time axis of {t.shape[0]} bins")
    fig = _figure((6.0, 6.0))
    ax_h, ax_m = fig.subplots(2, 1, sharex=True, height_ratios=[1.4, 1.0])
    half = (t[1] - t[0]) / 2 if len(t) > 1 else 0.5
    if m.shape[0]:
        image = ax_h.imshow(np.ma.masked_invalid(m), aspect="auto", interpolation="nearest", origin="lower",
                            extent=(t[0] - half, t[-1] + half, 0.5, m.shape[0] + 0.5), cmap="viridis")  # fmt: skip
        fig.colorbar(image, ax=ax_h, label=ylabel, shrink=0.8)
    ax_h.axvline(0, color="white", lw=0.8, ls="--")
    ax_h.set_ylabel(f"{event_name} #")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(m, axis=0) if m.shape[0] else np.full(t.shape, np.nan)
        n = np.sum(np.isfinite(m), axis=0)
        sem = np.nanstd(m, axis=0) / np.sqrt(np.maximum(n, 1)) if m.shape[0] else np.zeros(t.shape)
    ax_m.fill_between(t, mean - sem, mean + sem, color="C0", alpha=0.3, lw=0)
    ax_m.plot(t, mean, color="C0", lw=1.5)
    ax_m.axvline(0, color="0.3", lw=0.8, ls="--")
    ax_m.set_xlabel(f"time from {event_name} (s)")
    ax_m.set_ylabel(f"mean {ylabel}")
    ax_m.grid(True, alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, png)
