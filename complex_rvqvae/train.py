"""Command line: train the complex RVQ-VAE with the shared APCodec trainer.

Examples::

    python -m complex_rvqvae.train --config 48k --data /data/vctk/train.txt --out runs/crvq48
    python -m complex_rvqvae.train --config 48k --out runs/crvq48 --resume
    torchrun --nproc_per_node=4 -m complex_rvqvae.train --config 48k --data ... --out ...
    python -m complex_rvqvae.train --config 48k --print-model

YAML sections: ``model:`` (:class:`~complex_rvqvae.config.ModelConfig`), ``loss:``
(:class:`~complex_rvqvae.config.LossConfig`), ``train:`` (the shared
:class:`~apcodec.training.config.TrainConfig`). CLI flags override the YAML. The run folder gets
the trainer's ``checkpoints/``, ``metrics.csv``, ``best.pt`` and ``export/complex_rvqvae.pt``
(the file the ``complex_rvqvae`` adapter's ``checkpoint`` option takes).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Optional

from apcodec.training.config import TrainConfig
from complex_rvqvae.config import load_config, resolve_config_path, to_dict

LOG = logging.getLogger("apcodec.training")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (flags shared with ``python -m apcodec.train``)."""
    p = argparse.ArgumentParser(prog="python -m complex_rvqvae.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="YAML path or bundled config name (48k, 24k, tiny)")
    p.add_argument("--out", default=None, help="run folder (default runs/complex_rvqvae_<config name>)")
    p.add_argument("--data", default=None, help="training audio: folder, file list or dataset:<name>[:<split>]")
    p.add_argument("--valid-data", default=None, help="validation audio (same forms)")
    p.add_argument("--dataset-root", default=None, help="root folder for dataset:<name> specs")
    p.add_argument("--steps", type=int, default=None, help="stop after this many iterations (train.max_steps)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--segment-size", type=int, default=None, help="crop length in samples")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None)
    p.add_argument("--precision", choices=["fp32", "bf16"], default=None)
    p.add_argument("--compile", action="store_true", default=None, help="torch.compile the model (CUDA)")
    p.add_argument("--num-workers", type=int, default=None)
    p.add_argument("--resume", nargs="?", const="latest", default=None,
                   help="continue from the newest checkpoint in --out (or from the given state file)")
    p.add_argument("--valid-kbps", type=float, default=None, help="bitrate validation decodes at (default: highest)")
    p.add_argument("--print-model", action="store_true", help="print parameter counts and rates as JSON and exit")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


def main(argv: Optional[list[str]] = None) -> int:
    """Entry point; returns a process exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    try:
        model_cfg, loss_cfg, train_raw = load_config(args.config)
        from complex_rvqvae.task import ComplexRVQVAETask

        task = ComplexRVQVAETask(model_cfg, loss_cfg, valid_kbps=args.valid_kbps)
        if args.print_model:
            print(json.dumps(task.describe(), indent=2))
            return 0
        source = str(resolve_config_path(args.config))
        train_cfg = TrainConfig.from_dict(train_raw, source).override(
            train_data=args.data, valid_data=args.valid_data, dataset_root=args.dataset_root, max_steps=args.steps,
            batch_size=args.batch_size, segment_size=args.segment_size, seed=args.seed, device=args.device,
            precision=args.precision, compile=args.compile, num_workers=args.num_workers)
    except (ValueError, FileNotFoundError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from apcodec.training import Trainer

    out_dir = Path(args.out) if args.out else Path("runs") / f"complex_rvqvae_{Path(source).stem}"
    raw = {"model": to_dict(model_cfg), "loss": to_dict(loss_cfg), "train": train_cfg.to_dict()}
    trainer = Trainer(task, train_cfg, out_dir, config_raw=raw)
    if args.resume is not None and not trainer.resume(None if args.resume == "latest" else args.resume):
        LOG.info("--resume: no checkpoint in %s yet, starting from scratch", out_dir / "checkpoints")
    summary = trainer.fit()
    LOG.info("finished at step %d (%.3f steps/s); checkpoint %s", summary.step, summary.steps_per_second,
             summary.checkpoint)
    return 0


if __name__ == "__main__":
    sys.exit(main())
