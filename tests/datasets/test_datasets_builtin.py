"""The embedded quickstart clips load at 48 kHz, are ~3 s, small, and honestly labelled."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from codecbench.datasets import DATASETS, DatasetError
from codecbench.datasets.builtin import BuiltinDataset, data_dir


def test_builtin_clips_load_at_48k_and_about_3s():
    utts = DATASETS.get("builtin")(label="builtin").utterances()
    assert [u.id for u in utts] == ["music_synth_harmonic", "speech_de_male", "speech_en_gb_female",
                                    "speech_en_us_male"]
    for utt in utts:
        audio, rate = utt.load()
        assert rate == 48_000 and audio.shape[0] == 1 and audio.dtype == np.float32
        assert 2.5 <= audio.shape[1] / rate <= 3.5
        assert 0.5 < np.abs(audio).max() <= 1.0 and np.sqrt(np.mean(audio ** 2)) > 0.01
        assert utt.metadata["synthetic"] is True


def test_builtin_metadata_and_bandwidth_label():
    utts = {u.id: u for u in BuiltinDataset().utterances()}
    assert utts["speech_en_us_male"].metadata["transcript"].startswith("The quick brown fox")
    assert utts["music_synth_harmonic"].metadata["kind"] == "synthetic_music"
    # speech was synthesised at 22.05 kHz: the metadata says so, and the spectrum agrees
    audio, rate = utts["speech_en_gb_female"].load()
    spec = np.abs(np.fft.rfft(audio[0])) ** 2
    freqs = np.fft.rfftfreq(audio.shape[1], 1 / rate)
    assert utts["speech_en_gb_female"].metadata["bandwidth_hz"] == 11025
    assert spec[freqs > 11_500].sum() < 1e-4 * spec.sum()
    music, _ = utts["music_synth_harmonic"].load()
    mspec = np.abs(np.fft.rfft(music[0])) ** 2
    assert mspec[np.fft.rfftfreq(music.shape[1], 1 / rate) > 11_500].sum() > 1e-5 * mspec.sum()


def test_builtin_data_is_small_and_hash_stable():
    flacs = sorted(data_dir().glob("*.flac"))
    assert len(flacs) == 4 and sum(p.stat().st_size for p in flacs) < 1_000_000
    a, b = BuiltinDataset().utterances()[0], BuiltinDataset(max_seconds=1.0).utterances()[0]
    assert a.content_hash() == hashlib.sha256(a.path.read_bytes()).hexdigest()  # uncropped: sha256sum of the file
    assert BuiltinDataset().utterances()[0].content_hash() == a.content_hash() != b.content_hash()
    assert b.load()[0].shape == (1, 48_000)


def test_builtin_clip_selection():
    assert [u.id for u in BuiltinDataset(clips=["speech_de_male"]).utterances()] == ["speech_de_male"]
    with pytest.raises(DatasetError, match="unknown builtin clip.*nope.*choose from"):
        BuiltinDataset(clips=["nope"]).utterances()
