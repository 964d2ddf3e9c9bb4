"""Typed training settings, read from the YAML ``train:`` section (paper defaults)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Mapping, Optional, Union
from codecbench.errors import ConfigError
from codecbench.configfile import Locator, bind

PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True)
class TrainConfig:
    """Everything the generic :class:`~codecbench.training.trainer.Trainer` needs.

    Attributes:
        train_data: training audio: a folder (searched recursively for wav/flac/ogg/aiff), a text
            file list (one path per line, relative paths resolved against the list's folder), or
            ``dataset:<name>[:<split>]`` for a codecbench dataset (root in ``dataset_root``).
        valid_data: held-out audio, same forms; ``None`` holds out ``valid_holdout`` files of
            ``train_data`` instead (the last ones in sorted order).
        dataset_root: root folder handed to codecbench datasets.
        valid_holdout: files held out of ``train_data`` when ``valid_data`` is None (0 = no validation).
        valid_max_files: at most this many validation files are scored (first in sorted order).
        valid_max_seconds: each validation file is cut to this length (None = whole file).
        valid_metrics: codecbench metric names scored during validation, besides ``mel_distance``
            (the trainer's own log-mel L1, always computed).
        best_metric: metric that selects ``best.pt``; direction comes from the metric's metadata.
        batch_size: crops per step per process (total = batch_size * world size).
        segment_size: crop length in samples (7960 = 200 STFT frames = 25 latent frames).
        cache_audio: keep decoded, resampled files in memory (small data sets and tests).
        num_workers: DataLoader worker processes.
        learning_rate, betas, weight_decay: AdamW settings (weight decay 0.01 = PyTorch default).
        lr_decay: ExponentialLR gamma, stepped once per epoch.
        max_steps: stop after this many optimizer iterations (one D step + one G step = 1).
        max_epochs: stop after this many epochs (None = unbounded).
        log_interval, checkpoint_interval, validation_interval, export_interval: in steps (0 = never;
            a checkpoint is always written when training stops).
        keep_checkpoints: how many ``state_XXXXXXXX.pt`` files to keep (best.pt is separate).
        seed: seeds model init, the sampler and the crops.
        precision: "fp32" or "bf16" (bf16 autocast; used on CUDA, ignored with a note on CPU).
        compile: wrap the task's modules in ``torch.compile`` (CUDA only; ignored on CPU).
        grad_clip: max global grad norm per optimizer (None = no clipping, as the paper).
        device: "auto" (cuda when available), "cpu" or "cuda".
        tensorboard: also log to TensorBoard when the package is importable.
    """

    train_data: Optional[str] = None
    valid_data: Optional[str] = None
    dataset_root: Optional[str] = None
    valid_holdout: int = 0
    valid_max_files: int = 8
    valid_max_seconds: Optional[float] = 4.0
    valid_metrics: tuple[str, ...] = ()
    best_metric: str = "mel_distance"
    batch_size: int = 16
    segment_size: int = 7960
    cache_audio: bool = False
    num_workers: int = 0
    learning_rate: float = 2e-4
    betas: tuple[float, float] = (0.8, 0.99)
    weight_decay: float = 0.01
    lr_decay: float = 0.999
    max_steps: int = 1_000_000
    max_epochs: Optional[int] = None
    log_interval: int = 10
    checkpoint_interval: int = 5000
    validation_interval: int = 5000
    export_interval: int = 0
    keep_checkpoints: int = 3
    seed: int = 1234
    precision: str = "fp32"
    compile: bool = False
    grad_clip: Optional[float] = None
    device: str = "auto"
    tensorboard: bool = True
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ConfigError(f"train.precision must be one of {list(PRECISIONS)}, got {self.precision!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"train.device must be 'auto', 'cpu' or 'cuda', got {self.device!r}")
        for name in ("batch_size", "segment_size", "max_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 < self.lr_decay <= 1.0:
            raise ConfigError(f"train.lr_decay must be in (0, 1], got {self.lr_decay}")

    @classmethod
    def from_dict(cls, data: Optional[Mapping[str, object]], source: Union[str, Locator] = "config") -> "TrainConfig":
        """Build from the YAML ``train:`` mapping; unknown keys go to an error naming them.

        Keys a task understands but the trainer does not (e.g. ``stage``, ``teacher``) belong
        under ``train.extra``. A lone metric name is accepted for ``valid_metrics``.
        """
        values: dict[str, Any] = dict(data or {})
        if isinstance(values.get("valid_metrics"), str):
            values["valid_metrics"] = [values["valid_metrics"]]
        return bind(cls, values, "train", source, note=" (task-specific keys go under train.extra)")

    def override(self, **changes: Any) -> "TrainConfig":
        """Copy with the non-None ``changes`` applied (CLI flags)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict:
        """Plain dict (for checkpoints and logs)."""
        out = asdict(self)
        out["betas"] = list(self.betas)
        out["valid_metrics"] = list(self.valid_metrics)
        return out
