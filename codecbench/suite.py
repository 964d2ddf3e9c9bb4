"""Suite YAML: typed, validated up front, with errors that point at the file, line and key.

A suite names datasets, codecs (adapter, options and a bitrate sweep) and metrics. Everything
that can be checked without doing work is checked here: unknown keys and registry names (with
did-you-mean), options against each class's signature, value types.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from pathlib import Path
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from codecbench.configfile import MAX_CONFIG_BYTES, Locator
from codecbench.configfile import parse_yaml as _parse_yaml
from codecbench.errors import ConfigError
from codecbench.registry import Registry, RegistryError, did_you_mean


class SuiteError(ConfigError):
    """A suite problem; ``str()`` is ``file:line: key.path: message``."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetEntry(_Strict):
    """One dataset: ``type`` is a registry name, ``name`` its label in results."""

    name: str
    type: str
    max_utterances: Optional[int] = Field(default=None, gt=0)
    max_seconds: Optional[float] = Field(default=None, gt=0)
    options: dict[str, Any] = Field(default_factory=dict)


class CodecEntry(_Strict):
    """One codec: ``adapter`` is a registry name, ``name`` the label shown in tables (``Opus``)."""

    name: str
    adapter: str
    bitrates: list[Optional[float]] = Field(default_factory=lambda: [None])  # type: ignore[arg-type]
    options: dict[str, Any] = Field(default_factory=dict)
    timeout_s: Optional[float] = Field(default=None, gt=0)  # per item; default generous (see codec_worker)
    memory_limit_mb: Optional[int] = Field(default=None, gt=0)  # address-space limit of the codec worker
    # GPU batching (codecbench.batching): seconds of audio per batch; 0 turns it off; None: derived
    # from the free GPU memory
    batch_seconds: Optional[float] = Field(default=None, ge=0)

    @field_validator("bitrates", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, (int, float)) or value is None else value


class MetricEntry(_Strict):
    name: str
    options: dict[str, Any] = Field(default_factory=dict)


class LauncherSection(_Strict):
    """The suite's ``launcher:`` section: how ``codecbench run --launcher slurm|local`` places its tasks.

    Each task runs one shard of the plan (cut by utterance, so a task loads each model once)
    into its own shard database. Resources are per task; ``sbatch`` passes extra options
    through to ``sbatch`` (``{constraint: a100, exclusive: true}``).
    """

    tasks: Optional[int] = Field(default=None, gt=0)  # default for --tasks
    partition: Optional[str] = None
    account: Optional[str] = None
    qos: Optional[str] = None
    time_min: int = Field(default=60, gt=0)  # wall-time limit of each task, minutes
    cpus_per_task: int = Field(default=1, gt=0)  # also the task's metric workers (--jobs)
    gpus_per_task: int = Field(default=0, ge=0)
    mem_gb: Optional[float] = Field(default=None, gt=0)
    array_parallelism: Optional[int] = Field(default=None, gt=0)  # tasks of the array running at once
    max_retries: int = Field(default=2, ge=0)  # resubmissions of a failed, cancelled or lost task
    node_local_dir: Optional[str] = None  # e.g. $TMPDIR: shard database on node-local disk, copied back
    poll_s: float = Field(default=2.0, gt=0)  # how often the submitting process checks the tasks
    sbatch: dict[str, Any] = Field(default_factory=dict)


class Suite(_Strict):
    """A parsed suite. ``path`` and ``digest`` identify the file it came from."""

    name: str
    datasets: list[DatasetEntry] = Field(min_length=1)
    codecs: list[CodecEntry] = Field(min_length=1)
    metrics: list[MetricEntry] = Field(min_length=1)
    out: Optional[str] = None
    cache: Optional[str] = None
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    jobs: Optional[int] = Field(default=None, gt=0)
    # "one_at_a_time": metrics with model weights are scored in separate passes (light metrics
    # with the first), so a metric worker holds at most one model at a time
    heavy_metrics: Literal["together", "one_at_a_time"] = "together"
    report: dict[str, Any] = Field(default_factory=dict)
    launcher: LauncherSection = Field(default_factory=LauncherSection)
    path: Optional[str] = Field(default=None, exclude=True)
    digest: str = Field(default="", exclude=True)

    @field_validator("metrics", mode="before")
    @classmethod
    def _metric_strings(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value

    def output_dir(self, override: Optional[Union[str, Path]] = None) -> Path:
        """``--out`` beats the suite's ``out``, which beats ``reports/<name>``; relative to the cwd."""
        return Path(override or self.out or Path("reports") / _safe_name(self.name))

    def describe(self) -> dict[str, Any]:
        """JSON-ready suite for the manifest."""
        return json.loads(self.model_dump_json())


def _safe_name(name: str) -> str:
    from codecbench.paths import safe_component

    return safe_component(name)


# -- YAML with line numbers (codecbench.configfile, the one config reader) ----------------------

MAX_SUITE_BYTES = MAX_CONFIG_BYTES


def _locator(source: str, lines: dict[tuple, int]) -> Locator:
    """Turns a key path into ``file:line: key.path`` SuiteErrors."""
    return Locator(source, lines, SuiteError)


def parse_yaml(text: str, source: str) -> tuple[Any, dict[tuple, int]]:
    """Safe-load a suite's YAML with its line map (:func:`codecbench.configfile.parse_yaml`)."""
    return _parse_yaml(text, source, SuiteError, what="suite")


# Option keys whose relative values are files or folders: resolved against the suite's folder, so
# a suite reads the same data from whatever directory it is run.
PATH_OPTION_KEYS = frozenset({"root", "path", "checkpoint", "config", "model_dir", "scp", "text", "encoder",
                              "decoder", "teacher", "manifest", "wav_scp"})
_ALWAYS_PATHS = frozenset({"root", "path", "model_dir", "scp", "wav_scp"})


def _looks_like_path(key: str, value: str) -> bool:
    """``config: 48k_6kbps`` names a preset; ``config: cfg/x.yaml`` names a file."""
    return key in _ALWAYS_PATHS or "/" in value or "\\" in value or bool(Path(value).suffix)


def resolve_option_paths(options: dict[str, Any], base: Optional[Path]) -> dict[str, Any]:
    """Relative path options made absolute against ``base`` (the suite's folder); others untouched."""
    if base is None:
        return options
    out = dict(options)
    for key, value in options.items():
        if key in PATH_OPTION_KEYS and isinstance(value, str) and value and not value.startswith(("~", "hf:")) \
                and "://" not in value and not Path(value).is_absolute() and _looks_like_path(key, value):
            out[key] = str((base / value).resolve()) if "{" not in value else str(base.resolve() / value)
    return out


def load_suite(path: Union[str, Path]) -> Suite:
    """Read, parse and fully validate a suite file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SuiteError(f"{path}: suite file not found; check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError(f"{path}: cannot read suite ({exc}); pass a UTF-8 YAML file") from None
    return suite_from_text(text, str(path))


def suite_from_text(text: str, source: str = "<suite>") -> Suite:
    data, lines = parse_yaml(text, source)
    locate = _locator(source, lines)
    if not isinstance(data, dict):
        raise locate((), "a suite must be a YAML mapping with datasets, codecs and metrics")
    data.setdefault("name", Path(source).stem if source != "<suite>" else "suite")
    base = Path(source).parent if source != "<suite>" else None
    for section in ("datasets", "codecs"):
        entries = data.get(section)
        if isinstance(entries, list):
            data[section] = [{**e, "options": resolve_option_paths(e["options"], base)}
                             if isinstance(e, dict) and isinstance(e.get("options"), dict) else e for e in entries]
    try:
        suite = Suite.model_validate({**data, "path": source,
                                      "digest": hashlib.sha256(text.encode()).hexdigest()})
    except ValidationError as exc:
        raise _first_error(exc, locate, Suite) from None
    validate_entries(suite, locate)
    return suite


def _first_error(exc: ValidationError, locate: Locator, model: type[BaseModel]) -> ConfigError:
    # A misspelt key also makes its intended key "missing": report the misspelling first.
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    err = errors[0]
    loc = tuple(err["loc"])
    if err["type"] == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1])
        hint = did_you_mean(str(loc[-1]), allowed)
        return locate(loc, f"unknown key{hint}; allowed keys: {', '.join(allowed)}")
    if err["type"] == "missing":
        return locate(loc, "required key is missing")
    return locate(loc, err["msg"])


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """Field names of the (nested) model that ``loc`` points into."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part) if hasattr(current, "model_fields") else None
        if field is None:
            break
        args = getattr(field.annotation, "__args__", ())
        current = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), field.annotation)
    names = getattr(current, "model_fields", {})
    return sorted(n for n, f in names.items() if not f.exclude)


def check_options(cls: type, options: dict[str, Any], fixed: tuple[str, ...]) -> Optional[str]:
    """Return an error message when ``options`` do not fit ``cls.__init__``'s keywords."""
    params = inspect.signature(cls.__init__).parameters  # type: ignore[misc]
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return None
    allowed = [n for n, p in params.items() if n != "self" and n not in fixed
               and p.kind is not inspect.Parameter.VAR_POSITIONAL]
    for key in options:
        if key not in allowed:
            return (f"unknown option '{key}'{did_you_mean(key, allowed)}; "
                    f"allowed options: {', '.join(allowed) or '(none)'}")
    return None


def _check_registry(registry: Registry, name: str, path: tuple, locate: Locator) -> type:
    try:
        return registry.get(name)
    except RegistryError as exc:
        raise locate(path, str(exc)) from None


def validate_entries(suite: Suite, locate: Optional[Locator] = None) -> None:
    """Resolve every registry name and check options against class signatures."""
    from codecbench.codecs import CODECS
    from codecbench.datasets import DATASETS
    from codecbench.metrics import METRICS

    locate = locate or _locator(suite.path or "<suite>", {})
    _unique([d.name for d in suite.datasets], "datasets", locate)
    _unique([c.name for c in suite.codecs], "codecs", locate)
    from codecbench.results import REFERENCE_LABEL

    for i, codec in enumerate(suite.codecs):
        if codec.name == REFERENCE_LABEL:
            raise locate(("codecs", i, "name"), f"codec name '{REFERENCE_LABEL}' is reserved for the scores of the "
                                                "reference audio; choose another name")
    _unique([f"{m.name} {json.dumps(m.options, sort_keys=True)}" if m.options else m.name
             for m in suite.metrics], "metrics", locate)
    for i, entry in enumerate(suite.datasets):
        cls = _check_registry(DATASETS, entry.type, ("datasets", i, "type"), locate)
        problem = check_options(cls, entry.options, ("label", "max_utterances", "max_seconds"))
        if problem:
            raise locate(("datasets", i, "options"), problem)
    for i, codec in enumerate(suite.codecs):
        cls = _check_registry(CODECS, codec.adapter, ("codecs", i, "adapter"), locate)
        problem = check_options(cls, codec.options, ("bitrate", "device"))
        if problem:
            raise locate(("codecs", i, "options"), problem)
        seen_rates: set[Optional[float]] = set()
        for j, rate in enumerate(codec.bitrates):
            if rate is not None and rate <= 0:
                raise locate(("codecs", i, "bitrates", j), f"bitrate must be positive kbps, got {rate:g}")
            if rate in seen_rates:
                shown = "none" if rate is None else f"{rate:g}"
                raise locate(("codecs", i, "bitrates", j), f"bitrate {shown} is listed twice; list each bitrate once")
            seen_rates.add(rate)
            check = getattr(cls, "check_bitrate", None)
            problem = check(rate, dict(codec.options)) if callable(check) else None
            if problem:
                raise locate(("codecs", i, "bitrates", j), problem)
    for i, metric in enumerate(suite.metrics):
        cls = _check_registry(METRICS, metric.name, ("metrics", i, "name"), locate)
        problem = check_options(cls, metric.options, ())
        if problem:
            raise locate(("metrics", i, "options"), problem)
    if suite.report:
        _validate_report(suite.report, locate)
        _validate_anchor(suite, locate)


def _unique(names: list[str], key: str, locate: Locator) -> None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            raise locate((key, i, "name"), f"duplicate name '{name}'; every entry needs its own name")
        seen.add(name)


def _validate_report(report: dict[str, Any], locate: Locator) -> None:
    try:
        from codecbench.report.options import ReportOptions
    except ImportError:  # report package not installed in this build
        return
    try:
        ReportOptions.model_validate(report)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ("report",) + tuple(err["loc"])
        if err["type"] == "extra_forbidden":
            allowed = sorted(ReportOptions.model_fields)
            raise locate(loc, f"unknown key{did_you_mean(str(loc[-1]), allowed)}; "
                              f"allowed keys: {', '.join(allowed)}") from None
        raise locate(loc, err["msg"]) from None


def _validate_anchor(suite: Suite, locate: Locator) -> None:
    """``report.anchor`` must name a codec, an adapter or one operating point (``Opus_12``)."""
    from codecbench.results import condition_label

    anchor = suite.report.get("anchor")
    if not anchor:
        return
    choices = [c.name for c in suite.codecs] + [c.adapter for c in suite.codecs]
    choices += [condition_label(c.name, b) for c in suite.codecs for b in c.bitrates]
    if anchor not in choices:
        names = sorted({c.name for c in suite.codecs})
        raise locate(("report", "anchor"), f"anchor '{anchor}' is not a codec of this suite"
                                           f"{did_you_mean(str(anchor), choices)}; choose one of: {', '.join(names)}")


def load_codec_entry(path: Union[str, Path]) -> CodecEntry:
    """Read one codec entry (as in a suite's ``codecs`` list) for ``codecbench roundtrip``.

    ``bitrate`` (a single number) is accepted as well as ``bitrates``; ``name`` defaults to
    the adapter.
    """
    path = Path(path)
    if not path.is_file():
        raise SuiteError(f"{path}: codec file not found; check the path")
    data, lines = parse_yaml(path.read_text(encoding="utf-8"), str(path))
    locate = _locator(str(path), lines)
    if not isinstance(data, dict):
        raise locate((), "a codec entry must be a mapping with 'adapter' (and 'bitrate', 'options')")
    if "bitrate" in data:
        data["bitrates"] = data.pop("bitrate")
    data.setdefault("name", data.get("adapter", "codec"))
    if isinstance(data.get("options"), dict):
        data["options"] = resolve_option_paths(data["options"], path.parent)
    try:
        entry = CodecEntry.model_validate(data)
    except ValidationError as exc:
        raise _first_error(exc, locate, CodecEntry) from None
    from codecbench.codecs import CODECS

    cls = _check_registry(CODECS, entry.adapter, ("adapter",), locate)
    problem = check_options(cls, entry.options, ("bitrate", "device"))
    if problem:
        raise locate(("options",), problem)
    check = getattr(cls, "check_bitrate", None)
    for rate in entry.bitrates:
        problem = check(rate, dict(entry.options)) if callable(check) else None
        if problem:
            raise locate(("bitrates",), problem)
    return entry
