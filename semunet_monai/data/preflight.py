"""Preflight check of a dataset before training: every file is read once, read-only, and every problem is named.

nibabel does not verify a .nii.gz's CRC (a bit-flipped file loads silently), so the whole gzip stream is read with
:mod:`gzip` first; MONAI's loaders accept 2-D/4-D volumes, mismatched shapes and float labels silently, so those
are checked on the raw arrays here.
"""

from __future__ import annotations

import gzip
import logging
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
import SimpleITK as sitk

from ..keys import Keys
from .labels import LabelScheme, get_label_scheme
from .layouts import SUBJECT, discover
from .readers import SimpleITKReader

__all__ = ["Finding", "PreflightReport", "UnreadableError", "check_items", "check_data", "read_volume"]

logger = logging.getLogger(__name__)

SPACING_RANGE_MM = (0.2, 8.0)
AFFINE_ATOL = 1e-3


@dataclass(frozen=True)
class Finding:
    """One problem: ``level`` is ``"error"`` or ``"warning"``; ``path`` the file (or dataset) it concerns."""

    level: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.level.upper()}: {self.path}: {self.message}"


@dataclass
class PreflightReport:
    """All findings for a dataset, and how many subjects were checked."""

    subjects: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_if_errors(self) -> None:
        if self.errors:
            lines = "\n".join(f"  {f}" for f in self.errors)
            raise ValueError(f"the dataset failed its preflight check ({len(self.errors)} error(s)):\n{lines}")


class UnreadableError(Exception):
    """A file that cannot be read as what it claims to be (the message says why)."""


def read_volume(path: str | Path) -> tuple[np.ndarray, np.ndarray, dict]:
    """Read an image read-only and verify its container: returns ``(array, affine, info)``.

    ``info`` has ``spacing`` and, for NIfTI, ``qform_code``/``sform_code``. Raises ``UnreadableError`` with the reason.
    """
    path = Path(path)
    name = path.name.lower()
    if name.endswith((".nii.gz", ".nii")):
        try:
            raw = path.read_bytes()
            if name.endswith(".gz"):
                raw = gzip.decompress(raw)  # reads the whole stream: CRC and length are verified
        except (gzip.BadGzipFile, EOFError, zlib.error, OSError) as err:
            raise UnreadableError(f"corrupt or truncated gzip stream ({type(err).__name__}: {err}).") from err
        try:
            img = nib.Nifti1Image.from_bytes(raw)
        except Exception as err:  # nibabel raises several types for non-NIfTI bytes
            raise UnreadableError(f"not a NIfTI-1 image ({type(err).__name__}: {str(err)[:160]}).") from err
        try:
            array = np.asanyarray(img.dataobj)
        except Exception as err:  # truncated data blocks raise from the array proxy
            raise UnreadableError(f"image data could not be read ({type(err).__name__}: {str(err)[:160]}).") from err
        info = {
            "spacing": tuple(float(z) for z in img.header.get_zooms()[:3]),
            "qform_code": int(img.header["qform_code"]),
            "sform_code": int(img.header["sform_code"]),
        }
        return array, img.affine, info
    if name.endswith((".mhd", ".mha", ".nrrd")) or path.is_dir():
        try:
            image = SimpleITKReader().read(path)
        except (RuntimeError, ValueError) as err:
            raise UnreadableError(f"SimpleITK could not read it ({str(err).strip()[:160]}).") from err
        array = sitk.GetArrayFromImage(image).T
        return array, SimpleITKReader.affine(image), {"spacing": tuple(float(s) for s in image.GetSpacing())}
    raise UnreadableError("unsupported file type: expected .nii, .nii.gz, .mhd, .mha, .nrrd or a DICOM series folder.")


def _check_image(path: str, array: np.ndarray, report: PreflightReport) -> None:
    if not np.issubdtype(array.dtype, np.number):
        report.findings.append(Finding("error", path, f"unsupported data type {array.dtype}."))
        return
    finite = np.isfinite(array)
    if not finite.all():
        report.findings.append(Finding("error", path, f"{int((~finite).sum())} NaN or Inf voxel(s)."))
    if not np.any(array[finite]):
        report.findings.append(Finding("error", path, "the image is all zero."))


def _check_label(path: str, array: np.ndarray, scheme: LabelScheme, report: PreflightReport) -> None:
    if not np.all(np.isfinite(array)):
        report.findings.append(Finding("error", path, "label volume holds NaN or Inf."))
        return
    values = np.unique(array)
    non_integer = values[values != np.round(values)]
    if non_integer.size:
        shown = ", ".join(f"{v:g}" for v in non_integer[:5])
        report.findings.append(Finding("error", path, f"non-integer label values ({shown}); labels must be integers."))
        return
    unknown = sorted(set(int(v) for v in values) - scheme.known_values)
    if unknown:
        report.findings.append(
            Finding(
                "error",
                path,
                f"unknown label values {unknown} for label scheme {scheme.name!r} "
                f"(known: {sorted(scheme.known_values)}).",
            )
        )


def check_items(items: list[dict], label_scheme: str | LabelScheme = "raw", source: str = "dataset") -> PreflightReport:
    """Check data items ``{"image", "label", "subject"}`` and return every finding (nothing is modified)."""
    scheme = get_label_scheme(label_scheme)
    report = PreflightReport(subjects=len(items))
    if not items:
        report.findings.append(Finding("error", source, "the dataset is empty: no subjects were found."))
        return report
    for subject, count in Counter(str(item.get(SUBJECT)) for item in items).items():
        if count > 1:
            report.findings.append(Finding("error", source, f"subject id {subject!r} appears {count} times."))
    for item in items:
        volumes = {}
        for key in (Keys.IMAGE, Keys.LABEL):
            path = item.get(key)
            if path is None or not Path(path).is_file():
                report.findings.append(
                    Finding("error", str(path), f"missing {key} file of subject {item.get(SUBJECT)!r}.")
                )
                continue
            try:
                array, affine, info = read_volume(path)
            except UnreadableError as err:
                report.findings.append(Finding("error", str(path), str(err)))
                continue
            if array.ndim != 3:
                report.findings.append(
                    Finding("error", str(path), f"expected a 3-D volume, got {array.ndim}-D with shape {array.shape}.")
                )
                continue
            spacing = info["spacing"]
            if any(not SPACING_RANGE_MM[0] <= s <= SPACING_RANGE_MM[1] for s in spacing):
                report.findings.append(
                    Finding("warning", str(path), f"unusual voxel spacing {spacing} mm (expected {SPACING_RANGE_MM}).")
                )
            if info.get("qform_code") == 0 and info.get("sform_code") == 0:
                report.findings.append(Finding("warning", str(path), "no qform or sform: orientation is unknown."))
            volumes[key] = (str(path), array, affine)
        if Keys.IMAGE in volumes:
            _check_image(volumes[Keys.IMAGE][0], volumes[Keys.IMAGE][1], report)
        if Keys.LABEL in volumes:
            _check_label(volumes[Keys.LABEL][0], volumes[Keys.LABEL][1], scheme, report)
        if Keys.IMAGE in volumes and Keys.LABEL in volumes:
            (ipath, image, iaff), (lpath, label, laff) = volumes[Keys.IMAGE], volumes[Keys.LABEL]
            if image.shape != label.shape:
                report.findings.append(
                    Finding(
                        "error", lpath, f"label shape {label.shape} differs from image shape {image.shape} ({ipath})."
                    )
                )
            elif not np.allclose(iaff, laff, atol=AFFINE_ATOL):
                report.findings.append(Finding("error", lpath, f"label affine differs from the image's ({ipath})."))
    for finding in report.findings:
        (logger.error if finding.level == "error" else logger.warning)(str(finding))
    return report


def check_data(
    root: str | Path, modality: str = "T1", label_scheme: str | LabelScheme = "raw", layout: str | None = None, **kwargs
) -> PreflightReport:
    """Discover a dataset (any layout) and check it; see :func:`check_items`."""
    try:
        items = discover(root, modality=modality, layout=layout, **kwargs)
    except ValueError as err:
        return PreflightReport(0, [Finding("error", str(root), str(err))])
    return check_items(items, label_scheme, source=str(root))
