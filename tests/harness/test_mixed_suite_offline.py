"""A suite mixing classic and neural codecs runs to the end offline; neural items are skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from codecbench.results import load_results
from codecbench.runner import run_suite
from codecbench.suite import suite_from_text


def test_mixed_suite_skips_neural_codecs_without_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("transformers")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hf-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "run"
    text = f"""
name: mixed
out: {out}
datasets: [{{name: builtin, type: builtin, max_utterances: 1, max_seconds: 1.5}}]
codecs:
  - {{name: Opus, adapter: opus, bitrates: [12]}}
  - {{name: Encodec, adapter: encodec, bitrates: [6], options: {{model: encodec_24khz}}}}
  - {{name: DAC, adapter: dac, bitrates: [6], options: {{model: dac_24khz}}}}
  - {{name: HiFi-Codec, adapter: hificodec, bitrates: [2]}}
metrics: [si_sdr]
"""
    messages: list[str] = []
    summary = run_suite(suite_from_text(text, "mixed.yaml"), jobs=1, progress=False, log=messages.append)
    assert (summary.ok, summary.skipped, summary.failed) == (1, 3, 0)
    df = load_results(out).set_index("codec")
    assert df.loc["Opus", "status"] == "ok"
    for codec, weights in [("Encodec", "encodec_24khz"), ("DAC", "dac_24khz"), ("HiFi-Codec", "hificodec_16k_320d")]:
        assert df.loc[codec, "status"] == "skipped"
        assert f"codecbench weights fetch {weights}" in df.loc[codec, "error"]
    assert len(messages) == 3 and all("\n" not in m and m.startswith("skipping") for m in messages)
