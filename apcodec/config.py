"""Typed model configuration and YAML experiment files.

The official APCodec code hard-codes several widths (ConvNeXt width 256, inner width 512, 8
blocks, 4 x 1024 codebooks); here every size is a field of :class:`ModelConfig` so that the
paper model, the 16/24 kHz variants, the tiny test model and APCodec-S are all the same code.

Experiment files are YAML with three sections: ``model:`` (bound here to :class:`ModelConfig`),
``loss:`` and ``train:`` (kept as plain dicts for the trainer to bind, with the file's line map
in :attr:`ExperimentConfig.locate`). A file may name another with ``base: other.yaml``
(relative to itself, or a bundled config name); sections are merged key by key, the including
file winning. Reading, includes and binding are :mod:`codecbench.configfile`'s, as for suites.

The official repository's ``config.json`` loads as it is (:mod:`apcodec.official`): its model
keys map to :class:`ModelConfig`, its training keys to ``train:``, and the keys nothing here uses
are listed in one logged note.
"""

from __future__ import annotations


import dataclasses
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from codecbench.configfile import Locator, bind, check_keys, read_config
from codecbench.errors import ConfigError

LOG = logging.getLogger(__name__)
CONFIG_DIR = Path(__file__).resolve().parent / "configs"


@dataclass(frozen=True)
class ModelConfig:
    """Every size of the APCodec encoder, quantizer and decoder.

    Defaults are the paper model (48 kHz, 6 kbps). Names in brackets are the official keys.

    Attributes:
        sample_rate: audio rate in Hz [sampling_rate].
        n_fft: FFT size; the spectra have ``n_fft // 2 + 1`` bins.
        hop_size: STFT hop in samples.
        win_size: Hann window length (zero-padded to ``n_fft``).
        channels: ConvNeXt width (official hard-coded ``dim`` = 256).
        intermediate: ConvNeXt inner width (hard-coded 512).
        num_layers: ConvNeXt blocks per branch (hard-coded 8).
        branch_channels: per-branch width before downsampling / after upsampling
            [AMP_Encoder_channel etc.]; the downsampled branches have half of it each.
        embed_kernel: kernel of the ConvNeXt input convolutions (hard-coded 7).
        dwconv_kernel: depthwise kernel inside the ConvNeXt blocks (hard-coded 7).
        downsample_kernel: kernel of the strided encoder output convolution.
        latent_output_kernel: kernel of the convolution producing the latent.
        latent_input_kernel: kernel of the decoder's latent input convolution.
        upsample_kernel: kernel of the decoder's transposed convolution.
        output_kernel: kernel of the decoder's amplitude / R / I output convolutions.
        ratio: time downsampling factor between STFT frames and latent frames.
        latent_dim: latent channels.
        n_codebooks: residual VQ stages (hard-coded 4).
        codebook_size: entries per codebook (hard-coded 1024).
        codebook_dim: dimension of the codebook space (in/out projections map to it).
        causal: APCodec-S: causal STFT framing, causal convolutions, causal transposed
            convolution and cumulative (causal) GRN, so that the model can stream.
        layer_norm_eps: epsilon of every LayerNorm (official 1e-6).
        log_eps: added to the magnitude before the log (official 1e-5).
    """

    sample_rate: int = 48000
    n_fft: int = 1024
    hop_size: int = 40
    win_size: int = 320
    channels: int = 256
    intermediate: int = 512
    num_layers: int = 8
    branch_channels: int = 256
    embed_kernel: int = 7
    dwconv_kernel: int = 7
    downsample_kernel: int = 7
    latent_output_kernel: int = 7
    latent_input_kernel: int = 7
    upsample_kernel: int = 16
    output_kernel: int = 7
    ratio: int = 8
    latent_dim: int = 32
    n_codebooks: int = 4
    codebook_size: int = 1024
    codebook_dim: int = 32
    causal: bool = False
    layer_norm_eps: float = 1e-6
    log_eps: float = 1e-5

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type in ("int", int) and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
                raise ConfigError(f"model.{f.name} must be a positive integer, got {value!r}")
        if not isinstance(self.causal, bool):
            raise ConfigError(f"model.causal must be true or false, got {self.causal!r}")
        if self.win_size > self.n_fft:
            raise ConfigError(f"model.win_size ({self.win_size}) must not exceed model.n_fft ({self.n_fft})")
        if self.hop_size > self.win_size:
            raise ConfigError(f"model.hop_size ({self.hop_size}) must not exceed model.win_size ({self.win_size})")
        if self.branch_channels % 2:
            raise ConfigError(f"model.branch_channels must be even (halved before the latent), got {self.branch_channels}")
        if self.codebook_size & (self.codebook_size - 1):
            raise ConfigError(f"model.codebook_size must be a power of two (whole bits per code), got {self.codebook_size}")
        for name in ("embed_kernel", "dwconv_kernel", "latent_output_kernel", "latent_input_kernel", "output_kernel"):
            if not self.causal and getattr(self, name) % 2 == 0:
                raise ConfigError(f"model.{name} must be odd for the centred (non-causal) model, got {getattr(self, name)}")
        if self.upsample_kernel < self.ratio or (self.upsample_kernel - self.ratio) % 2:
            raise ConfigError(f"model.upsample_kernel ({self.upsample_kernel}) must be >= model.ratio ({self.ratio}) "
                              "and differ from it by an even number")
        if self.causal:
            if self.win_size % self.hop_size or (self.n_fft - self.win_size) % 2:
                raise ConfigError("causal model: model.win_size must be a multiple of model.hop_size and "
                                  "n_fft - win_size even")
            if self.downsample_kernel < self.ratio:
                raise ConfigError(f"causal model: model.downsample_kernel ({self.downsample_kernel}) must be >= "
                                  f"model.ratio ({self.ratio})")

    # -- derived quantities --------------------------------------------------------------------
    @property
    def n_bins(self) -> int:
        """Frequency bins of the spectra, ``n_fft // 2 + 1``."""
        return self.n_fft // 2 + 1

    @property
    def frame_rate(self) -> float:
        """Latent (code) frames per second."""
        return self.sample_rate / self.hop_size / self.ratio

    @property
    def bits_per_code(self) -> float:
        """Bits of one code, ``log2(codebook_size)``."""
        return math.log2(self.codebook_size)

    @property
    def samples_per_frame(self) -> int:
        """Audio samples per latent frame (``hop_size * ratio``)."""
        return self.hop_size * self.ratio

    @property
    def bitrate(self) -> float:
        """Bitrate in kbps with all codebooks."""
        return self.bitrate_for(self.n_codebooks)

    def bitrate_for(self, n_codebooks: int) -> float:
        """Bitrate in kbps when the first ``n_codebooks`` codebooks are used."""
        return self.frame_rate * n_codebooks * self.bits_per_code / 1000.0

    def allowed_bitrates(self) -> list[float]:
        """Bitrates (kbps) reachable with 1..n_codebooks codebooks."""
        return [self.bitrate_for(n) for n in range(1, self.n_codebooks + 1)]

    def codebooks_for_bitrate(self, kbps: float) -> int:
        """Number of codebooks giving ``kbps``; ConfigError listing the allowed bitrates otherwise."""
        for n, rate in enumerate(self.allowed_bitrates(), start=1):
            if math.isclose(rate, kbps, rel_tol=1e-6, abs_tol=1e-9):
                return n
        allowed = ", ".join(f"{r:g}" for r in self.allowed_bitrates())
        raise ConfigError(f"bitrate {kbps:g} kbps is not reachable with this APCodec model; allowed: {allowed}")

    def replace(self, **changes: Any) -> "ModelConfig":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, data: Any, source: Union[str, Locator] = "<dict>") -> "ModelConfig":
        """Build from a ``model:`` mapping; unknown keys are an error with a did-you-mean hint."""
        return bind(cls, data, "model", source)

    @classmethod
    def from_official(cls, h: dict[str, Any], **overrides: Any) -> "ModelConfig":
        """Build from an official ``config.json`` mapping (see :mod:`apcodec.official`).

        Keys the official code hard-codes may be given as ``convnext_dim``,
        ``convnext_intermediate_dim``, ``convnext_layers``, ``n_codebooks``, ``codebook_size``
        (as in the golden-vector fixture); missing ones take the paper values.
        """
        from apcodec.official import official_sections

        model = official_sections(h, Locator("official config", {}, ConfigError)).model
        return cls.from_dict({**model, **overrides}, "official config")

    def to_dict(self) -> dict[str, Any]:
        """Plain mapping (the inverse of :meth:`from_dict`)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ExperimentConfig:
    """A parsed experiment file: the bound model config plus the trainer's raw sections.

    Attributes:
        model: the validated model sizes.
        loss, train: the raw ``loss:`` / ``train:`` mappings (bound by the trainer, located by ``locate``).
        raw: the whole merged file (stored in checkpoints).
        path: the file read.
        locate: turns a key path into a ``file:line`` error (``LossConfig.from_dict(exp.loss, exp.locate)``).
        ignored: official ``config.json`` keys nothing here uses (empty for YAML files).
    """

    model: ModelConfig
    loss: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)
    path: Optional[Path] = None
    locate: Locator = field(default_factory=lambda: Locator("<config>", {}, ConfigError))
    ignored: tuple[str, ...] = ()


TOP_LEVEL_KEYS = ("model", "loss", "train", "data", "name", "description")
_NOTED: set[Path] = set()  # official config.json files whose ignored keys were noted (once per process)


def bundled_configs() -> list[str]:
    """Names of the YAML configs shipped in ``apcodec/configs``."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def load_config(path: Union[str, Path]) -> ExperimentConfig:
    """Read an experiment YAML (path or bundled name) or an official ``config.json``, bind ``model:``.

    Args:
        path: a YAML file, the name of a bundled config (see :func:`bundled_configs`), or the
            official repository's ``config.json``.

    Returns:
        ExperimentConfig with the validated :class:`ModelConfig` and the raw loss/train dicts.
    """
    source = read_config(path, CONFIG_DIR, what="APCodec config", error=ConfigError)
    raw, locate = source.data, source.locate
    if source.path.suffix.lower() == ".json" and "model" not in raw:
        from apcodec.official import official_sections

        sections = official_sections(raw, locate)
        if sections.ignored and source.path.resolve() not in _NOTED:
            _NOTED.add(source.path.resolve())
            LOG.info("%s: official APCodec config.json; ignoring %d training-only key(s) with no equivalent "
                     "here: %s", source.path, len(sections.ignored), ", ".join(sections.ignored))
        model = ModelConfig.from_dict(sections.model, sections.locate)
        return ExperimentConfig(model=model, loss=sections.loss, train=sections.train,
                                raw={"model": model.to_dict(), "loss": sections.loss, "train": sections.train},
                                path=source.path, locate=sections.locate, ignored=sections.ignored)
    check_keys(raw, TOP_LEVEL_KEYS, (), locate, note=" (and base: for includes)")
    model = ModelConfig.from_dict(raw.get("model"), locate)
    for section in ("loss", "train"):
        if not isinstance(raw.get(section) or {}, dict):
            raise locate((section,), "must be a mapping")
    return ExperimentConfig(model=model, loss=dict(raw.get("loss") or {}), train=dict(raw.get("train") or {}),
                            raw=raw, path=source.path, locate=locate)
