"""``export --format jsonl``: one object per row in VERSA's utterance layout, plus the codec point."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from codecbench.cli import main
from codecbench.store import ItemResult, ResultStore


def _run(run_dir: Path) -> Path:
    with ResultStore.open(run_dir) as store:
        store.write(ItemResult("d|u1|Opus|6", "d", "u1", "Opus", "opus", 6.0, "ok", measured_kbps=6.25,
                               scores={"pesq_wb": (2.5, None), "stoi": (0.91, None)}))
        store.write(ItemResult("d|u2|Opus|6", "d", "u2", "Opus", "opus", 6.0, "ok", measured_kbps=6.5,
                               scores={"pesq_wb": (math.nan, "too short"), "stoi": (0.8, None)}))
        store.write(ItemResult("d|u1|Id", "d", "u1", "Id", "identity", None, "ok",
                               scores={"pesq_wb": (4.64, None), "stoi": (1.0, None)}))
        store.write(ItemResult("d|u2|Id", "d", "u2", "Id", "identity", None, "failed", error="u2: broken file"))
    (run_dir / "manifest.json").write_text(json.dumps({"metrics": {"stoi": {}, "pesq_wb": {}},
                                                       "suite": {"datasets": [{"name": "d"}],
                                                                 "codecs": [{"name": "Opus"}, {"name": "Id"}]}}))
    return run_dir


def test_jsonl_lines_are_versa_style_objects_keyed_by_utterance(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    run = _run(tmp_path / "run")
    assert main(["export", str(run), "--format", "jsonl"]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path == run / "results.jsonl"
    lines = path.read_text().splitlines()
    assert len(lines) == 4
    rows = [json.loads(line) for line in lines]
    assert list(rows[0]) == ["key", "stoi", "pesq_wb", "dataset", "codec", "bitrate", "condition",
                             "measured_kbps", "status", "error"]
    assert rows[0] == {"key": "u1", "stoi": 0.91, "pesq_wb": 2.5, "dataset": "d", "codec": "Opus", "bitrate": 6.0,
                       "condition": "Opus_6", "measured_kbps": 6.25, "status": "ok", "error": None}
    assert rows[1]["key"] == "u2" and rows[1]["pesq_wb"] is None and rows[1]["stoi"] == 0.8
    assert rows[2]["condition"] == "Id" and rows[2]["bitrate"] is None and rows[2]["measured_kbps"] is None
    assert rows[3]["status"] == "failed" and rows[3]["error"] == "u2: broken file" and rows[3]["stoi"] is None
    assert "NaN" not in path.read_text()
