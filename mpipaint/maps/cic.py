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


# fast-math without 'nnan'/'ninf': the depth may be infinite and must compare correctly
FAST_MATH = {"nsz", "arcp", "contract", "afn", "reassoc"}


@numba.njit(inline="always")
def _minimum_image(d, box, inv_box):
    """Nearest periodic image of a separation, branch-free (rint is one instruction)."""
    return d - box * np.rint(d * inv_box)


@numba.njit(cache=True, fastmath=FAST_MATH, error_model="numpy")
def _cic_range(positions, weights, start, stop, centre, axes, width, box, depth, grid):
    """CIC of particles [start, stop) into `grid`: minimum image, depth cut, pixel coordinates, weights."""
    npix = grid.shape[0]
    ia, ja, la = axes[0], axes[1], axes[2]
    scale = npix / width
    inv_box = 1.0 / box if box > 0.0 else 0.0
    half_depth = 0.5 * depth
    for p in range(start, stop):
        du = positions[p, ia] - centre[ia]
        dv = positions[p, ja] - centre[ja]
        dl = positions[p, la] - centre[la]
        if box > 0.0:
            du = _minimum_image(du, box, inv_box)
            dv = _minimum_image(dv, box, inv_box)
            dl = _minimum_image(dl, box, inv_box)
        if abs(dl) > half_depth:
            continue
        # pixel centres sit at i + 0.5; the cloud spans [x - 0.5, x + 0.5) in pixel units
        x = (du + 0.5 * width) * scale - 0.5
        y = (dv + 0.5 * width) * scale - 0.5
        if x < -1.0 or y < -1.0 or x >= npix or y >= npix:
            continue
        i0 = int(np.floor(x))
        j0 = int(np.floor(y))
        fx = x - i0
        fy = y - j0
        left = weights[p] * (1.0 - fx)
        right = weights[p] * fx
        if 0 <= i0 and 0 <= j0 and i0 + 1 < npix and j0 + 1 < npix:  # the usual case: cloud inside
            grid[i0, j0] += left * (1.0 - fy)
            grid[i0, j0 + 1] += left * fy
            grid[i0 + 1, j0] += right * (1.0 - fy)
            grid[i0 + 1, j0 + 1] += right * fy
            continue
        if i0 >= 0:
            if j0 >= 0:
                grid[i0, j0] += left * (1.0 - fy)
            if j0 + 1 < npix:
                grid[i0, j0 + 1] += left * fy
        if i0 + 1 < npix:
            if j0 >= 0:
                grid[i0 + 1, j0] += right * (1.0 - fy)
            if j0 + 1 < npix:
                grid[i0 + 1, j0 + 1] += right * fy


@numba.njit(parallel=True, cache=True)
def _cic_blocks(positions, weights, centre, axes, width, npix, box, depth, nblocks):
    """Particles dealt to `nblocks` fixed blocks, each deposited into its own grid (threads share blocks)."""
    grids = np.zeros((nblocks, npix, npix), dtype=np.float64)
    n = positions.shape[0]
    per_block = (n + nblocks - 1) // nblocks
    for b in numba.prange(nblocks):
        _cic_range(positions, weights, b * per_block, min(n, (b + 1) * per_block), centre, axes, width, box,
                   depth, grids[b])
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
