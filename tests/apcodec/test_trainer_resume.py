"""Exact resume: an interrupted run continued from its checkpoint matches an uninterrupted one."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
import torch

from apcodec.config import load_config
from apcodec.losses import LossConfig
from apcodec.task import APCodecTask
from codecbench.training import Trainer
from codecbench.training.state import list_states


@pytest.fixture
def make_trainer(small_disc, train_config) -> Callable[[Path, Path], Trainer]:
    def make(data: Path, out: Path) -> Trainer:
        task = APCodecTask(load_config("tiny").model, LossConfig(), small_disc)
        # 6 files, batch 2 -> 3 batches per epoch: resuming after step 2 is mid-epoch, and step 4
        # crosses an epoch boundary (scheduler step, new permutation).
        return Trainer(task, train_config(data, seed=7, cache_audio=False), out)

    return make


def test_resume_reproduces_uninterrupted_losses(tmp_path, one_thread, write_tones, make_trainer):
    data = tmp_path / "data"
    write_tones(data, 6)

    straight = make_trainer(data, tmp_path / "straight")
    straight.fit(max_steps=4)
    reference = {h["step"]: h for h in straight.history}

    first = make_trainer(data, tmp_path / "interrupted")
    first.fit(max_steps=2)
    assert [s for s, _ in list_states(tmp_path / "interrupted" / "checkpoints")] == [2]
    del first

    resumed = make_trainer(data, tmp_path / "interrupted")
    assert resumed.resume()
    assert (resumed.step, resumed.epoch, resumed.batch_in_epoch) == (2, 0, 2)
    resumed.fit(max_steps=4)
    continued = {h["step"]: h for h in resumed.history}
    assert sorted(continued) == [3, 4]
    for step in (3, 4):
        for key in ("d_total", "g_total", "mel_l1", "ip", "codebook"):
            assert continued[step][key] == pytest.approx(reference[step][key], rel=1e-6, abs=1e-7), (step, key)
    assert resumed.epoch == straight.epoch == 1
    final_a = straight.modules["generator"].state_dict()
    final_b = resumed.modules["generator"].state_dict()
    assert all(torch.allclose(final_a[k], final_b[k], atol=1e-6) for k in final_a)
