"""Figures for reports. Drawn with matplotlib's object API on the Agg canvas: no pyplot, no
global backend change, safe in workers without a display.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["JitterPanel", "plot_compression_study", "plot_jitter", "save_figure"]


def save_figure(fig, png_path: Path | str, dpi: int = 110) -> Path:
    """Write ``fig`` as a PNG (its folder made if missing); returns the path."""
    png_path = Path(png_path)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png_path, dpi=dpi)
    return png_path


def plot_compression_study(df, png_path: Path | str, *, title: str | None = None) -> Path:
    """Two panels from a :func:`pipeline.compression.compression_study` table.

    Left: MB per hour of video against crf on a log axis, with the rule of thumb "+6 crf
    halves the size" drawn through the lowest-crf point. Right: PSNR (dB, left axis) and
    SSIM (right axis) against crf.

    Parameters
    ----------
    df : pandas.DataFrame
        Columns ``crf``, ``mb_per_hour``, ``psnr_db``, ``ssim`` (one row per crf).
    png_path : path
        Where to write the PNG (folder created if needed).
    title : str, optional
        Figure title.

    Returns
    -------
    Path
        ``png_path``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    missing = [c for c in ("crf", "mb_per_hour", "psnr_db", "ssim") if c not in df.columns]
    if missing:
        raise ValueError(f"compression study table lacks columns {missing}")
    if len(df) == 0:
        raise ValueError("compression study table has no rows")
    d = df.sort_values("crf")
    crf = d["crf"].to_numpy(dtype=float)
    mb = d["mb_per_hour"].to_numpy(dtype=float)

    fig = Figure(figsize=(9, 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    ax_size, ax_q = fig.subplots(1, 2)
    ax_size.semilogy(crf, mb, "o-", color="C0", label="measured")
    rule = mb[0] * 2.0 ** (-(crf - crf[0]) / 6.0)
    ax_size.semilogy(crf, rule, "--", color="0.5", label="halving per +6 crf")
    ax_size.set_xlabel("crf")
    ax_size.set_ylabel("MB per hour of video")
    ax_size.legend(frameon=False)
    ax_size.grid(True, which="both", alpha=0.3)

    ax_q.plot(crf, d["psnr_db"].to_numpy(dtype=float), "o-", color="C1", label="PSNR")
    ax_q.set_xlabel("crf")
    ax_q.set_ylabel("PSNR (dB)", color="C1")
    ax_ssim = ax_q.twinx()
    ax_ssim.plot(crf, d["ssim"].to_numpy(dtype=float), "s--", color="C2", label="SSIM")
    ax_ssim.set_ylabel("SSIM", color="C2")
    ax_q.grid(True, alpha=0.3)
    ax_q.set_xticks(np.unique(crf))
    ax_size.set_xticks(np.unique(crf))
    if title:
        fig.suptitle(title)
    return save_figure(fig, png_path, dpi=120)


@dataclass(frozen=True)
class JitterPanel:
    """One camera's panel of :func:`plot_jitter`.

    Attributes
    ----------
    label : str
        Panel title, e.g. ``"ephys left, 60 Hz"``.
    deviations_us : (n,) float
        Frame intervals minus the nominal period, microseconds
        (:attr:`pipeline.studies.FrameJitter.deviations_us`, pooled over recordings).
    jitter_us : float
        Standard deviation of the intervals, microseconds.
    note_jitter_us : float
        The note's figure for this frame rate, microseconds (NaN: none).
    n_recordings : int
        Recordings pooled.
    """

    label: str
    deviations_us: np.ndarray
    jitter_us: float
    note_jitter_us: float = float("nan")
    n_recordings: int = 1


def _bins_on_the_clock_grid(values: np.ndarray, n_bins: int) -> np.ndarray | int:
    """Histogram edges whose width is a whole number of the values' sampling step.

    DAQ times are sampled (FPGA 30 kHz: 33.3 us; Bpod 10 kHz: 100 us), so intervals take
    values on a grid; bins that are not a whole number of grid steps wide alternate between
    holding one and two grid values, a comb that is not in the data. Values not on a grid
    (fewer repeats than half their number) get ``n_bins`` plain bins.
    """
    grid = np.unique(np.round(values, 3))
    if grid.size < 2 or grid.size > values.size / 2:
        return n_bins
    low, high = float(np.min(values)), float(np.max(values))
    step = (high - low) / round((high - low) / float(np.min(np.diff(grid))))  # the tick, to more digits than the rounding
    width = step * max(1, round((high - low) / n_bins / step))
    return low - step / 2 + width * np.arange(int(np.ceil((high - low + step) / width)) + 1)


def plot_jitter(panels: Sequence[JitterPanel], png_path: Path | str, *, title: str | None = None,
                bins: int = 40) -> Path:
    """The note's Figure 2: histogram of the frame-interval deviation, one panel per camera.

    Each panel shows the deviation of every measured frame interval from the nominal period
    (microseconds, counts on a linear axis), the normal density with the measured jitter
    (solid) and, where the note has a figure for that frame rate, with the note's (dashed),
    both scaled to the histogram's counts.

    Parameters
    ----------
    panels : sequence of JitterPanel
        One per camera, in the order to draw them (left to right).
    png_path : path
        Where to write the PNG (folder created if needed).
    title : str, optional
        Figure title.
    bins : int
        About this many histogram bins per panel; sampled values (DAQ clock ticks) get bins a
        whole number of ticks wide.

    Returns
    -------
    Path
        ``png_path``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not panels:
        raise ValueError("no cameras to plot the jitter of")
    fig = Figure(figsize=(3.6 * len(panels) + 0.4, 3.4), layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(1, len(panels), squeeze=False)[0])
    for ax, panel in zip(axes, panels, strict=True):
        dev = np.asarray(panel.deviations_us, dtype=float)
        dev = dev[np.isfinite(dev)]
        ax.set_title(panel.label, fontsize=10)
        ax.set_xlabel("interval - nominal period (us)")
        ax.set_ylabel("intervals")
        ax.grid(True, alpha=0.3)
        if dev.size == 0:
            ax.text(0.5, 0.5, "no measured intervals", ha="center", va="center", transform=ax.transAxes)
            continue
        counts, edges, _ = ax.hist(dev, bins=_bins_on_the_clock_grid(dev, bins), color="C0", alpha=0.7)
        width = edges[1] - edges[0]
        x = np.linspace(edges[0], edges[-1], 300)
        mean = float(np.mean(dev))
        curves = [(panel.jitter_us, "-", "C3", f"measured: {panel.jitter_us:.1f} us")]
        if np.isfinite(panel.note_jitter_us):
            curves.append((panel.note_jitter_us, "--", "0.2", f"note: {panel.note_jitter_us:.1f} us"))
        for sd, style, colour, text in curves:
            if np.isfinite(sd) and sd > 0:
                density = np.exp(-0.5 * ((x - mean) / sd) ** 2) / (sd * np.sqrt(2 * np.pi))
                ax.plot(x, density * dev.size * width, style, color=colour, label=text)
        n_rec = f", {panel.n_recordings} recordings" if panel.n_recordings != 1 else ""
        ax.legend(frameon=False, fontsize=8, title=f"{dev.size} intervals{n_rec}", title_fontsize=8)
    if title:
        fig.suptitle(title)
    return save_figure(fig, png_path)
