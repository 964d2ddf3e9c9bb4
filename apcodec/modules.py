"""Building blocks: ConvNeXt-v2 blocks with GRN, causal convolutions, weight-norm helpers.

ConvNeXt blocks run channels-last ([B, T, C]) end to end: LayerNorm, the pointwise Linear
layers and GRN all want the channel axis last, so only the depthwise convolution sees a
[B, C, T] view. The official code transposes back and forth around every block.

Causal modules (APCodec-S) pad on the left only and can run in streaming mode: after
:func:`set_streaming` they keep the context they need between calls (``_stream`` dict), so
feeding a signal in pieces gives the same output as feeding it at once.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional, Sequence, TypeVar, cast

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm as _weight_norm


ModuleT = TypeVar("ModuleT", bound=nn.Module)


def weight_norm(module: ModuleT) -> ModuleT:
    """Weight normalisation (dim 0, like the official ``torch.nn.utils.weight_norm``)."""
    return _weight_norm(module, name="weight", dim=0)


def remove_weight_norm(module: nn.Module) -> int:
    """Fold every weight-norm parametrization below ``module`` into plain weights; returns the count."""
    count = 0
    for sub in list(module.modules()):
        if parametrize.is_parametrized(sub, "weight"):
            # Done by hand rather than with parametrize.remove_parametrizations, which deletes the
            # property from the dynamically created class shared with deep copies of the module
            # (removing it from a copy would break the original).
            with torch.no_grad():
                weight = cast(torch.Tensor, sub.weight).detach().clone()
            if len(cast(nn.ModuleDict, sub.parametrizations)) != 1:
                raise RuntimeError(f"{type(sub).__name__} has parametrizations besides 'weight'")
            sub.__class__ = sub.__class__.__bases__[0]
            del sub._modules["parametrizations"]
            sub.weight = nn.Parameter(weight)
            count += 1
    return count


class Streamable:
    """Mixin: ``_stream`` is None offline, a dict of carried state while streaming."""

    _stream: Optional[dict[str, Any]] = None


def set_streaming(module: nn.Module, enabled: bool) -> None:
    """Switch every streamable submodule on (fresh state) or off."""
    for sub in module.modules():
        if isinstance(sub, Streamable):
            sub._stream = {} if enabled else None


class CausalConv1d(nn.Conv1d, Streamable):
    """Conv1d padded ``kernel - stride`` frames on the left: output ``j`` sees inputs up to ``j*s + s - 1``.

    For ``L`` input frames it returns ``L // stride`` frames.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 groups: int = 1, bias: bool = True) -> None:
        if kernel_size < stride:
            raise ValueError(f"causal conv needs kernel_size >= stride, got {kernel_size} < {stride}")
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0, groups=groups, bias=bias)
        self.left = kernel_size - stride

    def extend(self, x: torch.Tensor, dim: int = -1) -> torch.Tensor:
        """Prepend the left context along ``dim`` (zeros offline, the carried frames while streaming).

        While streaming, keeps the frames that later outputs still need and returns only
        whole windows (possibly none).
        """
        k, s = self.kernel_size[0], self.stride[0]
        if self._stream is None:
            shape = list(x.shape)
            shape[dim] = self.left
            return torch.cat([x.new_zeros(shape), x], dim=dim) if self.left else x
        buf = self._stream.get("buf")
        x = x if buf is None else torch.cat([buf, x], dim=dim)
        if buf is None and self.left:
            shape = list(x.shape)
            shape[dim] = self.left
            x = torch.cat([x.new_zeros(shape), x], dim=dim)
        length = x.shape[dim]
        n = (length - k) // s + 1 if length >= k else 0
        self._stream["buf"] = x.narrow(dim, n * s, length - n * s)
        return x.narrow(dim, 0, (n - 1) * s + k if n else 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, T] -> [B, C', T // s]
        x = self.extend(x)
        if x.shape[-1] == 0:
            return x.new_zeros(x.shape[0], self.out_channels, 0)
        return F.conv1d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class CausalConvTranspose1d(nn.ConvTranspose1d, Streamable):
    """Transposed conv keeping the first ``L * stride`` outputs: output ``m`` sees inputs up to ``m // s``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int) -> None:
        if kernel_size < stride:
            raise ValueError(f"causal transposed conv needs kernel_size >= stride, got {kernel_size} < {stride}")
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0)

    # No output_size: the length is always L * s (causal), so the override narrows the signature.
    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]  # [B, C, L] -> [B, C', L * s]
        s = self.stride[0]
        n = x.shape[-1]
        if n == 0:
            return x.new_zeros(x.shape[0], self.out_channels, 0)
        y = F.conv_transpose1d(x, self.weight, None, self.stride)
        if self._stream is not None:
            tail = self._stream.get("tail")
            if tail is not None:
                y = torch.cat([y[..., : tail.shape[-1]] + tail, y[..., tail.shape[-1]:]], dim=-1)
            self._stream["tail"] = y[..., n * s:]
        y = y[..., : n * s]
        return y + self.bias[None, :, None] if self.bias is not None else y


class GRN(nn.Module):
    """Global Response Normalisation over time (ConvNeXt-v2), channels-last [B, T, C].

    ``gamma``/``beta`` are shaped [1, 1, C] and start at zero, so a fresh GRN is the identity.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, dim))
        self.beta = nn.Parameter(torch.zeros(1, 1, dim))

    def response(self, x: torch.Tensor) -> torch.Tensor:
        """Per-channel L2 norm over time divided by its channel mean ([B, 1, C])."""
        gx = torch.norm(x, p=2, dim=1, keepdim=True)
        return gx / (gx.mean(dim=-1, keepdim=True) + 1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gamma * (x * self.response(x)) + self.beta + x


class CausalGRN(GRN, Streamable):
    """GRN whose energy is accumulated over past frames only (APCodec-S); same parameters."""

    def response(self, x: torch.Tensor) -> torch.Tensor:
        energy = torch.cumsum(x * x, dim=1)
        if self._stream is not None:
            prev = self._stream.get("energy")
            if prev is not None:
                energy = energy + prev
            if x.shape[1]:
                self._stream["energy"] = energy[:, -1:]
        gx = torch.sqrt(energy)
        return gx / (gx.mean(dim=-1, keepdim=True) + 1e-6)


class ConvNeXtBlock(nn.Module):
    """ConvNeXt-v2 block, channels-last: dwconv -> LN -> Linear -> GELU -> GRN -> Linear -> + x.

    Args:
        dim: channels.
        intermediate: inner width of the pointwise MLP.
        kernel: depthwise kernel.
        causal: left padding only and causal GRN (APCodec-S).
        eps: LayerNorm epsilon.
    """

    def __init__(self, dim: int, intermediate: int, kernel: int = 7, causal: bool = False, eps: float = 1e-6) -> None:
        super().__init__()
        if causal:
            self.dwconv: nn.Conv1d = CausalConv1d(dim, dim, kernel, groups=dim)
        else:
            self.dwconv = nn.Conv1d(dim, dim, kernel, padding=(kernel - 1) // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.pwconv1 = nn.Linear(dim, intermediate)
        self.act = nn.GELU()
        self.grn = CausalGRN(intermediate) if causal else GRN(intermediate)
        self.pwconv2 = nn.Linear(intermediate, dim)

    def depthwise(self, x: torch.Tensor) -> torch.Tensor:
        """Depthwise conv of channels-last [B, T, C] without layout copies.

        A channels-last [B, T, C] tensor is a valid NHWC [B, C, 1, T] view, and oneDNN's NHWC
        depthwise kernel is ~30x faster on CPU than ``conv1d`` on the transposed copy.
        """
        conv = self.dwconv
        if isinstance(conv, CausalConv1d):
            x, pad = conv.extend(x, dim=1), 0
            if x.shape[1] == 0:
                return x
        else:
            pad = int(conv.padding[0])
        weight = conv.weight.unsqueeze(2).contiguous(memory_format=torch.channels_last)
        y = F.conv2d(x.transpose(1, 2).unsqueeze(2), weight, conv.bias, padding=(0, pad), groups=conv.groups)
        return y.squeeze(2).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, T, C] -> [B, T, C]
        y = self.depthwise(x.contiguous())
        y = self.pwconv2(self.grn(self.act(self.pwconv1(self.norm(y)))))
        return x + y


def conv1d(cfg_causal: bool, in_channels: int, out_channels: int, kernel: int, stride: int = 1) -> nn.Conv1d:
    """Official centred Conv1d (padding ``(k - 1) // 2``) or its causal counterpart."""
    if cfg_causal:
        return CausalConv1d(in_channels, out_channels, kernel, stride=stride)
    return nn.Conv1d(in_channels, out_channels, kernel, stride=stride, padding=(kernel - 1) // 2)


def init_convnext_(module: nn.Module) -> None:
    """Official init of the ConvNeXt parts: truncated normal (std 0.02) weights, zero biases."""
    for sub in module.modules():
        if isinstance(sub, (nn.Conv1d, nn.Linear)) and not parametrize.is_parametrized(sub):
            nn.init.trunc_normal_(sub.weight, std=0.02)
            if sub.bias is not None:
                nn.init.zeros_(sub.bias)


_BRANCH_POOL: Optional[Any] = None


def _forget_branch_pool() -> None:  # a forked child does not inherit the helper thread
    global _BRANCH_POOL
    _BRANCH_POOL = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_branch_pool)


def run_pair(first: Any, second: Any, parallel: bool = False) -> tuple[Any, Any]:
    """Run two independent callables, concurrently when ``parallel`` and >= 2 intra-op threads.

    The amplitude and phase branches are independent, and their GEMMs (a few thousand rows by
    256/512) scale worse over intra-op threads than two branches each on its own core. With
    ``parallel``, the intra-op threads are split between the caller and one helper thread for the
    call (torch ops release the GIL) and restored afterwards; grad/inference mode is carried over
    to the helper. Not re-entrant: call it from one thread at a time.
    """
    threads = torch.get_num_threads()
    if not parallel or threads < 2:
        return first(), second()
    global _BRANCH_POOL
    if _BRANCH_POOL is None:
        from concurrent.futures import ThreadPoolExecutor

        _BRANCH_POOL = ThreadPoolExecutor(1, thread_name_prefix="apcodec-branch")
    share = threads // 2  # as half_threads below: torch's thread count is process-wide on some builds
    grad, inference = torch.is_grad_enabled(), torch.is_inference_mode_enabled()

    def helper() -> Any:
        torch.set_num_threads(share)
        with torch.inference_mode(inference), torch.set_grad_enabled(grad):
            return second()

    with half_threads():
        future = _BRANCH_POOL.submit(helper)
        out = first()
        second_out = future.result()
    return out, second_out


def even_step(total: int, most: int, multiple: int = 4) -> int:
    """Chunk length <= ``most`` (a multiple of ``multiple`` unless ``total`` is smaller) that cuts
    ``total`` into an even number of nearly equal chunks, so that :func:`run_halves` is balanced."""
    pairs = -(-total // (2 * most))
    step = -(-total // (2 * pairs))
    return min(most, -(-step // multiple) * multiple) if total > multiple else max(total, 1)


def run_halves(work: Callable[[Sequence[int]], None], items: Sequence[int], parallel: bool = False) -> None:
    """Call ``work`` on the first and on the second half of ``items``, concurrently when ``parallel``.

    For loops over independent chunks (see :func:`run_pair`): each half gets half the threads.
    """
    half = (len(items) + 1) // 2
    run_pair(lambda: work(items[:half]), lambda: work(items[half:]), parallel and len(items) > 1)


@contextmanager
def half_threads(parallel: bool = True) -> Iterator[None]:
    """Run the body with half the intra-op threads (1 of 2) when ``parallel``; restored afterwards.

    For the small serial steps between concurrent ones (quantizer, code lookup, overlap-add):
    their OpenMP regions are too short to gain from a second thread, and on a shared machine
    each region can stall until a descheduled worker thread runs again (measured: the RVQ of
    10 s took 37 ms on 1 thread and ~390 ms on 2 while another process kept a core busy).
    """
    threads = torch.get_num_threads()
    if not parallel or threads < 2:
        yield
        return
    torch.set_num_threads(threads // 2)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
