"""Listening tests from a run: MUSHRA / AB / MOS pages, webMUSHRA export, and their analysis.

Entry points are imported lazily so that importing the package stays cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence


def build_listening_test(run_dir: Path | str, test: str = "mushra", items: Optional[int] = None,
                         out_dir: Path | str | None = None, seed: int = 0, **kwargs: Any) -> Path:
    """Generate a static listening test; see :func:`codecbench.listening.generate.build_listening_test`."""
    from codecbench.listening.generate import build_listening_test as _build

    return _build(run_dir, test, items, out_dir, seed, **kwargs)


def analyze(results_paths: Sequence[Path | str], out_dir: Path | str | None = None,
            run_dir: Path | str | None = None) -> Any:
    """Analyse results files; see :func:`codecbench.listening.analysis.analyze`."""
    from codecbench.listening.analysis import analyze as _analyze

    return _analyze(results_paths, out_dir, run_dir)


__all__ = ["analyze", "build_listening_test"]
