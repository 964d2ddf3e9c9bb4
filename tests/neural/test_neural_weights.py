"""Weights resolution (explicit path, HF cache), listing, and fast failure of fetch offline."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytest.importorskip("huggingface_hub")

from codecbench import weights  # noqa: E402
from codecbench.cli import main  # noqa: E402


def _fake_cache(cache: Path, repo_id: str, files: dict[str, bytes]) -> Path:
    """Lay out files as huggingface_hub's cache does (refs/main -> snapshots/<rev>/...)."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0123abcd")
    snap = repo / "snapshots" / "0123abcd"
    snap.mkdir(parents=True)
    for name, data in files.items():
        (snap / name).write_bytes(data)
    return snap


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "hub"
    folder.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(folder))
    return folder


def test_resolve_from_cache_and_explicit(cache: Path, tmp_path: Path) -> None:
    assert weights.resolve("encodec_24khz") is None
    snap = _fake_cache(cache, "facebook/encodec_24khz", {"config.json": b"{}", "model.safetensors": b"x"})
    assert weights.resolve("encodec_24khz") == snap
    ckpt = _fake_cache(cache, "Dongchao/AcademiCodec", {"HiFi-Codec-16k-320d": b"ckpt"})
    assert weights.resolve("hificodec_16k_320d") == ckpt / "HiFi-Codec-16k-320d"
    assert weights.resolve("hificodec_24k_240d") is None
    # config without weights in the cache is not "present"
    _fake_cache(cache, "descript/dac_16khz", {"config.json": b"{}"})
    assert weights.resolve("dac_16khz") is None
    # explicit paths win and are never replaced by the cache
    own = tmp_path / "own"
    own.mkdir()
    (own / "config.json").write_text("{}")
    (own / "pytorch_model.bin").write_bytes(b"x")
    assert weights.resolve("encodec_24khz", str(own)) == own
    assert weights.resolve("encodec_24khz", str(own / "config.json")) == own
    assert weights.resolve("encodec_24khz", str(tmp_path / "missing")) is None
    assert weights.weights_digest(own).keys() == {"config.json", "pytorch_model.bin"}


def test_list_weights_and_cli(cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fake_cache(cache, "descript/dac_44khz", {"config.json": b"{}", "model.safetensors": b"x"})
    status = {s.name: s for s in weights.list_weights()}
    assert set(status) == {"encodec_24khz", "encodec_48khz", "dac_16khz", "dac_24khz", "dac_44khz",
                           "hificodec_16k_320d", "hificodec_24k_320d", "hificodec_24k_240d", "wavlm_base_plus_sv",
                           "whisper_tiny", "whisper_base", "whisper_small", "whisper_medium", "whisper_large_v3",
                           "utmos22_strong"}
    assert status["whisper_large_v3"].repo_id == "openai/whisper-large-v3"
    assert weights.spec("whisper_small").extra_files == ("*.txt",)  # the tokenizer's merges.txt is fetched too
    assert weights.spec("utmos22_strong").kind == "file" and not status["utmos22_strong"].present
    assert status["dac_44khz"].present and status["dac_44khz"].path is not None
    assert not status["encodec_48khz"].present and status["encodec_48khz"].path is None
    assert status["hificodec_24k_240d"].repo_id == "Dongchao/AcademiCodec"
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert "dac_44khz" in out and str(cache) in out
    assert main(["weights", "fetch", "dac_44khz"]) == 0  # already cached: no network
    assert main(["weights", "fetch", "encodex_24khz"]) != 0
    assert "did you mean 'encodec_24khz'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        main(["weights"])
    assert usage.value.code == 2


def test_fetch_fails_fast_when_offline_flag_set(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    with pytest.raises(weights.WeightsError, match="HF_HUB_OFFLINE") as err:
        weights.fetch_weights("encodec_24khz")
    assert time.monotonic() - start < 2 and "\n" not in str(err.value)


def test_fetch_fails_fast_when_hub_unreachable(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("https_proxy", raising=False)
    monkeypatch.setattr(constants, "ENDPOINT", "https://127.0.0.1:9")  # nothing listens there
    start = time.monotonic()
    with pytest.raises(weights.WeightsError, match="unreachable"):
        weights.fetch_weights("hificodec_16k_320d")
    assert time.monotonic() - start < 5


def test_fetch_from_the_real_hub_fails_fast_here(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    if weights._reachable(constants.ENDPOINT):
        pytest.skip("the Hugging Face Hub is reachable here: this test is for offline machines")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    start = time.monotonic()
    with pytest.raises(weights.WeightsError) as err:
        weights.fetch_weights("encodec_24khz")
    assert time.monotonic() - start < 2 * weights.CONNECT_TIMEOUT_S + 1
    assert "\n" not in str(err.value)
