"""Small run directories for tests and demos of the report and listening test.

Until a real ``codecbench run`` is at hand, these build valid run directories (results store,
manifest, audio files) straight through :class:`~codecbench.store.ResultStore`: one from folders
of precomputed decoded audio (e.g. the APCodec+ demo), one fully synthetic. Scores are plain
numpy SI-SDR and log-spectral distance, enough to exercise every page.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
import sqlite3
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import soundfile as sf

from codecbench import __version__
from codecbench.store import ItemResult, ResultStore

METRICS = {"si_sdr": {"sample_rate": None, "higher_is_better": True, "unit": "dB"},
           "lsd": {"sample_rate": None, "higher_is_better": False, "unit": "dB"}}
PRETTY = {"apcodecplus": "APCodec+", "apcodec": "APCodec", "apcodecstar": "APCodec*", "soundstream": "SoundStream",
          "encodec": "Encodec", "hificodec": "HiFi-Codec", "audiodec": "AudioDec"}
_FOLDER = re.compile(r"^(?P<family>[A-Za-z]+)_(?P<kbps>\d+(?:\.\d+)?)(?:_(?P<variant>.+))?$")


def si_sdr(ref: np.ndarray, deg: np.ndarray) -> float:
    """Scale-invariant SDR (dB) of equal-length mono signals."""
    ref = ref - ref.mean()
    deg = deg - deg.mean()
    scale = float(np.dot(deg, ref) / (np.dot(ref, ref) + 1e-12))
    target = scale * ref
    return float(10 * np.log10((np.sum(target ** 2) + 1e-12) / (np.sum((deg - target) ** 2) + 1e-12)))


def lsd(ref: np.ndarray, deg: np.ndarray, nfft: int = 1024) -> float:
    """Log-spectral distance (dB) over 50%-overlapping Hann frames."""
    def spec(x: np.ndarray) -> np.ndarray:
        frames = np.lib.stride_tricks.sliding_window_view(x, nfft)[:: nfft // 2] * np.hanning(nfft)
        return np.log10(np.abs(np.fft.rfft(frames, axis=1)) ** 2 + 1e-10)
    a, b = spec(ref), spec(deg)
    return float(np.mean(np.sqrt(np.mean((10 * (a - b)) ** 2, axis=1))))


def _score(ref: np.ndarray, deg: np.ndarray) -> dict[str, tuple[float, Optional[str]]]:
    n = min(ref.size, deg.size)
    return {"si_sdr": (si_sdr(ref[:n], deg[:n]), None), "lsd": (lsd(ref[:n], deg[:n]), None)}


def write_manifest(run_dir: Path, suite_name: str, datasets: list[dict], codecs: list[dict],
                   report: Optional[dict] = None) -> None:
    """A manifest.json following the run-directory contract."""
    manifest = {
        "codecbench_version": __version__, "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "suite_path": None, "suite_hash": None,
        "suite": {"name": suite_name, "datasets": datasets, "codecs": codecs,
                  "metrics": [{"name": m, "options": {}} for m in METRICS], "report": report or {}, "seed": 0},
        "metrics": METRICS, "alignment": {"method": "none (sample run)"}, "packages": {}, "git_commit": None,
        "python": None, "platform": None, "device": "cpu",
    }
    (run_dir / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")


def make_folder_run(root: Path | str, run_dir: Path | str, reference: str = "ref", dataset: str = "ref",
                    report: Optional[dict] = None) -> Path:
    """Run directory over folders of precomputed audio: ``root/<family>_<kbps>[_<variant>]/<utt>.wav``.

    Each folder becomes codec ``<Family>[-<variant>]`` at ``<kbps>`` declared kbps (measured NaN,
    as for precomputed adapters); ``root/<reference>`` holds the references.
    """
    root, run_dir = Path(root), Path(run_dir)
    refs = {p.stem: p for p in sorted((root / reference).glob("*.wav"))}
    codecs: dict[str, dict] = {}
    with ResultStore.open(run_dir) as store:
        for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name != reference):
            match = _FOLDER.match(folder.name)
            if not match:
                continue
            family = PRETTY.get(match["family"], match["family"])
            label = f"{family}-{match['variant']}" if match["variant"] else family
            kbps = float(match["kbps"])
            spec = codecs.setdefault(label, {"name": label, "adapter": "precomputed", "bitrates": [],
                                             "options": {"folder": str(root)}})
            spec["bitrates"].append(kbps)
            for utt, ref_path in refs.items():
                dec_path = folder / f"{utt}.wav"
                key = f"{dataset}|{utt}|{label}|{kbps:g}"
                if not dec_path.is_file():
                    store.write(ItemResult(key, dataset, utt, label, "precomputed", kbps, "skipped",
                                           error=f"no decoded file {folder.name}/{utt}.wav",
                                           reference_path=str(ref_path),
                                           scores={m: (math.nan, "no decoded audio") for m in METRICS}))
                    continue
                ref, rate = sf.read(ref_path, dtype="float32")
                deg, drate = sf.read(dec_path, dtype="float32")
                store.write(ItemResult(key, dataset, utt, label, "precomputed", kbps, "ok",
                                       duration_s=ref.size / rate, reference_path=str(ref_path),
                                       decoded_path=str(dec_path), decoded_sample_rate=drate,
                                       scores=_score(ref, deg)))
    order = sorted(codecs.values(), key=lambda c: (min(c["bitrates"]), c["name"]))
    for c in order:
        c["bitrates"].sort()
    write_manifest(run_dir, "apcodec_plus_demo", [{"name": dataset, "type": "folder",
                                                   "options": {"path": str(root / reference)}}], order, report)
    return run_dir


def _synth(rate: int, seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * seconds)) / rate
    f0 = 110 + 40 * seed % 90
    voice = sum(np.sin(2 * np.pi * f0 * k * t * (1 + 0.02 * np.sin(2 * np.pi * 3 * t))) / k for k in range(1, 12))
    env = 0.5 * (1 + np.sin(2 * np.pi * 2.5 * t - np.pi / 2))
    return (0.25 * voice * env / 3 + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def make_synthetic_run(run_dir: Path | str, utterances: Sequence[str] = ("utt1", "utt2", "utt3", "utt4"),
                       codecs: Sequence[tuple[str, Sequence[float]]] = (("Alpha", (3, 6, 9, 12)), ("Beta", (3, 6, 12, 24))),
                       rate: int = 16000, seconds: float = 1.0, report: Optional[dict] = None,
                       fail: Optional[tuple[str, str, float]] = None, dataset: str = "synthetic") -> Path:
    """Synthetic run: harmonic tones as references, 'decoded' = low-passed + noisy copies.

    Quality grows with bitrate (more bandwidth, less noise) so RD curves and BD deltas are
    meaningful; ``fail`` = (utterance, codec, bitrate) records one failed row; ``dataset`` is
    the dataset name (any text, to test how names reach file paths).
    """
    from scipy import signal

    run_dir = Path(run_dir)
    ds = dataset
    with ResultStore.open(run_dir) as store:
        for u_i, utt in enumerate(utterances):
            ref = _synth(rate, seconds, u_i + 1)
            ref_rel = f"refs/{u_i:03d}.wav"
            (run_dir / "refs").mkdir(parents=True, exist_ok=True)
            sf.write(run_dir / ref_rel, ref, rate, subtype="FLOAT")
            for c_i, (codec, rates) in enumerate(codecs):
                for kbps in rates:
                    key = f"{ds}|{utt}|{codec}|{kbps:g}"
                    if fail and fail == (utt, codec, kbps):
                        store.write(ItemResult(key, ds, utt, codec, f"adapter{c_i}", kbps, "failed",
                                               error="RuntimeError: synthetic failure", reference_path=ref_rel,
                                               scores={m: (math.nan, "codec failed") for m in METRICS}))
                        continue
                    cutoff = min(0.45 * rate, 800 + 230 * kbps * (1 + 0.3 * c_i))
                    sos = signal.butter(6, cutoff, fs=rate, output="sos")
                    noise = np.random.default_rng(u_i * 100 + c_i * 10 + int(kbps)).standard_normal(ref.size)
                    low = signal.sosfilt(sos, ref)
                    deg = (low + 0.5 * (ref - low) + noise * 0.05 / (kbps * (1 + c_i))).astype(np.float32)
                    dec_rel = f"decoded/{c_i}_{kbps:g}_{u_i:03d}.wav"
                    (run_dir / "decoded").mkdir(parents=True, exist_ok=True)
                    sf.write(run_dir / dec_rel, deg, rate, subtype="FLOAT")
                    store.write(ItemResult(key, ds, utt, codec, f"adapter{c_i}", kbps, "ok",
                                           measured_kbps=kbps * (1.0 + 0.01 * c_i), duration_s=seconds,
                                           reference_path=ref_rel, decoded_path=dec_rel, decoded_sample_rate=rate,
                                           scores=_score(ref, deg)))
    write_manifest(run_dir, "synthetic", [{"name": ds, "type": "synthetic", "options": {}}],
                   [{"name": c, "adapter": f"adapter{i}", "bitrates": list(r), "options": {}}
                    for i, (c, r) in enumerate(codecs)], report)
    return run_dir


def tree_contents(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` (relative POSIX path -> bytes): to prove a folder was left untouched."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def write_tones(folder: Path, durations: Sequence[float], base_hz: float = 220.0, step_hz: float = 40.0,
                rate: int = 16000) -> Path:
    """Sine tones ``u0.wav``, ``u1.wav``, ... lasting ``durations`` (s), at ``base_hz + i * step_hz``: utterances
    every metric can score. Returns ``folder`` (made if missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, seconds in enumerate(durations):
        t = np.arange(int(seconds * rate)) / rate
        sf.write(folder / f"u{i}.wav", (0.3 * np.sin(2 * np.pi * (base_hz + step_hz * i) * t)).astype(np.float32), rate)
    return folder


def stored_row_count(db: Path) -> int:
    """Rows in a run's ``items`` table as another process sees it now (0 while it is not readable)."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            return conn.execute("SELECT COUNT(*) FROM items").fetchone()[0]
    except sqlite3.Error:
        return 0
