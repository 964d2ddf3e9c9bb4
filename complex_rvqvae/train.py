"""Command line: train the complex RVQ-VAE with the shared codecbench trainer.

Examples::

    python -m complex_rvqvae.train --config 48k --data /data/vctk/train.txt --out runs/crvq48
    python -m complex_rvqvae.train --config 48k --out runs/crvq48 --resume
    torchrun --nproc_per_node=4 -m complex_rvqvae.train --config 48k --data ... --out ...
    python -m complex_rvqvae.train --config 48k --print-model

YAML sections: ``model:`` (:class:`~complex_rvqvae.config.ModelConfig`), ``loss:``
(:class:`~complex_rvqvae.config.LossConfig`), ``train:`` (the shared
:class:`~codecbench.training.config.TrainConfig`). CLI flags (those of
:func:`codecbench.training.cli.add_training_arguments`, as ``apcodec.train`` has them) override
the YAML. The run folder gets the trainer's ``checkpoints/``, ``metrics.csv``, ``best.pt`` and
``export/complex_rvqvae.pt`` (the file the ``complex_rvqvae`` adapter's ``checkpoint`` option takes).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional

from codecbench.training.cli import (USAGE_ERRORS, add_training_arguments, report_usage_error, run_training,
                                     setup_logging, train_config_from_args)
from codecbench.training.config import TrainConfig
from complex_rvqvae.config import load_config, read_experiment, to_dict


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for ``codecbench train complex_rvqvae``)."""
    p = argparse.ArgumentParser(prog="python -m complex_rvqvae.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="YAML path or bundled config name (48k, 24k, tiny)")
    p.add_argument("--print-model", action="store_true", help="print parameter counts and rates as JSON and exit")
    add_training_arguments(p, default_out="runs/complex_rvqvae_<config name>")
    p.add_argument("--valid-kbps", type=float, default=None, help="bitrate validation decodes at (default: highest)")
    return p


def main(argv: Optional[list[str]] = None) -> int:
    """Entry point; returns a process exit code (2 for bad configuration or arguments)."""
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        model_cfg, loss_cfg, train_raw = load_config(args.config)
        from complex_rvqvae.task import ComplexRVQVAETask

        task = ComplexRVQVAETask(model_cfg, loss_cfg, valid_kbps=args.valid_kbps)
        if args.print_model:
            print(json.dumps(task.describe(), indent=2))
            return 0
        source = read_experiment(args.config).path
        train_cfg = train_config_from_args(TrainConfig.from_dict(train_raw, str(source)), args)
        out_dir = Path(args.out) if args.out else Path("runs") / f"complex_rvqvae_{source.stem}"
        raw = {"model": to_dict(model_cfg), "loss": to_dict(loss_cfg), "train": train_cfg.to_dict()}
        run_training(task, train_cfg, out_dir, resume=args.resume, config_raw=raw)
    except USAGE_ERRORS as exc:
        return report_usage_error(exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
