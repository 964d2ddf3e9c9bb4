"""Bad training settings, data and state files raise codecbench.errors classes (one line each)."""

from __future__ import annotations

import pytest
import torch

from codecbench.errors import ConfigError, DataError, StorageError
from codecbench.training.config import TrainConfig
from codecbench.training.data import resolve_source, split_items
from codecbench.training.state import load_state
from codecbench.training.validation import check_metrics


def test_train_config_errors_are_config_errors():
    with pytest.raises(ConfigError, match="train.precision"):
        TrainConfig(precision="fp16")
    with pytest.raises(ConfigError, match=r"x.yaml: unknown key 'train.max_stepz' \(did you mean 'max_steps'"):
        TrainConfig.from_dict({"max_stepz": 3}, "x.yaml")
    with pytest.raises(ConfigError, match="best_metric"):
        check_metrics((), "pesq_wb")


def test_data_errors_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="no audio files"):
        resolve_source(str(tmp_path))
    with pytest.raises(DataError, match="not a folder, a file list"):
        resolve_source(str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="valid_holdout=2 leaves no training files"):
        split_items(["a", "b"], 2)  # type: ignore[list-item]


def test_a_foreign_torch_file_is_a_storage_error(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"weights": torch.zeros(1)}, path)
    with pytest.raises(StorageError, match="weights.pt: not a codecbench training state"):
        load_state(path)


def test_step_context_local_defaults_to_raw():
    from torch import nn

    from codecbench.training.task import StepContext

    raw = {"g": nn.Linear(1, 1)}
    run = StepContext(modules=raw, raw=raw, step=0, epoch=0, device=torch.device("cpu"))
    assert run.local is raw


@pytest.mark.parametrize("content", [b"", b"not a torch file at all\n", b"PK\x03\x04broken zip"])
def test_an_unreadable_file_is_a_storage_error(tmp_path, content: bytes):
    path = tmp_path / "state_00000001.pt"
    path.write_bytes(content)
    with pytest.raises(StorageError, match=r"state_00000001.pt: not a readable torch file \(.+\); give a"):
        load_state(path)
