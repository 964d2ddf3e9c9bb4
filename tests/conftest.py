"""Shared pytest fixtures.

Tests that need real audio or golden vectors read them from ``../shared/fixtures`` (beside the
checkout) and skip with a reason when that folder is absent, so a fresh clone still passes.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_FIXTURES = Path(os.environ.get("CODECBENCH_FIXTURES", REPO_ROOT.parent / "shared" / "fixtures"))


def fixture_path(*parts: str) -> Path:
    """Path inside ../shared/fixtures, or skip the calling test when it is absent."""
    path = SHARED_FIXTURES.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared fixture {path} is absent (set CODECBENCH_FIXTURES or add ../shared/fixtures)")
    return path


@pytest.fixture
def shared_fixtures() -> Path:
    """The ../shared/fixtures folder (skips the test when absent)."""
    return fixture_path()


# -- headless Chromium for the browser tests (report pages, listening tests) ---------------------------
CHROMIUM_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync")


def find_chromium() -> Optional[str]:
    """``$CODECBENCH_CHROMIUM``, else ``chromium`` / ``chromium-browser`` on PATH; None when absent."""
    candidates = (os.environ.get("CODECBENCH_CHROMIUM"), shutil.which("chromium"), shutil.which("chromium-browser"))
    return next((p for p in candidates if p and os.path.isfile(p)), None)


@pytest.fixture(scope="module")
def chromium_browser(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A Playwright headless Chromium shared by one test module; skips when Playwright or Chromium is missing.

    A module adds launch flags with a ``CHROMIUM_EXTRA_ARGS`` tuple (e.g. an autoplay policy).
    """
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    chromium = find_chromium()
    if not chromium:
        pytest.skip("no Chromium found (apt-get install -y chromium chromium-driver, or set CODECBENCH_CHROMIUM)")
    args = [*CHROMIUM_ARGS, *getattr(request.module, "CHROMIUM_EXTRA_ARGS", ())]
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=args)
        yield browser
        browser.close()
