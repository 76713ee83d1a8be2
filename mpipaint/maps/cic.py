"""Cloud-in-cell projection (numba): each particle is a square cloud one pixel wide, shared among the four
nearest pixel centres. Accumulates in float64; a particle whose cloud lies inside the map deposits all of
its weight. Threads share fixed blocks (`blocks`), so the result is bit-identical whatever the number of
threads or MPI ranks.

Each block runs in chunks of CHUNK particles, in three passes that stay in L1/L2: copy the chunk's three
coordinates into columns (the (N, 3) layout does not vectorise), compute every cloud with SIMD (minimum
image, depth cut, corner pixel, weights), then scatter the four corner weights. The grid has a one-pixel
border, so a cloud hanging over the map edge needs no branch: the border is dropped at the end.
"""
from __future__ import annotations

import numba
import numpy as np

from mpipaint.maps.blocks import PARTICLES_PER_BLOCK, block_count, block_range, deposit_in_blocks
from mpipaint.maps.geometry import IMAGE_AXES, MapGeometry

CIC_PARTICLES_PER_PIXEL = 2  # a CIC block holds at least this many particles per pixel: zeroing and
#                              summing a block's grid then costs under a tenth of its deposits
CHUNK = 2048
MAX_NPIX = 40_000  # corner indices of the bordered grid are int32 (vectorised conversion)


# No fast-math: with reassociation, contraction or approximate functions LLVM may order a kernel's
# floating-point operations differently when it compiles it inlined in a fresh parallel wrapper than when
# it links the cached one, and maps differed by 4 ulp between a cold and a warm numba cache.


@numba.njit(cache=True, error_model="numpy")
def _columns(positions, start, count, axes, u, v, los):
    """Image axes and line of sight of particles [start, start + count) as contiguous columns."""
    ia, ja, la = axes[0], axes[1], axes[2]
    for q in range(count):
        u[q] = positions[start + q, ia]
        v[q] = positions[start + q, ja]
        los[q] = positions[start + q, la]


@numba.njit(cache=True, error_model="numpy")
def _clouds(u, v, los, weights, centre, scale, box, inv_box, half_depth, npix, corner, left, right, frac_v):
    """Per particle: flat index of the bordered grid's lower-left corner pixel, the cloud's weight in the
    left and right pixel columns, and its fraction in the upper row. Branch-free, so it vectorises; a
    particle outside the map or the depth gets weight 0 at a clamped, harmless corner (NaN included)."""
    stride = npix + 2
    offset = 0.5 * npix + 0.5  # pixel centres at i + 0.5, shifted by the one-pixel border
    end = npix + 1.0  # a cloud starting at or beyond the far border misses the map
    for q in range(u.shape[0]):
        du = u[q] - centre[0]
        dv = v[q] - centre[1]
        dl = los[q] - centre[2]
        du -= box * np.floor(du * inv_box + 0.5)  # nearest periodic image; inv_box = 0 without periodicity
        dv -= box * np.floor(dv * inv_box + 0.5)
        dl -= box * np.floor(dl * inv_box + 0.5)
        x = du * scale + offset
        y = dv * scale + offset
        keep = (abs(dl) <= half_depth) & (x >= 0.0) & (y >= 0.0) & (x < end) & (y < end)
        x = x if x >= 0.0 else 0.0  # the clamps move only particles that `keep` drops
        y = y if y >= 0.0 else 0.0
        x = x if x < end else 0.0
        y = y if y < end else 0.0
        xi = np.floor(x)
        yi = np.floor(y)
        fx = x - xi
        weight = weights[q] if keep else 0.0
        corner[q] = np.int32(xi) * stride + np.int32(yi)
        left[q] = weight - weight * fx
        right[q] = weight * fx
        frac_v[q] = y - yi


@numba.njit(cache=True, error_model="numpy")
def _deposit(corner, left, right, frac_v, count, stride, grid):
    """Scatter-add the four corner weights of `count` clouds into the flat bordered grid."""
    row = np.uint64(stride)
    for q in range(count):
        k = np.uint64(corner[q])  # unsigned: numba adds no negative-index wraparound
        a = left[q]
        b = right[q]
        f = frac_v[q]
        grid[k] += a - a * f
        grid[k + np.uint64(1)] += a * f
        grid[k + row] += b - b * f
        grid[k + row + np.uint64(1)] += b * f


@numba.njit(cache=True, error_model="numpy")
def _cic_range(positions, weights, start, stop, centre, axes, width, npix, box, depth, grid):
    """CIC of particles [start, stop) into the flat bordered grid ((npix + 2)^2), CHUNK at a time."""
    uvl_centre = np.array([centre[axes[0]], centre[axes[1]], centre[axes[2]]])
    scale = npix / width
    inv_box = 1.0 / box if box > 0.0 else 0.0
    u, v, los = np.empty(CHUNK), np.empty(CHUNK), np.empty(CHUNK)
    corner = np.empty(CHUNK, dtype=np.int32)
    left, right, frac_v = np.empty(CHUNK), np.empty(CHUNK), np.empty(CHUNK)
    for first in range(start, stop, CHUNK):
        count = min(CHUNK, stop - first)
        _columns(positions, first, count, axes, u, v, los)
        _clouds(u[:count], v[:count], los[:count], weights[first:first + count], uvl_centre, scale, box,
                inv_box, 0.5 * depth, npix, corner, left, right, frac_v)
        _deposit(corner, left, right, frac_v, count, npix + 2, grid)


@numba.njit(parallel=True, cache=True)
def _cic_wave(positions, weights, centre, axes, width, npix, box, depth, nblocks, first, grids):
    """Blocks first, first + 1, ... of `nblocks`, one per row of `grids`, in parallel."""
    for t in numba.prange(grids.shape[0]):
        start, stop = block_range(first + t, positions.shape[0], nblocks)
        _cic_range(positions, weights, start, stop, centre, axes, width, npix, box, depth, grids[t])


def cic_project(positions, weights, geometry: MapGeometry) -> np.ndarray:
    """Projected sum of `weights` per pixel (not per area) of particles at `positions` [kpc], as an npix x npix
    view into the bordered grid."""
    npix = int(geometry.npix)
    if not 0 < npix <= MAX_NPIX:
        raise ValueError(f"CIC maps need 1 to {MAX_NPIX} pixels a side, not {npix}")
    positions = np.ascontiguousarray(positions, dtype=np.float64)
    weights = np.ascontiguousarray(np.broadcast_to(np.asarray(weights, dtype=np.float64), len(positions)))
    i, j = IMAGE_AXES[geometry.axis]
    nblocks = block_count(len(positions), max(PARTICLES_PER_BLOCK, CIC_PARTICLES_PER_PIXEL * npix * npix))
    centre = np.asarray(geometry.centre, dtype=np.float64)
    axes = np.array([i, j, geometry.axis], dtype=np.int64)
    total = deposit_in_blocks(
        lambda first, grids: _cic_wave(positions, weights, centre, axes, float(geometry.width), npix,
                                       float(geometry.box_size), float(geometry.depth), nblocks, first, grids),
        nblocks, (npix + 2) * (npix + 2))
    return total.reshape(npix + 2, npix + 2)[1:-1, 1:-1]  # a view: copying 2 MB would cost ~1 ms a map
