"""Training-state files: RNG capture/restore, atomic writes, discovery of the latest checkpoint.

A state file ``state_XXXXXXXX.pt`` holds everything needed to continue bit-for-bit: module,
optimizer and scheduler state dicts, step/epoch/batch position, the RNG states of python, numpy,
torch and CUDA, and the task's extra state. Everything is stored as plain containers and tensors
so it loads with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import os
import pickle
import random
import re
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import torch

from codecbench.errors import StorageError

STATE_VERSION = 1
STATE_PATTERN = re.compile(r"^state_(\d{8})\.pt$")


def capture_rng() -> dict[str, Any]:
    """RNG states of python, numpy (legacy global), torch CPU and every CUDA device."""
    version, mt_state, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": [version, list(mt_state), gauss],
        "numpy": {"kind": kind, "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng` (CUDA states only when CUDA is present)."""
    version, mt_state, gauss = state["python"]
    random.setstate((int(version), tuple(int(v) for v in mt_state), gauss))
    np_state = state["numpy"]
    np.random.set_state((np_state["kind"], np_state["keys"].numpy().astype(np.uint32), np_state["pos"],
                         np_state["has_gauss"], np_state["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


def atomic_save(obj: Any, path: Union[str, Path]) -> Path:
    """``torch.save`` to ``path + '.tmp'``, fsync, then rename: a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        torch.save(obj, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return path


def state_path(directory: Union[str, Path], step: int) -> Path:
    """``<dir>/state_XXXXXXXX.pt``."""
    return Path(directory) / f"state_{step:08d}.pt"


def list_states(directory: Union[str, Path]) -> list[tuple[int, Path]]:
    """All state files in ``directory`` as ``(step, path)``, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = []
    for entry in directory.iterdir():
        match = STATE_PATTERN.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry))
    return sorted(found)


def latest_state(directory: Union[str, Path]) -> Optional[Path]:
    """Newest state file in ``directory`` or None."""
    states = list_states(directory)
    return states[-1][1] if states else None


def prune_states(directory: Union[str, Path], keep: int) -> None:
    """Delete all but the newest ``keep`` state files (``keep <= 0`` keeps all)."""
    if keep <= 0:
        return
    for _, path in list_states(directory)[:-keep]:
        path.unlink(missing_ok=True)


def load_state(path: Union[str, Path]) -> dict[str, Any]:
    """Load a state file on CPU with ``weights_only=True`` and check its version."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such training state; check --resume / --init-from")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise StorageError(f"{path}: not a readable torch file ({reason}); give a checkpoints/state_XXXXXXXX.pt "
                           "written by the trainer") from None
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION or "modules" not in state:
        raise StorageError(f"{path}: not a codecbench training state (version {STATE_VERSION}); an exported "
                           "model file goes to the codec's checkpoint option or the model's --init-from, not --resume")
    return state
