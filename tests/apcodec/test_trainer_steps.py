"""A few training steps of the tiny config: losses, checkpoints, export, logs and the CLI."""

from __future__ import annotations

import json
import math

import pytest
import torch

from apcodec.config import load_config
from apcodec.losses import LossConfig
from apcodec.task import APCodecTask
from codecbench.training import Trainer
from codecbench.training.state import list_states, load_state

# a couple of logged steps; validation files cut to 0.05 s
QUICK = dict(max_steps=2, log_interval=1, valid_max_seconds=0.05)


def test_tiny_training_steps_with_gan(tmp_path, one_thread, small_disc, write_tones, train_config):
    write_tones(tmp_path / "data", 3)
    task = APCodecTask(load_config("tiny").model, LossConfig(), small_disc)
    cfg = train_config(tmp_path / "data", **QUICK, valid_holdout=1, validation_interval=2,
                       valid_metrics=("si_sdr", "pesq_wb"), best_metric="si_sdr")
    trainer = Trainer(task, cfg, tmp_path / "run")
    assert trainer.task.phases() == ["d", "g"]
    summary = trainer.fit()
    assert summary.step == 2
    for key in ("d_total", "g_total", "amplitude", "ip", "gd", "iaf", "consistency", "mel_l1", "gan_mpd",
                "fm_mrd", "codebook", "commitment"):
        assert math.isfinite(summary.last_logs[key]), key
    assert math.isfinite(summary.validation["mel_distance"]) and math.isfinite(summary.validation["si_sdr"])
    assert "pesq_wb" not in summary.validation  # 0.05 s clip: below PESQ's minimum, counted as a failure
    assert json.loads((tmp_path / "run" / "best.json").read_text())["metric"] == "si_sdr"
    # Full training state, loadable with weights_only=True.
    (step, path), = list_states(tmp_path / "run" / "checkpoints")
    state = load_state(path)
    assert step == 2 and set(state["modules"]) == {"generator", "mpd", "mrd"}
    assert set(state["optimizers"]) == {"d", "g"} and set(state["schedulers"]) == {"d", "g"}
    assert {"python", "numpy", "torch"} <= set(state["rng"])
    assert (tmp_path / "run" / "best.pt").is_file()
    # Official-format export of the generator.
    export = tmp_path / "run" / "export"
    assert (export / "encoder_00000002").is_file() and (export / "decoder_00000002").is_file()
    official = torch.load(export / "encoder_00000002", map_location="cpu", weights_only=True)
    assert any(k.endswith("weight_g") for k in official["encoder"])
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert rows[0] == "step,epoch,split,name,value,time" and any(",valid,mel_distance," in r for r in rows)
    assert any(",valid,pesq_wb_failures,1," in r for r in rows)
    # LR decays once per epoch (3 files -> 2 train files -> one batch of 2 per epoch).
    lr = trainer.optimizers["g"].param_groups[0]["lr"]
    assert lr == pytest.approx(2e-4 * 0.999 ** 2)


def test_unknown_validation_metric_fails_fast(tmp_path, write_tones, train_config):
    write_tones(tmp_path / "data", 2)
    task = APCodecTask(load_config("tiny").model, LossConfig(adversarial=False))
    with pytest.raises(Exception, match="pesq_wbb"):
        Trainer(task, train_config(tmp_path / "data", **QUICK, valid_metrics=("pesq_wbb",)), tmp_path / "r")
    with pytest.raises(ValueError, match="best_metric"):
        Trainer(task, train_config(tmp_path / "data", **QUICK, best_metric="stoi"), tmp_path / "r")


def test_cli_print_model_paper_counts(capsys):
    from apcodec.train import main

    assert main(["--config", "48k_6kbps", "--print-model"]) == 0
    counts = json.loads(capsys.readouterr().out)
    assert counts == {"encoder": 6893120, "decoder": 10232582, "mpd": 41105770, "mrd": 600198}


def test_cli_trains_and_resumes(tmp_path, one_thread, write_tones):
    from apcodec.train import main

    write_tones(tmp_path / "data", 2)
    config = tmp_path / "exp.yaml"
    config.write_text(
        "base: tiny\n"
        "loss: {adversarial: false}\n"
        "train: {batch_size: 1, segment_size: 1240, log_interval: 1, checkpoint_interval: 1,\n"
        "        validation_interval: 0, tensorboard: false, cache_audio: true}\n")
    out = tmp_path / "run"
    args = ["--config", str(config), "--data", str(tmp_path / "data"), "--out", str(out)]
    assert main(args + ["--steps", "1"]) == 0
    # bf16 and compile are CUDA features: on CPU they must be ignored, not break training.
    assert main(args + ["--steps", "2", "--resume", "--precision", "bf16", "--compile"]) == 0
    assert [s for s, _ in list_states(out / "checkpoints")] == [1, 2]
    assert main(["--config", str(config), "--out", str(out)]) == 2  # no data: one-line error, exit 2
