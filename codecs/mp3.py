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
"""

from __future__ import annotations

from typing import Optional

from codecbench.codecs._pyav import EncoderSetup, PyAVCodec, check_channels, check_integral_kbps
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
    """Sample rate for ``kbps`` when none is given (see module docstring)."""
    preferred = next(rate for limit, rate in AUTO_RATES if kbps <= limit) if kbps <= 320 else 48000
    order = [preferred] + sorted((rate for _, rate in AUTO_RATES if rate != preferred), reverse=True)
    for rate in order:
        if _allowed(kbps, rate, vbr):
            return rate
    raise CodecError(f"mp3: {kbps} kbps is not an MP3 bitrate; {_listing()}")


class Mp3Codec(PyAVCodec):
    """MP3 via libmp3lame.

    Args:
        bitrate: declared kbps (default 64); must be a layer-III bitrate of the sample rate.
        device: ignored (CPU codec).
        sample_rate: 16000, 22050, 24000, 32000, 44100 or 48000; default: chosen from the bitrate.
        vbr: ``False`` (CBR, default) or ``True`` (LAME ABR around the bitrate).
        channels: 1 (default) or 2 (joint stereo); the bitrate is the total.
    """

    name = "mp3"
    description = "MP3 (LAME via PyAV), raw frames, CBR by default"
    sample_rates = (16000, 22050, 24000, 32000, 44100, 48000)
    default_bitrates = (8.0, 16.0, 24.0, 32.0, 64.0, 128.0)
    library = ("libmp3lame", "get_lame_version")

    def __init__(self, bitrate: Optional[float] = 64.0, device: str = "cpu",
                 sample_rate: Optional[int] = None, vbr: bool = False, channels: int = 1) -> None:
        super().__init__(64.0 if bitrate is None else bitrate, device)
        channels = check_channels(self.name, channels)
        kbps = check_integral_kbps(self.name, self.bitrate or 0.0)
        if not isinstance(vbr, bool):
            raise CodecError(f"mp3: vbr={vbr!r} is not supported; use true or false")
        if sample_rate is None:
            rate = choose_sample_rate(kbps, vbr)
        else:
            rate = int(sample_rate)
            if rate not in self.sample_rates:
                raise CodecError(f"mp3: sample_rate={sample_rate!r} is not supported; choose one of "
                                 f"{', '.join(map(str, self.sample_rates))}")
            if not _allowed(kbps, rate, vbr):
                table = allowed_kbps(rate)
                allowed = f"{table[0]}-{table[-1]}" if vbr else ", ".join(map(str, table))
                raise CodecError(f"mp3: {kbps} kbps is not supported at {rate} Hz; allowed: {allowed} kbps "
                                 "(or omit sample_rate to pick one from the bitrate)")
        self.sample_rate = rate
        self.channels = channels
        self.options = {"sample_rate": rate, "vbr": vbr, "channels": channels}
        self.setup = EncoderSetup(
            encoder="libmp3lame", decoder="mp3float", sample_format="fltp", sample_rate=rate,
            channels=channels, bit_rate=kbps * 1000, options={"abr": "1"} if vbr else {})
