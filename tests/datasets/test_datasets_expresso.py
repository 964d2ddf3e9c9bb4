"""ExpressoDataset on a fake official layout and on tiny parquet tables built in tmp_path."""

from __future__ import annotations

import hashlib
import pickle

import pytest

from codecbench.datasets import DATASETS, DatasetError
from codecbench.datasets.expresso import ExpressoDataset, parse_range, parse_split_line

RATE = 48_000


@pytest.fixture
def expresso(tmp_path, make_audio):
    root = tmp_path / "expresso"
    read = root / "audio_48khz" / "read"
    make_audio(read / "ex01/confused/base/ex01_confused_00001.wav", 0.5, 300)
    make_audio(read / "ex01/confused/base/ex01_confused_00002.wav", 0.5, 310)
    make_audio(read / "ex02/default/base/ex02_default_emphasis_00010.wav", 0.75, 320)
    make_audio(read / "ex01/default/longform/ex01_default_longform_00001.wav", 3.0, 330)
    make_audio(root / "audio_48khz/conversational/ex04-ex01/laughing/ex04-ex01_laughing_001.wav", 0.5, 340)
    (root / "splits").mkdir()
    (root / "splits/test.txt").write_text(
        "ex01_confused_00002\nex02_default_emphasis_00010\n"
        "ex01_default_longform_00001\t(0.0s, 1.0s)\nex04-ex01_laughing_001_channel1\t(0, 60)\n\n")
    (root / "splits/train.txt").write_text("ex01_confused_00001\nex01_default_longform_00001\t(1.0s,)\n")
    (root / "read_transcriptions.txt").write_text(
        "ex01_confused_00002\tWhy is the *jukebox* here?\nex02_default_emphasis_00010\tI *said* no.\n")
    return root


def test_default_test_split_ids_and_metadata(expresso):
    ds = DATASETS.get("expresso")(label="expresso", root=str(expresso))
    utts = ds.utterances()
    assert [u.id for u in utts] == ["ex01/confused/base/ex01_confused_00002",
                                    "ex01/default/longform/ex01_default_longform_00001__0-1",
                                    "ex02/default/base/ex02_default_emphasis_00010"]
    meta = utts[2].metadata
    assert (meta["speaker"], meta["style"], meta["substyle"], meta["corpus"]) == \
        ("ex02", "default", "default_emphasis", "base")
    assert meta["transcript"] == "I *said* no." and meta["split"] == "test"
    assert "transcript" not in utts[1].metadata
    assert (utts[1].metadata["segment_start"], utts[1].metadata["segment_end"]) == (0.0, 1.0)


def test_longform_segment_and_crop(expresso):
    seg = ExpressoDataset(root=str(expresso), split="test").utterances()[1]
    assert seg.load()[0].shape == (1, RATE)
    cropped = ExpressoDataset(root=str(expresso), max_seconds=0.25).utterances()[1]
    assert cropped.load()[0].shape == (1, RATE // 4)
    assert len({seg.content_hash(), cropped.content_hash()}) == 2
    train = {u.id: u for u in ExpressoDataset(root=str(expresso), split="train").utterances()}
    rest = train["ex01/default/longform/ex01_default_longform_00001__1-end"]
    assert rest.load()[0].shape == (1, 2 * RATE)
    assert rest.content_hash() != seg.content_hash()


def test_filters_and_all_split(expresso):
    def ids(**kw):
        return [u.id.split("/")[-1] for u in ExpressoDataset(root=str(expresso), **kw).utterances()]

    assert ids(longform=False) == ["ex01_confused_00002", "ex02_default_emphasis_00010"]
    assert ids(speakers=["ex02"]) == ["ex02_default_emphasis_00010"]
    assert ids(styles=["default_emphasis"]) == ["ex02_default_emphasis_00010"]
    assert ids(styles=["confused"]) == ["ex01_confused_00002"]
    assert len(ids(split="all")) == 4  # every read wav, no conversational
    assert ids(max_utterances=1) == ["ex01_confused_00002"]


def test_local_errors_are_one_line_and_actionable(expresso, tmp_path):
    with pytest.raises(DatasetError, match="set root:"):
        ExpressoDataset().utterances()
    with pytest.raises(DatasetError, match="audio_48khz/read not found"):
        ExpressoDataset(root=str(tmp_path / "nowhere")).utterances()
    with pytest.raises(DatasetError, match=r"split file .*dev.txt not found"):
        ExpressoDataset(root=str(expresso), split="dev").utterances()
    with pytest.raises(DatasetError, match="unknown split 'valid'"):
        ExpressoDataset(root=str(expresso), split="valid")
    (expresso / "audio_48khz/read/ex01/confused/base/ex01_confused_00002.wav").unlink()
    with pytest.raises(DatasetError, match="1 file.* missing .*first: ex01_confused_00002") as info:
        ExpressoDataset(root=str(expresso)).utterances()
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("text, expected", [
    ("(0.0s, 60.0s)", (0.0, 60.0)), ("(60.0s,)", (60.0, None)), ("(,60s)", (0.0, 60.0)),
    ("[0, 60]", (0.0, 60.0)), ("12.5-30", (12.5, 30.0)), ("0 60", (0.0, 60.0)),
])
def test_parse_range_variants(text, expected):
    assert parse_range(text) == expected


def test_parse_split_line_variants():
    assert parse_split_line("  ") is None and parse_split_line("# comment") is None
    assert parse_split_line("ex01_sad_00003") == ("ex01_sad_00003", None)
    assert parse_split_line("read/ex01/sad/base/ex01_sad_00003.wav") == ("ex01_sad_00003", None)
    assert parse_split_line("ex01_default_longform_00001\t(0.0s, 60.0s)") == \
        ("ex01_default_longform_00001", (0.0, 60.0))


def _rows(encoded, ids, speaker):
    return [{"id": i, "audio": encoded(0.5, 200 + 10 * n), "audio_name": f"{i.split('__')[0]}.wav",
             "speaker_id": speaker(i), "style": i.split("_")[1], "text": f"text of {i}"}
            for n, i in enumerate(ids)]


def test_hf_parquet_with_splits(tmp_path, make_parquet, encoded):
    """shangeth/expresso schema: read/{split}-*.parquet, int speaker ids, chunk ids with __a-b."""
    repo = tmp_path / "shangeth"
    speaker = lambda i: int(i[2:4])  # noqa: E731
    make_parquet(repo / "read/test-00000-of-00001.parquet",
                 _rows(encoded, ["ex02_sad_00007", "ex01_happy_00003", "ex01_default_longform_00001__0-16.49"],
                       speaker))
    make_parquet(repo / "read/train-00000-of-00001.parquet", _rows(encoded, ["ex01_happy_00001"], speaker))
    utts = ExpressoDataset(label="ex", repo=str(repo)).utterances()
    assert [u.id for u in utts] == ["ex01/default/longform/ex01_default_longform_00001__0-16.49",
                                    "ex01/happy/base/ex01_happy_00003", "ex02/sad/base/ex02_sad_00007"]
    assert all(u.path is None and u.dataset == "ex" for u in utts)
    assert utts[2].metadata["speaker"] == "ex02" and utts[2].metadata["transcript"] == "text of ex02_sad_00007"
    audio, rate = utts[1].load()
    assert rate == RATE and audio.shape == (1, RATE // 2)
    assert utts[1].content_hash() == hashlib.sha256(encoded(0.5, 210)).hexdigest()
    back = pickle.loads(pickle.dumps(utts))
    assert back[2].load()[0].shape == (1, RATE // 2)
    cropped = ExpressoDataset(label="ex", repo=str(repo), max_seconds=0.1).utterances()[1]
    assert cropped.load()[0].shape == (1, RATE // 10) and cropped.content_hash() != utts[1].content_hash()
    with pytest.raises(DatasetError, match=r"no parquet files for split 'dev'.*splits found: test, train"):
        ExpressoDataset(label="ex", repo=str(repo), split="dev").utterances()


def test_hf_train_only_parquet_filtered_by_split_file(tmp_path, make_parquet, encoded, expresso):
    """ylacombe/expresso schema: one train split of whole files, selected with the official split file."""
    repo = tmp_path / "ylacombe"
    make_parquet(repo / "read/train-00000-of-00001.parquet",
                 _rows(encoded, ["ex01_confused_00001", "ex01_confused_00002", "ex02_default_emphasis_00010"],
                       lambda i: i[:4]) +
                 [{"id": "ex01_default_longform_00001", "audio": encoded(3.0, 330), "audio_name": "x.wav",
                   "speaker_id": "ex01", "style": "default", "text": "long"}])
    ds = ExpressoDataset(repo=str(repo), split_file=str(expresso / "splits/test.txt"))
    utts = ds.utterances()
    assert [u.id for u in utts] == ["ex01/confused/base/ex01_confused_00002",
                                    "ex01/default/longform/ex01_default_longform_00001__0-1",
                                    "ex02/default/base/ex02_default_emphasis_00010"]
    assert utts[1].load()[0].shape == (1, RATE)
    missing = tmp_path / "extra.txt"
    missing.write_text("ex03_sad_00001\n")
    with pytest.raises(DatasetError, match="1 id.* not in .*first: ex03_sad_00001"):
        ExpressoDataset(repo=str(repo), split_file=str(missing)).utterances()


def test_train_only_hub_repo_needs_split_file():
    with pytest.raises(DatasetError, match="single train split.*split_file:"):
        ExpressoDataset(source="hf", repo="ylacombe/expresso").utterances()


def test_parquet_schema_errors(tmp_path, make_parquet, encoded):
    make_parquet(tmp_path / "p/read/test-0.parquet", [{"name": "x", "audio": encoded()}])
    with pytest.raises(DatasetError, match="lacks column.*id"):
        ExpressoDataset(repo=str(tmp_path / "p")).utterances()
    with pytest.raises(DatasetError, match="neither an existing parquet file/folder nor a Hugging Face repo id"):
        ExpressoDataset(repo="./not/here").utterances()
