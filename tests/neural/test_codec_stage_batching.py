"""GPU batching of the codec stage with real PyTorch adapters (the tiny HiFi-Codec and APCodec golden models).

A suite coded in batches gives the rows it gives one item at a time: the same codes (code
histograms and measured kbps exactly), decoded audio within float32 rounding, the same metric
values. Batched forward passes sum in another order than single ones (oneDNN on CPU, cuDNN on
CUDA), so decoded samples, and with them ``decoded_sha256``, may differ in the last bits:
:data:`AUDIO_TOLERANCE` is the documented bound (measured: at most 6e-7 on CPU).

On CPU the batched path runs through ``CODECBENCH_BATCH_ON_CPU``; the ``gpu`` test runs the same
comparison on CUDA (batching on by default there, ``batch_seconds: 0`` for one item at a time) with
TF32 off (``NVIDIA_TF32_OVERRIDE=0``), so both paths compute in float32.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import soundfile as sf
import torch

from codecbench.batching import BATCH_ON_CPU
from codecbench.runner import run_suite
from codecbench.store import ResultStore
from codecbench.suite import suite_from_text
from codecbench.transcode import load_cached

AUDIO_TOLERANCE = 1e-5  # absolute, on decoded samples (test_torch_batch_and_chunks uses the same)
N_ITEMS = 4


def _suite(tmp_path: Path, fixture_file: Callable[..., Path], out: Path, device: str, extra: str) -> str:
    folder = tmp_path / "data"
    if not folder.exists():
        folder.mkdir()
        rng = np.random.default_rng(0)
        t = np.arange(6400) / 16000  # 0.4 s each: equal lengths share forward passes
        for i in range(N_ITEMS):
            audio = 0.3 * np.sin(2 * np.pi * (200 + 90 * i) * t) + 0.05 * rng.standard_normal(t.size)
            sf.write(folder / f"u{i}.wav", audio.astype(np.float32), 16000)
    hifi, apcodec = fixture_file("hificodec_golden_tiny"), fixture_file("apcodec_golden_tiny")
    return f"""
name: batched-neural
out: {out}
device: {device}
datasets: [{{name: d, type: folder, options: {{path: {folder}}}}}]
codecs:
  - {{name: HC, adapter: hificodec{extra},
      options: {{config: '{hifi / "config.json"}', checkpoint: '{hifi / "g_00000000"}'}}}}
  - {{name: AP, adapter: apcodec{extra},
      options: {{config: tiny, encoder: '{apcodec / "encoder_00000000"}', decoder: '{apcodec / "decoder_00000000"}'}}}}
metrics: [si_sdr, lsd]
"""


def _rows(out: Path) -> dict[tuple[str, str], dict[str, Any]]:
    with ResultStore.open_existing(out) as store:
        rows = store.rows(codebooks=True)
    for row in rows:
        row["batch_items"] = load_cached(out / "cache", row["cache_key"]).batch_items
        row["audio"] = sf.read(out / row["decoded_path"], dtype="float32")[0]
    return {(row["codec"], row["utterance"]): row for row in rows}


def _assert_same_rows(single: dict[tuple[str, str], dict[str, Any]],
                      batched: dict[tuple[str, str], dict[str, Any]]) -> None:
    assert single.keys() == batched.keys() and len(single) == 2 * N_ITEMS
    for key, one in single.items():
        many = batched[key]
        assert one["status"] == many["status"] == "ok", (one["error"], many["error"])
        assert one["batch_items"] == 1 and many["batch_items"] == N_ITEMS, key   # really batched
        assert many["measured_kbps"] == one["measured_kbps"]
        assert many["codebooks"].to_json() == one["codebooks"].to_json(), key   # the same codes
        assert many["audio"].shape == one["audio"].shape
        np.testing.assert_allclose(many["audio"], one["audio"], atol=AUDIO_TOLERANCE, rtol=0, err_msg=str(key))
        for metric, (value, _) in one["scores"].items():
            assert many["scores"][metric][0] == pytest.approx(value, rel=1e-4, abs=1e-4), (key, metric)
        assert many["encode_rtf"] > 0 and many["decode_rtf"] > 0


def test_batched_rows_equal_one_at_a_time_on_cpu(tmp_path: Path, fixture_file: Callable[..., Path],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    single_out, batched_out = tmp_path / "single", tmp_path / "batched"
    run = run_suite(suite_from_text(_suite(tmp_path, fixture_file, single_out, "cpu", ""), "s.yaml"),
                    jobs=1, progress=False, log=lambda m: None)
    assert run.ok == 2 * N_ITEMS
    monkeypatch.setenv(BATCH_ON_CPU, "1")
    run = run_suite(suite_from_text(_suite(tmp_path, fixture_file, batched_out, "cpu", ""), "s.yaml"),
                    jobs=1, progress=False, log=lambda m: None)
    assert run.ok == 2 * N_ITEMS
    _assert_same_rows(_rows(single_out), _rows(batched_out))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_batched_rows_equal_one_at_a_time_on_cuda(tmp_path: Path, fixture_file: Callable[..., Path],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NVIDIA_TF32_OVERRIDE", "0")  # float32 convolutions in both paths (the workers inherit it)
    monkeypatch.delenv(BATCH_ON_CPU, raising=False)
    single_out, batched_out = tmp_path / "single", tmp_path / "batched"
    for out, extra in ((single_out, ", batch_seconds: 0"), (batched_out, "")):
        run = run_suite(suite_from_text(_suite(tmp_path, fixture_file, out, "cuda", extra), "s.yaml"),
                        jobs=1, progress=False, log=lambda m: None)
        assert run.ok == 2 * N_ITEMS
    _assert_same_rows(_rows(single_out), _rows(batched_out))
