"""Which files inference runs on, and where each output goes: scans as users bring them.

An input is a scan file, a folder (searched recursively), a DICOM series folder, or a list file (``.txt``/``.lst``:
one path per line, ``#`` comments, relative paths against the list's folder). Files named explicitly, or in a list,
are processed as given. In a folder (and each of its sub-folders) only the scans of the trained modality are taken:
files whose names state it (``T1.nii.gz``, ``reg_T1.nii.gz``, ``sub-01_T1w.nii.gz``), or, in a folder where no name
states it, the files whose names state no contrast at all (``patient3.nii.gz``). Label maps, masks, other contrasts
and earlier outputs (``*_seg``, ``*_recon``) are skipped, each listed with the reason. ``pattern`` (a shell pattern on
the file name, e.g. ``"*T1.nii.gz"``) replaces the contrast rule.

Outputs are ``<out>/<path relative to the folder>/<stem>_<postfix>.nii.gz`` (so the subjects of an MRBrainS13 folder,
which all hold ``T1.nii.gz``, keep apart), or ``<out>/<stem>_<postfix>.nii.gz`` for files named explicitly. Nothing
is ever written over an input, outside ``out``, or over an existing output unless ``overwrite``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "IMAGE_SUFFIXES",
    "KSPACE_SUFFIXES",
    "LIST_SUFFIXES",
    "Scan",
    "Selection",
    "select_inputs",
    "modality_of",
]

IMAGE_SUFFIXES = (".nii.gz", ".nii", ".mhd", ".mha", ".nrrd")
KSPACE_SUFFIXES = (".h5", ".npy")
LIST_SUFFIXES = (".txt", ".lst", ".list")
DICOM_SUFFIXES = (".dcm", ".ima")
OUTPUT_POSTFIXES = ("seg", "recon")
# name tokens (split at non-alphanumerics, lower case) that mark a file as something other than a scan
_NOT_SCAN = {
    "label",
    "labels",
    "labelsfortraining",
    "labelsfortesting",
    "seg",
    "segmentation",
    "mask",
    "brainmask",
    "aseg",
    "aparc",
    "dseg",
    "probseg",
}
# name tokens of each contrast; a file matches the trained modality when its tokens meet that set and no other's
_CONTRASTS: dict[str, set[str]] = {
    "T1": {"t1", "t1w", "mprage", "spgr", "bravo"},
    "T1_IR": {"ir", "t1ir", "tir", "stir"},
    "T2_FLAIR": {"flair", "t2flair"},
    "T2": {"t2", "t2w"},
    "PD": {"pd", "pdw"},
    "DWI": {"dwi", "adc", "trace"},
}


def _suffix(name: str, suffixes: Sequence[str]) -> str | None:
    low = name.lower()
    return next((s for s in suffixes if low.endswith(s)), None)


def _stem(name: str) -> str:
    suffix = _suffix(name, IMAGE_SUFFIXES + KSPACE_SUFFIXES + DICOM_SUFFIXES)
    return name[: -len(suffix)] if suffix else name


def _tokens(name: str) -> list[str]:
    return [t for t in re.split(r"[^a-z0-9]+", _stem(name).lower()) if t]


def modality_of(name: str) -> str | None:
    """The contrast a file name states (``T1``, ``T1_IR``, ``T2_FLAIR``, ``T2``, ...), or None.

    ``T1_IR.nii.gz`` is T1_IR (the IR token wins over T1), ``reg_T1.nii.gz`` is T1, ``FLAIR.nii.gz`` is T2_FLAIR.
    """
    tokens = set(_tokens(name))
    if tokens & _CONTRASTS["T1_IR"]:
        return "T1_IR"
    if tokens & _CONTRASTS["T2_FLAIR"]:
        return "T2_FLAIR"
    return next((m for m, names in _CONTRASTS.items() if tokens & names), None)


def _is_dicom(path: Path) -> bool:
    if path.name.lower().endswith(DICOM_SUFFIXES):
        return True
    try:
        with path.open("rb") as f:
            f.seek(128)
            return f.read(4) == b"DICM"
    except OSError:
        return False


def _dicom_folder(folder: Path) -> bool:
    """A folder of DICOM slices (one series) with no sub-folders: some of its files are DICOM and none of the others
    is an image (side files such as ``info.txt`` are allowed)."""
    if any(p.is_dir() for p in folder.iterdir()):
        return False
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    dicom = [p for p in files if _is_dicom(p)]
    others = [p for p in files if p not in dicom]
    return bool(dicom) and not any(_suffix(p.name, IMAGE_SUFFIXES + KSPACE_SUFFIXES) for p in others)


@dataclass(frozen=True)
class Scan:
    """One input and its outputs.

    Attributes:
        path: the scan: a file, or a DICOM series folder.
        kind: ``"image"`` (NIfTI/MetaImage/NRRD or DICOM series) or ``"kspace"`` (``.h5``/``.npy``).
        outputs: postfix -> output path.
    """

    path: Path
    kind: str
    outputs: dict[str, Path]


@dataclass
class Selection:
    """What :func:`select_inputs` found: the scans to process and each skipped file with its reason."""

    scans: list[Scan] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def _skip_reason(path: Path, pattern: str | None) -> str | None:
    """Why a file found in a folder is not a scan whatever its contrast (None: it may be one)."""
    name = path.name
    tokens = _tokens(name)
    if tokens and tokens[-1] in OUTPUT_POSTFIXES:
        return "an earlier output of inference"
    if set(tokens) & _NOT_SCAN or any(t.startswith("label") for t in tokens):
        return "a label map or mask"
    if pattern is not None and not fnmatch.fnmatch(name.lower(), pattern.lower()):
        return f"does not match --pattern {pattern!r}"
    return None


def _by_contrast(files: list[Path], modality: str, pattern: str | None, skipped: list) -> list[Path]:
    """The files of one folder that are scans of ``modality`` (see the module docstring)."""
    if pattern is not None:
        return files
    kspace = [p for p in files if _suffix(p.name, KSPACE_SUFFIXES)]  # raw data: its sampling is checked on reading
    images = [p for p in files if p not in kspace]
    stated = {p: modality_of(p.name) for p in images}
    take = [p for p in images if stated[p] == modality] or [p for p in images if stated[p] is None]
    for p in images:
        if p in take:
            continue
        if stated[p] is None:
            skipped.append((p, f"its name states no contrast, and {modality} scans sit beside it"))
        else:
            skipped.append((p, f"another contrast ({stated[p]}; the model was trained on {modality})"))
    return sorted(take + kspace)


def _read_list(listing: Path) -> list[Path]:
    lines = [ln.strip() for ln in listing.read_text().splitlines()]
    paths = [
        Path(ln) if Path(ln).is_absolute() else listing.parent / ln for ln in lines if ln and not ln.startswith("#")
    ]
    if not paths:
        raise ValueError(f"{listing}: the list file names no scans.")
    return paths


def _found_in(folder: Path, modality: str, pattern: str | None, skipped: list) -> list[tuple[Path, Path]]:
    """(scan, output folder relative to ``folder``) for the scans in ``folder`` and its sub-folders."""
    if _dicom_folder(folder):
        return [(folder, Path())]
    found: list[tuple[Path, Path]] = []
    per_folder: dict[Path, list[Path]] = {}
    for path in sorted(folder.rglob("*")):
        if any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue
        is_series = path.is_dir() and _dicom_folder(path)  # a series folder competes with its parent's files
        if not is_series and (not path.is_file() or not _suffix(path.name, IMAGE_SUFFIXES + KSPACE_SUFFIXES)):
            continue
        reason = _skip_reason(path, pattern)
        if reason is None:
            per_folder.setdefault(path.parent, []).append(path)
        else:
            skipped.append((path, reason))
    for parent, files in per_folder.items():
        found += [(p, parent.relative_to(folder)) for p in _by_contrast(files, modality, pattern, skipped)]
    return sorted(found)


def select_inputs(
    inputs: Sequence[str | Path],
    output_dir: str | Path,
    modality: str = "T1",
    pattern: str | None = None,
    overwrite: bool = False,
    postfixes: Sequence[str] = OUTPUT_POSTFIXES,
) -> Selection:
    """The scans of ``inputs`` to process, with their output paths checked before anything runs.

    Args:
        inputs: files, folders, DICOM series folders or list files.
        output_dir: where the outputs go.
        modality: the contrast the model was trained on (chooses files in folders).
        pattern: shell pattern on file names that replaces the modality rule in folders.
        overwrite: allow replacing existing outputs (never inputs).
        postfixes: the outputs written per scan.

    Raises ``ValueError`` naming the file for: no input, a missing path, an unsupported file type, nothing left to
    process, two scans writing the same output, an output that would leave ``output_dir``, overwrite an input, or
    replace an existing file without ``overwrite``.
    """
    if not inputs:
        raise ValueError("no input given: name scan files, folders or a list file.")
    if Path(output_dir).exists() and not Path(output_dir).is_dir():
        raise ValueError(f"--out {output_dir}: exists and is not a folder; give an output folder.")
    out = Path(output_dir).resolve()
    selection = Selection()
    chosen: list[tuple[Path, Path, bool]] = []  # (scan, output folder relative to out, in a folder)
    for given in inputs:
        path = Path(given)
        if path.is_dir():
            found = _found_in(path, modality, pattern, selection.skipped)
            chosen += [(p, rel, True) for p, rel in found]
        elif path.is_file() and _suffix(path.name, LIST_SUFFIXES):
            for listed in _read_list(path):
                if not listed.exists():
                    raise ValueError(f"{path}: lists {listed}, which does not exist.")
                chosen.append((listed, Path(), False))
        elif path.is_file():
            chosen.append((path, Path(), False))
        else:
            raise ValueError(f"{path}: no such file or folder.")
    for path, _, _ in chosen:
        if path.is_file() and not _suffix(path.name, IMAGE_SUFFIXES + KSPACE_SUFFIXES):
            raise ValueError(
                f"{path}: unsupported file type; expected a scan (.nii, .nii.gz, .mhd, .mha, .nrrd), a DICOM series "
                f"folder, k-space (.h5, .npy) or a list file (.txt)."
            )
    if not chosen:
        raise ValueError(
            f"nothing to process in {', '.join(str(p) for p in inputs)}: no {modality} scan found"
            + (f" ({len(selection.skipped)} file(s) skipped, listed above)" if selection.skipped else "")
            + "; name the files, or choose them with --pattern."
        )
    # every file found in the inputs, skipped ones too (a user's own T1_seg.nii.gz beside the scan is never replaced)
    given_inputs = {p.resolve() for p, _, _ in chosen} | {p.resolve() for p, _ in selection.skipped}
    seen: dict[Path, Path] = {}
    for path, rel, _ in chosen:
        stem = path.name if path.is_dir() else _stem(path.name)
        outputs = {}
        for postfix in postfixes:
            target = (out / rel / f"{stem}_{postfix}.nii.gz").resolve()
            if not target.is_relative_to(out):
                raise ValueError(f"{path}: its output {target} would be written outside the output folder {out}.")
            if target in given_inputs:
                raise ValueError(
                    f"{path}: its output {target} would overwrite a file of the input (even with --overwrite); "
                    f"choose an --out outside the input folders."
                )
            if target in seen:
                raise ValueError(
                    f"{path} and {seen[target]} would both write {target}; pass their folder instead, or rename one."
                )
            if target.exists() and not overwrite:
                raise ValueError(
                    f"{target}: exists already (an earlier run?); pass --overwrite or choose another --out."
                )
            seen[target] = path
            outputs[postfix] = target
        kind = "kspace" if path.is_file() and _suffix(path.name, KSPACE_SUFFIXES) else "image"
        selection.scans.append(Scan(path, kind, outputs))
    return selection
