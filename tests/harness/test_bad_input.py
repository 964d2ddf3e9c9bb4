"""Every kind of bad input fails one row with a one-line message; the run goes on."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from codecbench.cli import main
from codecbench.results import load_results
from codecbench.runner import run_suite
from codecbench.suite import suite_from_text

HERE = Path(__file__).resolve().parent


def speechlike(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """Voiced harmonics with a syllable envelope plus a little noise: PESQ/STOI accept it."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 120 + 20 * np.sin(2 * np.pi * 0.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 20))
    envelope = np.clip(np.sin(2 * np.pi * 3 * t), 0, None) ** 2
    return (0.2 * voiced * envelope + 0.003 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.fixture
def bad_folder(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "sub").mkdir(parents=True)
    sf.write(root / "good.wav", speechlike(2.0, 16000), 16000)
    sf.write(root / "sub" / "rate48k.flac", speechlike(2.0, 48000, 1), 48000)
    sf.write(root / "rate8k.wav", speechlike(2.0, 8000, 2), 8000)
    sf.write(root / "stereo.wav", np.stack([speechlike(2.0, 16000, 3), speechlike(2.0, 16000, 4)], 1), 16000)
    sf.write(root / "eightbit.wav", speechlike(2.0, 16000, 5), 16000, subtype="PCM_U8")
    sf.write(root / "silent.wav", np.zeros(32000, np.float32), 16000)
    sf.write(root / "short.wav", speechlike(0.01, 16000), 16000)
    sf.write(root / "long.wav", speechlike(120.0, 16000, 6), 16000)
    sf.write(root / "empty.wav", np.zeros(0, np.float32), 16000)
    nan = speechlike(1.0, 16000)
    nan[100] = np.nan
    sf.write(root / "nan.wav", nan, 16000, subtype="FLOAT")
    (root / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk" + os.urandom(200))
    (root / "notes.txt").write_text("not audio")
    return root


def suite_text(folder: Path, out: Path, codecs: str, metrics: str = "[si_sdr, lsd, pesq_wb]") -> str:
    return f"""
name: bad
out: {out}
datasets:
  - name: data
    type: folder
    options: {{path: {folder}}}
codecs:
{codecs}
metrics: {metrics}
"""


IDENTITY = "  - {name: Id, adapter: identity}\n"


def test_bad_audio_files_fail_their_rows_only(bad_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    suite = suite_from_text(suite_text(bad_folder, out, IDENTITY), "bad.yaml")
    messages: list[str] = []
    summary = run_suite(suite, jobs=1, progress=False, log=messages.append)
    df = load_results(out).set_index("utterance")
    assert summary.failed == 3 and summary.ok == len(df) - 3
    expected = {"corrupt": "cannot decode audio", "empty": "audio is empty", "nan": "NaN or infinite"}
    for utt, text in expected.items():
        row = df.loc[utt]
        assert row["status"] == "failed" and text in row["error"] and f"{utt}.wav" in row["error"]
    assert len(messages) == 3 and all("\n" not in m for m in messages)
    for utt in ["good", "sub/rate48k", "rate8k", "stereo", "eightbit", "long"]:
        assert df.loc[utt, "status"] == "ok"
        assert df.loc[utt, "si_sdr"] > 40 and df.loc[utt, "lsd"] < 0.1  # identity: best values
    assert not math.isnan(df.loc["eightbit", "pesq_wb"])
    # Silence and 10 ms: PESQ cannot be computed -> NaN with a reason, counted as failures.
    for utt in ["silent", "short"]:
        assert math.isnan(df.loc[utt, "pesq_wb"])
        assert json.loads(df.loc[utt, "failure_reasons"])["pesq_wb"]
        assert df.loc[utt, "n_failures"] >= 1
    assert df.loc["long", "duration_s"] == pytest.approx(120.0)


@pytest.mark.parametrize("adapter, text", [
    ("Raises", "encoder exploded"),
    ("ReturnsNaN", "NaN or inf"),
    ("ReturnsInf", "NaN or inf"),
    ("WrongLength", "must return about the input length"),
])
def test_misbehaving_adapter_fails_rows_and_run_goes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        adapter: str, text: str) -> None:
    monkeypatch.syspath_prepend(str(HERE))
    folder = tmp_path / "data"
    folder.mkdir()
    for i in range(2):
        sf.write(folder / f"u{i}.wav", speechlike(1.0, 16000, i), 16000)
    codecs = f"  - {{name: Bad, adapter: 'adapters_for_tests:{adapter}'}}\n" + \
             "  - {name: Good, adapter: 'adapters_for_tests:Pcm16'}\n"
    out = tmp_path / "run"
    suite = suite_from_text(suite_text(folder, out, codecs, "[si_sdr]"), "bad.yaml")
    messages: list[str] = []
    run_suite(suite, jobs=1, progress=False, log=messages.append)
    df = load_results(out)
    bad, good = df[df.codec == "Bad"], df[df.codec == "Good"]
    assert (bad.status == "failed").all() and bad.error.str.contains(text).all()
    assert bad.error.str.contains("Bad").all() and bad.error.str.contains("u0|u1").all()
    assert (good.status == "ok").all() and (good.si_sdr > 40).all()
    assert good.measured_kbps.round(3).tolist() == [256.0, 256.0]
    assert len(messages) == 2


def test_missing_decoded_file_fails_its_row(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    decoded = tmp_path / "decoded"
    folder.mkdir()
    decoded.mkdir()
    for i in range(3):
        sf.write(folder / f"u{i}.wav", speechlike(1.0, 16000, i), 16000)
        if i != 1:
            sf.write(decoded / f"u{i}.wav", speechlike(1.0, 16000, i), 16000)
    codecs = f"  - {{name: Demo, adapter: precomputed, bitrates: [6], options: {{path: {decoded}}}}}\n"
    out = tmp_path / "run"
    messages: list[str] = []
    run_suite(suite_from_text(suite_text(folder, out, codecs, "[si_sdr]"), "m.yaml"), jobs=1, progress=False,
              log=messages.append)
    df = load_results(out).set_index("utterance")
    assert df.loc["u1", "status"] == "failed" and "u1" in df.loc["u1", "error"]
    assert (df.loc[["u0", "u2"], "status"] == "ok").all()
    assert len(messages) == 1 and "u1" in messages[0]


def test_cli_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text("name: x\ndatasets: [{name: d, type: builtin}]\ncodecs: [{name: c, adapter: opus}]\n"
                     "metrics: [stoii]\n")
    assert main(["run", str(suite)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("codecbench: error: ") and f"{suite}:4: metrics[0].name: unknown metric 'stoii'" in err
    assert "did you mean 'stoi'" in err and len(err.splitlines()) == 1

    suite.write_text("name: x\ndatasets: [{name: d, type: builtin}\n")
    assert main(["run", str(suite)]) == 2
    err = capsys.readouterr().err.strip()
    assert "malformed YAML" in err and len(err.splitlines()) == 1


def test_unwritable_output_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the run dir should go")
    suite = tmp_path / "s.yaml"
    suite.write_text(f"name: x\nout: {blocker / 'run'}\ndatasets: [{{name: d, type: builtin}}]\n"
                     "codecs: [{name: c, adapter: identity}]\nmetrics: [si_sdr]\n")
    assert main(["run", str(suite), "--jobs", "1", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "codecbench: error:" in err and str(blocker / "run") in err and "--out" in err
    announced, *errors = err.splitlines()
    assert announced == f"run dir: {blocker / 'run'}" and len(errors) == 1


def test_missing_dataset_folder_is_reported_and_other_datasets_run(tmp_path: Path) -> None:
    text = f"""
name: x
out: {tmp_path / 'run'}
datasets:
  - {{name: gone, type: folder, options: {{path: {tmp_path / 'nowhere'}}}}}
  - {{name: demo, type: builtin, max_utterances: 1, max_seconds: 1}}
codecs: [{{name: Id, adapter: identity}}]
metrics: [si_sdr]
"""
    messages: list[str] = []
    summary = run_suite(suite_from_text(text, "x.yaml"), jobs=1, progress=False, log=messages.append)
    assert summary.ok == 1
    assert any("gone" in m and "nowhere" in m for m in messages)
    assert load_results(tmp_path / "run").dataset.tolist() == ["demo"]
