"""Plumbing shared by the adapters that run a PyTorch model (apcodec, complex_rvqvae, hificodec, dac, encodec).

:class:`TorchCodec` holds what each of them needs around its model: weights resolved from an
option or the Hugging Face cache, a one-line skip reason for missing weights or for ``device:
cuda`` on a machine without CUDA, the model loaded once on first use, weight digests for the
cache key, input checks, and decoded audio cut (or zero-padded) to the input length. torch is
imported inside the methods so that ``codecbench list codecs`` stays cheap.
"""

from __future__ import annotations

import functools
from abc import abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Optional

import numpy as np

from codecbench.codecs.base import Codec, CodecError, CodecUnavailable, Payload


class TorchCodec(Codec):
    """Base of the PyTorch adapters.

    Subclasses implement :meth:`_build_model` and, when their weights are not a single
    :func:`codecbench.weights.resolve` entry, :meth:`_missing_reason` and :meth:`_compute_digest`.
    """

    # One-line error for input of the wrong shape; ``str.format`` fields: name, channels, shape.
    audio_error: ClassVar[str] = "{name}: expected mono float32 [1, T>0] audio, got {shape}"

    def __init__(self, bitrate: Optional[float] = None, device: str = "cpu") -> None:
        super().__init__(bitrate, device)
        self._model: Any = None
        self._digest: Any = None
        self._weights_name: Optional[str] = None
        self._explicit: Optional[str] = None
        self._option = ""
        self._path: Optional[Path] = None

    # -- weights -----------------------------------------------------------------------------------
    def _resolve_weights(self, name: Optional[str], option: str, given: Optional[str],
                         alias: Optional[str]) -> None:
        """Find the weights named by option ``option`` (or its alias ``weights``), else in the HF cache.

        With ``name`` None (no registered weights, e.g. a custom config) only an existing file
        given by the option counts.
        """
        from codecbench import weights as wts

        self._weights_name = name
        self._explicit = given or alias
        self._option = option if given or not alias else "weights"
        if name:
            self._path = wts.resolve(name, self._explicit)
        else:
            explicit = self._explicit
            self._path = Path(explicit) if explicit and Path(explicit).is_file() else None

    def _missing_reason(self) -> Optional[str]:
        """Why the weights (or an optional backend) are missing; None when all is there."""
        from codecbench import weights as wts

        if self._path is None and self._weights_name:
            return wts.missing_message(self._weights_name, self._explicit, self._option)
        return None

    def _compute_digest(self) -> Any:
        """Digest of the weights for :meth:`identity`; None while they are missing."""
        from codecbench import weights as wts

        return None if self._path is None else wts.weights_digest(self._path)

    def _weights_digest(self) -> Any:
        """:meth:`_compute_digest`, computed once (hashing a checkpoint takes a while)."""
        if self._digest is None:
            self._digest = self._compute_digest()
        return self._digest

    # -- protocol hooks ----------------------------------------------------------------------------
    def unavailable_reason(self) -> Optional[str]:
        return self._missing_reason() or cuda_reason(self.name, self.device)

    @abstractmethod
    def _build_model(self) -> Any:
        """Load the model on ``self.device``; called once, after the availability check."""

    def _load(self) -> Any:
        if self._model is None:
            reason = self.unavailable_reason()
            if reason:
                raise CodecUnavailable(reason)
            self._model = self._build_model()
        return self._model

    # -- tensors -----------------------------------------------------------------------------------
    def _checked_audio(self, audio: np.ndarray) -> np.ndarray:
        """``audio`` as float32 ``[self.channels, T>0]``; a :class:`CodecError` otherwise."""
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim != 2 or audio.shape[0] != self.channels or audio.shape[1] == 0:
            raise CodecError(self.audio_error.format(name=self.name, channels=self.channels, shape=audio.shape))
        return audio

    def _tensor(self, array: np.ndarray) -> Any:
        """A numpy array as a tensor on ``self.device``."""
        import torch

        return torch.from_numpy(array).to(self.device)

    def _payload_codes(self, payload: Payload) -> Any:
        """The payload's codes as an int64 tensor ``[n_q, frames]`` on ``self.device``."""
        if payload.codes is None:
            raise CodecError(f"{self.name}: payload carries no codes")
        return self._tensor(np.asarray(payload.codes, dtype=np.int64))


def cuda_reason(name: str, device: str) -> Optional[str]:
    """The skip reason when ``device`` asks for CUDA that this machine lacks, else None."""
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            return f"{name}: device {device} requested but CUDA is not available here"
    return None


def codes_payload(codes: Any, codebook_size: int, num_samples: int, **side: Any) -> Payload:
    """A payload of integer codes ``[n_q, frames]`` (a tensor on any device, or an array)."""
    if not isinstance(codes, np.ndarray):
        codes = codes.cpu().numpy()
    return Payload.from_codes(codes.astype(np.int32), codebook_size, num_samples, **side)


def fit_length(audio: np.ndarray, length: int) -> np.ndarray:
    """Trim or zero-pad ``[C, T]`` audio on the right to ``length`` samples (float32, contiguous).

    Decoders return whole frames (or, for DAC 16 kHz, a few samples fewer); the harness needs
    exactly the input length back.
    """
    if audio.shape[-1] >= length:
        audio = audio[..., :length]
    else:
        audio = np.pad(audio, ((0, 0), (0, length - audio.shape[-1])))
    return np.ascontiguousarray(audio, dtype=np.float32)


class TransformersCodec(TorchCodec):
    """Base of the adapters that run a ``transformers`` model (DAC, Encodec).

    The weights are a local transformers folder (option ``model_dir`` or its alias ``weights``)
    or the Hugging Face cache entry ``model_name``; the folder's config, when readable, is the
    truth about rates and codebooks (see :meth:`_config`).
    """

    # transformers class names, e.g. "DacModel" / "DacConfig"
    model_class: ClassVar[str] = ""
    config_class: ClassVar[str] = ""

    def __init__(self, bitrate: Optional[float], device: str, model_name: str, model_dir: Optional[str],
                 weights: Optional[str]) -> None:
        super().__init__(bitrate, device)
        self.model_name = model_name
        self._resolve_weights(model_name, "model_dir", model_dir, weights)

    def _config(self) -> Any:
        """The weights folder's config; None when absent or without transformers."""
        return transformers_config(self.config_class, self._path) if self._path is not None else None

    def _missing_reason(self) -> Optional[str]:
        return transformers_reason(self.name) or super()._missing_reason()

    def _build_model(self) -> Any:
        assert self._path is not None
        return _pretrained(self.model_class, str(self._path), self.device, weights_stamp(self._path))


@functools.lru_cache(maxsize=6)
def _pretrained(model_class: str, path: str, device: str, stamp: float) -> Any:
    """One loaded model per (class, folder, device, weights mtime): a bitrate sweep builds one
    adapter per bitrate, and they all share the model instead of re-reading it."""
    import transformers

    return getattr(transformers, model_class).from_pretrained(path).to(device).eval()


def transformers_reason(name: str) -> Optional[str]:
    """The skip reason when the optional ``transformers`` backend is not installed."""
    try:
        import transformers  # noqa: F401
    except ImportError:
        return f"{name} needs transformers; pip install 'codecbench[neural]'"
    return None


def transformers_config(class_name: str, path: Path) -> Any:
    """The folder's ``transformers`` config (e.g. ``DacConfig``), or None without transformers.

    Without transformers the adapter is skipped with :func:`transformers_reason`.
    """
    try:
        import transformers

        config_class = getattr(transformers, class_name)
    except (ImportError, AttributeError):
        return None
    return config_class.from_pretrained(path)


def weights_stamp(path: Path) -> float:
    """Newest modification time of a transformers folder's config and weights (a model-cache key)."""
    from codecbench.weights import TRANSFORMERS_WEIGHT_FILES

    return max((path / name).stat().st_mtime for name in ("config.json", *TRANSFORMERS_WEIGHT_FILES)
               if (path / name).is_file())
