"""PyAV plumbing shared by the classic-codec adapters (``opus``, ``mp3``, ``aac``).

The adapters only choose an encoder, a sample rate, a bit rate and encoder options
(:class:`EncoderSetup`); this module runs the real FFmpeg encoder in memory and decodes the
result with the matching FFmpeg decoder.

Bitstream: ``Payload.data`` is the concatenation of the raw codec packets, with no container
(no Ogg pages, no ID3/Xing header, no ADTS headers), so the measured bitrate is the codec's own.
The packet sizes and the decoder configuration (FFmpeg ``extradata``: the OpusHead or the AAC
AudioSpecificConfig, a few bytes that a container header would carry once per file) go into
``Payload.side``, which is not counted.

Delay: every encoder here primes its output. FFmpeg reports the priming as a negative
timestamp of the first packet (``pts = -initial_padding``): Opus lookahead (312 samples at
48 kHz for ``audio``/``voip``, 120 for ``lowdelay``), LAME's encoder delay plus the MP3
decoder delay (576 + 529 = 1105 samples), AAC priming (1024 samples). That number goes into
``Payload.side["priming"]``. Decoding returns ``priming + input + tail`` samples, except that a
decoder may skip part of the priming itself and then reports it as its ``delay`` (libopus
applies the OpusHead pre-skip it receives as extradata; the MP3 and AAC decoders skip nothing
because no container passes them skip-samples data). :func:`decode_packets` drops
``priming - decoder delay`` samples and trims the tail to ``Payload.num_samples``. The result
has the input's length and no constant delay (checked by cross-correlation in the tests).

Each call creates fresh codec contexts, so one adapter instance can serve many items.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
from dataclasses import dataclass, field, replace
from fractions import Fraction
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal, Mapping, Optional

import numpy as np

from codecbench.codecs.base import Codec, CodecError, Payload

if TYPE_CHECKING:
    from codecbench.datasets.base import Utterance

_LAYOUTS = {1: "mono", 2: "stereo"}


@dataclass(frozen=True)
class EncoderSetup:
    """One FFmpeg encoder configuration.

    Attributes:
        encoder: FFmpeg encoder name (``libopus``, ``libmp3lame``, ``aac``).
        decoder: FFmpeg decoder name used to decode the packets.
        sample_format: encoder input format, ``flt`` (interleaved) or ``fltp`` (planar).
        sample_rate: rate of the audio the encoder takes, in Hz.
        channels: 1 or 2.
        bit_rate: target bit rate in bits per second.
        options: encoder AVOptions (strings), e.g. ``{"vbr": "off"}``.
        decode_rate: rate the decoder produces (libopus always decodes at 48 kHz); the output
            is resampled to ``sample_rate`` when it differs.
    """

    encoder: str
    decoder: str
    sample_format: str
    sample_rate: int
    channels: int
    bit_rate: int
    options: Mapping[str, str] = field(default_factory=dict)
    decode_rate: Optional[int] = None


def _import_av() -> Any:
    try:
        import av
    except ImportError as exc:  # pragma: no cover - av is a hard dependency
        raise CodecError(f"PyAV is not installed ({exc}); run 'pip install av'") from exc
    return av


def missing_backend(setup_encoder: str, setup_decoder: str) -> Optional[str]:
    """One line saying why the PyAV encoder/decoder pair is unusable here, or ``None``."""
    try:
        import av
    except ImportError:
        return "PyAV is not installed; run 'pip install av'"
    directions: tuple[tuple[str, Literal["r", "w"]], ...] = ((setup_encoder, "w"), (setup_decoder, "r"))
    for name, mode in directions:
        try:
            av.codec.Codec(name, mode)
        except Exception:  # noqa: BLE001 - PyAV raises several types for unknown codecs
            kind = "encoder" if mode == "w" else "decoder"
            return f"this PyAV/FFmpeg build has no '{name}' {kind}; install the PyPI 'av' wheel"
    return None


@lru_cache(maxsize=None)
def library_version(lib_prefix: str, symbol: str) -> str:
    """Version string of a library bundled with PyAV (e.g. ``libopus``), or ``"unknown"``.

    PyAV's wheels ship their codec libraries next to the package (``av.libs`` on Linux,
    ``av/.dylibs`` on macOS); the library's own version function is called through ctypes.
    """
    try:
        import av
    except ImportError:
        return "unknown"
    pkg = os.path.dirname(av.__file__)
    patterns = [os.path.join(os.path.dirname(pkg), "av.libs", f"{lib_prefix}*"),
                os.path.join(pkg, ".dylibs", f"{lib_prefix}*")]
    candidates = [p for pattern in patterns for p in sorted(glob.glob(pattern))]
    if not candidates:
        found = ctypes.util.find_library(lib_prefix[3:] if lib_prefix.startswith("lib") else lib_prefix)
        candidates = [found] if found else []
    for path in candidates:
        try:
            func = getattr(ctypes.CDLL(path), symbol)
            func.restype = ctypes.c_char_p
            return func().decode()
        except (OSError, AttributeError):
            continue
    return "unknown"


@lru_cache(maxsize=None)
def version_in_stream(encoder: str, marker: str) -> str:
    """The version an encoder writes into its own frames after ``marker``, or ``"unknown"``.

    For libraries linked into libavcodec instead of shipped beside it (PyAV 18 links LAME
    statically, so :func:`library_version` finds no ``get_lame_version``): LAME pads its frames
    with ``LAME<version>``, so half a second of coded silence names the library that coded it.
    """
    import re

    try:
        import av

        context: Any = av.CodecContext.create(encoder, "w")
        context.sample_rate, context.layout, context.format, context.bit_rate = 24000, "mono", "fltp", 64000
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 12000), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 24000
        data = b"".join(bytes(packet) for packet in [*context.encode(frame), *context.encode(None)])
    except Exception:  # noqa: BLE001 - PyAV raises several types for missing or failing encoders
        return "unknown"
    found = re.search(re.escape(marker.encode()) + rb"(\d+\.\d+[0-9a-z.]*)", data)
    return found.group(1).decode().rstrip(".") if found else "unknown"


def backend_versions() -> dict[str, str]:
    """PyAV, FFmpeg and libavcodec versions (they change the bitstream, so they key the cache)."""
    try:
        import av
    except ImportError:
        return {"av": "missing"}
    avcodec = av.library_versions.get("libavcodec", ())
    return {"av": av.__version__, "ffmpeg": str(getattr(av, "ffmpeg_version_info", "unknown")),
            "libavcodec": ".".join(str(v) for v in avcodec)}


def _check_input(setup: EncoderSetup, audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 2 or audio.shape[0] != setup.channels:
        raise CodecError(f"{setup.encoder}: expected float32 [C={setup.channels}, T] audio, "
                         f"got shape {tuple(audio.shape)}; convert with Codec.prepare()")
    if audio.shape[1] == 0:
        raise CodecError(f"{setup.encoder}: audio is empty (0 samples)")
    if not np.all(np.isfinite(audio)):
        raise CodecError(f"{setup.encoder}: audio contains NaN or infinite samples")
    return audio


def encode_packets(setup: EncoderSetup, audio: np.ndarray) -> Payload:
    """Encode float32 ``[C, T]`` audio at ``setup.sample_rate`` into a packet-level payload."""
    av = _import_av()
    audio = _check_input(setup, audio)
    num_samples = audio.shape[1]
    layout = _LAYOUTS[setup.channels]
    try:
        ctx = av.CodecContext.create(setup.encoder, "w")
        ctx.sample_rate = setup.sample_rate
        ctx.layout = layout
        ctx.format = setup.sample_format
        ctx.bit_rate = setup.bit_rate
        ctx.time_base = Fraction(1, setup.sample_rate)
        ctx.options = dict(setup.options)
        ctx.open()
        if ctx.options:  # FFmpeg hands back the options the encoder did not recognise
            raise CodecError(f"{setup.encoder} does not accept options {sorted(ctx.options)}")
        frame_size = ctx.frame_size or 1024
        # Zero-pad to whole frames: the encoder would pad the last frame the same way, and the
        # decoder output is trimmed to num_samples anyway.
        padded = np.pad(audio, ((0, 0), (0, (-num_samples) % frame_size)))
        packets = []
        for start in range(0, padded.shape[1], frame_size):
            chunk = padded[:, start:start + frame_size]
            if setup.sample_format == "flt":  # interleaved: [1, T * C]
                chunk = chunk.T.reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format=setup.sample_format,
                                               layout=layout)
            frame.sample_rate = setup.sample_rate
            frame.pts = start
            frame.time_base = Fraction(1, setup.sample_rate)
            packets.extend(ctx.encode(frame))
        packets.extend(ctx.encode(None))
        extradata = bytes(ctx.extradata) if ctx.extradata else b""
    except av.FFmpegError as exc:
        raise CodecError(f"{setup.encoder} failed to encode at {setup.bit_rate} bit/s, "
                         f"{setup.sample_rate} Hz: {exc}") from exc
    if not packets:
        raise CodecError(f"{setup.encoder} produced no packets for {num_samples} samples")
    if packets[0].pts is None:
        raise CodecError(f"{setup.encoder} reported no timestamps, so its priming delay is unknown")
    chunks = [bytes(p) for p in packets]
    return Payload(data=b"".join(chunks), num_samples=num_samples,
                   side={"packet_bytes": [len(c) for c in chunks], "priming": int(-packets[0].pts),
                         "channels": setup.channels,
                         "extradata": extradata.hex()})


def encode_matching_rate(setup: EncoderSetup, audio: np.ndarray, tolerance: float = 0.02,
                         max_tries: int = 4) -> Payload:
    """Encode like :func:`encode_packets`, lowering the encoder's target until the payload fits.

    For average-bitrate encoders (FFmpeg's ``aac``) that overshoot their target by up to ~20 %
    on some material: re-encode with the target scaled by ``declared / measured`` until the
    measured rate is at most ``(1 + tolerance)`` times ``setup.bit_rate`` (or ``max_tries`` runs
    were made; the smallest payload is kept then). The target used goes into
    ``side["target_bit_rate"]``.
    """
    seconds = np.asarray(audio).shape[-1] / setup.sample_rate
    target = setup.bit_rate
    best: Optional[Payload] = None
    for _ in range(max_tries):
        payload = encode_packets(replace(setup, bit_rate=target), audio)
        payload.side["target_bit_rate"] = target
        if best is None or payload.bits < best.bits:
            best = payload
        measured = payload.bits / seconds if seconds > 0 else 0.0
        if measured <= setup.bit_rate * (1.0 + tolerance):
            return payload
        target = max(int(target * setup.bit_rate / measured), setup.bit_rate // 2)
    assert best is not None
    return best


def _frame_to_array(frame: Any, channels: int) -> np.ndarray:
    """Decoded PyAV frame -> float32 ``[C, n]``."""
    data = frame.to_ndarray()
    if not frame.format.is_planar:  # [1, n * C] interleaved
        data = data.reshape(-1, channels).T
    if data.dtype == np.int16:
        return data.astype(np.float32) / 32768.0
    if data.dtype == np.int32:
        return data.astype(np.float32) / 2147483648.0
    return data.astype(np.float32, copy=False)


def decode_packets(setup: EncoderSetup, payload: Payload) -> np.ndarray:
    """Decode a payload from :func:`encode_packets` to float32 ``[C, num_samples]``."""
    av = _import_av()
    if payload.data is None or "packet_bytes" not in payload.side:
        raise CodecError(f"{setup.decoder}: payload lacks packet framing; encode it with this adapter")
    sizes = [int(s) for s in payload.side["packet_bytes"]]
    if sum(sizes) != len(payload.data):
        raise CodecError(f"{setup.decoder}: packet sizes sum to {sum(sizes)} but payload has "
                         f"{len(payload.data)} bytes; the payload is corrupt")
    rate = setup.decode_rate or setup.sample_rate
    try:
        ctx = av.CodecContext.create(setup.decoder, "r")
        ctx.sample_rate = rate
        ctx.layout = _LAYOUTS[setup.channels]
        # libopus decodes to s16 unless float is requested; the other decoders output float anyway
        ctx.options = {"request_sample_fmt": "flt"}
        extradata = bytes.fromhex(payload.side.get("extradata", ""))
        if extradata:
            ctx.extradata = extradata
        ctx.open()
        decoder_delay = ctx.delay
        pieces = []
        offset = 0
        for size in sizes:
            for frame in ctx.decode(av.Packet(payload.data[offset:offset + size])):
                pieces.append(_frame_to_array(frame, setup.channels))
            offset += size
        for frame in ctx.decode(None):
            pieces.append(_frame_to_array(frame, setup.channels))
    except av.FFmpegError as exc:
        raise CodecError(f"{setup.decoder} failed to decode the payload: {exc}") from exc
    if not pieces:
        raise CodecError(f"{setup.decoder} decoded no audio from {len(sizes)} packets")
    out = np.concatenate(pieces, axis=1)
    # Priming is reported at the encoder rate; at 48 kHz decoding it scales exactly (Opus
    # lookahead is a whole number of 48 kHz samples). A decoder that already skips part of it
    # itself reports that as its delay (libopus applies the OpusHead pre-skip from extradata).
    priming = int(round(int(payload.side.get("priming", 0)) * rate / setup.sample_rate))
    skip = max(priming - int(decoder_delay or 0), 0)
    out = out[:, skip:]
    if rate != setup.sample_rate:
        from codecbench.audio import resample

        out = resample(out, rate, setup.sample_rate)
    if out.shape[1] < payload.num_samples:
        raise CodecError(f"{setup.decoder} returned {out.shape[1]} samples after removing {skip} "
                         f"priming samples, fewer than the {payload.num_samples} encoded")
    return np.ascontiguousarray(out[:, :payload.num_samples], dtype=np.float32)


class PyAVCodec(Codec):
    """Base of the PyAV adapters: one encoder configuration per coded channel count.

    Channels: with ``channels=None`` (the default) an input is coded with its own channel count
    (stereo in, stereo out; :attr:`accepted_channels` lists what the encoders code); with
    ``channels=1`` (or 2) every input is converted to that count first (an explicit downmix,
    recorded by :meth:`coding_format`). Because the coding sample rate may depend on the channel
    count (AAC picks it from kbps per channel), :meth:`prepare` selects the configuration of the
    item it converts and sets ``sample_rate``, ``channels`` and ``setup`` to it.

    Subclasses set ``library`` (``(file prefix, version symbol)`` of the encoder library or
    ``None``) and ``self.options`` (the user-visible options, for :meth:`identity`), implement
    :meth:`coding_rate` (the rule, never raising) and :meth:`_make_setup` (which validates the
    bitrate for a channel count), and end ``__init__`` with :meth:`_configure`.
    """

    library: Optional[tuple[str, str]] = None
    # The encoder's version tag in its own frames, read when the library's version function is not
    # reachable (see version_in_stream).
    stream_marker: Optional[str] = None
    accepted_channels = (1, 2)
    setup: EncoderSetup
    options: dict[str, Any]

    def __init__(self, bitrate: Optional[float], device: str, channels: Optional[int]) -> None:
        super().__init__(bitrate, device)
        self.channel_option: Optional[int] = check_channels(self.name, channels)
        self._setups: dict[int, EncoderSetup] = {}

    # -- what subclasses provide -----------------------------------------------------------
    def coding_rate(self, channels: int) -> int:
        """Sample rate (Hz) this operating point codes ``channels`` channels at (no validation)."""
        raise NotImplementedError

    def _make_setup(self, channels: int) -> EncoderSetup:
        """The encoder configuration for ``channels``; :class:`CodecError` if the bitrate does not fit."""
        raise NotImplementedError

    # -- channel policy ---------------------------------------------------------------------
    def coded_channels(self, input_channels: int) -> int:
        """Channel count an input of ``input_channels`` is coded with (see class docstring)."""
        if self.channel_option is not None:
            if input_channels not in (1, self.channel_option) and self.channel_option != 1:
                raise CodecError(f"{self.name}: cannot code a {input_channels}-channel input as "
                                 f"{self.channel_option} channels; set channels: 1 to downmix it")
            return self.channel_option
        accepted = self.accepted_channels or ()
        if input_channels not in accepted:
            raise CodecError(f"{self.name}: codes {' or '.join(map(str, accepted))} channels but the input has "
                             f"{input_channels}; set channels: 1 in the codec's options to downmix it")
        return input_channels

    def setup_for(self, channels: int) -> EncoderSetup:
        """The (cached) encoder configuration for ``channels`` coded channels."""
        if channels not in self._setups:
            self._setups[channels] = self._make_setup(channels)
        return self._setups[channels]

    def _configure(self, channels: int) -> None:
        self.setup = self.setup_for(channels)
        self.sample_rate = self.setup.sample_rate
        self.channels = channels

    def coding_format(self, input_channels: int) -> tuple[int, int]:
        """``(coding sample rate, coded channels)`` for an input of ``input_channels`` channels."""
        channels = self.coded_channels(input_channels)
        return self.coding_rate(channels), channels

    def prepare(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """Select the configuration for this input's channel count, then resample and convert to it."""
        self._configure(self.coded_channels(int(np.asarray(audio).shape[0])))
        return super().prepare(audio, sample_rate)

    def _encoder_setup(self, audio: np.ndarray) -> EncoderSetup:
        """The configuration for ``audio`` as given to :meth:`encode` (``[C, T]`` at ``sample_rate``)."""
        channels = int(np.shape(audio)[0]) if np.ndim(audio) == 2 else self.channels
        if self.channel_option is not None or channels == self.channels \
                or channels not in (self.accepted_channels or ()):
            return self.setup  # a mismatch is reported by the encoder's input check
        setup = self.setup_for(channels)
        if setup.sample_rate != self.sample_rate:
            raise CodecError(f"{self.name}: a {channels}-channel input is coded at {setup.sample_rate} Hz, not "
                             f"{self.sample_rate} Hz; convert it with Codec.prepare()")
        return setup

    # -- the protocol ------------------------------------------------------------------------
    def encode(self, audio: np.ndarray, item: Optional[Utterance] = None) -> Payload:
        """Encode float32 ``[C, T]`` audio; returns the raw packets (see module docstring)."""
        return encode_packets(self._encoder_setup(audio), audio)

    def decode(self, payload: Payload) -> np.ndarray:
        """Decode to float32 ``[C, T]`` at ``self.sample_rate``, priming removed, input length."""
        channels = int(payload.side.get("channels", self.channels))
        setup = self.setup if channels == self.setup.channels else self.setup_for(channels)
        return decode_packets(setup, payload)

    def identity(self) -> dict[str, Any]:
        """Adapter, bitrate, options, coding format per input layout, encoder and library versions."""
        ident = super().identity()
        coding = {str(n): list(self.coding_format(n)) for n in self.accepted_channels or ()}
        ident.update(options=dict(sorted(self.options.items())), encoder=self.setup.encoder,
                     decoder=self.setup.decoder, coding=coding,
                     encoder_options=dict(sorted(self.setup.options.items())), **backend_versions())
        if self.library is not None:
            ident["encoder_library"] = library_version(*self.library)
            if ident["encoder_library"] == "unknown" and self.stream_marker:
                ident["encoder_library"] = version_in_stream(self.setup.encoder, self.stream_marker)
        return ident

    def unavailable_reason(self) -> Optional[str]:
        """A line when PyAV or its encoder/decoder is missing."""
        return missing_backend(self.setup.encoder, self.setup.decoder)


CHANNELS_RULE = ("the input's own channel count (mono or stereo: stereo is coded as stereo) unless the "
                 "`channels` option is set; channels: 1 downmixes every input to mono (recorded as the "
                 "coding format), channels: 2 codes mono inputs as dual mono")


def check_channels(name: str, channels: Optional[int]) -> Optional[int]:
    """Validate the ``channels`` option: ``None`` (follow the input), 1 or 2."""
    if channels is None:
        return None
    if isinstance(channels, bool) or channels not in (1, 2):
        raise CodecError(f"{name}: channels={channels!r} is not supported; use 1 or 2 (1 downmixes), or "
                         "leave it unset to code the input's own channel count")
    return int(channels)


def kbps_problem(name: str, bitrate: Optional[float]) -> Optional[str]:
    """A line when ``bitrate`` is not a positive whole number of kbps (``None``: the default is used)."""
    if bitrate is None:
        return None
    if isinstance(bitrate, bool) or not isinstance(bitrate, (int, float)) or bitrate <= 0 \
            or not float(bitrate).is_integer():
        return f"{name}: bitrate {bitrate} kbps must be a positive whole number of kbps"
    return None


def check_choice(name: str, option: str, value: Any, allowed: tuple[Any, ...]) -> Any:
    """Reject ``value`` unless it is one of ``allowed`` (one line listing them)."""
    if value not in allowed:
        listed = ", ".join(str(a) for a in allowed)
        raise CodecError(f"{name}: {option}={value!r} is not supported; choose one of {listed}")
    return value


def check_integral_kbps(name: str, bitrate: float) -> int:
    """Bit rates are whole kbps for these encoders."""
    if bitrate <= 0 or not float(bitrate).is_integer():
        raise CodecError(f"{name}: bitrate {bitrate:g} kbps must be a positive whole number of kbps")
    return int(bitrate)
