"""Cloud-in-cell projection (numba): each particle is a square cloud one pixel wide, shared among the four
nearest pixel centres. Accumulates in float64; a particle whose cloud lies inside the map deposits all of
its weight. Threads share fixed blocks (`blocks`), so the result is bit-identical whatever the number of
threads or MPI ranks.

Each block runs in chunks of CHUNK particles, in passes that stay in L1/L2: copy the chunk's three
coordinates into columns (the (N, 3) layout does not vectorise) as offsets from the centre at the nearest
periodic image, then for each projection axis compute every cloud with SIMD (depth cut, corner pixel,
weights) and scatter the four corner weights. A halo's maps along several axes are one pass over its
particles (`cic_project_axes`), each map bit-identical to its own projection. The grid has a one-pixel
border, so a cloud hanging over the map edge needs no branch: the border is dropped at the end.
"""
from __future__ import annotations

import numba
import numpy as np

from mpipaint.maps.blocks import PARTICLES_PER_BLOCK, block_count, block_range, deposit_in_blocks
from mpipaint.maps.geometry import IMAGE_AXES, minimum_image

CIC_PARTICLES_PER_PIXEL = 2  # a CIC block holds at least this many particles per pixel: zeroing and
#                              summing a block's grid then costs under a tenth of its deposits
CHUNK = 2048
MAX_NPIX = 40_000  # corner indices of the bordered grid are int32 (vectorised conversion)


# No fast-math: with reassociation, contraction or approximate functions LLVM may order a kernel's
# floating-point operations differently when it compiles it inlined in a fresh parallel wrapper than when
# it links the cached one, and maps differed by 4 ulp between a cold and a warm numba cache.


@numba.njit(cache=True, error_model="numpy")
def _offset_columns(positions, start, count, centre, box, d):
    """Offsets from `centre` of particles [start, start + count), nearest periodic image (box 0: none), as
    the three rows of `d`."""
    for c in range(3):
        column = d[c]
        for q in range(count):
            column[q] = positions[start + q, c]
        for q in range(count):
            column[q] = minimum_image(column[q] - centre[c], box)


@numba.njit(cache=True, error_model="numpy")
def _clouds(du, dv, dl, weights, scale, half_depth, npix, corner, left, right, frac_v):
    """Per particle (offsets du, dv across the image, dl along the line of sight): flat index of the bordered
    grid's lower-left corner pixel, the cloud's weight in the left and right pixel columns, and its
    fraction in the upper row. Branch-free, so it vectorises; a particle outside the map or the depth gets
    weight 0 at a clamped, harmless corner (NaN included)."""
    stride = npix + 2
    offset = 0.5 * npix + 0.5  # pixel centres at i + 0.5, shifted by the one-pixel border
    end = npix + 1.0  # a cloud starting at or beyond the far border misses the map
    for q in range(du.shape[0]):
        x = du[q] * scale + offset
        y = dv[q] * scale + offset
        keep = (abs(dl[q]) <= half_depth) & (x >= 0.0) & (y >= 0.0) & (x < end) & (y < end)
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
    """CIC of particles [start, stop) into the flat bordered grids ((npix + 2)^2 each, one per row of `axes`:
    image axes and line of sight) laid end to end in `grid`, CHUNK at a time."""
    scale = npix / width
    size = (npix + 2) * (npix + 2)
    d = np.empty((3, CHUNK))
    corner = np.empty(CHUNK, dtype=np.int32)
    left, right, frac_v = np.empty(CHUNK), np.empty(CHUNK), np.empty(CHUNK)
    for first in range(start, stop, CHUNK):
        count = min(CHUNK, stop - first)
        _offset_columns(positions, first, count, centre, box, d)
        for a in range(axes.shape[0]):
            _clouds(d[axes[a, 0], :count], d[axes[a, 1], :count], d[axes[a, 2], :count],
                    weights[first:first + count], scale, 0.5 * depth, npix, corner, left, right, frac_v)
            _deposit(corner, left, right, frac_v, count, npix + 2, grid[a * size:(a + 1) * size])


@numba.njit(parallel=True, cache=True)
def _cic_wave(positions, weights, centre, axes, width, npix, box, depth, nblocks, first, grids):
    """Blocks first, first + 1, ... of `nblocks`, one per row of `grids`, in parallel."""
    for t in numba.prange(grids.shape[0]):
        start, stop = block_range(first + t, positions.shape[0], nblocks)
        _cic_range(positions, weights, start, stop, centre, axes, width, npix, box, depth, grids[t])


def cic_project_axes(positions, weights, geometries) -> np.ndarray:
    """Projected sum of `weights` per pixel (not per area) of particles at `positions` [kpc] for each of
    `geometries` (one halo's maps: the same centre, width, npix, box and depth, one axis each), in one pass
    over the particles: (len(geometries), npix, npix), a view into the bordered grids."""
    first = geometries[0]
    npix = int(first.npix)
    if not 0 < npix <= MAX_NPIX:
        raise ValueError(f"CIC maps need 1 to {MAX_NPIX} pixels a side, not {npix}")
    if any((g.centre, g.width, g.npix, g.box_size, g.depth) != (first.centre, first.width, first.npix,
                                                               first.box_size, first.depth) for g in geometries):
        raise ValueError("one CIC pass needs geometries that differ only in their axis")
    positions = np.ascontiguousarray(positions, dtype=np.float64)
    weights = np.ascontiguousarray(np.broadcast_to(np.asarray(weights, dtype=np.float64), len(positions)))
    nblocks = block_count(len(positions), max(PARTICLES_PER_BLOCK, CIC_PARTICLES_PER_PIXEL * npix * npix))
    centre = np.asarray(first.centre, dtype=np.float64)
    axes = np.array([[*IMAGE_AXES[g.axis], g.axis] for g in geometries], dtype=np.int64)
    size = (npix + 2) * (npix + 2)
    total = deposit_in_blocks(
        lambda start, grids: _cic_wave(positions, weights, centre, axes, float(first.width), npix,
                                       float(first.box_size), float(first.depth), nblocks, start, grids),
        nblocks, len(geometries) * size)
    return total.reshape(len(geometries), npix + 2, npix + 2)[:, 1:-1, 1:-1]  # a view: no 2 MB copy per map
