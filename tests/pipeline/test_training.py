"""Training from a project labelled by people (pipeline.training, pipeline.io.dlc): reading the
project, and refusing bad input with errors naming the file, before DeepLabCut or a database
is touched. No training here (see tests/populate/test_models_train_project.py).

The project is a subset of DeepLabCut's own example ``openfield-Pranav-2018-10-30``
(tests/data/dlc_openfield/README.md).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pipeline.io import dlc as dlcio
from pipeline.pose import ROLE_BODYPARTS, DlcModel, check_bodyparts, role_point_indices
from pipeline.training import NetworkTraining, project_settings

OPENFIELD = Path(__file__).resolve().parents[1] / "data" / "dlc_openfield" / "openfield-Pranav-2018-10-30"
BODYPARTS = ("snout", "leftear", "rightear", "tailbase")


@pytest.fixture
def project(tmp_path) -> Path:
    """A writable copy of the labelled project."""
    dst = tmp_path / OPENFIELD.name
    shutil.copytree(OPENFIELD, dst)
    return dst


def _cli(*args: str):
    from populate.cli import app

    return CliRunner().invoke(app, ["models", "train", *args])


def test_reads_the_peoples_labels_as_dlc_wrote_them():
    proj = dlcio.read_project(OPENFIELD)
    assert proj.scorer == "Pranav" and proj.bodyparts == BODYPARTS
    data = dlcio.read_labelled_data(proj)
    assert len(data.images) == data.n_rows == 36 and data.folders == ("m4s1",)
    assert data.images[0] == ("labeled-data", "m4s1", "img0000.png") and data.images == tuple(sorted(data.images))
    assert data.labels.shape == (36, 4, 2) and np.isfinite(data.labels).all()
    # the CSV twin DeepLabCut keeps beside the table holds the same labels
    csv = pd.read_csv(OPENFIELD / "labeled-data" / "m4s1" / "CollectedData_Pranav.csv", header=[0, 1, 2], index_col=0).sort_index(axis=1)
    for j, bp in enumerate(BODYPARTS):
        np.testing.assert_allclose(data.labels[:, j], csv[("Pranav", bp)][["x", "y"]].to_numpy(), atol=1e-9)
    # labels lie on the 320x240 frames
    assert data.labels[..., 0].max() < 320 and data.labels[..., 1].max() < 240 and data.labels.min() > -0.5


def test_settings_hash_the_projects_contents(project):
    a, _ = project_settings(project, "eye", NetworkTraining(epochs=5))
    assert a["train_fraction"] == 0.95 and len(a["images_md5"]) == 36
    assert project_settings(project, "eye", NetworkTraining(epochs=5))[0] == a
    assert project_settings(project, "eye", NetworkTraining(epochs=6))[0] != a
    (project / "labeled-data" / "m4s1" / "img0003.png").write_bytes(
        (project / "labeled-data" / "m4s1" / "img0000.png").read_bytes()
    )
    b, _ = project_settings(project, "eye", NetworkTraining(epochs=5))
    assert b["images_md5"] != a["images_md5"]  # a changed image is a new training run


def test_no_config_yaml_is_refused_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"{tmp_path}/config.yaml"):
        project_settings(tmp_path, "eye", NetworkTraining())
    result = _cli("--project", str(tmp_path), "--role", "eye")
    assert result.exit_code == 2
    assert "config not found" in result.output and "config.yaml" in result.output


def test_no_labelled_frames_is_refused_naming_the_files(project):
    h5 = project / "labeled-data" / "m4s1" / "CollectedData_Pranav.h5"
    df = pd.read_hdf(h5)
    df.loc[:, :] = np.nan  # a folder extracted but never labelled
    df.to_hdf(h5, key="df_with_missing", mode="w")
    with pytest.raises(ValueError, match=r"no labelled frames.*CollectedData_Pranav\.h5.*36 rows"):
        project_settings(project, "eye", NetworkTraining())
    shutil.rmtree(project / "labeled-data")
    with pytest.raises(FileNotFoundError, match=r"no labeled-data/\*/CollectedData_Pranav\.h5"):
        project_settings(project, "eye", NetworkTraining())
    result = _cli("--project", str(project), "--role", "eye")
    assert result.exit_code == 2 and "CollectedData_Pranav.h5" in result.output


def test_unknown_or_missing_role_is_a_usage_error(project):
    with pytest.raises(ValueError, match="unknown pose role 'whiskers'"):
        project_settings(project, "whiskers", NetworkTraining())
    result = _cli("--project", str(project), "--role", "whiskers")
    assert result.exit_code == 2 and "unknown pose role 'whiskers'" in result.output
    result = _cli("--project", str(project))
    assert result.exit_code == 2 and "--role" in result.output
    assert _cli().exit_code == 2  # neither --from-simulator nor --project
    assert _cli("--from-simulator", "--project", str(project), "--role", "eye").exit_code == 2


def test_inconsistent_projects_are_refused_naming_the_file(project):
    folder = project / "labeled-data" / "m4s1"
    (folder / "img0105.png").unlink()
    with pytest.raises(FileNotFoundError, match="labelled image not found: .*img0105.png"):
        project_settings(project, "eye", NetworkTraining())
    shutil.copy(OPENFIELD / "labeled-data" / "m4s1" / "img0105.png", folder / "img0105.png")
    df = pd.read_hdf(folder / "CollectedData_Pranav.h5")
    df = df.rename(columns={"tailbase": "tail"}, level="bodyparts")
    df.to_hdf(folder / "CollectedData_Pranav.h5", key="df_with_missing", mode="w")
    with pytest.raises(ValueError, match=r"CollectedData_Pranav\.h5: body parts .*missing \['tailbase'\], unexpected \['tail'\]"):
        project_settings(project, "eye", NetworkTraining())


def test_a_split_needs_frames_on_both_sides(project):
    with pytest.raises(ValueError, match="36 labelled frame"):
        project_settings(project, "eye", NetworkTraining(), train_fraction=0.999)
    with pytest.raises(ValueError, match="train_fraction"):
        project_settings(project, "eye", NetworkTraining(), train_fraction=1.5)
    with pytest.raises(ValueError, match="epochs"):
        NetworkTraining(epochs=0)
    with pytest.raises(ValueError, match="unknown net type 'resnet_18'.*cspnext_s"):
        project_settings(project, "eye", NetworkTraining(), net_type="resnet_18")
    result = _cli("--project", str(project), "--role", "eye", "--net-type", "resnet_18")
    assert result.exit_code == 2 and "unknown net type 'resnet_18'" in result.output


def test_role_points_are_required_extra_points_allowed():
    eye = ROLE_BODYPARTS["eye"]
    check_bodyparts(eye, "eye", "m")
    check_bodyparts(("snout", *reversed(eye)), "eye", "m")  # extra point, any order
    with pytest.raises(ValueError, match=r"model lab-eye does not fit role 'eye': it lacks the eye point\(s\) \['pupil_top_l'"):
        check_bodyparts(BODYPARTS, "eye", "lab-eye")
    with pytest.raises(ValueError, match=r"lacks the eye point\(s\) \['pupil_left_l'\]"):
        check_bodyparts(eye[:3], "eye", "m")
    model = DlcModel("eye", Path("c.yaml"), Path("s.pt"), ("snout", eye[3], eye[0], eye[1], eye[2]), "m")
    assert role_point_indices(model) == [(2, eye[0]), (3, eye[1]), (4, eye[2]), (1, eye[3])]


def _imported_modules(path: Path) -> set[str]:
    import ast

    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_training_code_sits_below_the_tables():
    """pipeline/ (training included) imports no DataJoint, tables, workers or rig code; the
    tables import no workers or rig code (schemas/pose.py used to import populate.models,
    schemas/qc.py acquisition.setup_aids)."""
    repo = Path(__file__).resolve().parents[2]
    for f in sorted((repo / "pipeline").rglob("*.py")):
        assert not _imported_modules(f) & {"datajoint", "schemas", "populate", "acquisition"}, f
    for f in sorted((repo / "schemas").rglob("*.py")):
        assert not _imported_modules(f) & {"populate", "acquisition"}, f


@pytest.mark.parametrize("percent", range(1, 100))
def test_trainset_names_are_deeplabcuts_for_every_fraction(percent):
    """Our folder and file names of a training fraction are DeepLabCut's own (it truncates:
    0.58 names ``trainset57``), so its per-keypoint evaluation is found for any split."""
    from deeplabcut.utils.auxiliaryfunctions import get_data_and_metadata_filenames

    from pipeline.io.dlc import trainset_percent

    fraction = round(percent / 100, 2)
    _, meta = get_data_and_metadata_filenames("t", fraction, 1, {"Task": "task", "scorer": "s"})
    assert meta.name == f"Documentation_data-task_{trainset_percent(fraction)}shuffle1.pickle"
