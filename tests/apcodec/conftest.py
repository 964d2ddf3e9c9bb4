"""Shared setup of the APCodec training tests: tiny discriminators, synthetic tones, small configs.

Tests run with ``--import-mode=importlib`` and cannot import helpers from here, so the helpers
are fixtures (the callable ones return a function).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pytest
import soundfile as sf
import torch

from apcodec.task import DiscriminatorConfig
from codecbench.training import TrainConfig


@pytest.fixture(params=["mkl", "onednn"])
def gemm_backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test once per GEMM library of :mod:`apcodec.gemm`, whichever this machine would pick."""
    from apcodec import gemm

    if request.param not in gemm.available():
        pytest.skip(f"this torch build has no {request.param}")
    with gemm.use_backend(request.param):
        yield request.param


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Single-threaded torch: fast and reproducible on a busy 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def small_disc() -> DiscriminatorConfig:
    """Discriminators a few channels wide: GAN steps take milliseconds."""
    return DiscriminatorConfig(mpd_channels=(4, 8, 16, 16, 16), mrd_channels=4)


@pytest.fixture
def write_tones() -> Callable[..., list[Path]]:
    """``write_tones(folder, count, seconds=0.1, rate=48000)``: distinct tone + noise files (so crops
    differ), written as float WAV; returns their paths."""

    def write(folder: Path, count: int, seconds: float = 0.1, rate: int = 48000) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(0)
        paths = []
        for i in range(count):
            t = np.arange(int(seconds * rate)) / rate
            audio = 0.3 * np.sin(2 * np.pi * (220 + 110 * i) * t) + 0.01 * rng.standard_normal(t.size)
            path = folder / f"tone_{i}.wav"
            sf.write(path, audio.astype(np.float32), rate, subtype="FLOAT")
            paths.append(path)
        return paths

    return write


@pytest.fixture
def train_config() -> Callable[..., TrainConfig]:
    """``train_config(data, **changes)``: a TrainConfig for a few quick steps on the folder ``data``
    (batches of 2 tiny crops, no logging, checkpoints, validation or TensorBoard unless changed)."""

    def make(data: Path, **changes: Any) -> TrainConfig:
        base: dict[str, Any] = dict(train_data=str(data), batch_size=2, segment_size=1240, log_interval=0,
                                    checkpoint_interval=0, validation_interval=0, tensorboard=False,
                                    cache_audio=True)
        base.update(changes)
        return TrainConfig(**base)

    return make
