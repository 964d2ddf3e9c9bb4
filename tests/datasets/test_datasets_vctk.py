"""VctkDataset on a fake VCTK 0.92 layout and on a parquet table shaped like the Hub conversion."""

from __future__ import annotations

import pytest

from codecbench.datasets import DATASETS, DatasetError
from codecbench.datasets.vctk import TEST_SPEAKERS, VctkDataset


@pytest.fixture
def vctk(tmp_path, make_audio):
    root = tmp_path / "VCTK-Corpus-0.92"
    for n, spk in enumerate(["p225", *TEST_SPEAKERS]):
        for utt in ("001", "002"):
            for mic in ("mic1", "mic2"):
                make_audio(root / f"wav48_silence_trimmed/{spk}/{spk}_{utt}_{mic}.flac", 0.2, 200 + 7 * n)
            (root / f"txt/{spk}").mkdir(parents=True, exist_ok=True)
            (root / f"txt/{spk}/{spk}_{utt}.txt").write_text(f"Sentence {utt} of {spk}.\n")
    (root / "speaker-info.txt").write_text(
        "ID  AGE  GENDER  ACCENTS  REGION COMMENTS\n"
        "p360  19  M    American  New  Jersey\n"
        "s5  22  F    British  Scotland\n")
    return root


def test_default_test_speakers_mic1(vctk):
    utts = DATASETS.get("vctk")(label="vctk", root=str(vctk)).utterances()
    assert len(utts) == 16 and utts[0].id == "p360/p360_001_mic1" and utts[-1].id == "s5/s5_002_mic1"
    assert {u.metadata["speaker"] for u in utts} == set(TEST_SPEAKERS)
    assert all(u.id.endswith("_mic1") and u.path.suffix == ".flac" for u in utts)
    first = utts[0].metadata
    assert first["transcript"] == "Sentence 001 of p360." and first["mic"] == "mic1"
    assert (first["age"], first["gender"], first["accent"], first["region"]) == ("19", "M", "American", "New Jersey")
    audio, rate = utts[0].load()
    assert rate == 48_000 and audio.shape == (1, int(0.2 * 48_000))


def test_options_mic_speakers_all(vctk):
    assert all(u.id.endswith("_mic2") for u in VctkDataset(root=str(vctk), mic="mic2").utterances())
    assert [u.id for u in VctkDataset(root=str(vctk), speakers="s5").utterances()] == \
        ["s5/s5_001_mic1", "s5/s5_002_mic1"]
    assert len(VctkDataset(root=str(vctk), speakers="all").utterances()) == 18
    assert len(VctkDataset(root=str(vctk), max_utterances=3).utterances()) == 3


def test_errors(vctk, tmp_path):
    with pytest.raises(DatasetError, match="set root:"):
        VctkDataset().utterances()
    with pytest.raises(DatasetError, match="wav48_silence_trimmed not found"):
        VctkDataset(root=str(tmp_path)).utterances()
    with pytest.raises(DatasetError, match="speaker folder.* p999 missing"):
        VctkDataset(root=str(vctk), speakers=["p360", "p999"]).utterances()
    with pytest.raises(DatasetError, match="unknown mic 'mic3'"):
        VctkDataset(root=str(vctk), mic="mic3")


def test_parquet_conversion_schema(tmp_path, make_parquet, encoded):
    rows = []
    for n, (spk, utt, mic) in enumerate([("p225", "001", "mic1"), ("p360", "001", "mic1"),
                                         ("p360", "001", "mic2"), ("s5", "003", "mic1")]):
        rows.append({"speaker_id": spk, "audio": encoded(0.3, 300 + 10 * n, "FLAC"),
                     "audio_name": f"{spk}_{utt}_{mic}.flac",
                     "file": f"/x/wav48_silence_trimmed/{spk}/{spk}_{utt}_{mic}.flac",
                     "text": f"t {spk}", "text_id": utt, "age": "20", "gender": "F", "accent": "Scottish",
                     "region": "", "comment": ""})
    repo = tmp_path / "vctk-parquet"
    make_parquet(repo / "main/train/0000.parquet", rows[:2])
    make_parquet(repo / "main/train/0001.parquet", rows[2:])
    utts = VctkDataset(repo=str(repo)).utterances()
    assert [u.id for u in utts] == ["p360/p360_001_mic1", "s5/s5_003_mic1"]
    assert utts[1].metadata == {"speaker": "s5", "mic": "mic1", "age": "20", "gender": "F",
                                "accent": "Scottish", "transcript": "t s5"}
    assert utts[1].load()[0].shape == (1, int(0.3 * 48_000))
    assert [u.id for u in VctkDataset(repo=str(repo), mic="mic2").utterances()] == ["p360/p360_001_mic2"]


def test_parquet_without_file_column_uses_audio_path(tmp_path, make_parquet, encoded):
    rows = [{"speaker_id": "p361", "audio": encoded(), "audio_name": "p361_004_mic1.flac"},
            {"speaker_id": "p361", "audio": encoded(), "audio_name": "p361_004_mic2.flac"}]
    make_parquet(tmp_path / "data/train-00000-of-00001.parquet", rows)
    assert [u.id for u in VctkDataset(repo=str(tmp_path)).utterances()] == ["p361/p361_004_mic1"]
