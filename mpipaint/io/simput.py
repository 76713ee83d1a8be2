"""SIMPUT 1.1 (Schmid et al., the format SIXTE and SOXS read) of a light-cone's clusters: a SRC_CAT binary
table (SRC_ID, SRC_NAME, RA, DEC, IMGROTA, IMGSCAL, E_MIN, E_MAX, FLUX, SPECTRUM) and one
SPECTRUM extension per source (EXTVER = SRC_ID; ENERGY [keV] and FLUXDENSITY [photons/s/cm^2/keV] on a
linear grid, as SOXS's own writer lays them out), referenced as "FILE[SPECTRUM,k]" with the file's own name
(SOXS resolves a reference against the catalog's directory, so the name must be there). Sources are
point-like: the optional IMAGE and TIMING columns are left out (SOXS joins even "NULL" to the catalog's
directory). Written to a private staging name and renamed into place."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from mpipaint.errors import InputError

ORIGIN = "mpipaint"


def write_simput(path, sources: dict, spectra, energy_kev) -> None:
    """`sources`: columns ra, dec [deg], flux [erg/s/cm^2], e_min, e_max [keV], name; `spectra` (N, M) photon
    flux densities on `energy_kev` (M bin centres, linear)."""
    from astropy.io import fits  # noqa: PLC0415

    path = Path(path)
    if path.exists():
        try:
            with fits.open(path) as hdus:
                ours = hdus[0].header.get("ORIGIN") == ORIGIN
        except OSError:
            ours = False
        if not ours:
            raise InputError(f"{path}: exists and is not a SIMPUT file mpipaint wrote; it is left alone: choose "
                             "another --out")
    n = len(sources["ra"])
    ids = np.arange(1, n + 1)
    columns = [fits.Column("SRC_ID", "J", array=ids), fits.Column("SRC_NAME", "32A", array=sources["name"]),
               fits.Column("RA", "D", "deg", array=sources["ra"]), fits.Column("DEC", "D", "deg", array=sources["dec"]),
               fits.Column("IMGROTA", "E", "deg", array=np.zeros(n)), fits.Column("IMGSCAL", "E", array=np.ones(n)),
               fits.Column("E_MIN", "D", "keV", array=sources["e_min"]),
               fits.Column("E_MAX", "D", "keV", array=sources["e_max"]),
               fits.Column("FLUX", "D", "erg/s/cm**2", array=sources["flux"]),
               fits.Column("SPECTRUM", "256A", array=[f"{path.name}[SPECTRUM,{k}]" for k in ids])]
    catalog = fits.BinTableHDU.from_columns(columns, name="SRC_CAT")
    catalog.header.update({"HDUCLASS": "HEASARC", "HDUCLAS1": "SIMPUT", "HDUCLAS2": "SRC_CAT", "HDUVERS": "1.1.0",
                           "RADESYS": "FK5", "EQUINOX": 2000.0})
    primary = fits.PrimaryHDU()
    primary.header["ORIGIN"] = ORIGIN
    hdus = [primary, catalog]
    for k, spectrum in zip(ids, spectra):
        table = fits.BinTableHDU.from_columns([
            fits.Column("ENERGY", "1PE()", "keV", array=np.array([energy_kev], dtype=np.object_)),
            fits.Column("FLUXDENSITY", "1PE()", "photons/s/cm**2/keV", array=np.array([spectrum], dtype=np.object_)),
            fits.Column("NAME", "48A", array=[sources["name"][k - 1]])], name="SPECTRUM")
        table.header.update({"HDUCLASS": "HEASARC/SIMPUT", "HDUCLAS1": "SPECTRUM", "HDUVERS": "1.1.0",
                             "EXTVER": int(k)})
        hdus.append(table)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".creating", dir=path.parent))
    partial = staging / path.name
    fits.HDUList(hdus).writeto(partial)
    os.replace(partial, path)
    staging.rmdir()
