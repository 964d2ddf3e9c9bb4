"""codecbench: fair, resumable evaluation of neural and classic audio codecs.

The public API is small and loaded lazily (importing codecbench imports no heavy backend)::

    from codecbench import load_suite, run_suite, load_results
    summary = run_suite(load_suite("suites/quickstart.yaml"))
    df = load_results(summary.run_dir)   # one row per utterance x codec x bitrate
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "load_suite": "codecbench.suite",
    "run_suite": "codecbench.runner",
    "load_results": "codecbench.results",
    "load_manifest": "codecbench.results",
    "build_report": "codecbench.report",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'codecbench' has no attribute '{name}'")
