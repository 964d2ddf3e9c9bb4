"""Datasets read symlinked files and folders like real ones and report every input they skip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from codecbench.datasets import DatasetError
from codecbench.datasets.expresso import ExpressoDataset
from codecbench.datasets.folder import FolderDataset
from codecbench.datasets.vctk import VctkDataset


@pytest.fixture
def deny(monkeypatch: pytest.MonkeyPatch):
    """Make ``os.scandir`` fail with EACCES on chosen folders (tests run as root, so chmod 000 is ignored)."""
    denied: set[str] = set()
    real = os.scandir

    def scandir(path=".", *args, **kwargs):
        if os.path.realpath(os.fspath(path)) in denied:
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "scandir", scandir)
    return lambda folder: denied.add(os.path.realpath(folder))


def test_folder_follows_symlinked_files_and_folders(tmp_path: Path, make_audio) -> None:
    shared = tmp_path / "shared"
    make_audio(shared / "spk9" / "x.wav", 0.2, 300)
    make_audio(shared / "lone.wav", 0.2, 310)
    data = tmp_path / "data"
    make_audio(data / "real.wav", 0.2, 320)
    (data / "spk9").symlink_to(shared / "spk9", target_is_directory=True)
    (data / "linked.wav").symlink_to(shared / "lone.wav")
    ds = FolderDataset(str(data))
    utts = ds.utterances()
    assert [u.id for u in utts] == ["linked", "real", "spk9/x"]
    assert utts[2].path == data / "spk9" / "x.wav"  # the link's path, lexically under the root
    assert utts[0].load()[0].shape == (1, int(0.2 * 48_000))
    assert ds.skipped == []


def test_folder_reports_broken_links_unreadable_folders_and_loops(tmp_path: Path, make_audio, deny) -> None:
    data = tmp_path / "data"
    make_audio(data / "ok.wav", 0.2, 300)
    make_audio(data / "locked" / "hidden_from_us.wav", 0.2, 310)
    make_audio(data / "deep" / "a.wav", 0.2, 320)
    (data / "gone.wav").symlink_to(tmp_path / "nowhere.wav")
    (data / "gone_dir").symlink_to(tmp_path / "nowhere", target_is_directory=True)
    (data / "notes.txt").symlink_to(tmp_path / "nowhere.txt")  # not an input: not reported
    (data / "deep" / "up").symlink_to(data, target_is_directory=True)  # loop back to the root
    deny(data / "locked")
    ds = FolderDataset(str(data))
    assert [u.id for u in ds.utterances()] == ["deep/a", "ok"]
    assert len(ds.skipped) == 4
    lines = {line.split(" in ")[0]: line for line in ds.skipped}
    assert set(lines) == {"deep/up", "gone.wav", "gone_dir", "locked/"}
    assert "symlink loop" in lines["deep/up"]
    assert "broken symlink" in lines["gone.wav"] and "nowhere.wav" in lines["gone.wav"]
    assert "cannot read folder (Permission denied)" in lines["locked/"]
    assert all("\n" not in line for line in ds.skipped)


def test_folder_with_only_an_unreadable_subfolder_names_it(tmp_path: Path, make_audio, deny) -> None:
    data = tmp_path / "data"
    make_audio(data / "locked" / "a.wav", 0.2, 300)
    deny(data / "locked")
    with pytest.raises(DatasetError, match=r"1 input skipped, first: locked/ .*cannot read folder"):
        FolderDataset(str(data)).utterances()


def test_vctk_reads_symlinked_speaker_folders_and_reports_broken_files(tmp_path: Path, make_audio, deny) -> None:
    root = tmp_path / "VCTK-Corpus-0.92"
    wav = root / "wav48_silence_trimmed"
    make_audio(wav / "p360" / "p360_001_mic1.flac", 0.2, 300)
    make_audio(tmp_path / "elsewhere" / "p361" / "p361_001_mic1.flac", 0.2, 310)
    (wav / "p361").symlink_to(tmp_path / "elsewhere" / "p361", target_is_directory=True)
    (wav / "p360" / "p360_002_mic1.flac").symlink_to(tmp_path / "missing.flac")
    make_audio(wav / "p362" / "p362_001_mic1.flac", 0.2, 320)
    deny(wav / "p362")
    named = VctkDataset(root=str(root), speakers=["p360", "p361", "p362"])
    assert [u.id for u in named.utterances()] == ["p360/p360_001_mic1", "p361/p361_001_mic1"]
    assert len(named.skipped) == 2
    assert any(line.startswith("p360_002_mic1.flac in ") and "broken symlink" in line for line in named.skipped)
    assert any("cannot read folder" in line and "p362" in line for line in named.skipped)
    every = VctkDataset(root=str(root), speakers="all")
    assert [u.id for u in every.utterances()] == ["p360/p360_001_mic1", "p361/p361_001_mic1"]
    assert sorted(line.split(" in ")[0] for line in every.skipped) == ["p360/p360_002_mic1.flac", "p362/"]


def test_expresso_reads_symlinked_style_folders_and_reports_skips(tmp_path: Path, make_audio, deny) -> None:
    root = tmp_path / "expresso"
    read = root / "audio_48khz" / "read"
    make_audio(read / "ex01/confused/base/ex01_confused_00001.wav", 0.2, 300)
    make_audio(tmp_path / "store/base/ex02_default_00002.wav", 0.2, 310)
    (read / "ex02" / "default").mkdir(parents=True)
    (read / "ex02" / "default" / "base").symlink_to(tmp_path / "store" / "base", target_is_directory=True)
    (read / "ex01/confused/base/ex01_confused_00003.wav").symlink_to(tmp_path / "void.wav")
    make_audio(read / "ex03/happy/base/ex03_happy_00004.wav", 0.2, 320)
    deny(read / "ex03")
    ds = ExpressoDataset(root=str(root), split="all")
    assert [u.id for u in ds.utterances()] == ["ex01/confused/base/ex01_confused_00001",
                                               "ex02/default/base/ex02_default_00002"]
    assert sorted(line.split(" in ")[0] for line in ds.skipped) == \
        ["ex01/confused/base/ex01_confused_00003.wav", "ex03/"]
    (root / "splits").mkdir()
    (root / "splits" / "test.txt").write_text("ex03_happy_00004\n")
    with pytest.raises(DatasetError, match=r"missing under .*2 inputs skipped, first: .*broken symlink"):
        ExpressoDataset(root=str(root)).utterances()


def test_plan_lists_each_skipped_input(tmp_path: Path, make_audio) -> None:
    from codecbench.plan import build_plan, build_points
    from codecbench.suite import suite_from_text

    data = tmp_path / "data"
    make_audio(data / "ok.wav", 0.2, 300)
    (data / "gone.wav").symlink_to(tmp_path / "nowhere.wav")
    suite = suite_from_text(f"datasets:\n  - {{name: clips, type: folder, options: {{path: {data}}}}}\n"
                            "codecs:\n  - {name: ref, adapter: identity}\nmetrics: [si_sdr]\n")
    points, _ = build_points(suite, "cpu")
    plan = build_plan(suite, points)
    assert len(plan.rows) == 1
    assert plan.skipped_inputs == [f"dataset 'clips': skipped gone.wav in {data}: broken symlink to "
                                   f"{tmp_path / 'nowhere.wav'} (target missing); restore the target or remove the link"]
