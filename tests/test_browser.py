"""The ``chromium_browser`` fixture (tests/browser.py): Debian's chromium renders and screenshots."""

from __future__ import annotations

import io
from urllib.parse import quote

import pytest
from PIL import Image

from tests.browser import screenshot_dir


@pytest.mark.slow
def test_chromium_renders_and_screenshots(chromium_browser):
    html = "<html><body style='background:#123456'><h1 id='t'>ibl-video browser check</h1></body></html>"
    page = chromium_browser.new_page(viewport={"width": 320, "height": 200})
    try:
        page.goto("data:text/html," + quote(html))
        assert page.inner_text("#t") == "ibl-video browser check"
        assert page.evaluate("navigator.userAgent").find("HeadlessChrome") >= 0
        target = screenshot_dir() / "browser_check.png"
        target.unlink(missing_ok=True)
        png = page.screenshot(path=str(target))
    finally:
        page.close()
    assert target.stat().st_size > 0 and png[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.size == (320, 200)
    assert image.getpixel((5, 195)) == (0x12, 0x34, 0x56)  # the page's background, rendered
