"""Dataset registry. A suite names a dataset by ``type`` and passes its options as keywords.

Built-ins: ``folder`` (any local folder), ``scp`` (a Kaldi ``wav.scp`` with optional ``text``), ``expresso`` and ``vctk`` (official layouts or
Hugging Face parquet), ``builtin`` (embedded synthetic clips for the quickstart). Third-party
datasets register in the ``codecbench.datasets`` entry-point group.
"""

from codecbench.datasets.base import Dataset, DatasetError, Utterance
from codecbench.registry import Registry

DATASETS: Registry[Dataset] = Registry("dataset", "codecbench.datasets")
DATASETS.register("folder", "codecbench.datasets.folder:FolderDataset")
DATASETS.register("expresso", "codecbench.datasets.expresso:ExpressoDataset")
DATASETS.register("scp", "codecbench.datasets.scp:ScpDataset")
DATASETS.register("vctk", "codecbench.datasets.vctk:VctkDataset")
DATASETS.register("builtin", "codecbench.datasets.builtin:BuiltinDataset")

__all__ = ["DATASETS", "Dataset", "DatasetError", "Utterance"]
