"""Descript Audio Codec (Kumar et al. 2023) through ``transformers.DacModel``.

Models: ``dac_16khz`` (hop 320, 50 Hz, 12 codebooks), ``dac_24khz`` (hop 320, 75 Hz, 32
codebooks), ``dac_44khz`` (hop 512, 86.13 Hz, 9 codebooks); 1024-entry codebooks (10 bits).
The bitrate selects how many residual codebooks are sent: ``kbps = n_q * 10 * sample_rate / hop
/ 1000`` (exact, e.g. 0.861328125 kbps per codebook at 44.1 kHz; a requested value is matched to
the nearest allowed one within 0.01 kbps and the exact value is declared).

Length: like the official ``DAC.preprocess``, the input is zero-padded on the right to a multiple
of the hop, so ``frames = ceil(T / hop)`` and measured kbps equals the declared value exactly for
inputs of whole frames (and exceeds it by at most one frame otherwise). The decoder does not
return exactly ``frames * hop`` samples (the 16 kHz model returns 8 fewer); the output is
trimmed or zero-padded to the input length.

Batches and chunks (option ``chunk_seconds``, default 30 s, 0 disables; see
:class:`~codecbench.codecs._torch.TorchCodec`): inputs longer than ``chunk_seconds`` are cut hard
into chunks of whole frames, coded separately and concatenated (frame count and measured bitrate
unchanged; with the 16 kHz model each decoded chunk is 8 samples short and zero-filled, as the
end of a single input is). ``encode_batch`` shares a forward pass between segments with the same
padded length (the model is non-causal: other padding would change the last codes); decoding
batches equal frame counts.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from codecbench.codecs._segments import DEFAULT_CHUNK_SECONDS
from codecbench.codecs._torch import TransformersCodec

# name -> (sample rate, hop, codebooks) of the published models (used until a config is read)
MODELS = {"dac_16khz": (16000, 320, 12), "dac_24khz": (24000, 320, 32), "dac_44khz": (44100, 512, 9)}
DEFAULT_MODEL = "dac_24khz"


def _model_name(model: str) -> str:
    key = model.lower().replace("-", "_").replace("44.1khz", "44khz")
    key = key if key.startswith("dac_") else f"dac_{key}"
    if key not in MODELS:
        raise ValueError(f"dac option 'model': unknown '{model}'; choose one of {', '.join(MODELS)}")
    return key


class DacAdapter(TransformersCodec):
    """DAC with ``n_q`` codebooks. Options: ``model`` (``dac_16khz`` | ``dac_24khz`` | ``dac_44khz``),
    ``model_dir`` (or ``weights``: a local transformers folder). Without a bitrate all codebooks
    are used. ``chunk_seconds``: see the module docstring."""

    name = "dac"
    model_class = "DacModel"
    config_class = "DacConfig"
    description = ("DAC via transformers; kbps = n_codebooks x 10 bits x frame rate: 24 kHz 0.75-24 "
                   "(default), 16 kHz 0.5-6, 44.1 kHz 0.861-7.75 (option model)")
    sample_rates = (16000, 24000, 44100)
    default_bitrates = (1.5, 3.0, 6.0, 12.0, 24.0)  # dac_24khz with 2/4/8/16/32 codebooks

    def __init__(self, bitrate: Optional[float] = None, device: str = "cpu", model: str = DEFAULT_MODEL,
                 model_dir: Optional[str] = None, weights: Optional[str] = None,
                 chunk_seconds: Optional[float] = DEFAULT_CHUNK_SECONDS) -> None:
        super().__init__(bitrate, device, _model_name(model), model_dir, weights, chunk_seconds)
        self.sample_rate, self.hop_length, self.n_codebooks = MODELS[self.model_name]
        self.codebook_size = 1024
        config = self._config()
        if config is not None:  # the folder's config is the truth (also for custom models)
            self.sample_rate = int(config.sampling_rate)
            self.hop_length = int(np.prod(config.downsampling_ratios))
            self.n_codebooks = int(config.n_codebooks)
            self.codebook_size = int(config.codebook_size)
        per_codebook = np.log2(self.codebook_size) * self.sample_rate / self.hop_length / 1000.0
        self.allowed_bitrates = tuple(float(n * per_codebook) for n in range(1, self.n_codebooks + 1))
        if bitrate is None:
            self.n_q = self.n_codebooks
        else:
            distance = [abs(float(bitrate) - b) for b in self.allowed_bitrates]
            best = int(np.argmin(distance))
            if distance[best] > 0.01:
                raise ValueError(f"dac ({self.model_name}): bitrate {float(bitrate):g} kbps not supported; "
                                 f"allowed: {', '.join(f'{b:.4g}' for b in self.allowed_bitrates)}")
            self.n_q = best + 1
        self.bitrate = self.allowed_bitrates[self.n_q - 1]

    # -- availability and identity ----------------------------------------------------------------
    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "model": self.model_name, "n_q": self.n_q,
                "sample_rate": self.sample_rate, "weights": self._weights_digest()}

    # -- pieces of the batched encode / decode (TorchCodec) -------------------------------------------
    def _frame_samples(self) -> int:
        return self.hop_length

    def _codebook_size(self) -> int:
        return self.codebook_size

    def _encode_bucket(self, length: int) -> tuple[int, int]:
        padded = -(-length // self.hop_length) * self.hop_length
        return padded, padded   # zero-padded to whole frames like the official DAC.preprocess

    def _encode_tensor(self, model: Any, audio: Any) -> Any:
        out = model.encode(audio, n_quantizers=self.n_q, return_dict=True)   # [B, 1, T]
        return out.audio_codes[:, : self.n_q]   # [B, n_q, frames]

    def _decode_tensor(self, model: Any, codes: Any) -> Any:
        wav = model.decode(audio_codes=codes, return_dict=True).audio_values
        return wav.reshape(codes.shape[0], 1, -1)   # [B, 1, T']
