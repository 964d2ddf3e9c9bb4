"""Where the pretrained weights of the neural codecs come from.

Resolution order for a codec entry (and for a metric's model, e.g. ``speaker_sim``'s WavLM): an explicit path in its options (``weights`` / ``checkpoint``
/ ``model_dir``), then the local Hugging Face cache (``HF_HUB_CACHE`` / ``HF_HOME``). Nothing is
downloaded implicitly: a benchmark run never touches the network. ``codecbench weights fetch NAME``
downloads once (online) and ``codecbench weights list`` shows what is present.

Downloads fail fast: when ``HF_HUB_OFFLINE`` is set, or when the Hub endpoint cannot be reached
within a few seconds, :func:`fetch_weights` raises :class:`WeightsError` with one line instead of
letting ``huggingface_hub`` retry for half a minute.
"""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Optional
from urllib.parse import urlparse

from codecbench.errors import CodecStageError

CONNECT_TIMEOUT_S = 3.0
TRANSFORMERS_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


class WeightsError(CodecStageError):
    """Weights unknown, absent or not downloadable. One line saying what to do."""


@dataclass(frozen=True)
class WeightsSpec:
    """A known set of pretrained weights on the Hugging Face Hub.

    Attributes:
        name: codecbench name (``encodec_24khz``, ``hificodec_16k_320d``, ...).
        repo_id: Hub repository.
        kind: ``"transformers"`` (a model folder with ``config.json`` + weights, loaded with
            ``from_pretrained``) or ``"file"`` (one checkpoint file, ``filename``).
        filename: the checkpoint file for ``kind == "file"``.
        description: one line for ``codecbench weights list``.
        extra_files: more file patterns ``fetch`` downloads for a ``transformers`` folder besides
            ``*.json`` and the weights (e.g. a tokenizer's ``*.txt``).
    """

    name: str
    repo_id: str
    kind: str
    filename: str = ""
    description: str = ""
    extra_files: tuple[str, ...] = ()


@dataclass(frozen=True)
class WeightsStatus:
    """Whether one known weight set is available locally (``path``: folder or file, or None)."""

    name: str
    repo_id: str
    present: bool
    path: Optional[Path]
    description: str


def _hf(name: str, repo: str, text: str) -> WeightsSpec:
    return WeightsSpec(name, repo, "transformers", description=text)


def _hc(tag: str, text: str) -> WeightsSpec:
    return WeightsSpec(f"hificodec_{tag.replace('-', '_')}", "Dongchao/AcademiCodec", "file",
                       filename=f"HiFi-Codec-{tag}", description=text)


KNOWN_WEIGHTS: dict[str, WeightsSpec] = {spec.name: spec for spec in (
    _hf("encodec_24khz", "facebook/encodec_24khz", "Encodec 24 kHz mono, 1.5-24 kbps (transformers)"),
    _hf("encodec_48khz", "facebook/encodec_48khz", "Encodec 48 kHz stereo, 3-24 kbps (transformers)"),
    _hf("dac_16khz", "descript/dac_16khz", "DAC 16 kHz, 12 codebooks, up to 6 kbps (transformers)"),
    _hf("dac_24khz", "descript/dac_24khz", "DAC 24 kHz, 32 codebooks, up to 24 kbps (transformers)"),
    _hf("dac_44khz", "descript/dac_44khz", "DAC 44.1 kHz, 9 codebooks, up to 7.75 kbps (transformers)"),
    _hc("16k-320d", "HiFi-Codec 16 kHz, 320x down, 2 kbps (AcademiCodec checkpoint)"),
    _hc("24k-320d", "HiFi-Codec 24 kHz, 320x down, 3 kbps (AcademiCodec checkpoint)"),
    _hc("24k-240d", "HiFi-Codec 24 kHz, 240x down, 4 kbps (AcademiCodec checkpoint)"),
    _hf("wavlm_base_plus_sv", "microsoft/wavlm-base-plus-sv",
        "WavLM Base+ speaker verification, metric speaker_sim backend wavlm_sv (transformers)"),
    *(WeightsSpec(f"whisper_{size.replace('-', '_')}", f"openai/whisper-{size}", "transformers",
                  description=f"Whisper {size} ASR, metrics wer/cer/dwer/dcer (transformers)", extra_files=("*.txt",))
      for size in ("tiny", "base", "small", "medium", "large-v3")),
    WeightsSpec("utmos22_strong", "Blinorot/UTMOS-PyTorch", "file", filename="utmos_state_dict.pt",
                description="UTMOS22 strong learner (utmos-pytorch's converted state dict), metric utmos"),
)}


def spec(name: str) -> WeightsSpec:
    """The :class:`WeightsSpec` called ``name`` (one-line error listing the known names)."""
    if name not in KNOWN_WEIGHTS:
        from codecbench.registry import did_you_mean

        raise WeightsError(f"unknown weights '{name}'{did_you_mean(name, list(KNOWN_WEIGHTS))}; "
                           f"known: {', '.join(KNOWN_WEIGHTS)}")
    return KNOWN_WEIGHTS[name]


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache folder in effect (honours ``HF_HUB_CACHE`` / ``HF_HOME``)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    try:
        from huggingface_hub import constants
    except ImportError:  # same default as huggingface_hub
        cache_home = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
        return Path(os.environ.get("HF_HOME") or cache_home / "huggingface") / "hub"
    return Path(constants.HF_HUB_CACHE)


def _cached(repo_id: str, filename: str) -> Optional[Path]:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # nothing can be in a cache that no installed library writes
        return None
    hit = try_to_load_from_cache(repo_id, filename, cache_dir=hf_cache_dir())
    return Path(hit) if isinstance(hit, str) and Path(hit).is_file() else None


def _transformers_dir_ok(folder: Path) -> bool:
    return (folder / "config.json").is_file() and any((folder / f).is_file() for f in TRANSFORMERS_WEIGHT_FILES)


def _from_cache(item: WeightsSpec) -> Optional[Path]:
    if item.kind == "file":
        return _cached(item.repo_id, item.filename)
    config = _cached(item.repo_id, "config.json")
    if config is None:
        return None
    # Both files live in the same snapshot folder when they come from the same revision.
    return config.parent if _transformers_dir_ok(config.parent) else None


def resolve(name: str, explicit: Optional[str] = None) -> Optional[Path]:
    """Local path of the weights ``name``: ``explicit`` if given (and existing), else the HF cache.

    Returns ``None`` when absent (an explicit path that does not exist is *not* replaced by the
    cache: the user asked for that file). For ``transformers`` weights the result is a folder
    with ``config.json``; an explicit ``config.json`` or weights file stands for its folder.
    """
    item = spec(name)
    if explicit:
        path = Path(explicit).expanduser()
        if item.kind == "transformers" and path.is_file():
            path = path.parent
        ok = _transformers_dir_ok(path) if item.kind == "transformers" else path.is_file()
        return path if ok else None
    return _from_cache(item)


def missing_message(name: str, explicit: Optional[str], option: str) -> str:
    """The one-line reason an adapter gives when :func:`resolve` found nothing."""
    item = spec(name)
    if explicit:
        want = "a folder with config.json and model weights" if item.kind == "transformers" else "a checkpoint file"
        return f"{name} weights not found at {explicit} (expected {want}); fix `{option}:` or remove it"
    return (f"{name} weights not found in {hf_cache_dir()}; run `codecbench weights fetch {name}` online "
            f"or set `{option}:` to a local copy")


def _offline() -> bool:
    from huggingface_hub import constants

    flag = os.environ.get("HF_HUB_OFFLINE", "")
    return bool(constants.HF_HUB_OFFLINE) or flag.strip().lower() in ("1", "true", "yes", "on")


def _reachable(url: str, timeout: float = CONNECT_TIMEOUT_S) -> bool:
    """True when a TCP connection to ``url``'s host (or the HTTPS proxy) opens within ``timeout``.

    DNS lookups can block far longer than a socket timeout, so the attempt runs in a daemon
    thread and is abandoned after ``timeout`` seconds.
    """
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    target = urlparse(proxy if proxy else url)
    host, port = target.hostname, target.port or (443 if target.scheme == "https" else 80)
    if not host:
        return False
    result: list[bool] = []

    def attempt() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def fetch_weights(name: str) -> Path:
    """Download the weights ``name`` into the HF cache (if not there yet) and return their path."""
    item = spec(name)
    have = _from_cache(item)
    if have is not None:
        return have
    try:
        import huggingface_hub  # noqa: F401
    except ImportError:
        raise WeightsError(f"cannot fetch {name}: huggingface_hub is not installed; "
                           "pip install 'codecbench[neural]'") from None
    if _offline():
        raise WeightsError(f"cannot fetch {name}: HF_HUB_OFFLINE is set; unset it on a machine with internet")
    from huggingface_hub import constants, hf_hub_download, snapshot_download

    if not _reachable(constants.ENDPOINT):
        raise WeightsError(f"cannot fetch {name}: {constants.ENDPOINT} is unreachable (no internet?); "
                           f"download {item.repo_id} elsewhere and set the codec's weights path")
    try:
        if item.kind == "file":
            return Path(hf_hub_download(item.repo_id, item.filename, cache_dir=hf_cache_dir(), etag_timeout=10))
        folder = Path(snapshot_download(item.repo_id, cache_dir=hf_cache_dir(), etag_timeout=10,
                                        allow_patterns=["*.json", "model.safetensors", *item.extra_files]))
        if not _transformers_dir_ok(folder):  # older repos only ship a PyTorch pickle
            folder = Path(snapshot_download(item.repo_id, cache_dir=hf_cache_dir(), etag_timeout=10,
                                            allow_patterns=["*.json", "pytorch_model.bin", *item.extra_files]))
    except Exception as exc:  # huggingface_hub raises many types; report them in one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(f"cannot fetch {name} from {item.repo_id}: {first}") from None
    if not _transformers_dir_ok(folder):
        raise WeightsError(f"{item.repo_id} has no config.json + model weights; report this to codecbench")
    return folder


def list_weights() -> list[WeightsStatus]:
    """Every known weight set and whether (and where) it is in the local HF cache."""
    out = []
    for item in KNOWN_WEIGHTS.values():
        path = _from_cache(item)
        out.append(WeightsStatus(item.name, item.repo_id, path is not None, path, item.description))
    return out


def weights_digest(path: Path) -> dict[str, str]:
    """SHA-256 of a checkpoint file, or of the config and weight files of a model folder.

    Goes into adapters' ``identity()`` so cached decodes are invalidated when weights change.
    """
    from codecbench.paths import file_digest

    path = Path(path)
    if path.is_file():
        return {path.name: file_digest(path)}
    names = ("config.json", *TRANSFORMERS_WEIGHT_FILES)
    return {name: file_digest(path / name) for name in names if (path / name).is_file()}


def weights_revision(folder: Optional[Path]) -> str:
    """What identifies the model in ``folder`` (or checkpoint file) for a metric identity: its
    HF-cache snapshot commit, else short digests of its config and weight files, or ``absent``
    (fetching it later then changes the identity, so NaN scores are recomputed)."""
    if folder is None:
        return "absent"
    snapshot = folder.parent if folder.is_file() else folder  # a checkpoint file: its snapshot folder
    if snapshot.parent.name == "snapshots":  # HF cache: the folder is the commit
        return snapshot.name
    return ",".join(f"{k}:{v[:16]}" for k, v in sorted(weights_digest(folder).items()))
