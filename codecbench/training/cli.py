"""Command-line pieces every codec's ``train`` entry point shares (flags, overrides, errors, run).

A codec CLI (``apcodec.train``, ``complex_rvqvae.train``) adds its own flags (config, model
options) to :func:`add_training_arguments`'s, builds its
:class:`~codecbench.training.task.TrainTask`, then calls :func:`run_training`; a bad config or
argument goes through :func:`report_usage_error`, so every ``train`` command fails the same way.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Optional

from codecbench.errors import EXIT_USAGE, CodecbenchError
from codecbench.training.config import TrainConfig
from codecbench.training.task import TrainTask
from codecbench.training.trainer import Trainer, TrainSummary

LOG = logging.getLogger(__name__)


#: What a bad config file, argument, data folder or state file raises in a ``train`` command
#: (codecbench errors, plus the builtins older config code raises).
USAGE_ERRORS = (CodecbenchError, ValueError, FileNotFoundError, KeyError)


def add_training_arguments(parser: argparse.ArgumentParser,
                           default_out: str = "runs/<config name>") -> argparse.ArgumentParser:
    """Flags that override ``train:`` settings, plus ``--out``, ``--resume`` and ``-v``.

    ``default_out`` only words the ``--out`` help: the codec CLI picks the folder itself.
    """
    p = parser
    p.add_argument("--out", default=None, help=f"run folder (default {default_out})")
    p.add_argument("--data", default=None, help="training audio: folder, file list or dataset:<name>[:<split>]")
    p.add_argument("--valid-data", default=None, help="validation audio (same forms)")
    p.add_argument("--dataset-root", default=None, help="root folder for dataset:<name> specs")
    p.add_argument("--steps", type=int, default=None, help="stop after this many iterations (train.max_steps)")
    p.add_argument("--batch-size", type=int, default=None, help="crops per step per process")
    p.add_argument("--segment-size", type=int, default=None, help="crop length in samples")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None)
    p.add_argument("--precision", choices=["fp32", "bf16"], default=None, help="bf16 autocast (CUDA only)")
    p.add_argument("--compile", action="store_true", default=None, help="torch.compile the modules (CUDA only)")
    p.add_argument("--num-workers", type=int, default=None)
    p.add_argument("--resume", nargs="?", const="latest", default=None,
                   help="continue from the newest checkpoint in --out (or from the given state file)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


def train_config_from_args(cfg: TrainConfig, args: argparse.Namespace) -> TrainConfig:
    """``cfg`` with the flags of :func:`add_training_arguments` applied (unset flags keep the YAML)."""
    return cfg.override(train_data=args.data, valid_data=args.valid_data, dataset_root=args.dataset_root,
                        max_steps=args.steps, batch_size=args.batch_size, segment_size=args.segment_size,
                        seed=args.seed, device=args.device, precision=args.precision, compile=args.compile,
                        num_workers=args.num_workers)


def setup_logging(verbose: bool = False) -> None:
    """Timestamped INFO (or DEBUG) logging to stderr."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)


def report_usage_error(exc: BaseException) -> int:
    """Print a bad config/argument error as one ``error:`` line; returns the usage exit code."""
    print(f"error: {exc}", file=sys.stderr)
    return int(getattr(exc, "exit_code", EXIT_USAGE))


def run_training(task: TrainTask, cfg: TrainConfig, out_dir: Path, resume: Optional[str] = None,
                 config_raw: Optional[dict] = None) -> TrainSummary:
    """Build the Trainer, resume when asked (``"latest"`` or a state file), train; returns the TrainSummary."""
    trainer = Trainer(task, cfg, out_dir, config_raw=config_raw)
    if resume is not None and not trainer.resume(None if resume == "latest" else resume):
        LOG.info("--resume: no checkpoint in %s yet, starting from scratch", Path(out_dir) / "checkpoints")
    summary = trainer.fit()
    LOG.info("finished at step %d (%.3f steps/s); checkpoint %s", summary.step, summary.steps_per_second,
             summary.checkpoint)
    return summary
