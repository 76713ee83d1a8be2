"""0.5-2.0 keV X-ray emissivity of hot gas from AtomDB APEC 3.0.8.

Fast path: a table eps(T, Z) = eps_hhe(T) + (Z/X_H) / (Z/X_H)_sun * eps_metals(T) [erg cm^3 s^-1],
built from the APEC files by scripts/make_emissivity_table.py and interpolated in log T; a cell's
luminosity is eps * n_e * n_H * V. Metallicity conventions follow pyxsim's (Anders & Grevesse solar
abundances; metals relative to hydrogen), and so does the kT range 0.025-64 keV outside which a cell
emits nothing. The reference path, pyxsim + yt on the same cells, is the tests' `pyxsim_reference`.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from mpipaint import units as u
from mpipaint.maps.apec_files import APEC_VERSION

BAND_KEV = (0.5, 2.0)
TABLE_PATH = Path(__file__).resolve().parents[1] / "data" / "apec_3.0.8_0.5-2.0keV.npz"
EMISSION_MODEL = f"APEC {APEC_VERSION} (AtomDB), {BAND_KEV[0]}-{BAND_KEV[1]} keV rest frame, angr abundances"


@lru_cache(maxsize=1)
def _table():
    with np.load(TABLE_PATH) as data:
        return {key: data[key] for key in data.files}


def emissivity(temperature_k, metallicity, hydrogen_fraction=u.HYDROGEN_MASS_FRACTION):
    """Band emissivity [erg cm^3 s^-1] for temperature [K] and metal mass fraction; 0 outside 0.025-64 keV."""
    table = _table()
    kt = np.asarray(temperature_k, dtype=np.float64) * u.BOLTZMANN_ERG_K / u.KEV_ERG
    log_kt = np.log(table["kt_kev"])
    x = np.log(np.clip(kt, table["kt_kev"][0], table["kt_kev"][-1]))
    hhe = np.exp(np.interp(x, log_kt, np.log(table["eps_hhe"])))
    metals = np.exp(np.interp(x, log_kt, np.log(table["eps_metals"])))
    z_solar = np.asarray(metallicity, dtype=np.float64) / hydrogen_fraction / table["solar_metal_to_h_mass"]
    inside = (kt >= table["kt_kev"][0]) & (kt <= table["kt_kev"][-1])
    return np.where(inside, hhe + z_solar * metals, 0.0)


def luminosity(mass_msun, density_cgs, temperature_k, metallicity, electron_abundance):
    """Band luminosity [erg/s] of gas cells: eps * n_e * n_H * V, n_H = X_H rho / m_p, V = m / rho."""
    n_h = u.HYDROGEN_MASS_FRACTION * np.asarray(density_cgs) / u.PROTON_MASS_G
    volume = np.asarray(mass_msun) * u.MSUN_G / np.asarray(density_cgs)
    return emissivity(temperature_k, metallicity) * n_h * (np.asarray(electron_abundance) * n_h) * volume
