"""APCodec-S distillation: a causal student trains a couple of steps against a frozen teacher."""

from __future__ import annotations

import math

import pytest
import torch

from apcodec.checkpoint import save_checkpoint
from apcodec.config import load_config
from apcodec.distill import DistillationTask, DistillConfig
from apcodec.losses import LossConfig
from apcodec.model import APCodec
from codecbench.training import Trainer


def test_distillation_steps(tmp_path, one_thread, small_disc, write_tones, train_config):
    torch.manual_seed(0)
    teacher = APCodec.from_config(load_config("tiny").model)
    teacher_path = save_checkpoint(teacher, tmp_path / "teacher.pt")
    teacher_state = {k: v.clone() for k, v in teacher.state_dict().items()}
    write_tones(tmp_path / "data", 2)

    student_cfg = load_config("tiny_s").model
    task = DistillationTask(student_cfg, LossConfig(), teacher_path, distill_cfg=DistillConfig(), disc_cfg=small_disc)
    trainer = Trainer(task, train_config(tmp_path / "data", segment_size=1280), tmp_path / "run")
    student = trainer.modules["generator"]
    assert student.cfg.causal
    copied = sum(torch.equal(v, teacher_state[k]) for k, v in student.state_dict().items()
                 if k in teacher_state and v.shape == teacher_state[k].shape)
    assert copied > 50  # warm start from the teacher where shapes agree
    summary = trainer.fit(max_steps=2)
    for key in ("distill_latent", "distill_mel", "distill_amplitude", "g_total", "d_total"):
        assert math.isfinite(summary.last_logs[key]) and summary.last_logs[key] >= 0, key
    assert summary.last_logs["distill_mel"] > 0
    assert all(torch.equal(v, teacher_state[k]) for k, v in task.teacher.state_dict().items())  # teacher frozen
    assert (tmp_path / "run" / "export" / "encoder_00000002").is_file()


def test_distillation_rejects_bad_pairs(tmp_path):
    teacher_path = save_checkpoint(APCodec.from_config(load_config("tiny").model), tmp_path / "teacher.pt")
    with pytest.raises(ValueError, match="causal: true"):
        DistillationTask(load_config("tiny").model, LossConfig(), teacher_path)
    causal_path = save_checkpoint(APCodec.from_config(load_config("tiny_s").model), tmp_path / "causal.pt")
    with pytest.raises(ValueError, match="teacher .* is causal"):
        DistillationTask(load_config("tiny_s").model, LossConfig(), causal_path)
