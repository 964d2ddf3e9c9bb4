"""The README's one-file adapter example works as printed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from codecbench.cli import main
from codecbench.results import load_results
from codecbench.runner import run_suite
from codecbench.suite import suite_from_text

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_mulaw_adapter_runs_in_a_suite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    blocks = re.findall(r"```python\n(# mycodec\.py\n.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) == 1, "README must hold exactly one '# mycodec.py' example"
    (tmp_path / "mycodec.py").write_text(blocks[0])
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "run"
    text = f"""
name: readme
out: {out}
datasets: [{{name: builtin, type: builtin, max_utterances: 1, max_seconds: 1}}]
codecs: [{{name: MuLaw, adapter: 'mycodec:MuLaw', bitrates: [128]}}]
metrics: [si_sdr]
"""
    summary = run_suite(suite_from_text(text, "readme.yaml"), jobs=1, progress=False)
    assert summary.ok == 1
    row = load_results(out).iloc[0]
    assert row.measured_kbps == pytest.approx(128.0)
    assert row.si_sdr > 20
    # mu-law codes are a code array: its measured kbps is said to be the nominal payload rate
    assert row.payload_kind == "codes"
    assert main(["summary", str(out)]) == 0
    assert "kbps of MuLaw_128: nominal payload rate of the code array" in capsys.readouterr().out
    from codecbench.report import ReportOptions, build_report

    site = build_report(out, tmp_path / "report", options=ReportOptions(bootstrap=200, spectrograms=False))
    page = next(site.glob("metrics_*.html")).read_text()
    assert "measured kbps of MuLaw_128: nominal payload rate of the code array" in page
