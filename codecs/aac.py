"""AAC-LC (FFmpeg's native encoder through PyAV) at a declared bitrate.

FFmpeg's ``aac`` encoder targets the bit rate on average with a bit reservoir (there is no hard
CBR mode), so measured bitrates land within a few percent of the declared one on speech; at the
edges of a sample rate's range it cannot hold the target (below ~16 kbps at 48 kHz it stays near
15 kbps; above ~4 kbps per kHz it saturates), so each rate accepts a range:
16 kHz 8-64, 22.05/24 kHz 12-96, 32 kHz 16-128, 44.1/48 kHz 16-256 kbps (per channel).
Without a ``sample_rate`` option the rate follows the bitrate per coded channel
(:func:`coding_sample_rate`): <=16 kbps -> 16 kHz, <=40 -> 24 kHz, above -> 48 kHz (AAC-LC
practice for speech), so a stereo input at 32 kbps is coded at 16 kHz and a mono one at 24 kHz.

Channels: an input is coded with its own channel count (stereo as stereo) unless the ``channels``
option says otherwise (``channels: 1`` downmixes, explicitly); each codec point reports the
coding rate and channels per input layout (:meth:`AacCodec.coding_format`). Without a
``channels`` option the bitrate must suit a mono input (suite validation checks that); a stereo
input whose kbps per channel is below the range fails with a line naming ``channels: 1``.

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

from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from codecbench.codecs._pyav import (CHANNELS_RULE, EncoderSetup, PyAVCodec, check_integral_kbps,
                                     encode_matching_rate, encode_packets, kbps_problem)
from codecbench.codecs.base import CodecError, Payload

if TYPE_CHECKING:
    from codecbench.datasets.base import Utterance

# kbps range per channel that the native encoder holds at each rate (measured on speech-like audio).
KBPS_RANGE = {16000: (8, 64), 22050: (12, 96), 24000: (12, 96), 32000: (16, 128),
              44100: (16, 256), 48000: (16, 256)}
AUTO_RATES = ((16, 16000), (40, 24000))
AUTO_RULE = ("chosen from the kbps per coded channel unless the sample_rate option is set: <=16 -> 16000 Hz, "
             "<=40 -> 24000, above -> 48000")


def choose_sample_rate(kbps_per_channel: float) -> int:
    """Sample rate for a bitrate per channel when none is given (see module docstring)."""
    return next((rate for limit, rate in AUTO_RATES if kbps_per_channel <= limit), 48000)


def coding_sample_rate(kbps: int, channels: int, sample_rate: Optional[int] = None) -> int:
    """The rate AAC codes ``kbps`` (total) over ``channels`` at: the option, else the rule (no validation)."""
    return choose_sample_rate(kbps / channels) if sample_rate is None else int(sample_rate)


def bitrate_problem(bitrate: Optional[float], channels: Optional[int] = None,
                    sample_rate: Optional[int] = None) -> Optional[str]:
    """A one-line problem when ``bitrate`` kbps does not fit (``channels=None``: any input, so mono)."""
    problem = kbps_problem("aac", bitrate)
    if problem or bitrate is None:
        return problem
    coded = channels or 1
    rate = coding_sample_rate(int(bitrate), coded, sample_rate)
    if rate not in KBPS_RANGE:
        return (f"aac: sample_rate={sample_rate!r} is not supported; choose one of "
                f"{', '.join(map(str, KBPS_RANGE))}")
    low, high = KBPS_RANGE[rate]
    if low <= bitrate / coded <= high:
        return None
    ranges = "; ".join(f"{r} Hz: {lo}-{hi}" for r, (lo, hi) in KBPS_RANGE.items())
    return (f"aac: {bitrate:g} kbps for {coded} channel(s) is not supported at {rate} Hz; "
            f"allowed kbps per channel: {ranges}")


class AacCodec(PyAVCodec):
    """AAC-LC via FFmpeg's native encoder.

    Args:
        bitrate: declared kbps (default 64), within the coding rate's range per channel.
        device: ignored (CPU codec).
        sample_rate: 16000, 22050, 24000, 32000, 44100 or 48000; default: chosen from the bitrate
            per channel (:func:`coding_sample_rate`).
        channels: ``None`` (default: the input's own, 1 or 2), 1 (downmix) or 2; the bitrate is the
            total.
        match_bitrate: re-encode with a lower encoder target when an item overshoots the declared
            bitrate by more than 2 % (default ``True``; see module docstring).
    """

    name = "aac"
    description = "AAC-LC (FFmpeg native encoder via PyAV), raw frames, average bitrate"
    sample_rates = tuple(KBPS_RANGE)
    default_bitrates = (16.0, 24.0, 32.0, 48.0, 64.0, 96.0, 128.0)

    def __init__(self, bitrate: Optional[float] = 64.0, device: str = "cpu", sample_rate: Optional[int] = None,
                 channels: Optional[int] = None, match_bitrate: bool = True) -> None:
        super().__init__(64.0 if bitrate is None else bitrate, device, channels)
        self.kbps = check_integral_kbps(self.name, self.bitrate or 0.0)
        if sample_rate is not None and int(sample_rate) not in KBPS_RANGE:
            raise CodecError(f"aac: sample_rate={sample_rate!r} is not supported; choose one of "
                             f"{', '.join(map(str, KBPS_RANGE))}")
        self.rate_option = None if sample_rate is None else int(sample_rate)
        if not isinstance(match_bitrate, bool):
            raise CodecError(f"aac: match_bitrate={match_bitrate!r} is not supported; use true or false")
        self.match_bitrate = match_bitrate
        self.options = {"sample_rate": self.rate_option, "channels": self.channel_option,
                        "match_bitrate": match_bitrate}
        self._configure(self.channel_option or 1)

    @classmethod
    def check_bitrate(cls, bitrate: Optional[float], options: dict[str, Any]) -> Optional[str]:
        """Within the coding rate's kbps-per-channel range (the same rule as ``__init__``)."""
        channels, rate = options.get("channels"), options.get("sample_rate")
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int)):
            return None  # a bad option value is reported when the adapter is built
        return bitrate_problem(bitrate, channels if channels in (1, 2) else None, rate)

    @classmethod
    def coding_rules(cls) -> dict[str, str]:
        """Bitrate ranges, coding rate rule and channel policy (module docstring)."""
        ranges = "; ".join(f"{r} Hz: {lo}-{hi}" for r, (lo, hi) in KBPS_RANGE.items())
        return {"bitrate": f"whole kbps, total over channels; per channel at the coding rate: {ranges} "
                           "(unset channels: a mono input must fit)",
                "sample_rate": AUTO_RULE, "channels": CHANNELS_RULE}

    def coding_rate(self, channels: int) -> int:
        """The rate from :func:`coding_sample_rate` for ``channels`` coded channels."""
        return coding_sample_rate(self.kbps, channels, self.rate_option)

    def _make_setup(self, channels: int) -> EncoderSetup:
        problem = bitrate_problem(self.kbps, channels, self.rate_option)
        if problem:
            hint = "; set channels: 1 to downmix, or raise the bitrate" if channels > 1 else ""
            raise CodecError(problem + hint)
        return EncoderSetup(encoder="aac", decoder="aac", sample_format="fltp", sample_rate=self.coding_rate(channels),
                            channels=channels, bit_rate=self.kbps * 1000)

    def encode(self, audio: np.ndarray, item: Optional[Utterance] = None) -> Payload:
        """Encode float32 ``[C, T]``; with ``match_bitrate`` the payload fits the declared rate."""
        setup = self._encoder_setup(audio)
        if self.match_bitrate:
            return encode_matching_rate(setup, audio)
        return encode_packets(setup, audio)
