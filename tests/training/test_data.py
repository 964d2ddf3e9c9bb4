"""Training data sources, seeded crops and the resumable, rank-sharded batch sampler."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from codecbench.training.data import CropDataset, ResumableBatchSampler, resolve_source


def test_sources_folder_list_and_errors(tmp_path):
    folder = tmp_path / "a" / "b"
    folder.mkdir(parents=True)
    paths = [folder / f"tone_{i}.wav" for i in range(2)]
    for path in paths:
        sf.write(path, np.zeros(480, dtype=np.float32), 48000)
    assert [Path(i.path) for i in resolve_source(str(tmp_path / "a"))] == sorted(paths)
    listing = tmp_path / "list.txt"
    listing.write_text("# comment\n\na/b/tone_1.wav|ignored\n" + str(paths[0]) + "\n")
    assert [Path(i.path).name for i in resolve_source(str(listing))] == ["tone_1.wav", "tone_0.wav"]
    with pytest.raises(ValueError, match="not a folder"):
        resolve_source(str(tmp_path / "missing"))
    builtin = resolve_source("dataset:builtin")  # codecbench dataset registry (embedded clips)
    crop = CropDataset(builtin, 48000, 1240)[(0, 123)]
    assert crop.shape == (1, 1240) and crop.dtype == torch.float32 and torch.equal(crop, CropDataset(builtin, 48000, 1240)[(0, 123)])


def test_sampler_is_deterministic_sharded_and_resumable():
    full = list(iter(ResumableBatchSampler(10, 2, seed=3)))
    assert len(full) == 5 and full == list(iter(ResumableBatchSampler(10, 2, seed=3)))
    resumed = ResumableBatchSampler(10, 2, seed=3)
    resumed.set_epoch(0, start_batch=3)
    assert list(iter(resumed)) == full[3:]
    ranks = [list(iter(ResumableBatchSampler(10, 2, seed=3, rank=r, world_size=2))) for r in range(2)]
    indices = [i for r in ranks for batch in r for i, _ in batch]
    assert len(indices) == 8 and len(set(indices)) == 8  # 2 batches x 2 x 2 ranks, disjoint shards
    nxt = ResumableBatchSampler(10, 2, seed=3)
    nxt.set_epoch(1)
    assert list(iter(nxt)) != full
