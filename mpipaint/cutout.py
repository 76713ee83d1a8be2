"""Particles of one halo, read by its particle offsets (group mode: the FoF members, as the paper's
cutouts of bound particles), in physical units."""
from __future__ import annotations

import numpy as np

from mpipaint.io.snapshot import DM, GAS, Snapshot
from mpipaint.maps.gas import GasCells
from mpipaint.maps.geometry import MapGeometry

DEPOSITION_MODE = "group"  # FoF member particles of each halo (the mode painting must match)


def _range(row, ptype):
    start = int(row[f"offset_type{ptype}"])
    return start, start + int(row[f"count_type{ptype}"])


def halo_dm(snapshot: Snapshot, row) -> tuple[np.ndarray, np.ndarray]:
    """DM positions [kpc] and masses [Msun] of the halo in table row `row`."""
    start, stop = _range(row, DM)
    return snapshot.read(DM, "Coordinates", start, stop), snapshot.read(DM, "Masses", start, stop)


def halo_gas(snapshot: Snapshot, row) -> GasCells:
    """All gas cells of the halo in table row `row` (the hot-gas filter comes later)."""
    start, stop = _range(row, GAS)
    if stop == start:
        empty = np.empty(0)
        return GasCells(np.empty((0, 3)), empty, empty, empty, empty, empty, empty)
    return GasCells(
        positions=snapshot.read(GAS, "Coordinates", start, stop),
        mass=snapshot.read(GAS, "Masses", start, stop),
        density=snapshot.read(GAS, "Density", start, stop),
        temperature=snapshot.temperature(start, stop),
        electron_abundance=snapshot.read(GAS, "ElectronAbundance", start, stop),
        sfr=snapshot.read(GAS, "StarFormationRate", start, stop),
        metallicity=snapshot.read(GAS, "GFM_Metallicity", start, stop),
    )


def halo_geometries(row, width: float, npix: int, axes) -> list[MapGeometry]:
    """One map geometry per projection axis, centred on the halo of table row `row`, periodic in its box."""
    centre = (float(row["centre_x"]), float(row["centre_y"]), float(row["centre_z"]))
    return [MapGeometry(centre=centre, width=width, npix=npix, axis=a, box_size=float(row["box_size"]))
            for a in axes]
