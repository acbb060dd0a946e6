"""Data: MRBrainS13/18 and datalist layouts, label schemes, cached slice datasets, preflight checks, and the
embedded procedural brain-phantom dataset."""

from __future__ import annotations

from .dataset import SliceDataset, make_slice_dataset, split_subjects, volume_transforms
from .demo import write_demo_dataset
from .labels import IGNORE_INDEX, LABEL_SCHEMES, get_label_scheme
from .layouts import detect_layout, discover
from .phantom import make_subject
from .preflight import check_data, check_items

__all__ = [
    "IGNORE_INDEX",
    "LABEL_SCHEMES",
    "SliceDataset",
    "check_data",
    "check_items",
    "detect_layout",
    "discover",
    "get_label_scheme",
    "make_slice_dataset",
    "make_subject",
    "split_subjects",
    "volume_transforms",
    "write_demo_dataset",
]
