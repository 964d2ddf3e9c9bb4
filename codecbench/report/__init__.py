"""Static HTML report of a run directory (tables with CIs, BD deltas, RD plots, demo players).

``build_report`` is imported lazily so that ``import codecbench.report`` (e.g. to validate a
suite's ``report:`` section with :class:`ReportOptions`) does not load matplotlib.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from codecbench.report.options import ReportOptions


def build_report(run_dir: Path | str, out_dir: Path | str | None = None, anchor: Optional[str] = None,
                 options: Optional[ReportOptions] = None) -> Path:
    """Render ``run_dir`` into a static site; see :func:`codecbench.report.build.build_report`."""
    from codecbench.report.build import build_report as _build

    return _build(run_dir, out_dir, anchor, options)


__all__ = ["ReportOptions", "build_report"]
