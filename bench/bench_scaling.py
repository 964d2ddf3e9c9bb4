"""Run time and peak memory against the number of items (issue 13): both should stay flat per item.

For each N in ``--items`` (default 8 32 128), writes N synthetic 2 s speech-like clips (16 kHz,
seeded) into a folder dataset and runs one suite (Opus 12 kbps; PESQ-WB, STOI, SI-SDR) in a new
process with ``--jobs 2``. Reported per N: wall seconds, seconds per item, the main process's
peak RSS and the largest worker's peak RSS (``getrusage``). Rows stream to the store as they
finish and nothing holds all items, so seconds per item and both peaks should not grow with N.

    python bench/bench_scaling.py [--items 8 32 128] [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 16000
# Runs the CLI, then prints the peak RSS (MiB) of this process and of its largest child.
MEASURED_RUN = """
import resource, sys
from codecbench.cli import main
rc = main(["run", sys.argv[1], "--no-progress", "--jobs", "2"])
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print("PEAK", own, child, file=sys.stderr)
sys.exit(rc)
"""


def write_clips(folder: Path, count: int, seconds: float = 2.0) -> None:
    """``count`` harmonic tones with a syllable-rate envelope and a little noise (seeded)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * RATE)) / RATE
    for i in range(count):
        f0 = 110 + 90 * rng.random()
        voice = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 12))
        envelope = 0.5 * (1 + np.sin(2 * np.pi * 4 * t + rng.random() * 6))
        audio = 0.1 * voice * envelope + 0.003 * rng.standard_normal(t.size)
        sf.write(folder / f"utt{i:04d}.wav", audio.astype(np.float32), RATE)


def measure(root: Path, count: int) -> dict[str, float]:
    """Wall time and peak memory of one run over ``count`` items."""
    data = root / f"data{count}"
    write_clips(data, count)
    suite = root / f"suite{count}.yaml"
    suite.write_text(f"""
name: scaling{count}
out: {root / f'run{count}'}
datasets: [{{name: synth, type: folder, options: {{path: {data}}}}}]
codecs: [{{name: Opus, adapter: opus, bitrates: [12]}}]
metrics: [pesq_wb, stoi, si_sdr]
""")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", MEASURED_RUN, str(suite)], capture_output=True, text=True,
                          check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"bench_scaling: run over {count} items exited {done.returncode}:\n{done.stderr[-2000:]}")
    own, child = (float(v) for v in done.stderr.rsplit("PEAK", 1)[1].split()[:2])
    return {"items": count, "wall_s": round(wall, 2), "s_per_item": round(wall / count, 3),
            "main_peak_mib": round(own, 1), "worker_peak_mib": round(child, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, nargs="+", default=[8, 32, 128])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as tmp:
        rows = [measure(Path(tmp), n) for n in args.items]
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"{'items':>6} {'wall s':>8} {'s/item':>8} {'main MiB':>9} {'worker MiB':>11}")
    for row in rows:
        print(f"{row['items']:>6} {row['wall_s']:>8.2f} {row['s_per_item']:>8.3f} {row['main_peak_mib']:>9.1f} "
              f"{row['worker_peak_mib']:>11.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
