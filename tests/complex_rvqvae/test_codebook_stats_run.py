"""Codebook statistics of a real neural adapter through the runner: the tiny complex RVQ-VAE's codes,
counted per row, summed once per utterance after a resume and after shards merged twice."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import soundfile as sf

from codecbench.codebooks import count_codes, condition_stats
from codecbench.codecs import CODECS
from codecbench.export import merge_runs
from codecbench.plan import Shard
from codecbench.results import load_codebooks
from codecbench.runner import run_suite
from codecbench.suite import suite_from_text

RATE, N_UTT = 16000, 3


def _suite(folder: Path, out: Path, checkpoint: Path) -> str:
    return f"""
name: rvq-books
out: {out}
datasets: [{{name: d, type: folder, options: {{path: {folder}}}}}]
codecs:
  - {{name: RVQ, adapter: complex_rvqvae, bitrates: [1, 2], options: {{checkpoint: '{checkpoint}'}}}}
metrics: [lsd]
"""


def _direct(folder: Path, checkpoint: Path, kbps: int) -> object:
    """The statistics computed without the harness: the adapter's own codes of every file."""
    codec = CODECS.get("complex_rvqvae")(bitrate=kbps, checkpoint=str(checkpoint))
    rows = []
    for path in sorted(folder.glob("*.wav")):
        audio = sf.read(path, dtype="float32")[0][None]
        payload = codec.encode(codec.prepare(audio, RATE))
        rows.append(count_codes(payload.codes, payload.bits_per_code, audio.shape[1] / RATE))
    return condition_stats("d", "RVQ", float(kbps), f"RVQ_{kbps}", rows)


def test_counts_survive_resume_and_merge_exactly_once(tmp_path: Path, tiny_checkpoint: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(N_UTT):
        sf.write(folder / f"u{i}.wav", (0.2 * rng.standard_normal(RATE // 4 + 97 * i)).astype(np.float32), RATE)
    expected = [_direct(folder, tiny_checkpoint, kbps) for kbps in (1, 2)]
    assert expected[0] is not None and expected[0].books[0].used > 1   # a real spread of codes, not a constant

    out = tmp_path / "run"
    suite = suite_from_text(_suite(folder, out, tiny_checkpoint), "s.yaml")
    assert run_suite(suite, jobs=1, progress=False).ok == 2 * N_UTT
    assert load_codebooks(out) == expected
    assert [len(s.books) for s in expected] == [1, 2] and expected[1].codebook_size == 2048

    with sqlite3.connect(out / "results.sqlite") as conn:   # lose a row: the rerun restores it once
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("DELETE FROM items WHERE utterance = 'u1' AND bitrate = 2")
    assert run_suite(suite, jobs=1, progress=False).ok == 1
    assert load_codebooks(out) == expected

    sharded = tmp_path / "sharded"
    for k in (1, 2):
        run_suite(suite, out=sharded, jobs=1, shard=Shard(k, 2), progress=False)
    merge_runs(sharded, [])
    merge_runs(sharded, [])
    assert load_codebooks(sharded) == expected
