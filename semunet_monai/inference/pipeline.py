"""The inference pipeline shared by ``semunet-monai infer`` and the bundle's ``inference.json``: MONAI transforms
that bring a scan to the trained geometry and units, a slice inferer, and transforms that bring the outputs back.

Preprocessing: load (NIfTI through nibabel; MetaImage, NRRD and DICOM series through SimpleITK), channel first, RAS,
robust scaling to [0, 1] (minimum and 99.5th percentile, clipped, as in training; recorded so it can be undone), then
``fit``:

- ``"resample"`` (default when the training spacing is known): resample in-plane to the training spacing, then pad
  or crop to the trained matrix, as training padded or cropped its scans. Anatomy keeps its size in pixels; a field
  of view larger than the trained one is cropped at the edges (the outputs there are zero), a smaller one padded.
- ``"resize"``: squeeze each slice into the trained matrix whatever its field of view (pixel size changes with the
  field of view; the only choice for models without ``geometry.json``).

Postprocessing inverts all of it (``Invertd``): the outputs have the scan's matrix, affine and, for the
reconstruction, its intensity units.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from ignite.engine import Events
from monai.engines import SupervisedEvaluator
from monai.inferers import SliceInferer
from monai.transforms import (
    Activationsd,
    AsDiscreted,
    Compose,
    EnsureChannelFirstd,
    EnsureTyped,
    Invertd,
    LoadImaged,
    MapLabelValued,
    MapTransform,
    Orientationd,
    Resized,
    ResizeWithPadOrCropd,
)

from ..atomic import atomic_write
from ..data.readers import SimpleITKReader
from ..keys import Keys
from ..transforms.dictionary import ResampleToSpacingd, SplitReconSegd
from ..transforms.scaling import PercentileScaled

__all__ = ["FITS", "RECON_FILE", "SEG_FILE", "preprocessing", "postprocessing", "slice_inferer", "run_inference"]

logger = logging.getLogger(__name__)

FITS = ("resample", "resize")
# the orientation that puts a kykz model's read-out axis (of the RAS volume) last: its slices are then the (ky, kz)
# planes training took from the RAS volume, in the same axis order and direction, with the affine kept right
_AXCODES = {None: "RAS", 2: "RAS", 1: "RSA", 0: "ASR"}
RECON_FILE, SEG_FILE = "recon_file", "seg_file"


def preprocessing(
    matrix: Sequence[int],
    spacing: Sequence[float] | None = None,
    fit: str = "resample",
    upper_percentile: float = 99.5,
    n4: bool = False,
    readout_axis: int | None = None,
) -> Compose:
    """Scan file -> ``image`` ``(1, H, W, D)`` float32 in [0, 1] at the trained matrix ``(H, W)``.

    Args:
        matrix: the trained in-plane matrix (the mask's shape).
        spacing: the training scans' in-plane spacing (mm); needed by ``fit="resample"``.
        fit: ``"resample"`` or ``"resize"`` (see the module docstring).
        upper_percentile: the percentile that maps to 1 (training's ``ScaleIntensityRangePercentilesd`` upper).
        n4: N4 bias-field correction before the scaling, as a model trained with ``data.n4`` saw its scans (not
            inverted: the reconstruction is then in the scan's units after bias correction).
        readout_axis: a ``sampling.geometry: kykz`` model's read-out axis (0, 1 or 2 of the RAS volume): the
            volume is oriented with that axis last (``ASR`` for 0, ``RSA`` for 1), so that the (ky, kz) planes across
            it are the slices (``matrix`` and ``spacing`` are then the plane's): the 3-D acquisition simulated plane
            by plane; inverted afterwards.
    """
    if fit not in FITS:
        raise ValueError(f"fit must be one of {FITS}, got {fit!r}.")
    if readout_axis not in (None, 0, 1, 2):  # a tuple, not the dict: an unhashable value is refused too
        raise ValueError(f"readout_axis must be 0, 1, 2 or None, got {readout_axis!r}.")
    if fit == "resample" and spacing is None:
        raise ValueError("fit 'resample' needs the training spacing (the model has no geometry.json); use 'resize'.")
    size = [int(m) for m in matrix]
    steps = [
        LoadImaged(Keys.IMAGE, reader=SimpleITKReader(), image_only=True),
        EnsureChannelFirstd(Keys.IMAGE, channel_dim="no_channel"),
        Orientationd(Keys.IMAGE, axcodes=_AXCODES[readout_axis], labels=None),
    ]
    if n4:
        from ..transforms.intensity import N4BiasFieldCorrectiond

        steps.append(N4BiasFieldCorrectiond(Keys.IMAGE))
    steps += [
        PercentileScaled(Keys.IMAGE, 0.0, upper_percentile, clip=True),
    ]
    if fit == "resample":
        steps += [
            ResampleToSpacingd(Keys.IMAGE, pixdim=(float(spacing[0]), float(spacing[1]), -1.0), mode="bilinear"),
            ResizeWithPadOrCropd(Keys.IMAGE, spatial_size=(*size, -1)),
        ]
    else:
        steps.append(Resized(Keys.IMAGE, spatial_size=(*size, -1), mode="bilinear"))
    steps.append(EnsureTyped(Keys.IMAGE, dtype=torch.float32))
    return Compose(steps)


class WriteOutputsd(MapTransform):
    """Write ``recon`` (float32) and ``pred`` (uint8 labels) to the paths the item names, atomically, with the
    scan's affine. MONAI's SaveImaged derives names from the input file and writes in place; inference needs the
    paths :func:`~semunet_monai.inference.inputs.select_inputs` checked, and no half-written file after a crash."""

    def __init__(self) -> None:
        super().__init__([Keys.RECON, Keys.PRED], allow_missing_keys=True)

    def __call__(self, data):
        d = dict(data)
        for key, path_key, dtype in ((Keys.RECON, RECON_FILE, np.float32), (Keys.PRED, SEG_FILE, np.uint8)):
            if key not in d or path_key not in d:
                continue
            value = d[key]
            array = np.asarray(value.detach().cpu().numpy()[0], dtype=dtype)
            img = _like_input(array, value)
            atomic_write(Path(d[path_key]), lambda tmp, img=img: nib.save(img, str(tmp)))
        return d


def _like_input(array: np.ndarray, value) -> nib.Nifti1Image:
    """A NIfTI image of ``array`` (on the scan's voxel grid) with the scan's geometry: a NIfTI scan's own qform and
    sform with their codes (registered scans often carry a sform that differs from the qform; readers disagree on
    which to use), else the affine the reader gave (MetaImage, NRRD, DICOM: scanner coordinates, code 1)."""
    source = str(getattr(value, "meta", {}).get("filename_or_obj", ""))
    if source.lower().endswith((".nii", ".nii.gz")):
        ref = nib.load(source)
        if tuple(ref.shape[:3]) == array.shape:
            img = nib.Nifti1Image(array, None)
            img.set_qform(ref.get_qform(coded=False), code=int(ref.header["qform_code"]))
            img.set_sform(ref.get_sform(coded=False), code=int(ref.header["sform_code"]))
            return img
    affine = np.asarray(value.affine.cpu().numpy(), dtype=np.float64)
    img = nib.Nifti1Image(array, affine)
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    return img


def postprocessing(
    num_classes: int, transform: Compose, write: bool = True, label_values: Sequence[int] | None = None
) -> Compose:
    """Network output (the reconstruction stacked on the segmentation logits) -> ``recon`` in the scan's units and
    ``pred`` labels, both on the scan's grid; written to the item's ``recon_file``/``seg_file`` when ``write``.

    Args:
        label_values: the label value written for each class index (the dataset's own values, e.g. MRBrainS's
            1-8, from :meth:`~semunet_monai.data.labels.LabelScheme.raw_values`); None writes class indices.
    """
    steps = [
        SplitReconSegd(Keys.PRED, num_classes=num_classes),
        Activationsd(Keys.PRED, softmax=True),
        Invertd(
            [Keys.PRED, Keys.RECON],
            transform=transform,
            orig_keys=Keys.IMAGE,
            nearest_interp=False,
            to_tensor=True,
            allow_missing_keys=True,
        ),
        AsDiscreted(Keys.PRED, argmax=True),
    ]
    if label_values is not None and list(label_values) != list(range(num_classes)):
        steps.append(MapLabelValued(Keys.PRED, list(range(num_classes)), [int(v) for v in label_values]))
    if write:
        steps.append(WriteOutputsd())
    return Compose(steps)


def slice_inferer(matrix: Sequence[int], sw_batch_size: int = 4) -> SliceInferer:
    """Axial slices ``(H, W)`` of each volume through the network, ``sw_batch_size`` at a time."""
    return SliceInferer(roi_size=[int(m) for m in matrix], sw_batch_size=int(sw_batch_size), spatial_dim=2)


def run_inference(
    network: torch.nn.Module,
    items: list[dict],
    matrix: Sequence[int],
    num_classes: int,
    spacing: Sequence[float] | None,
    fit: str = "resample",
    device: torch.device | str = "cpu",
    progress: bool = True,
    label_values: Sequence[int] | None = None,
    n4: bool = False,
    readout_axis: int | None = None,
) -> dict:
    """Run ``network`` (a :class:`~semunet_monai.bundle.BundleNetwork` with ``outputs="stacked"``) over ``items``
    (``{"image", "recon_file", "seg_file"}``) with MONAI's SupervisedEvaluator; returns a summary. ``readout_axis``
    as in :func:`preprocessing`."""
    from monai.data import DataLoader, Dataset
    from tqdm.auto import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    pre = preprocessing(matrix, spacing, fit, n4=n4, readout_axis=readout_axis)
    device = torch.device(device)
    loader = DataLoader(Dataset(items, pre), batch_size=1, shuffle=False, num_workers=0)
    evaluator = SupervisedEvaluator(
        device=device,
        val_data_loader=loader,
        network=network.to(device).eval(),
        inferer=slice_inferer(matrix, 4 if device.type == "cpu" else 16),
        postprocessing=postprocessing(num_classes, pre, label_values=label_values),
    )
    evaluator.logger.setLevel(logging.WARNING)  # the progress bar and the summary say what its INFO lines would
    bar = tqdm(total=len(items), desc="infer", unit="volume", disable=not progress)
    evaluator.add_event_handler(Events.ITERATION_COMPLETED, lambda engine: bar.update(1))
    start = time.perf_counter()
    try:
        with logging_redirect_tqdm():
            evaluator.run()
    finally:
        bar.close()
    seconds = time.perf_counter() - start
    return {"volumes": len(items), "seconds": seconds, "seconds_per_volume": seconds / max(1, len(items))}
