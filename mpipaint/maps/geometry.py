"""Map geometry shared by every deposition: which box axes span the image, periodic minimum image, and
particle positions in pixel units.

Image axes follow yt's convention, so maps compare pixel by pixel with yt projections:
projection along x -> image (y, z); along y -> (z, x); along z -> (x, y).
"""
from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

IMAGE_AXES = {0: (1, 2), 1: (2, 0), 2: (0, 1)}
DEPOSITION_MODES = ("group", "cube")  # which particles make a map: halos/particles.py
AXIS_NAMES = "xyz"


def check_axes(axes) -> None:
    """Projection axes: distinct values among 0, 1, 2 (x, y, z), at least one; ValueError otherwise."""
    if not axes or any(a not in IMAGE_AXES for a in axes) or len(set(axes)) != len(axes):
        raise ValueError(f"axes must be distinct values among 0, 1, 2, got {axes}")


@numba.njit(cache=True, error_model="numpy")
def minimum_image(d, box):
    """Separation(s) `d` moved to the nearest periodic image in a box of side `box` (box <= 0: no
    periodicity, `d` unchanged). Scalars or arrays, from Python or inside numba kernels; the one
    definition every module uses."""
    inv_box = 1.0 / box if box > 0.0 else 0.0
    return d - box * np.floor(d * inv_box + 0.5)


@dataclass(frozen=True)
class MapSpec:
    """What a halo's maps are: npix x npix pixels over `width_kpc` (physical) centred on the halo, of its FoF
    members ('group') or of every particle in the cube of side width ('cube'). Training sets, bundles and
    painted catalogs carry it as their npix, width_kpc and deposition_mode attributes, and a bundle paints
    only maps of its own spec (`mismatch`)."""

    npix: int
    width_kpc: float
    deposition_mode: str = "group"

    KEYS = ("npix", "width_kpc", "deposition_mode")  # the file attributes and bundle metadata that hold it

    @classmethod
    def from_attrs(cls, attrs) -> "MapSpec":
        """The spec in a file's attributes or a bundle's metadata."""
        return cls(int(attrs["npix"]), float(attrs["width_kpc"]), str(attrs["deposition_mode"]))

    def attrs(self) -> dict:
        return {"npix": self.npix, "width_kpc": self.width_kpc, "deposition_mode": self.deposition_mode}

    @property
    def pixel_kpc(self) -> float:
        return self.width_kpc / self.npix

    @property
    def pixel_area(self) -> float:
        """[kpc^2]: a map's sum of surface densities times this is the mass or luminosity in it."""
        return self.pixel_kpc**2

    def geometries(self, row, axes) -> list["MapGeometry"]:
        """One map geometry per projection axis, centred on the halo of halo-table row `row`, periodic in its
        box; in cube mode the line of sight is cut to the cube."""
        centre = (float(row["centre_x"]), float(row["centre_y"]), float(row["centre_z"]))
        depth = self.width_kpc if self.deposition_mode == "cube" else np.inf
        return [MapGeometry(centre=centre, width=self.width_kpc, npix=self.npix, axis=a,
                            box_size=float(row["box_size"]), depth=depth) for a in axes]

    def mismatch(self, other: "MapSpec") -> str | None:
        """What differs from `other`, in words, or None when they are the same maps."""
        labels = {"npix": "image size", "width_kpc": "map width [kpc]", "deposition_mode": "deposition mode"}
        differing = [f"{labels[k]} {getattr(self, k)!r} against {getattr(other, k)!r}" for k in self.KEYS
                     if getattr(self, k) != getattr(other, k)]
        return "; ".join(differing) or None


@dataclass(frozen=True)
class MapGeometry:
    """An npix x npix image of physical side `width` [kpc], centred on `centre` [kpc], looking along `axis`."""

    centre: tuple
    width: float
    npix: int
    axis: int
    box_size: float  # periodic box side [kpc]; 0 for no periodicity
    depth: float = np.inf  # line-of-sight extent kept around the centre [kpc]

    @property
    def spec(self) -> MapSpec:
        """The pixels of this map as a spec: its one source of pixel size and area."""
        return MapSpec(self.npix, self.width)

    @property
    def pixel_size(self) -> float:
        return self.spec.pixel_kpc

    @property
    def pixel_area(self) -> float:
        return self.spec.pixel_area

    def offsets(self, positions) -> np.ndarray:
        """Positions relative to the centre [kpc], wrapped to the nearest periodic image."""
        d = np.asarray(positions, dtype=np.float64) - np.asarray(self.centre, dtype=np.float64)
        return minimum_image(d, float(self.box_size))

    def pixel_coordinates(self, positions):
        """(u, v) in pixel units, pixel i spanning [i, i+1), and the mask of particles within `depth`."""
        d = self.offsets(positions)
        i, j = IMAGE_AXES[self.axis]
        scale = 1.0 / self.pixel_size
        u = (d[:, i] + 0.5 * self.width) * scale
        v = (d[:, j] + 0.5 * self.width) * scale
        return u, v, np.abs(d[:, self.axis]) <= 0.5 * self.depth
