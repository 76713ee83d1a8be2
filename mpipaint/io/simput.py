"""SIMPUT 1.1 (Schmid et al., the format SIXTE and SOXS read) of a light-cone's clusters: a SRC_CAT binary
table (SRC_ID, SRC_NAME, RA, DEC, IMGROTA, IMGSCAL, E_MIN, E_MAX, FLUX, SPECTRUM and, for extended sources,
IMAGE), one SPECTRUM extension per source (EXTVER = SRC_ID; ENERGY [keV] and FLUXDENSITY
[photons/s/cm^2/keV] on a linear grid, as SOXS's own writer lays them out) and, for extended sources, one
IMAGE extension per source (EXTVER = SRC_ID): its surface-brightness map with a TAN WCS (CRVAL the source's
RA/DEC, CRPIX the map's centre, a CD matrix [deg/pixel] that carries scale, orientation and the
foreshortening of a tilted projection). References are "FILE[SPECTRUM,k]" and "FILE[IMAGE,k]" with the
file's own name (SOXS resolves a reference against the catalog's directory, so the name must be there);
without images the optional IMAGE column is left out (SOXS joins even "NULL" to the catalog's directory).
Written in chunks of sources to a private staging name and renamed into place."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from mpipaint.errors import InputError

ORIGIN = "mpipaint"


SOURCES_PER_WRITE = 256  # extensions appended per write: memory bounded by that many images


def write_simput(path, sources: dict, energy_kev, extensions) -> None:
    """`sources`: columns ra, dec [deg], flux [erg/s/cm^2], e_min, e_max [keV], name, extended (whether
    `extensions` gives the sources images); `extensions` yields per source, in order, (photon flux density
    on `energy_kev` (bin centres, linear), None or (image, CD matrix [deg/pixel]))."""
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
    if sources["extended"]:
        columns.append(fits.Column("IMAGE", "256A", array=[f"{path.name}[IMAGE,{k}]" for k in ids]))
    catalog = fits.BinTableHDU.from_columns(columns, name="SRC_CAT")
    catalog.header.update({"HDUCLASS": "HEASARC", "HDUCLAS1": "SIMPUT", "HDUCLAS2": "SRC_CAT", "HDUVERS": "1.1.0",
                           "RADESYS": "FK5", "EQUINOX": 2000.0})
    primary = fits.PrimaryHDU()
    primary.header["ORIGIN"] = ORIGIN
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".creating", dir=path.parent))
    try:
        partial = staging / path.name
        fits.HDUList([primary, catalog]).writeto(partial)
        pending = []
        for k, (spectrum, image) in zip(ids, extensions):
            pending.append(_spectrum_hdu(fits, int(k), sources["name"][k - 1], energy_kev, spectrum))
            if image is not None:
                pending.append(_image_hdu(fits, int(k), sources["ra"][k - 1], sources["dec"][k - 1], *image))
            if len(pending) >= SOURCES_PER_WRITE or k == n:
                with fits.open(partial, mode="append") as hdus:
                    hdus.extend(pending)
                pending = []
        os.replace(partial, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _spectrum_hdu(fits, k: int, name: str, energy_kev, spectrum):
    table = fits.BinTableHDU.from_columns([
        fits.Column("ENERGY", "1PE()", "keV", array=np.array([energy_kev], dtype=np.object_)),
        fits.Column("FLUXDENSITY", "1PE()", "photons/s/cm**2/keV", array=np.array([spectrum], dtype=np.object_)),
        fits.Column("NAME", "48A", array=[name])], name="SPECTRUM")
    table.header.update({"HDUCLASS": "HEASARC/SIMPUT", "HDUCLAS1": "SPECTRUM", "HDUVERS": "1.1.0", "EXTVER": k})
    return table


def _image_hdu(fits, k: int, ra: float, dec: float, image, cd):
    hdu = fits.ImageHDU(np.asarray(image, np.float32), name="IMAGE")
    ny, nx = hdu.data.shape
    hdu.header.update({"HDUCLASS": "HEASARC/SIMPUT", "HDUCLAS1": "IMAGE", "HDUVERS": "1.1.0", "EXTVER": k,
                       "CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CUNIT1": "deg", "CUNIT2": "deg",
                       "CRVAL1": float(ra), "CRVAL2": float(dec), "CRPIX1": 0.5 * (nx + 1), "CRPIX2": 0.5 * (ny + 1),
                       "CD1_1": cd[0][0], "CD1_2": cd[0][1], "CD2_1": cd[1][0], "CD2_2": cd[1][1],
                       "RADESYS": "FK5", "EQUINOX": 2000.0,
                       "BUNIT": "relative surface brightness (the catalog's FLUX is the total)"})
    return hdu
