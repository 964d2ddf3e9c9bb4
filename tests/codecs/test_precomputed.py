"""The precomputed adapter: decoded files found by item id in a mirrored folder."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from codecbench.codecs import CODECS, CodecError
from codecbench.codecs.precomputed import PrecomputedCodec


def item(item_id: str) -> SimpleNamespace:
    return SimpleNamespace(id=item_id, dataset="toy")


def tone(sample_rate: int, seconds: float = 0.5, channels: int = 1, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    x = 0.3 * np.sin(2 * np.pi * freq * t).astype(np.float32)
    return np.stack([x * (c + 1) / channels for c in range(channels)])


def write(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio.T, sample_rate, subtype="FLOAT" if path.suffix == ".wav" else "PCM_24")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "decoded"
    write(root / "a_first.wav", tone(16000), 16000)
    write(root / "spk1" / "sess" / "utt1.wav", tone(16000, freq=300), 16000)
    write(root / "spk2" / "utt2.flac", tone(16000, channels=2), 16000)
    write(root / "spk3" / "fast.wav", tone(24000, seconds=0.5), 24000)
    return root


def test_finds_nested_files_by_relative_id(folder: Path) -> None:
    codec = CODECS.get("precomputed")(bitrate=6, path=str(folder))
    assert codec.sample_rate == 16000  # from the first file, a_first.wav
    assert codec.has_payload is False and codec.unavailable_reason() is None
    reference = tone(16000, freq=300)
    payload = codec.encode(reference, item("spk1/sess/utt1"))
    assert payload.data == b"" and payload.num_samples == reference.shape[1]
    assert payload.side["path"].endswith(os.path.join("spk1", "sess", "utt1.wav"))
    assert math.isnan(payload.kbps(0)) or payload.bits == 0  # nothing transmitted
    np.testing.assert_array_equal(codec.decode(payload), reference)


def test_flac_fallback_keeps_channels(folder: Path) -> None:
    codec = PrecomputedCodec(path=folder)
    out = codec.decode(codec.encode(tone(16000), item("spk2/utt2")))
    assert out.shape == (2, 8000)
    assert np.max(np.abs(out[1])) > 1.5 * np.max(np.abs(out[0]))


def test_rate_mismatch_is_resampled(folder: Path) -> None:
    codec = PrecomputedCodec(path=folder)
    out = codec.decode(codec.encode(tone(16000), item("spk3/fast")))
    assert out.shape == (1, 8000)
    np.testing.assert_allclose(out[0, 500:-500], tone(16000)[0, 500:-500], atol=1e-3)
    explicit = PrecomputedCodec(path=folder, sample_rate=24000)
    assert explicit.decode(explicit.encode(tone(24000), item("spk1/sess/utt1"))).shape == (1, 12000)


@pytest.mark.parametrize("bad_id", ["../../etc/passwd", "../outside", "/etc/passwd", "spk1/../../outside"])
def test_rejects_path_traversal(folder: Path, bad_id: str) -> None:
    (folder.parent / "outside.wav").write_bytes((folder / "a_first.wav").read_bytes())
    codec = PrecomputedCodec(path=folder)
    with pytest.raises(CodecError, match="outside"):
        codec.encode(tone(16000), item(bad_id))


@pytest.mark.parametrize("bad_id", ["spk1/../a_first", "C:/Windows/x", "spk1\\..\\..\\outside", ""])
def test_id_check_is_lexical(folder: Path, bad_id: str) -> None:
    """'..' is refused even where it stays inside the folder; drive letters and backslashes too."""
    codec = PrecomputedCodec(path=folder)
    with pytest.raises(CodecError, match="points outside"):
        codec.locate(bad_id)


def test_per_file_and_folder_symlinks_to_shared_storage_are_read(folder: Path, tmp_path: Path) -> None:
    shared = tmp_path / "shared_storage"
    write(shared / "u1.wav", tone(16000, freq=500), 16000)
    write(shared / "speaker9" / "u9.wav", tone(16000, freq=600), 16000)
    (folder / "spk4").mkdir()
    (folder / "spk4" / "u1.wav").symlink_to(shared / "u1.wav")
    (folder / "spk9").symlink_to(shared / "speaker9", target_is_directory=True)
    codec = PrecomputedCodec(path=folder)
    for item_id, freq in (("spk4/u1", 500), ("spk9/u9", 600)):
        payload = codec.encode(tone(16000), item(item_id))
        assert payload.side["path"] == str(folder / f"{item_id}.wav")
        np.testing.assert_allclose(codec.decode(payload), tone(16000, freq=freq), atol=1e-6)


def test_folder_of_symlinked_subfolders_is_available_and_fingerprinted(tmp_path: Path) -> None:
    shared = tmp_path / "shared_storage" / "spk1"
    write(shared / "u1.wav", tone(16000), 16000)
    root = tmp_path / "decoded"
    root.mkdir()
    (root / "spk1").symlink_to(shared, target_is_directory=True)
    codec = PrecomputedCodec(path=root)
    assert codec.unavailable_reason() is None and codec.sample_rate == 16000
    before = codec.fingerprint()
    write(shared / "u1.wav", tone(16000, seconds=0.25), 16000)
    assert PrecomputedCodec(path=root).fingerprint() != before


def test_missing_file_names_expected_paths(folder: Path) -> None:
    codec = PrecomputedCodec(path=folder)
    with pytest.raises(CodecError) as info:
        codec.encode(tone(16000), item("spk9/nothing"))
    message = str(info.value)
    assert "\n" not in message
    assert str(folder / "spk9" / "nothing.wav") in message and str(folder / "spk9" / "nothing.flac") in message
    with pytest.raises(CodecError, match="needs the dataset item"):
        codec.encode(tone(16000), None)


def test_missing_folder_is_unavailable(tmp_path: Path) -> None:
    codec = PrecomputedCodec(path=tmp_path / "nope")
    reason = codec.unavailable_reason()
    assert reason and "does not exist" in reason and "\n" not in reason
    with pytest.raises(CodecError, match="does not exist"):
        codec.encode(tone(16000), item("x"))
    with pytest.raises(CodecError, match="'path' is required"):
        PrecomputedCodec()


def test_fingerprint_follows_file_changes(folder: Path) -> None:
    before = PrecomputedCodec(path=folder).identity()
    assert before == PrecomputedCodec(path=folder).identity()
    target = folder / "spk1" / "sess" / "utt1.wav"
    stat = target.stat()
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    touched = PrecomputedCodec(path=folder).identity()
    assert touched["fingerprint"] != before["fingerprint"]
    write(folder / "new.wav", tone(16000), 16000)
    assert PrecomputedCodec(path=folder).identity()["fingerprint"] != touched["fingerprint"]
    assert PrecomputedCodec(path=folder, extensions=(".flac",)).identity() != before


def test_published_demo_outputs(fixture_file: Callable[..., Path]) -> None:
    root = fixture_file("apcodec_demo", "vctk48", "AP_48_6").parent
    codec = PrecomputedCodec(bitrate=6, path=root / "AP_48_6")
    assert codec.sample_rate == 48000
    for item_id in ("1", "2"):
        ref, rate = sf.read(root / "N_48" / f"{item_id}.wav", dtype="float32", always_2d=True)
        out = codec.decode(codec.encode(ref.T, item(item_id)))
        assert rate == 48000 and out.ndim == 2
        assert abs(out.shape[1] - ref.shape[0]) < 2000  # demo files differ by codec padding only
        n = min(out.shape[1], ref.shape[0])
        assert np.corrcoef(out[0, :n], ref[:n, 0])[0, 1] > 0.5  # the same utterance, roughly aligned
