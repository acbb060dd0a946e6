"""Handing learned masks to a scanner: Pulseq sequence export (pypulseq)."""

from __future__ import annotations

from .pulseq import GreSettings, gre_2d, gre_3d, lines_of, sampled_table, write_sequence

__all__ = ["GreSettings", "gre_2d", "gre_3d", "lines_of", "sampled_table", "write_sequence"]
