"""Suite-shaped metric benchmark: U references x C codec points, scored the way a run scores them.

Used by ``bench/bench_metrics.py --suite`` (see its docstring). The pairs are the fixtures' real
codec outputs at full length (decoded files are a few hundred samples longer or shorter than the
reference, as in a run): the VCTK 48 kHz demo (2 references) and the Expresso APCodec+ demo
(3 references), each with its first C codec folders that hold every reference.

* naive: one process, the pairs in point-major order, each aligned as the harness aligns it, then
  PESQ-WB (``pesq``), STOI (``pystoi``), LSD and mel distance (codecbench's numpy formulas called
  directly) and ViSQOL audio (``visqol-python``'s public ``measure_from_arrays``); CPU seconds
  are counted per library call (alignment is not counted);
* harness: the runner's metric pool (``codecbench.runner._MetricPool``: one worker per job, jobs
  routed by reference) running :func:`codecbench.scoring.score_pair` in point-major order, each
  worker's CPU seconds per task counted (alignment, all metrics, reference states). Every round
  starts fresh workers, so no reference state survives from an earlier round;
* interleaved: in this process, pair by pair, the library calls and then ``score_pair`` (fresh
  reference states, numba on one thread), each CPU-timed. On a shared machine this is the most
  robust ratio: both sides run at the same moments under the same contention.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO.parent / "shared" / "fixtures"
SETS = [(FIXTURES / "apcodec_demo" / "vctk48", "N_48"), (FIXTURES / "apcodec_plus_demo", "ref")]
SUITE_SPECS: list[tuple[str, dict]] = [("pesq_wb", {}), ("stoi", {}), ("lsd", {}), ("mel_distance", {}),
                                       ("visqol_audio", {})]
NAMES = [name for name, _ in SUITE_SPECS]


def load_suite_pairs(points: int, utterances: int) -> list[tuple[str, str, np.ndarray, int, np.ndarray, int]]:
    """``(route, label, ref, ref_sr, deg, deg_sr)`` in point-major order (codec point outer)."""
    from codecbench.audio import load_audio

    per_point: list[list[tuple]] = [[] for _ in range(points)]
    for root, ref_dir in SETS:
        refs = sorted((root / ref_dir).glob("*.wav"))
        if not refs:
            sys.exit(f"{root / ref_dir}: no reference WAVs (the shared fixtures are needed for --suite)")
        codecs = [d.name for d in sorted(root.iterdir()) if d.is_dir() and d.name != ref_dir
                  and all((d / ref.name).is_file() for ref in refs)][:points]
        if len(codecs) < points:
            sys.exit(f"{root}: only {len(codecs)} codec folders hold every reference; pass --points {len(codecs)}")
        for ref_path in refs:
            ref, ref_sr = load_audio(ref_path)
            for c, codec in enumerate(codecs):
                deg, deg_sr = load_audio(root / codec / ref_path.name)
                route = f"{root.name}/{ref_path.name}"
                per_point[c].append((route, f"{codec}/{ref_path.name}", ref, ref_sr, deg, deg_sr))
    routes = sorted({pair[0] for pair in per_point[0]})[:utterances] if utterances else None
    return [pair for point in per_point for pair in point if routes is None or pair[0] in routes]


def interleaved_round(pairs: list[tuple]) -> tuple[float, float]:
    """Library calls and ``score_pair`` pair by pair in this process (fresh reference states,
    numba on one thread for both): ``(library CPU s, harness CPU s)``. Both sides run at the same
    moments, so contention from other tenants affects them alike."""
    import numba

    import codecbench.scoring as scoring
    from codecbench.reference_states import ReferenceStates

    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    scoring._REFERENCE_STATES = ReferenceStates()
    library = harness = 0.0
    try:
        for _, _, ref, ref_sr, deg, deg_sr in pairs:
            _, _, cpu = naive_round([(None, None, ref, ref_sr, deg, deg_sr)])
            library += sum(cpu.values())
            tick = time.process_time()
            scoring.score_pair(ref, ref_sr, deg, deg_sr, SUITE_SPECS)
            harness += time.process_time() - tick
    finally:
        numba.set_num_threads(threads)
        scoring._REFERENCE_STATES = None
    return library, harness


_NAIVE: dict[str, Any] = {}


def naive_round(pairs: list[tuple]) -> tuple[list[dict], float, dict[str, float]]:
    from pesq import pesq
    from pystoi import stoi
    from visqol import VisqolApi
    from visqol.numba_accel import warmup

    from codecbench.alignment import align_pair
    from codecbench.metrics.spectral import LogSpectralDistance, MelDistance

    if not _NAIVE:
        warmup()
        api = VisqolApi()
        api.create(mode="audio")
        _NAIVE.update(api=api, lsd=LogSpectralDistance(), mel=MelDistance())
    api, lsd, mel = _NAIVE["api"], _NAIVE["lsd"], _NAIVE["mel"]
    cpu = dict.fromkeys(NAMES, 0.0)
    values = []
    start = time.perf_counter()
    for _, _, ref, ref_sr, deg, deg_sr in pairs:
        prepared, _ = align_pair(ref, ref_sr, deg, deg_sr, [16000, 10000, None, 48000])
        calls = {
            "pesq_wb": lambda: pesq(16000, *prepared[16000], "wb"),
            "stoi": lambda: stoi(*(x.astype(np.float64) for x in prepared[10000]), 10000),
            "lsd": lambda: lsd.compute(*prepared[ref_sr], ref_sr),
            "mel_distance": lambda: mel.compute(*prepared[ref_sr], ref_sr),
            "visqol_audio": lambda: api.measure_from_arrays(*(x.astype(np.float64) for x in prepared[48000]),
                                                            48000).moslqo,
        }
        row = {}
        for name, call in calls.items():
            tick = time.process_time()
            row[name] = float(call())
            cpu[name] += time.process_time() - tick
        values.append(row)
    return values, time.perf_counter() - start, cpu


def _ready() -> int:
    time.sleep(0.3)
    return os.getpid()


def timed_score_pair(*args: Any) -> tuple[dict, float, int]:
    """score_pair's values, the worker's CPU seconds for the task, and its pid."""
    from codecbench.scoring import score_pair

    tick = time.process_time()
    scores = score_pair(*args)
    return scores.values(), time.process_time() - tick, os.getpid()


def harness_round(pairs: list[tuple], jobs: int) -> tuple[list[dict], float, float, float]:
    from codecbench.runner import _MetricPool

    pool = _MetricPool(jobs, SUITE_SPECS)
    try:
        routes = list(dict.fromkeys(pair[0] for pair in pairs))
        for future in [pool.submit(route, fn=_ready) for route in routes]:  # start and warm every worker
            future.result()
        start = time.perf_counter()
        futures = [pool.submit(route, ref, ref_sr, deg, deg_sr, SUITE_SPECS, fn=timed_score_pair)
                   for route, _, ref, ref_sr, deg, deg_sr in pairs]
        done = [future.result() for future in futures]
        wall = time.perf_counter() - start
    finally:
        pool.shutdown()
    busy: dict[int, float] = {}
    for _, cpu, pid in done:
        busy[pid] = busy.get(pid, 0.0) + cpu
    return [values for values, *_ in done], wall, sum(cpu for _, cpu, _ in done), max(busy.values())


def run_suite_mode(points: int, utterances: int, jobs: int, repeat: int, as_json: bool) -> bool:
    """Runs the rounds, prints a report (or JSON); returns whether the values were identical."""
    pairs = load_suite_pairs(points, utterances)
    n, u = len(pairs), len({pair[0] for pair in pairs})
    load_before = os.getloadavg()[0]
    naive_rounds, harness_rounds = [], []
    for _ in range(max(1, repeat)):
        naive_rounds.append(naive_round(pairs))
        harness_rounds.append(harness_round(pairs, jobs))
    naive_round(pairs[:1])  # warm the in-process metrics before the interleaved round
    from codecbench.scoring import init_worker

    init_worker(SUITE_SPECS, threads=None)
    inter_library, inter_harness = interleaved_round(pairs)
    lib_cpu = min(naive_rounds, key=lambda r: sum(r[2].values()))[2]
    naive_values, naive_wall, _ = min(naive_rounds, key=lambda r: r[1])
    harness_values, harness_wall, _, _ = min(harness_rounds, key=lambda r: r[1])
    harness_cpu = min(r[2] for r in harness_rounds)
    worst = dict.fromkeys(NAMES, 0.0)
    for rounds in harness_rounds:
        for expected, got in zip(naive_values, rounds[0], strict=True):
            for name in NAMES:
                worst[name] = max(worst[name], abs(expected[name] - got[name]) / max(abs(expected[name]), 1e-12))
    identical = (worst["pesq_wb"] == worst["lsd"] == worst["mel_distance"] == 0.0 and worst["stoi"] <= 1e-12
                 and worst["visqol_audio"] <= 1e-9)
    total_lib = sum(lib_cpu.values())
    report = {
        "utterances": u, "codec_points": points, "pairs": n, "jobs": jobs, "cores": os.cpu_count(),
        "rounds": max(1, repeat),
        "harness_cpu_s_per_pair": harness_cpu / n,
        "library_cpu_s_per_pair": total_lib / n,
        "library_cpu_s_per_pair_by_metric": {k: v / n for k, v in lib_cpu.items()},
        "harness_to_library_cpu": harness_cpu / total_lib,
        "interleaved_library_cpu_s_per_pair": inter_library / n,
        "interleaved_harness_cpu_s_per_pair": inter_harness / n,
        "interleaved_harness_to_library_cpu": inter_harness / inter_library,
        "naive_wall_s": naive_wall, "harness_wall_s": harness_wall,
        "wall_speedup": naive_wall / harness_wall,
        "idle_estimate_speedup": min(sum(r[2].values()) for r in naive_rounds) / min(r[3] for r in harness_rounds),
        "values_identical": identical, "max_relative_difference": worst,
        "load_average_before_after": [load_before, os.getloadavg()[0]],
    }
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{n} pairs = {u} references x {points} codec points (full length), jobs={jobs}, "
              f"{os.cpu_count()} cores, best of {max(1, repeat)} rounds")
        print(f"values identical: {identical}  (max relative difference: "
              + ", ".join(f"{k} {v:.1e}" for k, v in worst.items()) + ")")
        print("library CPU s/pair (naive loop): " + ", ".join(f"{k} {v / n:.3f}" for k, v in lib_cpu.items())
              + f"; total {total_lib / n:.3f}")
        print(f"harness worker CPU s/pair: {harness_cpu / n:.3f} (alignment + metrics + reference states) "
              f"= {harness_cpu / total_lib:.2f}x the libraries' own")
        print(f"same process, pair by pair (library calls, then score_pair; 1 numba thread): "
              f"{inter_harness / n:.3f} vs {inter_library / n:.3f} CPU s/pair = {inter_harness / inter_library:.2f}x")
        print(f"wall: naive {naive_wall:.2f} s, harness {harness_wall:.2f} s -> {naive_wall / harness_wall:.2f}x; "
              f"idle-machine estimate (naive CPU / busiest worker CPU) {report['idle_estimate_speedup']:.2f}x")
        print(f"load average (1 min) before/after: {load_before:.2f} / {os.getloadavg()[0]:.2f}")
    return identical
