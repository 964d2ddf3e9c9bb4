"""Encodec (Défossez et al. 2022) through ``transformers.EncodecModel``.

Models: ``encodec_24khz`` (mono, causal, 75 Hz, 1.5/3/6/12/24 kbps = 2/4/8/16/32 codebooks of 1024)
and ``encodec_48khz`` (stereo, 150 Hz, 3/6/12/24 kbps, 1 s chunks with 1 % overlap, each chunk
normalised by its RMS ``scale``). The PyPI ``encodec`` package is not used: it imports torchaudio.

Channels: the harness hands this adapter mono audio (``channels`` 1, the default). The 48 kHz
model is stereo, so mono input is duplicated to both model channels inside the adapter and the
two decoded channels are averaged back to mono; this costs nothing in bits (the codes are joint).
With ``channels: 2`` a stereo model gets stereo audio straight through.

Measured bitrate: the payload holds the real codes ``[n_q, frames]`` (10 bits each). For the
24 kHz model ``frames = ceil(T / 320)``, so measured kbps equals the declared bandwidth exactly
when ``T`` is a multiple of 320 samples and exceeds it by at most one frame otherwise (padding of
the last frame). For the 48 kHz model every chunk of 48000 samples gives 150 frames but chunks
advance by only 47520 samples: each chunk boundary re-sends the 480-sample overlap (1.5 frames),
and the last chunk is padded to whole frames. Measured kbps is therefore declared x
``frames / (T / 320)``: exact for a single chunk whose length is a multiple of 320, and about
1 % higher for long inputs (the true cost of the official chunked scheme). The per-chunk scales
travel in ``Payload.side`` (one float per second; not counted, like a header).

Batches and chunks (option ``chunk_seconds``, default 30 s, 0 disables; see
:class:`~codecbench.codecs._torch.TorchCodec`): models without their own chunking (24 kHz) cut
inputs longer than ``chunk_seconds`` hard into chunks of whole frames, code them separately and
concatenate them (frame count and measured bitrate unchanged). Models with their own chunking
or normalisation (48 kHz: ``chunk_length_s`` / ``normalize`` in the config) keep exactly the
official scheme: ``chunk_seconds``
is ignored (``None`` in :meth:`identity`) and ``encode_batch`` / ``decode_batch`` loop over items.
``encode_batch`` shares a forward pass only between segments of equal length (all full chunks
of long inputs; equal-length items), ``decode_batch`` between equal frame counts: even the
"causal" 24 kHz model's transformers encoder changes its last latents (by ~0.05 on a tiny random
model) when zeros follow the input, and its decode changes when codes follow, so padding one
item up to another would not be exact.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from codecbench.codecs._segments import DEFAULT_CHUNK_SECONDS
from codecbench.codecs._torch import TransformersCodec, codes_payload, fit_length
from codecbench.codecs.base import Payload

if TYPE_CHECKING:
    from codecbench.datasets.base import Utterance

MODELS = {"encodec_24khz": 24000, "encodec_48khz": 48000}
BANDWIDTHS = {"encodec_24khz": (1.5, 3.0, 6.0, 12.0, 24.0), "encodec_48khz": (3.0, 6.0, 12.0, 24.0)}
DEFAULT_KBPS = 6.0


def _model_name(model: str) -> str:
    key = model.lower().replace("-", "_")
    key = key if key.startswith("encodec_") else f"encodec_{key}"
    if key not in MODELS:
        raise ValueError(f"encodec option 'model': unknown '{model}'; choose one of {', '.join(MODELS)}")
    return key


class EncodecAdapter(TransformersCodec):
    """Encodec at one bandwidth. Options: ``model`` (``encodec_24khz`` | ``encodec_48khz``),
    ``model_dir`` (or ``weights``: a local transformers folder), ``channels`` (1 or 2), ``chunk_seconds``."""

    name = "encodec"
    model_class = "EncodecModel"
    config_class = "EncodecConfig"
    description = ("Encodec via transformers; 24 kHz mono 1.5-24 kbps, 48 kHz stereo 3-24 kbps "
                   "(option model: encodec_48khz)")
    sample_rates = (24000, 48000)
    default_bitrates = BANDWIDTHS["encodec_24khz"]
    audio_error = "{name}: expected float32 [{channels}, T>0] audio, got {shape}"

    def __init__(self, bitrate: Optional[float] = None, device: str = "cpu", model: str = "encodec_24khz",
                 model_dir: Optional[str] = None, weights: Optional[str] = None,
                 channels: Optional[int] = None, chunk_seconds: Optional[float] = DEFAULT_CHUNK_SECONDS) -> None:
        super().__init__(bitrate, device, _model_name(model), model_dir, weights, chunk_seconds)
        self.sample_rate = MODELS[self.model_name]
        allowed = BANDWIDTHS[self.model_name]
        model_channels = 2 if self.model_name == "encodec_48khz" else 1
        self.native_chunks = self.model_name == "encodec_48khz"
        self.hop_length = 320
        config = self._config()
        if config is not None:  # the folder's config is the truth (also for custom models)
            self.sample_rate = int(config.sampling_rate)
            allowed = tuple(float(b) for b in config.target_bandwidths)
            model_channels = int(config.audio_channels)
            # a normalising model needs its scales in the payload: it keeps the official path too
            self.native_chunks = config.chunk_length_s is not None or bool(config.normalize)
            self.hop_length = int(np.prod(config.upsampling_ratios))
        self.model_channels = model_channels
        if self.native_chunks:
            self.chunk_seconds = None   # the official chunking stays as it is: no chunks of chunks
        self.allowed_bitrates = allowed
        wanted = DEFAULT_KBPS if bitrate is None and DEFAULT_KBPS in allowed else bitrate
        wanted = allowed[-1] if wanted is None else float(wanted)
        if not any(abs(wanted - b) < 1e-9 for b in allowed):
            raise ValueError(f"encodec ({self.model_name}): bitrate {wanted:g} kbps not supported; "
                             f"allowed: {', '.join(f'{b:g}' for b in allowed)}")
        self.bitrate = wanted
        self.channels = 1 if channels is None else int(channels)
        if self.channels not in (1, model_channels):
            raise ValueError(f"encodec option 'channels': {self.model_name} takes 1 or {model_channels}, "
                             f"got {channels}")

    # -- availability and identity ----------------------------------------------------------------
    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "model": self.model_name, "channels": self.channels,
                "sample_rate": self.sample_rate, "weights": self._weights_digest()}

    # -- pieces of the batched encode / decode (TorchCodec) -------------------------------------------
    def _frame_samples(self) -> int:
        return self.hop_length

    def _codebook_size(self) -> int:
        return int(self._load().config.codebook_size)

    def _encode_tensor(self, model: Any, audio: Any) -> Any:
        if self.channels != self.model_channels:  # mono into a stereo model: same signal on both sides
            audio = audio.expand(-1, self.model_channels, -1)
        out = model.encode(audio, bandwidth=self.bitrate, return_dict=True)
        return out.audio_codes[0]   # [1 chunk, B, n_q, frames] -> [B, n_q, frames]

    def _decode_tensor(self, model: Any, codes: Any) -> Any:
        wav = model.decode(codes[None], [None], return_dict=True).audio_values   # [B, model_channels, T']
        return wav.mean(dim=1, keepdim=True) if self.channels != wav.shape[1] else wav

    # -- protocol: the 48 kHz model keeps its own chunked path ----------------------------------------
    def encode_batch(self, audios: list[np.ndarray], items: Optional[list[Optional[Utterance]]] = None) -> list[Payload]:
        if self.native_chunks:
            return [self._encode_native(audio) for audio in audios]
        return super().encode_batch(audios, items)

    def decode_batch(self, payloads: list[Payload]) -> list[np.ndarray]:
        if self.native_chunks:
            return [self._decode_native(payload) for payload in payloads]
        return super().decode_batch(payloads)

    def _encode_native(self, audio: np.ndarray) -> Payload:
        """The official chunked encode (1 s chunks, 1 % overlap, per-chunk RMS scales)."""
        import torch

        audio = self._checked_audio(audio)
        model = self._load()
        if self.channels != self.model_channels:  # mono into the stereo model: same signal on both sides
            audio = np.repeat(audio, self.model_channels, axis=0)
        with torch.inference_mode():
            x = self._tensor(audio).unsqueeze(0)
            out = model.encode(x, bandwidth=self.bitrate, return_dict=True)
        codes = out.audio_codes[:, 0].cpu().numpy()          # [chunks, n_q, L]
        pad = int(out.last_frame_pad_length or 0)
        chunks = [c for c in codes]
        if pad:
            chunks[-1] = chunks[-1][:, : chunks[-1].shape[-1] - pad]  # drop stacking padding: not sent
        frames = [int(c.shape[-1]) for c in chunks]
        scales = None if out.audio_scales[0] is None else [float(s.reshape(-1)[0]) for s in out.audio_scales]
        return codes_payload(np.concatenate(chunks, axis=-1), model.config.codebook_size, audio.shape[1],
                             chunk_frames=frames, scales=scales)

    def _decode_native(self, payload: Payload) -> np.ndarray:
        """Decode of :meth:`_encode_native` payloads (per-chunk frames and scales in ``side``)."""
        import torch

        codes = self._payload_codes(payload)   # [n_q, sum of chunk frames]
        model = self._load()
        frames: list[int] = list(payload.side["chunk_frames"])
        full = frames[0]
        parts = []
        for chunk in codes.split(frames, dim=-1):
            parts.append(torch.nn.functional.pad(chunk, (0, full - chunk.shape[-1])))
        stacked = torch.stack(parts).unsqueeze(1)  # [chunks, 1, n_q, L]
        scales = payload.side.get("scales")
        scale_list = ([None] * len(frames) if scales is None
                      else [torch.tensor([[s]], device=self.device) for s in scales])
        with torch.inference_mode():
            out = model.decode(stacked, scale_list, last_frame_pad_length=full - frames[-1], return_dict=True)
        wav = fit_length(out.audio_values[0].float().cpu().numpy(), payload.num_samples)  # [model_channels, T]
        if self.channels != wav.shape[0]:
            wav = np.ascontiguousarray(wav.mean(axis=0, keepdims=True), dtype=np.float32)
        return wav
