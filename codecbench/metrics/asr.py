"""Whisper speech recognition through transformers, for the WER/CER metrics.

The model is resolved like codec weights (:mod:`codecbench.weights`): an explicit local folder,
else the local Hugging Face cache; nothing is downloaded during a run. It loads once per process
(per folder) and decodes greedily (one beam, no sampling, no temperature fallback), in the
language the metric names, so a transcript is a deterministic function of the samples. Signals
are 16 kHz mono ``[T]``; Whisper sees one 30 s window, so longer signals are reported
unavailable instead of being cut silently.

Transcripts are cached per process by (model folder, language, SHA-1 of the samples): ``wer`` and
``dwer`` listed together, or the reference of one utterance met again at every codec point, cost
one decoding each.
"""

from __future__ import annotations

import copy
import hashlib
from collections import OrderedDict
from pathlib import Path
from typing import Any, Optional

import numpy as np

from codecbench.metrics.base import MetricUnavailable
from codecbench.metrics.checks import worker_threads

ASR_RATE = 16000
MAX_SECONDS = 30.0  # Whisper's input window
PROMPT_ROOM = 8  # decoder positions kept for the forced prompt (start, language, task, no-timestamps)
_CACHE_SIZE = 1024

_MODELS: dict[str, tuple[Any, Any]] = {}
_TRANSCRIPTS: "OrderedDict[tuple[str, Optional[str], str], str]" = OrderedDict()


def whisper_model(folder: Path) -> tuple[Any, Any]:
    """The per-process ``(WhisperProcessor, WhisperForConditionalGeneration)`` of a local folder."""
    key = str(folder)
    if key not in _MODELS:
        try:
            import torch
            from transformers import WhisperForConditionalGeneration, WhisperProcessor
        except ImportError as exc:
            raise MetricUnavailable(f"Whisper ASR needs transformers and torch ({exc}); "
                                    "pip install 'codecbench[neural]'") from exc
        threads = worker_threads()
        if threads:
            torch.set_num_threads(threads)
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # generate() warns about its own defaults on every call
        processor = WhisperProcessor.from_pretrained(str(folder), local_files_only=True)
        model = WhisperForConditionalGeneration.from_pretrained(str(folder), local_files_only=True).eval()
        _MODELS[key] = (processor, model)
    return _MODELS[key]


def _generation_config(model: Any) -> Any:
    """The model's generation config, forced to greedy decoding."""
    config = copy.deepcopy(model.generation_config)
    config.num_beams = 1
    config.do_sample = False
    config.temperature = None  # no temperature fallback: one deterministic pass
    config.max_new_tokens = int(model.config.max_target_positions) - PROMPT_ROOM  # 440 for real Whisper
    config.max_length = None
    return config


def transcribe(folder: Path, signals: list[np.ndarray], language: Optional[str]) -> list[str]:
    """Greedy Whisper transcripts of 16 kHz mono ``[T]`` signals (the uncached ones in one batch).

    Args:
        folder: local model folder (config, weights, tokenizer and feature-extractor files).
        signals: float mono signals at :data:`ASR_RATE`, each at most :data:`MAX_SECONDS` long.
        language: Whisper language code (``"en"``) or ``None`` to let the model detect it.

    Returns:
        One raw (not normalised) transcript per signal, in order.
    """
    for signal in signals:
        if len(signal) > MAX_SECONDS * ASR_RATE:
            raise MetricUnavailable(f"signal is {len(signal) / ASR_RATE:.1f} s, longer than Whisper's {MAX_SECONDS:g} s "
                                    "window; set the dataset's max_seconds to 30 or less")
    keys = [(str(folder), language, hashlib.sha1(np.ascontiguousarray(s, dtype=np.float32).tobytes()).hexdigest())
            for s in signals]
    todo = list(dict.fromkeys(k for k in keys if k not in _TRANSCRIPTS))
    if todo:
        import torch

        processor, model = whisper_model(folder)
        batch = [np.asarray(signals[keys.index(k)], dtype=np.float32) for k in todo]
        features = processor.feature_extractor(batch, sampling_rate=ASR_RATE, return_tensors="pt",
                                               return_attention_mask=True)
        kwargs: dict[str, Any] = {"task": "transcribe"}
        if language is not None:
            kwargs["language"] = language
        with torch.inference_mode():
            ids = model.generate(features.input_features, attention_mask=features.attention_mask,
                                 generation_config=_generation_config(model), **kwargs)
        texts = processor.batch_decode(ids, skip_special_tokens=True)
        for key, text in zip(todo, texts, strict=True):
            _TRANSCRIPTS[key] = str(text).strip()
            while len(_TRANSCRIPTS) > _CACHE_SIZE:
                _TRANSCRIPTS.popitem(last=False)
    return [_TRANSCRIPTS[k] for k in keys]
