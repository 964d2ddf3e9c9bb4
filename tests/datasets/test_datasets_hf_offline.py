"""Hub repo ids fail fast and in one line when there is no network and no cache."""

from __future__ import annotations

import time

import pytest

from codecbench.datasets import DatasetError, hf
from codecbench.datasets.expresso import ExpressoDataset
from codecbench.datasets.hf import ParquetRow, select_parquet, split_patterns
from codecbench.datasets.vctk import VctkDataset


@pytest.mark.parametrize("make", [
    lambda cache: ExpressoDataset(source="hf", cache_dir=cache),
    lambda cache: VctkDataset(source="hf", cache_dir=cache),
])
def test_offline_env_fails_fast_with_one_line(make, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    with pytest.raises(DatasetError) as info:
        make(str(tmp_path / "hf-cache")).utterances()
    assert time.monotonic() - start < 5
    message = str(info.value)
    assert "\n" not in message and "offline and not in the Hugging Face cache" in message
    assert "huggingface-cli download" in message and "root:" in message


def test_unreachable_hub_counts_as_offline(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hf, "_hub_reachable", lambda endpoint: False)
    start = time.monotonic()
    with pytest.raises(DatasetError, match="offline and not in the Hugging Face cache"):
        ExpressoDataset(repo="shangeth/expresso", cache_dir=str(tmp_path)).utterances()
    assert time.monotonic() - start < 5


def test_probe_times_out_quickly(monkeypatch):
    """A black-holed endpoint (TEST-NET-1 address, never routed) gives up within the probe timeout."""
    for key in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(hf, "PROBE_TIMEOUT_S", 0.5)
    hf._hub_reachable.cache_clear()
    start = time.monotonic()
    assert hf._hub_reachable("https://192.0.2.1:9") is False
    assert time.monotonic() - start < 3


def test_select_parquet_prefers_config_and_split(tmp_path):
    for rel in ("read/test-00000-of-00001.parquet", "read/train-00000-of-00002.parquet",
                "conversational/test-00000-of-00001.parquet", "main/partial-train/0000.parquet"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    names = lambda files: [p.relative_to(tmp_path).as_posix() for p in files]  # noqa: E731
    assert names(select_parquet(tmp_path, "read", "test")) == ["read/test-00000-of-00001.parquet"]
    assert names(select_parquet(tmp_path, "main", "train")) == ["main/partial-train/0000.parquet"]
    assert "read/test-*.parquet" in split_patterns("read", "test")


def test_parquet_row_missing_bytes_is_audio_error(tmp_path, make_parquet, encoded):
    from codecbench.audio import AudioError
    from codecbench.datasets.base import Utterance

    path = make_parquet(tmp_path / "t.parquet", [{"id": "a", "audio": encoded()}, {"id": "b", "audio": None}])
    good = Utterance("d", "a", None, {}, source=ParquetRow(str(path), 0, 0))
    assert good.load()[0].shape[0] == 1
    bad = Utterance("d", "b", None, {}, source=ParquetRow(str(path), 0, 1))
    with pytest.raises(AudioError, match=r"t\.parquet\[row group 0, row 1\]"):
        bad.load()


def test_select_parquet_all_splits_of_one_config(tmp_path):
    for rel in ("read/test-0.parquet", "read/train-0.parquet", "conversational/test-0.parquet"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    assert [p.name for p in select_parquet(tmp_path, "read", None)] == ["test-0.parquet", "train-0.parquet"]
    assert len(select_parquet(tmp_path, None, None)) == 3
