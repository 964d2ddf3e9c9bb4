"""Store failures are one line with a remedy; readers never write to the run directory."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from codecbench.cli import main
from codecbench.errors import EXIT_USAGE, StorageError
from codecbench.store import ItemResult, ResultStore


def _run(tmp_path: Path) -> Path:
    out = tmp_path / "run"
    suite = tmp_path / "s.yaml"
    suite.write_text(f"name: ro\nout: {out}\ndatasets: [{{name: demo, type: builtin, max_utterances: 2, "
                     "max_seconds: 0.5}]\ncodecs: [{name: Id, adapter: identity}]\nmetrics: [si_sdr]\n")
    assert main(["run", str(suite), "--jobs", "1", "--no-progress"]) == 0
    return out


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Size and mtime of every file; the WAL index (``-shm``, shared memory that readers map) only by name."""
    return {str(p.relative_to(folder)): (0, 0) if p.name.endswith("-shm") else (p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*")}


def _read_everything(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["summary", str(run)]) == 0
    assert "Id" in capsys.readouterr().out
    target = tmp_path / "elsewhere.csv"
    assert main(["export", str(run), "--format", "csv", "-o", str(target)]) == 0
    assert len(pd.read_csv(target)) == 2


def test_summary_and_export_leave_the_run_dir_untouched(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _run(tmp_path)
    before = _snapshot(run)
    _read_everything(run, tmp_path, capsys)
    assert _snapshot(run) == before  # no new files, database and WAL not rewritten
    with ResultStore.open_existing(run) as store:
        assert store.readonly
        with pytest.raises(StorageError, match="read-only"):
            store.write(ItemResult("k", "d", "u", "c", "a", None, "ok"))


def _read_only_bind(source: Path, target: Path) -> bool:
    """Mount ``source`` read-only at ``target`` (root only; False where mounting is not permitted)."""
    target.mkdir()
    if shutil.which("mount") is None:
        return False
    bound = subprocess.run(["mount", "--bind", str(source), str(target)], capture_output=True).returncode == 0
    if bound and subprocess.run(["mount", "-o", "remount,bind,ro", str(target)], capture_output=True).returncode:
        subprocess.run(["umount", str(target)], capture_output=True)
        return False
    return bound


def test_read_only_run_dir_can_be_summarized_and_exported(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    run = _run(tmp_path)
    modes = {p: p.stat().st_mode for p in [run, *run.rglob("*")]}
    for path in modes:
        path.chmod(stat.S_IMODE(modes[path]) & ~0o222)
    ro = tmp_path / "ro"
    mounted = False
    try:
        if os.access(run, os.W_OK):  # root ignores permission bits: use a read-only bind mount instead
            mounted = _read_only_bind(run, ro)
            if not mounted:
                pytest.skip("root can write to chmod'ed folders and cannot mount here; "
                            "see test_summary_and_export_leave_the_run_dir_untouched")
            with pytest.raises(OSError):
                (ro / "probe").write_text("the mount must refuse writes")
        _read_everything(ro if mounted else run, tmp_path, capsys)
    finally:
        if mounted and subprocess.run(["umount", str(ro)], capture_output=True).returncode:
            subprocess.run(["umount", "-l", str(ro)], capture_output=True)  # busy: detach lazily, never leak it
        for path, mode in modes.items():
            path.chmod(stat.S_IMODE(mode))


@pytest.mark.parametrize("command", ["summary", "export", "run"])
def test_corrupt_database_is_one_line_with_a_recovery_hint(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           command: str) -> None:
    run = _run(tmp_path)
    (run / "results.sqlite").write_bytes(b"this is not an sqlite database" * 200)
    capsys.readouterr()
    argv = {"summary": ["summary", str(run)], "export": ["export", str(run), "-o", str(tmp_path / "x.csv")],
            "run": ["run", str(tmp_path / "s.yaml"), "--jobs", "1", "--no-progress"]}[command]
    assert main(argv) == EXIT_USAGE
    err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("run dir:")]
    assert len(err) == 1 and err[0].startswith("codecbench: error: "), err
    assert "results.sqlite" in err[0] and "damaged" in err[0] and "move it aside and rerun" in err[0]
    assert "Traceback" not in err[0]
