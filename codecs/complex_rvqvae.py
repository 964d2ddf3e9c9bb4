"""Complex-valued RVQ-VAE (EuleroDec-style) through our :mod:`complex_rvqvae` implementation.

No public weights exist: give ``checkpoint`` (``export/complex_rvqvae.pt`` or a trainer state
written by ``python -m complex_rvqvae.train``); ``config`` (YAML path or bundled name ``48k``,
``24k``, ``tiny``) is needed only when the checkpoint stores no settings. One model serves every
bitrate that is a whole number of RVQ stages: 90.909 latent frames/s x 11 bits = 1 kbps per stage,
so 6 and 12 kbps = 6 and 12 stages of the same checkpoint; other bitrates are rejected with the
allowed list. The decoder output (whole frames) is cut to the input length, so the measured
bitrate is ``ceil(T / 528) * n_stages * 11 / duration`` at 48 kHz.

Batches and chunks (option ``chunk_seconds``, default 30 s, 0 disables; see
:class:`~codecbench.codecs._torch.TorchCodec`): inputs longer than ``chunk_seconds`` are cut hard
into chunks of whole latent frames, coded separately and concatenated (the frame count, hence the
measured bitrate, is unchanged: ``ceil`` over whole-frame chunks adds up). The model zero-pads
its input to whole frames, so ``encode_batch`` shares a forward pass between segments with the
same padded length (exactly what each would see alone); decoding batches equal frame counts.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional


from codecbench.codecs._segments import DEFAULT_CHUNK_SECONDS
from codecbench.codecs._torch import TorchCodec
from codecbench.codecs.base import CodecError, file_digest

if TYPE_CHECKING:  # torch and the model load only when the adapter runs
    import torch

    from complex_rvqvae.model import ComplexRVQVAE


class ComplexRVQVAEAdapter(TorchCodec["ComplexRVQVAE"]):
    """Complex RVQ-VAE. Options: ``checkpoint`` (required to run), ``config``, ``chunk_seconds``."""

    name = "complex_rvqvae"
    description = "complex-valued RVQ-VAE on the complex STFT (EuleroDec-style; own implementation, needs a checkpoint)"
    sample_rates = (48000, 24000, 16000)
    default_bitrates = (6.0, 12.0)
    audio_error = "{name}: expected mono float32 [1, T>0] audio, got shape {shape}"

    def __init__(self, bitrate: Optional[float] = None, device: str = "cpu", checkpoint: Optional[str] = None,
                 config: Optional[str] = None, chunk_seconds: Optional[float] = DEFAULT_CHUNK_SECONDS) -> None:
        from complex_rvqvae.checkpoint import stored_model_config
        from complex_rvqvae.config import load_config

        super().__init__(bitrate, device, chunk_seconds)
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

    def _build_model(self) -> "ComplexRVQVAE":
        from complex_rvqvae.checkpoint import load_model

        try:
            return load_model(self.checkpoint, self.config, self.device)  # type: ignore[arg-type]
        except ValueError as exc:
            raise CodecError(str(exc)) from None

    # -- pieces of the batched encode / decode (TorchCodec) -------------------------------------------
    def _frame_samples(self) -> int:
        return self.cfg.samples_per_frame

    def _codebook_size(self) -> int:
        return self.cfg.codebook_size

    def _encode_bucket(self, length: int) -> tuple[int, int]:
        padded = -(-length // self.cfg.samples_per_frame) * self.cfg.samples_per_frame
        return padded, padded   # the model zero-pads to whole frames itself

    def _encode_tensor(self, model: "ComplexRVQVAE", audio: torch.Tensor) -> torch.Tensor:
        return model.encode(audio[:, 0], self.n_stages)   # [B, 1, T] -> [B, n_stages, N']

    def _decode_tensor(self, model: "ComplexRVQVAE", codes: torch.Tensor) -> torch.Tensor:
        return model.decode(codes).unsqueeze(1)   # [B, n_stages, N'] -> [B, 1, N' * samples_per_frame]
