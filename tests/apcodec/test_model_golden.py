"""Golden vectors from the official code (tiny widths, random weights) and checkpoint round trips."""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import soundfile as sf
import torch

from apcodec.checkpoint import (CheckpointError, load_checkpoint, load_official_checkpoint, save_checkpoint,
                                save_official_checkpoint)
from apcodec.config import ModelConfig, load_config
from apcodec.model import APCodec


@functools.lru_cache(maxsize=2)
def _load_golden(base: Path) -> dict:
    cfg = ModelConfig.from_official(json.loads((base / "config.json").read_text()))
    model = load_official_checkpoint(cfg, base / "encoder_00000000", base / "decoder_00000000").eval()
    audio, _ = sf.read(base / "input.wav", dtype="float32")
    expected = dict(np.load(base / "expected.npz"))
    return {"base": base, "cfg": cfg, "model": model, "audio": torch.from_numpy(audio)[None], "expected": expected}


@pytest.fixture
def golden(fixture_file: Callable[..., Path]) -> dict:
    return _load_golden(fixture_file("apcodec_golden_tiny"))


def _t(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(array)


def test_golden_config_equals_bundled_tiny(golden: dict) -> None:
    assert golden["cfg"] == load_config("tiny").model


def test_golden_analysis(golden: dict) -> None:
    exp = golden["expected"]
    spectra = golden["model"].analyze(golden["audio"])
    # log(|X| + 1e-5) is ill-conditioned where |X| ~ 1e-5, FFT libraries differ in the last ulp.
    assert torch.allclose(spectra.logamp, _t(exp["logamp"]), atol=1e-3, rtol=0)
    strong = spectra.logamp > math.log(1e-2)
    diff = torch.remainder(spectra.pha - _t(exp["pha"]) + math.pi, 2 * math.pi) - math.pi
    assert diff[strong].abs().max() < 1e-4


def test_golden_end_to_end(golden: dict) -> None:
    model, exp = golden["model"], golden["expected"]
    with torch.no_grad():
        out = model(golden["audio"])
    assert torch.equal(out.quantized.codes, _t(exp["codes"]))
    assert torch.allclose(out.quantized.latent, _t(exp["latent"]), atol=1e-5)
    assert torch.allclose(out.decoded.audio, _t(exp["audio"]), atol=1e-5)


def test_golden_each_stage_from_expected_inputs(golden: dict) -> None:
    model, exp = golden["model"], golden["expected"]
    with torch.no_grad():
        latent = model.encode_latent(_t(exp["logamp"]), _t(exp["pha"]))
        assert torch.allclose(latent, _t(exp["latent_pre_vq"]), atol=1e-5, rtol=1e-5)
        q = model.quantize(_t(exp["latent_pre_vq"]))
        assert torch.equal(q.codes, _t(exp["codes"]))
        assert torch.allclose(q.latent, _t(exp["latent"]), atol=1e-5, rtol=1e-5)
        assert torch.allclose(model.quantizer.from_codes(_t(exp["codes"])), _t(exp["latent"]), atol=1e-5)
        dec = model.decode_latent(_t(exp["latent"]))
    assert torch.allclose(dec.logamp, _t(exp["dec_logamp"]), atol=1e-5, rtol=1e-5)
    assert torch.allclose(dec.audio, _t(exp["audio"]), atol=1e-5, rtol=1e-5)
    # rea/imag go through atan2(I, R): where R and I are both ~0 the angle is ill-conditioned.
    for name in ("rea", "imag"):
        assert torch.allclose(getattr(dec, name), _t(exp[f"dec_{name}"]), atol=3e-4, rtol=0), name
    wrapped = torch.remainder(dec.pha - _t(exp["dec_pha"]) + math.pi, 2 * math.pi) - math.pi
    assert wrapped.abs().max() < 1e-3  # atan2 near the real axis; rea/imag above are the real check


def test_inference_api_matches_golden(golden: dict) -> None:
    model, exp = golden["model"], golden["expected"]
    codes = model.encode(golden["audio"])
    assert torch.equal(codes, _t(exp["codes"]))
    audio = model.decode(codes)
    assert torch.allclose(audio, _t(exp["audio"])[:, 0], atol=1e-5)


def test_official_export_reload_round_trip(golden: dict, tmp_path: Path) -> None:
    enc, dec = save_official_checkpoint(golden["model"], tmp_path, step=1234)
    assert enc.name == "encoder_00001234" and dec.name == "decoder_00001234"
    original = torch.load(golden["base"] / "encoder_00000000", weights_only=True)["encoder"]
    exported = torch.load(enc, weights_only=True)["encoder"]
    assert exported.keys() == original.keys()
    assert all(torch.equal(exported[k], original[k]) for k in original)
    again = load_official_checkpoint(golden["cfg"], enc, dec)
    x = golden["audio"]
    assert torch.equal(again.encode(x), golden["model"].encode(x))


def test_folded_model_exports_official_format(golden: dict, tmp_path: Path) -> None:
    folded = load_official_checkpoint(golden["cfg"], golden["base"] / "encoder_00000000",
                                      golden["base"] / "decoder_00000000").remove_weight_norm()
    path = save_checkpoint(folded, tmp_path / "tiny.pt")
    with pytest.raises(CheckpointError, match="prepare_for_inference"):
        save_checkpoint(folded.prepare_for_inference(), tmp_path / "fused.pt")
    again = load_checkpoint(path)
    x = golden["audio"]
    assert torch.allclose(again.decode(again.encode(x)), golden["model"].decode(golden["model"].encode(x)), atol=1e-5)


def test_mismatched_checkpoint_is_one_clear_error(golden: dict) -> None:
    with pytest.raises(CheckpointError, match="check the config"):
        load_official_checkpoint(ModelConfig(), golden["base"] / "encoder_00000000", None)
    with pytest.raises(CheckpointError, match="has no 'decoder' entry"):
        load_official_checkpoint(golden["cfg"], None, golden["base"] / "encoder_00000000")
    with pytest.raises(CheckpointError, match="not found"):
        APCodec.from_config(golden["cfg"]) and load_official_checkpoint(golden["cfg"], golden["base"] / "nope", None)
