"""Cost of a rerun against the first run: idle (issue 13) and with one metric added (issue 9).

The first run is ``codecbench run`` of SUITE without its last metric, into a fresh temporary run
directory. Then the full SUITE runs on that directory, which must compute only the added metric
from the cached decoded audio; then the full SUITE runs ``--repeat`` more times with nothing left
to do. Every run is a whole new process, the way a user types it. Reported: wall seconds and each
rerun as a fraction of the first run. ViSQOL's numba kernels are compiled before the clock starts
(they are cached once per machine, so counting them would flatter the ratios).

The reduced suite is written beside SUITE (as a hidden file, removed afterwards) so that its
relative paths resolve as the original's do.

    python bench/bench_rerun.py [--suite suites/quickstart.yaml] [--repeat 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def timed_run(suite: Path, out: Path) -> float:
    """Wall seconds of one ``codecbench run`` in a new interpreter; raises on a non-zero exit."""
    command = [sys.executable, "-c", "import sys; from codecbench.cli import main; sys.exit(main())",
               "run", str(suite), "--out", str(out), "--no-progress"]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"bench_rerun: `{' '.join(command[3:])}` exited {done.returncode}:\n{done.stderr[-2000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", type=Path, default=REPO / "suites" / "quickstart.yaml")
    parser.add_argument("--repeat", type=int, default=5, help="reruns after the first run (median is reported)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = parser.parse_args()

    from codecbench.metrics import visqol

    visqol.prepare_kernels(lambda line: print(line, file=sys.stderr))
    document = yaml.safe_load(args.suite.read_text())
    added = document["metrics"].pop()
    reduced = args.suite.with_name(f".{args.suite.stem}.bench-rerun-{os.getpid()}.yaml")
    reduced.write_text(yaml.safe_dump(document, sort_keys=False))
    try:
        with tempfile.TemporaryDirectory(prefix="bench-rerun-") as tmp:
            out = Path(tmp) / "run"
            first = timed_run(reduced, out)
            add_metric = timed_run(args.suite, out)
            reruns = [timed_run(args.suite, out) for _ in range(args.repeat)]
    finally:
        reduced.unlink(missing_ok=True)
    median = statistics.median(reruns)
    result = {"suite": str(args.suite), "added_metric": str(added), "first_run_s": round(first, 3),
              "add_metric_s": round(add_metric, 3), "add_metric_over_first": round(add_metric / first, 4),
              "idle_rerun_s": [round(r, 3) for r in reruns], "idle_rerun_median_s": round(median, 3),
              "idle_rerun_over_first": round(median / first, 4)}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"first run (without {added}) {first:.2f} s\n"
              f"adding {added}: {add_metric:.2f} s = {100 * add_metric / first:.1f} % of the first run\n"
              f"idle rerun: median {median:.2f} s over {len(reruns)} (min {min(reruns):.2f}, "
              f"max {max(reruns):.2f}) = {100 * median / first:.1f} % of the first run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
