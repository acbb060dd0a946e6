from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from semunet_monai.data.preflight import check_data

from .conftest import small_subject, write_nifti

SUBJECT = Path("TrainingData") / "2"


def _digest(root: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def _errors(root, **kwargs):
    report = check_data(root, **kwargs)
    return report, [str(f) for f in report.errors]


def test_clean_dataset_passes_and_nothing_is_modified(mrbrains13_root):
    before = _digest(mrbrains13_root)
    report = check_data(mrbrains13_root)
    assert report.ok and report.subjects == 3 and not report.warnings
    assert _digest(mrbrains13_root) == before


def _one_error(root, path_part: str, message: str, **kwargs):
    before = _digest(root)
    report, errors = _errors(root, **kwargs)
    assert not report.ok
    assert any(path_part in e and message in e for e in errors), errors
    assert _digest(root) == before  # the check never writes
    with pytest.raises(ValueError, match="failed its preflight check"):
        report.raise_if_errors()


def test_missing_file(mrbrains13_root):
    (mrbrains13_root / SUBJECT / "LabelsForTraining.nii.gz").unlink()
    _one_error(mrbrains13_root, "2/LabelsForTraining.nii.gz", "missing label file")


def test_truncated_gzip(mrbrains13_root):
    path = mrbrains13_root / SUBJECT / "T1.nii.gz"
    path.write_bytes(path.read_bytes()[:-200])
    _one_error(mrbrains13_root, "2/T1.nii.gz", "corrupt or truncated gzip")


def test_bit_flipped_gzip_is_caught(mrbrains13_root):
    path = mrbrains13_root / SUBJECT / "T1.nii.gz"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))
    _one_error(mrbrains13_root, "2/T1.nii.gz", "corrupt or truncated gzip")


@pytest.mark.parametrize("content", [b"", b"hello, this is not an image", gzip.compress(b"not a nifti header" * 30)])
def test_not_nifti(mrbrains13_root, content):
    (mrbrains13_root / SUBJECT / "T1.nii.gz").write_bytes(content)
    report, errors = _errors(mrbrains13_root)
    assert any("2/T1.nii.gz" in e and ("not a NIfTI" in e or "gzip" in e) for e in errors), errors


@pytest.mark.parametrize("shape", [(32, 28), (32, 28, 6, 2)])
def test_wrong_dimensionality(mrbrains13_root, shape):
    write_nifti(mrbrains13_root / SUBJECT / "T1.nii.gz", np.ones(shape, np.float32))
    _one_error(mrbrains13_root, "2/T1.nii.gz", "expected a 3-D volume")


def test_shape_mismatch(mrbrains13_root):
    write_nifti(mrbrains13_root / SUBJECT / "LabelsForTraining.nii.gz", np.zeros((32, 28, 5), np.uint8))
    _one_error(mrbrains13_root, "2/LabelsForTraining.nii.gz", "differs from image shape")


def test_affine_mismatch(mrbrains13_root):
    _, label = small_subject(2)
    write_nifti(mrbrains13_root / SUBJECT / "LabelsForTraining.nii.gz", label, np.diag([1.0, 1.0, 3.0, 1.0]))
    _one_error(mrbrains13_root, "2/LabelsForTraining.nii.gz", "affine differs")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf(mrbrains13_root, bad):
    image, _ = small_subject(2)
    image[3, 4, 2] = bad
    write_nifti(mrbrains13_root / SUBJECT / "T1.nii.gz", image)
    _one_error(mrbrains13_root, "2/T1.nii.gz", "1 NaN or Inf voxel")


def test_non_integer_labels(mrbrains13_root):
    _, label = small_subject(2)
    write_nifti(mrbrains13_root / SUBJECT / "LabelsForTraining.nii.gz", label.astype(np.float32) + 0.5)
    _one_error(mrbrains13_root, "2/LabelsForTraining.nii.gz", "non-integer label values")


def test_unknown_labels(mrbrains13_root):
    _, label = small_subject(2)
    label[0, 0, 0] = 42
    write_nifti(mrbrains13_root / SUBJECT / "LabelsForTraining.nii.gz", label)
    _one_error(mrbrains13_root, "2/LabelsForTraining.nii.gz", "unknown label values [42]")


def test_all_zero_image(mrbrains13_root):
    write_nifti(mrbrains13_root / SUBJECT / "T1.nii.gz", np.zeros((32, 28, 6), np.float32))
    _one_error(mrbrains13_root, "2/T1.nii.gz", "all zero")


def test_duplicate_subject_ids(tmp_path, mrbrains13_root):
    d = mrbrains13_root / "TrainingData"
    entries = [
        {"image": str(d / s / "T1.nii.gz"), "label": str(d / s / "LabelsForTraining.nii.gz"), "subject": "7"}
        for s in "12"
    ]
    path = tmp_path / "list.json"
    path.write_text(json.dumps({"training": entries}))
    _one_error(path, "list.json", "subject id '7' appears 2 times")


def test_empty_dataset(tmp_path):
    (tmp_path / "TrainingData").mkdir()
    _one_error(tmp_path, str(tmp_path), "empty")


def test_not_a_dataset(tmp_path):
    _one_error(tmp_path, str(tmp_path), "not a dataset")


def test_warnings_do_not_fail(mrbrains13_root):
    image, label = small_subject(2)
    odd = np.diag([0.958, 0.958, 12.0, 1.0])
    write_nifti(mrbrains13_root / SUBJECT / "T1.nii.gz", image, odd)
    write_nifti(mrbrains13_root / SUBJECT / "LabelsForTraining.nii.gz", label, odd)
    raw = nib.Nifti1Image(image, None)  # no qform or sform
    nib.save(raw, str(mrbrains13_root / "TrainingData" / "3" / "T1.nii.gz"))
    report = check_data(mrbrains13_root)
    warnings = [str(w) for w in report.warnings]
    assert any("2/T1.nii.gz" in w and "unusual voxel spacing" in w for w in warnings), warnings
    assert any("3/T1.nii.gz" in w and "no qform or sform" in w for w in warnings), warnings
    # subject 3's image has an identity affine now while its label keeps the MRBrainS one: that is an error
    assert any("3/LabelsForTraining" in str(e) and "affine" in str(e) for e in report.errors)
