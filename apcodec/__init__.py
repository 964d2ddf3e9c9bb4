"""APCodec / APCodec+ / APCodec-S: amplitude-and-phase spectrum codecs.

Public API (heavy modules load lazily on first attribute access)::

    from apcodec import APCodec, load_config
    cfg = load_config("48k_6kbps").model
    model = APCodec.from_config(cfg)
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ModelConfig": "apcodec.config",
    "ExperimentConfig": "apcodec.config",
    "ConfigError": "apcodec.config",
    "load_config": "apcodec.config",
    "APCodec": "apcodec.model",
    "CodecOutput": "apcodec.model",
    "APCodecEncoder": "apcodec.encoder",
    "APCodecDecoder": "apcodec.decoder",
    "DecoderOutput": "apcodec.decoder",
    "QuantizerOutput": "apcodec.quantizer",
    "MultiPeriodDiscriminator": "apcodec.discriminators",
    "MultiResolutionDiscriminator": "apcodec.discriminators",
    "load_official_checkpoint": "apcodec.checkpoint",
    "save_official_checkpoint": "apcodec.checkpoint",
    "load_checkpoint": "apcodec.checkpoint",
    "save_checkpoint": "apcodec.checkpoint",
    "parameter_counts": "apcodec.info",
    "APCodecStream": "apcodec.streaming",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'apcodec' has no attribute '{name}'")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return __all__
