"""Generic codec training machinery (data, Trainer, checkpoints, logging, validation, DDP).

A codec plugs in by implementing :class:`TrainTask`; see :mod:`apcodec.training.task` for the
per-iteration contract and :mod:`apcodec.task` for the APCodec implementation.
"""

from apcodec.training.config import TrainConfig
from apcodec.training.task import StepContext, TrainTask
from apcodec.training.trainer import Trainer, TrainSummary

__all__ = ["StepContext", "TrainConfig", "TrainSummary", "TrainTask", "Trainer"]
