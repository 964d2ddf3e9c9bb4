"""Exact resume: an interrupted run continued from its checkpoint matches an uninterrupted one."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from apcodec.config import load_config
from apcodec.losses import LossConfig
from apcodec.task import APCodecTask, DiscriminatorConfig
from apcodec.training import TrainConfig, Trainer
from apcodec.training.state import atomic_save, capture_rng, list_states, restore_rng

SMALL_DISC = DiscriminatorConfig(mpd_channels=(4, 8, 16, 16, 16), mrd_channels=4)


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def write_tones(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for i in range(count):
        t = np.arange(3000) / 48000
        audio = 0.2 * np.sin(2 * np.pi * (300 + 70 * i) * t) + 0.02 * rng.standard_normal(t.size)
        sf.write(folder / f"clip_{i}.wav", audio.astype(np.float32), 48000, subtype="FLOAT")


def make_trainer(data: Path, out: Path) -> Trainer:
    task = APCodecTask(load_config("tiny").model, LossConfig(), SMALL_DISC)
    # 6 files, batch 2 -> 3 batches per epoch: resuming after step 2 is mid-epoch, and step 4
    # crosses an epoch boundary (scheduler step, new permutation).
    cfg = TrainConfig(train_data=str(data), batch_size=2, segment_size=1240, log_interval=0, checkpoint_interval=0,
                      validation_interval=0, tensorboard=False, seed=7)
    return Trainer(task, cfg, out)


def test_rng_capture_restore_roundtrip(tmp_path):
    state = capture_rng()
    expected = (random.random(), np.random.rand(), torch.rand(3))
    path = atomic_save({"rng": state}, tmp_path / "rng.pt")
    random.random(), np.random.rand(), torch.rand(3)
    restore_rng(torch.load(path, weights_only=True)["rng"])
    again = (random.random(), np.random.rand(), torch.rand(3))
    assert expected[0] == again[0] and expected[1] == again[1] and torch.equal(expected[2], again[2])
    assert not (tmp_path / "rng.pt.tmp").exists()


def test_resume_reproduces_uninterrupted_losses(tmp_path, one_thread):
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
