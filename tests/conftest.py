"""Shared pytest fixtures.

Tests that need real audio or golden vectors read them from ``../shared/fixtures`` (beside the
checkout) and skip with a reason when that folder is absent, so a fresh clone still passes.
Browser tests skip without Playwright or Chromium likewise.

Slurm tests (``-m slurm``) skip when no Slurm cluster answers (``scripts/slurm-local.sh start``).

Where CI is expected to have them (``.ci/run``), ``CODECBENCH_REQUIRE_FIXTURES=1``,
``CODECBENCH_REQUIRE_BROWSER=1`` and ``CODECBENCH_REQUIRE_SLURM=1`` turn those skips into
failures, so a missing fixture folder, browser or cluster breaks the build instead of silently
shrinking it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_FIXTURES = Path(os.environ.get("CODECBENCH_FIXTURES", REPO_ROOT.parent / "shared" / "fixtures"))


def required(switch: str) -> bool:
    """Whether the environment switch ``switch`` (``CODECBENCH_REQUIRE_FIXTURES``, ...) is set to 1."""
    return os.environ.get(switch, "").strip() == "1"


def skip_or_fail(reason: str, switch: str) -> None:
    """Skip the calling test, or fail it when ``switch`` says the resource must be there (CI)."""
    if required(switch):
        pytest.fail(f"{reason} [{switch}=1: required here]", pytrace=False)
    pytest.skip(reason)


def fixture_path(*parts: str) -> Path:
    """Path inside ../shared/fixtures, or skip (fail under CODECBENCH_REQUIRE_FIXTURES=1) when absent."""
    path = SHARED_FIXTURES.joinpath(*parts)
    if not path.exists():
        skip_or_fail(f"shared fixture {path} is absent (set CODECBENCH_FIXTURES or add ../shared/fixtures)",
                     "CODECBENCH_REQUIRE_FIXTURES")
    return path


@pytest.fixture
def shared_fixtures() -> Path:
    """The ../shared/fixtures folder (skips the test when absent)."""
    return fixture_path()


@pytest.fixture
def fixture_file() -> Callable[..., Path]:
    """``fixture_file("apcodec_golden_tiny", ...)``: a path inside ../shared/fixtures, skipping (or
    failing under CODECBENCH_REQUIRE_FIXTURES=1) when it is absent."""
    return fixture_path


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
    try:
        from playwright import sync_api
    except ImportError:
        skip_or_fail("playwright is not installed (pip install playwright)", "CODECBENCH_REQUIRE_BROWSER")
    chromium = find_chromium()
    if not chromium:
        skip_or_fail("no Chromium found (apt-get install -y chromium chromium-driver, or set CODECBENCH_CHROMIUM)",
                     "CODECBENCH_REQUIRE_BROWSER")
    args = [*CHROMIUM_ARGS, *getattr(request.module, "CHROMIUM_EXTRA_ARGS", ())]
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=args)
        yield browser
        browser.close()


# -- a reachable Slurm cluster for the launcher tests ----------------------------------------------
def slurm_unreachable() -> Optional[str]:
    """Why no Slurm job could run here (None when ``sinfo`` shows a usable node)."""
    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        return "Slurm commands not found (apt-get install slurm-wlm munge; scripts/slurm-local.sh start)"
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=15, check=False)
    except subprocess.TimeoutExpired:
        return "sinfo did not answer within 15 s"
    if out.returncode != 0:
        return f"sinfo failed ({out.stderr.strip()[:200]}); start the cluster: scripts/slurm-local.sh start"
    if not any(state.strip().rstrip("*") in ("idle", "mix", "alloc") for state in out.stdout.split()):
        return f"no usable Slurm node (sinfo states: {out.stdout.split()})"
    return None


@pytest.fixture
def slurm() -> None:
    """Skip the test (fail it under CODECBENCH_REQUIRE_SLURM=1) when no Slurm cluster answers."""
    reason = slurm_unreachable()
    if reason is not None:
        skip_or_fail(reason, "CODECBENCH_REQUIRE_SLURM")
