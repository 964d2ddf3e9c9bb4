"""Provenance: everything needed to tell whether two runs are comparable."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any, Optional

import codecbench
from codecbench.suite import Suite

TRACKED_PACKAGES = ("numpy", "scipy", "soundfile", "soxr", "av", "pesq", "pystoi", "visqol-python", "numba",
                    "torch", "transformers", "pandas", "pydantic")


def package_versions(names: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, Optional[str]]:
    versions: dict[str, Optional[str]] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit(path: Optional[Path] = None) -> Optional[str]:
    """The commit codecbench runs from (``None`` outside a git checkout)."""
    path = path or Path(codecbench.__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    dirty = subprocess.run(["git", "-C", str(path), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, timeout=5, check=False).stdout.strip()
    return out.stdout.strip() + ("-dirty" if dirty else "")


#: vector extensions worth recording: they decide which kernels the numeric libraries run
VECTOR_EXTENSIONS = ("avx2", "avx512f", "avx512_bf16", "amx_tile", "asimd", "sve")


def cpu_description(cpuinfo: Optional[str] = None) -> dict[str, Any]:
    """CPU model, logical cores and vector extensions (from ``/proc/cpuinfo`` where there is one).

    The RTF columns depend on them, and so do the last bits of some outputs: MKL and oneDNN pick
    their kernels by CPU, and APCodec's prepared graph picks the faster of the two (``apcodec.gemm``).
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())   # the first processor's entry
    flags = set((fields.get("flags") or fields.get("Features") or "").split())
    return {"model": fields.get("model name") or platform.processor() or None,
            "logical_cores": os.cpu_count(),
            "vector_extensions": [name for name in VECTOR_EXTENSIONS if name in flags]}


def build_manifest(suite: Suite, *, device: str, jobs: int, alignment: dict[str, Any],
                   metrics: dict[str, dict[str, Any]], shard: Optional[str] = None) -> dict[str, Any]:
    return {
        "codecbench_version": codecbench.__version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "suite_path": suite.path,
        "suite_hash": suite.digest,
        "suite": suite.describe(),
        "metrics": metrics,  # column label -> name, rate, direction, identity; in suite order
        "alignment": alignment,
        "packages": package_versions(),
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_description(),
        "device": device,
        "jobs": jobs,
        "shard": shard,
    }


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` so readers see the old or the new file, never half of one.

    The temporary name carries the pid: shard tasks of one run directory write the manifest
    concurrently, and a shared ``.part`` name would let one rename another's file.
    """
    tmp = path.with_name(f"{path.name}.{os.getpid()}.part")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    tmp.replace(path)
