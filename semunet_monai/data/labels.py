"""MRBrainS label schemes: the raw challenge labels mapped to the classes a model is trained on."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["IGNORE_INDEX", "MRBRAINS_LABELS", "LABEL_SCHEMES", "LabelScheme", "get_label_scheme"]

IGNORE_INDEX = 255
"""Label value excluded from the loss and the metrics (MRBrainS18's infarction and 'other')."""

MRBRAINS_LABELS: dict[int, str] = {
    0: "background",
    1: "cortical_gm",
    2: "basal_ganglia",
    3: "wm",
    4: "wm_lesions",
    5: "extracerebral_csf",
    6: "ventricles",
    7: "cerebellum",
    8: "brainstem",
    9: "infarction",
    10: "other",
}


class LabelScheme:
    """A mapping from raw label values to training classes ``0..K-1`` (0 background), plus ignored values.

    Args:
        name: scheme name.
        mapping: raw value -> class index; raw values absent from it are unknown (an error in preflight).
        class_names: names of classes ``0..K-1``.
    """

    def __init__(self, name: str, mapping: Mapping[int, int], class_names: list[str]) -> None:
        self.name = name
        self.mapping = {int(k): int(v) for k, v in mapping.items()}
        self.class_names = list(class_names)
        bad = {v for v in self.mapping.values() if v != IGNORE_INDEX and not 0 <= v < len(class_names)}
        if bad:
            raise ValueError(
                f"label scheme {name!r}: target classes {sorted(bad)} are outside 0..{len(class_names) - 1}."
            )

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def known_values(self) -> set[int]:
        return set(self.mapping)

    def orig_and_target(self) -> tuple[list[int], list[int]]:
        """Lists for :class:`monai.transforms.MapLabelValued` (``orig_labels``, ``target_labels``)."""
        keys = sorted(self.mapping)
        return keys, [self.mapping[k] for k in keys]

    def raw_values(self) -> list[int]:
        """For each class index, the raw label value that stands for it in written label maps: the lowest raw value
        mapping to it (MRBrainS paper7: 0, 1, 2, 3, 5, 6, 7, 8; a class no raw value maps to keeps its index)."""
        found: dict[int, int] = {}
        for raw in sorted(self.mapping):
            cls = self.mapping[raw]
            if cls != IGNORE_INDEX:
                found.setdefault(cls, raw)
        return [found.get(c, c) for c in range(self.num_classes)]

    def merge_lut(self, other: str | LabelScheme = "tissue3") -> list[int] | None:
        """The lookup table class -> ``other``'s class when every raw value of one class of this scheme falls in one
        class of ``other`` (``paper7`` -> ``tissue3``: cortical GM and basal ganglia -> GM, ...); None otherwise."""
        other = get_label_scheme(other)
        lut: dict[int, int] = {}
        for raw, cls in self.mapping.items():
            target = other.mapping.get(raw)
            if cls == IGNORE_INDEX or target == IGNORE_INDEX:
                continue
            if target is None or lut.setdefault(cls, target) != target:
                return None
        if set(lut) != set(range(self.num_classes)):
            return None
        return [lut[k] for k in range(self.num_classes)]

    def __repr__(self) -> str:
        return f"LabelScheme({self.name!r}, num_classes={self.num_classes})"


_IGNORED = {9: IGNORE_INDEX, 10: IGNORE_INDEX}

LABEL_SCHEMES: dict[str, LabelScheme] = {
    # the paper's seven tissues: lesions merged into white matter
    "paper7": LabelScheme(
        "paper7",
        {0: 0, 1: 1, 2: 2, 3: 3, 4: 3, 5: 4, 6: 5, 7: 6, 8: 7, **_IGNORED},
        [
            "background",
            "cortical_gm",
            "basal_ganglia",
            "wm",
            "extracerebral_csf",
            "ventricles",
            "cerebellum",
            "brainstem",
        ],
    ),
    # the challenge's LabelsForTesting convention: CSF, GM, WM; cerebellum and brainstem are background
    "tissue3": LabelScheme(
        "tissue3",
        {0: 0, 1: 2, 2: 2, 3: 3, 4: 3, 5: 1, 6: 1, 7: 0, 8: 0, **_IGNORED},
        ["background", "csf", "gm", "wm"],
    ),
    "raw": LabelScheme("raw", {k: k for k in range(9)} | _IGNORED, [MRBRAINS_LABELS[k] for k in range(9)]),
}


def get_label_scheme(
    scheme: str | Mapping[int, int] | LabelScheme, class_names: list[str] | None = None
) -> LabelScheme:
    """A :class:`LabelScheme` from a name (``paper7``, ``tissue3``, ``raw``), a scheme, or a custom mapping.

    Args:
        scheme: name, scheme, or a mapping raw value -> class (use :data:`IGNORE_INDEX` to ignore a value).
        class_names: names for a custom mapping (default ``class_0..class_{K-1}``).
    """
    if isinstance(scheme, LabelScheme):
        return scheme
    if isinstance(scheme, str):
        if scheme not in LABEL_SCHEMES:
            raise ValueError(
                f"argument 'label_scheme' must be one of {tuple(LABEL_SCHEMES)} or a mapping, got {scheme!r}."
            )
        return LABEL_SCHEMES[scheme]
    if isinstance(scheme, Mapping):
        try:
            mapping = {int(k): int(v) for k, v in scheme.items()}
        except (TypeError, ValueError):
            raise ValueError(
                f"argument 'label_scheme' as a mapping must map integers to integers, got {scheme!r}."
            ) from None
        k = 1 + max([v for v in mapping.values() if v != IGNORE_INDEX], default=0)
        return LabelScheme("custom", mapping, class_names or [f"class_{i}" for i in range(k)])
    raise ValueError(f"argument 'label_scheme' must be a name or a mapping, got {type(scheme).__name__}.")
