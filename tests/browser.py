"""A real headless Chromium for browser tests (Playwright's sync API, Debian's chromium).

The browser is Debian's ``chromium`` (``/usr/bin/chromium``), driven by the ``playwright``
Python package through ``executable_path``: Playwright's own browser download
(``playwright install``) is never used. When the browser is missing it is installed with
``apt-get`` (as root); without root or ``apt-get`` the tests skip, saying why, and with
``CI=true`` they fail instead (the same policy as ``tests/populate/test_slurm.py``).

Use from ``tests/conftest.py``::

    pytest_plugins = ["tests.pose_fixtures", "tests.browser"]

Fixtures
--------
chromium_browser
    session-scoped Playwright ``Browser`` (headless chromium); open pages with
    ``chromium_browser.new_page()`` and close them in the test.

Functions
---------
screenshot_dir
    the folder for screenshots kept as test artifacts (``<repo>/test-artifacts/screenshots``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.debian import apt_install, unavailable

CHROMIUM = Path("/usr/bin/chromium")
PACKAGES = ("chromium", "fonts-dejavu-core")
ROOT = Path(__file__).resolve().parents[1]


def ensure_chromium() -> Path:
    """Debian's chromium, installed with ``apt-get`` when missing (:func:`tests.debian.apt_install`).

    Returns
    -------
    Path
        The browser executable.
    """
    apt_install(PACKAGES, what="browser", installed=CHROMIUM.exists)
    return CHROMIUM


def screenshot_dir() -> Path:
    """The folder for screenshots kept as test artifacts (created; git-ignored).

    ``$IBL_VIDEO_TEST_ARTIFACTS/screenshots`` when that variable is set, else
    ``<repo>/test-artifacts/screenshots``.
    """
    base = Path(os.environ.get("IBL_VIDEO_TEST_ARTIFACTS", ROOT / "test-artifacts"))
    folder = base / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def chromium_browser():
    """A headless Debian chromium driven by Playwright (sync API), shared by the session."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is not installed (pip install -e '.[dev]')", "browser")
    executable = ensure_chromium()
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), headless=True, args=args)
        try:
            yield browser
        finally:
            browser.close()
