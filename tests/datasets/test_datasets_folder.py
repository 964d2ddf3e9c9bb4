"""FolderDataset on a small tmp tree; Utterance load/crop/hash/pickle behaviour."""

from __future__ import annotations

import hashlib
import json
import pickle

import numpy as np
import pytest

from codecbench.audio import AudioError
from codecbench.datasets import DATASETS, DatasetError, Utterance
from codecbench.datasets.folder import FolderDataset


@pytest.fixture
def tree(tmp_path, make_audio):
    root = tmp_path / "clips"
    make_audio(root / "b.wav", 1.0, 300)
    make_audio(root / "a.flac", 0.5, 400)
    make_audio(root / "sub" / "deep" / "c.WAV", 0.25, 500)
    make_audio(root / "sub" / "d.ogg", 0.25, 600)  # not in the default extensions
    (root / "notes.txt").write_text("not audio")
    (root / "sub" / "e.wav.bak").write_bytes(b"x")
    make_audio(root / ".hidden" / "f.wav", 0.25, 700)
    make_audio(root / "._g.wav", 0.25, 800)
    return root


def test_ids_sorted_relative_posix_and_non_audio_ignored(tree):
    utts = FolderDataset(str(tree), label="mine").utterances()
    assert [u.id for u in utts] == ["a", "b", "sub/deep/c"]
    assert all(u.dataset == "mine" for u in utts)
    # each utterance points at the file the test wrote for it (not merely at some existing file)
    assert [u.path for u in utts] == [tree / "a.flac", tree / "b.wav", tree / "sub" / "deep" / "c.WAV"]
    assert utts[2].metadata["file"] == "sub/deep/c.WAV"


def test_registry_builds_folder(tree):
    cls = DATASETS.get("folder")
    assert cls is FolderDataset and cls.name == "folder"
    assert len(cls(str(tree), label="x").utterances()) == 3


def test_options_extensions_recursive_max_utterances(tree):
    assert [u.id for u in FolderDataset(str(tree), label="x", recursive=False).utterances()] == ["a", "b"]
    ogg = FolderDataset(str(tree), label="x", extensions=["ogg"]).utterances()
    assert [u.id for u in ogg] == ["sub/d"]
    assert [u.id for u in FolderDataset(str(tree), label="x", max_utterances=2).utterances()] == ["a", "b"]


def test_load_returns_float32_channels_first(tree):
    audio, rate = FolderDataset(str(tree), label="x").utterances()[1].load()
    assert rate == 48_000 and audio.dtype == np.float32 and audio.shape == (1, 48_000)


def test_max_seconds_crops_and_changes_hash(tree):
    full = {u.id: u for u in FolderDataset(str(tree), label="x").utterances()}
    crop = {u.id: u for u in FolderDataset(str(tree), label="x", max_seconds=0.3).utterances()}
    audio, _ = crop["b"].load()
    assert audio.shape == (1, int(0.3 * 48_000))
    ref, _ = full["b"].load()
    np.testing.assert_array_equal(audio, ref[:, : audio.shape[1]])
    assert crop["a"].load()[0].shape[1] == int(0.3 * 48_000)  # 0.5 s file cropped
    assert crop["sub/deep/c"].load()[0].shape[1] == int(0.25 * 48_000)  # shorter than the crop: untouched
    assert full["b"].content_hash() == hashlib.sha256(full["b"].path.read_bytes()).hexdigest()
    assert crop["b"].content_hash() != full["b"].content_hash()
    again = {u.id: u for u in FolderDataset(str(tree), label="y", max_seconds=0.3).utterances()}
    assert again["b"].content_hash() == crop["b"].content_hash()  # the label is no part of the content
    assert len({u.content_hash() for u in full.values()}) == 3


def test_hash_follows_file_content(tree, make_audio):
    utt = FolderDataset(str(tree), label="x").utterances()[0]
    before = utt.content_hash()
    make_audio(utt.path, 0.75, 999)  # rewrite with other content
    assert utt.content_hash() != before


def test_utterances_pickle_and_hash(tree):
    utts = FolderDataset(str(tree), label="x", max_seconds=0.1).utterances()
    back = pickle.loads(pickle.dumps(utts))
    assert back == utts and len(set(back)) == 3
    assert np.array_equal(back[0].load()[0], utts[0].load()[0])
    json.dumps([dict(u.metadata) for u in utts])


def test_missing_and_empty_folder_errors(tmp_path):
    with pytest.raises(DatasetError, match="does not exist") as info:
        FolderDataset(str(tmp_path / "nope"), label="x").utterances()
    assert str(tmp_path / "nope") in str(info.value) and "\n" not in str(info.value)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("hi")
    with pytest.raises(DatasetError, match="no .wav/.flac files"):
        FolderDataset(str(tmp_path / "empty"), label="x").utterances()


def test_bad_options_rejected(tmp_path):
    with pytest.raises(DatasetError, match="max_utterances"):
        FolderDataset(str(tmp_path), label="x", max_utterances=0)
    with pytest.raises(DatasetError, match="max_seconds"):
        FolderDataset(str(tmp_path), label="x", max_seconds=-1.0)


def test_duplicate_ids_rejected(tmp_path, make_audio):
    make_audio(tmp_path / "a.wav")
    make_audio(tmp_path / "a.flac")
    with pytest.raises(DatasetError, match="duplicate utterance id 'a'"):
        FolderDataset(str(tmp_path), label="x").utterances()


def test_corrupt_file_raises_audio_error_naming_it(tmp_path, make_audio):
    make_audio(tmp_path / "good.wav")
    (tmp_path / "bad.wav").write_bytes(b"RIFF....garbage")
    utts = {u.id: u for u in FolderDataset(str(tmp_path), label="x", max_seconds=1.0).utterances()}
    for utt in (utts["bad"], Utterance("x", "bad", utts["bad"].path, {})):
        with pytest.raises(AudioError, match="bad.wav") as info:
            utt.load()
        assert "\n" not in str(info.value)


def test_metadata_sidecars_csv_and_json(tree):
    (tree / "meta.csv").write_text("path,speaker\nsub/deep/c.WAV,s1\nb.wav,s2\n")
    utts = {u.id: u for u in FolderDataset(str(tree), label="x", metadata="meta.csv").utterances()}
    assert utts["sub/deep/c"].metadata["speaker"] == "s1" and utts["b"].metadata["speaker"] == "s2"
    assert "speaker" not in utts["a"].metadata
    (tree / "meta.json").write_text(json.dumps({"a": {"style": "loud"}}))
    utts = {u.id: u for u in FolderDataset(str(tree), label="x", metadata="meta.json").utterances()}
    assert utts["a"].metadata["style"] == "loud"
    with pytest.raises(DatasetError, match="metadata file .* not found"):
        FolderDataset(str(tree), label="x", metadata="missing.csv").utterances()
