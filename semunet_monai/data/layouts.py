"""Dataset layouts: MRBrainS13, MRBrainS18 and MONAI decathlon-style datalists, as lists of data dictionaries.

Each item is ``{"image": path, "label": path, "subject": id}``; a missing file is kept as the path where it was
expected (``None`` where even that is unknown), so that the preflight check can report it; :func:`require_files`
refuses such items before training.
"""

from __future__ import annotations

import json
from pathlib import Path

from monai.data import load_decathlon_datalist

from ..keys import Keys

__all__ = [
    "LAYOUTS",
    "MODALITIES",
    "IMAGE_SUFFIXES",
    "detect_layout",
    "discover",
    "mrbrains13_items",
    "mrbrains18_items",
    "datalist_items",
    "require_files",
    "strip_suffix",
]

LAYOUTS = ("mrbrains13", "mrbrains18", "datalist")
IMAGE_SUFFIXES = (".nii.gz", ".nii", ".mhd")
# modality -> file stem, per layout
MODALITIES: dict[str, dict[str, str]] = {
    "mrbrains13": {"T1": "T1", "T1_IR": "T1_IR", "T2_FLAIR": "T2_FLAIR"},
    "mrbrains18": {"T1": "pre/reg_T1", "T1_IR": "pre/reg_IR", "T2_FLAIR": "pre/FLAIR"},
}
SUBJECT = "subject"


def strip_suffix(name: str, suffixes: tuple[str, ...] = (*IMAGE_SUFFIXES, ".h5", ".npy")) -> str:
    """A file name without its image suffix (``scan.nii.gz`` -> ``scan``); other names are returned unchanged."""
    for suffix in suffixes:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def _find(folder: Path, stem: str) -> Path:
    """The first existing ``folder/stem<suffix>``; the ``.nii.gz`` candidate if none exists."""
    for suffix in IMAGE_SUFFIXES:
        candidate = folder / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    return folder / f"{stem}.nii.gz"


def _check_modality(layout: str, modality: str) -> str:
    if modality not in MODALITIES[layout]:
        raise ValueError(f"argument 'modality' must be one of {tuple(MODALITIES[layout])}, got {modality!r}.")
    return MODALITIES[layout][modality]


def _subject_dirs(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise ValueError(f"{folder}: expected a folder of subjects, found none.")
    dirs = [d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")]
    return sorted(dirs, key=lambda d: (0, int(d.name)) if d.name.isdigit() else (1, d.name))


def mrbrains13_items(root: str | Path, modality: str = "T1", label_file: str = "LabelsForTraining") -> list[dict]:
    """Items of ``ROOT/TrainingData/<id>/{T1,T1_IR,T2_FLAIR,LabelsForTraining,LabelsForTesting}.{nii,nii.gz,mhd}``."""
    stem = _check_modality("mrbrains13", modality)
    if label_file not in ("LabelsForTraining", "LabelsForTesting"):
        raise ValueError(
            f"argument 'label_file' must be 'LabelsForTraining' or 'LabelsForTesting', got {label_file!r}."
        )
    return [
        {Keys.IMAGE: str(_find(d, stem)), Keys.LABEL: str(_find(d, label_file)), SUBJECT: d.name}
        for d in _subject_dirs(Path(root) / "TrainingData")
    ]


def mrbrains18_items(root: str | Path, modality: str = "T1") -> list[dict]:
    """Items of ``ROOT/training/<id>/pre/{reg_T1,reg_IR,FLAIR}.nii.gz`` with ``ROOT/training/<id>/segm.nii.gz``."""
    stem = _check_modality("mrbrains18", modality)
    return [
        {Keys.IMAGE: str(_find(d, stem)), Keys.LABEL: str(_find(d, "segm")), SUBJECT: d.name}
        for d in _subject_dirs(Path(root) / "training")
    ]


def datalist_items(path: str | Path, section: str = "training") -> list[dict]:
    """Items of one section of a decathlon-style datalist JSON (relative paths resolve against its folder).

    A ``"subject"`` entry is optional; without it the image (or ``kspace``) file name without suffix is the subject
    id.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: datalist file not found.")
    try:
        content = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not valid JSON ({err}).") from err
    if not isinstance(content, dict) or section not in content:
        keys = sorted(content) if isinstance(content, dict) else type(content).__name__
        raise ValueError(f"{path}: expected a JSON object with a {section!r} list, found keys {keys}.")
    items = load_decathlon_datalist(str(path), is_segmentation=True, data_list_key=section, base_dir=str(path.parent))
    out = []
    for i, item in enumerate(items):
        source = (
            Keys.IMAGE if Keys.IMAGE in item else Keys.KSPACE
        )  # raw k-space datalists: semunet_monai.data.raw_dataset
        if source not in item or Keys.LABEL not in item:
            raise ValueError(
                f"{path}: entry {i} of {section!r} needs 'image' (or raw 'kspace') and 'label', got keys "
                f"{sorted(item)}."
            )
        if source == Keys.KSPACE:  # MONAI's loader resolves 'image' and 'label' paths only
            item = {**item, Keys.KSPACE: str(path.parent / str(item[Keys.KSPACE]))}
        out.append({**item, SUBJECT: str(item.get(SUBJECT, strip_suffix(Path(str(item[source])).name)))})
    return out


def detect_layout(root: str | Path) -> str:
    """``"datalist"`` for a JSON file, ``"mrbrains13"`` if ``ROOT/TrainingData`` exists, ``"mrbrains18"`` if
    ``ROOT/training`` exists."""
    root = Path(root)
    if root.is_file() and root.suffix.lower() == ".json":
        return "datalist"
    if (root / "TrainingData").is_dir():
        return "mrbrains13"
    if (root / "training").is_dir():
        return "mrbrains18"
    raise ValueError(
        f"{root}: not a dataset: expected a datalist .json file, a folder with TrainingData/ (MRBrainS13) "
        f"or a folder with training/ (MRBrainS18)."
    )


def discover(root: str | Path, modality: str = "T1", layout: str | None = None, **kwargs) -> list[dict]:
    """Items of any supported layout (detected when ``layout`` is None).

    Args:
        root: dataset folder, or a datalist JSON file.
        modality: ``T1`` (default, as in the paper), ``T1_IR`` or ``T2_FLAIR``; ignored for datalists.
        layout: one of :data:`LAYOUTS` or None.
        kwargs: ``label_file`` (MRBrainS13) or ``section`` (datalist).
    """
    layout = layout or detect_layout(root)
    if layout == "mrbrains13":
        return mrbrains13_items(root, modality, **kwargs)
    if layout == "mrbrains18":
        return mrbrains18_items(root, modality)
    if layout == "datalist":
        return datalist_items(root, **kwargs)
    raise ValueError(f"argument 'layout' must be one of {LAYOUTS}, got {layout!r}.")


def require_files(items: list[dict]) -> list[dict]:
    """Return ``items`` if every image and label file exists, else raise naming the first missing one."""
    if not items:
        raise ValueError("the dataset is empty: no subjects were found.")
    for item in items:
        for key in (Keys.IMAGE, Keys.LABEL):
            if item.get(key) is None or not Path(item[key]).is_file():
                raise ValueError(f"{item.get(key)}: missing {key} file of subject {item.get(SUBJECT)!r}.")
    return items
