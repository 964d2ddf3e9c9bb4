"""Export a generated MUSHRA test as a webMUSHRA configuration (YAML).

webMUSHRA (audiolabs) serves tests from its own folder and adds the hidden reference itself,
so the export lists the open reference plus the codec conditions and our two low-pass anchors
(its own anchor generation is switched off so both tools use identical signals). Audio paths
point at ``configs/resources/audio/<test_id>/``: copy the test's ``audio/`` folder there.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

_KEY = re.compile(r"[^A-Za-z0-9_.+*-]+")


def webmushra_pages(config: dict[str, Any]) -> dict[str, Any]:
    """The webMUSHRA document (a dict ready for ``yaml.safe_dump``) of a MUSHRA test config."""
    if config.get("test") != "mushra":
        raise ValueError(f"webMUSHRA export supports MUSHRA tests only (this one is {config.get('test')!r})")
    root = f"configs/resources/audio/{config['test_id']}"
    pages: list[dict[str, Any]] = [{
        "type": "generic", "id": "welcome", "name": "Welcome",
        "content": "Rate the quality of each condition against the reference on a 0-100 scale.",
    }]
    for trial in config["trials"]:
        stimuli = {}
        for s in trial["stimuli"]:
            if s["condition"] == "reference":  # webMUSHRA inserts the hidden reference itself
                continue
            key = _KEY.sub("_", s["condition"])
            stimuli[key] = f"{root}/{s['src'].split('audio/', 1)[1]}"
        pages.append({
            "type": "mushra", "id": trial["id"], "name": f"Trial {trial['id']}",
            "content": "Rate every condition; the reference is on the left.",
            "showWaveform": False, "enableLooping": True,
            "reference": f"{root}/{trial['reference'].split('audio/', 1)[1]}",
            "createAnchor35": False, "createAnchor70": False, "stimuli": stimuli,
        })
    pages.append({"type": "finish", "name": "Thank you", "content": "Thank you for taking part.",
                  "showResults": True, "writeResults": True})
    return {"testname": config.get("title", "MUSHRA"), "testId": config["test_id"], "bufferSize": 2048,
            "stopOnErrors": True, "showButtonPreviousPage": True, "remoteService": "service/write.php",
            "pages": pages}


def write_webmushra_config(config: dict[str, Any], path: Path) -> Path:
    """Write ``path`` (YAML) and a README beside it saying where the audio goes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(webmushra_pages(config), sort_keys=False, allow_unicode=True), encoding="utf-8")
    (path.parent / "README.txt").write_text(
        "webMUSHRA export of this listening test.\n"
        f"1. Copy ../audio/ to <webMUSHRA>/configs/resources/audio/{config['test_id']}/\n"
        f"2. Copy config.yaml to <webMUSHRA>/configs/{config['test_id']}.yaml\n"
        f"3. Open <webMUSHRA>/?config={config['test_id']}.yaml\n", encoding="utf-8")
    return path
