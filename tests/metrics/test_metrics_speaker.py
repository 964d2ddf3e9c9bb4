"""speaker_sim: resemblyzer parity on real audio; wavlm_sv through a tiny random model in an HF-cache layout."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from codecbench.alignment import align_pair
from codecbench.audio import load_audio
from codecbench.scoring import MetricConfigError, build_metrics, score_pair
from hub_layout import hub_snapshot

RATE = 16000
REVISION = "0123456789abcdef0123456789abcdef01234567"


def fixture_pair(shared_fixtures: Path, codec: str = "AP_48_6", utt: str = "1") -> tuple:
    root = shared_fixtures / "apcodec_demo" / "vctk48"
    ref, ref_sr = load_audio(root / "N_48" / f"{utt}.wav")
    deg, deg_sr = load_audio(root / codec / f"{utt}.wav")
    return ref, ref_sr, deg, deg_sr


# -- resemblyzer ---------------------------------------------------------------------------------
def test_resemblyzer_backend_equals_resemblyzer_called_directly(shared_fixtures: Path) -> None:
    pytest.importorskip("resemblyzer", reason="resemblyzer is not installed (pip install --no-deps resemblyzer)")
    from resemblyzer import VoiceEncoder, preprocess_wav

    ref, ref_sr, deg, deg_sr = fixture_pair(shared_fixtures)
    value = score_pair(ref, ref_sr, deg, deg_sr, ["speaker_sim"]).values()["speaker_sim"]
    prepared, _ = align_pair(ref, ref_sr, deg, deg_sr, [RATE])
    encoder = VoiceEncoder("cpu", verbose=False)
    a, b = (encoder.embed_utterance(preprocess_wav(x, source_sr=RATE)) for x in prepared[RATE])
    direct = float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
    assert value == pytest.approx(direct, abs=1e-6)
    assert 0.8 < value < 1.0  # same speaker through a 6 kbps codec
    # another speaker (p361 against p360) is far less similar: the embedding carries identity
    other, other_sr = load_audio(shared_fixtures / "apcodec_demo" / "vctk48" / "N_48" / "2.wav")
    assert score_pair(ref, ref_sr, other, other_sr, ["speaker_sim"]).values()["speaker_sim"] < value - 0.2


def test_options_are_checked_and_labelled() -> None:
    (metric,) = build_metrics([("speaker_sim", {"backend": "wavlm_sv"})])
    assert metric.label() == "speaker_sim[backend=wavlm_sv]"
    with pytest.raises(MetricConfigError, match="backend must be one of resemblyzer, wavlm_sv"):
        build_metrics([("speaker_sim", {"backend": "ecapa"})])
    with pytest.raises(MetricConfigError, match="wavlm_sv only"):
        build_metrics([("speaker_sim", {"weights": "/x"})])


# -- wavlm_sv with a tiny random model -------------------------------------------------------------
def save_tiny_wavlm(folder: Path) -> None:
    """A random WavLM x-vector model with tiny sizes, saved like the real repository."""
    transformers = pytest.importorskip("transformers", reason="transformers is not installed")
    import torch

    torch.manual_seed(0)
    config = transformers.WavLMConfig(
        hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=24,
        conv_dim=(8, 8), conv_stride=(5, 4), conv_kernel=(10, 8), num_conv_pos_embeddings=8,
        num_conv_pos_embedding_groups=2, num_buckets=16, max_bucket_distance=40,
        tdnn_dim=(8, 8), tdnn_kernel=(3, 1), tdnn_dilation=(1, 1), xvector_output_dim=6,
        num_feat_extract_layers=2, do_stable_layer_norm=False, feat_extract_norm="group")
    transformers.WavLMForXVector(config).eval().save_pretrained(folder)
    transformers.Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=RATE, padding_value=0.0,
                                          do_normalize=True, return_attention_mask=True).save_pretrained(folder)


def cache_tiny_wavlm(cache: Path) -> Path:
    snapshot = hub_snapshot(cache, "microsoft/wavlm-base-plus-sv", REVISION)
    save_tiny_wavlm(snapshot)
    return snapshot


def speechlike(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = 120 + 40 * seed + 15 * np.sin(2 * np.pi * 0.5 * t)
    voiced = sum(np.sin(k * 2 * np.pi * np.cumsum(f0) / RATE) / k for k in range(1, 8))
    return (0.2 * voiced + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def test_wavlm_sv_loads_from_the_hf_cache_and_matches_transformers(hf_cache: Path) -> None:
    import torch
    from transformers import Wav2Vec2FeatureExtractor, WavLMForXVector

    snapshot = cache_tiny_wavlm(hf_cache)
    (metric,) = build_metrics([("speaker_sim", {"backend": "wavlm_sv"})])
    assert metric.implementation().endswith(f"wavlm-base-plus-sv@{REVISION}")
    ref, deg = speechlike(1.0, 0), speechlike(1.0, 1)
    value = metric.compute(ref, deg, RATE)
    extractor = Wav2Vec2FeatureExtractor.from_pretrained(snapshot)
    model = WavLMForXVector.from_pretrained(snapshot).eval()
    with torch.inference_mode():
        emb = model(**extractor([ref, deg], sampling_rate=RATE, return_tensors="pt", padding=True)).embeddings
    assert value == pytest.approx(float(torch.nn.functional.cosine_similarity(emb[0:1], emb[1:2])), abs=1e-6)
    assert -1.0 <= value <= 1.0 and value != pytest.approx(1.0)
    assert metric.compute(ref, ref, RATE) == pytest.approx(1.0, abs=1e-6)
    assert metric.compute(ref, deg, RATE) == value  # deterministic
    # an explicit folder is used instead of the cache, and its files' digests name the model
    own = hf_cache.parent / "own_wavlm"
    shutil.copytree(snapshot, own)
    (explicit,) = build_metrics([("speaker_sim", {"backend": "wavlm_sv", "weights": str(own)})])
    assert explicit.compute(ref, deg, RATE) == value
    assert "config.json:" in explicit.implementation()


def test_wavlm_sv_without_weights_is_nan_with_the_fetch_command(hf_cache: Path) -> None:
    pytest.importorskip("transformers", reason="transformers is not installed")
    ref = speechlike(1.0, 0)
    spec = ("speaker_sim", {"backend": "wavlm_sv"})
    result = score_pair(ref[None], RATE, ref[None], RATE, [spec, "si_sdr"])
    reason = result.results["speaker_sim[backend=wavlm_sv]"].reason
    assert math.isnan(result.results["speaker_sim[backend=wavlm_sv]"].value)
    assert reason is not None and "codecbench weights fetch wavlm_base_plus_sv" in reason and "\n" not in reason
    assert result.results["si_sdr"].ok  # the other metrics of the pair go on
    (metric,) = build_metrics([spec])
    assert metric.implementation().endswith("@absent")
