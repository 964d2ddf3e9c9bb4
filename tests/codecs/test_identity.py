"""The identity codec returns its input bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from codecbench.codecs import CODECS, CodecError


def test_round_trip_is_exact_and_private() -> None:
    codec = CODECS.get("identity")()
    audio = np.random.default_rng(0).standard_normal((2, 1234)).astype(np.float32)
    payload = codec.encode(audio)
    audio_copy = audio.copy()
    audio[:] = 0  # the caller reusing its buffer must not change the payload
    out = codec.decode(payload)
    np.testing.assert_array_equal(out, audio_copy)
    out[:] = 1  # nor may changing the output change a second decode
    np.testing.assert_array_equal(codec.decode(payload), audio_copy)
    assert codec.has_payload is False and payload.bits == 0 and payload.num_samples == 1234


def test_options_and_errors() -> None:
    codec = CODECS.get("identity")(sample_rate=16000, channels=2)
    assert (codec.sample_rate, codec.channels) == (16000, 2)
    assert codec.identity() != CODECS.get("identity")().identity()
    with pytest.raises(CodecError, match="sample_rate"):
        CODECS.get("identity")(sample_rate=0)
    with pytest.raises(CodecError, match=r"\[C, T\]"):
        codec.encode(np.zeros(10, np.float32))
