"""A suite as N launcher tasks (local Slurm by default) against the same suite in one process.

Runs ``codecbench run SUITE`` and ``codecbench run SUITE --launcher slurm --tasks N`` into two
fresh run directories, checks that their rows are equal (timing columns aside), and reports:
wall time of each; per task, the time from its submission to its first stored row (queueing,
scheduling, interpreter and codec start-up), beside the one process's start to first row; each
task's run time; the merge time.

    python bench/bench_launcher.py [--suite suites/quickstart.yaml] [--tasks 3] [--launcher slurm]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _run(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "codecbench.cli", *args, "--no-progress"], cwd=REPO, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=3600)
    return time.perf_counter() - start


def _first_row(path: Path) -> float:
    with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as conn:
        return float(conn.execute("SELECT MIN(updated_at) FROM items").fetchone()[0])


def main() -> None:
    from codecbench.results import load_results

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="suites/quickstart.yaml")
    parser.add_argument("--tasks", type=int, default=3)
    parser.add_argument("--launcher", choices=["slurm", "local"], default="slurm")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        one, many = Path(tmp) / "one", Path(tmp) / "many"
        started = time.time()
        single_s = _run(["run", args.suite, "--out", str(one)])
        single_first_row_s = _first_row(one / "results.sqlite") - started
        launched_s = _run(["run", args.suite, "--out", str(many), "--launcher", args.launcher,
                           "--tasks", str(args.tasks)])
        drop = ["encode_rtf", "decode_rtf"]
        keys = ["dataset", "utterance", "codec", "bitrate"]
        a = load_results(one).drop(columns=drop).sort_values(keys).reset_index(drop=True)
        b = load_results(many).drop(columns=drop).sort_values(keys).reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b)
        record = json.loads((many / "launcher.json").read_text())
        manifest = json.loads((many / "manifest.json").read_text())["launcher"]
        tasks = []
        for tag, attempts in sorted(record["attempts"].items()):
            entry = manifest["tasks_run"][tag][-1]
            first = _first_row(many / f"results.shard-{tag}.sqlite")
            tasks.append({"shard": tag, "job": attempts[-1]["job_id"],
                          "submit_to_first_row_s": round(first - attempts[-1]["submitted"], 2),
                          "task_run_s": round(entry["finished"] - entry["started"], 2)})
    print(json.dumps({"suite": args.suite, "rows": len(a), "rows_equal": True, "single_process_s": round(single_s, 2),
                      "single_process_start_to_first_row_s": round(single_first_row_s, 2),
                      f"{args.launcher}_{args.tasks}_tasks_s": round(launched_s, 2),
                      "ratio": round(launched_s / single_s, 3), "merge_s": manifest["merge_s"], "tasks": tasks},
                     indent=1))


if __name__ == "__main__":
    main()
