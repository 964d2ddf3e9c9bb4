"""One registry type for codecs, metrics and datasets.

Built-in entries are registered lazily as ``module:Class`` strings so that listing them never
imports heavy backends (PyAV, transformers, visqol). Third-party packages add entries through
the entry-point group named after the registry (e.g. ``codecbench.codecs``), and any unknown
name of the form ``package.module:Class`` is imported on demand.
"""

from __future__ import annotations

import difflib
import importlib
from importlib import metadata
from typing import Generic, Iterator, TypeVar, Union

from codecbench.errors import CodecbenchError

T = TypeVar("T")


class RegistryError(CodecbenchError, KeyError):
    """An unknown or conflicting registry name. ``str()`` is a one-line, user-facing message."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


def did_you_mean(name: str, choices: list[str]) -> str:
    """Return `` (did you mean 'x'?)`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""


def import_target(target: str) -> object:
    """Import ``package.module:Attr`` and return the attribute."""
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise RegistryError(f"'{target}' is not of the form 'package.module:Class'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise RegistryError(f"cannot import module '{module_name}' for '{target}': {exc}") from exc
    try:
        return getattr(module, attr)
    except AttributeError as exc:
        raise RegistryError(f"module '{module_name}' has no attribute '{attr}'") from exc


class Registry(Generic[T]):
    """Name -> class mapping with aliases, lazy targets, entry points and did-you-mean errors."""

    def __init__(self, kind: str, entry_point_group: str) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._targets: dict[str, Union[str, type]] = {}
        self._aliases: dict[str, str] = {}
        self._entry_points_loaded = False

    def register(self, name: str, target: Union[str, type], *, aliases: tuple[str, ...] = ()) -> None:
        """Register ``target`` (a class or a lazy ``module:Class`` string) under ``name``."""
        for key in (name, *aliases):
            if key in self._targets or key in self._aliases:
                raise RegistryError(f"{self.kind} '{key}' is already registered")
        self._targets[name] = target
        for alias in aliases:
            self._aliases[alias] = name

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for ep in metadata.entry_points(group=self.entry_point_group):
            if ep.name not in self._targets and ep.name not in self._aliases:
                self._targets[ep.name] = ep.value

    def names(self) -> list[str]:
        """All canonical names, built-in and from entry points, sorted."""
        self._load_entry_points()
        return sorted(self._targets)

    def __contains__(self, name: str) -> bool:
        self._load_entry_points()
        return name in self._targets or name in self._aliases or ":" in name

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def canonical(self, name: str) -> str:
        """Resolve an alias to its canonical name (``module:Class`` names stay as they are)."""
        self._load_entry_points()
        if name in self._targets or ":" in name:
            return name
        if name in self._aliases:
            return self._aliases[name]
        choices = sorted([*self._targets, *self._aliases])
        raise RegistryError(
            f"unknown {self.kind} '{name}'{did_you_mean(name, choices)}; "
            f"choose one of: {', '.join(sorted(self._targets))} (or 'package.module:Class')"
        )

    def get(self, name: str) -> type:
        """Return the class registered under ``name`` (importing it on first use)."""
        key = self.canonical(name)
        target = self._targets.get(key, key)
        if isinstance(target, str):
            obj = import_target(target)
            if not isinstance(obj, type):
                raise RegistryError(f"{self.kind} target '{target}' is not a class")
            if key in self._targets:
                self._targets[key] = obj
            return obj
        return target
