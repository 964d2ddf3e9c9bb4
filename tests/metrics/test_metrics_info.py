"""Metric metadata (intrusive, weights + licence, device, batchable) and `codecbench list metrics`."""

from __future__ import annotations

import pytest

from codecbench.cli import main
from codecbench.metrics import METRICS, MetricInfo, ModelWeights


def test_info_defaults_describe_a_full_reference_cpu_dsp_metric() -> None:
    info = MetricInfo(sample_rate=16000, higher_is_better=True)
    assert info.intrusive and info.weights == () and info.device == "cpu" and not info.batchable


def test_every_metric_with_weights_names_their_source_and_licence() -> None:
    for name in METRICS.names():
        for item in METRICS.get(name).info.weights:
            assert isinstance(item, ModelWeights) and item.name and item.source and item.licence, name


def test_list_metrics_shows_kind_device_and_model_licences(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "metrics"]) == 0
    out = capsys.readouterr().out
    pesq = next(line for line in out.splitlines() if line.startswith("pesq_wb "))
    assert "full-reference" in pesq and "; cpu;" in pesq
    lines = out.splitlines()
    visqol = lines.index(next(line for line in lines if line.startswith("visqol_audio ")))
    assert "licence Apache-2.0" in lines[visqol + 1] and "libsvm_nu_svr_model.txt" in lines[visqol + 1]


def test_list_metrics_marks_non_intrusive_metrics_and_backend_licences(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "metrics"]) == 0
    lines = capsys.readouterr().out.splitlines()
    dnsmos = lines.index(next(line for line in lines if line.startswith("dnsmos_ovrl ")))
    assert "non-intrusive" in lines[dnsmos] and "licence MIT" in lines[dnsmos + 1]
    speaker = lines.index(next(line for line in lines if line.startswith("speaker_sim ")))
    assert "full-reference" in lines[speaker]
    assert "[backend: resemblyzer]" in lines[speaker + 1] and "licence Apache-2.0" in lines[speaker + 1]
    assert "[backend: wavlm_sv]" in lines[speaker + 2] and "wavlm_base_plus_sv" in lines[speaker + 2]
    for name in ("f0_rmse", "f0_corr", "vuv_f1"):
        assert not METRICS.get(name).info.weights and METRICS.get(name).info.intrusive
