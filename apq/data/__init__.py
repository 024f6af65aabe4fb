"""Datasets: file readers (IDX, CIFAR binary, image folders), the registry, and splits.

Torch loaders live in :mod:`apq.data.loaders`, imported on demand to keep this package light.
"""

from apq.data.datasets import (Dataset, DatasetSpec, FolderOptions, dataset_kinds,
                               get_dataset_spec, load_dataset)
from apq.data.splits import DataSplits, make_splits, train_val_split

__all__ = ["Dataset", "DatasetSpec", "FolderOptions", "DataSplits", "dataset_kinds",
           "get_dataset_spec", "load_dataset", "make_splits", "train_val_split"]
