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
"""

from __future__ import annotations

import functools
from typing import Any, Optional

import numpy as np

from codecbench.codecs.base import Codec, CodecError, CodecUnavailable, Payload

# name -> (sample rate, hop, codebooks) of the published models (used until a config is read)
MODELS = {"dac_16khz": (16000, 320, 12), "dac_24khz": (24000, 320, 32), "dac_44khz": (44100, 512, 9)}
DEFAULT_MODEL = "dac_24khz"


def _model_name(model: str) -> str:
    key = model.lower().replace("-", "_").replace("44.1khz", "44khz")
    key = key if key.startswith("dac_") else f"dac_{key}"
    if key not in MODELS:
        raise ValueError(f"dac option 'model': unknown '{model}'; choose one of {', '.join(MODELS)}")
    return key


class DacAdapter(Codec):
    """DAC with ``n_q`` codebooks. Options: ``model`` (``dac_16khz`` | ``dac_24khz`` | ``dac_44khz``),
    ``model_dir`` (or ``weights``: a local transformers folder). Without a bitrate all codebooks
    are used."""

    name = "dac"
    description = ("DAC via transformers; kbps = n_codebooks x 10 bits x frame rate: 24 kHz 0.75-24 "
                   "(default), 16 kHz 0.5-6, 44.1 kHz 0.861-7.75 (option model)")
    sample_rates = (16000, 24000, 44100)
    default_bitrates = (1.5, 3.0, 6.0, 12.0, 24.0)  # dac_24khz with 2/4/8/16/32 codebooks

    def __init__(self, bitrate: Optional[float] = None, device: str = "cpu", model: str = DEFAULT_MODEL,
                 model_dir: Optional[str] = None, weights: Optional[str] = None) -> None:
        from codecbench import weights as wts

        super().__init__(bitrate, device)
        self.model_name = _model_name(model)
        self._explicit = model_dir or weights
        self._option = "model_dir" if model_dir or not weights else "weights"
        self._path = wts.resolve(self.model_name, self._explicit)
        self._model: Any = None
        self._digest: Optional[dict[str, str]] = None
        self.sample_rate, self.hop_length, self.n_codebooks = MODELS[self.model_name]
        self.codebook_size = 1024
        config = _read_config(self._path) if self._path is not None else None
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
    def unavailable_reason(self) -> Optional[str]:
        from codecbench import weights as wts

        try:
            import transformers  # noqa: F401
        except ImportError:
            return "dac needs transformers; pip install 'codecbench[neural]'"
        if self._path is None:
            return wts.missing_message(self.model_name, self._explicit, self._option)
        if self.device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                return f"dac: device {self.device} requested but CUDA is not available here"
        return None

    def identity(self) -> dict[str, Any]:
        from codecbench import weights as wts

        if self._digest is None and self._path is not None:
            self._digest = wts.weights_digest(self._path)
        return {**super().identity(), "model": self.model_name, "n_q": self.n_q,
                "sample_rate": self.sample_rate, "weights": self._digest}

    def _load(self) -> Any:
        if self._model is None:
            reason = self.unavailable_reason()
            if reason:
                raise CodecUnavailable(reason)
            self._model = _load_model(str(self._path), self.device, _stamp(self._path))
        return self._model

    # -- protocol -------------------------------------------------------------------------------------
    def encode(self, audio: np.ndarray, item: Optional[Any] = None) -> Payload:
        import torch

        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim != 2 or audio.shape[0] != 1 or audio.shape[1] == 0:
            raise CodecError(f"dac: expected mono float32 [1, T>0] audio, got {audio.shape}")
        model = self._load()
        length = audio.shape[1]
        padded = np.pad(audio, ((0, 0), (0, (-length) % self.hop_length)))
        with torch.inference_mode():
            x = torch.from_numpy(padded).unsqueeze(0).to(self.device)   # [1, 1, T]
            out = model.encode(x, n_quantizers=self.n_q, return_dict=True)
        codes = out.audio_codes[0, : self.n_q].cpu().numpy().astype(np.int32)  # [n_q, frames]
        return Payload.from_codes(codes, self.codebook_size, length)

    def decode(self, payload: Payload) -> np.ndarray:
        import torch

        model = self._load()
        assert payload.codes is not None
        codes = torch.from_numpy(np.asarray(payload.codes, dtype=np.int64)).unsqueeze(0).to(self.device)
        with torch.inference_mode():
            wav = model.decode(audio_codes=codes, return_dict=True).audio_values
        wav = wav.reshape(1, -1).float().cpu().numpy()
        if wav.shape[1] >= payload.num_samples:
            wav = wav[:, : payload.num_samples]
        else:
            wav = np.pad(wav, ((0, 0), (0, payload.num_samples - wav.shape[1])))
        return np.ascontiguousarray(wav, dtype=np.float32)


@functools.lru_cache(maxsize=3)
def _load_model(path: str, device: str, stamp: float) -> Any:
    """One loaded model per (folder, device, weights mtime): a bitrate sweep builds one adapter
    per bitrate, and they all share the model instead of re-reading it."""
    from transformers import DacModel

    return DacModel.from_pretrained(path).to(device).eval()


def _stamp(path: Any) -> float:
    from codecbench.weights import TRANSFORMERS_WEIGHT_FILES

    return max((path / name).stat().st_mtime for name in ("config.json", *TRANSFORMERS_WEIGHT_FILES)
               if (path / name).is_file())


def _read_config(path: Any) -> Any:
    """The folder's ``DacConfig``, or None without transformers (``unavailable_reason`` says so)."""
    try:
        from transformers import DacConfig
    except ImportError:
        return None
    return DacConfig.from_pretrained(path)
