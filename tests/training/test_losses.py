"""Unit tests of the codec-neutral training losses on inputs with known answers."""

from __future__ import annotations

import math

import pytest
import torch

from codecbench.training.losses import (anti_wrapping, consistency_loss, feature_matching_loss,
                                        hinge_discriminator_loss, hinge_generator_loss, phase_losses)


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


def test_weighted_phase_losses_count_bins_by_weight():
    torch.manual_seed(1)
    ref = (torch.rand(1, 4, 5) * 2 - 1) * math.pi
    gen = (torch.rand(1, 4, 5) * 2 - 1) * math.pi
    plain = phase_losses(ref, gen)
    uniform = phase_losses(ref, gen, torch.full_like(ref, 3.0))
    for a, b in zip(plain, uniform):
        assert float(a) == pytest.approx(float(b), rel=1e-6)
    # All weight on one bin: IP is that bin's anti-wrapped error alone.
    weight = torch.zeros_like(ref)
    weight[0, 2, 3] = 1.0
    ip, _, _ = phase_losses(ref, gen, weight)
    assert float(ip) == pytest.approx(float(anti_wrapping(ref[0, 2, 3] - gen[0, 2, 3])), rel=1e-6)
    assert float(ip) != pytest.approx(float(plain[0]), rel=1e-3)
    # An all-zero weight gives zeros, not NaN.
    assert all(float(v) == 0.0 for v in phase_losses(ref, gen, torch.zeros_like(ref)))
