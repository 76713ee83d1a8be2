"""Observer-frame X-ray from the painted rest-frame 0.5-2 keV luminosity, with the APEC 3.0.8 spectrum the
maps are painted with (never bremsstrahlung): rest-frame spectra per temperature, tabulated once by
scripts/make_apec_spectra.py (photons and energy in 0.5 % logarithmic bins, 0.1-20 keV).

A halo of painted Lx and temperature T at observed redshift z, seen in the observer band [E1, E2]:
- K-correction K(T, z) = L(rest [E1, E2] (1 + z)) / L(rest 0.5-2 keV): energy flux F = Lx K / (4 pi d_L^2);
- Galactic absorption (`nh`, Tuebingen-Boulder cross-sections, `sky.absorption`) multiplies each observed
  bin by exp(-N_H sigma(E)), giving the absorbed K;
- with an instrument's effective area A(E) (OGIP ARF), the count rate is F_absorbed times the photons per
  erg of the absorbed observed spectrum weighted by A (`photons_per_erg`).
Each factor is computed for a run's band, N_H and ARF once on a (T, z) grid (`ObservedBand`) and
interpolated bilinearly in (log kT, z). A fine bin cut by a band edge counts in proportion to its width.

A catalog row carries no metallicity: the spectra are at SPECTRA_METALLICITY_SOLAR (0.3 solar, angr), the
ICM's typical value. Measured with SOXS, K changes between 0.2 and 0.4 solar by 2.2 % (z = 0.3) and 4.5 %
(z = 1) at kT = 1 keV, 0.5-1.1 % at 3 keV and 0.15-0.3 % at 8 keV: the metallicity matters for groups,
hardly for clusters.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from mpipaint import units as u
from mpipaint.errors import InputError
from mpipaint.maps.xray import BAND_KEV

SPECTRA_PATH = Path(__file__).resolve().parents[1] / "data" / "apec_3.0.8_spectra.npz"
SPECTRA_METALLICITY_SOLAR = 0.3
KT_RANGE_KEV = (0.08, 64.0)
ENERGY_RANGE_KEV = (0.1, 20.0)
LOG_BIN_WIDTH = 0.005
Z_STEP = 0.005  # redshift grid of a run's factors
Z_MIN = -0.02  # blueshifted halos near the observer (6000 km/s towards it)


@lru_cache(maxsize=1)
def rest_spectra() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(kT [keV], bin edges [keV], photons per bin, energy per bin [keV]) of the rest-frame spectra."""
    with np.load(SPECTRA_PATH) as data:
        return (data["kt_kev"], data["edges_kev"], data["photons"].astype(np.float64),
                data["energy_kev"].astype(np.float64))


def _overlap(edges, lo: float, hi: float) -> np.ndarray:
    """Fraction of each bin [edges[i], edges[i+1]) inside [lo, hi)."""
    width = np.diff(edges)
    return np.clip((np.minimum(edges[1:], hi) - np.maximum(edges[:-1], lo)) / width, 0.0, 1.0)


class ObservedBand:
    """The factors of one observer band, N_H and ARF on a (T, z) grid to `z_max` (see the module)."""

    def __init__(self, band_kev=BAND_KEV, z_max: float = 1.0, transmission=None, area=None):
        """`transmission(E)` and `area(E)` [cm^2] of observed energies [keV], or None (1)."""
        kt, edges, photons, energy = rest_spectra()
        e1, e2 = (float(b) for b in band_kev)
        if not (ENERGY_RANGE_KEV[0] <= e1 * (1 + Z_MIN) and e1 < e2 and e2 * (1 + z_max) <= ENERGY_RANGE_KEV[1]):
            raise InputError(f"band {e1:g}-{e2:g} keV to z = {z_max:g} needs rest-frame spectra over "
                             f"{e1:g}-{e2 * (1 + z_max):g} keV; the APEC table spans {ENERGY_RANGE_KEV[0]:g}-"
                             f"{ENERGY_RANGE_KEV[1]:g} keV")
        self.band_kev, self.log_kt = (e1, e2), np.log(kt)
        self.z = np.arange(Z_MIN, z_max + Z_STEP, Z_STEP)
        reference = energy @ _overlap(edges, *BAND_KEV)  # rest 0.5-2 keV, what Lx is
        middle = np.sqrt(edges[1:] * edges[:-1])
        self.k_corr, self.k_absorbed, self.photons_per_erg = (np.empty((len(kt), len(self.z))) for _ in range(3))
        for j, z in enumerate(self.z):
            inside = _overlap(edges, e1 * (1 + z), e2 * (1 + z))
            observed = middle / (1 + z)
            kept = inside * (1.0 if transmission is None else transmission(observed))
            counted = kept * (1.0 if area is None else area(observed))
            self.k_corr[:, j] = energy @ inside / reference
            self.k_absorbed[:, j] = energy @ kept / reference
            # observed photons per observed erg: each photon arrives with energy E / (1 + z)
            self.photons_per_erg[:, j] = (photons @ counted) * (1 + z) / ((energy @ kept) * u.KEV_ERG)

    def __call__(self, table: np.ndarray, kt_kev, redshift) -> np.ndarray:
        """One of the grids (k_corr, k_absorbed, photons_per_erg) at temperatures [keV] and redshifts,
        element-wise; T outside the table is clamped to its ends, z outside [Z_MIN, z_max] is an error."""
        kt_kev, redshift = np.broadcast_arrays(np.asarray(kt_kev, np.float64), np.asarray(redshift, np.float64))
        if redshift.size and (redshift.min() < 0 or redshift.max() > self.z[-1]):
            raise InputError(f"redshifts {float(redshift.min()):.4g}..{float(redshift.max()):.4g} outside the "
                             f"X-ray tables' {self.z[0]:g}..{self.z[-1]:g}")
        x = np.clip(np.log(np.maximum(kt_kev, 1e-30)), self.log_kt[0], self.log_kt[-1])
        i = np.clip(np.searchsorted(self.log_kt, x) - 1, 0, len(self.log_kt) - 2)
        j = np.clip(np.searchsorted(self.z, redshift) - 1, 0, len(self.z) - 2)
        fx = (x - self.log_kt[i]) / (self.log_kt[i + 1] - self.log_kt[i])
        fz = (redshift - self.z[j]) / (self.z[j + 1] - self.z[j])
        return ((1 - fx) * (1 - fz) * table[i, j] + fx * (1 - fz) * table[i + 1, j]
                + (1 - fx) * fz * table[i, j + 1] + fx * fz * table[i + 1, j + 1])


def observed_spectrum(kt_kev: float, redshift: float, edges_kev, transmission=None) -> np.ndarray:
    """Photons in each observer-frame bin of `edges_kev` [keV] of the APEC spectrum at kT (interpolated in
    log kT between the table's two nearest spectra), redshifted to z and, with `transmission`, absorbed;
    arbitrary normalisation (callers scale it to a flux)."""
    kt, rest_edges, photons, _ = rest_spectra()
    x = np.clip(np.log(kt_kev), np.log(kt[0]), np.log(kt[-1]))
    i = int(np.clip(np.searchsorted(np.log(kt), x) - 1, 0, len(kt) - 2))
    f = (x - np.log(kt[i])) / (np.log(kt[i + 1]) - np.log(kt[i]))
    mixed = (1 - f) * photons[i] + f * photons[i + 1]
    cumulative = np.concatenate([[0.0], np.cumsum(mixed)])
    counts = np.diff(np.interp(np.asarray(edges_kev) * (1 + redshift), rest_edges, cumulative))
    if transmission is not None:
        counts = counts * transmission(np.sqrt(edges_kev[1:] * edges_kev[:-1]))
    return counts

