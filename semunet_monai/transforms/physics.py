"""Simulated acquisition physics for fully sampled magnitude slices (``physics.mode``).

- ``magnitude`` (the paper's): the slice is left as it is; its k-space is the FFT of a real image, Hermitian
  symmetric, which flatters undersampling (Shimron et al., PNAS 2022).
- ``complex``: the slice gets a smooth phase (:func:`~semunet_monai.physics.smooth_phase`) and becomes a
  real/imaginary pair ``(2, H, W)``; its magnitude is unchanged.
- ``multicoil``: as ``complex``, plus coil sensitivities ``maps`` ``(C, H, W)`` (birdcage,
  :func:`~semunet_monai.physics.birdcage_maps`, normalised to ``sum_c |S_c|^2 = 1``) that the multi-coil operator
  applies; the coil array is rotated by a seeded angle per subject.

The simulation is deterministic per ``(seed, subject, slice)``, so every method of a comparison sees the same data,
and leaves the global RNGs alone. The maps of a subject are computed once and kept.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Hashable, Mapping

import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Transform
from torch import Tensor

from ..keys import Keys
from ..names import PHYSICS_MODES
from ..physics import birdcage_maps, smooth_phase

__all__ = ["PHYSICS_MODES", "SimulateAcquisition", "SimulateAcquisitiond", "simulation_seed", "magnitude_of"]


def simulation_seed(seed: int, subject: str, index: int) -> int:
    """A stable seed for ``(seed, subject, index)`` (Python's ``hash`` of a string changes between processes)."""
    return zlib.crc32(f"{int(seed)}/{subject}/{int(index)}".encode())


def magnitude_of(image: Tensor) -> Tensor:
    """``(B, 1, H, W)`` magnitude of a magnitude ``(B, 1, H, W)`` or real/imaginary ``(B, 2, H, W)`` image
    (``torch.abs`` of a complex tensor: its gradient stays finite where the image is 0)."""
    if image.shape[1] == 1:
        return image
    if image.shape[1] != 2:
        raise ValueError(f"expected 1 (magnitude) or 2 (real/imaginary) channels, got {tuple(image.shape)}.")
    return torch.complex(image[:, :1].float(), image[:, 1:].float()).abs().to(image.dtype)


class SimulateAcquisition(Transform):
    """Array transform: a magnitude slice ``(1, H, W)`` to the image the scanner would see, and its coil maps.

    Args:
        mode: one of :data:`PHYSICS_MODES`.
        coils: number of coils (``multicoil``).
        coil_radius: coil distance from the centre in half fields of view (> 1).
        max_phase: bound on the image phase in radians.
        phase_degree: degree of the phase polynomial.
        seed: simulation seed.

    ``__call__(image, subject, index)`` returns ``(image, maps)``: ``image`` ``(1, H, W)`` (as given) in ``magnitude``
    mode, else real/imaginary float32 ``(2, H, W)``; ``maps`` complex64 ``(C, H, W)`` in ``multicoil`` mode, else None.
    """

    def __init__(
        self,
        mode: str = "magnitude",
        coils: int = 8,
        coil_radius: float = 1.5,
        max_phase: float = math.pi,
        phase_degree: int = 2,
        seed: int = 0,
    ) -> None:
        if mode not in PHYSICS_MODES:
            raise ValueError(f"physics.mode must be one of {PHYSICS_MODES}, got {mode!r}.")
        if mode == "multicoil" and int(coils) < 1:
            raise ValueError(f"physics.coils must be at least 1, got {coils!r}.")
        if not coil_radius > 1.0:
            raise ValueError(f"physics.coil_radius must be > 1 (coils outside the image), got {coil_radius!r}.")
        if not 0 <= max_phase <= 2 * math.pi or int(phase_degree) < 0:
            raise ValueError(
                f"physics.max_phase must be in [0, 2 pi] and physics.phase_degree >= 0, got {max_phase!r} and "
                f"{phase_degree!r}."
            )
        self.mode, self.coils, self.coil_radius = mode, int(coils), float(coil_radius)
        self.max_phase, self.phase_degree, self.seed = float(max_phase), int(phase_degree), int(seed)
        self._maps: dict[tuple[str, int, int], Tensor] = {}

    def maps(self, shape: tuple[int, int], subject: str) -> Tensor:
        """The subject's coil maps ``(C, H, W)``: birdcage, rotated by a seeded angle."""
        key = (str(subject), int(shape[0]), int(shape[1]))
        if key not in self._maps:
            generator = torch.Generator().manual_seed(simulation_seed(self.seed, str(subject), -1))
            rotation = 2 * math.pi * float(torch.rand(1, generator=generator))
            self._maps[key] = birdcage_maps(shape, self.coils, radius=self.coil_radius, rotation=rotation)
        return self._maps[key]

    def __call__(self, image: Tensor, subject: str = "", index: int = 0) -> tuple[Tensor, Tensor | None]:
        image = torch.as_tensor(image)
        if image.ndim != 3 or image.shape[0] != 1 or not torch.is_floating_point(image):
            raise ValueError(
                f"SimulateAcquisition expects a float magnitude slice (1, H, W), got {image.dtype} "
                f"{tuple(image.shape)}."
            )
        if self.mode == "magnitude":
            return image, None
        shape = tuple(int(s) for s in image.shape[-2:])
        phase = smooth_phase(
            shape, simulation_seed(self.seed, str(subject), index), self.phase_degree, self.max_phase, torch.float32
        )
        x = image.float()[0]
        out = torch.stack([x * torch.cos(phase), x * torch.sin(phase)])  # float32
        return out, self.maps(shape, subject) if self.mode == "multicoil" else None


class SimulateAcquisitiond(MapTransform):
    """Dictionary wrapper of :class:`SimulateAcquisition` for slice items (``subject`` and ``slice`` keys name the
    slice): replaces ``image`` and adds ``maps`` in ``multicoil`` mode.

    Args:
        keys: the image key (one).
        subject_key, slice_key: keys of the subject id and slice index.
        maps_key: where the coil maps go.
        kwargs: :class:`SimulateAcquisition`'s arguments.
    """

    def __init__(
        self,
        keys: KeysCollection = Keys.IMAGE,
        subject_key: str = "subject",
        slice_key: str = "slice",
        maps_key: str = Keys.MAPS,
        **kwargs,
    ) -> None:
        super().__init__(keys)
        if len(self.keys) != 1:
            raise ValueError(f"SimulateAcquisitiond takes one image key, got {self.keys}.")
        self.simulate = SimulateAcquisition(**kwargs)
        self.subject_key, self.slice_key, self.maps_key = subject_key, slice_key, maps_key

    def __call__(self, data: Mapping[Hashable, Tensor]) -> dict[Hashable, Tensor]:
        d = dict(data)
        key = self.keys[0]
        d[key], maps = self.simulate(d[key], str(d.get(self.subject_key, "")), int(d.get(self.slice_key, 0)))
        if maps is not None:
            d[self.maps_key] = maps
        return d
