"""Inference preparation: ``encode``/``decode`` of a centred model as a folded, channels-last graph.

:func:`prepare_for_inference` folds weight norm, freezes the model and, for centred models, gives
the encoder and the decoder a :class:`PreparedEncoder` / :class:`PreparedDecoder` that
:meth:`APCodec.encode` and :meth:`APCodec.decode` then use. The modules themselves (and so
``forward``, the training path, and the state dict) stay as they are. Why the prepared path is
faster than the official forward (figures in docs/benchmarks.md, "APCodec inference"):

* weight norm is folded once instead of being recomputed (``g * v / ||v||``) on every call;
* activations stay channels-last [B, T, C] end to end: no transposes around the blocks;
* ConvNeXt blocks are two GEMMs each (:class:`~apcodec.fused_layers.FusedConvNeXtBlock`): the
  LayerNorm affine folded into the first, GRN into the second, the residual its accumulator;
  the per-frame part (depthwise conv, LayerNorm, GEMM, GELU, GRN energy) runs in cache-sized
  chunks of frames instead of whole-signal passes, and on CPU its steps between the GEMMs are
  two numba kernels (:mod:`apcodec.cpu_kernels`: depthwise conv + LayerNorm, bias + GELU + GRN
  energy), ~10 % of a whole encode or decode;
* encoder front end: the STFT's own frame-major memory is used as is, and the phase is the
  vectorised ``atan2`` of contiguous copies (on the strided views of the complex STFT, as the
  official code calls it, ``atan2`` runs a scalar loop ~4x slower);
* the encoder's embed convolutions (513 -> 256, k7) run as Winograd F(2, 7)
  (:class:`~apcodec.fused_layers.TapConv`: 4/7 of the multiplications at direct-convolution
  accuracy);
* the encoder's final ``LN affine -> Linear -> strided conv`` is one strided conv on the
  normalised frames, computed only at the output frames (one GEMM), bias exact at the edges;
* the decoder's ``latent conv -> transposed conv -> embed conv`` chain is linear, so it is one
  GEMM on windows of latent frames (:class:`DecoderFront`): per output frame 9 x 32 inputs
  instead of 2 x 256 + 7 x 256 (~8x fewer FLOPs); the edge frames, where the zero paddings of the
  chain differ from the folded form, are recomputed exactly by the module chain;
* the decoder's ``LN affine -> Linear -> k7 head conv`` is one conv, R and I heads one conv;
  the amplitude head runs as Winograd F(4, 7), the R/I head as F(2, 7) (see
  :class:`PreparedDecoder` for why not F(4, 7) there);
* ``exp(A) (cos(atan2(I, R)) + j sin(...)) = (R + jI) exp(A) / |R + jI|`` needs no angle; the
  inverse FFT runs over contiguous frames and the overlap-add is a few slice additions;
* every GEMM goes through :mod:`apcodec.gemm`, which times MKL (torch's own float32 ``mm``, AVX2
  code on AMD CPUs) against oneDNN (AVX-512 where the CPU has it) once per process and keeps the
  faster: on the Zen 5 benchmark machine ~2x the GEMM throughput, summed in blocks so that the
  rounding stays at MKL's level;
* temporaries stay below ~16 MB (the heads, spectrum and inverse FFT go chunk by chunk): glibc
  maps larger blocks freshly on every call, and their page faults cost 0.2-0.4 s per 10 s call;
* with >= 2 threads, the amplitude and phase branches run concurrently, and so do the two
  halves of the STFT and of the decoder's head/synthesis chunks, one thread each; the small
  serial steps (RVQ, code lookup, overlap-add) run on one thread: short OpenMP regions gain
  nothing from a second thread and stall whenever another process holds a core.

Tried and dropped (numbers in docs/benchmarks.md): ``torch.compile`` of the block's per-frame
part (slower than eager, 11 s to compile), MKL's packed-weight GEMM (no faster), Winograd F(4, 7)
for the encoder embed (2x the latent's rounding noise: less margin for identical codes) and for
the R/I head (3x the audio's distance to a float64 decode).

Causal (APCodec-S) models keep their streaming-aware modules: only weight norm is folded there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Sequence, cast

import torch
import torch.nn.functional as F
from torch import nn

from apcodec import cpu_kernels, gemm
from apcodec.fused_layers import FusedConvNeXtBlock, TapConv, Workspace, fold_linear_into_taps, tap_bias
from apcodec.modules import even_step, half_threads, remove_weight_norm, run_halves, run_pair
from apcodec.stft import overlap_add_segments, polar_spectrum, stft_logamp_phase_frames, synthesis_segments

if TYPE_CHECKING:
    from apcodec.decoder import APCodecDecoder
    from apcodec.encoder import APCodecEncoder
    from apcodec.model import APCodec


class _FoldedBias:
    """Per-frame bias of a folded convolution over ``in_frames`` input frames (see :func:`tap_bias`)."""

    def __init__(self, tap_biases: torch.Tensor, conv_bias: Optional[torch.Tensor], in_frames: int,
                 stride: int = 1, pad: Optional[int] = None) -> None:
        self.interior, self.index, edge = tap_bias(tap_biases, conv_bias, in_frames, stride, pad)
        self.edge_delta = edge - self.interior

    def add_(self, y: torch.Tensor, start: int = 0) -> torch.Tensor:
        """Add the bias of output frames ``start..`` to ``y`` [B, n, C] in place."""
        y.add_(self.interior)
        inside = (self.index >= start) & (self.index < start + y.shape[1])
        if bool(inside.any()):
            y[:, self.index[inside] - start] += self.edge_delta[inside]
        return y


class _Branch(nn.Module):
    """One amplitude or phase branch of a prepared encoder or decoder: LN (affine) -> fused blocks -> LN."""

    norm_weight: torch.Tensor
    norm_bias: torch.Tensor

    def __init__(self, norm: nn.LayerNorm, blocks: nn.ModuleList, final_norm: nn.LayerNorm) -> None:
        super().__init__()
        self.register_buffer("norm_weight", norm.weight.detach().clone(), persistent=False)
        self.register_buffer("norm_bias", norm.bias.detach().clone(), persistent=False)
        self.blocks = nn.ModuleList([FusedConvNeXtBlock(cast(Any, block)) for block in blocks])
        self.eps, self.final_eps = norm.eps, final_norm.eps
        self.workspace = Workspace()

    def forward(self, h: torch.Tensor) -> torch.Tensor:   # [B, T, C] -> normalised [B, T, C] (affine folded away)
        channels = h.shape[-1]
        h = F.layer_norm(h, (channels,), self.norm_weight, self.norm_bias, self.eps)
        blocks = [cast(FusedConvNeXtBlock, block) for block in self.blocks]
        hidden = self.workspace.get("hidden", (*h.shape[:2], blocks[0].w1.shape[0]), h) if blocks else None
        for block in blocks:
            h = block(h, hidden)
        return F.layer_norm(h, (channels,), None, None, self.final_eps)


class PreparedEncoder(nn.Module):
    """Audio [B, T] -> latent before quantization [B, D, N'] of a centred encoder (folded, channels-last)."""

    embed_bias: torch.Tensor
    down_weight: torch.Tensor
    down_taps: torch.Tensor
    down_bias: torch.Tensor

    def __init__(self, encoder: "APCodecEncoder", winograd: bool = True) -> None:
        super().__init__()
        self.cfg = encoder.cfg
        self.embeds = nn.ModuleList()
        self.branches = nn.ModuleList()
        embed_bias, weights, taps, biases = [], [], [], []
        for kind, down in (("logamp", encoder.AMP_Encoder_downsample_output_conv),
                           ("pha", encoder.PHA_Encoder_downsample_output_conv)):
            embed = cast(nn.Conv1d, getattr(encoder, f"embed_{kind}"))
            self.embeds.append(TapConv(embed.weight, winograd))
            embed_bias.append(cast(torch.Tensor, embed.bias).detach())
            self.branches.append(_Branch(getattr(encoder, f"norm_{kind}"), getattr(encoder, f"convnext_{kind}"),
                                         getattr(encoder, f"final_layer_norm_{kind}")))
            folded, tap_biases = fold_linear_into_taps(down.weight, getattr(encoder, f"out_{kind}"),
                                                       getattr(encoder, f"final_layer_norm_{kind}"))
            weights.append(folded.permute(0, 2, 1).reshape(folded.shape[0], -1))   # [C_out, (k, C_in)]
            taps.append(tap_biases)
            biases.append(cast(torch.Tensor, down.bias).detach())
        self.register_buffer("embed_bias", torch.stack(embed_bias), persistent=False)
        self.register_buffer("down_weight", torch.stack(weights).contiguous(), persistent=False)
        self.register_buffer("down_taps", torch.stack(taps), persistent=False)
        self.register_buffer("down_bias", torch.stack(biases), persistent=False)
        down = encoder.AMP_Encoder_downsample_output_conv
        self.kernel, self.stride, self.pad = down.kernel_size[0], down.stride[0], int(down.padding[0])
        self._latent_conv = [encoder.latent_output_conv]   # the module itself (not registered twice)

    def _branch(self, index: int, spectrum: torch.Tensor) -> torch.Tensor:
        """[B, N, F] -> downsampled branch output [B, N', C'] (embed, blocks, folded strided conv)."""
        h = self.embeds[index](spectrum).add_(self.embed_bias[index])
        h = self.branches[index](h)
        batch, frames, channels = h.shape
        out_frames = (frames + 2 * self.pad - self.kernel) // self.stride + 1
        padded = F.pad(h, (0, 0, self.pad, (out_frames - 1) * self.stride + self.kernel - frames - self.pad))
        stride = padded.stride()
        windows = padded.as_strided((batch, out_frames, self.kernel * channels),
                                    (stride[0], self.stride * stride[1], 1))
        y = gemm.linear(windows.reshape(batch * out_frames, -1), self.down_weight[index]).view(batch, out_frames, -1)
        return _FoldedBias(self.down_taps[index], self.down_bias[index], frames, self.stride, self.pad).add_(y)

    def forward(self, audio: torch.Tensor, parallel: bool = True) -> torch.Tensor:   # [B, T] -> [B, D, N']
        parallel = parallel and audio.device.type == "cpu"
        logamp, pha = stft_logamp_phase_frames(audio, self.cfg, parallel=parallel)
        amp, ph = run_pair(lambda: self._branch(0, logamp), lambda: self._branch(1, pha), parallel)
        with half_threads(parallel):
            return self._latent_conv[0](torch.cat([amp, ph], dim=-1).transpose(1, 2))


class DecoderFront(nn.Module):
    """``embed(upsample(latent_conv(z)))`` of one decoder branch as one GEMM: [B, D, L] -> [B, ratio * L, C].

    The chain is linear and shift-equivariant (``ratio`` output frames per latent frame), so each
    group of ``ratio`` output frames is one matrix times a window of latent frames around it. The
    matrix and the per-phase bias are measured by probing the module chain with unit impulses in
    float64. Near either end the chain's zero paddings and missing upsampler inputs make the
    folded form wrong, so the first and last ``edge`` frames are recomputed by the module chain on
    a short window (and short inputs run the chain entirely).
    """

    weight: torch.Tensor
    bias: torch.Tensor

    def __init__(self, latent_conv: nn.Module, upsample: nn.Module, embed: nn.Module, ratio: int) -> None:
        super().__init__()
        self._chain = [latent_conv, upsample, embed]   # the modules themselves (not registered twice)
        up = cast(nn.ConvTranspose1d, upsample)
        lat, emb = cast(nn.Conv1d, latent_conv), cast(nn.Conv1d, embed)
        kernel, pad_up, pad_embed, pad_latent = up.kernel_size[0], int(up.padding[0]), int(emb.padding[0]), int(lat.padding[0])
        # upsampler inputs j - q seen by output frames ratio * q + r (r < ratio), through the embed conv
        low = (pad_up - pad_embed - kernel) // ratio + 1
        high = (ratio - 1 + pad_embed + pad_up) // ratio
        self.before, self.after = pad_latent - low, high + pad_latent    # latent frames of the window
        self.ratio, self.latent_dim, self.channels = ratio, lat.in_channels, emb.out_channels
        self.edge_latent = max(-low, high, -(-pad_embed // ratio))     # latent frames whose outputs need the chain
        self.window_latent = self.edge_latent + self.before + self.after + 2
        weight, bias = self._probe()
        self.register_buffer("weight", weight, persistent=False)        # [ratio * C, (before + 1 + after) * D]
        self.register_buffer("bias", bias, persistent=False)            # [ratio * C]

    def _chain_out(self, z: torch.Tensor) -> torch.Tensor:   # [B, D, L] -> [B, ratio * L, C]
        latent_conv, upsample, embed = self._chain
        return embed(upsample(latent_conv(z))).transpose(1, 2)

    @torch.no_grad()
    def _probe(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The folded matrix and bias, from unit impulses through a float64 copy of the chain."""
        import copy

        chain = [copy.deepcopy(m).double() for m in self._chain]
        span = self.before + 1 + self.after
        length = 2 * span + 1
        centre = span
        dim, ratio = self.latent_dim, self.ratio
        probes = torch.zeros(dim + 1, dim, length, dtype=torch.float64, device=self.device_of(chain[0]))
        probes[torch.arange(1, dim + 1), torch.arange(dim), centre] = 1.0
        out = chain[2](chain[1](chain[0](probes))).transpose(1, 2)             # [D + 1, ratio * length, C]
        offset, response = out[0], out[1:] - out[0]
        response = response.reshape(dim, length, ratio * self.channels)
        # impulse at latent frame c reaches output group q through window slot c - q + before
        groups = torch.arange(centre - self.after, centre + self.before + 1)
        weight = response[:, groups.flip(0)]                                   # [D, slot, ratio * C]
        outside = response.clone()
        outside[:, groups] = 0.0
        scale = float(response.abs().max()) or 1.0
        if float(outside.abs().max()) > 1e-9 * scale:
            raise AssertionError("DecoderFront: the chain reaches further than its computed window")
        bias = offset.reshape(length, ratio * self.channels)[centre]
        dtype = next(iter(self._chain[0].parameters())).dtype   # the model's own (float64 models stay float64)
        return weight.transpose(0, 1).reshape(span * dim, -1).t().to(dtype).contiguous(), bias.to(dtype)

    @staticmethod
    def device_of(module: nn.Module) -> torch.device:
        return next(iter(module.parameters())).device

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        batch, dim, frames = z.shape
        if frames <= 2 * self.window_latent:
            return self._chain_out(z).contiguous()
        span = self.before + 1 + self.after
        padded = F.pad(z, (self.before, self.after)).transpose(1, 2).contiguous()   # [B, L + span - 1, D]
        windows = padded.as_strided((batch, frames, span * dim), (padded.stride(0), dim, 1))
        y = gemm.linear(windows.reshape(batch * frames, -1), self.weight, self.bias)
        y = y.view(batch, frames * self.ratio, self.channels)
        edge = self.edge_latent * self.ratio
        # both ends in one call of the chain (its small transposed convolution is call-bound)
        ends = self._chain_out(torch.cat([z[..., :self.window_latent], z[..., -self.window_latent:]]))
        y[:, :edge] = ends[:batch, :edge]
        y[:, -edge:] = ends[batch:, -edge:]
        return y


class PreparedDecoder(nn.Module):
    """Quantized latent [B, D, N'] -> audio [B, T] of a centred decoder (folded, channels-last).

    The output is ill-conditioned where ``|R + jI|`` is tiny: the phase there follows the rounding
    of R and I, so two float32 computations of the same decoder differ by a few 1e-6 in the audio
    (the official code against a float64 decode: 0.5-8.2e-6 on 10 s of random-weight audio). The
    heads keep the largest difference to float64 at the official code's level; a direct R/I conv
    would also halve the rms difference, but measured further from the official output at those
    bins (up to 1.3e-5: docs/benchmarks.md), so the R/I head stays Winograd F(2, 7).
    """

    head_taps_amp: torch.Tensor
    head_taps_ri: torch.Tensor
    head_bias_amp: torch.Tensor
    head_bias_ri: torch.Tensor

    def __init__(self, decoder: "APCodecDecoder", winograd: bool = True) -> None:
        super().__init__()
        self.cfg = decoder.cfg
        self.fronts = nn.ModuleList([DecoderFront(decoder.latent_input_conv, up, embed, decoder.cfg.ratio)
                                     for up, embed in ((decoder.AMP_Decoder_upsample_input_conv, decoder.embed_logamp),
                                                       (decoder.PHA_Decoder_upsample_input_conv, decoder.embed_pha))])
        self.branches = nn.ModuleList([_Branch(decoder.norm_logamp, decoder.convnext_logamp,
                                               decoder.final_layer_norm_logamp),
                                       _Branch(decoder.norm_pha, decoder.convnext_pha, decoder.final_layer_norm_pha)])
        amp_conv = decoder.AMP_Decoder_output_conv
        real_conv, imag_conv = decoder.PHA_Decoder_output_R_conv, decoder.PHA_Decoder_output_I_conv
        amp_w, amp_taps = fold_linear_into_taps(amp_conv.weight, decoder.out_logamp, decoder.final_layer_norm_logamp)
        ri_w, ri_taps = fold_linear_into_taps(torch.cat([real_conv.weight, imag_conv.weight]), decoder.out_pha,
                                              decoder.final_layer_norm_pha)
        # The amplitude head is well conditioned: F(4, 7) (2.5 GEMMs per frame instead of 4) left the
        # audio unchanged to 1e-8. The R/I head is not: near R = I = 0 the phase amplifies any
        # rounding, and F(4, 7) there tripled the audio's distance to a float64 decode, so F(2, 7).
        self.heads = nn.ModuleList([TapConv(amp_w, winograd, tile=4), TapConv(ri_w, winograd, tile=2)])
        self.register_buffer("head_taps_amp", amp_taps, persistent=False)
        self.register_buffer("head_taps_ri", ri_taps, persistent=False)
        self.register_buffer("head_bias_amp", cast(torch.Tensor, amp_conv.bias).detach().clone(), persistent=False)
        self.register_buffer("head_bias_ri", torch.cat([cast(torch.Tensor, real_conv.bias).detach(),
                                                        cast(torch.Tensor, imag_conv.bias).detach()]), persistent=False)

    def _features(self, index: int, latent: torch.Tensor) -> torch.Tensor:
        """Latent [B, D, N'] -> one branch's normalised features before its head [B, N, C]."""
        return self.branches[index](self.fronts[index](latent))

    def forward(self, latent: torch.Tensor, parallel: bool = False) -> torch.Tensor:   # [B, D, N'] -> [B, T]
        parallel = parallel and latent.device.type == "cpu"
        amp, pha = run_pair(lambda: self._features(0, latent), lambda: self._features(1, latent), parallel)
        return self.synthesize(amp, pha, parallel)

    def synthesize(self, amp: torch.Tensor, pha: torch.Tensor, parallel: bool = False) -> torch.Tensor:
        """Both branches' features [B, N, C] -> audio [B, (N - 1) * hop].

        Heads, spectrum and inverse FFT run chunk by chunk of frames (small temporaries, warm
        caches); only the windowed segments of the whole signal are kept for the overlap-add.
        With ``parallel`` the two halves of the chunks run concurrently (:func:`run_pair`).
        """
        batch, frames, channels = amp.shape
        amp_head, ri_head = cast(TapConv, self.heads[0]), cast(TapConv, self.heads[1])
        amp_bias = _FoldedBias(self.head_taps_amp, self.head_bias_amp, frames)
        ri_bias = _FoldedBias(self.head_taps_ri, self.head_bias_ri, frames)
        segments = amp.new_empty(batch, frames, self.cfg.win_size)
        step = even_step(frames, min(amp_head.chunk_frames(batch, channels), ri_head.chunk_frames(batch, channels)))

        def run(chunk_starts: Sequence[int]) -> None:
            for start in chunk_starts:
                stop = min(frames, start + step)
                logamp = amp_bias.add_(amp_head.frames(amp, start, stop), start)
                rea_imag = ri_bias.add_(ri_head.frames(pha, start, stop), start)
                segments[:, start:stop] = synthesis_segments(polar_spectrum(logamp, rea_imag), self.cfg)

        run_halves(run, range(0, frames, step), parallel)
        with half_threads(parallel):
            return overlap_add_segments(segments, self.cfg)


def prepare_for_inference(model: "APCodec", parallel_encoder: bool = True, parallel_decoder: bool = True,
                          winograd: bool = True) -> "APCodec":
    """Fold weight norm, eval, no gradients; centred models also get the prepared graphs. Returns ``model``.

    Args:
        model: the codec, modified in place.
        parallel_encoder / parallel_decoder: run that part's amplitude and phase branches
            concurrently when torch has >= 2 intra-op threads (see :func:`apcodec.modules.run_pair`).
        winograd: compute the wide k-tap convolutions (encoder embed, decoder heads) as Winograd
            F(2, k) rather than as direct convolutions.
    """
    remove_weight_norm(model)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    model.encoder.parallel_branches = parallel_encoder
    model.decoder.parallel_branches = parallel_decoder
    if model.cfg.causal:
        return model
    with torch.no_grad():
        model.encoder.prepared = PreparedEncoder(model.encoder, winograd)
        model.decoder.prepared = PreparedDecoder(model.decoder, winograd)
    if cpu_kernels.applies(next(model.parameters())):
        cpu_kernels.compile_kernels()   # now rather than inside the first timed call (~1 s once, then cached)
        gemm.backend()                  # likewise the GEMM library's measurement (~0.1 s)
    return model
