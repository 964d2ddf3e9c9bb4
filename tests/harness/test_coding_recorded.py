"""What happened to the audio is recorded: coding rate and channels per row and per codec point."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf

from codecbench.results import load_results
from codecbench.runner import run_suite
from codecbench.suite import suite_from_text


def test_stereo_input_is_coded_stereo_and_recorded(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    t = np.arange(44100) / 44100
    stereo = np.stack([0.3 * np.sin(2 * np.pi * 220 * t), 0.3 * np.sin(2 * np.pi * 330 * t)], axis=1)
    sf.write(data / "stereo.wav", stereo.astype(np.float32), 44100)
    sf.write(data / "mono.wav", stereo[:, 0].astype(np.float32), 44100)
    out = tmp_path / "run"
    text = f"""
name: coding
out: {out}
datasets: [{{name: d, type: folder, options: {{path: {data}}}}}]
codecs:
  - {{name: Opus, adapter: opus, bitrates: [64]}}
  - {{name: MP3, adapter: mp3, bitrates: [16]}}
  - {{name: OpusMono, adapter: opus, bitrates: [32], options: {{channels: 1}}}}
metrics: [si_sdr]
"""
    summary = run_suite(suite_from_text(text, "coding.yaml"), jobs=1, progress=False, log=lambda _: None)
    assert summary.failed == 0
    rows = load_results(out).set_index(["codec", "utterance"])
    assert rows.loc[("Opus", "stereo"), ["input_channels", "coding_channels", "decoded_channels"]].tolist() == [2, 2, 2]
    assert rows.loc[("Opus", "mono"), ["input_channels", "coding_channels"]].tolist() == [1, 1]
    assert rows.loc[("MP3", "stereo"), "coding_sample_rate"] == 16000
    assert rows.loc[("OpusMono", "stereo"), ["input_channels", "coding_channels"]].tolist() == [2, 1]
    points = {p["label"]: p for p in json.loads((out / "manifest.json").read_text())["codec_points"]}
    assert points["Opus_64"]["coding_stereo"] == {"sample_rate": 48000, "channels": 2}
    assert points["MP3_16"]["coding_mono"]["sample_rate"] == 16000
    assert points["OpusMono_32"]["coding_stereo"]["channels"] == 1
    assert "channels" in points["Opus_64"]["coding"]
