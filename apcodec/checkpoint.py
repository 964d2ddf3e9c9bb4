"""Checkpoints: the official APCodec format and our own single-file format.

Official: two ``torch.save`` files without extension, ``encoder_XXXXXXXX`` = ``{"encoder": sd}``
and ``decoder_XXXXXXXX`` = ``{"decoder": sd}``, with old-style weight norm keys
(``<name>.weight_g`` / ``<name>.weight_v``). Our modules use ``torch.nn.utils.parametrizations``
(``<name>.parametrizations.weight.original0`` / ``original1``); the translation is exact both ways
and models whose weight norm was folded (:meth:`APCodec.remove_weight_norm`) load too.

Ours: one file ``{"format": "apcodec", "version": 1, "config": {...}, "encoder": sd, "decoder": sd}``
with official-style keys, so either half can be handed to official code.

Trainer state files (``checkpoints/state_XXXXXXXX.pt``, written by :mod:`codecbench.training`)
load too: only the ``generator`` weights and the stored model config are read (the file is
memory-mapped, so the optimizer and discriminator tensors are never loaded).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Union

import torch
from torch import nn

from apcodec.config import ConfigError, ModelConfig
from apcodec.model import APCodec
from codecbench.errors import CodecbenchError
from codecbench.training.state import STATE_VERSION

FORMAT = "apcodec"
VERSION = 1
_G, _V = ".parametrizations.weight.original0", ".parametrizations.weight.original1"


class CheckpointError(CodecbenchError, RuntimeError):
    """A checkpoint file is missing, of the wrong kind, or does not fit the model (one line)."""


def to_official_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Parametrized weight-norm keys -> official ``weight_g`` / ``weight_v`` keys."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.endswith(_G):
            out[key[: -len(_G)] + ".weight_g"] = value
        elif key.endswith(_V):
            out[key[: -len(_V)] + ".weight_v"] = value
        else:
            out[key] = value
    return out


def _fit_state(module: nn.Module, official: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Translate official keys into ``module``'s keys (parametrized, or folded plain weights)."""
    own = module.state_dict()
    out: dict[str, torch.Tensor] = {}
    for key, value in official.items():
        if key.endswith(".weight_g") or key.endswith(".weight_v"):
            base = key[: -len(".weight_g")]
            if base + _G in own:
                out[base + (_G if key.endswith("_g") else _V)] = value
            elif key.endswith(".weight_v") and base + ".weight" in own:
                g = official.get(base + ".weight_g")
                if g is None:
                    raise CheckpointError(f"checkpoint has {key} without {base}.weight_g")
                out[base + ".weight"] = torch._weight_norm(value, g, 0)
            elif key.endswith(".weight_g") and base + ".weight" in own:
                continue
            else:
                out[key] = value  # reported as unexpected below
        else:
            out[key] = value
    return out


def load_module_state(module: nn.Module, official: dict[str, torch.Tensor], what: str) -> None:
    """Load an official-key state dict into ``module``; a clear one-line error on mismatch."""
    state = _fit_state(module, official)
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        detail = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise CheckpointError(f"{what} does not match this ModelConfig ({detail}; "
                              f"{len(missing)} missing, {len(unexpected)} unexpected): check the config")
    for key, value in state.items():
        if own[key].shape != value.shape:
            raise CheckpointError(f"{what}: {key} has shape {tuple(value.shape)}, the model expects "
                                  f"{tuple(own[key].shape)}: check the config (widths, codebooks, n_fft)")
    module.load_state_dict(state)


def _read(path: Union[str, Path], key: str, map_location: Union[str, torch.device]) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file {path} not found")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure is the same user error
        raise CheckpointError(f"cannot read {path} as a torch checkpoint ({type(err).__name__}: {err})") from None
    if not isinstance(data, dict) or key not in data:
        keys = list(data)[:5] if isinstance(data, dict) else type(data).__name__
        raise CheckpointError(f"{path} has no '{key}' entry (found {keys}); is it the right file?")
    return data


def load_official_checkpoint(cfg: ModelConfig, encoder: Union[str, Path, None], decoder: Union[str, Path, None],
                             model: Optional[APCodec] = None, map_location: Union[str, torch.device] = "cpu") -> APCodec:
    """Load official ``encoder_XXXXXXXX`` / ``decoder_XXXXXXXX`` files into a model for ``cfg``.

    Either path may be None to keep that half as is (e.g. APCodec+ stage 2 reloads only the encoder).
    """
    model = model if model is not None else APCodec.from_config(cfg)
    if encoder is not None:
        load_module_state(model.encoder, _read(encoder, "encoder", map_location)["encoder"], str(encoder))
    if decoder is not None:
        load_module_state(model.decoder, _read(decoder, "decoder", map_location)["decoder"], str(decoder))
    return model


def save_official_checkpoint(model: APCodec, directory: Union[str, Path], step: int = 0) -> tuple[Path, Path]:
    """Write ``encoder_{step:08d}`` and ``decoder_{step:08d}`` in the official format; returns both paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    enc, dec = directory / f"encoder_{step:08d}", directory / f"decoder_{step:08d}"
    torch.save({"encoder": official_state(model.encoder)}, enc)
    torch.save({"decoder": official_state(model.decoder)}, dec)
    return enc, dec


def official_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """``module``'s state dict with official keys (weight norm as weight_g / weight_v).

    A module whose weight norm was folded is exported with ``g = ||w||`` and ``v = w``, which
    official code reproduces exactly.
    """
    if getattr(module, "prepared", None) is not None:
        raise CheckpointError("cannot export a model after prepare_for_inference() (it is frozen for inference); "
                              "export before, or use remove_weight_norm() only")
    state = to_official_keys({k: v.detach().cpu() for k, v in module.state_dict().items()})
    reference = _weight_norm_names(module)
    for name in reference:
        if name + ".weight" in state:
            w = state.pop(name + ".weight")
            state[name + ".weight_g"] = torch.norm_except_dim(w, 2, 0)
            state[name + ".weight_v"] = w
    return state


def _weight_norm_names(module: nn.Module) -> list[str]:
    """Names of the submodules that carry weight norm in a freshly built model of the same kind."""
    from apcodec.decoder import APCodecDecoder
    from apcodec.encoder import APCodecEncoder

    cfg = getattr(module, "cfg", None)
    if not isinstance(module, (APCodecEncoder, APCodecDecoder)) or cfg is None:
        return []
    with torch.device("meta"):
        fresh = type(module)(cfg)
    return [k[: -len(_G)] for k in fresh.state_dict() if k.endswith(_G)]


def save_checkpoint(model: APCodec, path: Union[str, Path], extra: Optional[dict[str, Any]] = None) -> Path:
    """Our single-file format (config + both halves with official keys + optional extras)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload: dict[str, Any] = {"format": FORMAT, "version": VERSION, "config": model.cfg.to_dict(),
                               "encoder": official_state(model.encoder), "decoder": official_state(model.decoder)}
    if extra:
        payload["extra"] = extra
    torch.save(payload, path)
    return path


def is_training_state(data: Any) -> bool:
    """Whether a loaded file is a trainer state (``state_XXXXXXXX.pt`` / ``best.pt``)."""
    return isinstance(data, dict) and data.get("version") == STATE_VERSION and "modules" in data


def _export_hint(path: Path) -> str:
    """Which exported file to give instead of the state ``path`` (the run's ``export/`` folder)."""
    run = path.parent.parent if path.parent.name == "checkpoints" else path.parent
    exports = sorted((run / "export").glob("apcodec_*.pt"))
    if exports:
        return f"give the exported {exports[-1]} instead"
    return f"give the exported {run / 'export' / 'apcodec_XXXXXXXX.pt'} instead (train.export_interval or the end of training writes it)"


def _read_any(path: Union[str, Path]) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file {path} not found")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure is the same user error
        raise CheckpointError(f"cannot read {path} as a torch checkpoint ({type(err).__name__}: {err})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} holds a {type(data).__name__}, not an apcodec checkpoint; is it the right file?")
    return data


def stored_config(path: Union[str, Path]) -> Optional[ModelConfig]:
    """The ModelConfig stored in our export or in a trainer state (None when the file stores none)."""
    path = Path(path)
    data = _read_any(path)
    if is_training_state(data):
        return _state_config(path, data)
    if data.get("format") == FORMAT and isinstance(data.get("config"), dict):
        return ModelConfig.from_dict(dict(data["config"]), source=str(path))
    return None


def _state_config(path: Path, data: dict[str, Any]) -> Optional[ModelConfig]:
    model = (data.get("config") or {}).get("model") if isinstance(data.get("config"), dict) else None
    if model is None:
        return None
    try:
        return ModelConfig.from_dict(dict(model), source=f"{path} [config.model]")
    except ConfigError as exc:
        raise CheckpointError(f"{path}: training state of another model ({exc}); {_export_hint(path)}") from None


def _load_state_generator(path: Path, data: dict[str, Any], cfg: Optional[ModelConfig]) -> APCodec:
    modules = data["modules"]
    if not isinstance(modules, dict) or "generator" not in modules:
        names = sorted(modules) if isinstance(modules, dict) else type(modules).__name__
        raise CheckpointError(f"{path}: training state without an APCodec generator (modules {names}); "
                              f"{_export_hint(path)}")
    stored = _state_config(path, data)
    if stored is None and cfg is None:
        raise CheckpointError(f"{path}: training state stores no model config; set the config option or "
                              f"{_export_hint(path)}")
    if cfg is not None and stored is not None and cfg != stored:
        diff = [k for k, v in cfg.to_dict().items() if stored.to_dict().get(k) != v]
        raise CheckpointError(f"{path} was trained with a different model config (fields {diff}); drop the config option")
    model = APCodec.from_config(stored or cfg)  # type: ignore[arg-type]
    state = modules["generator"]
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected or any(own[k].shape != state[k].shape for k in own if k in state):
        raise CheckpointError(f"{path}: the generator weights do not fit the stored model config "
                              f"({len(missing)} missing, {len(unexpected)} unexpected keys); {_export_hint(path)}")
    model.load_state_dict(state)
    return model


def load_checkpoint(path: Union[str, Path], cfg: Optional[ModelConfig] = None,
                    map_location: Union[str, torch.device] = "cpu") -> APCodec:
    """Load our single-file export or the generator of a trainer state file.

    Args:
        path: ``apcodec_XXXXXXXX.pt`` (export) or ``checkpoints/state_XXXXXXXX.pt`` / ``best.pt``.
        cfg: if given, must equal the config stored in the file.
        map_location: where the tensors go.
    """
    path = Path(path)
    data = _read_any(path)
    if is_training_state(data):
        return _load_state_generator(path, data, cfg).to(map_location)
    if "encoder" not in data:
        raise CheckpointError(f"{path} has no 'encoder' entry (found {list(data)[:5]}); is it the right file?")
    if data.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an apcodec checkpoint (format {data.get('format')!r}); "
                              "official encoder_/decoder_ files load with load_official_checkpoint")
    if data.get("version") != VERSION:
        raise CheckpointError(f"{path}: unsupported apcodec checkpoint version {data.get('version')} (supported: {VERSION})")
    stored = ModelConfig.from_dict(dict(data["config"]), source=str(path))
    if cfg is not None and cfg != stored:
        diff = [k for k, v in cfg.to_dict().items() if stored.to_dict().get(k) != v]
        raise CheckpointError(f"{path} was saved with a different model config (fields {diff}); drop the config option")
    model = APCodec.from_config(stored)
    load_module_state(model.encoder, data["encoder"], f"{path} [encoder]")
    load_module_state(model.decoder, data["decoder"], f"{path} [decoder]")
    return model.to(map_location)
