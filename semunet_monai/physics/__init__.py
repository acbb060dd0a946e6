"""Scanner physics beyond the magnitude image: complex phase, coil sensitivities and the multi-coil operator."""

from __future__ import annotations

from .coils import birdcage_maps, normalise_maps
from .multicoil import MultiCoilOperator, rss, sense_combine
from .phase import smooth_phase

__all__ = ["MultiCoilOperator", "birdcage_maps", "normalise_maps", "rss", "sense_combine", "smooth_phase"]
