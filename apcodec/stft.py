"""STFT analysis and synthesis, official (centred) and causal (APCodec-S) framing.

Official quirks reproduced exactly: ``torch.stft`` with ``center=True`` and reflect padding, a
periodic Hann window of ``win_size`` zero-padded (centred) to ``n_fft``, log amplitude
``log(sqrt(re^2 + im^2) + 1e-5)``, phase ``atan2(im, re)``, and ``torch.istft`` with the same
settings for synthesis. For ``T`` samples the centred analysis gives ``T // hop + 1`` frames and
synthesis of ``N`` frames gives ``(N - 1) * hop`` samples.

Causal framing: frame ``n`` covers samples ``[(n + 1) * hop - win, (n + 1) * hop)`` (zeros
before the start), so it is complete as soon as sample ``(n + 1) * hop - 1`` has arrived; ``T``
samples (a multiple of ``hop``) give ``T // hop`` frames. Causal synthesis overlap-adds the
windowed frames back onto the same positions and divides by the steady-state window envelope
(periodic in ``hop``); output sample ``t`` is final once frame ``t // hop + win // hop - 1`` is
known, i.e. the synthesis holds back ``win - hop`` samples. The last ``win - hop`` samples of a
finite signal are faded (partial overlap) rather than amplified; encoders pad that much first.
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Sequence

import torch
import torch.nn.functional as F

from apcodec.config import ModelConfig
from apcodec.modules import even_step, run_halves


class Spectra(NamedTuple):
    """Log amplitude, wrapped phase, real and imaginary parts, each [B, F, N]."""

    logamp: torch.Tensor
    pha: torch.Tensor
    rea: torch.Tensor
    imag: torch.Tensor


def hann_window(cfg: ModelConfig, device: Optional[torch.device] = None,
                dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The periodic Hann window of ``win_size`` samples ([win])."""
    return torch.hann_window(cfg.win_size, device=device, dtype=dtype)


def _spectra_from_complex(spec: torch.Tensor, log_eps: float) -> Spectra:
    rea, imag = spec.real, spec.imag
    logamp = torch.log(torch.abs(torch.sqrt(torch.pow(rea, 2) + torch.pow(imag, 2))) + log_eps)
    return Spectra(logamp, torch.atan2(imag, rea), rea, imag)


def stft_spectra(audio: torch.Tensor, cfg: ModelConfig) -> Spectra:
    """Official centred analysis of ``audio`` [B, T] -> :class:`Spectra` [B, F, T // hop + 1]."""
    spec = torch.stft(audio, cfg.n_fft, hop_length=cfg.hop_size, win_length=cfg.win_size,
                      window=hann_window(cfg, audio.device, audio.dtype), center=True, return_complex=True)
    return _spectra_from_complex(spec, cfg.log_eps)


def causal_stft_spectra(audio: torch.Tensor, cfg: ModelConfig, history: Optional[torch.Tensor] = None) -> Spectra:
    """Causal analysis of ``audio`` [B, T] (T a multiple of hop) -> :class:`Spectra` [B, F, T // hop].

    Args:
        audio: new samples [B, T].
        history: the ``win - hop`` samples before ``audio`` [B, win - hop] (zeros when None,
            i.e. at the start of a stream).
    """
    lead = cfg.win_size - cfg.hop_size
    side = (cfg.n_fft - cfg.win_size) // 2
    if history is None:
        history = audio.new_zeros(audio.shape[0], lead)
    x = torch.cat([history, audio], dim=-1)
    # torch.stft pads the window to n_fft in the centre; pad the signal so that each n_fft frame
    # has its win-sample support at the causal position.
    x = F.pad(x, (side, side))
    if audio.shape[-1] == 0:
        empty = audio.new_zeros(audio.shape[0], cfg.n_bins, 0)
        return Spectra(empty, empty, empty, empty)
    spec = torch.stft(x, cfg.n_fft, hop_length=cfg.hop_size, win_length=cfg.win_size,
                      window=hann_window(cfg, audio.device, audio.dtype), center=False, return_complex=True)
    return _spectra_from_complex(spec, cfg.log_eps)


def istft_audio(rea: torch.Tensor, imag: torch.Tensor, cfg: ModelConfig) -> torch.Tensor:
    """Official centred synthesis: real/imaginary [B, F, N] -> audio [B, (N - 1) * hop]."""
    if rea.dtype not in (torch.float32, torch.float64):  # torch.complex rejects bf16/fp16 (autocast)
        rea, imag = rea.float(), imag.float()
    spec = torch.complex(rea, imag)
    return torch.istft(spec, cfg.n_fft, hop_length=cfg.hop_size, win_length=cfg.win_size,
                       window=hann_window(cfg, rea.device, rea.dtype), center=True)


def synthesis_envelope(cfg: ModelConfig, device: Optional[torch.device] = None,
                       dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Steady-state sum of squared windows, one hop long ([hop]); it repeats every hop."""
    window = hann_window(cfg, device, dtype)
    return window.pow(2).reshape(cfg.win_size // cfg.hop_size, cfg.hop_size).sum(0)


def causal_frames(rea: torch.Tensor, imag: torch.Tensor, cfg: ModelConfig) -> torch.Tensor:
    """Windowed time-domain frames of a causal synthesis: [B, F, N] -> [B, win, N]."""
    if rea.dtype not in (torch.float32, torch.float64):  # torch.complex rejects bf16/fp16 (autocast)
        rea, imag = rea.float(), imag.float()
    return synthesis_segments(torch.complex(rea, imag).transpose(1, 2), cfg).transpose(1, 2)


def overlap_add(frames: torch.Tensor, cfg: ModelConfig, tail: Optional[torch.Tensor] = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Overlap-add causal frames [B, win, N] onto a running tail.

    Returns:
        (final, tail): ``final`` [B, N * hop] are finished samples (the first ``win - hop`` of a
        stream's output belong before time zero and are dropped by the caller); ``tail``
        [B, win - hop] is the unfinished sum to carry into the next call.
    """
    batch, win, n = frames.shape
    hop, lead = cfg.hop_size, cfg.win_size - cfg.hop_size
    if tail is None:
        tail = frames.new_zeros(batch, lead)
    length = (n - 1) * hop + win if n else lead
    if n:
        ola = F.fold(frames, output_size=(1, length), kernel_size=(1, win), stride=(1, hop)).reshape(batch, length)
        ola = torch.cat([ola[:, :lead] + tail, ola[:, lead:]], dim=-1)
    else:
        ola = tail
    return ola[:, : n * hop], ola[:, n * hop:]


def causal_istft_audio(rea: torch.Tensor, imag: torch.Tensor, cfg: ModelConfig) -> torch.Tensor:
    """Offline causal synthesis: [B, F, N] -> audio [B, N * hop] aligned with the causal analysis."""
    frames = causal_frames(rea, imag, cfg)
    final, tail = overlap_add(frames, cfg)
    audio = torch.cat([final, tail], dim=-1)[:, cfg.win_size - cfg.hop_size:]
    return normalize_envelope(audio, cfg, offset=0)


def normalize_envelope(audio: torch.Tensor, cfg: ModelConfig, offset: int) -> torch.Tensor:
    """Divide OLA output [B, L] starting at absolute sample ``offset`` by the window envelope."""
    env = synthesis_envelope(cfg, audio.device, audio.dtype)
    length = audio.shape[-1]
    start = offset % cfg.hop_size
    reps = (start + length) // cfg.hop_size + 1
    return audio / env.repeat(reps)[start:start + length]


# ------------------------------------------------------------------ frames-last fast paths (inference)
def stft_logamp_phase_frames(audio: torch.Tensor, cfg: ModelConfig, chunk_frames: int = 2048,
                             parallel: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Centred analysis as :func:`stft_spectra`, frames-last: audio [B, T] -> (logamp, pha), each [B, N, F].

    The signal is reflect-padded once, as ``torch.stft(center=True)`` does, and analysed
    ``chunk_frames`` frames at a time (``torch.stft`` keeps its output frame-major in memory, so
    [B, N, F] needs no transpose); the chunks keep every temporary small, and with ``parallel``
    the two halves of them run concurrently (:func:`~apcodec.modules.run_halves`). The spectra
    and the log amplitude are bit-identical to the official ``log(sqrt(re^2 + im^2) + eps)``
    (near-zero bins make the encoder input ill-conditioned, so this matters for identical codes);
    the phase is within 1 ulp (vectorised ``atan2``).
    """
    batch, length = audio.shape
    hop, n_fft = cfg.hop_size, cfg.n_fft
    frames = length // hop + 1
    padded = F.pad(audio.unsqueeze(1), (n_fft // 2, n_fft // 2), mode="reflect").squeeze(1)
    window = hann_window(cfg, audio.device, audio.dtype)
    logamp = audio.new_empty(batch, frames, cfg.n_bins)
    pha = audio.new_empty(batch, frames, cfg.n_bins)
    chunk_frames = even_step(frames, chunk_frames, 1)

    def analyze(starts: Sequence[int]) -> None:
        for start in starts:
            stop = min(frames, start + chunk_frames)
            spec = torch.stft(padded[:, start * hop:(stop - 1) * hop + n_fft], n_fft, hop_length=hop,
                              win_length=cfg.win_size, window=window, center=False, return_complex=True)
            parts = torch.view_as_real(spec).transpose(1, 2)   # [B, n, F, 2]
            # torch's CPU atan2 is vectorised only for contiguous inputs: on the strided real and
            # imaginary views it takes a scalar loop, ~4x slower (the results differ by <= 1 ulp)
            rea, imag = parts[..., 0].contiguous(), parts[..., 1].contiguous()
            # rea^2 + imag^2 rounded as the official expression (no fused multiply-add): bit-identical
            torch.mul(rea, rea, out=logamp[:, start:stop]).add_(imag * imag).sqrt_().add_(cfg.log_eps).log_()
            pha[:, start:stop] = torch.atan2(imag, rea)

    run_halves(analyze, range(0, frames, chunk_frames), parallel)
    return logamp, pha


def polar_spectrum(logamp: torch.Tensor, rea_imag: torch.Tensor) -> torch.Tensor:
    """``exp(logamp) * exp(j atan2(I, R))`` without the angle: [B, N, F] and [B, N, 2F] -> complex [B, N, F].

    ``cos(atan2(I, R)) = R / r`` and ``sin(atan2(I, R)) = I / r`` with ``r = sqrt(R^2 + I^2)``, so
    the spectrum is ``(R + jI) * exp(logamp) / r``, written straight into an interleaved buffer.
    Where ``R = I = 0`` atan2 gives 0 (or pi for R = -0): the spectrum is ``+-exp(logamp)``.
    """
    bins = logamp.shape[-1]
    rea, imag = rea_imag[..., :bins], rea_imag[..., bins:2 * bins]
    radius = (rea * rea).addcmul_(imag, imag).sqrt_()
    scale = torch.exp(logamp).div_(radius)
    out = torch.empty(*logamp.shape, 2, dtype=logamp.dtype, device=logamp.device)
    torch.mul(rea, scale, out=out[..., 0])
    torch.mul(imag, scale, out=out[..., 1])
    zero = radius == 0
    if bool(zero.any()):
        mag = torch.exp(logamp[zero])
        out[..., 0][zero] = torch.where(torch.signbit(rea[zero]), -mag, mag)
        out[..., 1][zero] = 0.0
    return torch.view_as_complex(out)


def synthesis_segments(spec: torch.Tensor, cfg: ModelConfig) -> torch.Tensor:
    """Windowed inverse FFT of frames-last spectra: complex [B, N, F] -> [B, N, win].

    The Hann window is zero-padded to n_fft in ``torch.istft``, so only the ``win`` central
    samples of each inverse FFT survive; the FFT runs over the contiguous last axis.
    """
    side = (cfg.n_fft - cfg.win_size) // 2
    window = hann_window(cfg, spec.device, spec.real.dtype)
    return torch.fft.irfft(spec, n=cfg.n_fft, dim=-1)[..., side:side + cfg.win_size] * window


def overlap_add_segments(segments: torch.Tensor, cfg: ModelConfig) -> torch.Tensor:
    """Overlap-add [B, N, win] and divide by the summed squared window, as ``torch.istft(center=True)``.

    Returns [B, (N - 1) * hop]. When ``win`` is a multiple of ``hop`` the overlap-add is
    ``win / hop`` slice additions instead of ``fold``.
    """
    batch, frames, win = segments.shape
    hop = cfg.hop_size
    window = hann_window(cfg, segments.device, segments.dtype)
    length = (frames - 1) * hop + win
    if win % hop == 0:
        overlap = win // hop
        blocks = segments.new_zeros(batch, frames + overlap - 1, hop)
        squares = window.pow(2).view(overlap, hop)
        envelope = segments.new_zeros(frames + overlap - 1, hop)
        for a in range(overlap):
            blocks[:, a:a + frames] += segments[..., a * hop:(a + 1) * hop]
            envelope[a:a + frames] += squares[a]
        ola, env = blocks.view(batch, length), envelope.view(length)
    else:
        ola = F.fold(segments.transpose(1, 2), output_size=(1, length), kernel_size=(1, win),
                     stride=(1, hop)).view(batch, length)
        env = F.fold(window.pow(2)[None, :, None].expand(1, win, frames), output_size=(1, length),
                     kernel_size=(1, win), stride=(1, hop)).view(length)
    start = cfg.n_fft // 2 - (cfg.n_fft - win) // 2   # torch.istft drops n_fft // 2 samples of its overlap-add
    stop = start + (frames - 1) * hop
    return ola[:, start:stop] / env[start:stop]
