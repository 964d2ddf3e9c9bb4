"""AAC-LC (FFmpeg's native encoder through PyAV) at a declared bitrate.

FFmpeg's ``aac`` encoder targets the bit rate on average with a bit reservoir (there is no hard
CBR mode), so measured bitrates land within a few percent of the declared one on speech; at the
edges of a sample rate's range it cannot hold the target (below ~16 kbps at 48 kHz it stays near
15 kbps; above ~4 kbps per kHz it saturates), so each rate accepts a range:
16 kHz 8-64, 22.05/24 kHz 12-96, 32 kHz 16-128, 44.1/48 kHz 16-256 kbps (per channel).
Without a ``sample_rate`` option the rate follows the bitrate: <=16 kbps -> 16 kHz,
<=40 -> 24 kHz, above -> 48 kHz (AAC-LC practice for mono speech).

Rate matching: because the encoder overshoots its target by up to ~20 % on some items (more at
high rates, where its psychoacoustic model asks for more bits), ``match_bitrate=True`` (default)
re-encodes an item with the encoder target scaled by declared/measured until the payload is
within 2 % of the declared rate (at most 4 encodes, like a two-pass encoder). The target used is
stored in ``Payload.side["target_bit_rate"]``. With ``match_bitrate=False`` the encoder runs once.

Delay: the encoder primes 1024 samples (one frame), reported by FFmpeg as the first packet's
negative timestamp; decoding drops exactly that many samples and trims to the input length
(see :mod:`codecbench.codecs._pyav`). The payload is the raw AAC frames (no ADTS headers); the
2-byte AudioSpecificConfig travels in ``Payload.side`` like a container header.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from codecbench.codecs._pyav import (EncoderSetup, PyAVCodec, check_channels, check_integral_kbps,
                                     encode_matching_rate, encode_packets)
from codecbench.codecs.base import CodecError, Payload

# kbps range per channel that the native encoder holds at each rate (measured on speech-like audio).
KBPS_RANGE = {16000: (8, 64), 22050: (12, 96), 24000: (12, 96), 32000: (16, 128),
              44100: (16, 256), 48000: (16, 256)}
AUTO_RATES = ((16, 16000), (40, 24000))


def choose_sample_rate(kbps_per_channel: int) -> int:
    """Sample rate for a bitrate when none is given (see module docstring)."""
    return next((rate for limit, rate in AUTO_RATES if kbps_per_channel <= limit), 48000)


class AacCodec(PyAVCodec):
    """AAC-LC via FFmpeg's native encoder.

    Args:
        bitrate: declared kbps (default 64), within the sample rate's range.
        device: ignored (CPU codec).
        sample_rate: 16000, 22050, 24000, 32000, 44100 or 48000; default: chosen from the bitrate.
        channels: 1 (default) or 2; the bitrate is the total.
        match_bitrate: re-encode with a lower encoder target when an item overshoots the declared
            bitrate by more than 2 % (default ``True``; see module docstring).
    """

    name = "aac"
    description = "AAC-LC (FFmpeg native encoder via PyAV), raw frames, average bitrate"
    sample_rates = tuple(KBPS_RANGE)
    default_bitrates = (16.0, 24.0, 32.0, 48.0, 64.0, 96.0, 128.0)

    def __init__(self, bitrate: Optional[float] = 64.0, device: str = "cpu",
                 sample_rate: Optional[int] = None, channels: int = 1, match_bitrate: bool = True) -> None:
        super().__init__(64.0 if bitrate is None else bitrate, device)
        channels = check_channels(self.name, channels)
        kbps = check_integral_kbps(self.name, self.bitrate or 0.0)
        per_channel = kbps / channels
        rate = choose_sample_rate(int(per_channel)) if sample_rate is None else int(sample_rate)
        if rate not in KBPS_RANGE:
            raise CodecError(f"aac: sample_rate={sample_rate!r} is not supported; choose one of "
                             f"{', '.join(map(str, KBPS_RANGE))}")
        low, high = KBPS_RANGE[rate]
        if not low <= per_channel <= high:
            ranges = "; ".join(f"{r} Hz: {lo}-{hi}" for r, (lo, hi) in KBPS_RANGE.items())
            raise CodecError(f"aac: {kbps} kbps for {channels} channel(s) is not supported at {rate} Hz; "
                             f"allowed kbps per channel: {ranges}")
        self.sample_rate = rate
        self.channels = channels
        if not isinstance(match_bitrate, bool):
            raise CodecError(f"aac: match_bitrate={match_bitrate!r} is not supported; use true or false")
        self.match_bitrate = match_bitrate
        self.options = {"sample_rate": rate, "channels": channels, "match_bitrate": match_bitrate}
        self.setup = EncoderSetup(encoder="aac", decoder="aac", sample_format="fltp", sample_rate=rate,
                                  channels=channels, bit_rate=kbps * 1000)

    def encode(self, audio: np.ndarray, item: Optional[Any] = None) -> Payload:
        """Encode float32 ``[C, T]``; with ``match_bitrate`` the payload fits the declared rate."""
        if self.match_bitrate:
            return encode_matching_rate(self.setup, audio)
        return encode_packets(self.setup, audio)
