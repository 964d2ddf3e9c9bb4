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

from codecbench.codecs.base import Codec, CodecError, CodecUnavailable, Payload

BITRATE_PRESETS = {2.0: "16k-320d", 3.0: "24k-320d", 4.0: "24k-240d"}


class HiFiCodecAdapter(Codec):
    """HiFi-Codec. Options: ``config`` (preset ``16k-320d`` | ``24k-320d`` | ``24k-240d`` or a JSON
    path), ``checkpoint`` (or ``weights``: an AcademiCodec checkpoint file)."""

    name = "hificodec"
    description = "HiFi-Codec (AcademiCodec GRVQ), own implementation; 2 kbps @16k, 3 and 4 kbps @24k"
    sample_rates = (16000, 24000)
    default_bitrates = (2.0, 3.0, 4.0)

    def __init__(self, bitrate: Optional[float] = None, device: str = "cpu", config: Optional[str] = None,
                 checkpoint: Optional[str] = None, weights: Optional[str] = None) -> None:
        from codecbench import weights as wts
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
        self._explicit = checkpoint or weights
        self._option = "checkpoint" if checkpoint or not weights else "weights"
        self.weights_name = f"hificodec_{self.preset.replace('-', '_')}" if self.preset else None
        if self.weights_name:
            self._path = wts.resolve(self.weights_name, self._explicit)
        else:
            from pathlib import Path

            self._path = Path(self._explicit) if self._explicit and Path(self._explicit).is_file() else None
        self._model: Any = None
        self._digest: Optional[dict[str, str]] = None

    def unavailable_reason(self) -> Optional[str]:
        from codecbench import weights as wts

        if self._path is None:
            if self.weights_name:
                return wts.missing_message(self.weights_name, self._explicit, self._option)
            where = f"{self._explicit} does not exist" if self._explicit else "none given"
            return f"hificodec with a custom config needs `checkpoint:` (an AcademiCodec file); {where}"
        if self.device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                return f"hificodec: device {self.device} requested but CUDA is not available here"
        return None

    def identity(self) -> dict[str, Any]:
        from codecbench import weights as wts

        if self._digest is None and self._path is not None:
            self._digest = wts.weights_digest(self._path)
        return {**super().identity(), "config": asdict(self.config), "weights": self._digest}

    def _load(self) -> Any:
        if self._model is None:
            reason = self.unavailable_reason()
            if reason:
                raise CodecUnavailable(reason)
            from hificodec import CheckpointError, HiFiCodec

            try:
                self._model = HiFiCodec.from_checkpoint(self._path, self.config, self.device)
            except CheckpointError as exc:
                raise CodecError(str(exc)) from None
        return self._model

    def encode(self, audio: np.ndarray, item: Optional[Any] = None) -> Payload:
        import torch

        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim != 2 or audio.shape[0] != 1 or audio.shape[1] == 0:
            raise CodecError(f"hificodec: expected mono float32 [1, T>0] audio, got {audio.shape}")
        model = self._load()
        with torch.inference_mode():
            encoded = model.encode(torch.from_numpy(audio).to(self.device))   # [1, F, 4]
        codes = encoded.codes[0].t().cpu().numpy().astype(np.int32)           # [4, F]
        return Payload.from_codes(codes, self.config.n_codes, audio.shape[1])

    def decode(self, payload: Payload) -> np.ndarray:
        import torch

        model = self._load()
        assert payload.codes is not None
        codes = torch.from_numpy(np.asarray(payload.codes, dtype=np.int64)).t().unsqueeze(0).to(self.device)
        with torch.inference_mode():
            wav = model.decode(codes, payload.num_samples)[0].float().cpu().numpy()   # [1, T]
        if wav.shape[1] < payload.num_samples:  # cannot happen (frames cover the input); keep the contract
            wav = np.pad(wav, ((0, 0), (0, payload.num_samples - wav.shape[1])))
        return np.ascontiguousarray(wav, dtype=np.float32)
