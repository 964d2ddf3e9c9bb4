"""Complex-valued RVQ-VAE (EuleroDec-style) through our :mod:`complex_rvqvae` implementation.

No public weights exist: give ``checkpoint`` (``export/complex_rvqvae.pt`` or a trainer state
written by ``python -m complex_rvqvae.train``); ``config`` (YAML path or bundled name ``48k``,
``24k``, ``tiny``) is needed only when the checkpoint stores no settings. One model serves every
bitrate that is a whole number of RVQ stages: 90.909 latent frames/s x 11 bits = 1 kbps per stage,
so 6 and 12 kbps = 6 and 12 stages of the same checkpoint; other bitrates are rejected with the
allowed list. The decoder output (whole frames) is cut to the input length, so the measured
bitrate is ``ceil(T / 528) * n_stages * 11 / duration`` at 48 kHz.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np

from codecbench.codecs._torch import TorchCodec, codes_payload, fit_length
from codecbench.codecs.base import CodecError, Payload, file_digest


class ComplexRVQVAEAdapter(TorchCodec):
    """Complex RVQ-VAE. Options: ``checkpoint`` (required to run), ``config``."""

    name = "complex_rvqvae"
    description = "complex-valued RVQ-VAE on the complex STFT (EuleroDec-style; own implementation, needs a checkpoint)"
    sample_rates = (48000, 24000, 16000)
    default_bitrates = (6.0, 12.0)
    audio_error = "{name}: expected mono float32 [1, T>0] audio, got shape {shape}"

    def __init__(self, bitrate: Optional[float] = None, device: str = "cpu", checkpoint: Optional[str] = None,
                 config: Optional[str] = None) -> None:
        from complex_rvqvae.checkpoint import stored_model_config
        from complex_rvqvae.config import load_config

        super().__init__(bitrate, device)
        self.checkpoint = Path(checkpoint) if checkpoint else None
        self.config = config
        try:
            cfg = None
            if config is not None:
                cfg = load_config(config)[0]
            elif self.checkpoint is not None and self.checkpoint.is_file():
                cfg = stored_model_config(self.checkpoint)
            self.cfg = cfg if cfg is not None else load_config("48k")[0]
            self.n_stages = self.cfg.stages_for(max(self.cfg.bitrates) if bitrate is None else float(bitrate))
        except (ValueError, FileNotFoundError) as exc:
            raise ValueError(f"complex_rvqvae: {exc}") from None
        self.bitrate = self.n_stages * self.cfg.kbps_per_stage
        self.sample_rate = self.cfg.sample_rate

    def _missing_reason(self) -> Optional[str]:
        if self.checkpoint is None:
            return ("complex_rvqvae: no weights given (none are public); set `checkpoint:` to a file "
                    "written by `python -m complex_rvqvae.train`")
        if not self.checkpoint.is_file():
            return (f"complex_rvqvae: checkpoint {self.checkpoint} does not exist; train one with "
                    "`codecbench train complex_rvqvae` or fix checkpoint:")
        return None

    def _compute_digest(self) -> Optional[str]:
        if self.unavailable_reason() is not None:
            return None
        assert self.checkpoint is not None
        return file_digest(self.checkpoint)

    def identity(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {**super().identity(), "config": asdict(self.cfg), "n_stages": self.n_stages,
                "weights": self._weights_digest()}

    def _build_model(self) -> Any:
        from complex_rvqvae.checkpoint import load_model

        try:
            return load_model(self.checkpoint, self.config, self.device)  # type: ignore[arg-type]
        except ValueError as exc:
            raise CodecError(str(exc)) from None

    def encode(self, audio: np.ndarray, item: Optional[Any] = None) -> Payload:
        audio = self._checked_audio(audio)
        model = self._load()
        codes = model.encode(self._tensor(audio), self.n_stages)  # [1, n_stages, N']
        return codes_payload(codes[0], self.cfg.codebook_size, audio.shape[1])

    def decode(self, payload: Payload) -> np.ndarray:
        codes = self._payload_codes(payload)  # [n_stages, N']
        model = self._load()
        return fit_length(model.decode(codes[None]).float().cpu().numpy(), payload.num_samples)  # [1, T]
