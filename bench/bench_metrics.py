"""Benchmark: the harness's scoring path versus a naive sequential loop over the metric libraries.

Not a test. Loads N real (reference, codec output) pairs (default: the VCTK 48 kHz demo fixture,
both references against several codecs, cropped or looped to 3 s), then:

* naive: one process, one pair after another, calling PESQ-WB (``pesq``), STOI (``pystoi``),
  LSD and ViSQOL audio (``visqol-python`` with numba, library defaults) directly on arrays that
  were aligned exactly as the harness aligns them (so the values must match);
* harness: :func:`codecbench.scoring.score_pair` on a ``ProcessPoolExecutor`` with ``--jobs``
  workers, each initialised once by :func:`codecbench.scoring.init_worker` (metrics built,
  numba pinned to ``--numba-threads`` threads, kernels warmed). Pool start-up is timed apart.

It checks the values are identical (PESQ and LSD bit for bit; STOI to a relative 1e-12 and
ViSQOL to 1e-9, because BLAS and numba's parallel reductions may change the last bits with
the thread count) and prints per-pair seconds, the speed-up,
and the CPU-time limit = (sum of the libraries' CPU seconds in the naive loop) / cores, with
the harness's overhead above that limit. On a shared, loaded machine wall times mostly measure
the other tenants, so it also prints CPU-time figures: the harness workers' CPU per pair
against the libraries' own, and an idle-machine estimate (naive: the loop's process CPU time,
an upper bound on its idle wall time since numba may overlap two threads; harness: the busiest
worker's CPU time).

    python bench/bench_metrics.py --jobs 2 --numba-threads 1

Suite-shaped mode (``--suite [--points C] [--utterances U] [--json]``): every reference against
C codec points in point-major order through the runner's metric pool, so prepared reference
states are reused as in a run; reports harness CPU per pair against the libraries' own (see
``bench/bench_metrics_suite.py``).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Optional

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = REPO.parent / "shared" / "fixtures" / "apcodec_demo" / "vctk48"
DEFAULT_CODECS = "AP_48_6,AP_48_12,APS_48_6,En_48_6,DAC_48_6,HC_48_6,SS_48_6,AD_48_6"
SPECS = [("pesq_wb", {}), ("stoi", {}), ("lsd", {}), ("visqol_audio", {})]


def fit_length(audio: np.ndarray, samples: int) -> np.ndarray:
    """Crop ``[C, T]`` audio to ``samples``, looping it first when it is shorter."""
    if audio.shape[1] < samples:
        audio = np.tile(audio, (1, math.ceil(samples / audio.shape[1])))
    return np.ascontiguousarray(audio[:, :samples])


def load_pairs(root: Path, codecs: list[str], seconds: float, limit: int) -> list[tuple]:
    from codecbench.audio import load_audio

    pairs = []
    for ref_path in sorted((root / "N_48").glob("*.wav")):
        ref, ref_sr = load_audio(ref_path)
        for codec in codecs:
            deg_path = root / codec / ref_path.name
            if not deg_path.is_file():
                sys.exit(f"{deg_path}: missing; pick codecs present under {root} with --codecs")
            deg, deg_sr = load_audio(deg_path)
            pairs.append((f"{codec}/{ref_path.name}", fit_length(ref, int(seconds * ref_sr)), ref_sr,
                          fit_length(deg, int(seconds * deg_sr)), deg_sr))
    if not pairs:
        sys.exit(f"{root}: no reference WAVs under N_48/; pass --root")
    return pairs[:limit] if limit else pairs


class NaiveLoop:
    """Direct library calls in this process, set up (and warmed up) once."""

    def __init__(self, warm_pair: tuple) -> None:
        from pesq import pesq
        from pystoi import stoi
        from visqol import VisqolApi
        from visqol.numba_accel import warmup

        from codecbench.alignment import align_pair
        from codecbench.metrics.spectral import LogSpectralDistance

        self.pesq, self.stoi, self.align_pair, self.lsd = pesq, stoi, align_pair, LogSpectralDistance()
        warmup()
        self.api = VisqolApi()
        self.api.create(mode="audio")
        self.run([warm_pair])

    def run(self, pairs: list[tuple]) -> tuple[list[dict], float, dict[str, float]]:
        """Returns values per pair, wall seconds, CPU seconds per library."""
        cpu = {"pesq_wb": 0.0, "stoi": 0.0, "lsd": 0.0, "visqol_audio": 0.0}
        values = []
        start, start_cpu = time.perf_counter(), time.process_time()
        for _, ref, ref_sr, deg, deg_sr in pairs:
            prepared, _ = self.align_pair(ref, ref_sr, deg, deg_sr, [16000, 10000, None, 48000])
            row = {}
            tick = time.process_time()
            row["pesq_wb"] = float(self.pesq(16000, *prepared[16000], "wb"))
            tock = time.process_time()
            cpu["pesq_wb"] += tock - tick
            row["stoi"] = float(self.stoi(*(x.astype(np.float64) for x in prepared[10000]), 10000))
            tick = time.process_time()
            cpu["stoi"] += tick - tock
            row["lsd"] = self.lsd.compute(*prepared[ref_sr], ref_sr)
            tock = time.process_time()
            cpu["lsd"] += tock - tick
            row["visqol_audio"] = float(self.api.measure_from_arrays(
                *(x.astype(np.float64) for x in prepared[48000]), 48000).moslqo)
            cpu["visqol_audio"] += time.process_time() - tock
            values.append(row)
        self.last_cpu = time.process_time() - start_cpu
        return values, time.perf_counter() - start, cpu


def _ready(delay: float) -> int:
    time.sleep(delay)
    return os.getpid()


def timed_score_pair(*args: object) -> tuple[object, float, int]:
    """score_pair plus the worker's CPU seconds for it and the worker's pid."""
    from codecbench.scoring import score_pair

    tick = time.process_time()
    scores = score_pair(*args)
    return scores, time.process_time() - tick, os.getpid()


class Harness:
    """score_pair on a process pool whose workers are initialised (and warmed up) once."""

    def __init__(self, jobs: int, numba_threads: Optional[int], context: str) -> None:
        from codecbench.scoring import init_worker

        start = time.perf_counter()
        self.pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context(context),
                                        initializer=init_worker, initargs=(SPECS, numba_threads))
        pids = {f.result() for f in [self.pool.submit(_ready, 0.5) for _ in range(2 * jobs)]}
        self.startup = time.perf_counter() - start
        if len(pids) < jobs:
            print(f"warning: only {len(pids)} of {jobs} workers were up before timing", file=sys.stderr)

    def run(self, pairs: list[tuple]) -> tuple[list[dict], float, float, float]:
        """Returns values per pair, wall seconds, summed worker CPU seconds, idle-machine estimate.

        The estimate is the busiest worker's CPU seconds for its tasks: the run's length had
        each worker had a core to itself (workers do no I/O while scoring).
        """
        start = time.perf_counter()
        futures = [self.pool.submit(timed_score_pair, ref, ref_sr, deg, deg_sr, SPECS)
                   for _, ref, ref_sr, deg, deg_sr in pairs]
        done = [future.result() for future in futures]
        wall = time.perf_counter() - start
        failures = [(pairs[i][0], label, r.reason) for i, (s, *_) in enumerate(done)
                    for label, r in s.results.items() if not r.ok]
        if failures:
            print(f"warning: unavailable scores: {failures}", file=sys.stderr)
        busy: dict[int, float] = {}
        for _, cpu, pid in done:
            busy[pid] = busy.get(pid, 0.0) + cpu
        return [s.values() for s, *_ in done], wall, sum(cpu for _, cpu, *_ in done), max(busy.values())

    def close(self) -> None:
        self.pool.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="folder with N_48/ and codec folders")
    parser.add_argument("--codecs", default=DEFAULT_CODECS, help="comma-separated codec folders")
    parser.add_argument("--seconds", type=float, default=3.0, help="crop/loop every signal to this length")
    parser.add_argument("--pairs", type=int, default=0, help="use only the first N pairs (0 = all)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    parser.add_argument("--numba-threads", type=int, default=1, help="numba threads per worker (0 = numba default)")
    parser.add_argument("--context", default="spawn", choices=["spawn", "forkserver", "fork"])
    parser.add_argument("--repeat", type=int, default=3,
                        help="alternate naive and harness rounds this often; the fastest round of each counts")
    parser.add_argument("--codec-rtf", default="opus,mp3,aac,apcodec,encodec 24k",
                        help="after the metrics, print the encode/decode RTF of these codecs (bench_codecs "
                             "--only filters, comma-separated; empty to skip)")
    parser.add_argument("--suite", action="store_true",
                        help="suite-shaped mode: U references x C codec points through the runner's metric pool "
                             "(bench/bench_metrics_suite.py); uses --jobs and --repeat")
    parser.add_argument("--points", type=int, default=10, help="--suite: codec points C per reference")
    parser.add_argument("--utterances", type=int, default=0, help="--suite: references U (0 = all five)")
    parser.add_argument("--json", action="store_true", help="--suite: print the figures as JSON")
    args = parser.parse_args()
    if args.suite:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from bench_metrics_suite import run_suite_mode

        sys.exit(0 if run_suite_mode(args.points, args.utterances, args.jobs, args.repeat, args.json) else 1)

    pairs = load_pairs(args.root, args.codecs.split(","), args.seconds, args.pairs)
    cores = os.cpu_count() or 1
    n = len(pairs)
    print(f"{n} pairs of {args.seconds:g} s; {cores} cores; jobs={args.jobs}; "
          f"numba threads/worker={args.numba_threads or 'default'}; start method={args.context}; "
          f"best of {args.repeat} rounds")

    load_before = os.getloadavg()[0]
    naive = NaiveLoop(pairs[0])
    harness = Harness(args.jobs, args.numba_threads or None, args.context)
    naive_rounds, pool_rounds, naive_idle = [], [], []
    try:
        for _ in range(max(1, args.repeat)):
            naive_rounds.append(naive.run(pairs))
            naive_idle.append(naive.last_cpu)
            pool_rounds.append(harness.run(pairs))
    finally:
        harness.close()
    naive_values, naive_wall, cpu = min(naive_rounds, key=lambda r: r[1])
    pool_values, pool_wall, worker_cpu, _ = min(pool_rounds, key=lambda r: r[1])
    naive_est, pool_est = min(naive_idle), min(r[3] for r in pool_rounds)
    lib_cpu = min(sum(r[2].values()) for r in naive_rounds)  # least-disturbed measurement of the libraries
    cpu = min((r[2] for r in naive_rounds), key=lambda c: sum(c.values()))

    worst = {name: 0.0 for name in cpu}
    for expected, got in zip(naive_values, pool_values, strict=True):
        for name in cpu:
            worst[name] = max(worst[name], abs(expected[name] - got[name]) / max(abs(expected[name]), 1e-12))
    identical = (worst["pesq_wb"] == worst["lsd"] == 0.0 and worst["stoi"] <= 1e-12
                 and worst["visqol_audio"] <= 1e-9)
    limit = lib_cpu / cores
    print(f"values identical: {identical}  (max relative difference: "
          + ", ".join(f"{k} {v:.1e}" for k, v in worst.items()) + ")")
    print("library CPU s/pair (naive loop): " + ", ".join(f"{k} {v / n:.3f}" for k, v in cpu.items()))
    print("rounds naive s   : " + ", ".join(f"{r[1]:.2f}" for r in naive_rounds))
    print("rounds harness s : " + ", ".join(f"{r[1]:.2f}" for r in pool_rounds))
    print(f"naive loop       : {naive_wall:7.2f} s  ({naive_wall / n:.3f} s/pair)")
    print(f"harness (pool)   : {pool_wall:7.2f} s  ({pool_wall / n:.3f} s/pair)  "
          f"+ pool start-up {harness.startup:.2f} s (once per run)")
    print(f"speed-up         : {naive_wall / pool_wall:.2f}x")
    print(f"CPU-time limit   : {limit:7.2f} s  ({limit / n:.3f} s/pair) = library CPU {lib_cpu:.2f} s / {cores} cores")
    print(f"harness overhead above the limit: {100 * (pool_wall / limit - 1):+.1f}%")
    print(f"harness worker CPU s/pair: {worker_cpu / n:.3f} (alignment + 4 metrics + IPC unpickling) vs "
          f"library CPU {lib_cpu / n:.3f}: {100 * (worker_cpu / lib_cpu - 1):+.1f}%")
    print(f"idle-machine estimate from CPU time (naive: its CPU incl. alignment; harness: busiest worker's CPU): "
          f"naive {naive_est / n:.3f} s/pair, "
          f"harness {pool_est / n:.3f} s/pair -> speed-up {naive_est / pool_est:.2f}x, "
          f"overhead above the limit {100 * (pool_est / limit - 1):+.1f}%")
    print(f"load average (1 min) before/after: {load_before:.2f} / {os.getloadavg()[0]:.2f} on {cores} cores "
          "(wall-clock numbers are only meaningful on an otherwise idle machine)")
    for only in filter(None, (c.strip() for c in args.codec_rtf.split(","))):
        import subprocess

        print(f"\ncodec speed ({only}), bench/bench_codecs.py on {args.seconds:g} s of audio:", flush=True)
        subprocess.run([sys.executable, str(REPO / "bench" / "bench_codecs.py"), "--seconds", str(args.seconds),
                        "--repeat", "3", "--only", only], check=False)
    if not identical:
        sys.exit(1)


if __name__ == "__main__":
    main()
