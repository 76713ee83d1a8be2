"""`mpipaint export-simput LC.hdf5 --out clusters.simput [--flux-min F]`: the light-cone's clusters as a
SIMPUT 1.1 file for SIXTE and SOXS (`io.simput`).

Each source above the flux limit gets its observed-frame APEC spectrum at its painted temperature and
observed redshift (0.3 solar, `sky.spectra`), through the light-cone's Galactic column if it has one,
on a linear grid 0.1-10 keV (5 eV), scaled so that its energy flux in the light-cone's band equals the
source's FLUX (flux_x_absorbed where absorbed, else flux_x). Rest-frame energies above the spectra table's
20 keV (observed energies above 20 / (1 + z)) hold no photons.
"""
from __future__ import annotations

import logging

import numpy as np

from mpipaint import units as u
from mpipaint.errors import InputError
from mpipaint.io.lightcone import LightconeCatalog
from mpipaint.io.simput import write_simput
from mpipaint.options import ExportSimputOptions
from mpipaint.science.summaries import SUMMARY
from mpipaint.sky.absorption import transmission
from mpipaint.sky.spectra import observed_spectrum

SPECTRUM_EDGES_KEV = np.linspace(0.1, 10.0, 1981)  # 5 eV bins


def _in_band(edges, lo: float, hi: float) -> np.ndarray:
    return np.clip((np.minimum(edges[1:], hi) - np.maximum(edges[:-1], lo)) / np.diff(edges), 0.0, 1.0)


def export_simput(options: ExportSimputOptions) -> int:
    """Write the SIMPUT file; returns the number of sources."""
    kt_name = SUMMARY["temperature"][0]
    with LightconeCatalog(options.lightcone) as lc:
        nh, band = float(lc.file.attrs.get("nh_cm2", 0.0)), tuple(float(e) for e in lc.file.attrs["band_kev"])
        flux_name = "flux_x_absorbed" if nh > 0 else "flux_x"
        if flux_name not in lc.file or kt_name not in lc.file:
            raise InputError(f"{options.lightcone}: no {flux_name} or {kt_name} column: a light-cone of catalogs "
                             "painted with X-ray and temperature bundles is needed")
        flux = lc.column(flux_name)
        chosen = np.flatnonzero(flux >= options.flux_min)
        columns = {name: lc.column(name)[chosen] for name in ("ra", "dec", "z_obs", kt_name, "snapshot",
                                                                  "halo_id", "replica")}
    if not len(chosen):
        raise InputError(f"{options.lightcone}: no source has {flux_name} >= {options.flux_min:g} erg/s/cm^2")
    absorb = transmission(nh) if nh > 0 else None
    edges, middle = SPECTRUM_EDGES_KEV, 0.5 * (SPECTRUM_EDGES_KEV[1:] + SPECTRUM_EDGES_KEV[:-1])
    weights = _in_band(edges, *band) * middle * u.KEV_ERG
    spectra = np.empty((len(chosen), len(middle)))
    for k, (kt, z) in enumerate(zip(columns[kt_name], columns["z_obs"])):
        photons = observed_spectrum(kt, z, edges, absorb)
        spectra[k] = photons * (flux[chosen[k]] / (photons @ weights)) / np.diff(edges)
    names = [f"s{s}_h{h}_r{r[0]}_{r[1]}_{r[2]}" for s, h, r in zip(columns["snapshot"], columns["halo_id"],
                                                                   columns["replica"])]
    write_simput(options.out, {"ra": columns["ra"], "dec": columns["dec"], "flux": flux[chosen],
                               "e_min": np.full(len(chosen), band[0]), "e_max": np.full(len(chosen), band[1]),
                               "name": names}, spectra.astype(np.float32), middle.astype(np.float32))
    logging.getLogger("mpipaint").info("wrote %d SIMPUT sources (%s >= %g erg/s/cm^2) to %s", len(chosen), flux_name,
                      options.flux_min, options.out)
    return len(chosen)
