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


def test_keeps_the_input_channels_unless_told() -> None:
    stereo = np.random.default_rng(1).standard_normal((2, 800)).astype(np.float32)
    codec = CODECS.get("identity")()
    assert codec.coding_format(2)[1] == 2
    prepared = codec.prepare(stereo, 44100)
    np.testing.assert_array_equal(codec.decode(codec.encode(prepared)), stereo)  # stereo compared as stereo
    assert (codec.sample_rate, codec.channels) == (44100, 2)
    before = codec.identity()
    codec.prepare(stereo[:1], 16000)
    assert codec.channels == 1 and codec.identity() == before  # the cache key does not follow the item
    mono = CODECS.get("identity")(channels=1)
    assert mono.coding_format(2)[1] == 1
    np.testing.assert_allclose(mono.prepare(stereo, 44100), stereo.mean(axis=0, keepdims=True))
    assert mono.identity() != before
    with pytest.raises(CodecError, match="channels"):
        CODECS.get("identity")(channels=0)
