"""Typed model and loss settings of the complex RVQ-VAE, read from YAML (``model:`` / ``loss:``).

The model package itself takes these dataclasses; YAML parsing (``base:`` includes, ``file:line``
errors, did-you-mean) is :mod:`codecbench.configfile`'s, as for suites, so the network code never
sees raw dicts. Cross-field rules (frequency axis divisible by 2^stages,
frame rate) are checked in ``__post_init__``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Union

from codecbench.configfile import ConfigSource, Locator, bind, check_keys, read_config
from codecbench.errors import ConfigError
from codecbench.training.config import TrainConfig

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of the complex RVQ-VAE.

    Attributes:
        sample_rate: audio rate in Hz.
        n_fft, hop: STFT size and hop (samples); ``n_fft / 2`` bins are modelled.
        compress: magnitude compression exponent of the input/output spectra (phase kept).
        channels: complex widths of the stem and after each of the 4 downsampling stages (5 values).
        time_strides: time downsampling of each stage (1 or 2); frequency always halves.
        dilations: time dilations of the residual blocks run before each downsampling stage.
        activation: ``modrelu`` or ``cardioid``.
        attention_blocks, attention_heads: axial attention blocks at the bottleneck (encoder and
            decoder each) and their heads.
        attention_window: time attention reaches +-this many latent frames (0 = whole segment).
        latent_dim: complex width ``D`` of the quantised latent (codebooks hold ``2D`` reals).
        codebook_size: entries per codebook (2048 = 11 bits).
        n_stages: residual VQ stages (maximum bitrate = n_stages * per-stage rate).
        ema_decay, dead_threshold: EMA codebook decay; EMA usage below which a code is revived.
        quantizer_dropout: probability that a training item uses fewer stages.
        dropout_stages: stage counts drawn then (empty = 1..n_stages).
        bitrates: operating points (kbps) the adapter advertises; each must be a whole number
            of stages.
    """

    sample_rate: int = 48000
    n_fft: int = 512
    hop: int = 132
    compress: float = 0.3
    channels: tuple[int, ...] = (16, 32, 64, 128, 256)
    time_strides: tuple[int, ...] = (2, 2, 1, 1)
    dilations: tuple[int, ...] = (1, 3, 9)
    activation: str = "modrelu"
    attention_blocks: int = 2
    attention_heads: int = 4
    attention_window: int = 32
    latent_dim: int = 64
    codebook_size: int = 2048
    n_stages: int = 12
    ema_decay: float = 0.99
    dead_threshold: float = 0.02
    quantizer_dropout: float = 0.5
    dropout_stages: tuple[int, ...] = ()
    bitrates: tuple[float, ...] = (6.0, 12.0)

    def __post_init__(self) -> None:
        if len(self.channels) != 5 or len(self.time_strides) != 4:
            raise ConfigError("model.channels needs 5 widths and model.time_strides 4 strides (four stages)")
        if (self.n_fft // 2) % 16:
            raise ConfigError(f"model.n_fft / 2 must be divisible by 16 (four frequency halvings), got {self.n_fft}")
        if self.activation not in ("modrelu", "cardioid"):
            raise ConfigError(f"model.activation must be 'modrelu' or 'cardioid', got {self.activation!r}")
        if not 0.0 < self.compress <= 1.0:
            raise ConfigError(f"model.compress must be in (0, 1], got {self.compress}")
        if any(s not in (1, 2) for s in self.time_strides):
            raise ConfigError(f"model.time_strides must be 1 or 2, got {self.time_strides}")
        if self.channels[-1] % self.attention_heads:
            raise ConfigError("model.channels[-1] must be divisible by model.attention_heads")
        if any(not 1 <= s <= self.n_stages for s in self.dropout_stages):
            raise ConfigError(f"model.dropout_stages must lie in 1..{self.n_stages}")
        for rate in self.bitrates:
            stages = rate / self.kbps_per_stage
            if abs(stages - round(stages)) > 1e-6 or not 1 <= round(stages) <= self.n_stages:
                raise ConfigError(f"model.bitrates: {rate} kbps is not a whole number of stages "
                                 f"({self.kbps_per_stage:.4f} kbps each, at most {self.n_stages})")

    @property
    def samples_per_frame(self) -> int:
        """Audio samples per latent frame (hop times the total time stride)."""
        return self.hop * math.prod(self.time_strides)

    @property
    def frame_rate(self) -> float:
        """Latent frames per second."""
        return self.sample_rate / self.samples_per_frame

    @property
    def bits_per_code(self) -> float:
        return math.log2(self.codebook_size)

    @property
    def kbps_per_stage(self) -> float:
        """Bitrate of one RVQ stage: frame_rate * log2(codebook_size) / 1000."""
        return self.frame_rate * self.bits_per_code / 1000.0

    def stages_for(self, kbps: float) -> int:
        """RVQ stages for a bitrate; a one-line error lists the allowed bitrates otherwise."""
        stages = kbps / self.kbps_per_stage
        if abs(stages - round(stages)) > 1e-6 or not 1 <= round(stages) <= self.n_stages:
            allowed = ", ".join(f"{self.kbps_per_stage * n:g}" for n in range(1, self.n_stages + 1))
            raise ConfigError(f"bitrate {kbps:g} kbps is not a whole number of RVQ stages; allowed: {allowed}")
        return int(round(stages))


@dataclass(frozen=True)
class LossConfig:
    """Weights of the reconstruction and VQ losses (no adversarial or diffusion terms).

    Attributes:
        complex: MSE between compressed complex spectra (couples magnitude and phase).
        magnitude: MSE between compressed magnitudes.
        phase: anti-wrapping instantaneous phase + group delay + instantaneous frequency
            (the shared :func:`codecbench.training.losses.phase_losses`), weighted per bin by the
            normalised compressed target magnitude when ``phase_weighted`` is set.
        mel: L1 of log-mel spectra at each of ``mel_resolutions`` ``(n_fft, hop, n_mels)``, averaged.
        commitment: ``||residual - code||^2`` (EMA codebooks need no codebook loss).
    """

    complex: float = 45.0
    magnitude: float = 45.0
    phase: float = 5.0
    phase_weighted: bool = True
    mel: float = 15.0
    commitment: float = 1.0
    mel_resolutions: tuple[tuple[int, int, int], ...] = ((512, 128, 40), (1024, 256, 80), (2048, 512, 128))

    def __post_init__(self) -> None:
        for name in ("complex", "magnitude", "phase", "mel", "commitment"):
            if getattr(self, name) < 0:
                raise ConfigError(f"loss.{name} must be >= 0, got {getattr(self, name)}")
        object.__setattr__(self, "mel_resolutions", tuple(tuple(int(v) for v in r) for r in self.mel_resolutions))
        if any(len(r) != 3 for r in self.mel_resolutions):
            raise ConfigError("loss.mel_resolutions must be a list of [n_fft, hop, n_mels]")


def model_from_dict(data: Optional[Mapping[str, Any]], source: Union[str, Locator] = "config") -> ModelConfig:
    """``model:`` mapping -> :class:`ModelConfig` (unknown keys, types and cross-field rules checked)."""
    return bind(ModelConfig, data, "model", source)


def loss_from_dict(data: Optional[Mapping[str, Any]], source: Union[str, Locator] = "config") -> LossConfig:
    """``loss:`` mapping -> :class:`LossConfig`."""
    return bind(LossConfig, data, "loss", source)


def read_experiment(name: Union[str, Path]) -> ConfigSource:
    """A config YAML (path or bundled name ``48k``, ``24k``, ``tiny``) with its ``base:`` includes merged."""
    return read_config(name, CONFIG_DIR, what="complex_rvqvae config")


def load_config(name: Union[str, Path]) -> tuple[ModelConfig, LossConfig, dict]:
    """Read a YAML config: typed model and loss settings plus the ``train:`` mapping.

    All three sections are validated here (``train:`` against
    :class:`~codecbench.training.config.TrainConfig`), so a bad key is a ``file:line`` error
    before anything is built; ``train:`` is returned as a mapping for CLI overrides.
    """
    source = read_experiment(name)
    data, locate = source.data, source.locate
    check_keys(data, ("model", "loss", "train"), (), locate, note=" (and base: for includes)")
    model = model_from_dict(data.get("model"), locate)
    loss = loss_from_dict(data.get("loss"), locate)
    TrainConfig.from_dict(data.get("train"), locate)
    return model, loss, dict(data.get("train") or {})


def to_dict(cfg: Any) -> dict:
    """Dataclass -> plain dict (for checkpoints and logs)."""
    return asdict(cfg)
