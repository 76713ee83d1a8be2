"""Cloud-in-cell projection (numba): each particle is a square cloud one pixel wide, shared among the four
nearest pixel centres. Accumulates in float64; a particle whose cloud lies inside the map deposits all of
its weight. Particles are dealt to a fixed number of blocks, each with a private grid, summed in block
order, so the result is bit-identical whatever the number of threads or MPI ranks.
"""
from __future__ import annotations

import numba
import numpy as np

from mpipaint.maps.geometry import IMAGE_AXES, MapGeometry

PARTICLES_PER_BLOCK = 65_536
MAX_BLOCKS = 16


@numba.njit(inline="always")
def _minimum_image(d, box):
    """Nearest periodic image of a separation: one branch for the usual |d| < 1.5 box, exact otherwise."""
    if d >= 0.5 * box:
        d -= box
    elif d < -0.5 * box:
        d += box
    if abs(d) > 0.5 * box:
        d -= box * np.rint(d / box)
    return d


@numba.njit(parallel=True, cache=True)
def _cic_blocks(positions, weights, centre, axes, width, npix, box, depth, nblocks):
    """One pass per particle: minimum image, depth cut, pixel coordinates, CIC into its block's grid."""
    grids = np.zeros((nblocks, npix, npix), dtype=np.float64)
    n = positions.shape[0]
    per_block = (n + nblocks - 1) // nblocks
    ia, ja, la = axes[0], axes[1], axes[2]
    scale = npix / width
    for b in numba.prange(nblocks):
        grid = grids[b]
        for p in range(b * per_block, min(n, (b + 1) * per_block)):
            du = positions[p, ia] - centre[ia]
            dv = positions[p, ja] - centre[ja]
            dl = positions[p, la] - centre[la]
            if box > 0.0:
                du = _minimum_image(du, box)
                dv = _minimum_image(dv, box)
                dl = _minimum_image(dl, box)
            if abs(dl) > 0.5 * depth:
                continue
            # pixel centres sit at i + 0.5; the cloud spans [x - 0.5, x + 0.5) in pixel units
            x = (du + 0.5 * width) * scale - 0.5
            y = (dv + 0.5 * width) * scale - 0.5
            i0 = int(np.floor(x))
            j0 = int(np.floor(y))
            if i0 < -1 or j0 < -1 or i0 >= npix or j0 >= npix:
                continue
            fx = x - i0
            fy = y - j0
            w = weights[p]
            if i0 >= 0:
                if j0 >= 0:
                    grid[i0, j0] += w * (1.0 - fx) * (1.0 - fy)
                if j0 + 1 < npix:
                    grid[i0, j0 + 1] += w * (1.0 - fx) * fy
            if i0 + 1 < npix:
                if j0 >= 0:
                    grid[i0 + 1, j0] += w * fx * (1.0 - fy)
                if j0 + 1 < npix:
                    grid[i0 + 1, j0 + 1] += w * fx * fy
    return grids


def block_count(num_particles: int) -> int:
    """Blocks for `num_particles`: depends on the count only, never on threads or ranks."""
    return int(min(MAX_BLOCKS, max(1, -(-num_particles // PARTICLES_PER_BLOCK))))


def sum_blocks(grids) -> np.ndarray:
    """Sum per-block grids in block order (a fixed order, so the sum is reproducible)."""
    total = grids[0].copy()
    for b in range(1, grids.shape[0]):
        total += grids[b]
    return total


def cic_project(positions, weights, geometry: MapGeometry) -> np.ndarray:
    """Projected sum of `weights` per pixel (not per area) of particles at `positions` [kpc]."""
    positions = np.ascontiguousarray(positions, dtype=np.float64)
    weights = np.ascontiguousarray(np.broadcast_to(np.asarray(weights, dtype=np.float64), len(positions)))
    i, j = IMAGE_AXES[geometry.axis]
    grids = _cic_blocks(positions, weights, np.asarray(geometry.centre, dtype=np.float64),
                        np.array([i, j, geometry.axis], dtype=np.int64), float(geometry.width), int(geometry.npix),
                        float(geometry.box_size), float(geometry.depth), block_count(len(positions)))
    return sum_blocks(grids)
