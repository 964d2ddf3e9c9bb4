"""The command-line pieces every ``<model>.train`` shares: one set of flags, one error line."""

from __future__ import annotations

import argparse

import pytest

from codecbench.training.cli import add_training_arguments, report_usage_error, train_config_from_args
from codecbench.training.config import TrainConfig


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {opt for action in parser._actions for opt in action.option_strings}


@pytest.mark.parametrize("module", ["apcodec.train", "complex_rvqvae.train"])
def test_every_train_command_has_the_shared_flags(module: str):
    import importlib

    shared = _options(add_training_arguments(argparse.ArgumentParser()))
    parser = importlib.import_module(module).build_parser()
    assert shared <= _options(parser)
    args = parser.parse_args(["--config", "tiny", "--steps", "7", "--batch-size", "3", "--precision", "bf16"])
    cfg = train_config_from_args(TrainConfig(), args)
    assert (cfg.max_steps, cfg.batch_size, cfg.precision, cfg.seed) == (7, 3, "bf16", TrainConfig().seed)


def test_default_out_words_the_out_help():
    parser = add_training_arguments(argparse.ArgumentParser(), default_out="runs/x_<name>")
    action = next(a for a in parser._actions if "--out" in a.option_strings)
    assert "runs/x_<name>" in action.help


def test_report_usage_error_prints_one_line(capsys):
    assert report_usage_error(ValueError("cfg.yaml: unknown key 'train.x'")) == 2
    err = capsys.readouterr().err
    assert err == "error: cfg.yaml: unknown key 'train.x'\n"


@pytest.mark.parametrize("module", ["apcodec.train", "complex_rvqvae.train"])
def test_bad_train_key_is_one_error_line(module: str, tmp_path, capsys):
    import importlib

    config = tmp_path / "bad.yaml"
    config.write_text("base: tiny\ntrain: {max_stepz: 3}\n")  # both packages bundle a tiny config
    assert importlib.import_module(module).main(["--config", str(config), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "max_stepz" in err[0] and "max_steps" in err[0], err


@pytest.mark.parametrize("module", ["apcodec.train", "complex_rvqvae.train"])
def test_resume_from_a_file_that_is_no_state_is_one_error_line(module: str, tmp_path, capsys):
    import importlib

    import numpy as np
    import soundfile as sf

    data = tmp_path / "data"
    data.mkdir()
    for name in ("a", "b", "c"):  # the tiny configs hold one file out for validation
        sf.write(data / f"{name}.wav", np.zeros(16000, dtype=np.float32), 16000)
    bogus = tmp_path / "bogus.pt"
    import torch

    torch.save({"weights": torch.zeros(1)}, bogus)
    argv = ["--config", "tiny", "--data", str(data), "--out", str(tmp_path / "run"), "--steps", "1",
            "--batch-size", "1", "--segment-size", "1760", "--resume", str(bogus)]
    assert importlib.import_module(module).main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bogus.pt: not a codecbench training state" in err[0], err
