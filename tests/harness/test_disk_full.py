"""A full disk while writing audio (reference crops, the decoded-audio cache) is one line, and a rerun resumes.

Found by ``bench/chaos.py --disk-full``: libsndfile reported ENOSPC as ``LibsndfileError: System
error.``, which escaped the reference-crop writer as a traceback and failed every cached row.
``/dev/full`` (writes fail with ENOSPC) stands in for a full disk where no tmpfs can be mounted.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from codecbench.audio import save_audio
from codecbench.cli import main
from codecbench.results import load_results
from sample_run import write_tones

HERE = Path(__file__).resolve().parent
DEV_FULL = Path("/dev/full")
needs_dev_full = pytest.mark.skipif(not DEV_FULL.exists(), reason="no /dev/full on this system")


def _suite(tmp_path: Path, extra: str = "") -> Path:
    folder = write_tones(tmp_path / "data", [1.0] * 3)
    suite = tmp_path / "s.yaml"
    suite.write_text(f"name: full\nout: {tmp_path / 'run'}\n{extra}"
                     f"datasets: [{{name: d, type: folder, max_seconds: 0.8, options: {{path: {folder}}}}}]\n"
                     "codecs: [{name: Id, adapter: 'adapters_for_tests:Pcm16'}]\nmetrics: [si_sdr]\n")
    return suite


def _one_error_line(err: str) -> str:
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("codecbench: error:")]
    assert len(errors) == 1, err
    return errors[0]


@needs_dev_full
def test_save_audio_reports_a_full_disk_as_an_os_error(tmp_path: Path) -> None:
    target = tmp_path / "x.wav"
    (tmp_path / "x.wav.part").symlink_to(DEV_FULL)
    with pytest.raises(OSError) as caught:
        save_audio(target, np.zeros((1, 1600), dtype=np.float32), 16000)
    assert caught.value.errno == errno.ENOSPC and "x.wav.part" in str(caught.value)
    assert not target.exists() and not (tmp_path / "x.wav.part").exists()  # nothing half-written is left


@needs_dev_full
def test_full_disk_writing_a_reference_crop_is_one_line_and_a_rerun_resumes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.syspath_prepend(str(HERE))
    suite = _suite(tmp_path)
    part = tmp_path / "run" / "references" / "d" / "u1.wav.part"
    part.parent.mkdir(parents=True)
    part.symlink_to(DEV_FULL)
    assert main(["run", str(suite), "--jobs", "1", "--no-progress"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "u1.wav" in line and "No space left on device" in line and "free space and rerun" in line
    assert main(["run", str(suite), "--jobs", "1", "--no-progress"]) == 0
    df = load_results(tmp_path / "run")
    assert len(df) == 3 and (df.status == "ok").all()


@pytest.fixture
def full_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs filled to the last byte (root only; skips where mounting is not permitted)."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("mounting a tmpfs is not permitted here")
    try:
        with (mount / "balloon").open("wb") as handle:
            try:
                while True:
                    handle.write(b"\0" * 65536)
                    handle.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
        yield mount
    finally:
        if subprocess.run(["umount", str(mount)], capture_output=True).returncode:
            subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_full_disk_writing_the_cache_stops_the_run_with_one_line(
        tmp_path: Path, full_tmpfs: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.syspath_prepend(str(HERE))
    suite = _suite(tmp_path, extra=f"cache: {full_tmpfs / 'cache'}\n")
    (full_tmpfs / "cache").mkdir()
    assert main(["run", str(suite), "--jobs", "1", "--no-progress"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "disk full" in line and str(full_tmpfs / "cache") in line and "free space and rerun" in line
    assert len(load_results(tmp_path / "run")) == 0  # no row was marked failed for a full disk
    (full_tmpfs / "balloon").unlink()
    assert main(["run", str(suite), "--jobs", "1", "--no-progress"]) == 0
    df = load_results(tmp_path / "run")
    assert len(df) == 3 and (df.status == "ok").all()
