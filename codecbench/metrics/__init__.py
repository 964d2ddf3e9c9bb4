"""Metric registry. Each metric declares its sample rate and direction in :class:`MetricInfo`."""

from codecbench.metrics.base import Metric, MetricInfo, MetricUnavailable, ModelWeights, PairContext
from codecbench.registry import Registry

METRICS: Registry[Metric] = Registry("metric", "codecbench.metrics")
METRICS.register("pesq_wb", "codecbench.metrics.pesq:PesqWideband")
METRICS.register("pesq_nb", "codecbench.metrics.pesq:PesqNarrowband")
METRICS.register("stoi", "codecbench.metrics.stoi:Stoi")
METRICS.register("estoi", "codecbench.metrics.stoi:ExtendedStoi")
METRICS.register("visqol_audio", "codecbench.metrics.visqol:VisqolAudio")
METRICS.register("visqol_speech", "codecbench.metrics.visqol:VisqolSpeech")
METRICS.register("si_sdr", "codecbench.metrics.spectral:SiSdr")
METRICS.register("lsd", "codecbench.metrics.spectral:LogSpectralDistance")
METRICS.register("mel_distance", "codecbench.metrics.spectral:MelDistance")
METRICS.register("mrstft_distance", "codecbench.metrics.spectral:MultiResolutionStftDistance")
METRICS.register("f0_rmse", "codecbench.metrics.pitch:F0Rmse")
METRICS.register("f0_corr", "codecbench.metrics.pitch:F0Correlation")
METRICS.register("vuv_f1", "codecbench.metrics.pitch:VoicingF1")
METRICS.register("dnsmos_sig", "codecbench.metrics.dnsmos:DnsmosSig")
METRICS.register("dnsmos_bak", "codecbench.metrics.dnsmos:DnsmosBak")
METRICS.register("dnsmos_ovrl", "codecbench.metrics.dnsmos:DnsmosOvrl")
METRICS.register("dnsmos_p808", "codecbench.metrics.dnsmos:DnsmosP808")
METRICS.register("speaker_sim", "codecbench.metrics.speaker:SpeakerSimilarity")
METRICS.register("wer", "codecbench.metrics.wer:WordErrorRate")
METRICS.register("cer", "codecbench.metrics.wer:CharacterErrorRate")
METRICS.register("dwer", "codecbench.metrics.wer:DifferentialWordErrorRate")
METRICS.register("dcer", "codecbench.metrics.wer:DifferentialCharacterErrorRate")
METRICS.register("utmos", "codecbench.metrics.utmos:Utmos")

__all__ = ["METRICS", "Metric", "MetricInfo", "MetricUnavailable", "ModelWeights", "PairContext"]
