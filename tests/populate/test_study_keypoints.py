"""``ibl-video study keypoints``: per-point train and test error over random splits (issue 17, the
note's Figure 5), on a DeepLabCut project labelled by people.

The project is the openfield subset of DeepLabCut's example (tests/data/dlc_openfield/README.md:
36 frames, 320x240, 4 body parts). The command runs once as a subprocess with real DeepLabCut
training on the CPU, 2 splits of 3 epochs (about 10 s of training each; the networks are far
from trained, which does not matter for what is checked: that the errors are DeepLabCut's),
into a model cache made for this module. Each split's figures are then recomputed with
DeepLabCut's own metric code (``deeplabcut.core.metrics.compute_metrics``) from the predictions
its ``evaluate_network`` stored and its own loader's ground truth.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
OPENFIELD = ROOT / "tests" / "data" / "dlc_openfield" / "openfield-Pranav-2018-10-30"
BODYPARTS = ["snout", "leftear", "rightear", "tailbase"]
EPOCHS, SPLITS, FRACTION = 3, 2, 0.7
N_TRAIN, N_TEST = 25, 11  # round(0.7 * 36) frames train


def _cli(cache: Path, *args: str, env: dict | None = None, root: Path | None = None) -> subprocess.CompletedProcess:
    if env is None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJ_", "IBL_VIDEO_"))}
        env.update(IBL_VIDEO_DATA_ROOT=str(root), IBL_VIDEO_DATABASE="embedded")
    env = dict(env, IBL_VIDEO_MODEL_CACHE=str(cache), HF_HUB_OFFLINE="1", MPLBACKEND="Agg", COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "populate.cli", "study", "keypoints", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)  # fmt: skip


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """Run ``study keypoints`` on the openfield project once (2 splits, 3 epochs)."""
    base = tmp_path_factory.mktemp("keypoint_study")
    cache, out = base / "cache", base / "out"
    t0 = time.perf_counter()
    run = _cli(cache, str(OPENFIELD), "--splits", str(SPLITS), "--epochs", str(EPOCHS), "--train-fraction", str(FRACTION),
               "--out", str(out), "--json", root=base / "data")  # fmt: skip
    seconds = time.perf_counter() - t0
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    return dict(base=base, cache=cache, out=out, run=run, result=json.loads(run.stdout), seconds=seconds)


def test_the_command_writes_the_table_every_split_and_figure5(study):
    import matplotlib.image

    from pipeline.studies import ALL_POINTS, KEYPOINT_COLUMNS, KEYPOINT_SPLIT_COLUMNS

    out, result, run = study["out"], study["result"], study["run"]
    assert result == json.loads(run.stdout)  # stdout is the JSON alone: DeepLabCut's prints went to stderr
    table = pd.read_csv(out / "keypoints.csv")
    splits = pd.read_csv(out / "keypoints_splits.csv")
    assert list(table.columns) == list(KEYPOINT_COLUMNS) and list(splits.columns) == list(KEYPOINT_SPLIT_COLUMNS)
    assert table["body_part"].tolist() == [*BODYPARTS, ALL_POINTS] and len(result["rows"]) == len(table)
    assert (table["n_splits"] == SPLITS).all() and (table["group"] == OPENFIELD.name).all()
    assert (table.loc[:3, "n_train_labels"] == SPLITS * N_TRAIN).all() and (table.loc[:3, "n_test_labels"] == SPLITS * N_TEST).all()
    assert len(splits) == SPLITS * (len(BODYPARTS) + 1) and sorted(set(splits["split"])) == list(range(SPLITS))
    assert (splits["n_train"] == N_TRAIN).all() and (splits["n_test"] == N_TEST).all()
    # the table is the splits' mean, standard deviation and range
    for side in ("train", "test"):
        per_part = splits.groupby("body_part", sort=False)[f"{side}_error_px"]
        got = table.set_index("body_part")
        np.testing.assert_allclose(got[f"{side}_error_px"], per_part.mean().loc[got.index], rtol=1e-12)
        np.testing.assert_allclose(got[f"{side}_sd_px"], per_part.std(ddof=1).loc[got.index], rtol=1e-9)
        np.testing.assert_allclose(got[f"{side}_min_px"], per_part.min().loc[got.index], rtol=1e-12)
        np.testing.assert_allclose(got[f"{side}_max_px"], per_part.max().loc[got.index], rtol=1e-12)
    assert np.isfinite(table[["train_error_px", "test_error_px", "test_sd_px"]].to_numpy()).all()
    # two different splits: different test frames, so different errors
    assert splits.loc[splits["split"] == 0, "test_error_px"].tolist() != splits.loc[splits["split"] == 1, "test_error_px"].tolist()
    image = matplotlib.image.imread(out / "keypoints.png")
    assert image.shape[1] > 1.5 * image.shape[0]
    assert "keypoint study" in run.stderr and f"Epoch {EPOCHS}/{EPOCHS}" in run.stderr  # progress on stderr
    test = table.set_index("body_part")["test_error_px"]
    print(f"\nopenfield subset, {SPLITS} splits x {EPOCHS} epochs: test error per point "
          f"{test.round(1).to_dict()}; {study['seconds']:.0f} s in all")  # fmt: skip


def _dlc_metrics(project: Path, mode: str) -> dict:
    """DeepLabCut's own metrics of a split, unrounded: its loader's ground truth, the predictions
    its evaluate_network stored, its compute_metrics."""
    from deeplabcut.core.metrics import compute_metrics
    from deeplabcut.pose_estimation_pytorch.data import DLCLoader

    gt = DLCLoader(project / "config.yaml", shuffle=1).ground_truth_keypoints(mode)
    h5 = next((project / "evaluation-results-pytorch").rglob("*_snapshot_*.h5"))
    stored = pd.read_hdf(h5, key="df_with_missing")
    pred = {img: stored.loc[tuple(Path(img).parts[-3:])].to_numpy(dtype=np.float64).reshape(1, -1, 3) for img in gt}
    return compute_metrics(gt, pred, single_animal=True, per_keypoint_rmse=True, compute_detection_rmse=False)


def test_per_point_errors_average_to_dlcs_evaluate_network_figure_of_each_split(study):
    """The acceptance item: per-point errors whose mean equals DLC's own figure for the same split."""
    from pipeline.studies import ALL_POINTS

    splits = pd.read_csv(study["out"] / "keypoints_splits.csv")
    entries = {json.loads((e / "settings.json").read_text())["seed"]: e for e in study["cache"].glob("eye-project-*")}
    assert sorted(entries) == list(range(SPLITS))  # split i is a network of seed i
    for split, entry in entries.items():
        project = entry / OPENFIELD.name
        ours = splits[splits["split"] == split].set_index("body_part")
        combined = pd.read_csv(project / "evaluation-results-pytorch" / "iteration-0" / "CombinedEvaluation-results.csv")
        combined = combined[combined["Shuffle number"] == 1].iloc[-1]
        keypoint_csv = pd.read_csv(next(project.rglob("*-keypoint-results.csv")), index_col=0)
        for side in ("train", "test"):
            dlc = _dlc_metrics(project, side)
            points = ours.loc[BODYPARTS]
            # per point: DeepLabCut's -keypoint-results.csv, and its metric code on its stored predictions
            np.testing.assert_allclose(points[f"{side}_error_px"], keypoint_csv.loc[f"{side.capitalize()} error (px)", BODYPARTS], rtol=1e-9)
            np.testing.assert_allclose(points[f"{side}_error_px"], [dlc[f"rmse_keypoint_{j}"] for j in range(len(BODYPARTS))], rtol=1e-6)
            # the mean over every labelled point (the per-point errors weighted by their label counts) is DLC's figure
            mean = np.average(points[f"{side}_error_px"], weights=points[f"n_{side}_labels"])
            assert ours.loc[ALL_POINTS, f"{side}_error_px"] == pytest.approx(mean, rel=1e-12)
            assert mean == pytest.approx(dlc["rmse"], rel=1e-6)
            assert mean == pytest.approx(float(combined[f"{side} rmse"]), abs=0.0051)  # DLC's file rounds to 0.01 px
            assert ours.loc[ALL_POINTS, f"dlc_{side}_error_px"] == float(combined[f"{side} rmse"])
        assert ours.loc[BODYPARTS, "n_test_labels"].tolist() == [N_TEST] * 4


def test_bad_input_is_refused_before_training(study, tmp_path):
    empty = tmp_path / "not_a_project"
    empty.mkdir()
    bad = _cli(study["cache"], str(empty), root=tmp_path / "data")
    assert bad.returncode == 2 and bad.stdout == ""
    assert str(empty / "config.yaml") in " ".join(bad.stderr.split())
    bad = _cli(study["cache"], str(OPENFIELD), "--train-fraction", "1.0", root=tmp_path / "data")
    assert bad.returncode == 2 and "between 0 and 1" in bad.stderr
    assert not (tmp_path / "data").exists()  # no database was started


def test_a_registered_model_is_studied_on_its_project_and_an_unknown_name_is_refused(db, study, tmp_path):
    from pipeline.training import NetworkTraining, train_project
    from schemas.pose import register_trained_model

    # split 0's network, from the cache (nothing trains here), registered as a model
    info = train_project(OPENFIELD, "eye", NetworkTraining(epochs=EPOCHS), seed=0, train_fraction=FRACTION,
                         root=study["cache"], progress=False)  # fmt: skip
    row, _ = register_trained_model(info)
    name = row["pose_model"]
    done = _cli(study["cache"], name, "--splits", "1", "--epochs", str(EPOCHS), "--train-fraction", str(FRACTION),
                "--out", str(tmp_path / "model"), "--json", env=db.cli_env())  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads(done.stdout)["rows"]
    assert {r["group"] for r in rows} == {f"eye ({name})"} and [r["body_part"] for r in rows][:4] == BODYPARTS
    assert all(r["n_splits"] == 1 and r["n_test_labels"] in (N_TEST, len(BODYPARTS) * N_TEST) for r in rows)
    bad = _cli(study["cache"], "no-such-set", "--out", str(tmp_path / "none"), env=db.cli_env())
    assert bad.returncode == 2 and bad.stdout == ""
    assert "'no-such-set' is neither a DeepLabCut project folder nor a registered model set or model" in " ".join(bad.stderr.split())
    assert not (tmp_path / "none").exists()
