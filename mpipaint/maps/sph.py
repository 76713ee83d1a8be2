"""SPH-kernel projection of gas cells (numba), the way yt projects AREPO data.

Each Voronoi cell becomes a cubic-spline (M4) kernel of support radius h = 2 (3 V / 4 pi)^(1/3), V = m/rho
(yt's default `smoothing_factor` for AREPO). Its line-of-sight integral, tabulated once, is evaluated at
the pixel centres it covers. Unlike yt, each cell's pixel weights are normalised to sum to one over its
full footprint, so mass and luminosity are conserved exactly even when h is smaller than a pixel; a cell
that covers no pixel centre goes whole into the pixel that holds it. Threads share fixed blocks (`blocks`):
bit-identical results for any thread or rank count.
"""
from __future__ import annotations

import numba
import numpy as np

from mpipaint.maps.blocks import block_count, block_range, deposit_in_blocks
from mpipaint.maps.geometry import MapGeometry

SMOOTHING_FACTOR = 2.0
_TABLE_SIZE = 1024


def _cubic_spline_3d(q):
    """M4 kernel with support 1, normalised in 3D (sigma = 8/pi)."""
    return 8.0 / np.pi * np.where(q <= 0.5, 1 - 6 * q**2 + 6 * q**3, np.where(q <= 1.0, 2 * (1 - q) ** 3, 0.0))


def _projected_kernel_table(size=_TABLE_SIZE):
    """W2D(q) = integral of W3D along the line of sight, on q^2 in [0, 1], for h = 1."""
    q2 = np.linspace(0.0, 1.0, size)
    z = np.linspace(0.0, 1.0, 2001)
    table = np.array([2 * np.trapezoid(_cubic_spline_3d(np.sqrt(a + z**2)), z) for a in q2])
    return table


_W2D = _projected_kernel_table()


def smoothing_length(volume):
    """Kernel support h of cells of the given volume: 2 (3 V / 4 pi)^(1/3), in the volume's length unit."""
    return SMOOTHING_FACTOR * np.cbrt(3.0 * np.asarray(volume) / (4.0 * np.pi))


@numba.njit(cache=True, error_model="numpy")
def _sph_range(u, v, h, weights, start, stop, table, grid):
    """Deposit cells [start, stop) into grid[channel, i, j]: footprint weights computed once, normalised to
    one over the whole footprint, then applied to every channel of `weights` (cells x channels)."""
    channels, npix = grid.shape[0], grid.shape[1]
    last = table.shape[0] - 1
    for p in range(start, stop):
        hp = h[p]
        i_lo = int(np.floor(u[p] - hp))
        i_hi = int(np.floor(u[p] + hp))
        j_lo = int(np.floor(v[p] - hp))
        j_hi = int(np.floor(v[p] + hp))
        inv_h2 = 1.0 / (hp * hp)
        total = 0.0
        for i in range(i_lo, i_hi + 1):
            dx2 = (i + 0.5 - u[p]) ** 2
            for j in range(j_lo, j_hi + 1):
                q2 = (dx2 + (j + 0.5 - v[p]) ** 2) * inv_h2
                if q2 < 1.0:
                    total += table[int(q2 * last)]
        if total <= 0.0:  # footprint covers no pixel centre: the whole cell goes to its pixel
            i = int(np.floor(u[p]))
            j = int(np.floor(v[p]))
            if 0 <= i < npix and 0 <= j < npix:
                for c in range(channels):
                    grid[c, i, j] += weights[p, c]
            continue
        inv_total = 1.0 / total
        for i in range(max(i_lo, 0), min(i_hi, npix - 1) + 1):
            dx2 = (i + 0.5 - u[p]) ** 2
            for j in range(max(j_lo, 0), min(j_hi, npix - 1) + 1):
                q2 = (dx2 + (j + 0.5 - v[p]) ** 2) * inv_h2
                if q2 < 1.0:
                    share = table[int(q2 * last)] * inv_total
                    for c in range(channels):
                        grid[c, i, j] += share * weights[p, c]


@numba.njit(parallel=True, cache=True)
def _sph_wave(u, v, h, weights, npix, table, nblocks, first, grids):
    """Blocks first, first + 1, ... of `nblocks`, one per row of `grids` (channels x npix x npix, flat)."""
    for t in numba.prange(grids.shape[0]):
        start, stop = block_range(first + t, u.shape[0], nblocks)
        _sph_range(u, v, h, weights, start, stop, table, grids[t].reshape((weights.shape[1], npix, npix)))


def sph_project(positions, smoothing, weights, geometry: MapGeometry) -> np.ndarray:
    """Projected sums per pixel for cells at `positions` [kpc] with smoothing lengths [kpc].

    `weights` is one value per cell (-> npix x npix) or cells x channels (-> channels x npix x npix): all
    channels share one evaluation of each cell's kernel footprint.
    """
    u, v, kept = geometry.pixel_coordinates(positions)
    h = np.asarray(smoothing, dtype=np.float64) / geometry.pixel_size
    weights = np.asarray(weights, dtype=np.float64)
    single = weights.ndim == 1
    if single:
        weights = weights[:, None]
    u, v, h = (np.ascontiguousarray(a[kept], dtype=np.float64) for a in (u, v, h))
    weights = np.ascontiguousarray(weights[kept])
    npix, channels, nblocks = geometry.npix, weights.shape[1], block_count(len(u))
    grids = deposit_in_blocks(lambda first, rows: _sph_wave(u, v, h, weights, npix, _W2D, nblocks, first, rows),
                              nblocks, channels * npix * npix).reshape(channels, npix, npix)
    return grids[0] if single else grids
