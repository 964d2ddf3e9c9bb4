"""Inference-only layers for centred APCodec models, all channels-last ([B, T, C]).

* :class:`FusedConvNeXtBlock`: a ConvNeXt-v2 block as two GEMMs with LayerNorm and GRN folded in.
* :class:`TapConv`: a centred ("same") convolution over time as Toom-Cook / Winograd F(2, k)
  (k + 1 GEMMs per two output frames instead of 2k) or as one NHWC convolution.
* :func:`fold_linear_into_taps`: a per-frame affine map (LayerNorm affine, then a Linear) followed
  by a convolution is one convolution on the normalised input, plus a bias that differs only on
  the edge frames, where the convolution's zero padding does not see the Linear's bias
  (:func:`tap_bias`).

Every fold is exact algebra; results differ from the module path by float rounding only.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from apcodec import cpu_kernels, gemm
from apcodec.modules import GRN, ConvNeXtBlock


#: hidden activations per chunk of a fused block's per-frame part (about L2-sized)
BLOCK_CHUNK_BYTES = 2 << 20


class FusedConvNeXtBlock(nn.Module):
    """Inference-only ConvNeXt-v2 block (centred), [B, T, C] -> [B, T, C].

    ``LN -> Linear`` is one GEMM on the normalised input (the LayerNorm affine folded into it);
    GRN, whose response is one scale per (item, channel), is folded into the second Linear per
    item: ``W2 (h * (1 + gamma * N) + beta) = (W2 * (1 + gamma * N)) h + W2 beta``; the residual
    add is that GEMM's accumulator. GEMMs go through :mod:`apcodec.gemm` (MKL or oneDNN, whichever
    is faster on the machine). On CPU in float32 the steps between the GEMMs run as two numba
    kernels (:mod:`apcodec.cpu_kernels`).
    """

    dw_weight: torch.Tensor  # buffers, declared for the type checker
    dw_taps: torch.Tensor
    dw_bias: torch.Tensor
    w1: torch.Tensor
    b1: torch.Tensor
    w2: torch.Tensor
    b2: torch.Tensor
    gamma: torch.Tensor

    def __init__(self, block: ConvNeXtBlock) -> None:
        super().__init__()
        if type(block.grn) is not GRN:
            raise TypeError("FusedConvNeXtBlock needs the centred (global) GRN")
        conv = block.dwconv
        with torch.no_grad():
            # [C, 1, k, 1] channels-last: the depthwise kernel runs along H of an NHWC [B, C, T, 1] view
            self.register_buffer("dw_weight", conv.weight.detach().unsqueeze(3).contiguous(
                memory_format=torch.channels_last), persistent=False)
            self.register_buffer("dw_taps", conv.weight.detach()[:, 0, :].t().contiguous(), persistent=False)  # [k, C]
            assert conv.bias is not None
            self.register_buffer("dw_bias", conv.bias.detach().clone(), persistent=False)
            w1, b1 = block.pwconv1.weight.detach(), block.pwconv1.bias.detach()
            self.register_buffer("w1", (w1 * block.norm.weight.detach()[None, :]).contiguous(), persistent=False)
            self.register_buffer("b1", b1 + w1 @ block.norm.bias.detach(), persistent=False)
            w2, b2 = block.pwconv2.weight.detach(), block.pwconv2.bias.detach()
            self.register_buffer("w2", w2.contiguous(), persistent=False)                      # [C, I]
            self.register_buffer("b2", b2 + w2 @ block.grn.beta.detach().reshape(-1), persistent=False)
            self.register_buffer("gamma", block.grn.gamma.detach().reshape(1, -1).clone(), persistent=False)
        self.padding = int(conv.padding[0])
        self.eps = block.norm.eps

    def forward(self, x: torch.Tensor, workspace: Optional[torch.Tensor] = None) -> torch.Tensor:
        """[B, T, C] -> [B, T, C]. Overwrites ``x`` (the residual stream) with the result when it is contiguous.

        ``workspace``: a [B, T, inner] buffer for the hidden activations (the blocks of a branch
        share one kept in a :class:`Workspace`: a fresh 25 MB buffer per block is ~6000 page faults).
        """
        batch, frames, channels = x.shape
        inner = self.w1.shape[0]
        x = x.contiguous()
        shape = (batch, frames, inner)
        hidden = workspace if workspace is not None and workspace.shape == shape else x.new_empty(shape)
        energy = x.new_zeros(batch, inner)
        # Up to GRN everything is per frame (plus the depthwise halo), so it runs in chunks of about
        # BLOCK_CHUNK_BYTES of hidden activations: the GEMM output is still in cache for the bias,
        # the GELU and the energy sum. Measured ~25 % faster than whole-signal passes on a busy
        # machine. (``mm`` + ``add_`` rather than ``addmm``, whose broadcast copy of the bias cost more.)
        step = max(64, BLOCK_CHUNK_BYTES // (4 * batch * inner))
        kernels = cpu_kernels.applies(x)
        for start in range(0, frames, step):
            stop = min(frames, start + step)
            window = padded_frames(x, start - self.padding, stop + self.padding)
            chunk = hidden[:, start:stop]
            if kernels:
                y = cpu_kernels.depthwise_layer_norm(window, self.dw_taps, self.dw_bias, self.eps)
                pre = gemm.linear(y.reshape(-1, channels), self.w1).view(chunk.shape)
                cpu_kernels.bias_gelu_energy(pre, self.b1, chunk, energy)
                continue
            y = depthwise_along_time(window, self.dw_weight, self.dw_bias)
            y = F.layer_norm(y, (channels,), None, None, self.eps)
            pre = gemm.linear(y.reshape(-1, channels), self.w1).add_(self.b1).view(chunk.shape)
            if chunk.is_contiguous():   # one item: GELU straight into place (out= into a strided view misbehaves)
                torch.ops.aten.gelu.out(pre, out=chunk)
            else:
                chunk.copy_(F.gelu(pre))
            energy += torch.linalg.vecdot(chunk, chunk, dim=1)    # GRN: squared L2 norm over time
        gx = energy.sqrt_()                                          # [B, I]
        scale = 1.0 + self.gamma * (gx / (gx.mean(dim=-1, keepdim=True) + 1e-6))
        for i in range(batch):  # x += h @ (W2 * scale)^T: the residual is the GEMM's accumulator, no copy
            gemm.linear_accumulate_(x[i], hidden[i], self.w2 * scale[i])
        return x.add_(self.b2)


def depthwise_along_time(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor]) -> torch.Tensor:
    """Depthwise "valid" conv of [B, T + k - 1, C] with ``weight`` [C, 1, k, 1] (channels-last): [B, T, C] out.

    [B, T, C] memory is an NHWC [B, C, T, 1] tensor, so oneDNN's NHWC depthwise kernel runs
    without a layout copy either way.
    """
    x4 = x.unsqueeze(2).permute(0, 3, 1, 2)
    y = F.conv2d(x4, weight, bias, groups=x.shape[-1])
    return y.permute(0, 2, 3, 1).squeeze(2)


# ------------------------------------------------------------------------------------ convolutions
#: Toom-Cook evaluation points, best conditioned first (plus the point at infinity)
_POINTS = (Fraction(0), Fraction(1), Fraction(-1), Fraction(2), Fraction(-2), Fraction(1, 2), Fraction(-1, 2),
           Fraction(3, 4), Fraction(-3, 4))


def toom_cook_matrices(outputs: int, taps: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Exact F(m, r) correlation matrices ``(A^T [m, n], G [n, r], B^T [n, n])``, n = m + r - 1, float64.

    ``y = A^T ((G g) * (B^T d))`` gives ``y_j = sum_k g_k d_{j+k}`` for m outputs from n inputs.
    Derived as the transpose of polynomial multiplication evaluated at ``n - 1`` points and
    infinity: ``A^T`` evaluates degree < m polynomials, ``G`` degree < r ones, ``B^T`` is the
    transposed inverse of the degree < n evaluation matrix. Rows of ``B^T`` are scaled to unit
    maximum (the inverse scale goes into ``G``, applied once to the weights in float64).
    """
    n = outputs + taps - 1
    if n - 1 > len(_POINTS):
        raise ValueError(f"F({outputs}, {taps}) needs {n - 1} points; at most {len(_POINTS)} are well conditioned")
    points = _POINTS[: n - 1]

    def evaluation(size: int) -> list[list[Fraction]]:
        rows = [[p ** j for j in range(size)] for p in points]
        return rows + [[Fraction(int(j == size - 1)) for j in range(size)]]   # infinity: leading coefficient

    inverse = _invert(evaluation(n))
    b_t = [[inverse[t][i] for t in range(n)] for i in range(n)]
    g = evaluation(taps)
    for i, row in enumerate(b_t):
        scale = max(abs(v) for v in row)
        b_t[i] = [v / scale for v in row]
        g[i] = [v * scale for v in g[i]]
    a_t = [[row[j] for row in evaluation(outputs)] for j in range(outputs)]

    def tensor(rows: list[list[Fraction]]) -> torch.Tensor:
        return torch.tensor([[float(v) for v in row] for row in rows], dtype=torch.float64)

    return tensor(a_t), tensor(g), tensor(b_t)


def _invert(matrix: list[list[Fraction]]) -> list[list[Fraction]]:
    """Exact inverse by Gauss-Jordan elimination (the matrices are at most 8 x 8)."""
    size = len(matrix)
    rows = [row[:] + [Fraction(int(i == j)) for j in range(size)] for i, row in enumerate(matrix)]
    for col in range(size):
        pivot = next(i for i in range(col, size) if rows[i][col] != 0)
        rows[col], rows[pivot] = rows[pivot], rows[col]
        lead = rows[col][col]
        rows[col] = [v / lead for v in rows[col]]
        for i in range(size):
            if i != col and rows[i][col] != 0:
                factor = rows[i][col]
                rows[i] = [a - factor * b for a, b in zip(rows[i], rows[col])]
    return [row[size:] for row in rows]


#: target size of one temporary of a chunked computation: glibc serves allocations above 32 MB
#: with fresh mmap pages, and faulting them in cost as much as a quarter of a call
CHUNK_BYTES = 16 << 20


class Workspace:
    """Large buffers a prepared module reuses from call to call (CPU only, each up to ``limit`` bytes).

    glibc serves every allocation at or above its (adaptive) mmap threshold with fresh pages,
    which a call then faults in one by one: a 25 MB buffer is ~6000 page faults, and a 10 s encode
    made 25-75 thousand of them (3.5 us each in the benchmark VM: up to 0.17 s a call). Keeping
    the few largest buffers (the blocks' hidden activations, the encoder's spectra) avoids that.
    The buffers must not leave the module's call: the next call overwrites them. One module per
    thread: a branch's buffers belong to that branch.
    """

    def __init__(self, limit: int = 64 << 20) -> None:
        self.limit = limit
        self._buffers: dict[str, torch.Tensor] = {}

    def get(self, name: str, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        """An uninitialised buffer of ``shape`` with ``like``'s dtype and device."""
        buffer = self._buffers.get(name)
        if buffer is not None and buffer.shape == shape and buffer.dtype == like.dtype and buffer.device == like.device:
            return buffer
        self._buffers.pop(name, None)
        buffer = like.new_empty(shape)
        if like.device.type == "cpu" and buffer.numel() * buffer.element_size() <= self.limit:
            self._buffers[name] = buffer
        return buffer


def padded_frames(x: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """Frames ``start..stop - 1`` of [B, T, C] with zero frames where the range leaves the signal."""
    frames = x.shape[1]
    inside = x[:, max(0, start):min(frames, stop)]
    if start >= 0 and stop <= frames:
        return inside
    return F.pad(inside, (0, 0, max(0, -start), max(0, stop - frames)))


class TapConv(nn.Module):
    """Centred ('same') convolution over time of [B, T, C_in] -> [B, T, C_out], no bias.

    ``winograd=True`` computes it as Toom-Cook F(m, k), m = ``tile``: the input is cut into
    overlapping tiles of m + k - 1 frames, transformed by ``B^T``, multiplied by m + k - 1
    pre-transformed weight matrices and transformed back by ``A^T``: (m + k - 1) / m GEMMs per
    output frame instead of k. For k = 7, F(2, 7) needs 4/7 of the multiplications at the float32
    accuracy of a direct convolution (points 0, +-1, +-2, +-1/2); F(4, 7) needs 2.5/7 with ~3x its
    rounding error (points also +-3/4). Otherwise one NHWC ``conv2d`` (oneDNN). Either way
    :meth:`frames` computes any range of output frames, so long signals go in chunks whose
    temporaries stay below :data:`CHUNK_BYTES`.
    """

    weight: torch.Tensor
    a_t: torch.Tensor
    b_t: torch.Tensor

    def __init__(self, weight: torch.Tensor, winograd: bool = True, tile: int = 2) -> None:
        super().__init__()
        out_channels, in_channels, taps = weight.shape
        if taps % 2 != 1:
            raise ValueError(f"TapConv needs an odd kernel (centred padding), got {taps}")
        self.taps, self.padding, self.out_channels = taps, taps // 2, out_channels
        self.winograd = winograd and taps > 1
        self.tile = tile
        with torch.no_grad():
            if self.winograd:
                a_t, g, b_t = toom_cook_matrices(tile, taps)
                # correlation taps g_k act on frame t + k - padding: U_p = sum_k G[p, k] W_k^T
                u = torch.einsum("pk,ock->pco", g, weight.detach().double())
                # MKL's GEMMs measured ~25 % faster with the output width a multiple of 16 (513 -> 528)
                u = F.pad(u, (0, -out_channels % 16)).transpose(1, 2)
                self.register_buffer("weight", u.to(weight.dtype).contiguous(), persistent=False)   # [n, C_out', C_in]
                self.register_buffer("a_t", a_t.to(weight.dtype), persistent=False)
                self.register_buffer("b_t", b_t.to(weight.dtype), persistent=False)
            else:
                self.register_buffer("weight", weight.detach().unsqueeze(3).contiguous(
                    memory_format=torch.channels_last), persistent=False)                            # [C_out, C_in, k, 1]
                self.register_buffer("a_t", torch.empty(0), persistent=False)
                self.register_buffer("b_t", torch.empty(0), persistent=False)

    def chunk_frames(self, batch: int, in_channels: int) -> int:
        """Output frames per chunk so that one temporary stays near :data:`CHUNK_BYTES` (even, >= 64)."""
        width = max(in_channels, self.weight.shape[1] if self.winograd else self.out_channels)
        points = self.b_t.shape[0] if self.winograd else self.taps
        per_frame = batch * width * points * 4 // self.tile + 1
        return max(64, CHUNK_BYTES // per_frame // 4 * 4)

    def frames(self, x: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        """Output frames ``start..stop - 1`` of the convolution of the whole signal ``x`` [B, T, C_in]."""
        if not self.winograd:
            window = padded_frames(x, start - self.padding, stop + self.padding)
            y = F.conv2d(window.unsqueeze(2).permute(0, 3, 1, 2), self.weight)
            return y.permute(0, 2, 3, 1).squeeze(2)
        batch, _, in_channels = x.shape
        points = self.b_t.shape[0]
        m = self.tile
        tiles = (stop - start + m - 1) // m
        window = padded_frames(x, start - self.padding, start - self.padding + m * tiles + points - m)
        stride = window.stride()
        tiled = window.as_strided((points, batch, tiles, in_channels), (stride[1], stride[0], m * stride[1], 1))
        v = torch.mm(self.b_t, tiled.reshape(points, -1)).view(points, batch * tiles, in_channels)
        products = gemm.linear_batched(v, self.weight)                                  # [n, B * tiles, C_out']
        y = torch.mm(self.a_t, products.view(points, -1)).view(m, batch, tiles, -1)
        return y.permute(1, 2, 0, 3).reshape(batch, m * tiles, -1)[:, :stop - start, :self.out_channels]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, total, in_channels = x.shape
        step = self.chunk_frames(batch, in_channels)
        if total <= step:
            return self.frames(x, 0, total)
        out = x.new_empty(batch, total, self.out_channels)
        for start in range(0, total, step):
            stop = min(total, start + step)
            out[:, start:stop] = self.frames(x, start, stop)
        return out


def fold_linear_into_taps(conv_weight: torch.Tensor, linear: nn.Linear, norm: Optional[nn.LayerNorm] = None
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    """``conv(Linear(norm_affine(x)))`` as a convolution of x: (weight [C_out, C_in, k], tap biases [k, C_out]).

    The Linear (and the LayerNorm's affine, if given) act per frame, so they merge into each tap:
    ``W'_k = W_k L diag(gamma)``; their constant part ``W_k (L beta + b_L)`` is kept per tap,
    because the convolution zero-pads the *Linear's output*: frames near the edges see fewer taps
    of it (:func:`tap_bias`). Computed in float64.
    """
    weight = conv_weight.detach().double()                                  # [C_out, C_mid, k]
    lin_w = linear.weight.detach().double()                                 # [C_mid, C_in]
    lin_b = linear.bias.detach().double() if linear.bias is not None else lin_w.new_zeros(lin_w.shape[0])
    if norm is not None and norm.weight is not None:
        shift = lin_w @ norm.bias.detach().double() if norm.bias is not None else 0.0
        lin_b = lin_b + shift
        lin_w = lin_w * norm.weight.detach().double()[None, :]
    folded = torch.einsum("omk,mi->oik", weight, lin_w)
    tap_biases = torch.einsum("omk,m->ko", weight, lin_b)
    return folded.to(conv_weight.dtype), tap_biases.to(conv_weight.dtype)


def tap_bias(tap_biases: torch.Tensor, conv_bias: Optional[torch.Tensor], in_frames: int, stride: int = 1,
             pad: Optional[int] = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Bias of a folded convolution: (interior [C_out], edge frame indices [E], edge biases [E, C_out]).

    Output frame j sums the taps k whose input frame ``j * stride + k - pad`` lies inside the
    signal (``pad`` defaults to ``k // 2``); only frames near either end miss some, so only those
    get their own bias.
    """
    taps = tap_biases.shape[0]
    pad = taps // 2 if pad is None else pad
    out_frames = (in_frames + 2 * pad - taps) // stride + 1
    interior = tap_biases.sum(0)
    if conv_bias is not None:
        interior = interior + conv_bias
    reach = -(-pad // stride)  # output frames within ``pad`` input frames of an end
    edge = sorted({j for j in range(min(reach, out_frames))} |
                  {j for j in range(max(0, out_frames - reach - 1), out_frames)
                   if j * stride + taps - 1 - pad >= in_frames})
    index = torch.tensor(edge, dtype=torch.long, device=tap_biases.device)
    src = index[:, None] * stride + torch.arange(taps, device=tap_biases.device)[None, :] - pad
    missing = ((src < 0) | (src >= in_frames)).to(tap_biases.dtype)
    return interior, index, interior - missing @ tap_biases
