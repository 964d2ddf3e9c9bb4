"""HiFi-Codec (AcademiCodec, group-residual VQ) through our own :mod:`hificodec` implementation.

One published checkpoint per operating point: ``16k-320d`` (16 kHz, 50 Hz, 2 kbps),
``24k-320d`` (24 kHz, 75 Hz, 3 kbps) and ``24k-240d`` (24 kHz, 100 Hz, 4 kbps); 4 codes of 10 bits
per frame (2 groups x 2 residual layers). The bitrate picks the config when ``config`` is not
given; ``config`` may also be the path of an official-style JSON file (then ``checkpoint`` is
required). Input is zero-padded to whole frames, so measured kbps equals the declared value for
inputs of whole frames (``T`` a multiple of the hop) and exceeds it by at most one frame otherwise;
the decoded audio is cut back to the input length.

Batches and chunks (option ``chunk_seconds``, default 30 s, 0 disables; see
:class:`~codecbench.codecs._torch.TorchCodec`): inputs longer than ``chunk_seconds`` are cut hard
into chunks of whole frames, coded separately and concatenated (frame count and measured bitrate
unchanged). The model zero-pads to whole frames, so ``encode_batch`` shares a forward pass between
segments with the same padded length; decoding batches equal frame counts.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any, Optional


from codecbench.codecs._segments import DEFAULT_CHUNK_SECONDS
from codecbench.codecs._torch import TorchCodec
from codecbench.codecs.base import CodecError

if TYPE_CHECKING:  # torch and the model load only when the adapter runs
    import torch

    from hificodec.model import HiFiCodec

BITRATE_PRESETS = {2.0: "16k-320d", 3.0: "24k-320d", 4.0: "24k-240d"}


class HiFiCodecAdapter(TorchCodec["HiFiCodec"]):
    """HiFi-Codec. Options: ``config`` (preset ``16k-320d`` | ``24k-320d`` | ``24k-240d`` or a JSON
    path), ``checkpoint`` (or ``weights``: an AcademiCodec checkpoint file), ``chunk_seconds``."""

    name = "hificodec"
    description = "HiFi-Codec (AcademiCodec GRVQ), own implementation; 2 kbps @16k, 3 and 4 kbps @24k"
    sample_rates = (16000, 24000)
    default_bitrates = (2.0, 3.0, 4.0)

    def __init__(self, bitrate: Optional[float] = None, device: str = "cpu", config: Optional[str] = None,
                 checkpoint: Optional[str] = None, weights: Optional[str] = None,
                 chunk_seconds: Optional[float] = DEFAULT_CHUNK_SECONDS) -> None:
        from hificodec import HiFiCodecConfig, HiFiCodecConfigError

        super().__init__(bitrate, device, chunk_seconds)
        allowed = ", ".join(f"{b:g} ({name})" for b, name in BITRATE_PRESETS.items())
        if config is None:
            key = 2.0 if bitrate is None else float(bitrate)
            if key not in BITRATE_PRESETS:
                raise ValueError(f"hificodec: bitrate {key:g} kbps not supported; allowed: {allowed}")
            config = BITRATE_PRESETS[key]
        try:
            self.config = HiFiCodecConfig.load(config)
        except HiFiCodecConfigError as exc:
            raise ValueError(f"hificodec option 'config': {exc}") from None
        self.preset = None if str(config).endswith(".json") else str(config).lower().removeprefix("hifi-codec-")
        declared = self.config.bitrate_kbps
        if bitrate is not None and abs(float(bitrate) - declared) > 1e-9:
            raise ValueError(f"hificodec: config {config} runs at {declared:g} kbps, not {float(bitrate):g}; "
                             f"allowed: {allowed}")
        self.bitrate = declared
        self.sample_rate = self.config.sampling_rate
        self.weights_name = f"hificodec_{self.preset.replace('-', '_')}" if self.preset else None
        self._resolve_weights(self.weights_name, "checkpoint", checkpoint, weights)

    def _missing_reason(self) -> Optional[str]:
        if self._path is None and not self.weights_name:
            where = f"{self._explicit} does not exist" if self._explicit else "none given"
            return f"hificodec with a custom config needs `checkpoint:` (an AcademiCodec file); {where}"
        return super()._missing_reason()

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "config": asdict(self.config), "weights": self._weights_digest()}

    def _build_model(self) -> "HiFiCodec":
        from hificodec import CheckpointError, HiFiCodec

        try:
            return HiFiCodec.from_checkpoint(self._path, self.config, self.device)
        except CheckpointError as exc:
            raise CodecError(str(exc)) from None

    # -- pieces of the batched encode / decode (TorchCodec) -------------------------------------------
    def _frame_samples(self) -> int:
        return self.config.hop_length

    def _codebook_size(self) -> int:
        return self.config.n_codes

    def _encode_bucket(self, length: int) -> tuple[int, int]:
        padded = -(-length // self.config.hop_length) * self.config.hop_length
        return padded, padded   # the model zero-pads to whole frames itself

    def _encode_tensor(self, model: "HiFiCodec", audio: torch.Tensor) -> torch.Tensor:
        return model.encode(audio).codes.transpose(1, 2)   # [B, 1, T] -> [B, F, 4] -> [B, 4, F]

    def _decode_tensor(self, model: "HiFiCodec", codes: torch.Tensor) -> torch.Tensor:
        return model.decode(codes.transpose(1, 2))   # [B, 4, F] -> [B, 1, F * hop]
