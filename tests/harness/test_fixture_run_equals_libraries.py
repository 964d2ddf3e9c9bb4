"""A run over the published APCodec demo outputs scores exactly what the libraries give directly.

The harness is only allowed to add alignment (recorded) in front of the libraries: PESQ, STOI
and ViSQOL called by hand on the same aligned pairs must reproduce the stored values.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pesq
import pystoi
import pytest
import visqol

from codecbench.alignment import align_pair
from codecbench.audio import load_audio
from codecbench.results import load_results
from codecbench.runner import run_suite
from codecbench.suite import suite_from_text


def test_vctk48_demo_run_equals_direct_library_calls(shared_fixtures: Path, tmp_path: Path) -> None:
    root = shared_fixtures / "apcodec_demo" / "vctk48"
    out = tmp_path / "run"
    text = f"""
name: vctk48
out: {out}
datasets: [{{name: vctk48, type: folder, options: {{path: {root / 'N_48'}}}}}]
codecs:
  - {{name: APCodec, adapter: precomputed, bitrates: [6], options: {{path: {root / 'AP_48_6'}}}}}
  - {{name: Encodec, adapter: precomputed, bitrates: [6], options: {{path: {root / 'En_48_6'}}}}}
metrics: [pesq_wb, stoi, visqol_audio]
"""
    summary = run_suite(suite_from_text(text, "vctk48.yaml"), jobs=2, progress=False)
    assert summary.ok == 4 and summary.failed == 0
    df = load_results(out, include_paths=True)
    assert len(df) == 4 and df[["pesq_wb", "stoi", "visqol_audio"]].notna().all().all()

    api = visqol.VisqolApi()
    api.create(mode="audio")
    for row in df.itertuples():
        ref, ref_sr = load_audio(row.reference_path)
        deg, deg_sr = load_audio(row.decoded_path)
        pairs, info = align_pair(ref, ref_sr, deg, deg_sr, [16000, 10000, 48000])
        assert info.lag_samples == row.lag_samples
        r16, d16 = pairs[16000]
        assert pesq.pesq(16000, r16.astype(np.float64), d16.astype(np.float64), "wb") == pytest.approx(row.pesq_wb, abs=1e-9)
        r10, d10 = pairs[10000]
        assert pystoi.stoi(r10.astype(np.float64), d10.astype(np.float64), 10000) == pytest.approx(row.stoi, abs=1e-9)
        r48, d48 = pairs[48000]
        direct = api.measure_from_arrays(r48.astype(np.float64), d48.astype(np.float64), 48000).moslqo
        assert direct == pytest.approx(row.visqol_audio, abs=1e-6)
    # Sanity on the numbers themselves: 48 kHz APCodec at 6 kbps is a good codec.
    assert df[df.codec == "APCodec"].visqol_audio.mean() > 3.5
