"""The README's first command, ``ibl-video demo``, end to end in a fresh data root.

Issue acceptance: ``ibl-video status --json`` after the demo shows every table of the
design card with rows and no errors; a second run reuses what exists. The demo runs as a
subprocess of the command line (its own embedded server in the temporary data root) on a
short session; the pose networks come from the test cache (``pose_model_infos``), as a
second ``make demo`` gets them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
#: The tables of the design card (DESIGN.md), each of which must have rows after the demo.
DESIGN_CARD = ("Session", "CameraRecording", "SyncPulses", "CompressedVideo", "AnchorPoints", "CropROI", "DLCPose",
               "PupilDiameter", "LickEvents")  # fmt: skip


def _cli(root: Path, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJ_", "IBL_VIDEO_"))}
    env.update(IBL_VIDEO_DATA_ROOT=str(root), IBL_VIDEO_SCHEMA_PREFIX="demo_test", IBL_VIDEO_DATABASE="embedded",
               HF_HUB_OFFLINE="1", MPLBACKEND="Agg", COLUMNS="200")  # fmt: skip
    if os.environ.get("IBL_VIDEO_MODEL_CACHE"):
        env["IBL_VIDEO_MODEL_CACHE"] = os.environ["IBL_VIDEO_MODEL_CACHE"]
    return subprocess.run([sys.executable, "-m", "populate.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip


@pytest.fixture(scope="module")
def demo_root(pose_model_infos):
    # outside pytest's temporary root, as the embedded server of tests/conftest.py (see there)
    root = Path(tempfile.mkdtemp(prefix="ibl-video-test-demo-"))
    try:
        first = _cli(root, "demo", "--duration", "6")
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        yield root, first
    finally:
        _cli(root, "db", "stop", timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def test_status_after_the_demo_has_every_design_table_with_rows_and_no_errors(demo_root):
    root, first = demo_root
    status = _cli(root, "status", "--json", timeout=300)
    assert status.returncode == 0, status.stderr
    result = json.loads(status.stdout)
    missing = [t for t in DESIGN_CARD if result.get(t, {}).get("rows", 0) == 0]
    assert missing == [], {t: result.get(t) for t in missing}
    assert {t: e for t, e in result.items() if e["errors"]} == {}
    assert {t: e for t, e in result.items() if e["reserved"]} == {}
    for figure in ("frames_synced", "compression_ratio", "left_pupil_r", "right_pupil_r", "left_ibl_lick_recall"):
        assert figure in first.stdout, first.stdout[-3000:]
    assert (root / "demo_summary.png").stat().st_size > 10_000


def test_second_demo_run_reuses_what_exists(demo_root):
    root, _ = demo_root
    before = json.loads(_cli(root, "status", "--json", timeout=300).stdout)
    again = _cli(root, "demo", "--duration", "6")
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    after = json.loads(_cli(root, "status", "--json", timeout=300).stdout)
    assert "reusing the demo session" in again.stdout
    assert after == before  # same session, same rows: nothing recorded or computed twice


def test_demo_exports_with_real_deeplabcut_pose_read_by_the_fields_tools(demo_root, tmp_path):
    """Issue 16 on the demo's real DeepLabCut pose: ONE-api and brainbox read the ALF files (IBL's
    point names), nwbinspector passes the NWB file, movement loads each camera's pose."""
    import numpy as np
    from brainbox.behavior.dlc import get_pupil_diameter, likelihood_threshold
    from movement.io import load_poses
    from nwbinspector import Importance, inspect_nwbfile
    from one.alf.io import load_object

    from pipeline.io.ibl_names import IBL_POINTS

    root, _ = demo_root
    folder = next((root / "demo_mouse").glob("*/001"))  # the demo's session (recorded today)
    args = ["demo_mouse", folder.parent.name, "1"]
    for kind, out in (("alf", tmp_path / "alf"), ("nwb", tmp_path / "demo.nwb")):
        result = _cli(root, "export", kind, *args, "--out", str(out), timeout=600)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    for label in ("left", "right"):
        cam = load_object(tmp_path / "alf", f"{label}Camera", namespace="ibl")
        assert list(cam["dlc"].columns) == [f"{p}_{c}" for p in IBL_POINTS for c in ("x", "y", "likelihood")]
        assert len(cam["dlc"]) == len(cam["times"]) == len(cam["features"])
        ibl_raw = get_pupil_diameter(likelihood_threshold(cam["dlc"].copy(), 0.9))
        ours = cam["features"]["pupilDiameter_raw"].to_numpy()
        assert np.isfinite(ours).any()
        np.testing.assert_allclose(ibl_raw, ours, rtol=0, atol=1e-6, equal_nan=True)
        ds = load_poses.from_nwb_file(tmp_path / "demo.nwb", pose_estimation_key=f"PoseEstimation{label.title()}Camera")
        assert ds.position.sizes["time"] == len(cam["times"]) and ds.keypoints.size >= 10
    body = load_object(tmp_path / "alf", "bodyCamera", namespace="ibl")  # no pose network: its frame times
    assert set(body) == {"times"} and body["times"].ndim == 1 and np.all(np.diff(body["times"]) > 0)
    licks = load_object(tmp_path / "alf", "licks")
    assert set(licks) == {"times"} and licks["times"].ndim == 1
    bad = [m for m in inspect_nwbfile(nwbfile_path=tmp_path / "demo.nwb")
           if m.importance in (Importance.CRITICAL, Importance.BEST_PRACTICE_VIOLATION)]  # fmt: skip
    assert bad == [], [f"{m.check_function_name}: {m.message}" for m in bad]
