"""codecbench.configfile: the one reader of model/training configs (includes, file:line errors)."""

from __future__ import annotations

from pathlib import Path

import pytest

from codecbench.errors import ConfigError


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_missing_base_is_one_located_line(tmp_path: Path) -> None:
    from apcodec.config import load_config

    path = _write(tmp_path / "exp.yaml", "# comment\nbase: tiny_ss\nmodel:\n  n_codebooks: 2\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:2: base: included APCodec config 'tiny_ss' not found (did you mean 'tiny_s'?)")


def test_base_cycle_is_one_line(tmp_path: Path) -> None:
    from complex_rvqvae.config import load_config

    _write(tmp_path / "a.yaml", "base: b.yaml\nmodel: {}\n")
    _write(tmp_path / "b.yaml", "model: {}\nbase: a.yaml\n")
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "a.yaml")
    assert "\n" not in str(err.value)
    assert str(err.value).startswith(f"{tmp_path / 'b.yaml'}:2: base: includes form a cycle (a.yaml -> b.yaml -> a.yaml)")


def test_keys_from_a_base_are_located_in_the_base(tmp_path: Path) -> None:
    from apcodec.config import load_config

    _write(tmp_path / "base.yaml", "base: tiny\nmodel:\n  ratio: 8\n  num_layer: 3\n")
    _write(tmp_path / "exp.yaml", "base: base.yaml\nmodel:\n  n_codebooks: 2\n")
    with pytest.raises(ConfigError, match=rf"^{tmp_path / 'base.yaml'}:4: unknown key 'model.num_layer' "
                                          r"\(did you mean 'num_layers'\?\); allowed: "):
        load_config(tmp_path / "exp.yaml")


@pytest.mark.parametrize("text, line, match", [
    ("model:\n  ratio: eight\n", 2, r"model\.ratio: Input should be a valid integer.*'eight'"),
    ("model:\n  causal: 1\n", 2, r"model\.causal: Input should be a valid boolean"),
    ("model:\n  n_fft: 512\n  win_size: 640\n", 3, r"model\.win_size \(640\) must not exceed model\.n_fft"),
    ("modle:\n  ratio: 8\n", 1, r"unknown key 'modle' \(did you mean 'model'\?\)"),
])
def test_apcodec_model_errors_name_file_and_line(tmp_path: Path, text: str, line: int, match: str) -> None:
    from apcodec.config import load_config

    path = _write(tmp_path / "bad.yaml", text)
    with pytest.raises(ConfigError, match=rf"^{path}:{line}: .*{match}"):
        load_config(path)


def test_loss_train_and_discriminator_sections_are_located(tmp_path: Path) -> None:
    from apcodec.config import load_config
    from apcodec.losses import LossConfig
    from apcodec.task import DiscriminatorConfig
    from codecbench.training.config import TrainConfig

    path = _write(tmp_path / "exp.yaml", "base: tiny\nloss:\n  amplitud: 1\ntrain:\n  max_stepz: 3\n"
                                        "  extra:\n    discriminator: {mpd_chanels: [4]}\n")
    exp = load_config(path)
    with pytest.raises(ConfigError, match=rf"^{path}:3: unknown key 'loss.amplitud' \(did you mean 'amplitude'\?\)"):
        LossConfig.from_dict(exp.loss, exp.locate)
    with pytest.raises(ConfigError, match=rf"^{path}:5: unknown key 'train.max_stepz' \(did you mean 'max_steps'\?\)"):
        TrainConfig.from_dict(exp.train, exp.locate)
    with pytest.raises(ConfigError, match=rf"^{path}:7: unknown key 'train.extra.discriminator.mpd_chanels' "
                                          r"\(did you mean 'mpd_channels'\?\)"):
        DiscriminatorConfig.from_dict(exp.train["extra"]["discriminator"], exp.locate)


def test_complex_rvqvae_sections_are_located(tmp_path: Path) -> None:
    from complex_rvqvae.config import load_config

    path = _write(tmp_path / "bad.yaml", "base: tiny\nloss:\n  phase: 1\n  comitment: 2\n")
    with pytest.raises(ConfigError, match=rf"^{path}:4: unknown key 'loss.comitment' \(did you mean 'commitment'\?\)"):
        load_config(path)
    path = _write(tmp_path / "bad.yaml", "base: tiny\ntrain:\n  batch_size: 2\n  precison: bf16\n")
    with pytest.raises(ConfigError, match=rf"^{path}:4: unknown key 'train.precison' \(did you mean 'precision'\?\)"):
        load_config(path)


def test_overlay_merges_nested_sections(tmp_path: Path) -> None:
    from apcodec.config import load_config

    path = _write(tmp_path / "exp.yaml", "base: tiny\ntrain:\n  extra:\n    discriminator: {mrd_channels: 8}\n")
    exp = load_config(path)
    assert exp.train["extra"]["discriminator"] == {"mpd_channels": [4, 8, 16, 16, 16], "mrd_channels": 8}
    assert exp.train["batch_size"] == 2  # from tiny.yaml


def test_apcodec_recipe_keys_under_train_extra_are_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from apcodec.train import main

    path = _write(tmp_path / "exp.yaml", "base: tiny\ntrain:\n  extra:\n    teachr: runs/x\n")
    assert main(["--config", str(path), "--data", str(tmp_path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}:4: unknown key 'train.extra.teachr' (did you mean 'teacher'?)"), err
