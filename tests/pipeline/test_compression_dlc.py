"""The pieces of the compression study with DeepLabCut's error (pipeline/compression_dlc.py)."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline import compression_dlc as cd
from pipeline.io.video import probe_video, read_frames_at


def test_splits_are_seeded_equal_sized_and_differ():
    a = cd.split_test_indices(80, 0.5, 4, seed=0)
    assert [len(t) for t in a] == [40] * 4
    assert all((np.diff(t) > 0).all() and t.min() >= 0 and t.max() < 80 for t in a)
    assert len({tuple(t) for t in a}) == 4  # four different splits
    assert all((x == y).all() for x, y in zip(a, cd.split_test_indices(80, 0.5, 4, seed=0), strict=True))
    with pytest.raises(ValueError, match="1 labelled frames cannot be split"):
        cd.split_test_indices(1, 0.5, 1, seed=0)


@pytest.mark.parametrize("bad, message", [(dict(splits=0), "splits must be >= 1"),
                                          (dict(train_fraction=1.0), "train_fraction must be between 0 and 1"),
                                          (dict(n_labels=2), "n_labels must be >= 4")])  # fmt: skip
def test_settings_refuse_impossible_shapes(bad, message):
    with pytest.raises(ValueError, match=message):
        cd.DlcStudySettings(**bad)


def test_simulated_video_labels_are_the_truth_in_the_eye_crop(tmp_path):
    """Labels sit on the pupil inside the 100x100 eye region; the raw video is lossless FFV1."""
    from pipeline.crops import crop_frames
    from populate.models import simulated_labelled_video

    v = simulated_labelled_video(tmp_path, duration_s=1.0, n_labels=10)
    info = probe_video(v.raw)
    assert (info.codec, info.n_frames, info.width, info.height) == ("ffv1", 60, 1280, 1024)
    assert v.frame_indices.tolist() == np.linspace(0, 59, 10).round().astype(int).tolist()
    assert (v.roi.out_w, v.roi.out_h) == (100, 100)
    crops = crop_frames(read_frames_at(v.raw, 1280, 1024, v.frame_indices), v.roi)
    top, bottom = v.labels["pupil_top_l"], v.labels["pupil_bottom_l"]
    seen = np.isfinite(top).all(axis=1) & np.isfinite(bottom).all(axis=1)
    assert seen.sum() >= 8
    # the pupil is dark: the crop is darker midway between its top and bottom than at the crop's corner
    mid = ((top[seen] + bottom[seen]) / 2).round().astype(int)
    centre = crops[seen][np.arange(seen.sum()), mid[:, 1], mid[:, 0]]
    assert (centre.astype(int) < crops[seen][:, 2, 2].astype(int)).all()


def test_project_video_holds_every_labelled_frame(tmp_path):
    from pathlib import Path

    project = Path(__file__).resolve().parents[1] / "data" / "dlc_openfield" / "openfield-Pranav-2018-10-30"
    v = cd.project_labelled_video(project, tmp_path)
    info = probe_video(v.raw)
    assert info.n_frames == 36 and (info.width, info.height) == (320, 240)
    assert v.bodyparts == ("snout", "leftear", "rightear", "tailbase") and v.roi is None
    assert all(np.isfinite(xy).all() for xy in v.labels.values())
