"""HEALPix sky maps of a light-cone (healpy, RING ordering, equatorial = the replica frame): observed-frame
X-ray surface brightness [erg/s/cm^2/sr] and halo counts per pixel. Each halo's flux goes into the pixel of
its centre (MAPMODE = POINT in the FITS header): right where a halo is smaller than a pixel, a point
source otherwise (reprojecting painted maps onto the sky is not done yet)."""
from __future__ import annotations

import numpy as np

from mpipaint.errors import InputError

MAP_MODE = "POINT"


def check_nside(nside: int) -> int:
    """NSIDE must be a power of 2 (1 .. 2^29), as healpy requires."""
    if not (isinstance(nside, (int, np.integer)) and 1 <= nside <= 1 << 29 and nside & (nside - 1) == 0):
        raise InputError(f"--healpix {nside}: NSIDE must be a power of 2 between 1 and 2^29")
    return int(nside)


def point_source_maps(nside: int, ra_deg, dec_deg, flux) -> tuple[np.ndarray, np.ndarray]:
    """(surface brightness [flux units / sr], halo counts) maps of halos at (ra, dec) [deg] with `flux`."""
    import healpy  # noqa: PLC0415 - only where sky maps are asked for

    pixels = healpy.ang2pix(check_nside(nside), np.asarray(ra_deg), np.asarray(dec_deg), lonlat=True)
    size = healpy.nside2npix(nside)
    summed = np.bincount(pixels, weights=np.asarray(flux, np.float64), minlength=size)
    return summed / healpy.nside2pixarea(nside), np.bincount(pixels, minlength=size).astype(np.float64)
