"""One-line errors that name the real problem (issue 10, item 12)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import codecbench.audio as audio_module
from codecbench.audio import AudioError, load_audio
from codecbench.cli import main


def test_unreadable_file_is_a_permission_error_not_a_format_error(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.wav"
    sf.write(path, np.zeros(1600, dtype=np.float32), 16000)
    monkeypatch.setattr(audio_module.os, "access", lambda *_: False)  # root can read anything
    with pytest.raises(AudioError, match="permission denied") as info:
        load_audio(path)
    assert "re-export" not in str(info.value)


def test_broken_symlink_is_named(tmp_path: Path) -> None:
    link = tmp_path / "gone.wav"
    link.symlink_to(tmp_path / "missing.wav")
    with pytest.raises(AudioError, match="broken symlink"):
        load_audio(link)


def test_apcodec_bitrate_outside_its_list_is_a_suite_error(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text(f"name: t\nout: {tmp_path / 'run'}\ndatasets: [{{name: d, type: builtin}}]\n"
                     "codecs: [{name: ap, adapter: apcodec, bitrates: [6, 7]}]\nmetrics: [si_sdr]\n")
    assert main(["run", str(suite), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "s.yaml:4" in err[0] and "allowed: 1.5, 3, 4.5, 6" in err[0]
    assert not (tmp_path / "run").exists()


def test_roundtrip_apcodec_bad_bitrate_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    codec = tmp_path / "ap.yaml"
    codec.write_text("adapter: apcodec\nbitrate: 7\n")
    source = tmp_path / "a.wav"
    sf.write(source, np.zeros(4800, dtype=np.float32), 48000)
    assert main(["roundtrip", str(codec), str(source), str(tmp_path / "y.wav")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "allowed: 1.5, 3, 4.5, 6" in err and len(err.strip().splitlines()) == 1


def test_shipped_suite_without_data_exits_3_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    suite = Path(__file__).resolve().parents[2] / "suites" / "expresso.yaml"
    if (suite.parent.parent / "data" / "expresso").exists():
        pytest.skip("Expresso is present here; the no-data case cannot be shown")
    monkeypatch.chdir(tmp_path)  # the suite's relative root must not depend on the working directory
    assert main(["run", str(suite), "--out", str(tmp_path / "run"), "--no-progress"]) == 3
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0] == f"run dir: {tmp_path / 'run'}" and len(lines) == 2
    assert "nothing to run" in lines[1] and str(suite.parent.parent / "data" / "expresso") in lines[1]


def test_dataset_item_without_read_permission_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from codecbench.datasets.folder import FolderDataset

    sf.write(tmp_path / "a.wav", np.zeros(1600, dtype=np.float32), 16000)
    (utterance,) = FolderDataset(label="d", path=str(tmp_path)).utterances()
    monkeypatch.setattr(audio_module.os, "access", lambda *_: False)
    with pytest.raises(AudioError, match="a.wav: permission denied") as info:
        utterance.load()
    assert "re-export" not in str(info.value)
