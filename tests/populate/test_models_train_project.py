"""``ibl-video models train --project``: a DeepLabCut project labelled by people trains, is
evaluated by DeepLabCut and registered with its per-body-part errors (issue 16).

The project is a subset of DeepLabCut's own example ``openfield-Pranav-2018-10-30``
(tests/data/dlc_openfield/README.md: 36 frames, 320x240, 4 body parts). The command runs once
as a subprocess (its own embedded database in a temporary data root), with real DeepLabCut
training on the CPU (20 epochs, about a minute on 2 cores) into a model cache made for this
run, so the real path runs every time; the tables are then read in this process. Its body
parts are not any role's: it registers as an ``eye`` model, and a model set refuses it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
OPENFIELD = ROOT / "tests" / "data" / "dlc_openfield" / "openfield-Pranav-2018-10-30"
BODYPARTS = ["snout", "leftear", "rightear", "tailbase"]
PREFIX = "train_project_test"
EPOCHS = 20


def _cli(root: Path, cache: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJ_", "IBL_VIDEO_"))}
    env.update(IBL_VIDEO_DATA_ROOT=str(root), IBL_VIDEO_SCHEMA_PREFIX=PREFIX, IBL_VIDEO_DATABASE="embedded",
               IBL_VIDEO_MODEL_CACHE=str(cache), HF_HUB_OFFLINE="1", MPLBACKEND="Agg", COLUMNS="200")  # fmt: skip
    return subprocess.run([sys.executable, "-m", "populate.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip


def _tree(folder: Path) -> dict[str, int]:
    return {p.relative_to(folder).as_posix(): p.stat().st_size for p in folder.rglob("*")}


@pytest.fixture(scope="module")
def trained():
    """Run ``models train --project`` once; yield the data root, the result and the tables."""
    import datajoint as dj

    import schemas
    from schemas.config import Settings
    from schemas.database import stop_embedded

    # outside pytest's temporary root, as the embedded server of tests/conftest.py (see there)
    base = Path(tempfile.mkdtemp(prefix="ibl-video-test-train-project-"))
    root, cache = base / "data", base / "cache"
    before = _tree(OPENFIELD)
    settings = Settings(data_root=root, schema_prefix=PREFIX, database="embedded")
    try:
        run = _cli(root, cache, "models", "train", "--project", str(OPENFIELD), "--role", "eye",
                   "--epochs", str(EPOCHS), "--train-fraction", "0.8", "--json")  # fmt: skip
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
        schemas.activate(settings)
        yield dict(root=root, cache=cache, run=run, result=json.loads(run.stdout), before=before)
    finally:
        with dj.config.override(safemode=False):
            try:
                schemas.drop_all()
            finally:
                stop_embedded(settings)
                shutil.rmtree(base, ignore_errors=True)


def test_the_command_trains_and_reports_progress_and_json(trained):
    result, run = trained["result"], trained["run"]
    assert result["pose_role"] == "eye" and result["newly_registered"] is True
    assert result["n_train_frames"] == 29 and result["n_test_frames"] == 7 and result["epochs"] == EPOCHS
    assert [p["body_part"] for p in result["body_parts"]] == BODYPARTS
    # progress on stderr: ours and DeepLabCut's per-epoch lines; stdout was only the JSON
    assert f"training {EPOCHS} epochs of cspnext_s on 29 images" in run.stderr
    assert f"Epoch {EPOCHS}/{EPOCHS}" in run.stderr
    assert "lacks the eye points" in run.stderr  # the role's points are not in this project
    print(f"\nopenfield subset, {EPOCHS} epochs: test {result['test_error_px']} px, train "
          f"{result['train_error_px']} px, {result['train_seconds']} s of training")  # fmt: skip


def test_per_body_part_errors_are_in_the_table_and_average_to_dlcs_test_error(trained):
    from pipeline.io import dlc as dlcio
    from schemas.pose import PoseModel

    name = trained["result"]["pose_model"]
    row = (PoseModel & {"pose_model": name}).fetch1()
    parts = {p["body_part"]: p for p in (PoseModel.BodyPart & {"pose_model": name}).to_dicts()}
    assert sorted(parts) == sorted(BODYPARTS) and json.loads(row["bodyparts"]) == BODYPARTS
    assert all(p["n_train_labels"] == 29 and p["n_test_labels"] == 7 for p in parts.values())
    # DeepLabCut's own files in the registered project, read with pandas
    project = trained["root"] / row["project_path"]
    proj = dlcio.read_project(project)
    combined = pd.read_csv(project / "evaluation-results-pytorch" / "iteration-0" / "CombinedEvaluation-results.csv")
    dlc_row = combined[combined["Shuffle number"] == 1].iloc[-1]
    assert int(dlc_row["Training epochs"]) == EPOCHS
    assert row["test_error_px"] == pytest.approx(float(dlc_row["test rmse"]), abs=1e-9)
    assert row["train_error_px"] == pytest.approx(float(dlc_row["train rmse"]), abs=1e-9)
    test = np.array([parts[bp]["body_part_test_error_px"] for bp in BODYPARTS])
    train = np.array([parts[bp]["body_part_train_error_px"] for bp in BODYPARTS])
    weights = np.array([parts[bp]["n_test_labels"] for bp in BODYPARTS])
    # DLC rounds its overall figures to 0.01 px
    assert np.average(test, weights=weights) == pytest.approx(row["test_error_px"], abs=0.0051)
    assert test.mean() == pytest.approx(row["test_error_px"], abs=0.0051)  # every point labelled
    assert train.mean() == pytest.approx(row["train_error_px"], abs=0.0051)
    keypoint_csv = next((project / "evaluation-results-pytorch" / "iteration-0").rglob("*-keypoint-results.csv"))
    per_part = pd.read_csv(keypoint_csv, index_col=0)
    for bp in BODYPARTS:
        assert parts[bp]["body_part_test_error_px"] == pytest.approx(per_part.loc["Test error (px)", bp], rel=1e-12)
        assert parts[bp]["body_part_train_error_px"] == pytest.approx(per_part.loc["Train error (px)", bp], rel=1e-12)
    # the split DeepLabCut recorded is the one counted
    split = dlcio.read_split(proj, 1)
    assert len(split["train_images"]) == 29 and len(split["test_images"]) == 7
    assert not set(split["train_images"]) & set(split["test_images"])
    # the network learned: untrained (1-5 epochs) it is 70-100 px off on these 320x240 frames
    assert np.all(test < 40.0), test


def test_registered_files_are_under_the_data_root_and_the_source_is_untouched(trained):
    from schemas.pose import PoseModel

    row = (PoseModel & {"pose_model": trained["result"]["pose_model"]}).fetch1()
    root = trained["root"]
    assert row["project_path"].startswith("models/dlc/") and (root / row["snapshot"]).is_file()
    assert str(root / row["project_path"]) in (root / row["project_path"] / "config.yaml").read_text()
    assert _tree(OPENFIELD) == trained["before"]  # nothing written into the people's project


def test_a_model_set_refuses_a_model_without_its_roles_points(trained):
    from schemas.pose import PoseModel, PoseModelSet, create_model_set

    name = trained["result"]["pose_model"]
    with pytest.raises(ValueError, match=rf"model set 'lab': model {name} does not fit role 'eye': it lacks the eye point"):
        create_model_set("lab", {"eye": name})
    assert not PoseModelSet & {"pose_model_set": "lab"}
    with pytest.raises(ValueError, match=r"does not fit role 'eye'.*snout"):
        PoseModel().model((PoseModel & {"pose_model": name}).fetch1())


def test_a_second_run_reuses_the_cache_and_the_registered_model(trained):
    again = _cli(trained["root"], trained["cache"], "models", "train", "--project", str(OPENFIELD), "--role", "eye",
                 "--epochs", str(EPOCHS), "--train-fraction", "0.8")  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"already registered: {trained['result']['pose_model']}" in again.stdout
    assert "tailbase" in again.stdout  # the per-body-part table
    assert "training" not in again.stderr  # the cache entry was reused
    assert len(list(trained["cache"].glob("eye-project-*"))) == 1
