"""Typed model and loss settings of the complex RVQ-VAE, read from YAML (``model:`` / ``loss:``).

The model package itself takes these dataclasses; YAML parsing lives in :func:`load_config` so
the network code never sees raw dicts. Cross-field rules (frequency axis divisible by 2^stages,
frame rate) are checked in ``__post_init__``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import yaml

from codecbench.errors import ConfigError
from codecbench.registry import reject_unknown_keys

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


def _coerce(cls: type, data: Optional[Mapping[str, Any]], section: str, source: str) -> Any:
    """Build dataclass ``cls`` from a mapping; unknown keys are a one-line error naming them."""
    data = dict(data or {})
    reject_unknown_keys(data, [f.name for f in fields(cls)], section, source=source, error=ConfigError)
    out: dict[str, Any] = {}
    for key, value in data.items():
        default = getattr(cls, key, None)
        if isinstance(value, list):
            value = tuple(value)
        elif isinstance(default, float) and isinstance(value, (int, float, str)):
            value = float(value)
        out[key] = value
    try:
        return cls(**out)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: bad {section} settings: {exc}") from exc


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


def model_from_dict(data: Optional[Mapping[str, Any]], source: str = "config") -> ModelConfig:
    """``model:`` mapping -> :class:`ModelConfig`."""
    return _coerce(ModelConfig, data, "model", source)


def loss_from_dict(data: Optional[Mapping[str, Any]], source: str = "config") -> LossConfig:
    """``loss:`` mapping -> :class:`LossConfig`."""
    return _coerce(LossConfig, data, "loss", source)


def resolve_config_path(name: Union[str, Path]) -> Path:
    """A YAML path, or the name of a bundled config (``48k``, ``24k``, ``tiny``)."""
    path = Path(name)
    if path.is_file():
        return path
    bundled = CONFIG_DIR / f"{name}.yaml"
    if bundled.is_file():
        return bundled
    names = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
    raise FileNotFoundError(f"complex_rvqvae config {name!s} not found; give a YAML path or one of {names}")


def read_yaml(name: Union[str, Path]) -> dict:
    """Load a config YAML (``base:`` names a bundled or relative file it overlays)."""
    path = resolve_config_path(name)
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping with model/loss/train sections")
    base = data.pop("base", None)
    if base is None:
        return data
    base_path = path.parent / base if (path.parent / str(base)).is_file() else base
    merged = read_yaml(base_path)
    for section, values in data.items():
        if isinstance(values, dict) and isinstance(merged.get(section), dict):
            merged[section] = {**merged[section], **values}
        else:
            merged[section] = values
    return merged


def load_config(name: Union[str, Path]) -> tuple[ModelConfig, LossConfig, dict]:
    """Read a YAML config: typed model and loss settings plus the raw ``train:`` mapping."""
    data = read_yaml(name)
    source = str(resolve_config_path(name))
    reject_unknown_keys(data, ("model", "loss", "train"), "", note=" (and base: for includes)", source=source,
                        error=ConfigError)
    model = model_from_dict(data.get("model"), source)
    return model, loss_from_dict(data.get("loss"), source), dict(data.get("train") or {})


def to_dict(cfg: Any) -> dict:
    """Dataclass -> plain dict (for checkpoints and logs)."""
    return asdict(cfg)
