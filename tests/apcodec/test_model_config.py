"""ModelConfig validation, bundled YAML configs and overlays."""

from __future__ import annotations

from pathlib import Path

import pytest

from apcodec.config import ConfigError, ModelConfig, bundled_configs, load_config

EXPECTED_KBPS = {
    "48k_6kbps": 6.0, "48k_12kbps": 12.0, "24k_3kbps": 3.0, "24k_6kbps": 6.0, "16k_2kbps": 2.0, "16k_4kbps": 4.0,
    "apcodec_plus_48k_3kbps": 3.0, "apcodec_plus_48k_4.5kbps": 4.5, "apcodec_plus_48k_6kbps": 6.0,
    "apcodec_s_48k_6kbps": 6.0,
}


@pytest.mark.parametrize("name", sorted(EXPECTED_KBPS))
def test_bundled_config_bitrates(name: str) -> None:
    assert load_config(name).model.bitrate == pytest.approx(EXPECTED_KBPS[name])


def test_every_bundled_config_loads() -> None:
    names = bundled_configs()
    assert set(EXPECTED_KBPS) | {"tiny", "tiny_s"} <= set(names)
    for name in names:
        exp = load_config(name)
        assert isinstance(exp.model, ModelConfig)


def test_paper_config_is_default_and_causal_variant() -> None:
    assert load_config("48k_6kbps").model == ModelConfig()
    s = load_config("apcodec_s_48k_6kbps").model
    assert s.causal and s.frame_rate == 150.0
    assert ModelConfig().allowed_bitrates() == pytest.approx([1.5, 3.0, 4.5, 6.0])
    assert ModelConfig().codebooks_for_bitrate(4.5) == 3
    with pytest.raises(ValueError, match="allowed: 1.5, 3, 4.5, 6"):
        ModelConfig().codebooks_for_bitrate(5.0)


def test_unknown_key_names_file_and_suggests(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("base: tiny\nmodel:\n  num_layer: 3\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml.*model\.num_layer.*did you mean 'num_layers'"):
        load_config(path)


def test_overlay_and_sections_kept(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text("base: 48k_6kbps\nmodel:\n  n_codebooks: 2\nloss:\n  mel: 45\ntrain:\n  batch_size: 4\n")
    exp = load_config(path)
    assert exp.model.n_codebooks == 2 and exp.model.channels == 256
    assert exp.loss == {"mel": 45} and exp.train == {"batch_size": 4}


@pytest.mark.parametrize("changes, match", [
    ({"branch_channels": 31}, "even"),
    ({"codebook_size": 1000}, "power of two"),
    ({"channels": 0}, "positive"),
    ({"win_size": 2048}, "n_fft"),
    ({"causal": True, "downsample_kernel": 7}, "downsample_kernel"),
])
def test_cross_field_validation(changes: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        ModelConfig(**changes)


def test_missing_config_lists_bundled() -> None:
    with pytest.raises(ConfigError, match="did you mean '48k_6kbps'"):
        load_config("48k_6kbp")
