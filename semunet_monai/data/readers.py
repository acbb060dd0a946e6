"""A MONAI ImageReader backed by SimpleITK, for MetaImage (.mhd/.mha) volumes such as the MRBrainS13 release, NRRD,
and DICOM series (a folder of one series' slice files, read through SimpleITK's GDCM).

MONAI's own ITKReader needs the ``itk`` package and its PydicomReader needs pydicom (MONAI Label pins ``pydicom<3``);
the project's design names SimpleITK, which MONAI has no reader for, and SimpleITK reads DICOM with no new dependency.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from monai.data import ImageReader
from monai.utils import MetaKeys, SpaceKeys, ensure_tuple

__all__ = ["SimpleITKReader", "SITK_SUFFIXES"]

SITK_SUFFIXES = (".mhd", ".mha", ".nrrd")


def _suffix(path: str | Path) -> str:
    name = str(path).lower()
    return ".nii.gz" if name.endswith(".nii.gz") else Path(name).suffix


class SimpleITKReader(ImageReader):
    """Read 2-D/3-D scalar images with SimpleITK and return them in MONAI's (x, y, z) order with a RAS affine.

    The array matches what nibabel gives for the same image written as NIfTI (SimpleITK's ``(z, y, x)`` array is
    transposed), and the affine converts ITK's LPS physical space to MONAI's RAS.

    Args:
        suffixes: file endings this reader claims in ``verify_suffix``.
        dtype: numpy dtype of the returned array (None keeps the file's type).
    """

    def __init__(self, suffixes: Sequence[str] = SITK_SUFFIXES, dtype: np.dtype | str | None = np.float32) -> None:
        super().__init__()
        self.suffixes = tuple(s.lower() for s in suffixes)
        self.dtype = dtype

    def verify_suffix(self, filename: Sequence[str | Path] | str | Path) -> bool:
        return all(_suffix(f) in self.suffixes or Path(f).is_dir() for f in ensure_tuple(filename))

    @staticmethod
    def read_series(folder: str | Path) -> sitk.Image:
        """The DICOM series in ``folder`` (exactly one), slices sorted by position."""
        reader = sitk.ImageSeriesReader()
        ids = reader.GetGDCMSeriesIDs(str(folder))
        if not ids:
            raise ValueError(f"{folder}: no DICOM series found in the folder.")
        if len(ids) > 1:
            raise ValueError(f"{folder}: holds {len(ids)} DICOM series; give the folder of one series.")
        reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder), ids[0]))
        return reader.Execute()

    def read(self, data: Sequence[str | Path] | str | Path, **kwargs) -> list[sitk.Image] | sitk.Image:
        images = []
        for name in ensure_tuple(data):
            try:
                images.append(self.read_series(name) if Path(name).is_dir() else sitk.ReadImage(str(name)))
            except RuntimeError as err:  # SimpleITK raises RuntimeError for unreadable files
                raise ValueError(
                    f"{name}: SimpleITK could not read it as an image ({str(err).strip()[:200]})."
                ) from err
        return images if len(images) > 1 else images[0]

    @staticmethod
    def affine(image: sitk.Image) -> np.ndarray:
        """The voxel-to-RAS affine ``(D+1, D+1)`` of a SimpleITK image."""
        dim = image.GetDimension()
        direction = np.asarray(image.GetDirection(), dtype=np.float64).reshape(dim, dim)
        spacing = np.asarray(image.GetSpacing(), dtype=np.float64)
        affine = np.eye(dim + 1)
        affine[:dim, :dim] = direction * spacing[None, :]
        affine[:dim, dim] = np.asarray(image.GetOrigin(), dtype=np.float64)
        lps_to_ras = np.diag([-1.0, -1.0] + [1.0] * (dim - 2) + [1.0]) if dim >= 2 else np.eye(dim + 1)
        return lps_to_ras @ affine

    def get_data(self, img: list[sitk.Image] | sitk.Image) -> tuple[np.ndarray, dict]:
        arrays, meta = [], {}
        for image in img if isinstance(img, (list, tuple)) else [img]:  # a sitk.Image is itself iterable
            if image.GetNumberOfComponentsPerPixel() != 1:
                raise ValueError(
                    f"SimpleITKReader reads scalar images only, got {image.GetNumberOfComponentsPerPixel()} components."
                )
            array = sitk.GetArrayFromImage(image).T  # (z, y, x) -> (x, y, z)
            if self.dtype is not None:
                array = array.astype(self.dtype, copy=False)
            arrays.append(array)
            if not meta:
                affine = self.affine(image)
                meta = {
                    MetaKeys.AFFINE: affine,
                    MetaKeys.ORIGINAL_AFFINE: affine.copy(),
                    MetaKeys.SPATIAL_SHAPE: np.asarray(array.shape),
                    MetaKeys.SPACE: SpaceKeys.RAS,
                    MetaKeys.ORIGINAL_CHANNEL_DIM: float("nan"),
                    "pixdim": np.asarray([1.0, *image.GetSpacing()]),
                }
        data = np.stack(arrays, axis=0) if len(arrays) > 1 else arrays[0]
        if len(arrays) > 1:
            meta[MetaKeys.ORIGINAL_CHANNEL_DIM] = 0
        return data, meta
