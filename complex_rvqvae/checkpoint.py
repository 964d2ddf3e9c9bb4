"""Deployable checkpoints of the complex RVQ-VAE (versioned) and loading of trainer states.

Format (``torch.save`` of plain containers, loadable with ``weights_only=True``)::

    {"format": "complex_rvqvae", "version": 1, "model_config": {...ModelConfig fields...},
     "state_dict": {...}, "step": int}

:func:`load_model` also accepts a training state of the shared trainer (``state_XXXXXXXX.pt`` or
``best.pt``), whose ``modules["codec"]`` holds the weights and ``config["model"]`` the settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Union

import torch

from complex_rvqvae.config import ModelConfig, load_config, model_from_dict, to_dict
from complex_rvqvae.model import ComplexRVQVAE

FORMAT = "complex_rvqvae"
SUPPORTED_VERSIONS = (1,)


def save_checkpoint(model: ComplexRVQVAE, path: Union[str, Path], step: int = 0) -> Path:
    """Write the deployable checkpoint of ``model`` to ``path`` (parent folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {"format": FORMAT, "version": SUPPORTED_VERSIONS[-1], "model_config": to_dict(model.cfg),
               "state_dict": state, "step": int(step)}
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    return path


def _split(data: Any, path: Path) -> tuple[Optional[dict], dict]:
    """(model config dict or None, state dict) from either checkpoint kind."""
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a complex_rvqvae checkpoint (top level is {type(data).__name__})")
    if data.get("format") == FORMAT:
        if data.get("version") not in SUPPORTED_VERSIONS:
            raise ValueError(f"{path}: checkpoint version {data.get('version')} unsupported "
                             f"(supported {list(SUPPORTED_VERSIONS)}); update codecbench")
        return data.get("model_config"), data["state_dict"]
    modules = data.get("modules")
    if isinstance(modules, dict) and "codec" in modules:
        task, config = data.get("task") or {}, data.get("config") or {}
        stored = task.get("model_config") if isinstance(task, dict) else None
        if stored is None and isinstance(config, dict):
            stored = config.get("model")
        return stored, modules["codec"]
    raise ValueError(f"{path}: neither a complex_rvqvae export nor a trainer state with a 'codec' module")


def load_model(path: Union[str, Path], config: Optional[Union[str, Path]] = None,
               device: Union[str, torch.device] = "cpu") -> ComplexRVQVAE:
    """Build the model a checkpoint describes and load its weights (eval mode).

    Args:
        path: deployable checkpoint or trainer state file.
        config: YAML config (path or bundled name) whose ``model:`` section overrides the settings
            stored in the checkpoint (needed only for states saved without them).
        device: where the model goes.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: complex_rvqvae checkpoint not found; train one with "
                                "python -m complex_rvqvae.train or fix the 'checkpoint' option")
    data = torch.load(path, map_location="cpu", weights_only=True)
    stored_cfg, state = _split(data, path)
    if config is not None:
        cfg = load_config(config)[0]
    elif stored_cfg is not None:
        cfg = model_from_dict(stored_cfg, str(path))
    else:
        raise ValueError(f"{path}: the checkpoint stores no model settings; pass the 'config' option")
    model = ComplexRVQVAE.from_config(cfg)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else str(exc)
        raise ValueError(f"{path}: weights do not match the model config ({first}); "
                         "pass the config it was trained with") from None
    return model.to(device).eval()



def stored_model_config(path: Union[str, Path]) -> Optional[ModelConfig]:
    """The model settings stored in a checkpoint (None when it stores none)."""
    path = Path(path)
    data = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    stored, _ = _split(data, path)
    return None if stored is None else model_from_dict(stored, str(path))
