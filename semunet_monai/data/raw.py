"""Raw k-space files in the fastMRI HDF5 layout, simulated from image volumes: what ``semunet-monai demo-data
--layout fastmri`` writes, so that the multi-coil inference path can be tried without a scanner.

Each subject becomes ``<out>/<id>.h5`` with the datasets of a fastMRI multi-coil file, ``kspace`` (complex64
``(slices, coils, H, W)``, centered, fully sampled) and ``reconstruction_rss`` (float32 ``(slices, H, W)``, the
root-sum-of-squares of the coil images), attributes ``acquisition: "simulated"``, ``coils`` and ``subject``; and
``<out>/<id>_labels.nii.gz``, its label volume ``(H, W, slices)`` on the image's grid; ``<out>/datalist.json`` lists
them all under ``training`` (training splits them by ``data.n_test``/``data.n_val``, see
:mod:`semunet_monai.data.raw_dataset`). Unlike fastMRI's raw data the
k-space is not oversampled along the read-out, so its matrix is the label's.

The simulation is :class:`~semunet_monai.transforms.physics.SimulateAcquisition` in ``multicoil`` mode (a smooth
phase per slice, birdcage coils rotated per subject) followed by ``F S x`` through the multi-coil operator.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np
import torch

from ..atomic import atomic_write, atomic_write_text

__all__ = ["simulate_multicoil_kspace", "write_fastmri_demo"]

logger = logging.getLogger(__name__)


def simulate_multicoil_kspace(volume: np.ndarray, subject: str, coils: int = 8, seed: int = 0) -> np.ndarray:
    """Fully sampled multi-coil k-space ``(slices, coils, H, W)`` (complex64) of a magnitude volume ``(H, W, S)``."""
    from ..physics import MultiCoilOperator
    from ..transforms.physics import SimulateAcquisition

    simulate = SimulateAcquisition("multicoil", coils=coils, seed=seed)
    operator = MultiCoilOperator()
    out = []
    for z in range(volume.shape[2]):
        image, maps = simulate(torch.from_numpy(np.ascontiguousarray(volume[..., z], np.float32))[None], subject, z)
        x = torch.complex(image[0], image[1])[None, None]
        out.append(operator.project(x, maps)[0])
    return torch.stack(out).numpy().astype(np.complex64)


def write_fastmri_demo(
    out_dir: str | Path,
    subjects: int = 2,
    seed: int = 0,
    shape: Sequence[int] = (96, 96, 19),
    coils: int = 8,
    overwrite: bool = False,
    generator: str = "mni152",
) -> list[Path]:
    """Generate demo subjects (:func:`~semunet_monai.data.demo.write_demo_dataset`) and write their T1 scans as
    simulated multi-coil fastMRI HDF5 files beside their labels (see the module docstring). Returns the HDF5 files.
    """
    import h5py

    from ..kspace import ifft2c
    from .demo import write_demo_dataset

    out = Path(out_dir)
    if int(coils) < 1:
        raise ValueError(f"argument 'coils' must be at least 1, got {coils!r}.")
    if out.exists() and not out.is_dir():
        raise ValueError(f"argument 'out_dir': {out} exists and is not a folder.")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ValueError(f"argument 'out_dir': {out} exists and is not empty; pass overwrite=True to write there.")
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        folders = write_demo_dataset(tmp, subjects=subjects, seed=seed, shape=shape, generator=generator)
        out.mkdir(parents=True, exist_ok=True)
        for folder in folders:
            sid = folder.name
            t1 = nib.load(str(folder / "T1.nii.gz"))
            labels = nib.load(str(folder / "LabelsForTraining.nii.gz"))
            kspace = simulate_multicoil_kspace(np.asarray(t1.dataobj, np.float32), sid, coils, seed)
            rss = torch.linalg.vector_norm(ifft2c(torch.from_numpy(kspace)), dim=1).numpy().astype(np.float32)

            def write_h5(tmp_path: Path, kspace=kspace, rss=rss, sid=sid) -> None:
                with h5py.File(tmp_path, "w") as f:
                    f.create_dataset("kspace", data=kspace)
                    f.create_dataset("reconstruction_rss", data=rss)
                    f.attrs.update({"acquisition": "simulated", "coils": int(coils), "subject": sid})

            path = atomic_write(out / f"{sid}.h5", write_h5)
            atomic_write(out / f"{sid}_labels.nii.gz", lambda p, labels=labels: nib.save(labels, str(p)))
            written.append(path)
            logger.info("%s: %d slices, %d coils", path, kspace.shape[0], kspace.shape[1])
    atomic_write_text(
        out / "dataset.json",
        json.dumps({"layout": "fastmri", "coils": int(coils), "seed": int(seed), "subjects": len(written)}, indent=2),
    )
    entries = [{"kspace": p.name, "label": f"{p.stem}_labels.nii.gz", "subject": p.stem} for p in written]
    atomic_write_text(out / "datalist.json", json.dumps({"training": entries}, indent=2))  # the split: by the config
    return written
