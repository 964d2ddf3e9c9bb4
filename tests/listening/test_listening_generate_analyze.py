"""Generating MUSHRA / AB / MOS tests from a run and analysing downloaded results."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from codecbench.listening import analyze, build_listening_test
from codecbench.listening.analysis import screen_mushra
from codecbench.report import build_report
from codecbench.report import ReportOptions
from codecbench.report.cli import main as cli_main
from sample_run import make_synthetic_run


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return make_synthetic_run(tmp_path_factory.mktemp("lrun") / "run", utterances=("u1", "u2", "u3"),
                              codecs=(("Alpha", (3, 12)), ("Beta", (6,))), seconds=1.0)


def test_mushra_test_has_hidden_reference_anchors_and_opaque_equal_stimuli(run, tmp_path):
    out = build_listening_test(run, "mushra", 2, tmp_path / "m", seed=3)
    config = json.loads((out / "test_config.json").read_text())
    assert config["test"] == "mushra" and len(config["trials"]) == 2
    assert config["conditions"] == ["Alpha_3", "Alpha_12", "Beta_6"]
    for trial in config["trials"]:
        conds = [s["condition"] for s in trial["stimuli"]]
        assert sorted(conds) == sorted(["reference", "Alpha_3", "Alpha_12", "Beta_6", "anchor_lp3500", "anchor_lp7000"])
        lengths = {sf.info(out / s["src"]).frames for s in trial["stimuli"]} | {sf.info(out / trial["reference"]).frames}
        assert len(lengths) == 1
        for s in trial["stimuli"]:
            assert s["condition"] not in s["src"] and "reference" not in s["src"]
        hidden = next(s for s in trial["stimuli"] if s["condition"] == "reference")
        assert hidden["src"] != trial["reference"]
        assert np.allclose(sf.read(out / hidden["src"])[0], sf.read(out / trial["reference"])[0])
    html = (out / "index.html").read_text()
    assert '<script type="application/json" id="test-config">' in html
    embedded = html.split('id="test-config">', 1)[1].split("</script>", 1)[0]
    assert json.loads(embedded) == config
    doc = yaml.safe_load((out / "webmushra" / "config.yaml").read_text())
    mushra_pages = [p for p in doc["pages"] if p["type"] == "mushra"]
    assert len(mushra_pages) == 2 and set(mushra_pages[0]["stimuli"]) == {"Alpha_3", "Alpha_12", "Beta_6",
                                                                          "anchor_lp3500", "anchor_lp7000"}
    assert mushra_pages[0]["reference"].startswith(f"configs/resources/audio/{config['test_id']}/")
    # Same seed -> same test id and items; another seed may pick other items.
    again = build_listening_test(run, "mushra", 2, tmp_path / "m2", seed=3)
    assert json.loads((again / "test_config.json").read_text())["test_id"] == config["test_id"]


def test_ab_and_mos_tests(run, tmp_path):
    ab = json.loads((build_listening_test(run, "ab", None, tmp_path / "ab", conditions=["Alpha_3", "Beta_6", "Alpha_12"])
                     / "test_config.json").read_text())
    assert len(ab["trials"]) == 3 * 3 and all(len(t["stimuli"]) == 2 for t in ab["trials"])
    mos = json.loads((build_listening_test(run, "mos", 1, tmp_path / "mos") / "test_config.json").read_text())
    assert len(mos["trials"]) == 4 and {t["stimuli"][0]["condition"] for t in mos["trials"]} == \
        {"reference", "Alpha_3", "Alpha_12", "Beta_6"}
    with pytest.raises(ValueError, match="mushra, ab, mos"):
        build_listening_test(run, "abx", 1, tmp_path / "x")
    with pytest.raises(ValueError, match="Alpha_3"):
        build_listening_test(run, "mushra", 1, tmp_path / "x", conditions=["Gamma_1"])


def _mushra_result(test_id: str, listener: str, ref: float, anchor7: float, alpha3: float, items=("u1", "u2")) -> dict:
    trials = [{"trial": f"t{i}", "item": item, "dataset": "synthetic", "position": i,
               "order": ["reference", "Alpha_3", "anchor_lp7000", "anchor_lp3500"], "played": [], "time_ms": 1000,
               "ratings": {"reference": ref, "Alpha_3": alpha3, "anchor_lp7000": anchor7, "anchor_lp3500": 10}}
              for i, item in enumerate(items)]
    return {"format": "codecbench-listening-results", "version": 1, "test_id": test_id, "test": "mushra", "seed": 0,
            "listener": listener, "started": "x", "finished": "y", "completed": True, "user_agent": "t",
            "trials": trials}


def test_mushra_analysis_screens_listeners_and_merges_into_report(run, tmp_path):
    files = []
    for name, ref, anchor, alpha in (("good1", 100, 50, 60), ("good2", 95, 40, 70),
                                     ("bad_ref", 70, 40, 65), ("bad_anchor", 100, 95, 65)):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(_mushra_result("tid1", name, ref, anchor, alpha)))
        files.append(path)
    result = analyze(files, tmp_path / "out", run_dir=run)
    (test,) = result.tests
    kept = {l["listener"]: not l["excluded"] for l in test["listeners"]}
    assert kept == {"good1": True, "good2": True, "bad_ref": False, "bad_anchor": False}
    alpha = next(c for c in test["conditions"] if c["condition"] == "Alpha_3")
    assert alpha["mean"] == pytest.approx(65.0) and alpha["n"] == 4
    assert alpha["lo"] < 65 < alpha["hi"]
    assert test["conditions"][0]["condition"] == "reference"  # sorted by mean, best first
    for folder in (tmp_path / "out", run / "listening"):
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["tests"][0]["test_id"] == "tid1"
        assert (folder / "mushra_tid1.png").is_file() and (folder / "listeners.csv").is_file()
    report = build_report(run, tmp_path / "rep", options=ReportOptions(bootstrap=200, spectrograms=False))
    page = (report / "listening.html").read_text()
    assert "Alpha_3" in page and "2 of 4 listeners kept" in page and "hidden reference rated" in page
    assert 'href="listening.html"' in (report / "index.html").read_text()
    assert (report / "listening").is_dir() and list((report / "listening").glob("*.png"))
    assert screen_mushra([]) == "no completed trials"


def test_ab_and_mos_analysis_and_bad_files(tmp_path):
    ab_trials = [{"trial": f"t{i}", "item": "u1", "a": "X", "b": "Y", "choice": "a", "preferred": "X" if i < 9 else "Y"}
                 for i in range(10)]
    ab = {"format": "codecbench-listening-results", "version": 1, "test_id": "ab1", "test": "ab", "listener": "L",
          "trials": ab_trials}
    mos = {"format": "codecbench-listening-results", "version": 1, "test_id": "mos1", "test": "mos", "listener": "L",
           "trials": [{"trial": "t1", "item": "u1", "condition": "X", "rating": 4},
                      {"trial": "t2", "item": "u2", "condition": "X", "rating": 2}]}
    (tmp_path / "ab.json").write_text(json.dumps(ab))
    (tmp_path / "mos.json").write_text(json.dumps(mos))
    result = analyze([tmp_path / "ab.json", tmp_path / "mos.json"], tmp_path / "out")
    by = {t["test"]: t for t in result.tests}
    (pair,) = by["ab"]["pairs"]
    assert (pair["prefer_a"], pair["prefer_b"]) == (9, 1) and pair["p"] == pytest.approx(0.021484375)
    assert by["mos"]["conditions"][0]["mean"] == 3.0
    (tmp_path / "junk.json").write_text('{"format": "other"}')
    with pytest.raises(ValueError, match="junk.json"):
        analyze([tmp_path / "junk.json"], tmp_path / "o2")
    with pytest.raises(ValueError, match="already given"):
        analyze([tmp_path / "ab.json", tmp_path / "ab.json"], tmp_path / "o3")


def test_listen_cli_generate_and_analyze(run, tmp_path, capsys):
    assert cli_main(["listen", str(run), "--test", "mos", "--items", "1", "--out", str(tmp_path / "t")]) == 0
    assert (tmp_path / "t" / "index.html").is_file()
    path = tmp_path / "r.json"
    path.write_text(json.dumps(_mushra_result("tid9", "L1", 100, 30, 55)))
    assert cli_main(["listen", "analyze", str(path), "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "mushra tid9: 1/1 listeners kept" in out and "Alpha_3" in out
    assert cli_main(["listen", "analyze", "--out", str(tmp_path / "a")]) == 2
    assert math.isfinite(json.loads((tmp_path / "a" / "summary.json").read_text())["tests"][0]["conditions"][0]["mean"])
