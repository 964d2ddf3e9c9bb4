"""Training through the shared codecbench trainer: overfitting one real clip, exact resume, CLI."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from codecbench.audio import load_audio, resample
from codecbench.training import TrainConfig, Trainer
from codecbench.training.data import FileItem
from codecbench.training.state import load_state
from complex_rvqvae.task import ComplexRVQVAETask


@dataclasses.dataclass(frozen=True)
class ClipItem:
    """An in-memory clip satisfying the trainer's AudioItem protocol."""

    name: str
    audio: np.ndarray
    rate: int

    def load(self) -> tuple[np.ndarray, int]:
        return self.audio[None], self.rate


def _train_config(raw: dict, **changes) -> TrainConfig:
    return TrainConfig.from_dict(raw).override(**changes)


@pytest.mark.slow
def test_tiny_model_overfits_one_real_clip(shared_fixtures: Path, tiny_cfg, tmp_path):
    model_cfg, loss_cfg, train_raw = tiny_cfg
    audio, rate = load_audio(shared_fixtures / "apcodec_demo" / "vctk48" / "N_48" / "1.wav")
    audio = resample(audio, rate, model_cfg.sample_rate)[0]
    start = int(0.5 * model_cfg.sample_rate)  # skip the leading silence
    clip = ClipItem("p360_1s", np.ascontiguousarray(audio[start:start + model_cfg.sample_rate]), model_cfg.sample_rate)
    cfg = _train_config(train_raw, batch_size=1, segment_size=model_cfg.sample_rate, max_steps=40,
                        valid_max_seconds=None, log_interval=0)
    trainer = Trainer(ComplexRVQVAETask(model_cfg, loss_cfg), cfg, tmp_path / "run",
                      train_items=[clip], valid_items=[clip])
    before = trainer.validate().scores["mel_distance"]
    started = time.perf_counter()
    summary = trainer.fit()
    elapsed = time.perf_counter() - started
    after = trainer.validate().scores["mel_distance"]
    drop = 1.0 - after / before
    print(f"mel distance {before:.3f} -> {after:.3f} (drop {drop:.1%}) in {summary.step} steps, {elapsed:.1f} s, "
          f"{summary.steps_per_second:.2f} steps/s; ppl {summary.last_logs['perplexity_first']:.1f}")
    assert summary.step == 40 and np.isfinite(summary.last_logs["total"])
    assert drop >= 0.30, f"mel distance only fell from {before:.3f} to {after:.3f}"
    assert (tmp_path / "run" / "export" / "complex_rvqvae.pt").is_file()


def test_resume_is_exact(shared_fixtures: Path, tiny_cfg, tmp_path):
    model_cfg, loss_cfg, train_raw = tiny_cfg
    folder = shared_fixtures / "apcodec_demo" / "vctk48" / "N_48"
    items = [FileItem(str(folder / "1.wav")), FileItem(str(folder / "2.wav"))]
    # Dropout to 1..12 stages, dead-code revival (threshold above the initial EMA counts) and
    # crops all draw random numbers: resume must restore every generator.
    model_cfg = dataclasses.replace(model_cfg, dead_threshold=2.0)
    cfg = _train_config(train_raw, batch_size=2, segment_size=1760, max_steps=4, checkpoint_interval=2,
                        keep_checkpoints=0, log_interval=0)

    straight = Trainer(ComplexRVQVAETask(model_cfg, loss_cfg), cfg, tmp_path / "a", train_items=items, valid_items=[])
    straight.fit()
    assert straight.history[-1]["codes_revived"] > 0
    resumed = Trainer(ComplexRVQVAETask(model_cfg, loss_cfg), cfg, tmp_path / "b", train_items=items, valid_items=[])
    assert resumed.resume(tmp_path / "a" / "checkpoints" / "state_00000002.pt") and resumed.step == 2
    resumed.fit()

    final_a = load_state(tmp_path / "a" / "checkpoints" / "state_00000004.pt")["modules"]["codec"]
    final_b = resumed.modules["codec"].state_dict()
    assert final_a.keys() == final_b.keys()
    for key, value in final_a.items():
        assert torch.equal(value, final_b[key]), f"{key} differs after resume"
    # The trainer state itself loads as a deployable model too.
    from complex_rvqvae.checkpoint import load_model

    model = load_model(tmp_path / "a" / "checkpoints" / "state_00000004.pt")
    assert model.cfg.dead_threshold == 2.0


def test_cli_print_model_and_bad_config(capsys):
    from complex_rvqvae.train import main

    assert main(["--config", "48k", "--print-model"]) == 0
    facts = capsys.readouterr().out
    assert '"kbps_per_stage": 1.0' in facts and '"frame_rate_hz": 90.909' in facts
    assert main(["--config", "no_such_config", "--print-model"]) == 2
    assert "not found" in capsys.readouterr().err


def test_cli_trains_exports_and_the_adapter_decodes(shared_fixtures: Path, tmp_path):
    from codecbench.codecs import CODECS
    from complex_rvqvae.train import main

    folder = shared_fixtures / "apcodec_demo" / "vctk48" / "N_48"
    out = tmp_path / "run"
    assert main(["--config", "tiny", "--data", str(folder), "--out", str(out), "--steps", "2",
                 "--segment-size", "1760", "--batch-size", "1"]) == 0
    export = out / "export" / "complex_rvqvae.pt"
    assert export.is_file() and (out / "checkpoints" / "state_00000002.pt").is_file()
    audio, rate = load_audio(folder / "1.wav")
    audio = resample(audio, rate, 16000)[:, 8000:12000]
    for checkpoint in (export, out / "checkpoints" / "state_00000002.pt"):
        codec = CODECS.get("complex_rvqvae")(bitrate=6, checkpoint=str(checkpoint))
        decoded = codec.decode(codec.encode(audio))
        assert decoded.shape == audio.shape and np.all(np.isfinite(decoded))
