"""Unit tests of the APCodec losses and the mel filterbank on inputs with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from apcodec.losses import (LossConfig, anti_wrapping, consistency_loss, discriminator_total,
                            feature_matching_loss, hinge_discriminator_loss, hinge_generator_loss, phase_losses,
                            weighted_total)
from apcodec.training.mel import LogMelSpectrogram, hz_to_mel, mel_filterbank, mel_to_hz


def test_anti_wrapping_ignores_whole_turns():
    x = torch.tensor([0.0, 2 * math.pi, -4 * math.pi, 6 * math.pi + 0.3, -0.3, math.pi - 1e-3])
    out = anti_wrapping(x)
    assert torch.allclose(out, torch.tensor([0.0, 0.0, 0.0, 0.3, 0.3, math.pi - 1e-3]), atol=1e-5)


def test_phase_losses_zero_for_2pi_shifted_phase():
    torch.manual_seed(0)
    phase = (torch.rand(2, 9, 7) * 2 - 1) * math.pi
    turns = torch.randint(-3, 4, phase.shape).float()
    ip, gd, iaf = phase_losses(phase, phase + 2 * math.pi * turns)
    for value in (ip, gd, iaf):
        assert float(value) < 1e-5


def test_phase_losses_known_constant_offset():
    # A constant offset d: IP = d everywhere; its frequency/time differences vanish except at the
    # first bin / frame, which (as in the official difference matrices) is differenced against 0.
    ref = torch.zeros(1, 4, 5)
    d = 0.5
    ip, gd, iaf = phase_losses(ref, ref + d)
    assert float(ip) == pytest.approx(d)
    assert float(gd) == pytest.approx(d / 4)
    assert float(iaf) == pytest.approx(d / 5)


def test_consistency_zero_for_identical_and_known_value():
    rea, imag = torch.randn(1, 3, 4), torch.randn(1, 3, 4)
    assert float(consistency_loss(rea, imag, rea, imag)) == 0.0
    assert float(consistency_loss(rea + 1.0, imag, rea, imag + 2.0)) == pytest.approx(5.0)


def test_hinge_values():
    real = [torch.tensor([2.0, 0.5]), torch.tensor([-1.0])]
    fake = [torch.tensor([-2.0, 0.0]), torch.tensor([1.0])]
    # real: mean(relu(1-x)) = (0 + 0.5)/2 = 0.25 and 2.0; fake: mean(relu(1+x)) = (0 + 1)/2 = 0.5 and 2.0
    assert float(hinge_discriminator_loss(real, fake)) == pytest.approx(0.25 + 0.5 + 2.0 + 2.0)
    # generator: mean(relu(1 - x)) over fakes = (3 + 1)/2 = 2 and 0
    assert float(hinge_generator_loss(fake)) == pytest.approx(2.0)


def test_feature_matching_sums_layer_means_and_detaches_real():
    real = [[torch.ones(2, 3), torch.zeros(4)], [torch.full((1,), 3.0)]]
    fake = [[torch.zeros(2, 3, requires_grad=True), torch.ones(4)], [torch.zeros(1)]]
    for layer in real[0] + real[1]:
        layer.requires_grad_(True)
    loss = feature_matching_loss(real, fake)
    assert float(loss.detach()) == pytest.approx(1.0 + 1.0 + 3.0)
    loss.backward()
    assert real[0][0].grad is None and fake[0][0].grad is not None


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


def test_slaney_mel_scale_and_filterbank():
    assert hz_to_mel(np.array([1000.0]))[0] == pytest.approx(15.0)
    assert hz_to_mel(np.array([200.0]))[0] == pytest.approx(3.0)
    freqs = np.array([0.0, 500.0, 1000.0, 4000.0, 24000.0])
    assert np.allclose(mel_to_hz(hz_to_mel(freqs)), freqs)
    bank = mel_filterbank(48000, 1024, 80)
    assert bank.shape == (80, 513) and bank.dtype == np.float32 and (bank >= 0).all()
    assert (bank.sum(axis=1) > 0).all()  # no empty band at 1024 points / 48 kHz
    # Slaney normalisation: each triangle has unit area in Hz (approximately, on the FFT grid).
    df = 48000 / 1024
    areas = bank.sum(axis=1) * df
    assert np.allclose(areas, 1.0, rtol=0.1)  # grid effects on narrow low bands
    # Peak of band k sits at the (k+1)-th mel edge.
    edges = mel_to_hz(np.linspace(0, hz_to_mel(np.array([24000.0]))[0], 82))
    assert abs(np.argmax(bank[40]) * df - edges[41]) <= df


def test_log_mel_spectrogram_of_tone_peaks_at_its_band():
    sr = 48000
    t = torch.arange(4800) / sr
    tone = torch.sin(2 * math.pi * 3000.0 * t).unsqueeze(0)
    mel = LogMelSpectrogram(sr, 1024, 40, 320)(tone)
    assert mel.shape == (1, 80, 4800 // 40 + 1)
    band = int(mel[0, :, 60].argmax())
    edges = mel_to_hz(np.linspace(hz_to_mel(np.array([0.0]))[0], hz_to_mel(np.array([24000.0]))[0], 82))
    assert edges[band] <= 3000.0 <= edges[band + 2]
    silence = LogMelSpectrogram(sr, 1024, 40, 320)(torch.zeros(1, 800))
    assert torch.allclose(silence, torch.full_like(silence, math.log(1e-5)))
