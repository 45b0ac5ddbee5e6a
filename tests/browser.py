"""Headless Chromium for the page tests: Debian's chromium driven by the playwright package (no browser
download). CI installs both and sets HIPTRACK_REQUIRE_BROWSER=1, so there a missing browser fails the
tests rather than skipping them."""

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required"]
"""Sound may start without a click, as it does once the person has clicked the page."""


def browser_or_skip() -> str:
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        missing = "the playwright package"
    else:
        if CHROMIUM:
            return CHROMIUM
        missing = "chromium"
    if os.environ.get("HIPTRACK_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{missing} is not installed, and this run requires the browser tests")
    pytest.skip(f"{missing} is not installed")


def artifacts_dir(tmp_path: Path) -> Path:
    artifacts = Path(os.environ.get("HIPTRACK_ARTIFACTS", tmp_path / "screenshots"))
    artifacts.mkdir(parents=True, exist_ok=True)
    return artifacts


async def cue_kinds(page: Any) -> list[str]:
    return list(await page.evaluate("() => window.hiptrackCues.map((c) => c.kind)"))
