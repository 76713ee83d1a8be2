"""Particle types and a snapshot's header in code units: what every snapshot format reader and the
format-neutral `io.snapshot` share, in a module that imports nothing of mpipaint's (so a format reader
never imports the facade that uses it)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NTYPES = 6
GAS, DM, STARS = 0, 1, 4


@dataclass(frozen=True)
class SnapshotHeader:
    """The header values mpipaint needs, in code units as stored."""

    box_size: float
    hubble: float
    scale_factor: float
    redshift: float
    mass_table: np.ndarray
    num_part_total: np.ndarray
    num_files: int
    omega_m: float
    omega_lambda: float
    flavour: str  # "tng" (Illustris/TNG/AREPO), "gadget4", "swift" or "gadget-binary"
