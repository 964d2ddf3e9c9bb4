"""HiFi-Codec (AcademiCodec, group-residual VQ) through our own :mod:`hificodec` implementation.

One published checkpoint per operating point: ``16k-320d`` (16 kHz, 50 Hz, 2 kbps),
``24k-320d`` (24 kHz, 75 Hz, 3 kbps) and ``24k-240d`` (24 kHz, 100 Hz, 4 kbps); 4 codes of 10 bits
per frame (2 groups x 2 residual layers). The bitrate picks the config when ``config`` is not
given; ``config`` may also be the path of an official-style JSON file (then ``checkpoint`` is
required). Input is zero-padded to whole frames, so measured kbps equals the declared value for
inputs of whole frames (``T`` a multiple of the hop) and exceeds it by at most one frame otherwise;
the decoded audio is cut back to the input length.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Optional

import numpy as np

from codecbench.codecs._torch import TorchCodec, codes_payload, fit_length
from codecbench.codecs.base import CodecError, Payload

BITRATE_PRESETS = {2.0: "16k-320d", 3.0: "24k-320d", 4.0: "24k-240d"}


class HiFiCodecAdapter(TorchCodec):
    """HiFi-Codec. Options: ``config`` (preset ``16k-320d`` | ``24k-320d`` | ``24k-240d`` or a JSON
    path), ``checkpoint`` (or ``weights``: an AcademiCodec checkpoint file)."""

    name = "hificodec"
    description = "HiFi-Codec (AcademiCodec GRVQ), own implementation; 2 kbps @16k, 3 and 4 kbps @24k"
    sample_rates = (16000, 24000)
    default_bitrates = (2.0, 3.0, 4.0)

    def __init__(self, bitrate: Optional[float] = None, device: str = "cpu", config: Optional[str] = None,
                 checkpoint: Optional[str] = None, weights: Optional[str] = None) -> None:
        from hificodec import HiFiCodecConfig, HiFiCodecConfigError

        super().__init__(bitrate, device)
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

    def _build_model(self) -> Any:
        from hificodec import CheckpointError, HiFiCodec

        try:
            return HiFiCodec.from_checkpoint(self._path, self.config, self.device)
        except CheckpointError as exc:
            raise CodecError(str(exc)) from None

    def encode(self, audio: np.ndarray, item: Optional[Any] = None) -> Payload:
        import torch

        audio = self._checked_audio(audio)
        model = self._load()
        with torch.inference_mode():
            encoded = model.encode(self._tensor(audio))   # [1, F, 4]
        return codes_payload(encoded.codes[0].t(), self.config.n_codes, audio.shape[1])   # [4, F]

    def decode(self, payload: Payload) -> np.ndarray:
        import torch

        codes = self._payload_codes(payload).t().unsqueeze(0)   # [1, F, 4]
        model = self._load()
        with torch.inference_mode():
            wav = model.decode(codes, payload.num_samples)[0].float().cpu().numpy()   # [1, T]
        # the model cuts to num_samples (all of it when 0); padding cannot happen but keeps the contract
        return fit_length(wav, payload.num_samples or wav.shape[1])
