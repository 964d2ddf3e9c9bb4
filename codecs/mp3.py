"""MP3 (LAME through PyAV) at a declared bitrate.

LAME only codes the MPEG layer-III bitrates of the sample rate's MPEG version, and it silently
clamps anything else (8 kbps at 48 kHz comes out at 32 kbps), so the adapter validates the pair:
MPEG-1 (32/44.1/48 kHz) allows 32-320 kbps, MPEG-2 (16/22.05/24 kHz) 8-160 kbps. Without a
``sample_rate`` option the rate follows the bitrate the way LAME's own presets lower the rate
for low bitrates: <=16 kbps -> 16 kHz, <=48 -> 24 kHz, <=96 -> 32 kHz, above -> 48 kHz (when
that rate's table lacks the bitrate, the highest rate whose table has it, e.g. 144 -> 24 kHz).

CBR by default: every frame has the declared size, so measured ~= declared (+2-4 % on a 2 s item
from the priming and the last partial frame). ``vbr=True`` switches LAME to ABR (VBR around the
declared average), which accepts any whole kbps in the MPEG version's range; ABR follows the
target only on average (+-15 % on a 2 s item).

Delay: FFmpeg reports LAME's encoder delay plus the MP3 decoder delay (576 + 529 = 1105 samples)
as the first packet's negative timestamp; decoding drops exactly that many samples and trims to
the input length (see :mod:`codecbench.codecs._pyav`). The payload is the raw MP3 frames (no
ID3 or Xing/LAME header).

Channels: an input is coded with its own channel count (stereo as joint stereo) unless the
``channels`` option says otherwise (``channels: 1`` downmixes, explicitly). The bitrate is the
total over channels and the layer-III tables do not depend on the channel count, so neither does
the coding rate (:func:`coding_sample_rate`, reported per codec point as its coding format).
"""

from __future__ import annotations

from typing import Any, Optional

from codecbench.codecs._pyav import (CHANNELS_RULE, EncoderSetup, PyAVCodec, check_integral_kbps,
                                     kbps_problem)
from codecbench.codecs.base import CodecError

MPEG1_RATES = (32000, 44100, 48000)
MPEG2_RATES = (16000, 22050, 24000)
MPEG1_KBPS = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
MPEG2_KBPS = (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
# Automatic rate: first entry whose threshold covers the bitrate, then fall back in this order.
AUTO_RATES = ((16, 16000), (48, 24000), (96, 32000), (320, 48000))


def allowed_kbps(sample_rate: int) -> tuple[int, ...]:
    """CBR bitrates LAME codes at ``sample_rate``."""
    return MPEG1_KBPS if sample_rate in MPEG1_RATES else MPEG2_KBPS


def _allowed(kbps: int, sample_rate: int, vbr: bool) -> bool:
    table = allowed_kbps(sample_rate)
    return table[0] <= kbps <= table[-1] if vbr else kbps in table


def _listing() -> str:
    return (f"MPEG-2 ({'/'.join(map(str, MPEG2_RATES))} Hz) allows {', '.join(map(str, MPEG2_KBPS))}; "
            f"MPEG-1 ({'/'.join(map(str, MPEG1_RATES))} Hz) allows {', '.join(map(str, MPEG1_KBPS))}")


def choose_sample_rate(kbps: int, vbr: bool = False) -> int:
    """Sample rate for ``kbps`` when none is given (see module docstring); raises when no rate codes it."""
    preferred = next(rate for limit, rate in AUTO_RATES if kbps <= limit) if kbps <= 320 else 48000
    order = [preferred] + sorted((rate for _, rate in AUTO_RATES if rate != preferred), reverse=True)
    for rate in order:
        if _allowed(kbps, rate, vbr):
            return rate
    raise CodecError(f"mp3: {kbps} kbps is not an MP3 bitrate; {_listing()}")


SAMPLE_RATES = (16000, 22050, 24000, 32000, 44100, 48000)
AUTO_RULE = ("chosen from the total bitrate unless the sample_rate option is set: <=16 kbps -> 16000 Hz, "
             "<=48 -> 24000, <=96 -> 32000, above -> 48000 (if that rate's layer-III table lacks the bitrate, "
             "the highest rate whose table has it, e.g. 144 -> 24000)")


def coding_sample_rate(kbps: int, sample_rate: Optional[int] = None, vbr: bool = False) -> int:
    """The rate MP3 codes ``kbps`` at: the ``sample_rate`` option, else :func:`choose_sample_rate`.

    Raises :class:`CodecError` (listing the allowed bitrates) when that rate cannot code ``kbps``.
    """
    if sample_rate is None:
        return choose_sample_rate(kbps, vbr)
    rate = int(sample_rate)
    if rate not in SAMPLE_RATES:
        raise CodecError(f"mp3: sample_rate={sample_rate!r} is not supported; choose one of "
                         f"{', '.join(map(str, SAMPLE_RATES))}")
    if not _allowed(kbps, rate, vbr):
        table = allowed_kbps(rate)
        allowed = f"{table[0]}-{table[-1]}" if vbr else ", ".join(map(str, table))
        raise CodecError(f"mp3: {kbps} kbps is not supported at {rate} Hz; allowed: {allowed} kbps "
                         "(or omit sample_rate to pick one from the bitrate)")
    return rate


def bitrate_problem(bitrate: Optional[float], sample_rate: Optional[int] = None, vbr: bool = False) -> Optional[str]:
    """A one-line problem when MP3 cannot code ``bitrate`` kbps (with these options), else ``None``."""
    problem = kbps_problem("mp3", bitrate)
    if problem or bitrate is None:
        return problem
    try:
        coding_sample_rate(int(bitrate), sample_rate, bool(vbr))
    except CodecError as exc:
        return str(exc)
    return None


class Mp3Codec(PyAVCodec):
    """MP3 via libmp3lame.

    Args:
        bitrate: declared kbps (default 64); must be a layer-III bitrate of the sample rate.
        device: ignored (CPU codec).
        sample_rate: 16000, 22050, 24000, 32000, 44100 or 48000; default: chosen from the bitrate
            (:func:`coding_sample_rate`).
        vbr: ``False`` (CBR, default) or ``True`` (LAME ABR around the bitrate).
        channels: ``None`` (default: the input's own, 1 or 2), 1 (downmix) or 2 (joint stereo); the
            bitrate is the total.
    """

    name = "mp3"
    description = "MP3 (LAME via PyAV), raw frames, CBR by default"
    sample_rates = SAMPLE_RATES
    default_bitrates = (8.0, 16.0, 24.0, 32.0, 64.0, 128.0)
    library = ("libmp3lame", "get_lame_version")
    stream_marker = "LAME"

    def __init__(self, bitrate: Optional[float] = 64.0, device: str = "cpu",
                 sample_rate: Optional[int] = None, vbr: bool = False, channels: Optional[int] = None) -> None:
        super().__init__(64.0 if bitrate is None else bitrate, device, channels)
        self.kbps = check_integral_kbps(self.name, self.bitrate or 0.0)
        if not isinstance(vbr, bool):
            raise CodecError(f"mp3: vbr={vbr!r} is not supported; use true or false")
        self.vbr = vbr
        self.rate = coding_sample_rate(self.kbps, sample_rate, vbr)
        self.options = {"sample_rate": sample_rate, "vbr": vbr, "channels": self.channel_option}
        self._configure(self.channel_option or 1)

    @classmethod
    def check_bitrate(cls, bitrate: Optional[float], options: dict[str, Any]) -> Optional[str]:
        """A layer-III bitrate of the coding rate (the same rule as ``__init__``)."""
        rate = options.get("sample_rate")
        vbr = options.get("vbr", False)
        if (rate is not None and not isinstance(rate, int)) or not isinstance(vbr, bool):
            return None  # a bad option value is reported when the adapter is built
        return bitrate_problem(bitrate, rate, vbr)

    @classmethod
    def coding_rules(cls) -> dict[str, str]:
        """Bitrate tables, coding rate rule and channel policy (module docstring)."""
        return {"bitrate": f"whole kbps, total over channels; CBR: {_listing()}; vbr (ABR): any whole kbps in "
                           f"the MPEG version's range ({MPEG2_KBPS[0]}-{MPEG2_KBPS[-1]} / "
                           f"{MPEG1_KBPS[0]}-{MPEG1_KBPS[-1]})",
                "sample_rate": AUTO_RULE, "channels": CHANNELS_RULE}

    def coding_rate(self, channels: int) -> int:
        """The rate from :func:`coding_sample_rate` (the same for mono and stereo)."""
        return self.rate

    def _make_setup(self, channels: int) -> EncoderSetup:
        return EncoderSetup(encoder="libmp3lame", decoder="mp3float", sample_format="fltp", sample_rate=self.rate,
                            channels=channels, bit_rate=self.kbps * 1000, options={"abr": "1"} if self.vbr else {})
