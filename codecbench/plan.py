"""The plan: datasets x codecs x bitrates x utterances, in a stable order.

Rows are ordered utterance-major (each reference is loaded once for all codec points) and
sharded by utterance, so ``--shard K/N`` slices are disjoint, cover the plan, and keep each
utterance's rows together.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass, field
from typing import Any, Optional

from codecbench.codecs import CODECS, Codec
from codecbench.results import condition_label
from codecbench.suite import CodecEntry, Suite, SuiteError


@dataclass(frozen=True)
class Shard:
    """Slice ``index`` (1-based) of ``count``."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> "Shard":
        try:
            k, n = (int(p) for p in text.split("/"))
        except ValueError:
            raise SuiteError(f"--shard '{text}': expected K/N with integers, e.g. 2/8") from None
        if not 1 <= k <= n:
            raise SuiteError(f"--shard '{text}': K must be between 1 and N")
        return cls(k, n)

    @property
    def tag(self) -> str:
        return f"{self.index}-of-{self.count}"


@dataclass
class CodecPoint:
    """One codec entry at one bitrate, with its adapter instance (or why it cannot run)."""

    entry: CodecEntry
    bitrate: Optional[float]
    codec: Optional[Codec]
    unavailable: Optional[str] = None
    identity_digest: str = ""

    @property
    def label(self) -> str:
        return condition_label(self.entry.name, self.bitrate)


@dataclass(frozen=True)
class PlanRow:
    dataset: str
    utterance: Any  # codecbench.datasets.Utterance
    point: CodecPoint = field(compare=False)

    @property
    def item_key(self) -> str:
        """Identity of the row in the store: what is compared, not how it was produced."""
        ident = [self.dataset, self.utterance.id, self.point.entry.name, self.point.bitrate]
        return hashlib.sha256(json.dumps(ident).encode()).hexdigest()[:32]


@dataclass
class Plan:
    rows: list[PlanRow]
    points: list[CodecPoint]
    dataset_errors: list[str]
    total_rows: int
    skipped_inputs: list[str] = field(default_factory=list)  # one line per file a dataset passed over


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``; ``cuda`` without a GPU is an error.

    ``auto`` only consults torch when something already imported it (every neural adapter
    does), so suites of classic codecs never pay for importing torch.
    """
    if device == "cpu" or (device == "auto" and "torch" not in sys.modules):
        return "cpu"
    try:
        import torch

        available = torch.cuda.is_available()
    except ImportError:
        available = False
    if device == "cuda" and not available:
        raise SuiteError("device 'cuda' requested but no CUDA GPU is visible; use --device cpu or auto")
    return "cuda" if available else "cpu"


def build_points(suite: Suite, device: str) -> tuple[list[CodecPoint], str]:
    """Instantiate every codec x bitrate; returns them and the resolved device.

    Bad options fail here, before any work starts.
    """
    classes = [CODECS.get(entry.adapter) for entry in suite.codecs]  # imports torch if any is neural
    device = resolve_device(device)
    points = []
    for i, (entry, cls) in enumerate(zip(suite.codecs, classes)):
        for j, bitrate in enumerate(entry.bitrates):
            where = f"{suite.path}: codecs[{i}] ({entry.name})" + (f" bitrate {bitrate:g}" if bitrate else "")
            try:
                codec = cls(bitrate=bitrate, device=device, **entry.options)
            except TypeError as exc:
                raise SuiteError(f"{where}: {exc}") from None
            except (ValueError, KeyError) as exc:
                raise SuiteError(f"{where}: {str(exc).strip(chr(39))}") from None
            except Exception as exc:  # noqa: BLE001 - an adapter's own failure: skip its items
                points.append(CodecPoint(entry, bitrate, None, f"{type(exc).__name__}: {exc}"))
                continue
            reason = codec.unavailable_reason()
            digest = hashlib.sha256(json.dumps(codec.identity(), sort_keys=True, default=str).encode()).hexdigest()
            points.append(CodecPoint(entry, bitrate, codec, reason, digest))
    return points, device


def build_plan(suite: Suite, points: list[CodecPoint], shard: Optional[Shard] = None) -> Plan:
    """List the rows of the plan (this shard's only, when sharded)."""
    from codecbench.datasets import DATASETS

    rows: list[PlanRow] = []
    errors: list[str] = []
    skipped: list[str] = []
    total = 0
    utterance_index = 0
    for entry in suite.datasets:
        cls = DATASETS.get(entry.type)
        try:
            dataset = cls(label=entry.name, max_utterances=entry.max_utterances,
                          max_seconds=entry.max_seconds, **entry.options)
            utterances = dataset.utterances()
        except Exception as exc:  # noqa: BLE001 - one bad dataset must not stop the others
            errors.append(f"dataset '{entry.name}': {exc}")
            continue
        skipped.extend(f"dataset '{entry.name}': skipped {line}" for line in getattr(dataset, "skipped", []) or [])
        for utterance in utterances:
            mine = shard is None or utterance_index % shard.count == shard.index - 1
            utterance_index += 1
            total += len(points)
            if mine:
                rows.extend(PlanRow(entry.name, utterance, point) for point in points)
    return Plan(rows, points, errors, total, skipped)
