"""Distances on the Earth: the one great-circle formula, for numpy arrays and torch tensors.

Points are latitude/longitude in degrees on a sphere of the Earth's mean radius; a NaN
coordinate gives a NaN distance (which compares False), never a warning or an error.

    >>> round(float(great_circle_km(37.7749, -122.4194, 34.0522, -118.2437)))
    559
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar, overload

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:  # torch is imported where a tensor is measured: places need no torch
    from torch import Tensor

EARTH_RADIUS_KM = 6371.0088  # mean radius (IUGG)

FloatArray = npt.NDArray[np.floating[Any]]
_Array = TypeVar("_Array", "Tensor", FloatArray)


@overload
def great_circle_km(lat1: Tensor, lon1: Tensor, lat2: Tensor, lon2: Tensor) -> Tensor: ...


@overload
def great_circle_km(
    lat1: float | FloatArray,
    lon1: float | FloatArray,
    lat2: float | FloatArray,
    lon2: float | FloatArray,
) -> FloatArray: ...


def great_circle_km(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> Tensor | FloatArray:
    """Haversine distance in km between (lat1, lon1) and (lat2, lon2), in degrees.

    Shapes broadcast: [...] -> [...]. Torch tensors (all four) give a tensor of their
    dtype; numpy arrays and floats give a numpy array (0-d for four floats).
    """
    if not isinstance(lat1, np.ndarray | np.generic | float | int):
        import torch

        return _haversine_km(torch, lat1, lon1, lat2, lon2)
    with np.errstate(invalid="ignore"):
        return np.asarray(_haversine_km(np, lat1, lon1, lat2, lon2))


def _haversine_km(xp: ModuleType, lat1: _Array, lon1: _Array, lat2: _Array, lon2: _Array) -> _Array:
    """The haversine formula in the array namespace `xp` (numpy or torch)."""
    lat1, lon1, lat2, lon2 = (xp.deg2rad(v) for v in (lat1, lon1, lat2, lon2))
    h = (
        xp.sin((lat2 - lat1) / 2) ** 2
        + xp.cos(lat1) * xp.cos(lat2) * xp.sin((lon2 - lon1) / 2) ** 2
    )
    km: _Array = 2 * EARTH_RADIUS_KM * xp.arcsin(xp.sqrt(xp.clip(h, 0, 1)))
    return km


def unit_vectors(coords: Tensor) -> Tensor:
    """[n, 2] latitude/longitude in degrees -> [n, 3] unit vectors, float64 (NaN stays
    NaN): points to compare many times over (`chord_km`)."""
    import torch

    lat, lon = torch.deg2rad(coords.double()).unbind(1)
    return torch.stack([lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()], dim=1)


def chord_km(a: Tensor, b: Tensor) -> Tensor:
    """Great-circle km between every unit vector of `a` [P, 3] and of `b` [C, 3] ->
    [P, C], from the chord: the haversine's h is |a - b|^2 / 4, km = 2 R asin(sqrt(h)).
    No trigonometry per pair but the arcsine."""
    import torch

    chord2 = (a.unsqueeze(1) - b.unsqueeze(0)).pow(2).sum(-1)
    return 2 * EARTH_RADIUS_KM * torch.asin((chord2 / 4).clamp(0, 1).sqrt())


@dataclass(frozen=True, slots=True)
class Circle:
    """Every point within `radius_km` of (latitude, longitude), in degrees."""

    latitude: float
    longitude: float
    radius_km: float

    def contains(self, latitude: FloatArray, longitude: FloatArray) -> npt.NDArray[np.bool_]:
        """[...] whether each point is in the circle (False where a coordinate is NaN)."""
        km = great_circle_km(self.latitude, self.longitude, latitude, longitude)
        with np.errstate(invalid="ignore"):
            return km <= self.radius_km
