"""Figures for reports. Drawn with matplotlib's object API on the Agg canvas: no pyplot, no
global backend change, safe in workers without a display.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["JitterPanel", "plot_compression_study", "plot_jitter", "plot_keypoint_errors", "save_figure"]


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
    SSIM (right axis) against crf. A table with DeepLabCut's error
    (:func:`pipeline.compression_dlc.dlc_error_study`) gets a first panel, the note's
    Figure 7: train and test error (mean and standard deviation over splits) against crf,
    with the file size on a second axis.

    Parameters
    ----------
    df : pandas.DataFrame
        Columns ``crf``, ``mb_per_hour``, ``psnr_db``, ``ssim`` (one row per crf), and
        optionally ``test_error_px``, ``train_error_px`` with ``_sd_px`` spreads.
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

    dlc = "test_error_px" in d.columns and d["test_error_px"].notna().any()
    fig = Figure(figsize=(13.5 if dlc else 9, 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    if dlc:
        ax_err, ax_size, ax_q = fig.subplots(1, 3)
        _plot_dlc_error(ax_err, d)
    else:
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


def _plot_dlc_error(ax, d) -> None:
    """The note's Figure 7 on ``ax``: DeepLabCut's train/test error and file size against crf."""
    crf = d["crf"].to_numpy(dtype=float)
    for col, colour, label in (("test_error_px", "C3", "test"), ("train_error_px", "C0", "train")):
        sd = d.get(col.replace("_px", "_sd_px"))
        ax.errorbar(crf, d[col].to_numpy(dtype=float), yerr=None if sd is None else sd.to_numpy(dtype=float),
                    fmt="o-", color=colour, capsize=3, label=f"{label} error")  # fmt: skip
    ax.set_xlabel("crf")
    ax.set_ylabel("DeepLabCut error (px)")
    ax.set_ylim(bottom=0)
    ax.set_xticks(np.unique(crf))
    ax.grid(True, alpha=0.3)
    ax_mb = ax.twinx()
    ax_mb.semilogy(crf, d["mb_per_hour"].to_numpy(dtype=float), "s:", color="0.4", label="file size")
    ax_mb.set_ylabel("MB per hour of video", color="0.4")
    handles = ax.get_legend_handles_labels()
    more = ax_mb.get_legend_handles_labels()
    ax.legend(handles[0] + more[0], handles[1] + more[1], frameon=False, fontsize="small")
    ax.set_title("DeepLabCut error against compression", fontsize="medium")


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


def plot_keypoint_errors(splits, png_path: Path | str, *, title: str | None = None) -> Path:
    """The note's Figure 5: train and test error of every tracked point over random splits.

    One panel per group (pose role or project): for each body part and for all points
    together, a bar of the mean train error and one of the mean test error over the splits,
    with the standard deviation as an error bar and each split's figure as a dot.

    Parameters
    ----------
    splits : pandas.DataFrame
        :func:`pipeline.studies.keypoint_split_table`'s rows: ``group``, ``split``,
        ``body_part``, ``train_error_px``, ``test_error_px``.
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

    missing = [c for c in ("group", "split", "body_part", "train_error_px", "test_error_px") if c not in splits.columns]
    if missing:
        raise ValueError(f"keypoint split table lacks columns {missing}")
    if len(splits) == 0:
        raise ValueError("keypoint split table has no rows")
    groups = list(dict.fromkeys(splits["group"]))
    widths = [len(set(splits.loc[splits["group"] == g, "body_part"])) for g in groups]
    fig = Figure(figsize=(min(3.0 + 0.8 * sum(widths), 24.0), 3.8), layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(1, len(groups), squeeze=False, width_ratios=widths)[0])
    for ax, group in zip(axes, groups, strict=True):
        d = splits[splits["group"] == group]
        parts = list(dict.fromkeys(d["body_part"]))
        x = np.arange(len(parts))
        for offset, side, colour in ((-0.2, "train", "C0"), (0.2, "test", "C3")):
            values = [d.loc[d["body_part"] == bp, f"{side}_error_px"].to_numpy(dtype=float) for bp in parts]
            values = [v[np.isfinite(v)] for v in values]
            means = np.array([v.mean() if v.size else np.nan for v in values])
            sds = np.array([v.std(ddof=1) if v.size > 1 else 0.0 for v in values])
            ax.bar(x + offset, means, width=0.38, yerr=sds, capsize=3, color=colour, alpha=0.6, label=side)
            for xi, v in zip(x, values, strict=True):
                ax.plot(np.full(v.size, xi + offset), v, "o", color=colour, markersize=3)
        ax.set_xticks(x, parts, rotation=30, ha="right")
        n = d["split"].nunique()
        ax.set_title(f"{group} ({n} split{'s' if n != 1 else ''})", fontsize=10)
        ax.set_ylabel("error (px)")
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(frameon=False, fontsize=8)
    if title:
        fig.suptitle(title)
    return save_figure(fig, png_path)
