"""The codec adapter protocol.

An adapter wraps one codec at one operating point (declared bitrate plus options). The harness
hands it mono or multichannel float32 audio at the adapter's own sample rate (resampling and
channel conversion happen in :meth:`Codec.prepare`, at the adapter's boundary), calls
:meth:`Codec.encode` to obtain a real :class:`Payload` and :meth:`Codec.decode` to get audio back.
The measured bitrate is always computed from the payload, never taken from the declaration.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Optional

import numpy as np

from codecbench.errors import CodecStageError
from codecbench.paths import file_digest  # noqa: F401  (re-exported: adapters hash their weights with it)

if TYPE_CHECKING:
    from codecbench.datasets.base import Utterance


class CodecError(CodecStageError):
    """A codec failed on one item. The message is one line and says what to do."""


class CodecUnavailable(CodecStageError):
    """The codec cannot run here (weights or an optional backend missing); its items are skipped."""


@dataclass(frozen=True)
class Payload:
    """What an encoder transmits.

    Exactly one of ``data`` (a byte stream) and ``codes`` (an integer array whose elements are
    each ``bits_per_code`` bits, e.g. ``[n_codebooks, frames]`` with ``log2(codebook size)``) is
    set. ``num_samples`` is the encoder's input length at the codec rate, so decoders can trim
    their padding. ``side`` holds decoder side information that a real bitstream would carry
    negligibly or in a header (e.g. Encodec's per-chunk scales); it is not counted in ``bits``.
    """

    data: Optional[bytes] = None
    codes: Optional[np.ndarray] = None
    bits_per_code: Optional[float] = None
    num_samples: int = 0
    side: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.data is None) == (self.codes is None):
            raise ValueError("Payload needs exactly one of 'data' or 'codes'")
        if self.codes is not None:
            if not np.issubdtype(np.asarray(self.codes).dtype, np.integer):
                raise ValueError("Payload.codes must be an integer array")
            if not self.bits_per_code or self.bits_per_code <= 0:
                raise ValueError("Payload.codes needs a positive bits_per_code")

    @classmethod
    def from_codes(cls, codes: np.ndarray, codebook_size: int, num_samples: int, **side: Any) -> "Payload":
        """Codes of a codebook with ``codebook_size`` entries: log2(size) bits each."""
        return cls(codes=np.asarray(codes), bits_per_code=math.log2(codebook_size),
                   num_samples=num_samples, side=dict(side))

    @property
    def kind(self) -> str:
        """``"bytes"``: :attr:`bits` is the size of an encoded byte stream; ``"codes"``: it is the size
        of the code array (elements x ``bits_per_code``), the nominal payload rate, before any
        entropy coding, container or side information."""
        return "bytes" if self.data is not None else "codes"

    @property
    def bits(self) -> float:
        """Total number of transmitted bits."""
        if self.data is not None:
            return 8.0 * len(self.data)
        assert self.codes is not None and self.bits_per_code is not None
        return float(np.asarray(self.codes).size) * float(self.bits_per_code)

    def kbps(self, duration_s: float) -> float:
        """Measured bitrate for audio of ``duration_s`` seconds."""
        return self.bits / duration_s / 1000.0 if duration_s > 0 else math.nan


class Codec(ABC):
    """Base class of every codec adapter.

    Subclasses set ``name`` (the registry name), ``sample_rates`` and ``default_bitrates``
    (what ``codecbench list codecs`` shows) and accept their options as keyword arguments of
    ``__init__`` (unknown options are rejected by the suite validator from the signature).

    Attributes set by ``__init__``:
        bitrate: declared kbps of this operating point (``None`` for codecs without one).
        device: ``"cpu"`` or ``"cuda"`` (or ``"cuda:N"``).
        sample_rate: rate of the audio that ``encode`` takes and ``decode`` returns, in Hz.
        channels: channel count ``encode`` takes and ``decode`` returns.

    Adapters that code each input with its own layout (the classic codecs, whose
    ``accepted_channels`` lists the counts they code, and ``identity``) set ``sample_rate`` and
    ``channels`` for the item in :meth:`prepare`;
    :meth:`coding_format` says beforehand what they will be, and :meth:`identity` must not depend
    on them.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    sample_rates: ClassVar[tuple[int, ...]] = ()
    default_bitrates: ClassVar[tuple[float, ...]] = ()
    # True when decode() produces no real bitstream (identity, precomputed): measured kbps is NaN.
    has_payload: ClassVar[bool] = True
    # Input channel counts the adapter codes as they are (``None``: it converts every input to
    # ``self.channels``). Adapters that follow the input's layout list what they can code.
    accepted_channels: ClassVar[Optional[tuple[int, ...]]] = None
    # True when encode_batch / decode_batch share work across items (forward passes of several
    # inputs) and equal coding each alone: on CUDA the runner then sends the codec worker several
    # items at a time (codecbench.batching). Such an adapter must not switch its coding format per
    # item in prepare().
    batchable: ClassVar[bool] = False
    # Most segments, and most seconds of audio, that one shared forward pass holds (they bound
    # memory and never change the output). The codec worker sets them per instance from its batch
    # budget on CUDA (codecbench.batching.batch_limits), so they are the one source of both limits.
    max_batch: int = 8
    max_batch_seconds: float = 60.0

    def __init__(self, bitrate: Optional[float] = None, device: str = "cpu") -> None:
        self.bitrate = None if bitrate is None else float(bitrate)
        self.device = device
        self.sample_rate: int = self.sample_rates[0] if self.sample_rates else 48000
        self.channels: int = 1

    # -- the protocol ---------------------------------------------------------------------
    @abstractmethod
    def encode(self, audio: np.ndarray, item: Optional[Utterance] = None) -> Payload:
        """Encode ``audio`` (float32 ``[C, T]`` at ``self.sample_rate``, ``C == self.channels``).

        ``item`` is the dataset utterance (id, path, metadata); only adapters that look
        things up per utterance (``precomputed``) need it.
        """

    @abstractmethod
    def decode(self, payload: Payload) -> np.ndarray:
        """Decode ``payload`` to float32 ``[C, T]`` at ``self.sample_rate``."""

    # -- batches (defaults loop; the PyTorch adapters override them to share forward passes) ------
    def encode_batch(self, audios: list[np.ndarray], items: Optional[list[Optional[Utterance]]] = None) -> list[Payload]:
        """Encode several inputs; the result equals ``[encode(a, i) for a, i in zip(audios, items)]``.

        Args:
            audios: float32 ``[C, T_i]`` arrays at ``self.sample_rate`` (lengths may differ).
            items: the dataset utterances, one per audio (``None``: no item for any).

        Returns:
            One :class:`Payload` per input, in order.
        """
        if items is not None and len(items) != len(audios):
            raise ValueError(f"{self.name}: encode_batch got {len(audios)} audios but {len(items)} items")
        return [self.encode(audio, None if items is None else items[i]) for i, audio in enumerate(audios)]

    def decode_batch(self, payloads: list[Payload]) -> list[np.ndarray]:
        """Decode several payloads; the result equals ``[decode(p) for p in payloads]``.

        Returns:
            float32 ``[C, num_samples_i]`` arrays at ``self.sample_rate``, one per payload, in order.
        """
        return [self.decode(payload) for payload in payloads]

    # -- optional hooks ---------------------------------------------------------------------
    def identity(self) -> dict[str, Any]:
        """Everything that changes the decoded audio: goes into the content-addressed cache key.

        Adapters that load checkpoints add their file digests here.
        """
        return {"adapter": self.name, "bitrate": self.bitrate, "version": 1}

    @classmethod
    def check_bitrate(cls, bitrate: Optional[float], options: dict[str, Any]) -> Optional[str]:
        """A one-line problem when ``bitrate`` (declared kbps) is outside what this codec accepts.

        Called by suite validation before any work starts, so an out-of-range bitrate is a suite
        error (naming the allowed range) rather than a column of failed rows. ``options`` are the
        entry's options (some codecs' ranges depend on them). Default: anything goes.
        """
        return None

    def coding_format(self, input_channels: int) -> tuple[int, int]:
        """``(sample_rate, channels)`` this codec actually codes an input of ``input_channels`` at.

        Recorded per row in the store so that what happened to the audio is never silent.
        """
        return self.sample_rate, self.channels

    @classmethod
    def coding_rules(cls) -> dict[str, str]:
        """How the operating point is chosen, for ``list codecs -v`` and the run manifest.

        Keys ``bitrate`` (accepted kbps), ``sample_rate`` (the rule giving the coding rate) and
        ``channels`` (what happens to the input's channels), each one line. Adapters whose rate or
        channels depend on options or the input override this; the default states the class data.
        """
        kbps = ", ".join(f"{b:g}" for b in cls.default_bitrates)
        rates = ", ".join(str(r) for r in cls.sample_rates)
        return {"bitrate": f"typical kbps {kbps} (the accepted range is the adapter's; see its description)"
                           if kbps else "none declared",
                "sample_rate": f"its own rate ({rates}); the input is resampled to it" if rates
                               else "as the adapter decides per input",
                "channels": "the input is converted to the adapter's own channel count (reported per codec "
                            "point as its coding format)"}

    @classmethod
    def coding_description(cls) -> str:
        """:meth:`coding_rules` as one line (recorded per codec point in the manifest)."""
        return "; ".join(f"{key}: {value}" for key, value in cls.coding_rules().items())

    def unavailable_reason(self) -> Optional[str]:
        """A one-line reason when the codec cannot run here (items are then skipped)."""
        return None

    @classmethod
    def summary(cls) -> str:
        """One line for ``codecbench list codecs``."""
        rates = "/".join(f"{r // 1000 if r % 1000 == 0 else r / 1000:g}k" for r in cls.sample_rates) or "any"
        kbps = ", ".join(f"{b:g}" for b in cls.default_bitrates) or "-"
        return f"{rates} Hz; kbps: {kbps}; {cls.description}"

    # -- helpers the harness uses ------------------------------------------------------------
    def prepare(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """Convert ``[C, T]`` audio at ``sample_rate`` to this codec's rate and channel count."""
        from codecbench.audio import convert_channels, resample

        audio = resample(audio, sample_rate, self.sample_rate)
        return convert_channels(audio, self.channels)
