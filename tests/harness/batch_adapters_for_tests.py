"""Batchable adapters for the codec-stage batching tests (loaded as ``batch_adapters_for_tests:Class``).

Each notes the size of every ``encode_batch`` call as ``batch:N`` in ``$CODECBENCH_TEST_COUNTER``
(one-item ``encode`` calls of the misbehaving ones note the item id, as in ``adapters_for_tests``).
"""

from __future__ import annotations

import os
from typing import Any, Optional

import numpy as np
from adapters_for_tests import Hang, Segfault, Slow, _CrashesOn

from codecbench.codecs.base import Payload


def _note(text: str) -> None:
    counter = os.environ.get("CODECBENCH_TEST_COUNTER")
    if counter:
        with open(counter, "a") as handle:
            handle.write(f"{text}\n")


class _Batched(_CrashesOn):
    """Lossless 16-bit PCM that the runner batches (``crash_on`` names the item that misbehaves)."""

    batchable = True

    def __init__(self, bitrate: Optional[float] = None, device: str = "cpu", crash_on: str = "none") -> None:
        super().__init__(bitrate, device, crash_on)

    def encode_batch(self, audios: list[np.ndarray], items: Optional[list[Any]] = None) -> list[Payload]:
        _note(f"batch:{len(audios)}")
        return super().encode_batch(audios, items)


class BatchedPcm16(_Batched):
    """Batches, never misbehaves."""


class Explodes(_Batched):
    """Raises for ``crash_on``: the whole ``encode_batch`` call fails."""

    def misbehave(self) -> None:
        raise RuntimeError("encoder exploded")


class BatchedSegfault(_Batched, Segfault):
    """Dies of SIGSEGV on ``crash_on``, in the middle of a batch."""


class BatchedHang(_Batched, Hang):
    """Never returns on ``crash_on``."""


class BatchedSlow(Slow):
    """Sleeps ``$CODECBENCH_TEST_SLEEP`` per item and notes its id (Slow), batched."""

    batchable = True


class NaNFor(_Batched):
    """Decodes ``crash_on`` to NaN: that item fails its output checks, the rest of its batch does not."""

    def encode(self, audio: np.ndarray, item: Optional[Any] = None) -> Payload:
        payload = super().encode(audio, item)
        payload.side["bad"] = item is not None and item.id == self.crash_on
        return payload

    def misbehave(self) -> None:
        pass  # encode goes on: decode spoils the item

    def decode(self, payload: Payload) -> np.ndarray:
        out = super().decode(payload)
        if payload.side.get("bad"):
            out[0, 3] = np.nan
        return out


class OutOfMemoryAbove(_Batched):
    """Raises MemoryError for a batch of more than ``most`` items (as CUDA would run out of memory)."""

    def __init__(self, bitrate: Optional[float] = None, device: str = "cpu", most: int = 2) -> None:
        super().__init__(bitrate, device)
        self.most = most

    def encode_batch(self, audios: list[np.ndarray], items: Optional[list[Any]] = None) -> list[Payload]:
        if len(audios) > self.most:
            _note(f"batch:{len(audios)}")
            raise MemoryError
        return super().encode_batch(audios, items)
