"""Inference preparation: fold weight norm, freeze, eval.

Why it is faster than the official forward: weight norm is recomputed on every call in
training mode (``g * v / ||v||``) and autograd bookkeeping is skipped; see
``bench/bench_apcodec_inference.py`` for measurements.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from apcodec.modules import remove_weight_norm

if TYPE_CHECKING:
    from apcodec.model import APCodec


def optimise_for_inference(model: "APCodec") -> "APCodec":
    """Fold weight norm, switch to eval mode and turn off gradients; returns ``model``."""
    remove_weight_norm(model)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model
