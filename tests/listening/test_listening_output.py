"""``listen --out`` writes only what it owns: a foreign folder is refused, users' files survive."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from codecbench.errors import EXIT_USAGE, StorageError
from codecbench.listening import build_listening_test
from codecbench.paths import SITE_MARKER
from codecbench.report.cli import main as cli_main
from sample_run import make_synthetic_run, tree_contents


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return make_synthetic_run(tmp_path_factory.mktemp("orun") / "run", utterances=("u1", "u2", "u3"),
                              codecs=(("Alpha", (3, 12)),), seconds=0.5)


def test_foreign_folder_is_refused_with_one_line(run, tmp_path, capsys):
    out = tmp_path / "mine"
    (out / "audio").mkdir(parents=True)
    sf.write(out / "audio" / "my_take.wav", np.zeros(160, dtype=np.float32), 16000)
    (out / "notes.txt").write_text("session notes\n")
    before = tree_contents(out)
    with pytest.raises(StorageError, match="not written by codecbench"):
        build_listening_test(run, "mos", 1, out)
    assert cli_main(["listen", str(run), "--test", "mos", "--out", str(out)]) == EXIT_USAGE
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(out) in err and "--out" in err
    assert tree_contents(out) == before


def test_rebuild_keeps_users_files_and_removes_only_its_old_stimuli(run, tmp_path):
    out = build_listening_test(run, "mushra", 3, tmp_path / "t", seed=1)
    first = set(tree_contents(out))
    marker = json.loads((out / SITE_MARKER).read_text())
    assert marker["tool"] == "listen" and set(marker["files"]) == first - {SITE_MARKER}
    assert "webmushra/README.txt" in marker["files"]
    sf.write(out / "audio" / "my_take.wav", np.zeros(160, dtype=np.float32), 16000)
    (out / "static" / "my.css").write_text("body{}")
    (out / "notes.txt").write_text("keep\n")
    build_listening_test(run, "mushra", 1, out, seed=2)
    after = tree_contents(out)
    assert {"audio/my_take.wav", "static/my.css", "notes.txt"} <= set(after)
    config = json.loads(after["test_config.json"])
    ours = {s["src"] for t in config["trials"] for s in t["stimuli"]} | {t["reference"] for t in config["trials"]}
    audio = {f for f in after if f.startswith("audio/")} - {"audio/my_take.wav"}
    assert audio == ours  # the 3-item test's other stimuli are gone, nothing else of ours is left
    assert not (out / "audio" / "t03").exists()


def _mushra_result(test_id: str, listener: str) -> dict:
    trials = [{"trial": f"t{i}", "item": item, "dataset": "synthetic", "position": i,
               "order": ["reference", "Alpha_3", "anchor_lp7000", "anchor_lp3500"], "played": [], "time_ms": 1000,
               "ratings": {"reference": 100, "Alpha_3": 60 + i, "anchor_lp7000": 40, "anchor_lp3500": 10}}
              for i, item in enumerate(("u1", "u2"))]
    return {"format": "codecbench-listening-results", "version": 1, "test_id": test_id, "test": "mushra", "seed": 0,
            "listener": listener, "started": "x", "finished": "y", "completed": True, "user_agent": "t",
            "trials": trials}


def test_analysis_beside_the_results_keeps_them_and_a_hostile_test_id_stays_inside(tmp_path):
    from codecbench.listening import analyze

    folder = tmp_path / "a" / "b" / "results"
    folder.mkdir(parents=True)
    files = []
    for name in ("l1", "l2"):
        files.append(folder / f"{name}.json")
        files[-1].write_text(json.dumps(_mushra_result("../../../evil", name)))
    (folder / "notes.txt").write_text("session log\n")
    before = tree_contents(folder)
    analyze(files, folder)  # written next to the results it read: allowed, nothing of theirs replaced
    after = tree_contents(folder)
    assert all(after[k] == v for k, v in before.items())
    new = set(after) - set(before)
    assert {"summary.json", "conditions.csv", "listeners.csv", SITE_MARKER} <= new
    assert all(len(Path(f).parts) == 1 for f in new), new  # plain names in the folder itself
    assert not (tmp_path / "a" / "evil.png").exists()
    assert [f for f in new if f.endswith(".png")] and not [p for p in tmp_path.rglob("*.png") if p.parent != folder]
    # A summary.json the user wrote themselves is not replaced.
    other = tmp_path / "other"
    other.mkdir()
    (other / "summary.json").write_text('{"mine": true}')
    with pytest.raises(StorageError, match="summary.json: exists and was not written by codecbench"):
        analyze(files, other)
    assert (other / "summary.json").read_text() == '{"mine": true}'
