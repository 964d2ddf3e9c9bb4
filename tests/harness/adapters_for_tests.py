"""Misbehaving adapters used by the harness tests (loaded as ``adapters_for_tests:Class``)."""

from __future__ import annotations

import os
import time
from typing import Any, Optional

import numpy as np

from codecbench.codecs.base import Codec, Payload


class _Base(Codec):
    name = "test"
    sample_rates = (16000,)
    has_payload = True

    def __init__(self, bitrate: Optional[float] = None, device: str = "cpu") -> None:
        super().__init__(bitrate, device)
        self.sample_rate = 16000

    def encode(self, audio: np.ndarray, item: Optional[Any] = None) -> Payload:
        return Payload(data=(audio * 32767).astype("<i2").tobytes(), num_samples=audio.shape[1],
                       side={"channels": audio.shape[0]})

    def decode(self, payload: Payload) -> np.ndarray:
        assert payload.data is not None
        pcm = np.frombuffer(payload.data, dtype="<i2").astype(np.float32) / 32767
        return pcm.reshape(payload.side["channels"], -1)


class Pcm16(_Base):
    """Lossless 16-bit PCM at 16 kHz: 256 kbps measured."""


class Raises(_Base):
    def encode(self, audio: np.ndarray, item: Optional[Any] = None) -> Payload:
        raise RuntimeError("encoder exploded")


class ReturnsNaN(_Base):
    def decode(self, payload: Payload) -> np.ndarray:
        out = super().decode(payload)
        out[0, 5] = np.nan
        return out


class ReturnsInf(_Base):
    def decode(self, payload: Payload) -> np.ndarray:
        out = super().decode(payload)
        out[0, -1] = np.inf
        return out


class WrongLength(_Base):
    def decode(self, payload: Payload) -> np.ndarray:
        return super().decode(payload)[:, : payload.num_samples // 2]


class Slow(_Base):
    """Sleeps per item so a test can kill the run midway; counts its calls in a file."""

    def encode(self, audio: np.ndarray, item: Optional[Any] = None) -> Payload:
        time.sleep(float(os.environ.get("CODECBENCH_TEST_SLEEP", "0.3")))
        counter = os.environ.get("CODECBENCH_TEST_COUNTER")
        if counter:
            with open(counter, "a") as handle:
                handle.write(f"{item.id if item is not None else '?'}\n")
        return super().encode(audio, item)
