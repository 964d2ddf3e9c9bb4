"""When the codec stage batches, and how much (codecbench.batching), without a GPU: the CUDA budget
is computed from a stubbed ``torch.cuda.mem_get_info``."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import pytest

from codecbench.batching import (BATCH_ON_CPU, GPU_BYTES_PER_SAMPLE, GPU_MAX_BATCH, GPU_MAX_BATCH_SECONDS,
                                 GPU_MEMORY_SHARE, BatchLimits, batch_limits, is_out_of_memory, wants_batches)
from codecbench.codecs.base import Codec, Payload


class _OneAtATime(Codec):
    name = "one_at_a_time"
    sample_rates = (16000,)

    def encode(self, audio: np.ndarray, item: Optional[Any] = None) -> Payload:
        return Payload(data=audio.tobytes(), num_samples=audio.shape[1])

    def decode(self, payload: Payload) -> np.ndarray:
        assert payload.data is not None
        return np.frombuffer(payload.data, dtype=np.float32)[None]


class _Batchable(_OneAtATime):
    batchable = True


def test_batching_is_for_batchable_adapters_on_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BATCH_ON_CPU, raising=False)
    assert wants_batches(_Batchable(device="cuda"), None) and wants_batches(_Batchable(device="cuda:1"), 5.0)
    assert not wants_batches(_Batchable(device="cuda"), 0)  # batch_seconds: 0 turns it off
    assert not wants_batches(_Batchable(device="cpu"), None)  # the CPU path is unchanged
    assert not wants_batches(_OneAtATime(device="cuda"), None)
    monkeypatch.setenv(BATCH_ON_CPU, "1")
    assert wants_batches(_Batchable(device="cpu"), None) and not wants_batches(_OneAtATime(device="cpu"), None)


def test_limits_on_cpu_are_the_adapters_own() -> None:
    codec = _Batchable()
    assert batch_limits(codec, None) == BatchLimits(codec.max_batch, codec.max_batch_seconds) == BatchLimits(8, 60.0)
    assert batch_limits(codec, 2.5) == BatchLimits(8, 2.5)
    BatchLimits(3, 1.5).apply(codec)
    assert (codec.max_batch, codec.max_batch_seconds) == (3, 1.5)
    assert _Batchable().max_batch == 8  # per instance: the class default is untouched


@pytest.mark.parametrize(("free_gib", "rate", "channels"), [(40, 16000, 1), (4, 16000, 1), (4, 48000, 2)])
def test_cuda_budget_follows_free_memory(monkeypatch: pytest.MonkeyPatch, free_gib: int, rate: int,
                                         channels: int) -> None:
    torch = pytest.importorskip("torch")
    asked: list[Any] = []

    def mem_get_info(device: Any = None) -> tuple[int, int]:
        asked.append(device)
        return free_gib * 2**30, 80 * 2**30

    monkeypatch.setattr(torch.cuda, "mem_get_info", mem_get_info)
    codec = _Batchable(device="cuda:1")
    codec.sample_rate, codec.channels = rate, channels
    limits = batch_limits(codec, None)
    expected = min(GPU_MAX_BATCH_SECONDS, GPU_MEMORY_SHARE * free_gib * 2**30 / (GPU_BYTES_PER_SAMPLE * rate * channels))
    assert limits == BatchLimits(GPU_MAX_BATCH, pytest.approx(expected))
    assert str(asked[0]) == "cuda:1"
    assert batch_limits(codec, 7.0) == BatchLimits(GPU_MAX_BATCH, 7.0)  # the entry's batch_seconds wins


def test_out_of_memory_halves_the_limits() -> None:
    assert BatchLimits(64, 600.0).halved() == BatchLimits(32, 300.0)
    assert BatchLimits(1, 1.0).halved() == BatchLimits(1, 0.5)

    class OutOfMemoryError(RuntimeError):  # torch.cuda.OutOfMemoryError, as torch names it
        pass

    assert is_out_of_memory(MemoryError()) and is_out_of_memory(OutOfMemoryError("CUDA out of memory"))
    assert not is_out_of_memory(RuntimeError("encoder exploded"))


def test_admits_the_first_item_always_then_up_to_both_limits() -> None:
    limits = BatchLimits(3, 2.0)
    assert limits.admits(0, 0.0, 5.0)                 # an item longer than the budget still goes, alone
    assert limits.admits(1, 0.5, 1.5) and not limits.admits(1, 0.5, 1.6)
    assert limits.admits(2, 1.0, 0.5) and not limits.admits(3, 1.5, 0.1)
