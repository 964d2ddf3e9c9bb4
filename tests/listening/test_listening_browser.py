"""A scripted listener completes the MUSHRA page in headless Chromium; the downloaded results are
checked field by field and analysed. Skips when Playwright or Chromium is not installed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codecbench.listening import analyze, build_listening_test
from browser_polling import wait_until
from sample_run import make_synthetic_run

pytestmark = pytest.mark.browser
CHROMIUM_EXTRA_ARGS = ("--autoplay-policy=no-user-gesture-required",)  # for the chromium_browser fixture
HOSTILE_CODEC = '"><img src=x onerror=alert(1)>'
TARGET = {"reference": 100, "anchor_lp3500": 10, "anchor_lp7000": 35, f"{HOSTILE_CODEC}_6": 52, "Plain_3": 41,
          "Plain_12": 83}


@pytest.fixture(scope="module")
def mushra(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lb")
    run = make_synthetic_run(root / "run", utterances=("u1", "u2", "u3"),
                             codecs=((HOSTILE_CODEC, (6,)), ("Plain", (3, 12))), seconds=0.8)
    return build_listening_test(run, "mushra", 2, root / "test", seed=1)


def _watch(page) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda m: m.type == "error" and problems.append(m.text))
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("dialog", lambda d: (problems.append("dialog " + d.message), d.dismiss()))
    return problems


def _slider_conditions(page, config: dict) -> list[tuple[str, str]]:
    """(stimulus id, condition) of the sliders on screen, in displayed order."""
    tid = page.locator("#trial").get_attribute("data-trial")
    trial = next(t for t in config["trials"] if t["id"] == tid)
    by_id = {s["id"]: s["condition"] for s in trial["stimuli"]}
    return [(sid, by_id[sid]) for sid in page.locator("input[type=range]").evaluate_all(
        "els => els.map(e => e.dataset.stimulus)")]


def test_scripted_listener_completes_mushra(chromium_browser, mushra, tmp_path):
    config = json.loads((mushra / "test_config.json").read_text())
    context = chromium_browser.new_context(accept_downloads=True)
    page = context.new_page()
    problems = _watch(page)
    page.goto((mushra / "index.html").as_uri())
    page.fill("#listener-id", "L1")
    page.click("#start-button")
    assert page.locator("#progress-text").text_content() == "Trial 1 of 2"
    wait_until(page, "Array.from(document.querySelectorAll('audio[data-stimulus]')).every(a => a.readyState >= 1)")
    durations = page.evaluate("Array.from(document.querySelectorAll('audio[data-stimulus]')).map(a => a.duration)")
    assert len(durations) == 7 and max(durations) - min(durations) < 1e-3  # reference + 6 equal-length stimuli
    # Playing: one stimulus at a time, looping, switching keeps only the new one playing.
    shown = _slider_conditions(page, config)
    page.click(f"[data-play='{shown[0][0]}']")
    page.click(f"[data-play='{shown[1][0]}']")
    state = page.evaluate("Array.from(document.querySelectorAll('audio[data-stimulus]')).map(a => [a.dataset.stimulus, a.paused, a.loop])")
    assert [s for s, paused, _ in state if not paused] == [shown[1][0]] and all(loop for *_, loop in state)
    first_tid, first_played = page.locator("#trial").get_attribute("data-trial"), {shown[0][1], shown[1][1]}
    # Next is refused until every slider is set and one is at 100.
    page.click("#next-button")
    assert "Rate every condition" in page.locator("#trial-message").text_content()
    played = {}
    for trial_no in range(2):
        shown = _slider_conditions(page, config)
        assert sorted(c for _, c in shown) == sorted(TARGET)
        tid = page.locator("#trial").get_attribute("data-trial")
        for sid, cond in shown:
            value = TARGET[cond] if cond != "reference" else 99
            page.locator(f"input[data-stimulus='{sid}']").fill(str(value))
        page.click("#next-button")
        assert "at least one condition 100" in page.locator("#trial-message").text_content()
        ref_sid = next(s for s, c in shown if c == "reference")
        page.locator(f"input[data-stimulus='{ref_sid}']").fill("100")
        if trial_no == 0:
            # A reload loses nothing: same trial, same order, same slider values.
            page.reload()
            assert page.locator("#trial").get_attribute("data-trial") == tid
            assert _slider_conditions(page, config) == shown
            values = page.locator("input[type=range]").evaluate_all("els => els.map(e => parseInt(e.value))")
            assert values == [TARGET[c] for _, c in shown]
        played[tid] = [c for _, c in shown]
        page.click("#next-button")
    assert page.locator("#finish").is_visible()
    with page.expect_download() as info:
        page.click("#download-button")
    path = tmp_path / "L1.json"
    info.value.save_as(path)
    result = json.loads(path.read_text())
    assert result["format"] == "codecbench-listening-results" and result["version"] == 1
    assert result["test_id"] == config["test_id"] and result["test"] == "mushra" and result["seed"] == 1
    assert result["listener"] == "L1" and result["completed"] is True and result["finished"]
    assert [t["position"] for t in result["trials"]] == [0, 1]
    items = {t["id"]: t["item"] for t in config["trials"]}
    for t in result["trials"]:
        assert t["item"] == items[t["trial"]] and t["dataset"] == "synthetic"
        assert t["ratings"] == TARGET
        assert t["order"] == played[t["trial"]]
        assert t["time_ms"] >= 0
    assert set(next(t for t in result["trials"] if t["trial"] == first_tid)["played"]) == first_played
    assert problems == []
    context.close()

    # The same listener id gets the same blinded order in a fresh browser; another id does not.
    orders = {}
    for listener in ("L1", "L2"):
        ctx = chromium_browser.new_context()
        p = ctx.new_page()
        p.goto((mushra / "index.html").as_uri())
        p.fill("#listener-id", listener)
        p.click("#start-button")
        orders[listener] = (p.locator("#trial").get_attribute("data-trial"), [c for _, c in _slider_conditions(p, config)])
        ctx.close()
    first = result["trials"][0]
    assert orders["L1"] == (first["trial"], first["order"])
    assert orders["L2"] != orders["L1"]

    analysis = analyze([path], tmp_path / "analysis")
    (test,) = analysis.tests
    assert test["n_listeners_kept"] == 1 and test["n_items"] == 2
    means = {c["condition"]: c["mean"] for c in test["conditions"]}
    assert means == {k: float(v) for k, v in TARGET.items()}
