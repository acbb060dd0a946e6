"""train.json's data nodes: the run's ``datalist``, the slice dataset of each part (``train#dataset``,
``validate#dataset``, ``test#dataset``) and the training loader's settings.

The volume transforms are a node of their own (``train#preprocessing``: :func:`semunet_monai.data.volume_transforms`),
which the dataset nodes load, cache and cut into slices with. MONAI Label sets ``train#dataset#data`` and
``validate#dataset#data`` to lists of ``{"image", "label"}`` items: ``datalist`` then takes them as the split (no test
subjects), instead of the experiment's dataset folder or the embedded demo data. Nothing is written while the config
is parsed; the run folder records the datalist it trained on (``datalist.json``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from .config import ExperimentConfig, config_from_dict
from .data.labels import get_label_scheme
from .data.layouts import SUBJECT, strip_suffix
from .engines.rundata import check_data, make_dataset, split_items

__all__ = ["SECTIONS", "Datalist", "datalist", "slice_dataset", "record_loader", "record_preprocessing"]

logger = logging.getLogger(__name__)

SECTIONS = ("training", "validation", "test")
_PARTS = {"training": "train", "validation": "val", "test": "test"}  # the datalist's sections, the run's parts


class Datalist(dict):
    """The run's items by section (``training``, ``validation``, ``test``); ``given``: they were given as items
    (MONAI Label) rather than found in the experiment's dataset."""

    def __init__(self, sections: dict[str, list[dict]], given: bool = False) -> None:
        super().__init__(sections)
        self.given = given


def _named(items: list[list[dict]]) -> list[list[dict]]:
    """Given items with subject ids: the image names, made unique with their folder where two images share a name
    (else numbered)."""
    entries = [(i, it) for i, part in enumerate(items) for it in part]
    stems = [strip_suffix(Path(str(it["image"])).name) for _, it in entries]
    ids = [
        s if stems.count(s) == 1 else f"{Path(str(it['image'])).parent.name}_{s}" for s, (_, it) in zip(stems, entries)
    ]
    if len(set(ids)) != len(ids):
        ids = [f"{n:04d}_{s}" for n, s in enumerate(stems)]
    named: list[list[dict]] = [[] for _ in items]
    for sid, (i, it) in zip(ids, entries):
        named[i].append({**it, "image": str(it["image"]), "label": str(it["label"]), SUBJECT: sid})
    return named


def _check_items(value: Any, node_id: str) -> list[dict]:
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"{node_id}: expected a non-empty list of {{'image', 'label'}} items, got {value!r}.")
    for n, it in enumerate(value):
        if not isinstance(it, dict) or "image" not in it or "label" not in it:
            raise ValueError(f"{node_id}: item {n} must be a dictionary with 'image' and 'label', got {it!r}.")
    return list(value)


def datalist(
    experiment: ExperimentConfig,
    training: list[dict] | None = None,
    validation: list[dict] | None = None,
    debug: bool = False,
) -> Datalist:
    """train.json's ``datalist``: the run's items, ``{"training", "validation", "test"}``, each a list of data
    dictionaries with ``image``, ``label`` and ``subject``, checked before any volume is cached.

    Args:
        experiment: the run's configuration. Without given items its dataset (``data.root``, else the embedded demo
            data, generated on first use) is discovered and split by subject as ``semunet-monai train`` splits it.
        training, validation: given items (``train#dataset#data`` and ``validate#dataset#data``, which MONAI Label
            sets): they are the split, with subject ids from the image names and no test subjects. Their labels are
            read with ``data.label_scheme`` (the experiment takes class indices as they are when items are given).
        debug: keep the traceback of a refused dataset; else it ends the run in one ERROR line naming the file.
    """
    from .inference.infer import one_line_errors

    return one_line_errors(lambda: _datalist(experiment, training, validation), debug)


def _datalist(experiment: ExperimentConfig, training, validation) -> Datalist:
    if training is None and validation is None:
        _, parts, _ = split_items(experiment)
        return Datalist({section: parts[_PARTS[section]] for section in SECTIONS})
    train = _check_items(training, "train#dataset#data")
    if validation is None:
        raise ValueError("validate#dataset#data: bundle training from given items needs validation items too.")
    val = _check_items(validation, "validate#dataset#data")
    train, val = _named([train, val])
    check_data(experiment, train + val, get_label_scheme(experiment.data.label_scheme), "train#dataset#data")
    logger.info("given items: %d training and %d validation subjects", len(train), len(val))
    return Datalist({"training": train, "validation": val, "test": []}, given=True)


def slice_dataset(
    experiment: ExperimentConfig,
    datalist: dict[str, list[dict]],
    section: str,
    transform: Any = None,
    data: list[dict] | None = None,
    debug: bool = False,
):
    """``train#dataset``, ``validate#dataset``, ``test#dataset``: the slices of ``datalist[section]``.

    Args:
        experiment: the run's configuration (cache, slice axis, physics simulation, label scheme).
        datalist: train.json's ``datalist``.
        section: ``training``, ``validation`` or ``test``.
        transform: the volume transforms (``train#preprocessing``); None: those of ``experiment.data``.
        data: MONAI Label's slot: items given here are the ``datalist``'s section already (``datalist`` reads them).
        debug: keep the traceback of an unreadable volume; else it ends the run in one ERROR line.

    Returns:
        a :class:`~semunet_monai.data.SliceDataset` (or raw k-space slices), None for a section without items.
    """
    from .inference.infer import one_line_errors

    def make():
        if section not in SECTIONS:
            raise ValueError(f"argument 'section' must be one of {SECTIONS}, got {section!r}.")
        if data is not None and [str(it["image"]) for it in data] != [str(it["image"]) for it in datalist[section]]:
            raise ValueError(f"the {section} dataset's data differs from the datalist's {section!r} items.")
        return make_dataset(experiment, datalist[section], transform)

    return one_line_errors(make, debug)


def record_loader(config: ExperimentConfig, loader: Any) -> ExperimentConfig:
    """``config`` with train.json's ``train#dataloader`` node (a ``DataLoader`` partial) written into it
    (``train.batch_size``, ``train.num_workers``), so the run's config.yaml says what was trained and resume checks
    the batch size it was saved with."""
    keywords = getattr(loader, "keywords", None)
    if keywords is None:
        raise ValueError(
            f"train#dataloader: expected a torch.utils.data.DataLoader node in callable mode, got {loader!r}."
        )
    for key in ("dataset", "sampler", "shuffle"):
        if key in keywords:
            raise ValueError(
                f"train#dataloader: {key!r} is set by each training phase (a seeded DistributedSampler that shuffles "
                "by epoch); remove it from the node."
            )
    values = {k: keywords[k] for k in ("batch_size", "num_workers") if k in keywords}
    for key, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < (1 if key == "batch_size" else 0):
            raise ValueError(
                f"train#dataloader#{key} must be a {'positive' if key == 'batch_size' else 'non-negative'} "
                f"integer, got {value!r}."
            )
    return config_from_dict({"train": values}, config, source="train#dataloader")


def record_preprocessing(config: ExperimentConfig, transform: Any) -> ExperimentConfig:
    """``config`` with train.json's ``train#preprocessing`` node written into it (``data.spatial_size``,
    ``data.n4``), so that inference prepares scans as training did; refuses a pipeline the experiment cannot record
    (another label scheme or intensity percentile, a non-square size, or a Compose not made by
    :func:`semunet_monai.data.volume_transforms`)."""
    settings = getattr(transform, "settings", None)
    if settings is None:
        raise ValueError(
            "train#preprocessing: expected a semunet_monai.data.volume_transforms node (the experiment records its "
            f"spatial_size and n4 for inference), got {type(transform).__name__}."
        )
    size = settings["spatial_size"]
    if len(set(size)) != 1:
        raise ValueError(f"train#preprocessing#spatial_size: the experiment records square slices, got {list(size)}.")
    if get_label_scheme(settings["label_scheme"]).mapping != get_label_scheme(config.data.label_scheme).mapping:
        raise ValueError(
            "train#preprocessing#label_scheme: set the label scheme through the experiment (data.label_scheme in "
            f"--experiment_file), got {settings['label_scheme']!r} against {config.data.label_scheme!r}."
        )
    if settings["upper_percentile"] != 99.5:
        raise ValueError(
            "train#preprocessing#upper_percentile: inference scales scans by the 99.5th percentile; the experiment "
            f"cannot record {settings['upper_percentile']!r}."
        )
    return config_from_dict(
        {"data": {"spatial_size": int(size[0]), "n4": bool(settings["n4"])}}, config, source="train#preprocessing"
    )
