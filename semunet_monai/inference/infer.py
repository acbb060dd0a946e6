"""Inference on new scans, end to end: ``semunet-monai infer`` and the bundle's ``inference.json`` both go through
:func:`prepare_inputs` (selection, output paths, every scan read once) and the MONAI pipeline of
:mod:`~semunet_monai.inference.pipeline`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch

from .checks import check_scan
from .inputs import Selection, select_inputs
from .pipeline import RECON_FILE, SEG_FILE

__all__ = [
    "prepare_inputs",
    "infer",
    "bundle_inputs",
    "bundle_fit",
    "one_line_errors",
    "dataset_label_values",
]

logger = logging.getLogger(__name__)


def prepare_inputs(
    inputs: Sequence[str | Path],
    output_dir: str | Path,
    modality: str,
    mask,
    pattern: str | None = None,
    overwrite: bool = False,
    retrospective: bool = False,
    geometry: str = "2d",
) -> tuple[list[dict], list[dict], Selection]:
    """Select the scans, check every one of them, and return ``(image_items, kspace_items, selection)``.

    Image items are ``{"image", "recon_file", "seg_file"}``; k-space items ``{"kspace", "recon_file", "seg_file"}``,
    whose matrix and sampling are checked against ``mask`` (the model's boolean ``(H, W)`` mask) here, before
    anything is written (``retrospective``: fully sampled k-space is accepted, see
    :func:`~semunet_monai.bundle_kspace.check_sampling`). Each skipped file is logged in one line. A model of
    ``geometry`` ``"kykz"`` (a (ky, kz) mask) reads k-space files as 3-D k-space (see
    :func:`~semunet_monai.bundle_kspace.read_kspace`).
    """
    import numpy as np

    from ..bundle_kspace import load_kspace

    learned = np.asarray(mask.cpu() if hasattr(mask, "cpu") else mask).astype(bool)

    selection = select_inputs(inputs, output_dir, modality=modality, pattern=pattern, overwrite=overwrite)
    for path, reason in selection.skipped:
        logger.info("skipped %s: %s", path, reason)
    images, kspaces = [], []
    for scan in selection.scans:
        item = {RECON_FILE: str(scan.outputs["recon"]), SEG_FILE: str(scan.outputs["seg"])}
        if scan.kind == "kspace":
            load_kspace(scan.path, learned, geometry, retrospective)  # size and sampling checked here
            kspaces.append({"kspace": str(scan.path), **item})
        else:
            check_scan(scan.path)
            images.append({"image": str(scan.path), **item})
    return images, kspaces, selection


def infer(
    model: str | Path,
    inputs: Sequence[str | Path],
    output_dir: str | Path,
    pattern: str | None = None,
    fit: str | None = None,
    overwrite: bool = False,
    device: str = "auto",
    precision: str = "auto",
    progress: bool = True,
    dataset_labels: bool = False,
    retrospective: bool = False,
) -> dict:
    """Reconstruct and segment every selected scan of ``inputs`` with the model in ``model`` (a training run folder
    or a bundle); writes ``<scan>_recon.nii.gz`` (the scan's units) and ``<scan>_seg.nii.gz`` (labels of the
    training scheme) on the scan's grid. Returns a summary: inputs, outputs, skipped files, seconds per volume.

    Args:
        fit: ``"resample"`` or ``"resize"`` (see :mod:`~semunet_monai.inference.pipeline`); None picks ``resample``
            when the model records its training spacing, else ``resize``.
        dataset_labels: write the dataset's label values (MRBrainS 1-8) instead of class indices (0-7, the
            order of the bundle's ``label_classes``).
        retrospective: accept fully sampled k-space files and apply the learned mask to them.
    """
    from ..bundle import BundleNetwork
    from ..bundle_kspace import infer_kspace
    from ..data.labels import get_label_scheme
    from ..engines.rundata import resolve_device
    from .model import load_trained
    from .pipeline import run_inference

    device_ = resolve_device(device)
    trained = load_trained(model, device_)
    fit = fit or ("resample" if trained.spacing is not None else "resize")
    if fit == "resample" and trained.spacing is None:
        raise ValueError(
            f"--fit resample: {trained.source} records no training spacing (geometry.json); use --fit resize."
        )
    images, kspaces, selection = prepare_inputs(
        inputs,
        output_dir,
        trained.modality,
        trained.model.operator.mask,
        pattern=pattern,
        overwrite=overwrite,
        retrospective=retrospective,
        geometry=trained.config.sampling.geometry,
    )
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    scheme = get_label_scheme(trained.config.data.label_scheme)
    has_seg = trained.model.seg is not None
    num_classes = trained.model.seg.num_classes if has_seg else 1
    if not has_seg:  # a reconstruction-only model (LOUPE): no segmentation is written
        for item in images + kspaces:
            item.pop(SEG_FILE)
    network = BundleNetwork(trained.model, "stacked", precision, geometry=trained.config.sampling.geometry)
    summary = {"model": str(trained.source), "fit": fit, "inputs": [], "outputs": [], "skipped": len(selection.skipped)}
    seconds = 0.0
    if images:
        with torch.no_grad():
            timing = run_inference(
                network,
                images,
                trained.matrix,
                num_classes,
                trained.spacing,
                fit,
                device_,
                progress=progress,
                label_values=scheme.raw_values() if dataset_labels else None,
                n4=trained.config.data.n4,
                readout_axis=trained.readout_axis,
            )
        seconds += timing["seconds"]
    if kspaces:
        import time

        start = time.perf_counter()
        labels = scheme.raw_values() if dataset_labels else None
        infer_kspace(network, kspaces, output_dir, label_values=labels, retrospective=retrospective)
        seconds += time.perf_counter() - start
    for item in images + kspaces:
        summary["inputs"].append(item.get("image") or item.get("kspace"))
        summary["outputs"] += [item[k] for k in (RECON_FILE, SEG_FILE) if k in item]
    n = len(summary["inputs"])
    summary["seconds_per_volume"] = seconds / max(1, n)
    logger.info(
        "infer: %d scan(s) in, %d file(s) written to %s, %d skipped, %.2f s per volume (fit: %s)",
        n,
        len(summary["outputs"]),
        output_dir,
        summary["skipped"],
        summary["seconds_per_volume"],
        fit,
    )
    return summary


def dataset_label_values(models_dir: str | Path) -> list[int]:
    """The dataset label value of each class of a bundle's (or run folder's) label scheme (see
    :meth:`~semunet_monai.data.labels.LabelScheme.raw_values`)."""
    from ..data.labels import get_label_scheme
    from .model import saved_experiment

    return get_label_scheme(saved_experiment(models_dir).data.label_scheme).raw_values()


def one_line_errors(run, debug: bool = False):
    """Run ``run()``; an expected failure (``ValueError``: bad input, setting or checkpoint) becomes one ERROR line
    and ``SystemExit(1)`` unless ``debug``, when it propagates with its traceback. ``SystemExit`` passes through
    MONAI's config machinery, which wraps every other exception in ``Failed to evaluate ConfigExpression``."""
    if debug:
        return run()
    try:
        return run()
    except ValueError as err:
        logger.error("%s", err)
        raise SystemExit(1) from None


def bundle_inputs(
    models_dir: str | Path,
    output_dir: str | Path,
    input_dir: str | None = None,
    input_list: str | None = None,
    datalist: Sequence | None = None,
    pattern: str | None = None,
    overwrite: bool = False,
    debug: bool = False,
    retrospective: bool = False,
    network=None,
    modality: str | None = None,
) -> dict[str, list[dict]]:
    """The bundle's inputs: ``{"image": items, "kspace": items}`` from ``input_dir`` (a folder), ``input_list`` (a
    list file) or ``datalist`` (model-zoo style: a list of paths, or of ``{"image": path}`` dictionaries), checked
    as for ``semunet-monai infer``. Errors end the run in one line (see :func:`one_line_errors`).

    ``network`` (inference.json's, its weights loaded) gives the mask and the sampling geometry, and ``modality``
    the trained contrast (inference.json's ``modality`` id, set by the override file): then nothing is read from
    ``models_dir``. Without them, ``models_dir``'s ``experiment.json`` and ``model.pt`` are read."""

    def run() -> dict[str, list[dict]]:
        from ..engines.checkpoint import load_checkpoint
        from .model import saved_experiment

        given = [x for x in (input_dir, input_list) if x]
        if datalist is not None:
            paths = datalist if isinstance(datalist, (list, tuple)) else [datalist]
            for entry in paths:
                if isinstance(entry, dict) and "image" in entry:
                    given.append(str(entry["image"]))
                elif isinstance(entry, (str, Path)):
                    given.append(str(entry))
                else:
                    raise ValueError(
                        f"datalist: expected a list of scan paths or of {{'image': path}} entries, got {entry!r}; "
                        f"or use --input_dir FOLDER / --input_list FILE."
                    )
        if not given:
            raise ValueError(
                "no input: pass --input_dir FOLDER, --input_list FILE or --datalist \"['/path/scan.nii.gz']\"."
            )
        if network is not None:
            mask, geometry = network.model.operator.mask, getattr(network, "geometry", "2d")
            contrast = modality or "T1"
        else:
            home = Path(models_dir)
            cfg_path = home / "experiment.json"
            if not cfg_path.is_file() or not (home / "model.pt").is_file():
                raise ValueError(f"{home}: no trained model (experiment.json and model.pt); train the bundle first.")
            config = saved_experiment(home)
            mask = load_checkpoint(home / "model.pt")["model.operator.mask"]
            contrast, geometry = modality or config.data.modality, config.sampling.geometry
        images, kspaces, _ = prepare_inputs(
            given,
            output_dir,
            contrast,
            mask,
            pattern=pattern,
            overwrite=overwrite,
            retrospective=retrospective,
            geometry=geometry,
        )
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        return {"image": images, "kspace": kspaces}

    return one_line_errors(run, debug)


def bundle_fit(spacing: Sequence[float] | None, fit: str = "auto", debug: bool = False) -> str:
    """The bundle's ``fit`` id resolved for the trained in-plane ``spacing`` (inference.json's ``spacing``, set by
    the override file training writes; None when unknown): ``auto`` is ``resample`` with a spacing, else ``resize``
    with a warning. Errors end the run in one line (see :func:`one_line_errors`), before MONAI builds the pipeline."""
    from .pipeline import FITS

    def run() -> str:
        if fit not in ("auto", *FITS):
            raise ValueError(f"fit: expected one of {('auto', *FITS)}, got {fit!r}.")
        if spacing is not None and (
            not isinstance(spacing, (list, tuple))
            or len(spacing) != 2
            or not all(isinstance(s, (int, float)) and not isinstance(s, bool) and s > 0 for s in spacing)
        ):
            raise ValueError(f"spacing: expected two positive in-plane spacings (mm) or null, got {spacing!r}.")
        if fit == "resample" and spacing is None:
            raise ValueError("fit resample: the bundle's spacing is null (unknown); use resize, or set --spacing.")
        if fit == "auto" and spacing is None:
            logger.warning("spacing is null: scans are resized to the trained matrix (fit resize).")
        return ("resample" if spacing is not None else "resize") if fit == "auto" else fit

    return one_line_errors(run, debug)
