"""A run's data: the embedded demo dataset when no dataset is given, preflight checks, the subject split and the
cached slice datasets; and the device."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import torch

from ..config import ExperimentConfig
from ..data.dataset import SliceDataset, make_slice_dataset, split_subjects, volume_transforms
from ..data.labels import get_label_scheme
from ..data.layouts import SUBJECT, detect_layout, discover
from ..data.preflight import check_items
from ..data.raw_dataset import RawSliceDataset, check_raw_items, is_raw
from ..keys import Keys
from .distributed import is_main, main_first

__all__ = [
    "RunData",
    "resolve_device",
    "demo_shape",
    "demo_root",
    "ensure_demo_dataset",
    "split_items",
    "check_data",
    "make_dataset",
    "run_data",
    "prepare_data",
    "slice_axis",
]

logger = logging.getLogger(__name__)


class RunData:
    """The split datasets of a run and what describes them (``train_images``: the training scans' paths; ``items``:
    each part's data items)."""

    def __init__(
        self,
        train: SliceDataset,
        val: SliceDataset,
        test: SliceDataset,
        split: dict,
        scheme: Any,
        train_images: list[str] | None = None,
        items: dict[str, list[dict]] | None = None,
    ) -> None:
        self.train, self.val, self.test, self.split, self.scheme = train, val, test, split, scheme
        self.train_images = list(train_images or [])
        self.items = items or {}  # the data items of each part ("train", "val", "test"): the run's datalist


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ValueError(f"train.device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {name!r}.") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"train.device is {name!r} but CUDA is not available on this machine.")
    return device


def demo_shape(spatial_size: int) -> tuple[int, int, int]:
    """Demo-data grid for a training size: in-plane ``spatial_size``, slices scaled from MRBrainS13's 48 at 240."""
    return (int(spatial_size), int(spatial_size), max(8, round(48 * int(spatial_size) / 240)))


def demo_root(config: ExperimentConfig) -> Path:
    """Where the embedded demo dataset for this config lives: ``data.demo_dir``, else a per-user cache folder
    (``$SEMUNET_MONAI_CACHE`` or ``~/.cache/semunet-monai``) keyed by generator, subjects, seed and grid."""
    d = config.data
    if d.demo_dir:
        return Path(d.demo_dir)
    base = Path(os.environ.get("SEMUNET_MONAI_CACHE", Path.home() / ".cache" / "semunet-monai"))
    x, y, z = demo_shape(d.spatial_size)
    return base / f"demo_{d.demo_generator}_s{d.demo_subjects}_seed{d.demo_seed}_{x}x{y}x{z}"


def ensure_demo_dataset(config: ExperimentConfig) -> Path:
    """Generate the demo dataset unless a complete one for the same settings, generator code and library versions
    (:func:`~semunet_monai.data.demo.generator_fingerprint`) is already there."""
    from ..data.demo import GENERATORS, generator_fingerprint, write_demo_dataset

    root = demo_root(config)
    d = config.data
    info_path = root / "dataset.json"
    if info_path.is_file():
        info = json.loads(info_path.read_text())
        wanted = {
            "subjects": d.demo_subjects,
            "seed": d.demo_seed,
            "shape": list(demo_shape(d.spatial_size)),
            "generator_name": d.demo_generator,
            "generator_version": GENERATORS[d.demo_generator][1],
            "generator_fingerprint": generator_fingerprint(d.demo_generator),
        }
        if all(info.get(k) == v for k, v in wanted.items()):
            return root
        stale = [k for k, v in wanted.items() if info.get(k) != v]
        logger.info("the demo dataset in %s was made with other settings or code (%s)", root, ", ".join(stale))
    logger.info("generating the demo dataset (%d %s subjects) in %s", d.demo_subjects, d.demo_generator, root)
    shape = demo_shape(d.spatial_size)
    write_demo_dataset(root, d.demo_subjects, d.demo_seed, shape=shape, overwrite=True, generator=d.demo_generator)
    return root


def _datalist_split(root: Path, modality: str) -> tuple[list[dict], dict[str, list[str]]] | None:
    """A datalist whose JSON holds a ``validation`` (and optionally ``test``) section fixes the split itself."""
    if detect_layout(root) != "datalist":
        return None
    sections = json.loads(root.read_text())
    if not sections.get("validation"):
        return None
    items, split = [], {}
    for name, section in (("train", "training"), ("val", "validation"), ("test", "test")):
        part = discover(root, modality=modality, layout="datalist", section=section) if sections.get(section) else []
        items += part
        split[name] = sorted({it[SUBJECT] for it in part})
    return items, split


def _check_raw_settings(config: ExperimentConfig, root: Path) -> None:
    """A datalist of raw multi-coil k-space files (see :mod:`semunet_monai.data.raw_dataset`) needs multi-coil
    physics and 2-D slices."""
    if config.sampling.geometry == "kykz":
        raise ValueError(
            f"{root}: raw k-space files hold 2-D slices; sampling.geometry 'kykz' needs image volumes (3-D raw k-space "
            "training is not supported)."
        )
    if config.physics.mode != "multicoil":
        raise ValueError(
            f"{root}: the dataset holds raw multi-coil k-space; set physics.mode: multicoil (CLI --physics multicoil), "
            f"got {config.physics.mode!r}."
        )


def check_data(config: ExperimentConfig, items: list[dict], scheme: Any, source: str) -> None:
    """Preflight-check ``items`` on rank 0 (its error reaches every rank): images and labels readable, matching and
    labelled with the scheme's values; raw k-space files (with their settings) likewise."""
    if is_raw(items):
        _check_raw_settings(config, Path(source))

        def check() -> None:
            errors = check_raw_items(items, scheme)
            if errors:
                raise ValueError(errors[0] + (f" ({len(errors) - 1} more error(s))" if len(errors) > 1 else ""))

        main_first(check)
        return
    report = check_items(items, scheme, source=source) if is_main() else None
    main_first(report.raise_if_errors if report is not None else lambda: None)


def split_items(config: ExperimentConfig) -> tuple[Path, dict[str, list[dict]], dict[str, list[str]]]:
    """The run's data as item lists: ``(root, {"train", "val", "test"}: items, split: subject ids)``.

    Generates the demo data when no dataset is given, discovers the items and checks them (:func:`check_data`). The
    split is drawn by :func:`split_subjects` from the config, unless the dataset is a datalist JSON with a
    ``validation`` section: then its ``training``/``validation``/``test`` sections are the split. Refuses a split
    without training subjects or without validation and test subjects.
    """
    d = config.data
    if d.root is None:
        main_first(lambda: ensure_demo_dataset(config))
        root = demo_root(config)
    else:
        root = Path(d.root)
    given = _datalist_split(root, d.modality) if d.layout in (None, "datalist") else None
    items = given[0] if given else discover(root, modality=d.modality, layout=d.layout)
    check_data(config, items, get_label_scheme(d.label_scheme), str(root))
    split = given[1] if given else None
    if split is None:
        split = split_subjects([it[SUBJECT] for it in items], d.n_test, d.n_val, d.folds, d.fold, d.split_seed)
    if not split["val"]:
        logger.warning("no validation subjects: validation uses the test subjects, so no best checkpoint is selected.")
    parts = {name: [it for it in items if it[SUBJECT] in split[name]] for name in ("train", "val", "test")}
    if not parts["train"] or not (parts["val"] or parts["test"]):
        raise ValueError(f"{root}: the split needs training subjects and validation or test subjects, got {split}.")
    return root, parts, split


def slice_axis(config: ExperimentConfig) -> int:
    """The volume axis the networks' 2-D planes are taken across: the read-out axis in ``sampling.geometry: kykz``
    (the planes are (ky, kz) images), else 2 (axial slices)."""
    return config.sampling.readout_axis if config.sampling.geometry == "kykz" else 2


def physics_transform(config: ExperimentConfig):
    """The slice transform that simulates ``config.physics`` (None in the paper's ``magnitude`` mode)."""
    p = config.physics
    if p.mode == "magnitude":
        return None
    from ..transforms.physics import SimulateAcquisitiond

    return SimulateAcquisitiond(
        mode=p.mode,
        coils=p.coils,
        coil_radius=p.coil_radius,
        max_phase=p.max_phase,
        phase_degree=p.phase_degree,
        seed=p.seed,
    )


def make_dataset(config: ExperimentConfig, items: list[dict], transform=None):
    """The slice dataset of ``items`` (checked already): raw k-space slices, or the volumes loaded through
    ``transform`` (default :func:`volume_transforms` of ``config.data``), cached as ``data.cache`` says and cut into
    the planes across :func:`slice_axis`, with ``config.physics`` simulated on each slice. None for no items."""
    if not items:
        return None
    d = config.data
    scheme = get_label_scheme(d.label_scheme)
    if is_raw(items):
        return RawSliceDataset(items, scheme, d.min_foreground)
    if transform is None:
        transform = volume_transforms(scheme, d.spatial_size, n4=d.n4)
    ds = make_slice_dataset(
        items, transform, cache=d.cache, cache_dir=d.cache_dir, min_foreground=d.min_foreground, axis=slice_axis(config)
    )
    ds.slice_transform = physics_transform(config)
    return ds


def run_data(config: ExperimentConfig, train, val, test, items: dict[str, list[dict]]) -> RunData:
    """The :class:`RunData` of datasets made from ``items`` (``{"train", "val", "test"}``): validation falls back to
    the test subjects when there are none."""
    if train is None or (val is None and test is None):
        raise ValueError("a run needs training slices and validation or test slices.")
    split = {name: sorted({str(it[SUBJECT]) for it in items.get(name, [])}) for name in ("train", "val", "test")}
    logger.info(
        "data: train %s (%d %s), val %s, test %s",
        split["train"],
        len(train),
        "planes" if config.sampling.geometry == "kykz" else "slices",
        split["val"] or split["test"],
        split["test"] or "none",
    )
    train_images = [str(it[Keys.IMAGE]) for it in items["train"] if Keys.IMAGE in it]
    scheme = get_label_scheme(config.data.label_scheme)
    return RunData(train, val if val is not None else test, test, split, scheme, train_images, items)


def prepare_data(config: ExperimentConfig) -> RunData:
    """Discover (or generate the demo data), preflight-check, split by subject and cache the slices
    (:func:`split_items`, then :func:`make_dataset` of each part)."""
    root, parts, _ = split_items(config)
    logger.info("data %s", root)
    sets = {name: make_dataset(config, part) for name, part in parts.items()}
    return run_data(config, sets["train"], sets["val"], sets["test"], parts)
