"""Overfit one real clip: the trainer + losses must make the tiny model reconstruct it better."""

from __future__ import annotations

import soundfile as sf
import pytest
import torch

from apcodec.config import load_config
from apcodec.losses import LossConfig
from apcodec.task import APCodecTask
from codecbench.training import TrainConfig, Trainer
from codecbench.training.data import FileItem

SEGMENT = 3800  # (12 * 8 - 1) * 40: 96 STFT frames = 12 latent frames, round-trips exactly
STEPS = 60


@pytest.mark.slow
def test_overfit_one_clip_reduces_mel_distance(shared_fixtures, tmp_path):
    audio, rate = sf.read(shared_fixtures / "apcodec_demo" / "vctk48" / "N_48" / "1.wav", dtype="float32")
    assert rate == 48000
    clip = tmp_path / "clip.wav"
    sf.write(clip, audio[rate // 2: rate // 2 + SEGMENT], rate, subtype="FLOAT")  # voiced speech, p360

    before_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        task = APCodecTask(load_config("tiny").model, LossConfig(adversarial=False))  # no GAN: fast, monotone
        cfg = TrainConfig(batch_size=1, segment_size=SEGMENT, learning_rate=1e-3, log_interval=0,
                          checkpoint_interval=0, validation_interval=0, cache_audio=True, tensorboard=False,
                          valid_max_seconds=None)
        items = [FileItem(str(clip))]
        trainer = Trainer(task, cfg, tmp_path / "run", train_items=items, valid_items=items)
        assert trainer.task.phases() == ["g"]
        start = trainer.validate().scores["mel_distance"]
        trainer.fit(max_steps=STEPS)
        end = trainer.validate().scores["mel_distance"]
    finally:
        torch.set_num_threads(before_threads)
    print(f"overfit mel distance {start:.3f} -> {end:.3f} ({100 * (1 - end / start):.0f}% drop in {STEPS} steps)")
    assert end <= 0.6 * start, (start, end)
