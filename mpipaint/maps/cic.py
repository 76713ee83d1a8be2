"""Cloud-in-cell projection (numba): each particle is a square cloud one pixel wide, shared among the four
nearest pixel centres. Accumulates in float64; a particle whose cloud lies inside the map deposits all of
its weight. Particles are dealt to a fixed number of blocks, each with a private grid, summed in block
order, so the result is bit-identical whatever the number of threads or MPI ranks.
"""
from __future__ import annotations

import numba
import numpy as np

from mpipaint.maps.geometry import MapGeometry

PARTICLES_PER_BLOCK = 65_536
MAX_BLOCKS = 16


@numba.njit(parallel=True, cache=True)
def _cic_blocks(u, v, weight, npix, nblocks):
    grids = np.zeros((nblocks, npix, npix), dtype=np.float64)
    n = u.shape[0]
    per_block = (n + nblocks - 1) // nblocks
    for b in numba.prange(nblocks):
        grid = grids[b]
        for p in range(b * per_block, min(n, (b + 1) * per_block)):
            # pixel centres sit at i + 0.5; the cloud spans [u - 0.5, u + 0.5)
            x = u[p] - 0.5
            y = v[p] - 0.5
            i0 = int(np.floor(x))
            j0 = int(np.floor(y))
            fx = x - i0
            fy = y - j0
            w = weight[p]
            for di in range(2):
                i = i0 + di
                if i < 0 or i >= npix:
                    continue
                wx = (1.0 - fx) if di == 0 else fx
                for dj in range(2):
                    j = j0 + dj
                    if j < 0 or j >= npix:
                        continue
                    wy = (1.0 - fy) if dj == 0 else fy
                    grid[i, j] += w * wx * wy
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


def cic_pixels(u, v, weight, npix: int) -> np.ndarray:
    """CIC of weights at pixel coordinates (u, v) onto an npix x npix grid [i(u), j(v)], float64."""
    u = np.ascontiguousarray(u, dtype=np.float64)
    v = np.ascontiguousarray(v, dtype=np.float64)
    weight = np.ascontiguousarray(np.broadcast_to(weight, u.shape), dtype=np.float64)
    return sum_blocks(_cic_blocks(u, v, weight, npix, block_count(len(u))))


def cic_project(positions, weights, geometry: MapGeometry) -> np.ndarray:
    """Projected sum of `weights` per pixel (not per area) of particles at `positions` [kpc]."""
    u, v, kept = geometry.pixel_coordinates(positions)
    weights = np.broadcast_to(np.asarray(weights, dtype=np.float64), kept.shape)
    if not kept.all():
        u, v, weights = u[kept], v[kept], weights[kept]
    return cic_pixels(u, v, weights, geometry.npix)
