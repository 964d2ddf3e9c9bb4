"""WER/CER/dWER/dCER: exact edit-distance values, and the real Whisper loading and decoding path
run on a tiny random Whisper saved in a temporary Hugging Face cache (offline)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from codecbench.alignment import align_pair
from codecbench.metrics import METRICS, MetricUnavailable, PairContext
from codecbench.metrics.wer import error_rate, normalizer
from codecbench.scoring import MetricConfigError, build_metrics, score_pair
from hub_layout import hub_snapshot

pytest.importorskip("jiwer", reason="jiwer is not installed (pip install 'codecbench[modern]')")
pytest.importorskip("transformers", reason="transformers is not installed (pip install 'codecbench[neural]')")

REVISION = "0123456789abcdef0123456789abcdef01234567"
REPO = "openai/whisper-small"


# -- the arithmetic -------------------------------------------------------------------------------
def test_error_rates_on_known_strings() -> None:
    assert error_rate("the cat sat on the mat", "the cat sat on the mat") == 0.0
    assert error_rate("the cat sat on the mat", "the cat sat on a mat") == pytest.approx(1 / 6)  # 1 substitution
    assert error_rate("the cat sat", "the cat sat down") == pytest.approx(1 / 3)  # 1 insertion
    assert error_rate("the cat sat", "cat") == pytest.approx(2 / 3)  # 2 deletions
    assert error_rate("a b", "c d e f") == pytest.approx(4 / 2)  # can exceed 1
    assert error_rate("abc", "abd", "char") == pytest.approx(1 / 3)
    assert error_rate("ab cd", "abcd", "char") == pytest.approx(1 / 5)  # the space is a character
    with pytest.raises(MetricUnavailable, match="empty after normalisation"):
        error_rate("  ", "anything")


def test_normalisers() -> None:
    english = normalizer("whisper_english")
    assert english("Mr. Smith, aren't you [laughs] TWENTY-ONE?") == "mister smith are not you 21"
    assert error_rate("Hello, World!", "hello world", normalize=english) == 0.0
    assert error_rate("Hello, World!", "hello world") == 1.0  # without a normaliser punctuation counts
    basic = normalizer("basic")
    assert basic("Der Test (leise) vergleicht, viele Codecs!") == "der test vergleicht viele codecs"
    with pytest.raises(ValueError, match="normalizer must be one of"):
        normalizer("nope")


def test_options_are_checked() -> None:
    with pytest.raises(MetricConfigError, match="model must be one of whisper_tiny"):
        build_metrics([("wer", {"model": "wavlm_base_plus_sv"})])
    with pytest.raises(MetricConfigError, match="normalizer must be one of"):
        build_metrics([("dwer", {"normalizer": "x"})])
    wer, = build_metrics([("wer", {"model": "whisper_tiny"})])
    assert wer.label() == "wer[model=whisper_tiny]"
    assert METRICS.get("wer").info.intrusive is False and METRICS.get("dwer").info.intrusive is True
    assert METRICS.get("wer").info.needs_transcript and not METRICS.get("dwer").info.needs_transcript


# -- the model path ---------------------------------------------------------------------------------
@pytest.fixture
def hf_cache(hf_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The offline cache of tests/metrics/conftest.py, with the loaded models and transcripts forgotten."""
    from codecbench.metrics import asr, wer

    monkeypatch.setattr(asr, "_MODELS", {})
    monkeypatch.setattr(asr, "_TRANSCRIPTS", type(asr._TRANSCRIPTS)())
    monkeypatch.setattr(wer, "_NORMALIZERS", {})
    return hf_cache


def save_tiny_whisper(folder: Path) -> None:
    """A random 1-layer Whisper with a 27-letter vocabulary, its tokenizer, feature extractor and
    generation config (language and task tokens), saved the way the Hub layout has them."""
    import torch
    from transformers import (GenerationConfig, WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration,
                              WhisperProcessor, WhisperTokenizer)

    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)] + ["Ġ"]  # Ġ: byte-level BPE's space
    specials = ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|de|>", "<|translate|>", "<|transcribe|>",
                "<|startoflm|>", "<|startofprev|>", "<|nocaptions|>", "<|notimestamps|>"]
    vocab = {token: i for i, token in enumerate(letters + specials)}
    tokenizer = WhisperTokenizer(vocab=vocab, merges=[], unk_token="<|endoftext|>")
    tokenizer.add_special_tokens({"additional_special_tokens": specials[1:]})
    end, start = vocab["<|endoftext|>"], vocab["<|startoftranscript|>"]
    config = WhisperConfig(vocab_size=len(vocab), num_mel_bins=80, encoder_layers=1, decoder_layers=1,
                           encoder_attention_heads=2, decoder_attention_heads=2, d_model=16, encoder_ffn_dim=32,
                           decoder_ffn_dim=32, max_source_positions=1500, max_target_positions=64,
                           pad_token_id=end, bos_token_id=end, eos_token_id=end, decoder_start_token_id=start,
                           suppress_tokens=[], begin_suppress_tokens=[], init_std=1.0)
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(
        decoder_start_token_id=start, eos_token_id=end, pad_token_id=end, bos_token_id=end, max_length=64,
        lang_to_id={"<|en|>": vocab["<|en|>"], "<|de|>": vocab["<|de|>"]},
        task_to_id={"transcribe": vocab["<|transcribe|>"], "translate": vocab["<|translate|>"]},
        no_timestamps_token_id=vocab["<|notimestamps|>"], is_multilingual=True, suppress_tokens=[],
        begin_suppress_tokens=[])
    model.save_pretrained(folder)
    WhisperProcessor(feature_extractor=WhisperFeatureExtractor(feature_size=80), tokenizer=tokenizer).save_pretrained(folder)


def cache_tiny_whisper(cache: Path) -> Path:
    snapshot = hub_snapshot(cache, REPO, REVISION)
    save_tiny_whisper(snapshot)
    return snapshot


def speechlike(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    return (0.3 * np.sin(2 * np.pi * (120 + 400 * seed) * t) * (1 + np.sin(2 * np.pi * 4 * t))
            + 0.1 * seed * rng.standard_normal(t.size)).astype(np.float32)


def direct_transcripts(folder: Path, signals: list[np.ndarray]) -> list[str]:
    """Greedy transcripts from transformers called directly, without codecbench."""
    import torch
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    processor = WhisperProcessor.from_pretrained(folder)
    model = WhisperForConditionalGeneration.from_pretrained(folder).eval()
    out = []
    for signal in signals:  # one at a time: batching must not change the result
        features = processor.feature_extractor(signal, sampling_rate=16000, return_tensors="pt")
        with torch.inference_mode():
            ids = model.generate(features.input_features, language="en", task="transcribe", num_beams=1,
                                 do_sample=False, max_new_tokens=64 - 8)
        out.append(processor.batch_decode(ids, skip_special_tokens=True)[0].strip())
    return out


def test_whisper_metrics_load_from_the_hf_cache_and_match_transformers(hf_cache: Path) -> None:
    snapshot = cache_tiny_whisper(hf_cache)
    ref, deg = speechlike(1.5, 0), speechlike(1.5, 1)
    truth = "the quick brown fox"
    names = ["wer", "cer", "dwer", "dcer"]
    values = score_pair(ref[None], 16000, deg[None], 16000, names, context=PairContext(truth)).results
    assert all(r.ok for r in values.values()), values
    prepared, _ = align_pair(ref[None], 16000, deg[None], 16000, [16000])  # what the metrics see
    ref_text, deg_text = direct_transcripts(snapshot, list(prepared[16000]))
    assert deg_text  # the random model emits letters, so the rates are not trivial
    english = normalizer("whisper_english")
    assert values["wer"].value == pytest.approx(error_rate(truth, deg_text, "word", english))
    assert values["cer"].value == pytest.approx(error_rate(truth, deg_text, "char", english))
    assert ref_text != deg_text  # the random model hears the difference
    assert values["dwer"].value == pytest.approx(error_rate(ref_text, deg_text, "word", english)) and values["dwer"].value > 0
    assert values["dcer"].value == pytest.approx(error_rate(ref_text, deg_text, "char", english))
    assert 0 < values["dcer"].value < values["cer"].value + 1
    again = score_pair(ref[None], 16000, deg[None], 16000, names, context=PairContext(truth)).values()
    assert again == {k: v.value for k, v in values.items()}  # deterministic (greedy)
    # the same signal on both sides: dWER is exactly zero
    same = score_pair(ref[None], 16000, ref[None], 16000, ["dwer", "dcer"]).values()
    assert same == {"dwer": 0.0, "dcer": 0.0}
    wer = build_metrics(["wer"])[0]
    assert wer.identity()["implementation"].endswith(f"whisper_small@{REVISION}")
    assert "jiwer==" in wer.identity()["implementation"]


def test_wer_without_transcript_and_without_weights(hf_cache: Path) -> None:
    ref, deg = speechlike(1.0, 0), speechlike(1.0, 1)
    values = score_pair(ref[None], 16000, deg[None], 16000, ["wer", "dwer"], context=PairContext("a b")).results
    for name in ("wer", "dwer"):
        assert math.isnan(values[name].value)
        assert values[name].reason == (f"whisper_small weights not found in {hf_cache}; run `codecbench weights fetch "
                                       "whisper_small` online or set `weights:` to a local copy")
    assert build_metrics(["wer"])[0].identity()["implementation"].endswith("whisper_small@absent")
    cache_tiny_whisper(hf_cache)
    missing = score_pair(ref[None], 16000, deg[None], 16000, ["wer"]).results["wer"]
    assert math.isnan(missing.value) and "has none; use dwer" in str(missing.reason)


def test_a_run_passes_the_dataset_transcripts_and_stores_the_wer_ceiling(hf_cache: Path, tmp_path: Path) -> None:
    from codecbench.results import load_reference, load_results
    from codecbench.runner import run_suite
    from codecbench.suite import suite_from_text

    cache_tiny_whisper(hf_cache)
    out = tmp_path / "run"
    suite = suite_from_text(f"name: w\nout: {out}\ndatasets: [{{name: demo, type: builtin, max_utterances: 2, "
                            "max_seconds: 1.0}]\ncodecs: [{name: Id, adapter: identity}]\n"
                            "metrics: [wer, dwer]\n", "s.yaml")
    summary = run_suite(suite, jobs=1, progress=False)
    assert summary.references == 2  # wer is non-intrusive: scored on the references too
    df = load_results(out).set_index("utterance")
    reasons = {u: json.loads(r) for u, r in df.failure_reasons.items()}
    # the music clip has no transcript: one clear reason; the speech clip has its builtin transcript
    assert math.isnan(df.wer["music_synth_harmonic"]) and "has none; use dwer" in reasons["music_synth_harmonic"]["wer"]
    assert math.isfinite(df.wer["speech_de_male"])
    assert df.dwer.tolist() == [0.0, 0.0]  # identity codec: the same transcript on both sides
    ref = load_reference(out).set_index("utterance")
    assert list(ref.columns) == ["dataset", "wer"]  # dwer needs the reference audio: no ceiling
    assert ref.wer["speech_de_male"] == df.wer["speech_de_male"]  # identity output = the reference
