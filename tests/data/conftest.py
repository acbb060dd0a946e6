from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

AFFINE = np.diag([0.958, 0.958, 3.0, 1.0])


def write_nifti(path: Path, array: np.ndarray, affine: np.ndarray = AFFINE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = nib.Nifti1Image(array, affine)
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    nib.save(img, str(path))
    return path


def small_subject(seed: int, shape=(32, 28, 6)) -> tuple[np.ndarray, np.ndarray]:
    """A labelled toy volume: concentric shells carrying labels 1..8, intensity = 20 * label + noise."""
    rng = np.random.default_rng(seed)
    x, y, z = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    r = np.sqrt(x**2 + y**2 + 0.3 * z**2)
    label = np.clip(8 - np.floor(r * 8), 0, 8).astype(np.uint8)
    image = (20.0 * label + rng.normal(0, 2, shape) + 5).clip(0).astype(np.float32)
    return image, label


@pytest.fixture
def mrbrains13_root(tmp_path: Path) -> Path:
    root = tmp_path / "mrb13"
    for i in (1, 2, 3):
        image, label = small_subject(i)
        d = root / "TrainingData" / str(i)
        write_nifti(d / "T1.nii.gz", image)
        write_nifti(d / "T1_IR.nii.gz", image[::-1].copy())
        write_nifti(d / "T2_FLAIR.nii.gz", image * 0.5)
        write_nifti(d / "LabelsForTraining.nii.gz", label)
        write_nifti(d / "LabelsForTesting.nii.gz", label.clip(0, 3))
    return root
