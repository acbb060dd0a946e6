"""Small Markdown helpers for the reproduction tables: value formatting, bolding the best of a line, tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["MISSING", "fmt_stat", "fmt_number", "bold_best", "md_table", "rate_label"]

MISSING = "–"


def rate_label(rate: float) -> str:
    """``0.1`` -> ``10%``."""
    return f"{rate * 100:g}%"


def fmt_number(value: float | None, scale: float = 1.0, decimals: int = 2) -> str:
    """``value * scale`` with ``decimals`` decimals, or :data:`MISSING`."""
    return MISSING if value is None else f"{scale * value:.{decimals}f}"


def fmt_stat(stat: Mapping | None, scale: float = 1.0, decimals: int = 2) -> str:
    """A summary entry ``{"mean", "std", "n"}`` as ``mean ± std`` (``n > 1``) or ``mean``; :data:`MISSING` if none."""
    if not stat or stat.get("mean") is None:
        return MISSING
    text = fmt_number(stat["mean"], scale, decimals)
    if stat.get("n", 0) > 1 and stat.get("std") is not None:
        text += f" ± {fmt_number(stat['std'], scale, decimals)}"
    return text


def bold_best(texts: Sequence[str], values: Sequence[float | None]) -> list[str]:
    """Bold the texts whose value is the highest of ``values`` (ties all bold; None never)."""
    defined = [v for v in values if v is not None]
    best = max(defined) if defined else None
    return [f"**{t}**" if v is not None and v == best else t for t, v in zip(texts, values)]


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub Markdown table (no trailing newline)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
