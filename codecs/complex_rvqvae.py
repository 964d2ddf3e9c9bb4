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

from codecbench.codecs.base import Codec, CodecError, CodecUnavailable, Payload, file_digest


class ComplexRVQVAEAdapter(Codec):
    """Complex RVQ-VAE. Options: ``checkpoint`` (required to run), ``config``."""

    name = "complex_rvqvae"
    description = "complex-valued RVQ-VAE on the complex STFT (EuleroDec-style; own implementation, needs a checkpoint)"
    sample_rates = (48000, 24000, 16000)
    default_bitrates = (6.0, 12.0)

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
        self._model: Any = None
        self._digest: Optional[str] = None

    def unavailable_reason(self) -> Optional[str]:
        if self.checkpoint is None:
            return ("complex_rvqvae: no weights given (none are public); set `checkpoint:` to a file "
                    "written by `python -m complex_rvqvae.train`")
        if not self.checkpoint.is_file():
            return (f"complex_rvqvae: checkpoint {self.checkpoint} does not exist; train one with "
                    "`codecbench train complex_rvqvae` or fix checkpoint:")
        if self.device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                return f"complex_rvqvae: device {self.device} requested but CUDA is not available here"
        return None

    def identity(self) -> dict[str, Any]:
        from dataclasses import asdict

        if self._digest is None and self.unavailable_reason() is None:
            assert self.checkpoint is not None
            self._digest = file_digest(self.checkpoint)
        return {**super().identity(), "config": asdict(self.cfg), "n_stages": self.n_stages, "weights": self._digest}

    def _load(self) -> Any:
        if self._model is None:
            reason = self.unavailable_reason()
            if reason:
                raise CodecUnavailable(reason)
            from complex_rvqvae.checkpoint import load_model

            try:
                self._model = load_model(self.checkpoint, self.config, self.device)  # type: ignore[arg-type]
            except ValueError as exc:
                raise CodecError(str(exc)) from None
        return self._model

    def encode(self, audio: np.ndarray, item: Optional[Any] = None) -> Payload:
        import torch

        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim != 2 or audio.shape[0] != 1 or audio.shape[1] == 0:
            raise CodecError(f"complex_rvqvae: expected mono float32 [1, T>0] audio, got shape {audio.shape}")
        model = self._load()
        codes = model.encode(torch.from_numpy(audio).to(self.device), self.n_stages)  # [1, n_stages, N']
        return Payload.from_codes(codes[0].cpu().numpy().astype(np.int32), self.cfg.codebook_size, audio.shape[1])

    def decode(self, payload: Payload) -> np.ndarray:
        import torch

        if payload.codes is None:
            raise CodecError("complex_rvqvae: payload carries no codes")
        model = self._load()
        codes = torch.from_numpy(np.asarray(payload.codes, dtype=np.int64))[None].to(self.device)
        wav = model.decode(codes)[:, : payload.num_samples].float().cpu().numpy()  # [1, T]
        if wav.shape[1] < payload.num_samples:
            wav = np.pad(wav, ((0, 0), (0, payload.num_samples - wav.shape[1])))
        return np.ascontiguousarray(wav, dtype=np.float32)
