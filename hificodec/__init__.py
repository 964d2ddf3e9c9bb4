"""HiFi-Codec (AcademiCodec, arXiv 2305.02765): encoder, group-residual VQ, HiFi-GAN generator.

Own implementation that loads the published AcademiCodec checkpoints on CPU or GPU.
"""

from hificodec.config import PRESETS, HiFiCodecConfig, HiFiCodecConfigError
from hificodec.model import CheckpointError, EncodedAudio, HiFiCodec

__all__ = ["PRESETS", "CheckpointError", "EncodedAudio", "HiFiCodec", "HiFiCodecConfig", "HiFiCodecConfigError"]
