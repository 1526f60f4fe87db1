"""Rebuild this fixture from DeepLabCut's example project (run once by hand; not at test time).

Usage::

    python tests/data/dlc_openfield/make_subset.py <DeepLabCut checkout>/examples/openfield-Pranav-2018-10-30

Keeps every third labelled frame of ``labeled-data/m4s1`` (img0000, img0003, ..., img0105:
36 frames), stored as 8-bit grey PNGs (the originals' three channels are identical, so no
information is lost) downscaled 2x to 320x240 px with area averaging; the labels are scaled
with the frames, ``x' = (x + 0.5) / 2 - 0.5`` (pixel centres at integer coordinates), and
written back in the original's own format (``CollectedData_Pranav.h5``, key
``df_with_missing``, PyTables table format, rows indexed by ``labeled-data/m4s1/imgNNNN.png``;
the ``.csv`` twin). ``config.yaml`` is copied unchanged.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

STEP = 3
N_FRAMES = 36
SCALE = 0.5


def main(source: Path, dest: Path) -> None:
    src_folder = source / "labeled-data" / "m4s1"
    out = dest / source.name
    out_folder = out / "labeled-data" / "m4s1"
    if out.exists():
        shutil.rmtree(out)
    out_folder.mkdir(parents=True)
    shutil.copy2(source / "config.yaml", out / "config.yaml")
    df = pd.read_hdf(src_folder / "CollectedData_Pranav.h5", "df_with_missing")
    sub = df.iloc[: STEP * N_FRAMES : STEP].copy()
    sub.loc[:, :] = (sub.to_numpy(dtype=np.float64) + 0.5) * SCALE - 0.5
    for name in sub.index:
        img = cv2.imread(str(source / name), cv2.IMREAD_COLOR)
        if img is None or np.any(img[..., 0] != img[..., 1]) or np.any(img[..., 0] != img[..., 2]):
            raise ValueError(f"{name}: not a grey image stored as RGB")
        h, w = img.shape[:2]
        small = cv2.resize(img[..., 0], (round(w * SCALE), round(h * SCALE)), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(out / name), small, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    sub.to_hdf(out_folder / "CollectedData_Pranav.h5", key="df_with_missing", format="table", mode="w")
    sub.to_csv(out_folder / "CollectedData_Pranav.csv")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(__file__).resolve().parent)
