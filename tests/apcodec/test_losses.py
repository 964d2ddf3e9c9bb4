"""Unit tests of APCodec's loss weights and combination on inputs with known answers.

The terms themselves are tested in tests/training/test_losses.py.
"""

from __future__ import annotations

import pytest
import torch

from apcodec.losses import LossConfig, discriminator_total, weighted_total


def test_discriminator_total_weights_mrd():
    cfg = LossConfig()
    ones = [torch.ones(3)]
    total, parts = discriminator_total(ones, [torch.zeros(3)], [torch.zeros(3)], [torch.zeros(3)], cfg)
    assert float(parts["d_mpd"]) == pytest.approx(1.0)  # real ok (0) + fake at 0 (1)
    assert float(parts["d_mrd"]) == pytest.approx(2.0)
    assert float(total) == pytest.approx(1.0 + 0.1 * 2.0)


def test_weighted_total_uses_paper_weights():
    cfg = LossConfig()
    one = torch.tensor(1.0)
    terms = {name: one for name in ("amplitude", "ip", "gd", "iaf", "consistency", "real", "imag", "mel_l1",
                                    "mel_l2", "gan_mpd", "gan_mrd", "fm_mpd", "fm_mrd", "codebook", "commitment")}
    expected = 45 + 100 * 3 + 20 * (1 + 2.25 * 2) + 45 + 45 + (1 + 0.1) + (1 + 0.1) + 10 + 2.5
    assert float(weighted_total(terms, cfg)) == pytest.approx(expected)
    assert float(weighted_total({"amplitude": one, "extra": torch.tensor(3.0)}, cfg)) == pytest.approx(48.0)


def test_loss_config_from_dict_overrides_and_rejects_unknown():
    cfg = LossConfig.from_dict({"mel_l1": 10, "adversarial": False, "mel_fmax": None}, "x.yaml")
    assert cfg.mel_l1 == 10.0 and cfg.adversarial is False and cfg.amplitude == 45.0
    with pytest.raises(ValueError, match="x.yaml.*mel_l3"):
        LossConfig.from_dict({"mel_l3": 1.0}, "x.yaml")
    with pytest.raises(ValueError, match=">= 0"):
        LossConfig.from_dict({"gan": -1}, "x.yaml")


def test_loss_config_errors_are_config_errors():
    from codecbench.errors import ConfigError

    for bad in ({"mel_l3": 1.0}, {"gan": -1}, {"n_mels": "many"}, {"adversarial": "yes"}):
        with pytest.raises(ConfigError, match="x.yaml"):
            LossConfig.from_dict(bad, "x.yaml")
    assert LossConfig.from_dict({"n_mels": 64}, "x.yaml").n_mels == 64
