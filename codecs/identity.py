"""The identity "codec": decode(encode(x)) == x, bit for bit.

A sanity check for the harness and the metrics: every metric must report its best value
(PESQ ~4.6, STOI 1, zero distances) for this codec. It transmits no bitstream, so
``has_payload`` is ``False`` and the measured bitrate is NaN.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from codecbench.codecs.base import Codec, CodecError, Payload

if TYPE_CHECKING:
    from codecbench.datasets.base import Utterance


class IdentityCodec(Codec):
    """Returns its input unchanged.

    Args:
        bitrate: declared kbps, only recorded (default ``None``).
        device: ignored.
        sample_rate: rate the harness converts audio to; ``None`` (default) keeps each input's
            own rate, so nothing at all is done to the audio.
        channels: channel count the harness converts audio to; ``None`` (default) keeps each
            input's own channels, so a stereo input is compared as stereo.
    """

    name = "identity"
    description = "returns the input unchanged (sanity check: metrics must give best values)"
    sample_rates = ()
    default_bitrates = ()
    has_payload = False

    def __init__(self, bitrate: Optional[float] = None, device: str = "cpu", sample_rate: Optional[int] = None,
                 channels: Optional[int] = None) -> None:
        super().__init__(bitrate, device)
        if sample_rate is not None and (isinstance(sample_rate, bool) or not isinstance(sample_rate, int)
                                        or sample_rate <= 0):
            raise CodecError(f"identity: sample_rate={sample_rate!r} must be a positive integer (Hz) or null")
        self.native_rate = sample_rate is None
        if channels is not None and (isinstance(channels, bool) or not isinstance(channels, int) or channels <= 0):
            raise CodecError(f"identity: channels={channels!r} must be a positive integer or null")
        self.channel_option = channels
        self.sample_rate = sample_rate or 48000
        self.channels = channels or 1

    def prepare(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """In native mode adopt the input's rate and channel count instead of converting them."""
        if self.native_rate:
            self.sample_rate = sample_rate
        if self.channel_option is None:
            self.channels = int(np.asarray(audio).shape[0])
        return super().prepare(audio, sample_rate)

    def coding_format(self, input_channels: int) -> tuple[int, int]:
        """The input's channel count unless ``channels`` is set; the rate as :meth:`prepare` uses it."""
        return self.sample_rate, self.channel_option or input_channels

    @classmethod
    def coding_rules(cls) -> dict[str, str]:
        """No bitrate; the input's own rate and channels unless the options convert them."""
        return {"bitrate": "none (nothing is transmitted; a declared bitrate is only recorded)",
                "sample_rate": "the input's own rate unless the sample_rate option is set (then resampled to it)",
                "channels": "the input's own channel count unless the channels option is set (then converted "
                            "to it: 1 downmixes)"}

    def encode(self, audio: np.ndarray, item: Optional[Utterance] = None) -> Payload:
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
        ident.update(sample_rate=None if self.native_rate else self.sample_rate, channels=self.channel_option)
        return ident
