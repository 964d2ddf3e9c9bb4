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
"""

from __future__ import annotations

from typing import Any, Optional

from codecbench.codecs._pyav import (EncoderSetup, PyAVCodec, check_channels, check_choice,
                                     check_integral_kbps)
from codecbench.codecs.base import CodecError

APPLICATIONS = ("audio", "voip", "lowdelay")
VBR_MODES = ("off", "on", "constrained")
FRAME_DURATIONS = (2.5, 5.0, 10.0, 20.0, 40.0, 60.0, 80.0, 100.0, 120.0)
SAMPLE_RATES = (48000, 24000, 16000, 12000, 8000)


class OpusCodec(PyAVCodec):
    """Opus via libopus.

    Args:
        bitrate: declared kbps, a whole number from 6 to 256 per channel (default 24).
        device: ignored (CPU codec).
        application: libopus mode, ``audio`` (default), ``voip`` or ``lowdelay`` (CELT only).
        complexity: encoder complexity 0-10 (default 10).
        vbr: ``off`` (hard CBR, default), ``on`` or ``constrained``.
        frame_duration: packet length in ms (2.5, 5, 10, 20 (default), 40, 60, 80, 100, 120).
        sample_rate: encoder input rate (48000 default; 24000/16000/12000/8000 limit the band).
        channels: 1 (default) or 2; the bitrate is the total over channels.
    """

    name = "opus"
    description = "Opus (libopus via PyAV), raw packets, CBR by default"
    sample_rates = SAMPLE_RATES
    default_bitrates = (6.0, 8.0, 12.0, 16.0, 24.0, 32.0, 64.0)
    library = ("libopus", "opus_get_version_string")

    @classmethod
    def check_bitrate(cls, bitrate: Optional[float], options: dict[str, Any]) -> Optional[str]:
        """Whole kbps in libopus' 6-256 per channel, checked at suite validation (before any work)."""
        if bitrate is None:
            return None
        channels = options.get("channels", 1)
        top = 256 * (channels if channels in (1, 2) else 2)
        if not float(bitrate).is_integer() or not 6 <= bitrate <= top:
            return (f"opus: bitrate {bitrate:g} kbps is out of range; libopus allows whole kbps 6-{top} "
                    f"for {channels} channel(s)")
        return None

    def __init__(self, bitrate: Optional[float] = 24.0, device: str = "cpu", application: str = "audio",
                 complexity: int = 10, vbr: str = "off", frame_duration: float = 20.0,
                 sample_rate: int = 48000, channels: int = 1) -> None:
        super().__init__(24.0 if bitrate is None else bitrate, device)
        channels = check_channels(self.name, channels)
        if isinstance(vbr, bool):  # YAML 1.1 reads a bare `vbr: off` / `vbr: on` as a boolean
            vbr = "on" if vbr else "off"
        kbps = check_integral_kbps(self.name, self.bitrate or 0.0)
        if not 6 <= kbps <= 256 * channels:
            raise CodecError(f"opus: bitrate {kbps} kbps is out of range; libopus allows 6-{256 * channels} "
                             f"kbps for {channels} channel(s)")
        check_choice(self.name, "application", application, APPLICATIONS)
        check_choice(self.name, "vbr", vbr, VBR_MODES)
        check_choice(self.name, "frame_duration", float(frame_duration), FRAME_DURATIONS)
        check_choice(self.name, "sample_rate", int(sample_rate), SAMPLE_RATES)
        if isinstance(complexity, bool) or not isinstance(complexity, int) or not 0 <= complexity <= 10:
            raise CodecError(f"opus: complexity={complexity!r} is not supported; use an integer 0-10")
        self.sample_rate = int(sample_rate)
        self.channels = channels
        self.options = {"application": application, "complexity": complexity, "vbr": vbr,
                        "frame_duration": float(frame_duration), "sample_rate": self.sample_rate,
                        "channels": channels}
        self.setup = EncoderSetup(
            encoder="libopus", decoder="libopus", sample_format="flt", sample_rate=self.sample_rate,
            channels=channels, bit_rate=kbps * 1000, decode_rate=48000,
            options={"application": application, "compression_level": str(complexity), "vbr": vbr,
                     "frame_duration": f"{float(frame_duration):g}"})
