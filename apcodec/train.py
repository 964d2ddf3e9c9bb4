"""Command line: train APCodec, APCodec+ (stage 2) or APCodec-S (distillation).

Examples::

    python -m apcodec.train --config 48k_6kbps --data /data/vctk/train.txt --out runs/apcodec
    python -m apcodec.train --config 48k_6kbps --out runs/apcodec --resume
    python -m apcodec.train --config apcodec_plus_48k_4.5kbps --stage 2 --init-from runs/stage1 --out runs/stage2 --rounds 2
    python -m apcodec.train --config apcodec_s_48k_6kbps --teacher runs/apcodec --out runs/apcodec_s
    torchrun --nproc_per_node=4 -m apcodec.train --config 48k_6kbps --data ... --out ...
    python -m apcodec.train --config 48k_6kbps --print-model

YAML sections: ``model:`` (the model helper's ModelConfig), ``loss:`` (:class:`LossConfig`),
``train:`` (:class:`~codecbench.training.config.TrainConfig`; task options under ``train.extra``:
``stage``, ``init_from``, ``rounds``, ``round_mode``, ``teacher``, ``teacher_config``,
``distill: {latent, mel, amplitude, init_from_teacher}``, ``discriminator: {mpd_channels,
mrd_channels}``). CLI flags override the YAML.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional

from apcodec.config import load_config
from apcodec.info import parameter_counts
from apcodec.losses import LossConfig
from codecbench.training.cli import (USAGE_ERRORS, add_training_arguments, report_usage_error, run_training,
                                     setup_logging, train_config_from_args)
from codecbench.configfile import check_keys
from codecbench.training.config import TrainConfig

#: The APCodec recipes' keys under ``train.extra`` (see the module docstring).
EXTRA_KEYS = ("stage", "init_from", "rounds", "round_mode", "teacher", "teacher_config", "distill", "discriminator")


def model_counts(exp) -> dict[str, int]:
    """Parameter counts of encoder, decoder, MPD and MRD; the discriminators as the config trains
    them (``train.extra.discriminator``; the paper's when unset)."""
    counts = parameter_counts(exp.model)
    disc = (exp.train.get("extra") or {}).get("discriminator")
    if disc:
        import torch

        from apcodec.task import DiscriminatorConfig

        with torch.device("meta"):
            built = DiscriminatorConfig.from_dict(disc, exp.locate).build()
        counts.update({name: sum(p.numel() for p in m.parameters()) for name, m in built.items()})
    return counts


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for ``codecbench train apcodec``)."""
    p = argparse.ArgumentParser(prog="python -m apcodec.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="YAML path or bundled config name (e.g. 48k_6kbps, tiny)")
    p.add_argument("--print-model", action="store_true", help="print parameter counts as JSON and exit")
    add_training_arguments(p)
    p.add_argument("--stage", type=int, choices=[1, 2], default=None, help="APCodec+ stage (2 = individual)")
    p.add_argument("--init-from", default=None, help="stage-1 checkpoint or run folder for --stage 2")
    p.add_argument("--rounds", type=int, default=None, help="stage-2 rounds (demo 'Model_x_y': y = rounds - 1)")
    p.add_argument("--round-mode", choices=["continue", "reinit"], default=None)
    p.add_argument("--teacher", default=None, help="non-causal teacher checkpoint: distil a causal APCodec-S")
    p.add_argument("--teacher-config", default=None, help="teacher model config (official-format teachers)")
    return p


def main(argv: Optional[list[str]] = None) -> int:
    """Entry point; returns a process exit code (2 for bad configuration or arguments)."""
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        exp = load_config(args.config)
        if args.print_model:
            print(json.dumps(model_counts(exp)))
            return 0
        return _train(args, exp)
    except USAGE_ERRORS as exc:
        return report_usage_error(exc)


def _train(args: argparse.Namespace, exp) -> int:
    from apcodec.task import APCodecTask, DiscriminatorConfig

    source, locate = str(exp.path), exp.locate
    loss_cfg = LossConfig.from_dict(exp.loss, locate)
    train_cfg = train_config_from_args(TrainConfig.from_dict(exp.train, locate), args)
    check_keys(train_cfg.extra, EXTRA_KEYS, ("train", "extra"), locate)
    extra = dict(train_cfg.extra)
    for key, value in (("stage", args.stage), ("init_from", args.init_from), ("rounds", args.rounds),
                       ("round_mode", args.round_mode), ("teacher", args.teacher),
                       ("teacher_config", args.teacher_config)):
        if value is not None:
            extra[key] = value
    out_dir = Path(args.out) if args.out else Path("runs") / exp.path.stem
    raw = dict(exp.raw, train={**train_cfg.to_dict(), "extra": extra}, loss=loss_cfg.to_dict())
    disc_cfg = DiscriminatorConfig.from_dict(extra.get("discriminator"), locate)

    if int(extra.get("stage", 1)) == 2:
        from apcodec.staged import run_stage2

        if not extra.get("init_from"):
            raise ValueError(f"{source}: --stage 2 needs --init-from <stage-1 checkpoint or run folder>")
        run_stage2(exp.model, loss_cfg, train_cfg, out_dir, extra["init_from"], rounds=int(extra.get("rounds", 1)),
                   round_mode=str(extra.get("round_mode", "continue")), resume=args.resume is not None,
                   config_raw=raw, disc_cfg=disc_cfg)
        return 0
    task: APCodecTask
    if extra.get("teacher"):
        from apcodec.distill import DistillationTask, DistillConfig

        teacher_cfg = load_config(extra["teacher_config"]).model if extra.get("teacher_config") else None
        task = DistillationTask(exp.model, loss_cfg, extra["teacher"], teacher_cfg,
                                DistillConfig.from_dict(extra.get("distill"), locate), disc_cfg)
    else:
        task = APCodecTask(exp.model, loss_cfg, disc_cfg)
    run_training(task, train_cfg, out_dir, resume=args.resume, config_raw=raw)
    return 0


if __name__ == "__main__":
    sys.exit(main())
