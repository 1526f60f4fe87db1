"""Session-scoped fixtures with trained DeepLabCut networks for the pose stage.

The networks are trained on simulated frames with the reduced settings of
:data:`populate.models.TEST_TRAINING` (a few minutes on 2 CPU cores on a cold cache) and
cached in ``$IBL_VIDEO_MODEL_CACHE`` or ``<repo>/.cache/models``; later runs load them in
well under a second.

Use from ``tests/conftest.py``::

    pytest_plugins = ["tests.pose_fixtures"]

Fixtures
--------
pose_model_infos
    dict role -> :class:`populate.models.ModelInfo` for every role (anchor, eye, nostril,
    tongue, paws): DLC project folder, snapshot, body parts, test error.
pose_models
    dict role -> :class:`pipeline.pose.DlcModel`, ready for :func:`pipeline.pose.run_pose`
    and :func:`pipeline.pose.anchor_points`.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def pose_model_infos():
    """Trained (or cached) test networks for every pose role."""
    from pipeline.pose import ROLES
    from populate.models import TEST_TRAINING, train_from_simulator

    return train_from_simulator(roles=ROLES, training=TEST_TRAINING, seed=0, progress=True)


@pytest.fixture(scope="session")
def pose_models(pose_model_infos):
    """The test networks as :class:`pipeline.pose.DlcModel` objects, by role."""
    return {role: info.model() for role, info in pose_model_infos.items()}
