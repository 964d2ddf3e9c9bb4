"""Typed configuration of the AcademiCodec HiFi-Codec (encoder, GRVQ, HiFi-GAN generator).

The official code passes a JSON dict (``config_16k_320d.json`` and friends) everywhere. Here that
JSON is read once (:mod:`codecbench.configfile`, ``file:line`` errors) into a frozen dataclass,
validated, and only the inference-relevant keys are kept; the official training keys
(:data:`TRAINING_KEYS`: batch size, learning rate, mel settings, ...) are ignored and any other
key is an error with a did-you-mean. Widths that the
official code hard-codes (latent 512, encoder base width 32, 16 channels per GroupNorm group) are
fields with the official defaults, so shrunk test variants load from the same JSON format.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Union

from codecbench.configfile import Locator, bind, check_keys, parse_json
from codecbench.errors import ConfigError


class HiFiCodecConfigError(ConfigError):
    """An unusable HiFi-Codec config. The message is one line naming the file/key and the fix."""


#: Keys of the official ``config_*.json`` that only the official training scripts read.
TRAINING_KEYS = frozenset({"num_gpus", "batch_size", "learning_rate", "adam_b1", "adam_b2", "lr_decay", "seed",
                           "segment_size", "num_mels", "num_freq", "n_fft", "hop_size", "win_size", "fmin", "fmax",
                           "fmax_for_loss", "num_workers", "dist_config", "_note"})


@dataclass(frozen=True)
class HiFiCodecConfig:
    """Architecture of one HiFi-Codec model.

    Attributes:
        sampling_rate: audio rate in Hz.
        upsample_rates: generator upsampling strides; the encoder uses them reversed as strides.
        upsample_kernel_sizes: generator transposed-conv kernels (encoder: reversed).
        upsample_initial_channel: generator width after ``conv_pre``.
        resblock: ``"1"`` (HiFi-GAN ResBlock1, three dilated pairs) or ``"2"``.
        resblock_kernel_sizes: MRF kernels (encoder uses them reversed).
        resblock_dilation_sizes: MRF dilations per kernel.
        n_code_groups: GRVQ groups (the latent is split into this many equal slices).
        n_codes: entries per codebook.
        n_residual_layers: residual layers per group (official: 2).
        latent_dim: encoder output / generator input channels (official: 512).
        encoder_base_channels: width of the encoder's first conv (official: 32).
        groupnorm_channels: channels per GroupNorm group in the encoder (official: 16).
        codebook_loss_lambda: weight of the codebook loss (training only).
        commitment_loss_lambda: weight of the commitment loss (training only).
    """

    sampling_rate: int = 16000
    upsample_rates: tuple[int, ...] = (8, 5, 4, 2)
    upsample_kernel_sizes: tuple[int, ...] = (16, 11, 8, 4)
    upsample_initial_channel: int = 512
    resblock: str = "1"
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    n_code_groups: int = 2
    n_codes: int = 1024
    n_residual_layers: int = 2
    latent_dim: int = 512
    encoder_base_channels: int = 32
    groupnorm_channels: int = 16
    codebook_loss_lambda: float = 1.0
    commitment_loss_lambda: float = 0.25

    def __post_init__(self) -> None:
        def bad(key: str, why: str) -> HiFiCodecConfigError:
            return HiFiCodecConfigError(f"HiFi-Codec config key '{key}': {why}")

        if len(self.upsample_rates) != len(self.upsample_kernel_sizes) or not self.upsample_rates:
            raise bad("upsample_kernel_sizes", "needs one kernel per entry of upsample_rates")
        for rate, kernel in zip(self.upsample_rates, self.upsample_kernel_sizes):
            if rate < 1 or kernel < rate:
                raise bad("upsample_kernel_sizes", f"kernel {kernel} must be >= its rate {rate} >= 1")
        if len(self.resblock_kernel_sizes) != len(self.resblock_dilation_sizes):
            raise bad("resblock_dilation_sizes", "needs one dilation list per resblock kernel size")
        if self.resblock not in ("1", "2"):
            raise bad("resblock", f"must be '1' or '2', got {self.resblock!r}")
        if self.latent_dim % self.n_code_groups:
            raise bad("n_code_groups", f"must divide latent_dim {self.latent_dim}")
        if self.n_codes < 2 or self.n_residual_layers < 1:
            raise bad("n_codes", "need n_codes >= 2 and n_residual_layers >= 1")
        top = self.encoder_base_channels * 2 ** len(self.upsample_rates)
        if top != self.latent_dim:
            raise bad("latent_dim", f"must equal encoder_base_channels * 2**len(upsample_rates) = {top}")
        if self.encoder_base_channels * 2 % self.groupnorm_channels:
            raise bad("groupnorm_channels", "must divide every encoder width")
        if self.upsample_initial_channel % 2 ** len(self.upsample_rates):
            raise bad("upsample_initial_channel", "must be divisible by 2**len(upsample_rates)")

    # -- derived quantities -------------------------------------------------------------------
    @property
    def hop_length(self) -> int:
        """Audio samples per latent frame."""
        return math.prod(self.upsample_rates)

    @property
    def frame_rate(self) -> float:
        """Latent frames per second."""
        return self.sampling_rate / self.hop_length

    @property
    def n_codebooks(self) -> int:
        """Codes per frame: groups x residual layers."""
        return self.n_code_groups * self.n_residual_layers

    @property
    def bitrate_kbps(self) -> float:
        """Bitrate of the code stream in kbps."""
        return self.frame_rate * self.n_codebooks * math.log2(self.n_codes) / 1000.0

    # -- loading ------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any], source: Union[str, Locator] = "<dict>") -> "HiFiCodecConfig":
        """Build from an official-style JSON dict; the official training keys are ignored.

        Any other unknown key is a located error with a did-you-mean (a misspelt width would
        otherwise fall back to its default silently).
        """
        locate = source if isinstance(source, Locator) else Locator(str(source), {}, HiFiCodecConfigError)
        if not isinstance(data, dict):
            raise locate((), "expected a JSON object of config keys")
        known = [f.name for f in fields(cls)]
        check_keys(data, known + sorted(TRAINING_KEYS), (), locate, note=" (HiFi-Codec config.json keys)")
        return bind(cls, {k: v for k, v in data.items() if k in known}, (), locate)

    @classmethod
    def from_json(cls, path: Union[str, Path]) -> "HiFiCodecConfig":
        """Read an official-style ``config_*.json`` file."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise HiFiCodecConfigError(f"{path}: config file not found; pass a preset name "
                                       f"({', '.join(PRESETS)}) or an existing JSON path") from None
        data, lines = parse_json(text, str(path), HiFiCodecConfigError)
        return cls.from_dict(data, Locator(str(path), lines, HiFiCodecConfigError))

    @classmethod
    def preset(cls, name: str) -> "HiFiCodecConfig":
        """One of the published configurations: ``16k-320d``, ``24k-320d``, ``24k-240d``."""
        key = name.lower().removeprefix("hifi-codec-").removeprefix("hificodec_").replace("_", "-")
        if key not in PRESETS:
            raise HiFiCodecConfigError(f"unknown HiFi-Codec preset '{name}'; choose one of {', '.join(PRESETS)}")
        return PRESETS[key]

    @classmethod
    def load(cls, name_or_path: Union[str, Path]) -> "HiFiCodecConfig":
        """A preset name or the path of an official-style JSON file."""
        text = str(name_or_path)
        if text.endswith(".json") or Path(text).is_file():
            return cls.from_json(text)
        return cls.preset(text)


# The published configurations (egs/HiFi-Codec-*/config_*.json of AcademiCodec).
PRESETS: dict[str, HiFiCodecConfig] = {
    "16k-320d": HiFiCodecConfig(sampling_rate=16000),
    "24k-320d": HiFiCodecConfig(sampling_rate=24000),
    "24k-240d": HiFiCodecConfig(sampling_rate=24000, upsample_rates=(8, 5, 3, 2),
                                upsample_kernel_sizes=(16, 11, 7, 4)),
}
