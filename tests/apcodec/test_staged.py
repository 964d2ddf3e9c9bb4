"""APCodec+ stage 2: frozen encoder/quantizer stay bit-identical; decoder re-initialised and trained."""

from __future__ import annotations

import pytest
import torch

from apcodec.config import load_config
from apcodec.losses import LossConfig
from apcodec.staged import IndividualTrainingTask, encoder_fingerprint, run_stage2
from apcodec.task import APCodecTask, load_generator
from codecbench.training import Trainer
from codecbench.training.state import list_states


def test_stage2_freezes_encoder_and_reinitializes_decoder(tmp_path, one_thread, small_disc, write_tones,
                                                          train_config):
    model_cfg = load_config("tiny").model
    write_tones(tmp_path / "data", 2)
    stage1 = Trainer(APCodecTask(model_cfg, LossConfig(), small_disc), train_config(tmp_path / "data", seed=1),
                     tmp_path / "s1")
    stage1.fit(max_steps=1)
    stage1_model = load_generator(tmp_path / "s1", model_cfg)

    task = IndividualTrainingTask(model_cfg, LossConfig(), tmp_path / "s1", disc_cfg=small_disc)
    assert task.loss_cfg.codebook == 0.0 and task.loss_cfg.commitment == 0.0
    stage2 = Trainer(task, train_config(tmp_path / "data", seed=2), tmp_path / "s2")
    generator = stage2.modules["generator"]
    before = encoder_fingerprint(generator)
    reference = encoder_fingerprint(stage1_model)
    assert all(torch.equal(before[k], reference[k]) for k in reference)  # encoder + quantizer loaded
    dec1, dec2 = stage1_model.decoder.state_dict(), generator.decoder.state_dict()
    assert any(not torch.equal(dec1[k], dec2[k]) for k in dec1)  # decoder re-initialised
    assert all(not p.requires_grad for p in generator.encoder.parameters())
    trained = {id(p) for p in stage2.optimizers["g"].param_groups[0]["params"]}
    assert trained == {id(p) for p in generator.decoder.parameters()}
    decoder_start = {k: v.clone() for k, v in generator.decoder.state_dict().items()}

    summary = stage2.fit(max_steps=2)
    assert "codebook" not in summary.last_logs and summary.last_logs["mel_l1"] > 0
    assert not generator.encoder.training and generator.decoder.training
    after = encoder_fingerprint(generator)
    assert all(torch.equal(before[k], after[k]) for k in before)  # provably unchanged
    assert any(not torch.equal(decoder_start[k], v) for k, v in generator.decoder.state_dict().items())


def test_stage2_rounds_continue_from_previous_round(tmp_path, one_thread, write_tones, train_config):
    model_cfg = load_config("tiny").model
    write_tones(tmp_path / "data", 2)
    cfg = train_config(tmp_path / "data", seed=1)
    Trainer(APCodecTask(model_cfg, LossConfig(adversarial=False)), cfg, tmp_path / "s1").fit(max_steps=1)
    summaries = run_stage2(model_cfg, LossConfig(adversarial=False), cfg, tmp_path / "s2",
                           tmp_path / "s1", rounds=2, max_steps=1)
    assert len(summaries) == 2
    for k in (1, 2):
        assert [s for s, _ in list_states(tmp_path / "s2" / f"round_{k}" / "checkpoints")] == [1]
    round1 = load_generator(tmp_path / "s2" / "round_1", model_cfg)
    task = IndividualTrainingTask(model_cfg, LossConfig(adversarial=False), tmp_path / "s1",
                                  continue_from=list_states(tmp_path / "s2" / "round_1" / "checkpoints")[0][1])
    start = task.build_modules()["generator"].decoder.state_dict()
    assert all(torch.equal(start[k], v) for k, v in round1.decoder.state_dict().items())
    with pytest.raises(ValueError, match="round_mode"):
        run_stage2(model_cfg, LossConfig(), cfg, tmp_path / "x", tmp_path / "s1", round_mode="bogus")
