"""Codec adapters, one per file. Importable as ``codecbench.codecs``.

Built-ins are registered lazily (nothing heavy is imported until an adapter is used); third-party
adapters join through the ``codecbench.codecs`` entry-point group or as ``package.module:Class``.
"""

from codecbench.codecs.base import Codec, CodecError, CodecUnavailable, Payload
from codecbench.registry import Registry

CODECS: Registry[Codec] = Registry("codec", "codecbench.codecs")
CODECS.register("identity", "codecbench.codecs.identity:IdentityCodec")
CODECS.register("precomputed", "codecbench.codecs.precomputed:PrecomputedCodec")
CODECS.register("opus", "codecbench.codecs.opus:OpusCodec")
CODECS.register("mp3", "codecbench.codecs.mp3:Mp3Codec")
CODECS.register("aac", "codecbench.codecs.aac:AacCodec")
CODECS.register("apcodec", "codecbench.codecs.apcodec:APCodecAdapter")
CODECS.register("encodec", "codecbench.codecs.encodec:EncodecAdapter")
CODECS.register("dac", "codecbench.codecs.dac:DacAdapter")
CODECS.register("hificodec", "codecbench.codecs.hificodec:HiFiCodecAdapter")
CODECS.register("complex_rvqvae", "codecbench.codecs.complex_rvqvae:ComplexRVQVAEAdapter")

__all__ = ["CODECS", "Codec", "CodecError", "CodecUnavailable", "Payload"]
