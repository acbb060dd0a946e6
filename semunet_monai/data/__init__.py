"""Data: MRBrainS13/18 and datalist layouts, label schemes, cached slice datasets, preflight checks, and the
embedded procedural brain-phantom dataset.

The public names import their modules on first use (:mod:`semunet_monai.lazy`): the command line reads
:data:`LABEL_SCHEMES` without importing torch.
"""

from __future__ import annotations

from ..lazy import lazy_exports

# public name -> module that defines it
_EXPORTS = {
    "IGNORE_INDEX": ".labels",
    "LABEL_SCHEMES": ".labels",
    "SliceDataset": ".dataset",
    "check_data": ".preflight",
    "check_items": ".preflight",
    "detect_layout": ".layouts",
    "discover": ".layouts",
    "get_label_scheme": ".labels",
    "make_slice_dataset": ".dataset",
    "make_subject": ".phantom",
    "split_subjects": ".dataset",
    "volume_transforms": ".dataset",
    "write_demo_dataset": ".demo",
}

__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
