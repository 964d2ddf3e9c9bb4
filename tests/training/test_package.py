"""The training package is neutral ground: light to import, free of cycles, and the model
packages meet there as peers (complex_rvqvae imports nothing from apcodec)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TRAINING = REPO / "codecbench" / "training"


def _imported_modules(path: Path) -> set[str]:
    """Absolute module names ``path`` imports (``from a.b import c`` counts as ``a.b`` and ``a.b.c``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _fresh_modules(code: str) -> list[str]:
    """Run ``code`` in a fresh interpreter and return the modules it left in ``sys.modules``."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_codecbench_or_its_training_package_loads_no_torch():
    loaded = _fresh_modules("import codecbench, codecbench.training")
    assert "torch" not in loaded
    assert [m for m in loaded if m.startswith("codecbench.training.")] == []


def test_complex_rvqvae_training_imports_nothing_from_apcodec():
    loaded = _fresh_modules("import complex_rvqvae.train, complex_rvqvae.task, complex_rvqvae.losses, "
                            "complex_rvqvae.checkpoint\nfrom codecbench.training import Trainer")
    assert "codecbench.training.trainer" in loaded
    assert [m for m in loaded if m == "apcodec" or m.startswith("apcodec.")] == []


@pytest.mark.parametrize("package", ["complex_rvqvae", "codecbench/training"])
def test_no_source_file_imports_apcodec(package: str):
    offenders = {str(p.relative_to(REPO)): sorted(m for m in _imported_modules(p) if m.split(".")[0] == "apcodec")
                 for p in sorted((REPO / package).glob("*.py"))}
    assert {k: v for k, v in offenders.items() if v} == {}


def _package_imports(path: Path) -> list[int]:
    """Lines of ``path`` that import the ``codecbench.training`` package itself (not a submodule)."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module == "codecbench.training" and node.level == 0:
            lines.append(node.lineno)
        elif isinstance(node, ast.Import) and any(a.name == "codecbench.training" for a in node.names):
            lines.append(node.lineno)
    return lines


def test_training_modules_never_import_their_own_package():
    """Submodules import each other by full name, so the package ``__init__`` closes no cycle."""
    found = {p.name: _package_imports(p) for p in sorted(TRAINING.glob("*.py"))}
    assert {name: lines for name, lines in found.items() if lines} == {}


def test_loggers_are_named_after_the_neutral_package():
    from codecbench.training import cli, logger, trainer, validation

    for module in (cli, logger, trainer, validation):
        assert module.LOG.name.startswith("codecbench.training."), module.LOG.name
    for path in list((REPO / "apcodec").rglob("*.py")) + list((REPO / "complex_rvqvae").rglob("*.py")):
        assert "getLogger(\"apcodec.training\")" not in path.read_text(), path
