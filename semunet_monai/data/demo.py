"""Write the demo dataset to disk in the MRBrainS13 or MRBrainS18 layout: the project's default dataset.

Two generators, both local (nothing is downloaded):

- ``mni152`` (the default): subjects derived from the MNI152 template shipped with the package, real anatomy
  (:func:`semunet_monai.data.mni_subjects.make_mni_subject`; docs/data_card.md);
- ``phantom``: the procedural phantom, which has every MRBrainS label including lesions
  (:func:`semunet_monai.data.phantom.make_subject`).

Files are written under a temporary name and moved into place with ``os.replace``, and ``dataset.json`` is
written last, so an interrupted run never leaves a half-written file under a final name.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np

from ..atomic import atomic_write, atomic_write_text
from .labels import LABEL_SCHEMES, MRBRAINS_LABELS
from .layouts import MODALITIES as LAYOUT_STEMS
from .mni_subjects import MNI_VERSION, make_mni_subject
from .phantom import MODALITIES, MRBRAINS13_SHAPE, PHANTOM_VERSION, make_subject

__all__ = [
    "DEMO_GENERATORS",
    "DEMO_LAYOUTS",
    "DATASET_JSON",
    "GENERATORS",
    "generator_fingerprint",
    "subject_seed",
    "write_demo_dataset",
]

logger = logging.getLogger(__name__)

DEMO_LAYOUTS = ("mrbrains13", "mrbrains18")
DATASET_JSON = "dataset.json"
DEMO_GENERATORS = ("mni152", "phantom")
# name -> (module recorded in dataset.json, version, dataset title)
GENERATORS = {
    "mni152": ("semunet_monai.data.mni_subjects", MNI_VERSION, "semunet_monai MNI152-derived subjects"),
    "phantom": ("semunet_monai.data.phantom", PHANTOM_VERSION, "semunet_monai brain phantom"),
}
# the modules whose code decides a generator's output (the MNI152 template files are checked by their sha256 when
# loaded), and the libraries whose random draws and resampling they call
_SOURCES = {
    "mni152": ("mni_subjects.py", "mni152.py", "phantom.py", "labels.py"),
    "phantom": ("phantom.py", "labels.py"),
}
_LIBRARIES = ("numpy", "scipy", "torch", "monai")
_HERE = Path(__file__).parent
MAX_SUBJECTS = 999  # subject seeds are seed * 1000 + i
_ROOTS = {"mrbrains13": "TrainingData", "mrbrains18": "training"}
_LABEL_FILES = {"mrbrains13": ("LabelsForTraining", "LabelsForTesting"), "mrbrains18": ("segm",)}
# MRBrainS13 LabelsForTesting: 1 CSF (5, 6), 2 GM (1, 2), 3 WM (3, 4); cerebellum and brainstem are background
_TESTING_LUT = np.array([LABEL_SCHEMES["tissue3"].mapping[v] for v in range(9)], dtype=np.uint8)


def subject_seed(seed: int, index: int) -> int:
    """Seed of subject ``index`` (1-based) in a dataset generated with ``seed``: ``seed * 1000 + index``."""
    return int(seed) * 1000 + int(index)


def generator_fingerprint(generator: str) -> str:
    """A short hash of what decides ``generator``'s output: its modules' source and the versions of numpy, scipy,
    torch and MONAI. A demo dataset whose ``dataset.json`` records another fingerprint is stale (so a cache is never
    trusted on a version number someone had to remember to bump).

    Raises:
        ValueError: unknown ``generator``.
    """
    from importlib.metadata import version

    if generator not in _SOURCES:
        raise ValueError(f"argument 'generator' must be one of {DEMO_GENERATORS}, got {generator!r}.")
    h = hashlib.sha256()
    for name in _SOURCES[generator]:
        h.update(name.encode() + b"\0" + (_HERE / name).read_bytes())
    for lib in _LIBRARIES:
        h.update(f"{lib}=={version(lib).split('+')[0]}".encode())  # '+cpu' / '+cu126': the same algorithms
    return h.hexdigest()[:16]


def _files(layout: str) -> list[str]:
    """Relative file names inside one subject folder: images, then label files."""
    images = [f"{LAYOUT_STEMS[layout][m]}.nii.gz" for m in MODALITIES]
    return images + [f"{stem}.nii.gz" for stem in _LABEL_FILES[layout]]


def _save_nifti(array: np.ndarray, affine: np.ndarray, path: Path, descrip: str) -> None:
    """Save ``array`` with qform and sform (code 1, scanner) set to ``affine``, atomically."""
    img = nib.Nifti1Image(array, affine)
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    img.header.set_xyzt_units("mm")
    img.header["descrip"] = descrip.encode()[:79]
    atomic_write(path, lambda tmp: nib.save(img, str(tmp)))  # the temp name keeps .nii.gz: nibabel compresses


def _remove_stale(out: Path, layout: str, ids: list[str]) -> None:
    """With ``overwrite``: drop subjects of a previous generated dataset at ``out`` that the new one lacks.

    Only folders listed in that dataset's ``dataset.json`` are touched, and only the files this module writes
    are deleted (a folder is removed only once empty); the old ``dataset.json`` goes first.
    """
    meta_path = out / DATASET_JSON
    try:
        old = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return
    known = {module for module, _, _ in GENERATORS.values()}
    if not isinstance(old, dict) or old.get("generator") not in known or old.get("layout") not in DEMO_LAYOUTS:
        return
    meta_path.unlink()
    old_layout = old["layout"]
    for sid in old.get("ids", []):
        if old_layout == layout and sid in ids:
            continue
        folder = out / _ROOTS[old_layout] / str(sid)
        if folder.resolve().parent != (out / _ROOTS[old_layout]).resolve():
            continue  # a crafted id such as ".." never leads outside the dataset
        for name in _files(old_layout):
            (folder / name).unlink(missing_ok=True)
        for sub in (folder / "pre", folder, out / _ROOTS[old_layout]):
            if sub.is_dir() and not any(sub.iterdir()):
                sub.rmdir()
        logger.info("removed stale demo subject %s", folder)


def _check_int(value: int, name: str, lo: int, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo or (hi and value > hi):
        expected = f"an integer in [{lo}, {hi}]" if hi else f"an integer >= {lo}"
        raise ValueError(f"argument '{name}' must be {expected}, got {value!r}.")
    return int(value)


def write_demo_dataset(
    out_dir: str | os.PathLike,
    subjects: int = 5,
    seed: int = 0,
    layout: str = "mrbrains13",
    shape: Sequence[int] = MRBRAINS13_SHAPE,
    overwrite: bool = False,
    *,
    spacing: Sequence[float] | None = None,
    lesions: bool = True,
    generator: str = "mni152",
) -> list[Path]:
    """Generate ``subjects`` demo subjects and write them as an MRBrainS13- or MRBrainS18-style dataset.

    Layouts (ids ``"1"`` .. ``str(subjects)``):

    - ``mrbrains13``: ``OUT/TrainingData/<id>/{T1, T1_IR, T2_FLAIR, LabelsForTraining, LabelsForTesting}.nii.gz``;
      LabelsForTesting uses the challenge's 3 classes (1 CSF, 2 GM, 3 WM; cerebellum and brainstem 0).
    - ``mrbrains18``: ``OUT/training/<id>/pre/{reg_T1, reg_IR, FLAIR}.nii.gz`` and ``OUT/training/<id>/segm.nii.gz``.

    Images are float32 and labels uint8, with a diagonal affine (voxel spacing, grid centred on the origin) as
    qform and sform (code 1). ``OUT/dataset.json`` records layout, seed, subject seeds, grid, generator version and
    :func:`generator_fingerprint`.

    Args:
        out_dir: dataset folder; created if missing.
        subjects: number of subjects, 1..999; subject ``i`` uses seed :func:`subject_seed` ``(seed, i)``.
        seed: non-negative dataset seed; the same seed gives the same files' content.
        layout: ``"mrbrains13"`` or ``"mrbrains18"``.
        shape: grid ``(X, Y, Z)`` per subject.
        overwrite: allow writing into a non-empty ``out_dir``; subjects of a previous phantom dataset there that
            the new one lacks are removed.
        spacing: voxel size in mm; None keeps the MRBrainS13 field of view (see :func:`make_subject`).
        lesions: include white-matter lesions (phantom only; MNI152-derived subjects have none).
        generator: ``"mni152"`` (real anatomy, the default) or ``"phantom"``.

    Returns:
        the subject folders, in id order.

    Raises:
        ValueError: on a bad argument, or if ``out_dir`` is a file or a non-empty folder and ``overwrite`` is False.
    """
    subjects = _check_int(subjects, "subjects", 1, MAX_SUBJECTS)
    seed = _check_int(seed, "seed", 0)
    if generator not in DEMO_GENERATORS:
        raise ValueError(f"argument 'generator' must be one of {DEMO_GENERATORS}, got {generator!r}.")
    if layout not in DEMO_LAYOUTS:
        raise ValueError(f"argument 'layout' must be one of {DEMO_LAYOUTS}, got {layout!r}.")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"argument 'out_dir': {out} exists and is not a folder.")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise ValueError(
                f"argument 'out_dir': {out} exists and is not empty; pass overwrite=True to write the demo data there."
            )
        logger.warning("overwriting the demo dataset in %s", out)
    ids = [str(i) for i in range(1, subjects + 1)]
    if out.is_dir():
        _remove_stale(out, layout, ids)
    files = _files(layout)
    module, version, title = GENERATORS[generator]
    folders = []
    for i, sid in enumerate(ids, start=1):
        start = time.perf_counter()
        if generator == "mni152":
            sub = make_mni_subject(subject_seed(seed, i), shape, spacing)
        else:
            sub = make_subject(subject_seed(seed, i), shape, spacing, lesions)
        folder = out / _ROOTS[layout] / sid
        arrays = [sub[m] for m in MODALITIES] + [sub["label"]]
        if layout == "mrbrains13":
            arrays.append(_TESTING_LUT[sub["label"]])
        for name, array in zip(files, arrays):
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            _save_nifti(array, sub["affine"], path, f"{title} v{version}")
        folders.append(folder)
        seconds = time.perf_counter() - start
        logger.info("%s subject %s/%d written to %s (%.1f s)", generator, sid, subjects, folder, seconds)
    affine = sub["affine"]
    meta = {
        "name": title,
        "generator": module,
        "generator_version": version,
        "generator_name": generator,
        "generator_fingerprint": generator_fingerprint(generator),
        "layout": layout,
        "seed": seed,
        "subjects": subjects,
        "ids": ids,
        "subject_seeds": [subject_seed(seed, i) for i in range(1, subjects + 1)],
        "shape": [int(n) for n in sub["label"].shape],
        "spacing": [float(abs(affine[i, i])) for i in range(3)],
        "lesions": bool(lesions) and generator == "phantom",
        "files": {name: f"{_ROOTS[layout]}/{{id}}/{name}" for name in files},
        "labels": {str(k): MRBRAINS_LABELS[k] for k in range(9)},
    }
    if layout == "mrbrains13":
        meta["labels_for_testing"] = {"0": "background", "1": "csf", "2": "gm", "3": "wm"}
    atomic_write_text(out / DATASET_JSON, json.dumps(meta, indent=2) + "\n")
    return folders
