"""The ``complex_rvqvae`` adapter and the bitrate arithmetic (6 and 12 kbps from one model)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from codecbench.suite import check_options
from codecbench.codecs import CODECS, CodecUnavailable, Payload
from codecbench.errors import ConfigError
from complex_rvqvae.config import load_config


@pytest.mark.parametrize("name, rate, hop", [("48k", 48000, 528), ("24k", 24000, 264), ("tiny", 16000, 176)])
def test_bitrate_per_stage_count_is_exact(name, rate, hop):
    cfg = load_config(name)[0]
    assert cfg.sample_rate == rate and cfg.samples_per_frame == hop
    assert math.isclose(cfg.kbps_per_stage, 1.0, rel_tol=1e-12)
    assert cfg.stages_for(6) == 6 and cfg.stages_for(12) == 12
    for kbps, stages in ((6, 6), (12, 12)):
        frames = 909  # 909 frames of hop samples: duration 909 * hop / rate
        payload = Payload.from_codes(np.zeros((stages, frames), np.int32), cfg.codebook_size, frames * hop)
        assert math.isclose(payload.kbps(frames * hop / rate), kbps, rel_tol=1e-12)
    with pytest.raises(ValueError, match="allowed: 1, 2, 3"):
        cfg.stages_for(5.5)
    with pytest.raises(ValueError, match="allowed"):
        cfg.stages_for(13)


def test_adapter_round_trip_6_and_12_kbps_from_one_checkpoint(tiny_checkpoint):
    cls = CODECS.get("complex_rvqvae")
    rng = np.random.default_rng(0)
    n = 176 * 50 + 37  # not a whole number of frames: output must be trimmed to it
    audio = (0.1 * rng.standard_normal((1, n))).astype(np.float32)
    decoded = {}
    for kbps in (6, 12):
        codec = cls(bitrate=kbps, checkpoint=str(tiny_checkpoint))
        assert codec.unavailable_reason() is None and codec.sample_rate == 16000
        payload = codec.encode(audio)
        assert payload.codes.shape == (kbps, 51) and payload.codes.dtype == np.int32
        assert payload.codes.min() >= 0 and payload.codes.max() < 2048 and payload.bits_per_code == 11
        assert math.isclose(payload.kbps(n / 16000), 51 * kbps * 11 / (n / 16000) / 1000)
        out = codec.decode(payload)
        assert out.shape == (1, n) and out.dtype == np.float32 and np.all(np.isfinite(out))
        np.testing.assert_array_equal(codec.decode(payload), out)  # deterministic
        decoded[kbps] = out
        assert codec.identity()["weights"] and codec.identity()["n_stages"] == kbps
    assert not np.array_equal(decoded[6], decoded[12])
    # Whole frames: exactly 6 / 12 kbps.
    exact = codec.encode(audio[:, : 176 * 50])
    assert math.isclose(exact.kbps(176 * 50 / 16000), 12.0, rel_tol=1e-12)


def test_adapter_rejects_bad_bitrates_and_reports_missing_checkpoint(tmp_path, tiny_checkpoint):
    cls = CODECS.get("complex_rvqvae")
    with pytest.raises(ValueError, match="allowed: 1, 2"):
        cls(bitrate=7.5, checkpoint=str(tiny_checkpoint))
    missing = cls(bitrate=6, checkpoint=str(tmp_path / "nope.pt"))
    assert "does not exist" in missing.unavailable_reason()
    assert missing.sample_rate == 48000  # default config when nothing is stored
    with pytest.raises(CodecUnavailable):
        missing.encode(np.zeros((1, 100), np.float32))
    assert "no weights" in cls(bitrate=12).unavailable_reason()
    assert check_options(cls, dict.fromkeys(("checkpoint", "config", "chunk_seconds")), ("bitrate", "device")) is None
    # An explicit config must match the weights.
    wrong = cls(bitrate=6, checkpoint=str(tiny_checkpoint), config="48k")
    from codecbench.codecs import CodecError

    with pytest.raises(CodecError, match="do not match"):
        wrong.encode(np.zeros((1, 480), np.float32))


def test_config_errors_name_the_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("base: tiny\nmodel:\n  chanels: [1, 2]\n")
    with pytest.raises(ConfigError, match="unknown key 'model.chanels'"):
        load_config(bad)
    bad.write_text("model:\n  n_fft: 200\n")
    with pytest.raises(ConfigError, match="divisible by 16"):
        load_config(bad)
    bad.write_text("model:\n  bitrates: [6, 6.5]\n")
    with pytest.raises(ConfigError, match="6.5 kbps is not a whole number"):
        load_config(bad)
    with pytest.raises(ConfigError, match="model.activation"):  # built in code, not read from YAML
        dataclasses.replace(load_config("tiny")[0], activation="relu")
    with pytest.raises(ConfigError, match=r"config 'no_such' not found; give a YAML or JSON path or one of 24k, 48k, tiny"):
        load_config("no_such")
