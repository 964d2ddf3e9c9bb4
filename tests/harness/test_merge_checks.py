"""`merge` refuses runs of another suite (or other metric versions) unless --force, and records its sources."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codecbench.cli import main
from codecbench.errors import EXIT_USAGE
from codecbench.results import load_results
from codecbench.store import ResultStore


def _run(tmp_path: Path, name: str, utterances: int, metric: str = "si_sdr") -> Path:
    out = tmp_path / name
    suite = tmp_path / f"{name}.yaml"
    suite.write_text(f"name: {name}\nout: {out}\ndatasets: [{{name: demo, type: builtin, max_utterances: {utterances}, "
                     f"max_seconds: 0.5}}]\ncodecs: [{{name: Id, adapter: identity}}]\nmetrics: [{metric}]\n")
    assert main(["run", str(suite), "--jobs", "1", "--no-progress"]) == 0
    return out


def test_merge_of_another_suite_is_refused_without_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = _run(tmp_path, "a", 1), _run(tmp_path, "b", 2)
    capsys.readouterr()
    assert main(["merge", str(a), str(b)]) == EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "refusing to merge" in err[0] and "different suite" in err[0] and "--force" in err[0]
    assert len(load_results(a)) == 1  # nothing was copied

    assert main(["merge", str(a), str(b), "--force"]) == 0
    assert len(load_results(a)) == 2  # b's two rows; the shared utterance replaced, not duplicated
    assert str((b / "results.sqlite").resolve()) in json.loads((a / "manifest.json").read_text())["merged_from"]


def test_merge_of_other_metric_versions_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = _run(tmp_path, "a", 1), _run(tmp_path, "b", 1)
    for run in (a, b):  # same suite digest, so only the metric identities can differ
        with ResultStore.open(run) as store:
            store.set_meta("suite_hash", "same")
    with ResultStore.open(b) as store:
        store.set_meta("metric_digests", {"si_sdr": "0123456789abcdef"})
    capsys.readouterr()
    assert main(["merge", str(a), str(b)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "si_sdr with a different metric version or options" in err
