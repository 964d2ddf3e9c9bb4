"""Training data: audio sources, random crops and a resumable, seeded, rank-aware batch sampler.

Crops are drawn from a seed derived from ``(seed, epoch, position)`` that the sampler hands to
the dataset with each index, so the data stream depends on nothing but those numbers: not on
worker count, worker scheduling or global RNG state. That is what makes a resumed run see the
same batches as an uninterrupted one (the checkpoint stores epoch and batch position).
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional, Protocol, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from codecbench.errors import ConfigError, DataError
from codecbench.audio import AUDIO_EXTENSIONS, load_audio, resample


class AudioItem(Protocol):
    """Anything with a name and ``load() -> (audio [C, T] float32, sample_rate)``.

    codecbench ``Utterance`` objects satisfy it; so does :class:`FileItem`.
    """

    def load(self) -> tuple[np.ndarray, int]: ...


@dataclass(frozen=True)
class FileItem:
    """An audio file on disk."""

    path: str

    @property
    def name(self) -> str:
        return self.path

    def load(self) -> tuple[np.ndarray, int]:
        return load_audio(self.path)


def item_name(item: AudioItem) -> str:
    """Readable name of an item (path, utterance id or repr)."""
    for attr in ("name", "id", "utt_id", "path"):
        value = getattr(item, attr, None)
        if isinstance(value, (str, Path)):
            return str(value)
    return repr(item)


def resolve_source(spec: str, dataset_root: Optional[str] = None, default_split: str = "train") -> list[AudioItem]:
    """Turn a data spec into a sorted list of items.

    Args:
        spec: a folder (recursive search for audio files), a text file list (``#`` comments and
            blank lines skipped; relative paths resolved against the list's folder; anything after
            a ``|`` ignored, as in the official lists), or ``dataset:<name>[:<split>]``.
        dataset_root: root folder for codecbench datasets.
        default_split: split used when a dataset spec names none.
    """
    if spec.startswith("dataset:"):
        _, _, rest = spec.partition(":")
        name, _, split = rest.partition(":")
        try:
            from codecbench.datasets import DATASETS
        except ImportError as exc:
            raise DataError(f"data spec {spec!r}: codecbench.datasets is unavailable ({exc}); "
                             "use a folder or a file list") from exc
        factory = DATASETS.get(name)
        wanted = {"root": dataset_root, "split": split or default_split}
        accepted = inspect.signature(factory).parameters
        dataset = factory(**{k: v for k, v in wanted.items() if v is not None and k in accepted})
        utterances = list(dataset.utterances() if hasattr(dataset, "utterances") else dataset)
        if not utterances:
            raise DataError(f"data spec {spec!r}: dataset yielded no utterances; check dataset_root")
        return utterances
    path = Path(spec).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
        if not files:
            raise DataError(f"data folder {path}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) found")
        return [FileItem(str(p)) for p in files]
    if path.is_file():
        items: list[AudioItem] = []
        for line in path.read_text().splitlines():
            line = line.split("|", 1)[0].strip()
            if not line or line.startswith("#"):
                continue
            entry = Path(line).expanduser()
            items.append(FileItem(str(entry if entry.is_absolute() else path.parent / entry)))
        if not items:
            raise DataError(f"file list {path}: no entries")
        return items
    raise DataError(f"data spec {spec!r}: not a folder, a file list or 'dataset:<name>[:<split>]'")


def load_mono(item: AudioItem, sample_rate: int) -> np.ndarray:
    """Load an item as float32 mono ``[T]`` at ``sample_rate`` (channels averaged)."""
    audio, rate = item.load()
    audio = resample(np.asarray(audio, dtype=np.float32), int(rate), sample_rate)
    return audio.mean(axis=0, dtype=np.float32) if audio.shape[0] > 1 else audio[0]


class CropDataset(Dataset):
    """Random fixed-length crops. Indexed by ``(item_index, crop_seed)`` pairs from the sampler.

    Files shorter than the crop are zero-padded at the end (as the official loader does).
    Returns float32 ``[1, segment_size]``.
    """

    def __init__(self, items: Sequence[AudioItem], sample_rate: int, segment_size: int, cache: bool = False) -> None:
        if not items:
            raise DataError("training data: no items")
        self.items = list(items)
        self.sample_rate = sample_rate
        self.segment_size = segment_size
        self.cache = cache
        self._cache: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.items)

    def _audio(self, index: int) -> np.ndarray:
        if self.cache and index in self._cache:
            return self._cache[index]
        audio = load_mono(self.items[index], self.sample_rate)
        if self.cache:
            self._cache[index] = audio
        return audio

    def __getitem__(self, key: tuple[int, int]) -> torch.Tensor:
        index, crop_seed = key
        audio = self._audio(int(index))
        if audio.shape[0] >= self.segment_size:
            start = int(np.random.default_rng(crop_seed).integers(0, audio.shape[0] - self.segment_size + 1))
            crop = audio[start:start + self.segment_size]
        else:
            crop = np.pad(audio, (0, self.segment_size - audio.shape[0]))
        return torch.from_numpy(np.ascontiguousarray(crop, dtype=np.float32)).unsqueeze(0)


class ResumableBatchSampler(Sampler[list[tuple[int, int]]]):
    """Shuffled, rank-sharded batches of ``(index, crop_seed)`` that can start mid-epoch.

    Each epoch draws a permutation from ``(seed, epoch)``; with fewer items than one global batch
    the permutation is repeated so an epoch always holds at least one batch. Rank ``r`` of ``w``
    takes positions ``r, r + w, ...`` (as ``DistributedSampler``), incomplete batches are dropped.

    Args:
        num_items: dataset size.
        batch_size: per-rank batch size.
        seed: base seed.
        rank, world_size: this process's shard.
    """

    def __init__(self, num_items: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1) -> None:
        self.num_items, self.batch_size, self.seed = num_items, batch_size, seed
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        self.start_batch = 0
        global_batch = batch_size * world_size
        self.batches_per_epoch = max(1, max(num_items, global_batch) // global_batch)

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Select the epoch and the batch to start from (for resuming mid-epoch)."""
        self.epoch, self.start_batch = epoch, start_batch

    def __len__(self) -> int:
        return self.batches_per_epoch - self.start_batch

    def _order(self) -> np.ndarray:
        rng = np.random.default_rng([self.seed, self.epoch])
        total = self.batches_per_epoch * self.batch_size * self.world_size
        reps = math.ceil(total / self.num_items)
        return np.concatenate([rng.permutation(self.num_items) for _ in range(reps)])[:total]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        order = self._order()
        for b in range(self.start_batch, self.batches_per_epoch):
            batch = []
            for j in range(self.batch_size):
                position = (b * self.batch_size + j) * self.world_size + self.rank
                crop_seed = int(np.random.SeedSequence([self.seed, self.epoch, position]).generate_state(1)[0])
                batch.append((int(order[position]), crop_seed))
            yield batch


def build_loader(dataset: CropDataset, sampler: ResumableBatchSampler, num_workers: int, seed: int,
                 pin_memory: bool = False) -> DataLoader:
    """DataLoader over the resumable batch sampler with a seeded generator (worker seeds)."""
    generator = torch.Generator()
    generator.manual_seed(seed)
    # Spawned, not forked: forking after torch has run OpenMP threads can hang the children.
    # Workers persist across epochs so the spawn cost is paid once; crops are seeded by the
    # sampler's (seed, epoch, position), so this changes no sample.
    extra: dict[str, Any] = {"multiprocessing_context": "spawn", "persistent_workers": True} if num_workers > 0 else {}
    return DataLoader(dataset, batch_sampler=sampler, num_workers=num_workers, generator=generator,
                      pin_memory=pin_memory, **extra)


def split_items(items: list[AudioItem], holdout: int) -> tuple[list[AudioItem], list[AudioItem]]:
    """Hold out the last ``holdout`` items (sorted order) for validation."""
    if holdout <= 0:
        return items, []
    if holdout >= len(items):
        raise ConfigError(f"train.valid_holdout={holdout} leaves no training files (only {len(items)}); "
                         "lower it or set train.valid_data")
    return items[:-holdout], items[-holdout:]


def load_validation_set(items: Sequence[AudioItem], sample_rate: int, max_files: int,
                        max_seconds: Optional[float]) -> list[tuple[str, torch.Tensor]]:
    """Load up to ``max_files`` validation clips as ``(name, [1, 1, T])`` float32 tensors."""
    clips: list[tuple[str, torch.Tensor]] = []
    for item in list(items)[:max_files]:
        audio = load_mono(item, sample_rate)
        if max_seconds is not None:
            audio = audio[: int(max_seconds * sample_rate)]
        clips.append((item_name(item), torch.from_numpy(np.ascontiguousarray(audio)).view(1, 1, -1)))
    return clips

