"""HEALPix sky maps of a light-cone (healpy, RING ordering, equatorial = the replica frame): observed-frame
X-ray surface brightness [erg/s/cm^2/sr] and halo counts per pixel.

Without painted maps each halo's flux goes into the pixel of its centre (MAPMODE = POINT). With them
(`paint --maps`, MAPMODE = MAPS), each halo's painted X-ray map is laid on the sky at its angular size: every
map pixel is placed at the halo's position plus the pixel's offset along the projection's image axes (box
axes, turned with the halo's replica, comoving), and carries the halo's flux times its share of the map's
surface brightness, so each halo's flux is conserved exactly; a map without emission falls back to the
halo's centre."""
from __future__ import annotations

import numpy as np

from mpipaint.errors import InputError

MAP_MODES = ("POINT", "MAPS")


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


def painted_map_maps(nside: int, centres, flux, images, along, pixel_ckpc) -> tuple[np.ndarray, np.ndarray]:
    """(surface brightness, halo counts) maps with every halo spread as its painted image.

    centres: (N, 3) comoving positions relative to the observer; flux: (N,); images: (N, npix, npix)
    painted surface brightness (any units: only shares count); along: (N, 2, 3) unit vectors of the image's
    first and second index in the observer's frame (`sky.lightcone.image_directions`); pixel_ckpc: (N,) the
    comoving size of a map pixel."""
    import healpy  # noqa: PLC0415

    check_nside(nside)
    size = healpy.nside2npix(nside)
    summed = np.zeros(size)
    counts = np.bincount(healpy.vec2pix(nside, *np.asarray(centres).T), minlength=size).astype(np.float64)
    for centre, total, image, (first, second), pixel in zip(centres, flux, images, along, pixel_ckpc):
        weights = np.asarray(image, np.float64)
        share = weights.sum()
        if not share > 0:
            summed[healpy.vec2pix(nside, *centre)] += total
            continue
        offsets = (np.arange(weights.shape[0]) + 0.5 - 0.5 * weights.shape[0]) * pixel
        positions = centre + offsets[:, None, None] * first + offsets[None, :, None] * second
        pixels = healpy.vec2pix(nside, *positions.reshape(-1, 3).T)
        summed += np.bincount(pixels, weights=total * weights.ravel() / share, minlength=size)
    return summed / healpy.nside2pixarea(nside), counts
