"""GPU batching of the codec stage: when a codec point codes several items per message, and how many.

On CUDA, a codec worker whose adapter is :attr:`Codec.batchable` (every PyTorch adapter) codes
several consecutive items of its codec point at once: the runner sends it as many as the worker's
:class:`BatchLimits` allow, and the adapter's ``encode_batch`` / ``decode_batch`` run those of equal
(padded) length in shared forward passes, which code each exactly as it would be coded alone (long
inputs are already cut into equal ``chunk_seconds`` chunks). On CPU nothing changes: one item per
message, as before, unless :data:`BATCH_ON_CPU` is set (tests and benchmarks use it to run the
batched path where there is no GPU).

The limits have one source: :func:`batch_limits` computes them once in the worker, from the codec
entry's ``batch_seconds`` or, by default on CUDA, from the free GPU memory; the worker then applies
them to the adapter (``max_batch`` / ``max_batch_seconds`` bound each forward pass) and reports them
to the runner, which gathers items up to the same bounds. A batch that runs out of memory is coded
one item at a time and halves the limits for the batches after it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from codecbench.codecs.base import Codec

# "1": batch batchable adapters on CPU as on CUDA (for tests and benchmarks; slower than one item
# at a time on most CPUs, and not used by a normal run).
BATCH_ON_CPU = "CODECBENCH_BATCH_ON_CPU"

# Default budget on CUDA. Activation memory per second of audio is estimated, not measured per
# model: ~2 KiB per input sample and channel alive at the peak of a forward pass covers the widest
# full-rate layers of the shipped adapters (DAC 44.1 kHz: 64 channels x a few float32 tensors).
# Half of the memory free when the worker starts is left for the model, cuDNN workspaces and
# anything else on the GPU; an out-of-memory batch halves the budget anyway.
GPU_MEMORY_SHARE = 0.5
GPU_BYTES_PER_SAMPLE = 2048
GPU_MAX_BATCH = 64  # items (or chunks) per forward pass
GPU_MAX_BATCH_SECONDS = 600.0  # also bounds what one message holds in host memory


@dataclass(frozen=True)
class BatchLimits:
    """At most ``items`` items (chunks, in a forward pass) and ``seconds`` of audio per batch.

    A single item longer than ``seconds`` still goes alone: the adapter cuts it into chunks.
    """

    items: int
    seconds: float

    def admits(self, count: int, seconds: float, duration: float) -> bool:
        """Whether an item of ``duration`` s joins a batch of ``count`` items and ``seconds`` s
        (the first item always does)."""
        return count == 0 or (count < self.items and seconds + duration <= self.seconds)

    def halved(self) -> "BatchLimits":
        """The limits after a batch ran out of memory."""
        return BatchLimits(max(1, self.items // 2), self.seconds / 2)

    def apply(self, codec: "Codec") -> None:
        """Make ``codec``'s forward passes respect these limits."""
        codec.max_batch, codec.max_batch_seconds = self.items, self.seconds


def wants_batches(codec: "Codec", batch_seconds: Optional[float]) -> bool:
    """Whether the runner should send ``codec``'s worker several items at a time.

    ``batch_seconds``: the codec entry's option (0 turns batching off; None: the default budget).
    """
    if not type(codec).batchable or batch_seconds == 0:
        return False
    return codec.device.startswith("cuda") or os.environ.get(BATCH_ON_CPU, "").strip() == "1"


def batch_limits(codec: "Codec", batch_seconds: Optional[float]) -> BatchLimits:
    """The limits of ``codec``'s worker: ``batch_seconds`` of audio if given, else the GPU budget
    on CUDA and the adapter's own per-pass limits on CPU."""
    cuda = codec.device.startswith("cuda")
    items = max(codec.max_batch, GPU_MAX_BATCH) if cuda else codec.max_batch
    if batch_seconds:
        return BatchLimits(items, float(batch_seconds))
    if not cuda:
        return BatchLimits(items, codec.max_batch_seconds)
    return BatchLimits(items, gpu_batch_seconds(codec))


def gpu_batch_seconds(codec: "Codec") -> float:
    """Seconds of ``codec``'s audio that fit :data:`GPU_MEMORY_SHARE` of the free GPU memory."""
    import torch

    free, _ = torch.cuda.mem_get_info(torch.device(codec.device))
    per_second = GPU_BYTES_PER_SAMPLE * codec.sample_rate * max(1, codec.channels)
    return min(GPU_MAX_BATCH_SECONDS, GPU_MEMORY_SHARE * free / per_second)


def is_out_of_memory(exc: BaseException) -> bool:
    """A host ``MemoryError`` or torch's ``OutOfMemoryError`` (CUDA)."""
    return isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError"
