"""The generic GAN/codec trainer: data, devices, DDP, autocast, optimizers, checkpoints, resume,
logging and validation around a model-specific :class:`~codecbench.training.task.TrainTask`."""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

import codecbench.training.state as state_io
from codecbench.errors import ConfigError
from codecbench.training.config import TrainConfig
from codecbench.training.data import (AudioItem, CropDataset, ResumableBatchSampler, build_loader,
                                   load_validation_set, resolve_source, split_items)
from codecbench.training.distributed import DistInfo, all_reduce_mean, barrier, init_distributed
from codecbench.training.logger import ScalarLogger
from codecbench.training.task import StepContext, TrainTask
from codecbench.training.validation import ValidationResult, Validator, check_metrics, metric_direction

LOG = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def resolve_device(name: str, info: DistInfo) -> torch.device:
    """``auto`` -> CUDA (this rank's GPU) when available, else CPU."""
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise ConfigError("train.device is 'cuda' but no CUDA device is visible; use 'auto' or 'cpu'")
        return torch.device("cuda", info.local_rank)
    return torch.device("cpu")


@dataclass
class TrainSummary:
    """What :meth:`Trainer.fit` returns."""

    step: int
    epoch: int
    last_logs: dict[str, float]
    best_metric: str
    best_value: Optional[float]
    checkpoint: Optional[Path]
    steps_per_second: float
    validation: dict[str, float] = field(default_factory=dict)


class Trainer:
    """Runs a :class:`TrainTask` (see its docstring for the per-iteration contract).

    Args:
        task: the model-specific part.
        cfg: training settings.
        out_dir: run folder: ``checkpoints/state_XXXXXXXX.pt``, ``best.pt``, ``metrics.csv``,
            ``export/`` (task export), ``config.json``.
        train_items, valid_items: explicit audio items (override ``cfg.train_data``/``valid_data``).
        config_raw: the full experiment config, stored in checkpoints for reproducibility.
        dist_info: process-group info; default reads torchrun's environment variables.
    """

    def __init__(self, task: TrainTask, cfg: TrainConfig, out_dir: Union[str, Path], *,
                 train_items: Optional[Sequence[AudioItem]] = None,
                 valid_items: Optional[Sequence[AudioItem]] = None,
                 config_raw: Optional[dict] = None, dist_info: Optional[DistInfo] = None) -> None:
        self.task, self.cfg, self.out_dir = task, cfg, Path(out_dir)
        self.config_raw = dict(config_raw or {})
        want_cuda = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())
        self.dist = dist_info or init_distributed("cuda" if want_cuda else "cpu")
        self.device = resolve_device(cfg.device, self.dist)
        self.use_bf16 = cfg.precision == "bf16" and self.device.type == "cuda"
        if cfg.precision == "bf16" and not self.use_bf16:
            LOG.info("precision bf16 requested on %s: running fp32 (bf16 autocast is used on CUDA only)", self.device)
        check_metrics(cfg.valid_metrics, cfg.best_metric)

        seed_everything(cfg.seed)  # same seed on every rank: identical initial weights
        self.modules: dict[str, nn.Module] = {k: m.to(self.device) for k, m in task.build_modules().items()}
        task.setup(self.modules, self.device)
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: dict[str, torch.optim.lr_scheduler.LRScheduler] = {}
        self._opt_params: dict[str, list[nn.Parameter]] = {}
        for name, module_names in task.optimizer_groups().items():
            params = [p for m in module_names for p in self.modules[m].parameters() if p.requires_grad]
            if not params:
                raise ConfigError(f"optimizer '{name}': modules {module_names} have no trainable parameters")
            self._opt_params[name] = params
            self.optimizers[name] = task.make_optimizer(name, params, cfg)
            self.schedulers[name] = torch.optim.lr_scheduler.ExponentialLR(self.optimizers[name], gamma=cfg.lr_decay)
        self.local, self.wrapped = self._wrap_modules()

        self.step = self.epoch = self.batch_in_epoch = 0
        self.best: dict[str, Any] = {}
        self.history: collections.deque[dict[str, float]] = collections.deque(maxlen=10_000)
        self._logger: Optional[ScalarLogger] = None
        self._resumed_from: Optional[int] = None
        self._last_saved_step = -1
        self._build_data(train_items, valid_items)

    # ------------------------------------------------------------------ setup
    def _wrap_modules(self) -> tuple[dict[str, nn.Module], dict[str, nn.Module]]:
        compile_ok = self.cfg.compile and self.device.type == "cuda"
        if self.cfg.compile and not compile_ok:
            LOG.info("train.compile ignored on %s (torch.compile is enabled on CUDA only)", self.device)
        local: dict[str, nn.Module] = {}
        wrapped: dict[str, nn.Module] = {}
        for name, module in self.modules.items():
            local[name] = torch.compile(module) if compile_ok else module  # type: ignore[assignment]
            trainable = any(p.requires_grad for p in module.parameters())
            if self.dist.enabled and trainable:
                ids = [self.device.index] if self.device.type == "cuda" else None
                wrapped[name] = DistributedDataParallel(local[name], device_ids=ids)
            else:
                wrapped[name] = local[name]
        return local, wrapped

    def _build_data(self, train_items: Optional[Sequence[AudioItem]], valid_items: Optional[Sequence[AudioItem]]) -> None:
        cfg = self.cfg
        if train_items is None:
            if not cfg.train_data:
                raise ConfigError("train.train_data is not set; pass --data DIR|LIST|dataset:NAME or set it in the config")
            train_items = resolve_source(cfg.train_data, cfg.dataset_root, "train")
        train_items = list(train_items)
        if valid_items is None:
            if cfg.valid_data:
                valid_items = resolve_source(cfg.valid_data, cfg.dataset_root, "dev")
            else:
                train_items, valid_items = split_items(train_items, cfg.valid_holdout)
        self.dataset = CropDataset(train_items, self.task.sample_rate, cfg.segment_size, cache=cfg.cache_audio)
        self.sampler = ResumableBatchSampler(len(self.dataset), cfg.batch_size, cfg.seed,
                                             self.dist.rank, self.dist.world_size)
        self.loader = build_loader(self.dataset, self.sampler, cfg.num_workers, cfg.seed,
                                   pin_memory=self.device.type == "cuda")
        self.valid_clips = []
        self.validator: Optional[Validator] = None
        if valid_items and self.dist.is_main:
            self.valid_clips = load_validation_set(valid_items, self.task.sample_rate, cfg.valid_max_files,
                                                   cfg.valid_max_seconds)
            self.validator = Validator(self.task.sample_rate, cfg.valid_metrics)

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.use_bf16:
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # ------------------------------------------------------------------ one iteration
    def train_step(self, batch: torch.Tensor) -> dict[str, float]:
        """One iteration: shared forward, then each phase's zero_grad/loss/backward/step."""
        batch = batch.to(self.device, non_blocking=True)
        run = StepContext(modules=self.wrapped, raw=self.modules, step=self.step, epoch=self.epoch,
                          device=self.device, local=self.local)
        self.task.train_mode(self.modules)
        logs: dict[str, float] = {}
        with self._autocast():
            fwd = self.task.forward(run, batch)
        for phase in self.task.phases():
            optimizer = self.optimizers[phase]
            optimizer.zero_grad(set_to_none=True)
            with self._autocast():
                loss, phase_logs = self.task.phase_loss(phase, run, batch, fwd)
            if not torch.isfinite(loss.detach()):
                raise FloatingPointError(f"phase '{phase}' loss is {float(loss)} at step {self.step + 1}; "
                                         "lower train.learning_rate or check the data")
            loss.backward()
            if self.cfg.grad_clip is not None:
                logs[f"grad_norm_{phase}"] = float(torch.nn.utils.clip_grad_norm_(self._opt_params[phase], self.cfg.grad_clip))
            optimizer.step()
            logs.update(phase_logs)
        return logs

    def _end_epoch(self) -> None:
        for scheduler in self.schedulers.values():
            scheduler.step()
        self.epoch += 1
        self.batch_in_epoch = 0

    # ------------------------------------------------------------------ loop
    def fit(self, max_steps: Optional[int] = None) -> TrainSummary:
        """Train until ``max_steps`` iterations (default ``cfg.max_steps``) or ``cfg.max_epochs``."""
        cfg = self.cfg
        max_steps = cfg.max_steps if max_steps is None else max_steps
        if self.dist.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            (self.out_dir / "config.json").write_text(json.dumps({"train": cfg.to_dict(), "config": self.config_raw,
                                                                  "task": self.task.describe()}, indent=2, default=str))
            self._logger = ScalarLogger(self.out_dir, cfg.tensorboard, resume_step=self._resumed_from)
        start_step, start_time, logs = self.step, time.perf_counter(), {}
        last_validation: dict[str, float] = {}
        try:
            while self.step < max_steps and (cfg.max_epochs is None or self.epoch < cfg.max_epochs):
                self.sampler.set_epoch(self.epoch, self.batch_in_epoch)
                for batch in self.loader:
                    logs = self.train_step(batch)
                    self.step += 1
                    self.batch_in_epoch += 1
                    self.history.append({"step": self.step, **logs})
                    if self.batch_in_epoch >= self.sampler.batches_per_epoch:
                        self._end_epoch()
                    last_validation = self._periodic(logs, start_step, start_time) or last_validation
                    if self.step >= max_steps:
                        break
            checkpoint = self.save_checkpoint() if self._last_saved_step != self.step else self._latest_path()
        finally:
            if self._logger is not None:
                self._logger.close()
                self._logger = None
        elapsed = max(time.perf_counter() - start_time, 1e-9)
        if self.dist.is_main:
            self.task.export(self.modules, self.out_dir / "export", self.step)
        return TrainSummary(step=self.step, epoch=self.epoch, last_logs=logs, best_metric=cfg.best_metric,
                            best_value=self.best.get("value"), checkpoint=checkpoint,
                            steps_per_second=(self.step - start_step) / elapsed, validation=last_validation)

    def _periodic(self, logs: dict[str, float], start_step: int, start_time: float) -> Optional[dict[str, float]]:
        cfg, step = self.cfg, self.step
        if cfg.log_interval and step % cfg.log_interval == 0:
            values = all_reduce_mean(logs, self.dist, self.device)
            if self._logger is not None:
                values = dict(values)
                values["lr"] = self.optimizers[next(iter(self.optimizers))].param_groups[0]["lr"]
                values["steps_per_s"] = (step - start_step) / max(time.perf_counter() - start_time, 1e-9)
                self._logger.log(step, self.epoch, "train", values)
                LOG.info("step %d epoch %d %s", step, self.epoch,
                         " ".join(f"{k}={v:.4g}" for k, v in sorted(values.items())))
        result = None
        if cfg.validation_interval and step % cfg.validation_interval == 0:
            result = self.validate()
        if cfg.checkpoint_interval and step % cfg.checkpoint_interval == 0:
            self.save_checkpoint()
        if cfg.export_interval and step % cfg.export_interval == 0 and self.dist.is_main:
            self.task.export(self.modules, self.out_dir / "export", step)
        return result.scores if result is not None else None

    # ------------------------------------------------------------------ validation
    def validate(self) -> ValidationResult:
        """Score the validation clips (rank 0), log them and update ``best.pt``."""
        result = ValidationResult()
        if self.dist.is_main and self.validator is not None and self.valid_clips:
            for module in self.modules.values():
                module.eval()
            result = self.validator.run(self.task.reconstruct, self.modules, self.valid_clips, self.device)
            self.task.train_mode(self.modules)
            if self._logger is not None:
                scores = dict(result.scores)
                scores.update({f"{k}_failures": v for k, v in result.failures.items()})
                self._logger.log(self.step, self.epoch, "valid", scores)
            LOG.info("validation step %d: %s", self.step, result.scores)
            self._update_best(result)
        barrier(self.dist)
        return result

    def _update_best(self, result: ValidationResult) -> None:
        name = self.cfg.best_metric
        value = result.scores.get(name)
        if value is None:
            return
        higher = metric_direction(name)
        old = self.best.get("value")
        if old is None or (value > old if higher else value < old):
            self.best = {"metric": name, "value": float(value), "step": self.step}
            state_io.atomic_save(self.state_dict(), self.out_dir / "best.pt")
            (self.out_dir / "best.json").write_text(json.dumps({**self.best, "scores": result.scores}, indent=2))
            self.task.export(self.modules, self.out_dir / "best_export", self.step)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """The full training state (see :mod:`codecbench.training.state`)."""
        return {
            "version": state_io.STATE_VERSION,
            "step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
            "modules": {k: m.state_dict() for k, m in self.modules.items()},
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
            "rng": state_io.capture_rng(),
            "best": dict(self.best),
            "task": self.task.state_dict(),
            "train_config": self.cfg.to_dict(),
            "config": self.config_raw,
        }

    def save_checkpoint(self) -> Optional[Path]:
        """Write ``checkpoints/state_XXXXXXXX.pt`` atomically (rank 0) and prune old ones."""
        path = None
        if self.dist.is_main:
            directory = self.out_dir / "checkpoints"
            path = state_io.atomic_save(self.state_dict(), state_io.state_path(directory, self.step))
            state_io.prune_states(directory, self.cfg.keep_checkpoints)
        self._last_saved_step = self.step
        barrier(self.dist)
        return path

    def _latest_path(self) -> Optional[Path]:
        return state_io.latest_state(self.out_dir / "checkpoints")

    def load_state_dict(self, state: dict[str, Any], restore_rng: bool = True) -> None:
        """Restore everything :meth:`state_dict` saved."""
        for name, module in self.modules.items():
            if name not in state["modules"]:
                raise KeyError(f"checkpoint has no module '{name}' (has {sorted(state['modules'])})")
            module.load_state_dict(state["modules"][name])
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state["optimizers"][name])
        for name, scheduler in self.schedulers.items():
            scheduler.load_state_dict(state["schedulers"][name])
        self.step, self.epoch, self.batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        self.best = dict(state.get("best") or {})
        self.task.load_state_dict(state.get("task") or {})
        if restore_rng:
            state_io.restore_rng(state["rng"])
        self._resumed_from = self.step
        self._last_saved_step = self.step

    def resume(self, path: Optional[Union[str, Path]] = None) -> bool:
        """Resume from ``path`` or the newest checkpoint in the run folder; False when there is none."""
        path = Path(path) if path is not None else self._latest_path()
        if path is None:
            return False
        self.load_state_dict(state_io.load_state(path))
        LOG.info("resumed from %s (step %d, epoch %d)", path, self.step, self.epoch)
        return True
