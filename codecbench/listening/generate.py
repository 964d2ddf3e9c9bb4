"""``build_listening_test``: a self-contained MUSHRA / AB / MOS test page from a run directory.

The output folder holds ``index.html`` (config embedded as a JSON data block), ``static/``
(the test's own JS/CSS), ``audio/`` (loudness-matched, equal-length stimuli with opaque file
names so the network panel does not reveal conditions), ``test_config.json`` and, for MUSHRA,
``webmushra/config.yaml``. Nothing needs a server: open ``index.html`` from disk.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

import jinja2
import numpy as np
import soundfile as sf

from codecbench.audio import resample
from codecbench.listening.stimuli import ANCHORS, prepare_trial
from codecbench.paths import OwnedOutputDir
from codecbench.report.tables import codec_order
from codecbench.results import condition_label, load_manifest, load_results

if TYPE_CHECKING:
    import pandas as pd

HERE = Path(__file__).resolve().parent
TESTS = ("mushra", "ab", "mos")
CONFIG_FORMAT = "codecbench-listening-test"


def _token(*parts: str) -> str:
    return hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()[:12]


def _read_mono(path: str) -> tuple[np.ndarray, int]:
    data, rate = sf.read(path, dtype="float32", always_2d=True)
    return data.mean(axis=1), int(rate)


def build_listening_test(run_dir: Path | str, test: str = "mushra", items: Optional[int] = None,
                         out_dir: Path | str | None = None, seed: int = 0,
                         conditions: Optional[Sequence[str]] = None, dataset: Optional[str] = None,
                         max_seconds: Optional[float] = 10.0, target_lufs: float = -23.0) -> Path:
    """Generate a listening test and return its folder (open ``index.html`` inside it).

    Args:
        run_dir: run directory with decoded audio.
        test: ``mushra`` (hidden reference + 3.5/7 kHz anchors, sliders 0-100), ``ab``
            (pairwise preference between every two conditions) or ``mos`` (ACR 1-5).
        items: number of utterances (seeded random choice among those every condition decoded);
            None = all.
        out_dir: output folder (default ``RUN_DIR/listening_<test>``).
        seed: item choice and test id; listeners' orders are seeded by listener id in the page.
        conditions: condition labels (``APCodec_6``) to include; default all of the dataset.
        dataset: dataset to draw items from; default the first.
        max_seconds: stimuli are cut to at most this long (None = full length).
        target_lufs: integrated loudness every stimulus is matched to.
    """
    if test not in TESTS:
        raise ValueError(f"listening test {test!r} is unknown; use one of: {', '.join(TESTS)}")
    run_dir = Path(run_dir)
    out = Path(out_dir) if out_dir is not None else run_dir / f"listening_{test}"
    manifest = load_manifest(run_dir)
    frame = load_results(run_dir, include_paths=True)
    if frame.empty:
        raise ValueError(f"{run_dir}: the run has no results; run `codecbench run` first")
    datasets = list(dict.fromkeys(frame["dataset"]))
    dataset = dataset or datasets[0]
    if dataset not in datasets:
        raise ValueError(f"dataset {dataset!r} is not in {run_dir}; use one of: {', '.join(datasets)}")
    sub = frame[frame["dataset"] == dataset].copy()
    sub["label"] = [condition_label(c, None if b != b else float(b)) for c, b in zip(sub["codec"], sub["bitrate"])]
    order = codec_order(manifest, sub)
    available = sorted(set(sub["label"]), key=lambda lab: (order.index(sub[sub["label"] == lab]["codec"].iloc[0]),
                                                           float(sub[sub["label"] == lab]["bitrate"].fillna(-1).iloc[0])))
    chosen = list(conditions) if conditions else available
    unknown = [c for c in chosen if c not in available]
    if unknown:
        raise ValueError(f"conditions {unknown} are not in dataset {dataset!r}; use some of: {', '.join(available)}")
    if test == "ab" and len(chosen) < 2:
        raise ValueError("an AB test needs at least two conditions; pass more with --conditions")
    usable = []
    for utt, grp in sub.groupby("utterance", sort=True):
        ok = grp[(grp["status"] == "ok") & grp["label"].isin(chosen)]
        paths_ok = all(isinstance(p, str) and Path(p).is_file() for p in ok["decoded_path"])
        refs = [p for p in grp["reference_path"] if isinstance(p, str) and Path(p).is_file()]
        if set(ok["label"]) == set(chosen) and paths_ok and refs:
            usable.append(str(utt))
    if not usable:
        raise ValueError(f"{run_dir}: no utterance of {dataset!r} has decoded audio for every chosen condition; "
                         "choose fewer --conditions")
    rng = np.random.default_rng(seed)
    if items is not None and items < len(usable):
        keep = set(rng.choice(len(usable), size=items, replace=False).tolist())
        usable = [u for i, u in enumerate(usable) if i in keep]

    test_id = _token(str(manifest.get("created", run_dir.name)), test, str(seed), *chosen, *usable)
    site = OwnedOutputDir.claim(out, "listen")
    try:
        _write_test(site, sub, usable, chosen, test, test_id, seed, manifest, run_dir, target_lufs, max_seconds)
    except BaseException:
        site.abandon()
        raise
    site.commit()
    return out


def _write_test(site: OwnedOutputDir, sub: "pd.DataFrame", usable: list[str], chosen: list[str], test: str,
                test_id: str, seed: int, manifest: dict, run_dir: Path, target_lufs: float,
                max_seconds: Optional[float]) -> None:
    """Write the stimuli, config, page and static files, every one through ``site`` (so they are ours)."""
    trials = []
    for t_i, utt in enumerate(usable):
        grp = sub[sub["utterance"].astype(str) == utt]
        ref, rate = _read_mono(next(p for p in grp["reference_path"] if isinstance(p, str) and Path(p).is_file()))
        decoded = {}
        for label in chosen:
            row = grp[grp["label"] == label].iloc[0]
            audio, drate = _read_mono(row["decoded_path"])
            decoded[label] = resample(audio[None, :], drate, rate)[0]
        stimuli = prepare_trial(ref, rate, decoded, anchors=(test == "mushra"), target_lufs=target_lufs,
                                max_seconds=max_seconds)
        trial_id = f"t{t_i + 1:02d}"

        def write(cond: str, audio: np.ndarray, tag: str = "") -> dict:
            token = _token(test_id, trial_id, cond, tag)
            rel = f"audio/{trial_id}/{token}.wav"
            sf.write(site.path(rel), audio, rate, subtype="PCM_24")
            return {"id": token, "condition": cond, "src": rel}

        base = {"item": utt, "dataset": str(grp["dataset"].iloc[0]), "sample_rate": rate, "seconds": round(len(stimuli["reference"]) / rate, 3)}
        if test == "mushra":
            hidden = ["reference"] + chosen + list(ANCHORS)
            trials.append({**base, "id": trial_id, "reference": write("reference", stimuli["reference"], "open")["src"],
                           "stimuli": [write(c, stimuli[c]) for c in hidden]})
        elif test == "mos":
            for c in ["reference"] + chosen:
                trials.append({**base, "id": f"{trial_id}_{_token(c)[:6]}", "stimuli": [write(c, stimuli[c])]})
        else:
            files = {c: write(c, stimuli[c]) for c in chosen}
            ref_src = write("reference", stimuli["reference"], "open")["src"]
            for a, b in itertools.combinations(chosen, 2):
                trials.append({**base, "id": f"{trial_id}_{_token(a, b)[:6]}", "reference": ref_src,
                               "stimuli": [files[a], files[b]]})

    config = {"format": CONFIG_FORMAT, "version": 1, "test_id": test_id, "test": test, "seed": seed,
              "title": f"{test.upper()} listening test: {manifest.get('suite', {}).get('name', run_dir.name)}",
              "conditions": chosen, "anchors": list(ANCHORS) if test == "mushra" else [],
              "require_one_100": test == "mushra", "target_lufs": target_lufs, "trials": trials}
    site.path("test_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    for src in sorted((HERE / "static").rglob("*")):
        if src.is_file():
            shutil.copyfile(src, site.path(Path("static") / src.relative_to(HERE / "static")))
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "templates")), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    site.path("index.html").write_text(env.get_template("listen.html").render(config=config), encoding="utf-8")
    if test == "mushra":
        from codecbench.listening.webmushra import write_webmushra_config

        site.path("webmushra/README.txt")  # written beside the config
        write_webmushra_config(config, site.path("webmushra/config.yaml"))
