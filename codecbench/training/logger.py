"""Scalar logging to CSV (always) and TensorBoard (when the package is importable).

The CSV is long-format (``step, epoch, split, name, value, time``) so tasks can log any set of
scalars without a fixed header; ``pandas.read_csv(...).pivot_table(...)`` gives a wide table.
On resume, rows past the resumed step (written by the interrupted run) are dropped first.
"""

from __future__ import annotations

import csv
import logging
import time
from pathlib import Path
from typing import Mapping, Optional

LOG = logging.getLogger(__name__)
HEADER = ["step", "epoch", "split", "name", "value", "time"]


class ScalarLogger:
    """Append scalars; only the process that owns the run directory should create one."""

    def __init__(self, out_dir: Path, tensorboard: bool = True, resume_step: Optional[int] = None) -> None:
        self.path = Path(out_dir) / "metrics.csv"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is not None and self.path.exists():
            self._truncate(resume_step)
        new = not self.path.exists()
        self._handle = open(self.path, "a", newline="")
        self._writer = csv.writer(self._handle)
        if new:
            self._writer.writerow(HEADER)
        self._tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(Path(out_dir) / "tensorboard"))
            except ImportError:
                LOG.info("tensorboard is not installed: logging to %s only", self.path)

    def _truncate(self, step: int) -> None:
        with open(self.path, newline="") as handle:
            rows = list(csv.reader(handle))
        kept = [rows[0]] + [r for r in rows[1:] if r and int(r[0]) <= step] if rows else [HEADER]
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", newline="") as handle:
            csv.writer(handle).writerows(kept)
        tmp.replace(self.path)

    def log(self, step: int, epoch: int, split: str, values: Mapping[str, float]) -> None:
        """Write one row per scalar."""
        now = f"{time.time():.3f}"
        for name, value in values.items():
            self._writer.writerow([step, epoch, split, name, f"{float(value):.8g}", now])
            if self._tb is not None:
                self._tb.add_scalar(f"{split}/{name}", float(value), step)
        self._handle.flush()

    def close(self) -> None:
        """Flush and close the files."""
        self._handle.close()
        if self._tb is not None:
            self._tb.close()
