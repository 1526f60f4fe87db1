"""Figures for reports. Drawn with matplotlib's object API on the Agg canvas: no pyplot, no
global backend change, safe in workers without a display.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["plot_compression_study"]


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
    png_path = Path(png_path)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png_path, dpi=120)
    return png_path
