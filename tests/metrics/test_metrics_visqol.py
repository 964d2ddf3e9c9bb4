"""visqol_speech defaults to the lattice mapper (Google ViSQOL v3.3+), names it, and never falls back."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pathlib import Path

import codecbench.metrics.visqol as visqol_metric
from codecbench.scoring import MetricConfigError, build_metrics, score_pair


def test_lattice_is_the_default_and_the_identity_names_the_mapper() -> None:
    default, poly = build_metrics(["visqol_speech", ("visqol_speech", {"mapper": "polynomial"})])
    assert default.mapper == "lattice" and default.label() == "visqol_speech"
    assert default.identity()["mapper"] == "lattice" and "ai-edge-litert==" in default.identity()["implementation"]
    assert poly.label() == "visqol_speech[mapper=polynomial]" and poly.identity()["mapper"] == "polynomial"
    assert "ai-edge-litert" not in poly.identity()["implementation"]
    with pytest.raises(MetricConfigError, match="mapper must be one of lattice, polynomial"):
        build_metrics([("visqol_speech", {"mapper": "exponential"})])


def test_missing_runtime_is_one_clear_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(visqol_metric, "lattice_runtime_missing", lambda: True)
    with pytest.raises(MetricConfigError) as caught:
        build_metrics(["visqol_speech"])
    message = str(caught.value)
    assert "\n" not in message and "ai-edge-litert" in message and "mapper: polynomial" in message
    assert build_metrics([("visqol_speech", {"mapper": "polynomial"})])[0].mapper == "polynomial"


def test_lattice_that_cannot_load_fails_instead_of_falling_back(monkeypatch: pytest.MonkeyPatch) -> None:
    from visqol import VisqolApi

    calls: list = []

    def create(self, mode: str = "audio", use_lattice_model=None, **kwargs) -> None:
        calls.append(use_lattice_model)
        if use_lattice_model:
            raise ImportError("ai-edge-litert is required for the lattice speech quality mapper.\nInstall ...")
        raise AssertionError("the polynomial mapper must not be created as a fallback")

    monkeypatch.setattr(visqol_metric, "_APIS", {})
    monkeypatch.setattr(VisqolApi, "create", create)
    rate = 16000
    t = np.arange(2 * rate) / rate
    ref = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    result = score_pair(ref[None], rate, ref[None], rate, ["visqol_speech"]).results["visqol_speech"]
    assert math.isnan(result.value) and calls == [True]
    assert result.reason.startswith("ViSQOL speech: the lattice mapper cannot load (ai-edge-litert is required")
    assert "mapper: polynomial" in result.reason and "\n" not in result.reason


def test_all_extra_installs_the_lattice_runtime() -> None:
    """``pip install codecbench[all]`` must bring ai-edge-litert, or the default visqol_speech cannot run."""
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    pulled = extras["all"][0].split("[", 1)[1].rstrip("]").split(",")
    assert any(req.startswith("ai-edge-litert") for name in pulled for req in extras[name])


def test_first_run_says_it_compiles_the_kernels_and_later_runs_are_silent(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from visqol import numba_accel  # visqol-python[accel] is a required dependency

    assert numba_accel.has_numba(), "numba is missing: visqol-python[accel] is a required dependency"
    from codecbench.metrics import visqol as visqol_metric

    compiled: list[str] = []
    monkeypatch.setattr(numba_accel, "warmup", lambda: compiled.append("visqol"))
    monkeypatch.setattr(visqol_metric, "compile_kernels", lambda: compiled.append("banded"))
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "numba"))
    said: list[str] = []
    visqol_metric.prepare_kernels(said.append)
    assert compiled == ["visqol", "banded"] and len(said) == 2
    assert said[0].startswith("compiling ViSQOL kernels") and str(tmp_path / "numba") in said[0]
    for name in ("visqol/numba_accel._dp_forward_pass-304.py311.nbi",
                 "codecbench/metrics/visqol_kernels._banded_gammatone-48.py311.nbi"):
        said.clear()
        visqol_metric.prepare_kernels(said.append)
        assert said, f"silent before {name} is cached"
        cached = tmp_path / "numba" / name
        cached.parent.mkdir(parents=True)
        cached.write_bytes(b"")
    said.clear()
    compiled.clear()
    visqol_metric.prepare_kernels(said.append)
    assert said == [] and compiled == []
