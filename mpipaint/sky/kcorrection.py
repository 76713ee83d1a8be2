"""The X-ray K-correction: a halo painted with rest-frame 0.5-2 keV luminosity Lx at temperature T and
redshift z sends the observer, in the same observer-frame band, the energy flux Lx K(T, z) / (4 pi d_L^2),
where K(T, z) = L(rest [E1 (1+z), E2 (1+z)]) / L(rest [E1, E2]) from the APEC 3.0.8 spectrum the maps are
painted with (never bremsstrahlung), tabulated once by scripts/make_kcorrection_table.py and interpolated
bilinearly in (log kT, z) here.

The painted maps carry each cell's metallicity, but a catalog row carries none: K is computed at
KCORR_METALLICITY_SOLAR (0.3 solar, angr), the ICM's typical metallicity. Measured with SOXS, K changes
between 0.2 and 0.4 solar by 2.2 % (z = 0.3) and 4.5 % (z = 1) at kT = 1 keV, 0.5-1.1 % at 3 keV and
0.15-0.3 % at 8 keV: the metallicity matters for groups, hardly for clusters. The table agrees with SOXS's
own band integration of the same spectra to 2e-4 off its grid (tests/test_sky.py).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from mpipaint.errors import InputError

KCORR_TABLE_PATH = Path(__file__).resolve().parents[1] / "data" / "apec_3.0.8_kcorr_0.5-2.0keV.npz"
KCORR_METALLICITY_SOLAR = 0.3
KT_RANGE_KEV = (0.08, 64.0)
Z_MAX = 3.0
REST_RANGE_KEV = (0.45, 2.0 * (1.0 + Z_MAX) + 0.05)  # what the table's spectra span


@lru_cache(maxsize=1)
def _table():
    with np.load(KCORR_TABLE_PATH) as data:
        return np.log(data["kt_kev"]), data["redshift"], data["k_corr"]


def k_correction(kt_kev, redshift) -> np.ndarray:
    """K(T, z) (see the module) for painted temperatures [keV] and redshifts, element-wise; T outside the
    table is clamped to its ends (where K is flat to < 1 %), z outside [0, Z_MAX] is an error."""
    log_kt, z_grid, k = _table()
    kt_kev, redshift = np.broadcast_arrays(np.asarray(kt_kev, np.float64), np.asarray(redshift, np.float64))
    if np.any(redshift < 0) or np.any(redshift > z_grid[-1]):
        raise InputError(f"redshifts {float(redshift.min()):.4g}..{float(redshift.max()):.4g} outside the "
                         f"K-correction table's 0..{z_grid[-1]:g}")
    x = np.clip(np.log(np.maximum(kt_kev, 1e-30)), log_kt[0], log_kt[-1])
    i = np.clip(np.searchsorted(log_kt, x) - 1, 0, len(log_kt) - 2)
    j = np.clip(np.searchsorted(z_grid, redshift) - 1, 0, len(z_grid) - 2)
    fx = (x - log_kt[i]) / (log_kt[i + 1] - log_kt[i])
    fz = (redshift - z_grid[j]) / (z_grid[j + 1] - z_grid[j])
    return ((1 - fx) * (1 - fz) * k[i, j] + fx * (1 - fz) * k[i + 1, j] + (1 - fx) * fz * k[i, j + 1]
            + fx * fz * k[i + 1, j + 1])
