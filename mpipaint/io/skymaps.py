"""HEALPix maps as FITS (healpy.write_map: a binary table, one column per map, that healpy and astropy read),
written to a private staging name and renamed into place, so a file there is always complete; a file
there that mpipaint did not write (no ORIGIN = 'mpipaint' in its header) is left alone."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from mpipaint.errors import InputError

ORIGIN = "mpipaint"


def write_healpix(path, maps: dict, header: dict) -> None:
    """`maps`: {column name: (map, units)}; `header`: extra FITS keywords of the map extension."""
    import healpy  # noqa: PLC0415
    from astropy.io import fits  # noqa: PLC0415

    path = Path(path)
    if path.exists():
        try:
            ours = any(h.header.get("ORIGIN") == ORIGIN for h in fits.open(path))
        except OSError:
            ours = False
        if not ours:
            raise InputError(f"{path}: exists and is not a sky map mpipaint wrote; it is left alone: choose "
                             "another --out")
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".creating", dir=path.parent))
    partial = staging / path.name
    names = list(maps)
    dtypes = ["float64"] * len(names)  # one per map: healpy mis-shapes three maps given a single dtype
    healpy.write_map(str(partial), [maps[n][0] for n in names], column_names=names,
                     column_units=[maps[n][1] for n in names], coord="C", dtype=dtypes,
                     extra_header=[("ORIGIN", ORIGIN), *header.items()])
    os.replace(partial, path)
    staging.rmdir()
