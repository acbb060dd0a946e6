"""The paper's ordering claims, checked on the grid's results: learned masks above fixed ones in PSNR, and
SemuNet >= LOUPE-Seg >= Baseline in Dice; each verdict quotes the numbers and the paired bootstrap interval."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from semunet_monai.reproduce.grid import rate_tag
from semunet_monai.reproduce.stats import FIXED_ROWS, PAPER_BASELINES, best_row, summary_mean

__all__ = ["CLAIM_PSNR", "CLAIM_DICE", "orderings"]

CLAIM_PSNR = "learned masks above fixed ones in PSNR"
CLAIM_DICE = "SemuNet >= LOUPE-Seg >= Baseline in Dice"


def _ci_text(comps: Iterable[Mapping], rate: float, metric: str, a: str, b: str | None, unit: str) -> str:
    """The bootstrap interval of the comparison ``a`` − ``b`` at ``rate``, as text ('' if it was not made)."""
    scale = 100.0 if metric in ("ssim", "dice") else 1.0
    for c in comps:
        if rate_tag(c["rate"]) == rate_tag(rate) and c["metric"] == metric and (c["a"], c["b"]) == (a, b):
            excludes = "excludes 0" if c["low"] > 0 or c["high"] < 0 else "includes 0"
            return (
                f"bootstrap {c['label']}: {scale * c['diff']:+.2f}{unit} "
                f"[{scale * c['low']:+.2f}, {scale * c['high']:+.2f}] over {c['n']} slices, CI {excludes}"
            )
    return ""


def _psnr_claim(summary: Mapping, comps: list[Mapping], rate: float) -> dict | None:
    tag = rate_tag(rate)
    learned = {r: summary_mean(summary, r, tag, "psnr") for r in ("semunet", "loupe_seg")}
    fixed = {r: m for r in FIXED_ROWS if (m := summary_mean(summary, r, tag, "psnr")) is not None}
    if not fixed or any(v is None for v in learned.values()):
        return None
    top = best_row(summary, FIXED_ROWS, tag, "psnr")
    names = {"semunet": "SemuNet", "loupe_seg": "LOUPE"}
    parts, holds = [], True
    for row, value in learned.items():
        beaten = {f: m for f, m in fixed.items() if m >= value}
        if beaten:
            holds = False
            by = ", ".join(f"{f} {m:.2f} dB (by {m - value:.2f} dB)" for f, m in beaten.items())
            parts.append(f"{names[row]} {value:.2f} dB is not above {by}")
        else:
            parts.append(
                f"{names[row]} {value:.2f} dB > best fixed {top} {fixed[top]:.2f} dB (+{value - fixed[top]:.2f})"
            )
        parts.append(_ci_text(comps, rate, "psnr", row, top, " dB"))
    return {"claim": CLAIM_PSNR, "rate": rate, "holds": holds, "detail": "; ".join(p for p in parts if p)}


def _dice_claim(summary: Mapping, comps: list[Mapping], rate: float) -> dict | None:
    tag = rate_tag(rate)
    semunet = summary_mean(summary, "semunet", tag, "mean_dice")
    loupe = summary_mean(summary, "loupe_seg", tag, "mean_dice")
    bases = {r: m for r in PAPER_BASELINES if (m := summary_mean(summary, r, tag, "mean_dice")) is not None}
    if semunet is None or loupe is None or not bases:
        return None
    violations = [f"SemuNet {100 * semunet:.2f} % < LOUPE-Seg {100 * loupe:.2f} %"] if semunet < loupe else []
    violations += [f"LOUPE-Seg {100 * loupe:.2f} % < {r} {100 * m:.2f} %" for r, m in bases.items() if loupe < m]
    chain = ", ".join(f"{r} {100 * m:.2f} %" for r, m in bases.items())
    head = "; ".join(violations) or f"SemuNet {100 * semunet:.2f} % >= LOUPE-Seg {100 * loupe:.2f} % >= {chain}"
    top = best_row(summary, PAPER_BASELINES, tag, "mean_dice")
    cis = [("semunet", "loupe_seg"), ("loupe_seg", top)]
    parts = [head] + [_ci_text(comps, rate, "dice", a, b, " points") for a, b in cis]
    return {"claim": CLAIM_DICE, "rate": rate, "holds": not violations, "detail": "; ".join(p for p in parts if p)}


def orderings(summary: Mapping, comps: Iterable[Mapping], rates: Iterable[float]) -> list[dict]:
    """The paper's ordering claims, checked per rate on the summary means.

    1. :data:`CLAIM_PSNR`: SemuNet and LOUPE both have a higher PSNR than every fixed-mask row (:data:`FIXED_ROWS`
       present at that rate).
    2. :data:`CLAIM_DICE`: SemuNet >= LOUPE-Seg >= each Baseline column of Table 2 (:data:`PAPER_BASELINES`
       present at that rate) in mean Dice.

    A claim is left out at a rate where SemuNet, LOUPE-Seg or every compared fixed row is missing.

    Args:
        summary: output of :func:`summarise`.
        comps: output of :func:`comparisons` (its intervals are quoted in ``detail``).
        rates: sampling rates to check.

    Returns:
        One dict per claim and rate: ``claim``, ``rate``, ``holds`` (bool) and ``detail`` (one line: the numbers,
        the rows that break the claim and by how much, the bootstrap interval and whether it excludes 0).
    """
    comps = list(comps)
    items = []
    for rate in rates:
        items += [c for c in (_psnr_claim(summary, comps, rate), _dice_claim(summary, comps, rate)) if c]
    return items
