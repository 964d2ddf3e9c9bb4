"""Plumbing shared by the adapters that run a PyTorch model (apcodec, complex_rvqvae, hificodec, dac, encodec).

:class:`TorchCodec` holds what each of them needs around its model: weights resolved from an
option or the Hugging Face cache, a one-line skip reason for missing weights or for ``device:
cuda`` on a machine without CUDA, the model loaded once on first use, weight digests for the
cache key, input checks, and decoded audio cut (or zero-padded) to the input length. torch is
imported inside the methods so that ``codecbench list codecs`` stays cheap.

It also implements :meth:`Codec.encode_batch` / :meth:`Codec.decode_batch` for all of them (and
``encode`` / ``decode`` as batches of one): long inputs are cut into ``chunk_seconds`` chunks of
whole code frames, and chunks and utterances run through the model in batches of segments that
the model treats exactly as it would alone (see :mod:`codecbench.codecs._segments`). Subclasses
supply the model-specific pieces: :meth:`TorchCodec._encode_tensor`,
:meth:`TorchCodec._decode_tensor`, :meth:`TorchCodec._frame_samples`,
:meth:`TorchCodec._codebook_size` and, when they can batch more than equal lengths,
:meth:`TorchCodec._encode_bucket` / :meth:`TorchCodec._decode_bucket`.
"""

from __future__ import annotations

import functools
from abc import abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Optional, TypeVar, Union

import numpy as np

from codecbench.codecs._segments import (DEFAULT_CHUNK_SECONDS, buckets, chunk_length, chunk_seconds_option,
                                         split_bounds, split_counts)
from codecbench.codecs.base import Codec, CodecError, CodecUnavailable, Payload

if TYPE_CHECKING:
    import torch

    from codecbench.datasets.base import Utterance

ModelT = TypeVar("ModelT")  # the adapter's model class (APCodec, HiFiCodec, a transformers model...)
WeightsDigest = Union[str, dict[str, str], None]  # one file's digest, or one per file


class TorchCodec(Codec, Generic[ModelT]):
    """Base of the PyTorch adapters.

    Subclasses implement :meth:`_build_model` and, when their weights are not a single
    :func:`codecbench.weights.resolve` entry, :meth:`_missing_reason` and :meth:`_compute_digest`.

    Option ``chunk_seconds`` (default 30; 0 or None disables): inputs longer than this are encoded
    in chunks of that many seconds rounded down to whole code frames, cut hard (no overlap or
    cross-fade) every ``chunk_seconds``; each chunk is coded like a separate utterance and the
    decoded chunks are concatenated. A forward pass holds at most ``max_batch`` segments and
    ``max_batch_seconds`` of audio (:class:`Codec` defaults 8 and 60 s, raised on CUDA by the codec
    worker), so on CPU a 10-minute file runs as 30 s chunks, two per pass. Codes of all chunks are
    concatenated along time in one payload; ``Payload.side`` carries ``chunk_samples`` and
    ``chunk_frames`` (header information, not counted in the bits). Frames stay whole per chunk, so
    measured kbps stays ``frames x codebooks x bits / duration``.
    """

    # One-line error for input of the wrong shape; ``str.format`` fields: name, channels, shape.
    audio_error: ClassVar[str] = "{name}: expected mono float32 [1, T>0] audio, got {shape}"
    batchable = True

    def __init__(self, bitrate: Optional[float] = None, device: str = "cpu",
                 chunk_seconds: Optional[float] = DEFAULT_CHUNK_SECONDS) -> None:
        super().__init__(bitrate, device)
        self.chunk_seconds = chunk_seconds_option(self.name, chunk_seconds)
        self._model: Optional[ModelT] = None
        self._digest: WeightsDigest = None
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

    def _compute_digest(self) -> WeightsDigest:
        """Digest of the weights for :meth:`identity`; None while they are missing."""
        from codecbench import weights as wts

        return None if self._path is None else wts.weights_digest(self._path)

    def _weights_digest(self) -> WeightsDigest:
        """:meth:`_compute_digest`, computed once (hashing a checkpoint takes a while)."""
        if self._digest is None:
            self._digest = self._compute_digest()
        return self._digest

    # -- protocol hooks ----------------------------------------------------------------------------
    def unavailable_reason(self) -> Optional[str]:
        return self._missing_reason() or cuda_reason(self.name, self.device)

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "chunk_seconds": self.chunk_seconds}

    @abstractmethod
    def _build_model(self) -> ModelT:
        """Load the model on ``self.device``; called once, after the availability check."""

    def _load(self) -> ModelT:
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

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        """A numpy array as a tensor on ``self.device``."""
        import torch

        return torch.from_numpy(array).to(self.device)

    def _payload_codes(self, payload: Payload) -> torch.Tensor:
        """The payload's codes as an int64 tensor ``[n_q, frames]`` on ``self.device``."""
        if payload.codes is None:
            raise CodecError(f"{self.name}: payload carries no codes")
        return self._tensor(np.asarray(payload.codes, dtype=np.int64))


    # -- batched encode / decode -----------------------------------------------------------------------
    def encode(self, audio: np.ndarray, item: Optional[Utterance] = None) -> Payload:
        return self.encode_batch([audio], [item])[0]

    def decode(self, payload: Payload) -> np.ndarray:
        return self.decode_batch([payload])[0]

    def encode_batch(self, audios: list[np.ndarray], items: Optional[list[Optional[Utterance]]] = None) -> list[Payload]:
        """Encode float32 ``[C, T_i]`` inputs in shared forward passes; one payload per input.

        Every payload equals what encoding that input alone gives (same chunks, same padding).
        A bad input raises :class:`CodecError` for the whole call.
        """
        checked = [self._checked_audio(a) for a in audios]
        if not checked:
            return []
        model = self._load()
        chunk = self.chunk_samples()
        spans = [split_bounds(a.shape[1], chunk) for a in checked]
        segments = [audio[:, start:stop] for audio, item_spans in zip(checked, spans) for start, stop in item_spans]
        codes = iter(self._encode_segments(model, segments))
        payloads = []
        for audio, item_spans in zip(checked, spans):
            parts = [next(codes) for _ in item_spans]
            side: dict[str, Any] = {}
            if len(parts) > 1:
                side = {"chunk_samples": [stop - start for start, stop in item_spans],
                        "chunk_frames": [int(p.shape[-1]) for p in parts]}
            payloads.append(codes_payload(np.concatenate(parts, axis=-1), self._codebook_size(), audio.shape[1],
                                          **side))
        return payloads

    def decode_batch(self, payloads: list[Payload]) -> list[np.ndarray]:
        """Decode payloads of :meth:`encode_batch` in shared forward passes; float32 ``[C, num_samples]`` each."""
        if not payloads:
            return []
        model = self._load()
        segments: list[tuple[np.ndarray, int]] = []   # (codes [n_q, F], samples)
        counts = []
        for payload in payloads:
            if payload.codes is None:
                raise CodecError(f"{self.name}: payload carries no codes")
            codes = np.asarray(payload.codes, dtype=np.int64)
            if "chunk_samples" in payload.side:
                lengths = list(payload.side["chunk_samples"])
                try:
                    frames = split_counts(codes.shape[-1], payload.side["chunk_frames"], "chunk_frames")
                    split_counts(payload.num_samples, lengths, "chunk_samples")
                except (KeyError, ValueError) as exc:
                    raise CodecError(f"{self.name}: payload side info is inconsistent ({exc}); re-encode it") from None
                segments += [(codes[:, a:b], n) for (a, b), n in zip(frames, lengths)]
                counts.append(len(lengths))
            else:
                segments.append((codes, payload.num_samples))
                counts.append(1)
        decoded = iter(self._decode_segments(model, segments))
        out = []
        for payload, count in zip(payloads, counts):
            audio = np.concatenate([next(decoded) for _ in range(count)], axis=-1)
            out.append(fit_length(audio, payload.num_samples))
        return out

    def chunk_samples(self) -> Optional[int]:
        """Samples per chunk (a whole number of code frames), or None when chunking is off."""
        return chunk_length(self.chunk_seconds, self.sample_rate, self._frame_samples())

    def _encode_segments(self, model: ModelT, segments: list[np.ndarray]) -> list[np.ndarray]:
        """Codes ``[n_q, F_i]`` of each ``[C, T_i]`` segment, run in buckets of interchangeable lengths."""
        import torch

        keyed = [self._encode_bucket(seg.shape[1]) for seg in segments]
        out: list[Any] = [None] * len(segments)
        with torch.inference_mode():
            for group in self._batches([key for key, _ in keyed], [padded for _, padded in keyed]):
                width = max(keyed[i][1] for i in group)
                batch = np.stack([np.pad(segments[i], ((0, 0), (0, width - segments[i].shape[1]))) for i in group])
                codes = self._encode_tensor(model, self._tensor(batch)).cpu().numpy()   # [B, n_q, F]
                for row, i in enumerate(group):
                    frames = codes.shape[-1] if keyed[i][1] == width else self._frames_for(keyed[i][1])
                    out[i] = codes[row, :, :frames]
        return out

    def _decode_segments(self, model: ModelT, segments: list[tuple[np.ndarray, int]]) -> list[np.ndarray]:
        """Audio ``[C, samples_i]`` of each ``(codes [n_q, F_i], samples_i)``, run in buckets."""
        import torch

        out: list[Any] = [None] * len(segments)
        keys = [self._decode_bucket(codes.shape[-1]) for codes, _ in segments]
        with torch.inference_mode():
            frame = self._frame_samples()
            for group in self._batches(keys, [codes.shape[-1] * frame for codes, _ in segments]):
                width = max(segments[i][0].shape[-1] for i in group)
                batch = np.stack([np.pad(segments[i][0], ((0, 0), (0, width - segments[i][0].shape[-1])))
                                  for i in group])
                wav = self._decode_tensor(model, self._tensor(batch)).float().cpu().numpy()   # [B, C, T']
                for row, i in enumerate(group):
                    out[i] = fit_length(wav[row], segments[i][1])
        return out

    def _batches(self, keys: list[Any], samples: list[int]) -> list[list[int]]:
        """Buckets of equal keys cut to at most ``max_batch`` segments and ``max_batch_seconds`` of audio."""
        budget = int(self.max_batch_seconds * self.sample_rate)
        out = []
        for group in buckets(keys, len(keys)):
            limit = max(1, min(self.max_batch, budget // max(1, max(samples[i] for i in group))))
            out += [group[i: i + limit] for i in range(0, len(group), limit)]
        return out

    # -- model-specific pieces of the batched path ----------------------------------------------------
    def _frame_samples(self) -> int:
        """Input samples per code frame (chunks are a multiple of it)."""
        raise NotImplementedError(f"{type(self).__name__} does not define _frame_samples")

    def _codebook_size(self) -> int:
        """Entries per codebook (``log2`` of it is the bits per code)."""
        raise NotImplementedError(f"{type(self).__name__} does not define _codebook_size")

    def _encode_tensor(self, model: ModelT, audio: torch.Tensor) -> torch.Tensor:
        """Audio ``[B, C, T]`` (one bucket, zero-padded to its longest entry) -> codes ``[B, n_q, F]``."""
        raise NotImplementedError(f"{type(self).__name__} does not define _encode_tensor")

    def _decode_tensor(self, model: ModelT, codes: torch.Tensor) -> torch.Tensor:
        """Codes ``[B, n_q, F]`` (int64, one bucket, zero-padded to its longest entry) -> audio ``[B, C, T']``."""
        raise NotImplementedError(f"{type(self).__name__} does not define _decode_tensor")

    def _encode_bucket(self, length: int) -> tuple[Any, int]:
        """``(key, padded_length)`` of a segment of ``length`` samples.

        Segments with equal keys share a forward pass, zero-padded to the longest padded length
        among them. The default (key = length, no padding) is exact for every model; adapters
        whose single-item encode zero-pads to whole frames anyway key on the padded length.
        """
        return length, length

    def _frames_for(self, padded_length: int) -> int:
        """Frames of a segment padded to ``padded_length`` that shared a bucket with longer ones."""
        raise NotImplementedError(f"{type(self).__name__} buckets unequal lengths but lacks _frames_for")

    def _decode_bucket(self, frames: int) -> Any:
        """Key of a segment of ``frames`` code frames for decoding (default: the frame count, exact)."""
        return frames


def cuda_reason(name: str, device: str) -> Optional[str]:
    """The skip reason when ``device`` asks for CUDA that this machine lacks, else None."""
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            return f"{name}: device {device} requested but CUDA is not available here"
    return None


def codes_payload(codes: Union[np.ndarray, torch.Tensor], codebook_size: int, num_samples: int, **side: Any) -> Payload:
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


class TransformersCodec(TorchCodec[Any]):  # model classes are looked up by name in transformers
    """Base of the adapters that run a ``transformers`` model (DAC, Encodec).

    The weights are a local transformers folder (option ``model_dir`` or its alias ``weights``)
    or the Hugging Face cache entry ``model_name``; the folder's config, when readable, is the
    truth about rates and codebooks (see :meth:`_config`).
    """

    # transformers class names, e.g. "DacModel" / "DacConfig"
    model_class: ClassVar[str] = ""
    config_class: ClassVar[str] = ""

    def __init__(self, bitrate: Optional[float], device: str, model_name: str, model_dir: Optional[str],
                 weights: Optional[str], chunk_seconds: Optional[float] = DEFAULT_CHUNK_SECONDS) -> None:
        super().__init__(bitrate, device, chunk_seconds)
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
