"""Config files of suites, models and training: YAML/JSON with line numbers, ``base:`` includes, typed binding.

There is one way to read a configuration in codecbench. A file is safe-loaded once with a map
from every key path to the file and line it came from (:func:`parse_yaml`); model and training
files may name other files with ``base:`` (:func:`read_config`: sections merge key by key, the
including file wins, a missing file or a cycle is one line); and each section is bound to its
frozen dataclass by :func:`bind`, which validates types with pydantic (the dataclass itself stays
free of it) and reports unknown keys with did-you-mean. Every error is one line,
``file:line: key.path: what is wrong``, and derives from :class:`~codecbench.errors.ConfigError`.

The model packages (``apcodec``, ``complex_rvqvae``, ``hificodec``) and the training engine keep
their dataclasses and cross-field checks (``__post_init__``); this module only reads and binds.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, TypeVar, Union

import yaml
from pydantic import ConfigDict, StrictBool, StrictInt, ValidationError, create_model

from codecbench.errors import ConfigError
from codecbench.registry import did_you_mean

T = TypeVar("T")
KeyPath = tuple[Union[str, int], ...]

MAX_CONFIG_BYTES = 1 << 20  # 1 MiB: far above any real config, far below what makes parsing slow
MAX_YAML_NODES = 100_000  # nodes after alias expansion (an "alias bomb" expands exponentially)


# -- YAML with line numbers -----------------------------------------------------------------

def _line_map(root: yaml.Node, source: str, error: type[ConfigError]) -> dict[KeyPath, int]:
    """Map every key path in a composed YAML tree to its 1-based line number.

    Aliases are walked as the data will be (expanded), with a budget of :data:`MAX_YAML_NODES`,
    so a file whose aliases expand exponentially is refused instead of taking minutes and memory.
    """
    out: dict[KeyPath, int] = {}
    budget = MAX_YAML_NODES
    stack: list[tuple[yaml.Node, KeyPath]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        budget -= 1
        if budget < 0:
            raise error(f"{source}: the YAML expands to more than {MAX_YAML_NODES} nodes (aliases "
                        "nested too deep?); write the file out plainly")
        out.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = key_node.value
                out.setdefault(path + (key,), key_node.start_mark.line + 1)
                stack.append((value_node, path + (key,)))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                stack.append((item, path + (index,)))
    return out


def format_path(path: Iterable[Union[str, int]]) -> str:
    """``("codecs", 0, "options")`` -> ``codecs[0].options``; ``()`` -> ``<top>``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "<top>"


def parse_yaml(text: str, source: str, error: type[ConfigError] = ConfigError,
               what: str = "config") -> tuple[Any, dict[KeyPath, int]]:
    """Safe-load YAML once (compose, check size, then construct) with its line map.

    Malformed YAML, oversized files and alias bombs raise a located one-line ``error``.
    """
    if len(text.encode("utf-8", errors="replace")) > MAX_CONFIG_BYTES:
        raise error(f"{source}: {len(text) // 1024} KiB is too large for a {what} (limit "
                    f"{MAX_CONFIG_BYTES // 1024} KiB); list data in a dataset, not in the {what}")
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        lines = _line_map(node, source, error) if node is not None else {}
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(f"{where}: malformed YAML ({problem}); fix the syntax") from exc
    finally:
        loader.dispose()
    return data, lines


def parse_json(text: str, source: str, error: type[ConfigError] = ConfigError) -> tuple[Any, dict[KeyPath, int]]:
    """``json.loads`` for the values; the YAML composer (JSON is YAML) for the line numbers."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{source}:{exc.lineno}:{exc.colno}: invalid JSON ({exc.msg}); fix the syntax") from None
    try:
        _, lines = parse_yaml(text, source, error)
    except ConfigError:  # valid JSON that YAML 1.1 rejects (tabs): the messages lose their line numbers
        lines = {}
    return data, lines


class Locator:
    """Turns a key path into a ``file:line: key.path: message`` error.

    ``lines`` maps a key path to its line, either in ``source`` (an ``int``) or in another file
    (``(file, line)``, for keys a ``base:`` include contributed).
    """

    def __init__(self, source: str, lines: Mapping[KeyPath, Union[int, tuple[str, int]]],
                 error: type[ConfigError] = ConfigError) -> None:
        self.source, self.lines, self.error = source, dict(lines), error

    def where(self, path: KeyPath) -> str:
        """``file:line`` of ``path`` (or of its nearest listed parent), or just the file."""
        probe = tuple(path)
        while probe not in self.lines and probe:
            probe = probe[:-1]
        found = self.lines.get(probe)
        if found is None:
            return self.source
        if isinstance(found, tuple):
            return f"{found[0]}:{found[1]}"
        return f"{self.source}:{found}"

    def __call__(self, path: KeyPath, message: str) -> ConfigError:
        return self.error(f"{self.where(path)}: {format_path(tuple(path))}: {message}")


# -- files with base: includes --------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ConfigSource:
    """A config file read with its includes resolved.

    Attributes:
        data: the merged mapping (``base:`` removed).
        path: the file that was asked for.
        locate: turns a key path of ``data`` into a located error (the file that set the key).
        files: every file read, the asked-for one last.
    """

    data: dict[str, Any]
    path: Path
    locate: Locator
    files: tuple[Path, ...] = ()


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def resolve_config_path(name_or_path: Union[str, Path], bundled: Optional[Path] = None,
                        relative_to: Optional[Path] = None, what: str = "config",
                        error: type[ConfigError] = ConfigError, where: str = "") -> Path:
    """A config file from a path or the name of a file in the ``bundled`` folder.

    Tried in order: ``relative_to / name`` (an including file's folder), ``name`` itself, then
    ``bundled/<name>.yaml``. Otherwise one line lists the bundled names with a did-you-mean.
    """
    candidate = Path(name_or_path)
    options = [candidate]
    if relative_to is not None and not candidate.is_absolute():
        options.insert(0, relative_to / candidate)
    stem = candidate.name[:-5] if candidate.name.endswith(".yaml") else candidate.name
    if bundled is not None:
        options.append(bundled / f"{stem}.yaml")
    for option in options:
        if option.is_file():
            return option
    names = sorted(p.stem for p in bundled.glob("*.yaml")) if bundled is not None else []
    listed = f" or one of {', '.join(names)}" if names else ""
    prefix = f"{where}: " if where else ""
    raise error(f"{prefix}{what} '{name_or_path}' not found{did_you_mean(stem, names)}; give a YAML or JSON "
                f"path{listed}")


def read_config(name_or_path: Union[str, Path], bundled: Optional[Path] = None, what: str = "config",
                error: type[ConfigError] = ConfigError) -> ConfigSource:
    """Read a YAML (or JSON) config, resolving ``base:`` includes.

    ``base:`` is a file name or a list of them, each relative to the including file or the name
    of a bundled config; later bases and the including file win key by key (nested mappings
    merge, everything else is replaced). A base that is missing, unreadable or part of a cycle
    is one located line.

    Args:
        name_or_path: a file path, or the name of a file in ``bundled`` (``48k_6kbps``).
        bundled: the package's folder of named configs.
        what: how errors name the file (``"APCodec config"``).
        error: the ConfigError subclass to raise.
    """
    path = resolve_config_path(name_or_path, bundled, what=what, error=error)
    data, lines, files = _read_tree(path, bundled, what, error, ())
    return ConfigSource(data=data, path=path, locate=Locator(str(path), lines, error), files=files)


def _read_tree(path: Path, bundled: Optional[Path], what: str, error: type[ConfigError],
               chain: tuple[Path, ...]) -> tuple[dict[str, Any], dict[KeyPath, tuple[str, int]], tuple[Path, ...]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read {what} ({exc}); pass a UTF-8 YAML or JSON file") from None
    parse = parse_json if path.suffix.lower() == ".json" else parse_yaml
    data, own_lines = parse(text, str(path), error)
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise error(f"{path}: the top level of a {what} must be a mapping of sections")
    lines: dict[KeyPath, tuple[str, int]] = {k: (str(path), v) for k, v in own_lines.items()}
    base = data.pop("base", None)
    if base is None:
        return data, lines, chain + (path,)
    bases = base if isinstance(base, list) else [base]
    merged: dict[str, Any] = {}
    merged_lines: dict[KeyPath, tuple[str, int]] = {}
    files: tuple[Path, ...] = ()
    here = f"{path}:{own_lines.get(('base',), 1)}: base"
    for item in bases:
        if not isinstance(item, str) or not item:
            raise error(f"{here}: expected a file name or a list of them, got {item!r}")
        target = resolve_config_path(item, bundled, path.parent, what=f"included {what}", error=error, where=here)
        seen = chain + (path,)
        if any(target.resolve() == p.resolve() for p in seen):
            cycle = " -> ".join(p.name for p in seen + (target,))
            raise error(f"{here}: includes form a cycle ({cycle}); remove one of the base: entries")
        sub, sub_lines, sub_files = _read_tree(target, bundled, what, error, seen)
        merged, merged_lines, files = _merge(merged, sub), {**merged_lines, **sub_lines}, files + sub_files
    lines.pop(("base",), None)
    return _merge(merged, data), {**merged_lines, **lines}, files + (path,)


# -- binding a section to a dataclass -------------------------------------------------------

def check_keys(data: Mapping[str, Any], allowed: Iterable[str], section: KeyPath, locate: Locator,
               note: str = "") -> None:
    """A located one-line error for the first key of ``data`` not in ``allowed`` (with did-you-mean)."""
    names = sorted(str(a) for a in allowed)
    for key in data:
        if key not in names:
            dotted = format_path(section + (key,))
            raise locate.error(f"{locate.where(section + (key,))}: unknown key '{dotted}'"
                               f"{did_you_mean(str(key), names)}; allowed: {', '.join(names)}{note}")


def _strict(annotation: Any) -> Any:
    """``int`` -> StrictInt and ``bool`` -> StrictBool at any depth (``true`` is no width, ``1`` no flag)."""
    if annotation is int:
        return StrictInt
    if annotation is bool:
        return StrictBool
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is None or not args:
        return annotation
    inner = tuple(a if a is Ellipsis else _strict(a) for a in args)
    if origin in (Union, types.UnionType):
        return Union[inner]
    return origin[inner]


@lru_cache(maxsize=None)
def _validator(cls: type) -> Any:
    hints = typing.get_type_hints(cls)
    fields: dict[str, Any] = {f.name: (_strict(hints[f.name]), None) for f in dataclasses.fields(cls)}
    return create_model(f"{cls.__name__}Fields", __config__=ConfigDict(extra="forbid"), **fields)


def _located_message(message: str, section: KeyPath, data: Mapping[str, Any], locate: Locator) -> str:
    """Prefix a dataclass's own check with the file and line of the first key it names.

    A check names a key as ``section.key`` (``model.win_size``) or, at the top level, ``'key'``.
    """
    prefix = format_path(section) + "." if section else ""
    named = [(message.find(f"{prefix}{key}" if prefix else f"'{key}'"), str(key)) for key in data]
    found = sorted((pos, key) for pos, key in named if pos >= 0)
    return f"{locate.where(section + (found[0][1],) if found else section)}: {message}"


def bind(cls: type[T], data: Any, section: Union[str, KeyPath], source: Union[Locator, str, None] = None,
         note: str = "") -> T:
    """Validate the mapping ``data`` (the ``section`` of a config) into the frozen dataclass ``cls``.

    Unknown keys are refused with a did-you-mean, values are checked against the field types
    (ints and bools strictly, floats from numbers or numeric strings, lists for tuples), then the
    dataclass runs its own cross-field checks. Errors are one line located at the key.

    Args:
        cls: a dataclass whose ``__post_init__`` raises ConfigError for bad combinations.
        data: the section's mapping (None = all defaults).
        section: its key path, ``"model"`` or ``("train", "extra", "distill")``.
        source: where it came from: a :class:`Locator` (from :func:`read_config`) or a file name.
        note: appended to the unknown-key message (``" (task-specific keys go under train.extra)"``).
    """
    path: KeyPath = tuple(section.split(".")) if isinstance(section, str) and section else (
        () if isinstance(section, str) else section)
    locate = source if isinstance(source, Locator) else Locator(str(source or "<dict>"), {})
    error = locate.error
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise locate(path, f"must be a mapping of settings, got {type(data).__name__}")
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"bind() needs a dataclass, got {cls!r}")
    check_keys(data, [f.name for f in dataclasses.fields(cls)], path, locate, note)
    try:
        checked = _validator(cls).model_validate(dict(data))
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = path + tuple(err["loc"])
        raise locate(loc, f"{err['msg']} (got {err['input']!r})") from None
    values = {key: getattr(checked, key) for key in data}
    try:
        return cls(**values)
    except ConfigError as exc:
        raise error(_located_message(str(exc), path, data, locate)) from None
    except (TypeError, ValueError) as exc:
        raise locate(path, f"bad settings ({exc})") from None


__all__ = ["ConfigSource", "Locator", "bind", "check_keys", "format_path", "parse_json", "parse_yaml",
           "read_config", "resolve_config_path", "MAX_CONFIG_BYTES", "MAX_YAML_NODES"]
