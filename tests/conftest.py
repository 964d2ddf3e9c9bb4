"""Shared pytest fixtures.

Tests that need real audio or golden vectors read them from ``../shared/fixtures`` (beside the
checkout) and skip with a reason when that folder is absent, so a fresh clone still passes.
"""

from __future__ import annotations

import os
from pathlib import Path

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
