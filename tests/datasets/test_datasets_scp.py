"""ScpDataset: Kaldi wav.scp + text, relative/absolute paths, and one file:line error per bad line."""

from __future__ import annotations

from pathlib import Path

import pytest

from codecbench.datasets import DATASETS, DatasetError
from codecbench.datasets.scp import ScpDataset
from codecbench.plan import build_plan, build_points
from codecbench.suite import suite_from_text


@pytest.fixture
def data_dir(tmp_path: Path, make_audio) -> Path:
    """data/test/{wav.scp,text} naming audio beside it, below it, and elsewhere by absolute path."""
    root = tmp_path / "data" / "test"
    make_audio(root / "wav" / "a.wav", 0.5, 300)
    make_audio(root / "b with space.flac", 0.25, 400)
    make_audio(tmp_path / "elsewhere" / "c.wav", 0.25, 500)
    (root / "wav.scp").write_text(f"spk1-a wav/a.wav\n\nspk1-b   b with space.flac\nspk2-c {tmp_path}/elsewhere/c.wav\n")
    (root / "text").write_text("spk1-a HELLO WORLD\nspk2-c good  bye\nunused-id not in the scp\n")
    return root


def test_lists_relative_and_absolute_paths_with_transcripts(data_dir: Path) -> None:
    utts = DATASETS.get("scp")(str(data_dir / "wav.scp"), label="kaldi").utterances()
    assert [u.id for u in utts] == ["spk1-a", "spk1-b", "spk2-c"]
    assert utts[0].path == data_dir / "wav" / "a.wav" and utts[1].path == data_dir / "b with space.flac"
    assert utts[2].path is not None and utts[2].path.is_absolute() and utts[2].path.name == "c.wav"
    assert utts[0].metadata == {"file": "wav/a.wav", "transcript": "HELLO WORLD"}
    assert utts[2].metadata["transcript"] == "good  bye" and "transcript" not in utts[1].metadata
    audio, rate = utts[0].load()
    assert audio.shape == (1, 24000) and rate == 48000


def test_text_option_and_no_text(data_dir: Path) -> None:
    (data_dir / "other.txt").write_text("spk1-b second\n")
    utts = ScpDataset(str(data_dir / "wav.scp"), text="other.txt").utterances()
    assert [u.metadata.get("transcript") for u in utts] == [None, "second", None]
    (data_dir / "text").unlink()
    assert all("transcript" not in u.metadata for u in ScpDataset(str(data_dir / "wav.scp")).utterances())
    with pytest.raises(DatasetError, match="transcript file .*missing.txt not found"):
        ScpDataset(str(data_dir / "wav.scp"), text="missing.txt").utterances()


@pytest.mark.parametrize("line, message", [
    ("u1 sox in.wav -t wav - |", r"wav.scp:2: 'u1' is a pipe command .*write a WAV and list its path"),
    ("u1 feats.ark:1234", r"wav.scp:2: 'u1' names 'feats.ark:1234', not an audio file"),
    ("u1", r"wav.scp:2: 'u1' has no audio path; each line is '<utt_id> <audio path>'"),
    ("../up wav/a.wav", r"wav.scp:2: utterance id '../up' could point outside a folder"),
    ("/abs wav/a.wav", r"wav.scp:2: utterance id '/abs' could point outside a folder"),
    ("spk1-a wav/a.wav", r"wav.scp:2: duplicate utterance id 'spk1-a' \(first on line 1\)"),
])
def test_bad_lines_name_file_and_line(data_dir: Path, line: str, message: str) -> None:
    (data_dir / "wav.scp").write_text(f"spk1-a wav/a.wav\n{line}\n")
    with pytest.raises(DatasetError, match=message) as info:
        ScpDataset(str(data_dir / "wav.scp")).utterances()
    assert "\n" not in str(info.value) and str(info.value).startswith(str(data_dir / "wav.scp"))


def test_bad_text_lines_and_encoding(data_dir: Path) -> None:
    (data_dir / "text").write_text("spk1-a one\nspk1-a two\n")
    with pytest.raises(DatasetError, match=r"text:2: duplicate utterance id 'spk1-a'"):
        ScpDataset(str(data_dir / "wav.scp")).utterances()
    (data_dir / "text").write_bytes(b"spk1-a ok\nspk1-b caf\xe9\n")
    with pytest.raises(DatasetError, match=r"text:2: not UTF-8 text"):
        ScpDataset(str(data_dir / "wav.scp")).utterances()


def test_missing_files_are_skipped_with_a_line_and_missing_scp_is_an_error(data_dir: Path) -> None:
    (data_dir / "wav.scp").write_text("spk1-a wav/a.wav\ngone wav/gone.wav\n")
    dataset = ScpDataset(str(data_dir / "wav.scp"))
    assert [u.id for u in dataset.utterances()] == ["spk1-a"]
    assert len(dataset.skipped) == 1 and dataset.skipped[0].startswith(f"{data_dir / 'wav.scp'}:2: 'gone'")
    with pytest.raises(DatasetError, match="is not a file; set path: to a Kaldi wav.scp"):
        ScpDataset(str(data_dir / "nope.scp")).utterances()


def test_suite_accepts_scp_and_rejects_unknown_options(data_dir: Path) -> None:
    text = (f"name: s\ndatasets: [{{name: k, type: scp, options: {{path: {data_dir / 'wav.scp'}}}}}]\n"
            "codecs: [{name: Id, adapter: identity}]\nmetrics: [lsd]\n")
    suite = suite_from_text(text, "s.yaml")
    plan = build_plan(suite, build_points(suite, "cpu")[0], None)
    assert [row.utterance.id for row in plan.rows] == ["spk1-a", "spk1-b", "spk2-c"]
    (data_dir / "other.txt").write_text("spk1-b from the suite's text option\n")
    suite_file = data_dir.parent.parent / "s.yaml"   # text: is resolved against the suite's folder
    suite_file.write_text(text.replace("options: {", "options: {text: data/test/other.txt, "))
    from codecbench.suite import load_suite

    with_text = load_suite(suite_file)
    plan = build_plan(with_text, build_points(with_text, "cpu")[0], None)
    assert [row.utterance.metadata.get("transcript") for row in plan.rows] == [
        None, "from the suite's text option", None]
    with pytest.raises(Exception, match=r"s.yaml:2.*textt"):
        suite_from_text(text.replace("options: {", "options: {textt: x, "), "s.yaml")
