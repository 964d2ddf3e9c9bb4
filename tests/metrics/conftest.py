"""An offline Hugging Face cache for the model-backed metric tests (tiny or random models)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty hub cache folder that every lookup uses, with the Hub switched off."""
    folder = tmp_path / "hub"
    folder.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(folder))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return folder
