"""Exact parameter and state-dict tensor counts of the official 48 kHz, 6 kbps model."""

from __future__ import annotations

import torch

from apcodec.config import ModelConfig
from apcodec.decoder import APCodecDecoder
from apcodec.encoder import APCodecEncoder
from apcodec.info import parameter_counts


def test_parameter_counts_48k() -> None:
    assert parameter_counts(ModelConfig()) == {
        "encoder": 6_893_120, "decoder": 10_232_582, "mpd": 41_105_770, "mrd": 600_198}


def test_state_dict_tensor_counts_48k() -> None:
    with torch.device("meta"):
        enc, dec = APCodecEncoder(ModelConfig()), APCodecDecoder(ModelConfig())
    assert len(enc.state_dict()) == 213
    assert len(dec.state_dict()) == 194
