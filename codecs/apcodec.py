"""APCodec / APCodec+ / APCodec-S through our :mod:`apcodec` implementation.

No official 48 kHz weights are public: give either ``checkpoint`` (our single-file export
``export/apcodec_XXXXXXXX.pt``, or a trainer state ``checkpoints/state_XXXXXXXX.pt``, both written
by ``codecbench train apcodec``; of a state only the generator weights are read) or the official
pair ``encoder`` + ``decoder`` (``encoder_XXXXXXXX`` / ``decoder_XXXXXXXX``). ``config`` is a YAML
path, a bundled config name (``48k_6kbps``, ``apcodec_plus_48k_4.5kbps``, ``apcodec_s_48k_6kbps``,
...) or the official repository's ``config.json`` as it is (its training-only keys are ignored
with a logged note); with only a ``checkpoint`` the config stored in it is used. The declared bitrate picks how many codebooks
are sent (150 frames/s x 10 bits at 48 kHz: 1.5 kbps per codebook, so 3 / 4.5 / 6 kbps = 2 / 3 /
4 codebooks); bitrates that no codebook count gives are rejected with the allowed list.
The decoder output (whole frames) is cut to the input length, so the measured bitrate is
``frames * n_q * 10 / duration``.

Batches and chunks (option ``chunk_seconds``, default 30 s, 0 disables; see
:class:`~codecbench.codecs._torch.TorchCodec`): inputs longer than ``chunk_seconds`` are cut hard
into chunks of whole latent frames (320 samples at 48 kHz), coded separately and concatenated.
The centred (official) STFT gives ``T // hop + 1`` STFT frames, i.e. ``T / 320 + 1`` latent frames
for whole-frame input, so each extra chunk costs one more latent frame (about 0.02 % more bits
at 30 s chunks; still counted exactly). The centred STFT reflect-pads at the true end of the
signal, so zero padding would change the last codes: ``encode_batch`` shares a forward pass only
between segments of exactly equal length (all full chunks of long files; equal-length items).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional


from codecbench.codecs._segments import DEFAULT_CHUNK_SECONDS
from codecbench.codecs._torch import TorchCodec
from codecbench.codecs.base import CodecError, file_digest

if TYPE_CHECKING:  # torch and the model load only when the adapter runs
    import torch

    from apcodec.model import APCodec


class APCodecAdapter(TorchCodec["APCodec"]):
    """APCodec family. Options: ``config``, ``checkpoint`` | (``encoder`` + ``decoder``), ``chunk_seconds``."""

    name = "apcodec"
    description = "APCodec / APCodec+ / APCodec-S (own implementation; needs a checkpoint)"
    sample_rates = (48000, 24000, 16000)
    default_bitrates = (3.0, 4.5, 6.0, 12.0)
    audio_error = "{name}: expected mono float32 [1, T>0] audio, got shape {shape}"

    def __init__(self, bitrate: Optional[float] = None, device: str = "cpu", config: Optional[str] = None,
                 checkpoint: Optional[str] = None, encoder: Optional[str] = None,
                 decoder: Optional[str] = None, chunk_seconds: Optional[float] = DEFAULT_CHUNK_SECONDS) -> None:
        from apcodec.config import ConfigError, ModelConfig, load_config

        super().__init__(bitrate, device, chunk_seconds)
        if checkpoint and (encoder or decoder):
            raise CodecError("apcodec: give either `checkpoint:` or `encoder:` + `decoder:`, not both")
        if bool(encoder) != bool(decoder):
            raise CodecError("apcodec: official weights need both `encoder:` and `decoder:` files")
        self.checkpoint = Path(checkpoint) if checkpoint else None
        self.encoder_path = Path(encoder) if encoder else None
        self.decoder_path = Path(decoder) if decoder else None
        cfg: Optional[ModelConfig] = None
        try:
            if config is not None:
                cfg = load_config(config).model
            elif self.checkpoint is not None and self.checkpoint.is_file():
                cfg = _stored_config(self.checkpoint)
            if cfg is None:
                cfg = load_config("48k_6kbps").model
        except ConfigError as exc:
            raise CodecError(f"apcodec option 'config': {exc}") from None
        self.cfg = cfg
        try:
            self.n_codebooks = cfg.n_codebooks if bitrate is None else cfg.codebooks_for_bitrate(float(bitrate))
        except ConfigError as exc:
            raise CodecError(f"apcodec: {exc}") from None
        self.bitrate = cfg.bitrate_for(self.n_codebooks)
        self.sample_rate = cfg.sample_rate

    @classmethod
    def check_bitrate(cls, bitrate: Optional[float], options: dict[str, Any]) -> Optional[str]:
        """Rejects a bitrate no codebook count reaches, before any work starts.

        Only the model config decides this; when the config lives inside a checkpoint the check is
        left to construction (reading weights during suite validation would be too slow).
        """
        from apcodec.config import ConfigError, load_config

        if bitrate is None or (options.get("checkpoint") and not options.get("config")):
            return None
        try:
            cfg = load_config(options.get("config") or "48k_6kbps").model
            cfg.codebooks_for_bitrate(float(bitrate))
        except ConfigError as exc:
            return f"apcodec: {exc}"
        return None

    # -- protocol hooks --------------------------------------------------------------------------
    def _files(self) -> list[Path]:
        if self.checkpoint is not None:
            return [self.checkpoint]
        return [p for p in (self.encoder_path, self.decoder_path) if p is not None]

    def _missing_reason(self) -> Optional[str]:
        files = self._files()
        if not files:
            return ("apcodec: no weights given (no public 48 kHz checkpoint exists); set `checkpoint:` "
                    "(train with `codecbench train apcodec`) or official `encoder:` + `decoder:` files")
        for path in files:
            if not path.is_file():
                return (f"apcodec: weights file {path} does not exist; train one with `codecbench train apcodec` "
                        "or point checkpoint: (or encoder:/decoder:) at existing files")
        return None

    def _compute_digest(self) -> Optional[dict[str, str]]:
        if self.unavailable_reason() is not None:
            return None
        return {p.name: file_digest(p) for p in self._files()}

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "config": self.cfg.to_dict(), "n_codebooks": self.n_codebooks,
                "weights": self._weights_digest()}

    def _build_model(self) -> "APCodec":
        from apcodec.checkpoint import CheckpointError, load_checkpoint, load_official_checkpoint

        try:
            if self.checkpoint is not None:
                model = load_checkpoint(self.checkpoint, self.cfg)
            else:
                model = load_official_checkpoint(self.cfg, self.encoder_path, self.decoder_path)
        except CheckpointError as exc:
            raise CodecError(str(exc)) from None
        return model.to(self.device).prepare_for_inference()

    # -- pieces of the batched encode / decode (TorchCodec) -------------------------------------------
    def _frame_samples(self) -> int:
        return self.cfg.samples_per_frame

    def _codebook_size(self) -> int:
        return self.cfg.codebook_size

    def _encode_tensor(self, model: "APCodec", audio: torch.Tensor) -> torch.Tensor:
        return model.encode(audio[:, 0], self.n_codebooks)   # [B, 1, T] -> [B, n_q, N']

    def _decode_tensor(self, model: "APCodec", codes: torch.Tensor) -> torch.Tensor:
        return model.decode(codes).unsqueeze(1)   # [B, n_q, N'] -> [B, 1, T']


def _stored_config(path: Path) -> Optional[Any]:
    """The ModelConfig stored in one of our exports or trainer states (None for other files)."""
    from apcodec.checkpoint import CheckpointError, stored_config

    try:
        return stored_config(path)
    except CheckpointError as exc:
        raise CodecError(str(exc)) from None
