"""The identity "codec": decode(encode(x)) == x, bit for bit.

A sanity check for the harness and the metrics: every metric must report its best value
(PESQ ~4.6, STOI 1, zero distances) for this codec. It transmits no bitstream, so
``has_payload`` is ``False`` and the measured bitrate is NaN.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from codecbench.codecs.base import Codec, CodecError, Payload


class IdentityCodec(Codec):
    """Returns its input unchanged.

    Args:
        bitrate: declared kbps, only recorded (default ``None``).
        device: ignored.
        sample_rate: rate the harness converts audio to; ``None`` (default) keeps each input's
            own rate, so nothing at all is done to the audio.
        channels: channel count the harness converts audio to (default 1).
    """

    name = "identity"
    description = "returns the input unchanged (sanity check: metrics must give best values)"
    sample_rates = ()
    default_bitrates = ()
    has_payload = False

    def __init__(self, bitrate: Optional[float] = None, device: str = "cpu", sample_rate: Optional[int] = None,
                 channels: int = 1) -> None:
        super().__init__(bitrate, device)
        if sample_rate is not None and (isinstance(sample_rate, bool) or not isinstance(sample_rate, int)
                                        or sample_rate <= 0):
            raise CodecError(f"identity: sample_rate={sample_rate!r} must be a positive integer (Hz) or null")
        self.native_rate = sample_rate is None
        if isinstance(channels, bool) or not isinstance(channels, int) or channels <= 0:
            raise CodecError(f"identity: channels={channels!r} must be a positive integer")
        self.sample_rate = sample_rate or 48000
        self.channels = channels

    def prepare(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """In native-rate mode adopt the input's rate instead of resampling it."""
        if self.native_rate:
            self.sample_rate = sample_rate
        return super().prepare(audio, sample_rate)

    def encode(self, audio: np.ndarray, item: Optional[Any] = None) -> Payload:
        """Keep a private copy of ``audio`` ([C, T]) in the payload's side information."""
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim != 2:
            raise CodecError(f"identity: expected [C, T] audio, got shape {tuple(audio.shape)}")
        return Payload(data=b"", num_samples=audio.shape[1], side={"audio": audio.copy()})

    def decode(self, payload: Payload) -> np.ndarray:
        """Return the encoded audio unchanged (a copy, so callers cannot alter the payload)."""
        if "audio" not in payload.side:
            raise CodecError("identity: payload has no audio; encode it with the identity codec")
        return np.array(payload.side["audio"], dtype=np.float32, copy=True)

    def identity(self) -> dict[str, Any]:
        """Cache key: the rate and channel count the audio passes through."""
        ident = super().identity()
        ident.update(sample_rate=None if self.native_rate else self.sample_rate, channels=self.channels)
        return ident
