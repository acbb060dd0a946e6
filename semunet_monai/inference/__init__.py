"""Inference on new scans: input selection, checks, the trained model and its geometry, the MONAI pipeline."""

from __future__ import annotations

from .checks import check_scan
from .infer import (
    bundle_fit,
    bundle_inputs,
    dataset_label_values,
    infer,
    one_line_errors,
    prepare_inputs,
)
from .inputs import Scan, Selection, modality_of, select_inputs
from .model import Trained, load_trained, read_geometry, saved_experiment, training_geometry, write_geometry
from .pipeline import FITS, postprocessing, preprocessing, run_inference, slice_inferer

__all__ = [
    "FITS",
    "Scan",
    "Selection",
    "Trained",
    "bundle_fit",
    "bundle_inputs",
    "check_scan",
    "dataset_label_values",
    "infer",
    "load_trained",
    "modality_of",
    "one_line_errors",
    "postprocessing",
    "prepare_inputs",
    "preprocessing",
    "read_geometry",
    "run_inference",
    "saved_experiment",
    "select_inputs",
    "slice_inferer",
    "training_geometry",
    "write_geometry",
]
