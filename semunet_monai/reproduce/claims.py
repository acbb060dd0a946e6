"""The paper's claims, checked on the grid's results with the hierarchical bootstrap of :mod:`.stats`.

A verdict is one of three words: ``holds`` (every difference the claim needs has an interval above 0), ``fails``
(at least one has an interval below 0) or ``within noise`` (no interval excludes 0 against the claim, but at least
one includes 0). Each verdict quotes the numbers and the intervals it rests on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from semunet_monai.grid_rows import TUNED
from semunet_monai.reproduce.grid import rate_tag, row_name
from semunet_monai.reproduce.stats import SUMMARY_METRIC, fold_complete

__all__ = [
    "CLAIM_TUNED",
    "CLAIM_TUNED_TISSUE3",
    "CLAIM_DICE",
    "CLAIM_DICE_TISSUE3",
    "CLAIM_PSNR",
    "CLAIM_T1",
    "CLAIMS",
    "orderings",
    "psnr_dice_agreement",
]

# each Dice claim is checked twice: over the paper's 7 classes (what the networks are trained on) and over the
# MRBrainS13 challenge's CSF/GM/WM (where a SegNet-only row's collapse on one small class does not decide it)
CLAIM_TUNED = "the learned masks beat the tuned fixed mask (PSNR and Dice, 7 classes)"
CLAIM_TUNED_TISSUE3 = "the learned masks beat the tuned fixed mask (PSNR and Dice, CSF/GM/WM)"
CLAIM_DICE = "SemuNet >= LOUPE-Seg >= Baseline in Dice (7 classes)"
CLAIM_DICE_TISSUE3 = "SemuNet >= LOUPE-Seg >= Baseline in Dice (CSF/GM/WM)"
CLAIM_PSNR = "SemuNet >= LOUPE in PSNR"
CLAIM_T1 = "SemuNet has the best PSNR of the paper's Table 1 (Baseline, Liu et al., MD-Recon-Net, LOUPE)"
CLAIMS = (CLAIM_TUNED, CLAIM_TUNED_TISSUE3, CLAIM_DICE, CLAIM_DICE_TISSUE3, CLAIM_PSNR, CLAIM_T1)

# claim -> the (metric, a, b) differences it needs; "best_baseline" and "best_t1" are resolved from the comparisons
# made
_NEEDS: dict[str, list[tuple[str, str, str]]] = {
    CLAIM_TUNED: [
        ("psnr", "semunet", TUNED),
        ("psnr", "loupe_seg", TUNED),
        ("dice", "semunet", TUNED),
        ("dice", "loupe_seg", TUNED),
    ],
    CLAIM_TUNED_TISSUE3: [
        ("psnr", "semunet", TUNED),
        ("psnr", "loupe_seg", TUNED),
        ("dice3", "semunet", TUNED),
        ("dice3", "loupe_seg", TUNED),
    ],
    CLAIM_DICE: [("dice", "semunet", "loupe_seg"), ("dice", "loupe_seg", "best_baseline")],
    CLAIM_DICE_TISSUE3: [("dice3", "semunet", "loupe_seg"), ("dice3", "loupe_seg", "best_baseline")],
    CLAIM_PSNR: [("psnr", "semunet", "loupe_seg")],
    CLAIM_T1: [("psnr", "semunet", "best_t1")],
}
_UNITS = {"psnr": (1.0, " dB"), "ssim": (100.0, " points"), "dice": (100.0, " points"), "dice3": (100.0, " points")}


def _find(comps: list[Mapping], rate: float, metric: str, a: str, b: str) -> Mapping | None:
    for c in comps:
        if rate_tag(c["rate"]) != rate_tag(rate) or c["metric"] != metric or c["a"] != a:
            continue
        if c["b"] == b or (b in ("best_baseline", "best_t1") and c["role"] == b):
            return c
    return None


def _text(c: Mapping) -> str:
    scale, unit = _UNITS[c["metric"]]
    return (
        f"{c['label']} {scale * c['diff']:+.2f}{unit} [{scale * c['low']:+.2f}, {scale * c['high']:+.2f}] "
        f"({c['n_subjects']} subjects x {c['n_seeds']} seed(s): {c['verdict']})"
    )


def orderings(summary: Mapping, comps: Iterable[Mapping], rates: Iterable[float]) -> list[dict]:
    """Each claim of :data:`CLAIMS` at each rate.

    Args:
        summary: output of :func:`~.stats.summarise` (kept for the callers' symmetry; the verdicts use ``comps``).
        comps: output of :func:`~.stats.comparisons`.
        rates: sampling rates to check.

    Returns:
        One dict per claim and rate with every difference it needs: ``claim``, ``rate``, ``verdict`` (``holds``,
        ``fails`` or ``within noise``), ``holds`` (bool, the verdict is ``holds``) and ``detail`` (one line).
    """
    comps = list(comps)
    items = []
    for rate in rates:
        for claim, needs in _NEEDS.items():
            found = [_find(comps, rate, metric, a, b) for metric, a, b in needs]
            if any(c is None for c in found):
                continue
            words = [c["verdict"] for c in found]
            verdict = "fails" if "a < b" in words else "holds" if all(w == "a > b" for w in words) else "within noise"
            detail = "; ".join(_text(c) for c in found)
            items.append(
                {"claim": claim, "rate": rate, "verdict": verdict, "holds": verdict == "holds", "detail": detail}
            )
    return items


def _spearman(x: list[float], y: list[float]) -> float | None:
    """Spearman's rank correlation (ties share their average rank); None under 3 pairs or when a side is all ties."""
    if len(x) < 3 or len(set(x)) < 2 or len(set(y)) < 2:
        return None
    from scipy.stats import spearmanr

    return float(spearmanr(x, y)[0])  # [0]: the coefficient in every SciPy version


def psnr_dice_agreement(
    summary: Mapping, rates: Iterable[float], folds: Mapping[tuple[str, str], frozenset[int]] | None = None
) -> list[dict]:
    """Does a better PSNR bring a better Dice? Spearman rank correlation between the rows' mean PSNR and mean Dice
    (paper7 and tissue3) at each rate, over the undersampled rows that have both (LOUPE-Seg included: its PSNR is
    LOUPE's reconstruction, its Dice the SegNet trained on it).

    ``folds`` (:func:`~.stats.fold_coverage`): when given, a row that has not finished every fold some other row at
    that rate has is left out (its mean covers other test subjects) and named in ``left_out``."""
    out = []
    for rate in rates:
        tag = rate_tag(rate)
        rows = [r for r, by in summary.items() if tag in by and r not in ("fullysampled", TUNED)]  # TUNED repeats a row
        left_out: list[str] = []
        if folds is not None:
            complete = fold_complete(rows, tag, folds)
            left_out, rows = [r for r in rows if r not in complete], complete
        psnr = {r: summary[r][tag].get("psnr", {}).get("mean") for r in rows}
        for metric in ("dice", "dice3"):
            key = SUMMARY_METRIC[metric]
            pairs = [(psnr[r], summary[r][tag].get(key, {}).get("mean"), r) for r in rows]
            pairs = [(p, d, r) for p, d, r in pairs if p is not None and d is not None]
            rho = _spearman([p for p, _, _ in pairs], [d for _, d, _ in pairs])
            top_psnr = max(pairs, key=lambda t: t[0])[2] if pairs else None
            top_dice = max(pairs, key=lambda t: t[1])[2] if pairs else None
            out.append(
                {
                    "rate": rate,
                    "metric": metric,
                    "rho": rho,
                    "n_rows": len(pairs),
                    "top_psnr": row_name(top_psnr, "psnr") if top_psnr else None,
                    "top_dice": row_name(top_dice, "dice") if top_dice else None,
                    "left_out": [row_name(r, metric) for r in left_out],
                }
            )
    return out
