"""Opus (libopus through PyAV) at a declared bitrate.

Defaults give hard CBR (``vbr="off"``), so every 20 ms packet has exactly ``bitrate * 20 ms / 8``
bytes and the measured bitrate equals the declared one up to the extra packet that the 6.5 ms
lookahead spills into (~1 % on a 2 s item). The payload is the raw Opus packets (no Ogg).

Delay: libopus primes its output with its lookahead (312 samples at 48 kHz, 120 with
``application="lowdelay"``; the OpusHead pre-skip). FFmpeg reports it as the first packet's
negative timestamp; the decoder drops exactly that many samples and trims to the input length
(see :mod:`codecbench.codecs._pyav`). CELT frames then line up exactly (lag 0.0 samples by
cross-correlation); SILK and hybrid frames (speech below ~32 kbps, ``voip``) come out 1-2 samples
(<= 40 us at 48 kHz) early, libopus's own approximation of its SILK resampler delay, left as is.
libopus always decodes at 48 kHz; with a lower ``sample_rate`` the decoded audio is resampled
back with soxr (zero-delay, linear phase).

Channels and rate: an input is coded with its own channel count (stereo as stereo) unless the
``channels`` option says otherwise (``channels: 1`` downmixes, explicitly); the coding rate is
the ``sample_rate`` option (48 kHz by default), whatever the channel count. The bitrate is the
total over channels, from 6 kbps (the lowest rate Opus is used at) to FFmpeg's libopus limit of
256 kbps per channel: 6-256 kbps for mono, 6-512 for stereo (checked: 512 codes, 600 is refused). Without a ``channels`` option the bitrate must suit a mono input
(every input fits it then).
"""

from __future__ import annotations

from typing import Any, Optional

from codecbench.codecs._pyav import (CHANNELS_RULE, EncoderSetup, PyAVCodec, check_choice, check_integral_kbps,
                                     kbps_problem)
from codecbench.codecs.base import CodecError

APPLICATIONS = ("audio", "voip", "lowdelay")
VBR_MODES = ("off", "on", "constrained")
FRAME_DURATIONS = (2.5, 5.0, 10.0, 20.0, 40.0, 60.0, 80.0, 100.0, 120.0)
SAMPLE_RATES = (48000, 24000, 16000, 12000, 8000)
KBPS_PER_CHANNEL = (6, 256)  # the range FFmpeg's libopus wrapper accepts, times the channel count


def bitrate_range(channels: int) -> tuple[int, int]:
    """Total kbps libopus accepts for ``channels`` coded channels."""
    return KBPS_PER_CHANNEL[0], KBPS_PER_CHANNEL[1] * channels


def bitrate_problem(bitrate: Optional[float], channels: Optional[int]) -> Optional[str]:
    """A one-line problem when ``bitrate`` kbps cannot be coded (``channels=None``: any input, so mono)."""
    problem = kbps_problem("opus", bitrate)
    if problem or bitrate is None:
        return problem
    low, high = bitrate_range(channels or 1)
    if low <= bitrate <= high:
        return None
    ranges = f"{low}-{bitrate_range(1)[1]} kbps for mono, {low}-{bitrate_range(2)[1]} for stereo"
    hint = "; set channels: 2 to allow more" if channels is None and bitrate <= bitrate_range(2)[1] else ""
    return f"opus: bitrate {bitrate:g} kbps is out of range; libopus allows {ranges} (the total over channels){hint}"


class OpusCodec(PyAVCodec):
    """Opus via libopus.

    Args:
        bitrate: declared kbps, a whole number, 6-256 per channel (default 24).
        device: ignored (CPU codec).
        application: libopus mode, ``audio`` (default), ``voip`` or ``lowdelay`` (CELT only).
        complexity: encoder complexity 0-10 (default 10).
        vbr: ``off`` (hard CBR, default), ``on`` or ``constrained``.
        frame_duration: packet length in ms (2.5, 5, 10, 20 (default), 40, 60, 80, 100, 120).
        sample_rate: encoder input rate (48000 default; 24000/16000/12000/8000 limit the band).
        channels: ``None`` (default: the input's own, 1 or 2), 1 (downmix) or 2; the bitrate is the
            total over channels.
    """

    name = "opus"
    description = "Opus (libopus via PyAV), raw packets, CBR by default"
    sample_rates = SAMPLE_RATES
    default_bitrates = (6.0, 8.0, 12.0, 16.0, 24.0, 32.0, 64.0)
    library = ("libopus", "opus_get_version_string")

    def __init__(self, bitrate: Optional[float] = 24.0, device: str = "cpu", application: str = "audio",
                 complexity: int = 10, vbr: str = "off", frame_duration: float = 20.0,
                 sample_rate: int = 48000, channels: Optional[int] = None) -> None:
        super().__init__(24.0 if bitrate is None else bitrate, device, channels)
        if isinstance(vbr, bool):  # YAML 1.1 reads a bare `vbr: off` / `vbr: on` as a boolean
            vbr = "on" if vbr else "off"
        self.kbps = check_integral_kbps(self.name, self.bitrate or 0.0)
        check_choice(self.name, "application", application, APPLICATIONS)
        check_choice(self.name, "vbr", vbr, VBR_MODES)
        check_choice(self.name, "frame_duration", float(frame_duration), FRAME_DURATIONS)
        check_choice(self.name, "sample_rate", int(sample_rate), SAMPLE_RATES)
        if isinstance(complexity, bool) or not isinstance(complexity, int) or not 0 <= complexity <= 10:
            raise CodecError(f"opus: complexity={complexity!r} is not supported; use an integer 0-10")
        self.rate = int(sample_rate)
        self.options = {"application": application, "complexity": complexity, "vbr": vbr,
                        "frame_duration": float(frame_duration), "sample_rate": self.rate,
                        "channels": self.channel_option}
        self.encoder_options = {"application": application, "compression_level": str(complexity), "vbr": vbr,
                                "frame_duration": f"{float(frame_duration):g}"}
        self._configure(self.channel_option or 1)

    @classmethod
    def check_bitrate(cls, bitrate: Optional[float], options: dict[str, Any]) -> Optional[str]:
        """6-256 kbps per coded channel (``channels`` option; unset: a mono input must fit)."""
        channels = options.get("channels")
        return bitrate_problem(bitrate, channels if channels in (1, 2) else None)

    @classmethod
    def coding_rules(cls) -> dict[str, str]:
        """Bitrate range, coding rate rule and channel policy (module docstring)."""
        return {"bitrate": f"whole kbps, {bitrate_range(1)[0]}-{bitrate_range(1)[1]} for mono, "
                           f"{bitrate_range(2)[0]}-{bitrate_range(2)[1]} for stereo (total over channels)",
                "sample_rate": "the sample_rate option (48000 default; 24000/16000/12000/8000 limit the band), "
                               "decoded by libopus at 48000 Hz and resampled back",
                "channels": CHANNELS_RULE}

    def coding_rate(self, channels: int) -> int:
        """The ``sample_rate`` option, for any channel count."""
        return self.rate

    def _make_setup(self, channels: int) -> EncoderSetup:
        problem = bitrate_problem(self.kbps, channels)
        if problem:
            raise CodecError(problem)
        return EncoderSetup(encoder="libopus", decoder="libopus", sample_format="flt", sample_rate=self.rate,
                            channels=channels, bit_rate=self.kbps * 1000, decode_rate=48000,
                            options=dict(self.encoder_options))
