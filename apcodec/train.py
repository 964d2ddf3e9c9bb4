"""Command line: train APCodec, APCodec+ (stage 2) or APCodec-S (distillation).

Examples::

    python -m apcodec.train --config 48k_6kbps --data /data/vctk/train.txt --out runs/apcodec
    python -m apcodec.train --config 48k_6kbps --out runs/apcodec --resume
    python -m apcodec.train --config apcodec_plus_48k_4.5kbps --stage 2 --init-from runs/stage1 --out runs/stage2 --rounds 2
    python -m apcodec.train --config apcodec_s_48k_6kbps --teacher runs/apcodec --out runs/apcodec_s
    torchrun --nproc_per_node=4 -m apcodec.train --config 48k_6kbps --data ... --out ...
    python -m apcodec.train --config 48k_6kbps --print-model

YAML sections: ``model:`` (the model helper's ModelConfig), ``loss:`` (:class:`LossConfig`),
``train:`` (:class:`~apcodec.training.config.TrainConfig`; task options under ``train.extra``:
``stage``, ``init_from``, ``rounds``, ``round_mode``, ``teacher``, ``teacher_config``,
``distill: {latent, mel, amplitude, init_from_teacher}``, ``discriminator: {mpd_channels,
mrd_channels}``). CLI flags override the YAML.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Optional

from apcodec.config import ModelConfig, load_config
from apcodec.losses import LossConfig
from apcodec.training.config import TrainConfig

LOG = logging.getLogger("apcodec.training")


def parameter_counts(cfg: ModelConfig) -> dict[str, int]:
    """Parameters of encoder (incl. RVQ), decoder, MPD and MRD (the model helper's function when present)."""
    try:
        from apcodec.model import parameter_counts as model_counts  # type: ignore[attr-defined]
    except ImportError:
        model_counts = None
    if model_counts is not None:
        return dict(model_counts(cfg))
    import torch

    from apcodec.discriminators import MultiPeriodDiscriminator, MultiResolutionDiscriminator
    from apcodec.model import APCodec

    with torch.device("meta"):
        model, mpd, mrd = APCodec.from_config(cfg), MultiPeriodDiscriminator(), MultiResolutionDiscriminator()

    def count(module: torch.nn.Module) -> int:
        return sum(p.numel() for p in module.parameters())

    return {"encoder": count(model.encoder), "decoder": count(model.decoder), "mpd": count(mpd), "mrd": count(mrd)}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for ``codecbench train apcodec``)."""
    p = argparse.ArgumentParser(prog="python -m apcodec.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="YAML path or bundled config name (e.g. 48k_6kbps, tiny)")
    p.add_argument("--out", default=None, help="run folder (default runs/<config name>)")
    p.add_argument("--data", default=None, help="training audio: folder, file list or dataset:<name>[:<split>]")
    p.add_argument("--valid-data", default=None, help="validation audio (same forms)")
    p.add_argument("--dataset-root", default=None, help="root folder for dataset:<name> specs")
    p.add_argument("--steps", type=int, default=None, help="stop after this many iterations (train.max_steps)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--segment-size", type=int, default=None, help="crop length in samples")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None)
    p.add_argument("--precision", choices=["fp32", "bf16"], default=None)
    p.add_argument("--compile", action="store_true", default=None, help="torch.compile the modules (CUDA)")
    p.add_argument("--num-workers", type=int, default=None)
    p.add_argument("--resume", nargs="?", const="latest", default=None,
                   help="continue from the newest checkpoint in --out (or from the given state file)")
    p.add_argument("--print-model", action="store_true", help="print parameter counts as JSON and exit")
    p.add_argument("--stage", type=int, choices=[1, 2], default=None, help="APCodec+ stage (2 = individual)")
    p.add_argument("--init-from", default=None, help="stage-1 checkpoint for --stage 2")
    p.add_argument("--rounds", type=int, default=None, help="stage-2 rounds (demo 'Model_x_y': y = rounds - 1)")
    p.add_argument("--round-mode", choices=["continue", "reinit"], default=None)
    p.add_argument("--teacher", default=None, help="non-causal teacher checkpoint: distil a causal APCodec-S")
    p.add_argument("--teacher-config", default=None, help="teacher model config (official-format teachers)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


def main(argv: Optional[list[str]] = None) -> int:
    """Entry point; returns a process exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    try:
        exp = load_config(args.config)
        if args.print_model:
            print(json.dumps(parameter_counts(exp.model)))
            return 0
        return _train(args, exp)
    except (ValueError, FileNotFoundError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _train(args: argparse.Namespace, exp) -> int:
    from apcodec.training import Trainer

    source = str(exp.path)
    loss_cfg = LossConfig.from_dict(exp.loss, source)
    train_cfg = TrainConfig.from_dict(exp.train, source).override(
        train_data=args.data, valid_data=args.valid_data, dataset_root=args.dataset_root, max_steps=args.steps,
        batch_size=args.batch_size, segment_size=args.segment_size, seed=args.seed, device=args.device,
        precision=args.precision, compile=args.compile, num_workers=args.num_workers)
    extra = dict(train_cfg.extra)
    for key, value in (("stage", args.stage), ("init_from", args.init_from), ("rounds", args.rounds),
                       ("round_mode", args.round_mode), ("teacher", args.teacher),
                       ("teacher_config", args.teacher_config)):
        if value is not None:
            extra[key] = value
    out_dir = Path(args.out) if args.out else Path("runs") / exp.path.stem
    raw = dict(exp.raw, train={**train_cfg.to_dict(), "extra": extra}, loss=loss_cfg.to_dict())
    resume_path = None if args.resume in (None, "latest") else args.resume

    from apcodec.task import DiscriminatorConfig

    disc_cfg = DiscriminatorConfig.from_dict(extra.get("discriminator"), source)
    if int(extra.get("stage", 1)) == 2:
        from apcodec.staged import run_stage2

        if not extra.get("init_from"):
            raise ValueError(f"{source}: --stage 2 needs --init-from <stage-1 checkpoint or run folder>")
        run_stage2(exp.model, loss_cfg, train_cfg, out_dir, extra["init_from"], rounds=int(extra.get("rounds", 1)),
                   round_mode=str(extra.get("round_mode", "continue")), resume=args.resume is not None,
                   config_raw=raw, disc_cfg=disc_cfg)
        return 0
    if extra.get("teacher"):
        from apcodec.distill import DistillationTask, DistillConfig

        teacher_cfg = load_config(extra["teacher_config"]).model if extra.get("teacher_config") else None
        task = DistillationTask(exp.model, loss_cfg, extra["teacher"], teacher_cfg,
                                DistillConfig.from_dict(extra.get("distill"), source), disc_cfg)
    else:
        from apcodec.task import APCodecTask

        task = APCodecTask(exp.model, loss_cfg, disc_cfg)
    trainer = Trainer(task, train_cfg, out_dir, config_raw=raw)
    if args.resume is not None and not trainer.resume(resume_path):
        LOG.info("--resume: no checkpoint in %s yet, starting from scratch", out_dir / "checkpoints")
    summary = trainer.fit()
    LOG.info("finished at step %d (%.3f steps/s); checkpoint %s", summary.step, summary.steps_per_second,
             summary.checkpoint)
    return 0


if __name__ == "__main__":
    sys.exit(main())
