"""CODECBENCH_REQUIRE_FIXTURES / _BROWSER / _SLURM: CI fails where a fresh clone skips."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_TEST = "tests/codecs/test_precomputed.py::test_published_demo_outputs"
BROWSER_TEST = "tests/report/test_report_browser.py::test_every_page_loads_clean_over_file_url"
SLURM_TEST = "tests/harness/test_launcher.py::test_launcher_section_becomes_sbatch_options"


def _pytest(test: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CODECBENCH_REQUIRE_")}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", test],
                          cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("switch", ["", "1"])
def test_missing_fixtures_skip_or_fail(tmp_path: Path, switch: str) -> None:
    done = _pytest(FIXTURE_TEST, CODECBENCH_FIXTURES=str(tmp_path / "absent"), CODECBENCH_REQUIRE_FIXTURES=switch)
    out = done.stdout + done.stderr
    if switch:
        assert done.returncode == 1 and "1 failed" in out and "CODECBENCH_REQUIRE_FIXTURES=1: required here" in out, out
    else:
        assert done.returncode == 0 and "1 skipped" in out and "is absent" in out, out


@pytest.mark.parametrize("switch", ["", "1"])
def test_missing_browser_skips_or_fails(tmp_path: Path, switch: str) -> None:
    env = {"PATH": str(tmp_path), "CODECBENCH_CHROMIUM": "", "CODECBENCH_REQUIRE_BROWSER": switch}
    done = _pytest(BROWSER_TEST, **env)
    out = done.stdout + done.stderr
    if switch:
        assert done.returncode == 1 and "CODECBENCH_REQUIRE_BROWSER=1: required here" in out, out
    else:
        assert done.returncode == 0 and "1 skipped" in out and "no Chromium found" in out, out


@pytest.mark.parametrize("switch", ["", "1"])
def test_missing_slurm_skips_or_fails(tmp_path: Path, switch: str) -> None:
    pytest.importorskip("submitit", reason="submitit is not installed (pip install 'codecbench[cluster]')")
    done = _pytest(SLURM_TEST, PATH=str(tmp_path), CODECBENCH_REQUIRE_SLURM=switch)  # no sbatch, no sinfo
    out = done.stdout + done.stderr
    if switch:
        assert done.returncode == 1 and "CODECBENCH_REQUIRE_SLURM=1: required here" in out, out
    else:
        assert done.returncode == 0 and "1 skipped" in out and "Slurm commands not found" in out, out

