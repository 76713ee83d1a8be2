"""Build mpipaint's X-ray K-correction table from the installed AtomDB APEC 3.0.8 files.

K(T, z) = L(rest band [E1 (1+z), E2 (1+z)]) / L(rest band [E1, E2]) for the painted band [E1, E2] =
0.5-2.0 keV, of a collisional plasma at temperature kT with metallicity KCORR_METALLICITY_SOLAR (angr
abundances, as the maps' emission), from soxs's CIE generator reading the APEC files: one rest-frame
spectrum per temperature on a fine energy grid, its cumulative energy flux interpolated at the band edges.
A light-cone halo's observer-frame flux in [E1, E2] is then Lx K(T, z) / (4 pi d_L^2) (`sky.kcorrection`).

    python scripts/make_kcorrection_table.py   # writes mpipaint/data/apec_3.0.8_kcorr_0.5-2.0keV.npz
"""
import sys
from pathlib import Path

import numpy as np
from soxs.thermal_spectra import CIEGenerator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mpipaint.maps.apec_files import APEC_SHA256, APEC_VERSION, require_apec_tables  # noqa: E402
from mpipaint.maps.xray import BAND_KEV  # noqa: E402
from mpipaint.sky.kcorrection import (KCORR_METALLICITY_SOLAR, KCORR_TABLE_PATH, KT_RANGE_KEV,  # noqa: E402
                                      REST_RANGE_KEV, Z_MAX)

NUM_TEMPERATURES, NUM_REDSHIFTS = 160, 301
ENERGY_BIN_KEV = 0.0005  # 0.5 eV: lines are cut at the band edges to 0.5 eV


def main():
    nbins = int(round((REST_RANGE_KEV[1] - REST_RANGE_KEV[0]) / ENERGY_BIN_KEV))
    generator = CIEGenerator("apec", REST_RANGE_KEV[0], REST_RANGE_KEV[1], nbins,
                             model_root=str(require_apec_tables()), model_vers=APEC_VERSION, abund_table="angr")
    kt = np.geomspace(*KT_RANGE_KEV, NUM_TEMPERATURES)
    z = np.linspace(0.0, Z_MAX, NUM_REDSHIFTS)
    k = np.empty((len(kt), len(z)))
    for i, value in enumerate(kt):
        spectrum = generator.get_spectrum(value, KCORR_METALLICITY_SOLAR, 0.0, 1.0)
        edges = spectrum.ebins.to_value("keV")
        energy_flux = (spectrum.flux.to_value("ph/(cm**2*s*keV)") * spectrum.emid.to_value("keV")
                       * np.diff(edges))
        cumulative = np.concatenate([[0.0], np.cumsum(energy_flux)])
        band = lambda lo, hi: np.interp(hi, edges, cumulative) - np.interp(lo, edges, cumulative)  # noqa: E731
        k[i] = band(BAND_KEV[0] * (1 + z), BAND_KEV[1] * (1 + z)) / band(*BAND_KEV)
    np.savez(KCORR_TABLE_PATH, kt_kev=kt, redshift=z, k_corr=k, band_kev=np.array(BAND_KEV),
             metallicity_solar=KCORR_METALLICITY_SOLAR,
             source=f"AtomDB APEC {APEC_VERSION} via soxs CIEGenerator, angr abundances, "
                    f"{ENERGY_BIN_KEV * 1e3:g} eV bins; sha256 " + ", ".join(f"{k}={v}" for k, v in APEC_SHA256.items()))
    print(f"wrote {KCORR_TABLE_PATH}: K(5 keV, z=0.5) = {k[np.searchsorted(kt, 5.0), 50]:.4f}")


if __name__ == "__main__":
    main()
