"""Suites are refused up front (exit 2, file:line) for alias bombs, huge files, bad or duplicate bitrates;
relative inputs resolve against the suite's folder; a run with no data says so and exits non-zero."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from codecbench.cli import main
from codecbench.errors import EXIT_USAGE
from codecbench.runner import run_suite
from codecbench.store import ResultStore
from codecbench.suite import MAX_SUITE_BYTES, SuiteError, load_suite

GOOD = """\
name: t
datasets:
  - name: demo
    type: builtin
codecs:
  - name: Opus
    adapter: opus
    bitrates: [6, 12]
metrics: [si_sdr]
"""


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("codecbench: error:") or "Traceback" in line]


def test_alias_bomb_is_refused_fast(tmp_path: Path) -> None:
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]  # 9**10 nodes expanded
    path = tmp_path / "bomb.yaml"
    path.write_text(GOOD + "\n".join(levels) + "\n")
    start = time.monotonic()
    with pytest.raises(SuiteError, match=r"bomb\.yaml: the YAML expands to more than \d+ nodes"):
        load_suite(path)
    assert time.monotonic() - start < 5


def test_oversized_suite_is_refused_fast(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text(GOOD + "# padding\n" * (MAX_SUITE_BYTES // 10 + 10))
    start = time.monotonic()
    assert main(["run", str(path), "--out", str(tmp_path / "run")]) == EXIT_USAGE
    assert time.monotonic() - start < 5
    lines = _error_lines(capsys.readouterr().err)
    assert len(lines) == 1 and "huge.yaml" in lines[0] and "too large" in lines[0]


@pytest.mark.parametrize(("bitrates", "expected"), [
    ("[6, 1000]", "s.yaml:8: codecs[0].bitrates[1]:"),
    ("[12, 12.0]", "s.yaml:8: codecs[0].bitrates[1]: bitrate 12 is listed twice"),
])
def test_bad_bitrates_are_suite_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], bitrates: str,
                                       expected: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(GOOD.replace("[6, 12]", bitrates))
    assert main(["run", str(path), "--out", str(tmp_path / "run")]) == EXIT_USAGE
    lines = _error_lines(capsys.readouterr().err)
    assert len(lines) == 1 and expected in lines[0], lines
    if "1000" in bitrates:
        assert "kbps" in lines[0] and "1000" in lines[0]  # names the allowed range and the bad value
    assert not (tmp_path / "run").exists()  # refused before any work


def test_relative_dataset_path_resolves_against_the_suite_folder(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "project" / "data"
    data.mkdir(parents=True)
    t = np.arange(8000) / 16000
    for i in range(2):
        sf.write(data / f"u{i}.wav", (0.3 * np.sin(2 * np.pi * (300 + 50 * i) * t)).astype(np.float32), 16000)
    suites = tmp_path / "project" / "suites"
    suites.mkdir()
    (suites / "rel.yaml").write_text("name: rel\ndatasets: [{name: d, type: folder, options: {path: ../data}}]\n"
                                     "codecs: [{name: Id, adapter: identity}]\nmetrics: [si_sdr]\n")
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "data").mkdir(parents=True)  # a decoy: the same relative path from the working directory
    sf.write(elsewhere / "data" / "decoy.wav", np.zeros(8000, np.float32), 16000)
    monkeypatch.chdir(elsewhere)
    summary = run_suite(load_suite(Path("../project/suites/rel.yaml")), out=tmp_path / "run", jobs=1,
                        progress=False, log=lambda m: None)
    assert summary.ok == 2
    with ResultStore.open_existing(tmp_path / "run") as store:
        rows = store.rows()
    assert sorted(r["utterance"] for r in rows) == ["u0", "u1"]
    assert all(Path(r["reference_path"]).resolve().parent == data.resolve() for r in rows)


def test_run_without_data_exits_non_zero_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "nodata.yaml"
    path.write_text("name: nodata\ndatasets: [{name: d, type: folder, options: {path: missing}}]\n"
                    "codecs: [{name: Id, adapter: identity}]\nmetrics: [si_sdr]\n")
    code = main(["run", str(path), "--out", str(tmp_path / "run"), "--no-progress"])
    assert code != 0
    lines = _error_lines(capsys.readouterr().err)
    assert len(lines) == 1 and "nothing to run" in lines[0] and str(tmp_path / "missing") in lines[0], lines
