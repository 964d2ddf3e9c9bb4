"""Benchmark: seconds per pair and peak memory of the model-based and pitch metrics on CPU.

Not a test. Each metric group runs in its own fresh Python process (so peak RSS is that group's
alone) on the same real pairs as ``bench_metrics.py`` (VCTK 48 kHz demo fixture, cropped or
looped to 3 s), through :func:`codecbench.scoring.score_pair` exactly as the runner calls it:

* ``--jobs 1``: one process; the first pair (model loading, warm-up) is timed apart;
* ``--jobs 2``: the runner's pool (2 spawned workers, each initialised once by
  :func:`codecbench.scoring.init_worker` with one thread); wall seconds per pair after warm-up
  and the largest worker's peak RSS.

PESQ-WB runs the same way in the same invocation as the baseline for ratios. ``wavlm_sv`` runs on
a randomly initialised model of the real architecture (transformers' ``WavLMConfig`` defaults are
the Base size of ``microsoft/wavlm-base-plus-sv``): speed and memory do not depend on weight
values, and the real weights are not reachable from here. ``utmos`` likewise runs a randomly
initialised state dict of utmos-pytorch's real UTMOS22 architecture (float32, as the converted
checkpoint is).

    python bench/bench_modern_metrics.py --jobs 1 2
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_metrics import DEFAULT_ROOT, load_pairs  # noqa: E402  (same pairs as the metric-stage bench)

GROUPS: dict[str, list[Any]] = {
    "pesq_wb (baseline)": ["pesq_wb"],
    "f0_rmse + f0_corr + vuv_f1": ["f0_rmse", "f0_corr", "vuv_f1"],
    "dnsmos_sig/bak/ovrl/p808": ["dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl", "dnsmos_p808"],
    "speaker_sim (resemblyzer)": ["speaker_sim"],
    "speaker_sim (wavlm_sv, Base size)": [("speaker_sim", {"backend": "wavlm_sv", "weights": "{wavlm}"})],
    "utmos (UTMOS22 strong, real size)": [("utmos", {"weights": "{utmos}"})],
}
CODECS = "AP_48_6,En_48_6,DAC_48_6,HC_48_6"


def peak_rss_mb() -> float:
    """This process's peak RSS (MiB). ``VmHWM`` starts afresh at exec; ``ru_maxrss`` would carry the
    launching process's peak over (Linux keeps it across execve), e.g. the random WavLM built here."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # no /proc: assume KiB (Linux units)


def random_wavlm(folder: Path) -> None:
    """A randomly initialised WavLMForXVector of the Base size, with its feature extractor."""
    import torch
    from transformers import Wav2Vec2FeatureExtractor, WavLMConfig, WavLMForXVector

    torch.manual_seed(0)
    WavLMForXVector(WavLMConfig()).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True,
                             return_attention_mask=True).save_pretrained(folder)


def random_utmos(path: Path) -> None:
    """A randomly initialised UTMOS22 strong-learner state dict of the real architecture."""
    import torch
    from utmos_pytorch.utmos_torch import UTMOSModel

    torch.manual_seed(0)
    torch.save(UTMOSModel().state_dict(), path)


def _specs(group: str, wavlm: str, utmos: str = "") -> list[Any]:
    return [(s[0], {k: (v.format(wavlm=wavlm, utmos=utmos) if isinstance(v, str) else v) for k, v in s[1].items()})
            if isinstance(s, tuple) else s for s in GROUPS[group]]


def _worker_rss(_: int) -> float:
    return peak_rss_mb()


def child(group: str, jobs: int, wavlm: str, pairs_n: int, utmos: str = "") -> dict[str, Any]:
    """Score the pairs with one metric group; runs in a fresh process."""
    from codecbench.scoring import init_worker, score_pair

    pairs = load_pairs(DEFAULT_ROOT, CODECS.split(","), 3.0, pairs_n)
    specs = _specs(group, wavlm, utmos)
    base_rss = peak_rss_mb()
    if jobs == 1:
        init_worker(specs, threads=1, warm_up=False)
        start = time.perf_counter()
        first = score_pair(pairs[0][1], pairs[0][2], pairs[0][3], pairs[0][4], specs)
        load_s = time.perf_counter() - start
        start = time.perf_counter()
        results = [score_pair(ref, rs, deg, ds, specs) for _, ref, rs, deg, ds in pairs[1:]]
        per_pair = (time.perf_counter() - start) / len(results)
        values = first.values()
        failed = sorted({r.reason for p in [first, *results] for r in p.results.values() if r.reason})
        return {"group": group, "jobs": 1, "seconds_per_pair": per_pair, "first_pair_s": load_s,
                "peak_rss_mb": peak_rss_mb(), "rss_before_metric_mb": base_rss, "first_values": values,
                "failures": failed}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=init_worker, initargs=(specs, 1)) as pool:
        list(pool.map(_worker_rss, range(jobs)))  # start and warm every worker
        start = time.perf_counter()
        futures = [pool.submit(score_pair, ref, rs, deg, ds, specs) for _, ref, rs, deg, ds in pairs]
        results = [f.result() for f in futures]
        per_pair = (time.perf_counter() - start) / len(results)
        worker_rss = max(pool.map(_worker_rss, range(4 * jobs)))
    failed = sorted({r.reason for p in results for r in p.results.values() if r.reason})
    return {"group": group, "jobs": jobs, "seconds_per_pair": per_pair, "peak_rss_mb": worker_rss,
            "parent_rss_mb": peak_rss_mb(), "failures": failed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="worker counts to measure")
    parser.add_argument("--pairs", type=int, default=8, help="pairs per metric group (first is warm-up at --jobs 1)")
    parser.add_argument("--groups", default="", help="comma-separated subset of group names (default: all)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-jobs", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--wavlm", default="", help=argparse.SUPPRESS)
    parser.add_argument("--utmos", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.child_jobs, args.wavlm, args.pairs, args.utmos), default=str))
        return
    groups = [g for g in GROUPS if not args.groups or any(key.strip() in g for key in args.groups.split(","))]
    with tempfile.TemporaryDirectory() as tmp:
        wavlm = Path(tmp) / "wavlm_base_random"
        if any("wavlm" in g for g in groups):
            random_wavlm(wavlm)
        utmos = Path(tmp) / "utmos_random.pt"
        if any(g.startswith("utmos") for g in groups):
            random_utmos(utmos)
        print(f"{len(groups)} metric groups, {args.pairs} pairs of 3 s, jobs {args.jobs}; "
              f"load average {os.getloadavg()[0]:.1f} at start", flush=True)
        rows = []
        for jobs in args.jobs:
            for group in groups:
                out = subprocess.run([sys.executable, __file__, "--child", group, "--child-jobs", str(jobs),
                                      "--wavlm", str(wavlm), "--utmos", str(utmos), "--pairs", str(args.pairs)],
                                     capture_output=True, text=True, check=False)
                if out.returncode != 0:
                    print(f"{group} (jobs {jobs}) failed:\n{out.stderr[-2000:]}", flush=True)
                    continue
                row = json.loads(out.stdout.strip().splitlines()[-1])
                rows.append(row)
                print(json.dumps(row), flush=True)
    print(f"\nload average {os.getloadavg()[0]:.1f} at end\n")
    print("| metric group | jobs | seconds per pair | vs pesq_wb | first pair (load + score) | peak RSS per process |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        base = next((r for r in rows if r["jobs"] == row["jobs"] and r["group"].startswith("pesq_wb")), None)
        ratio = f"{row['seconds_per_pair'] / base['seconds_per_pair']:.1f}×" if base else "n/a"
        first = f"{row['first_pair_s']:.2f} s" if "first_pair_s" in row else "(warmed in init_worker)"
        print(f"| {row['group']} | {row['jobs']} | {row['seconds_per_pair']:.3f} | {ratio} | {first} | "
              f"{row['peak_rss_mb']:.0f} MB |")


if __name__ == "__main__":
    main()
