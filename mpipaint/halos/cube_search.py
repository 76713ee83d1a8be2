"""Which particles lie in which halo's cube (`cube` deposition): every particle within a periodic cube of
side `width` centred on a halo, by minimum image.

The halos are binned once on a grid whose cells are no smaller than the cube's side nor than the halos'
mean spacing, so the grid has at most as many cells as there are halos (memory grows with the halos, not
with the box) and holds about one halo per cell. A halo whose cube holds a particle has its centre within
half a side of it along each axis, so in one of at most 2 cells per axis: each particle looks up at most 8
cells, fewer the larger the cells are than the cube, and tests their halos. The cost per particle is set
by the halos' number density and the cube's volume, not by the number of halos: a bigger box with more
halos costs the same per particle. Where the cells and centres do not fit in a core's cache (more than
SORT_ABOVE_BYTES: from a few 1e4 halos; 32 MB at 1e6) each chunk of particles is visited bucket by bucket
of a coarse grid of at most SORT_BUCKETS_PER_SIDE^3 (a counting sort, linear in particles), so that
neighbouring particles read the same cells and halos from cache while the sort's scatter keeps few enough
streams to stay in cache itself; below it the sort costs more than it saves, and particles are visited in
file order (BENCHMARKS.md).
"""
from __future__ import annotations

import numba
import numpy as np

from mpipaint.maps.geometry import minimum_image

ROUNDING_MARGIN = 1e-9  # of the box: cells a hair wider than the cube, so rounding cannot hide a third cell
# Measured on uniform particles (4e6 per chunk, AMD EPYC): file order is 2x faster than the sort with 1e3-1e4
# halos (grid + centres 0.03-0.4 MB), the sort 1.8x faster at 1e5 (4 MB); 1 MiB is a core's L2 on most CPUs.
SORT_ABOVE_BYTES = 1 << 20
# 4e6 particles around 1e6 halos (99^3 cells): 0.222 us per particle sorted by cell, 0.157 by 16^3 or 32^3
# buckets, 0.52 unsorted; 1e5 halos: 0.195, 0.152 (16^3), 0.25
SORT_BUCKETS_PER_SIDE = 16


class CubeSearch:
    """The halos' cell grid, built once per set of halos and used for every chunk of particles."""

    def __init__(self, centres, width: float, box: float):
        self.half, self.box = 0.5 * float(width), float(box)
        centres = np.ascontiguousarray(centres, dtype=np.float64) % self.box
        self.margin = ROUNDING_MARGIN * self.box
        spacing = self.box / max(len(centres), 1) ** (1 / 3)
        self.ncell = max(1, int(np.floor(self.box / max(float(width) + 4 * self.margin, spacing))))
        self.halo_order, self.sorted_centres, self.cell_start = _by_cell(centres, 1.0, self.ncell, self.box)
        grid_bytes = self.cell_start.nbytes + self.sorted_centres.nbytes + self.halo_order.nbytes
        self.sort_particles = grid_bytes > SORT_ABOVE_BYTES
        self._buffers: dict[str, np.ndarray] = {}

    def members(self, positions, to_box: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """(particle index, halo index) of every particle of `positions` (N x 3, float32 or float64) in a
        halo's cube, in no particular order; the positions times `to_box` are in box units (a snapshot's
        code units to physical kpc, converted on the fly instead of in a physical copy of the chunk)."""
        positions = np.ascontiguousarray(positions)
        if not self.sort_particles:
            return self._pairs(positions, to_box)
        n = len(positions)
        cell, visit = self._buffer("cell", n, np.int64), self._buffer("visit", n, np.int64)
        in_bucket_order = self._buffer("in_bucket_order", n, np.float64, 3)[:n]
        _sort_by_cell(positions, to_box, min(self.ncell, SORT_BUCKETS_PER_SIDE), self.box, cell, visit,
                      in_bucket_order)
        particle, halo = self._pairs(in_bucket_order, 1.0)
        return visit[particle], halo

    def _buffer(self, name: str, rows: int, dtype, columns: int | None = None) -> np.ndarray:
        """A work array of at least `rows` rows, kept from chunk to chunk: the fresh pages of a 100 MB array
        cost as much as the sort that fills them. Held while the search lives, up to 56 bytes per chunk
        particle (BENCHMARKS.md, "Scale, part 4")."""
        held = self._buffers.get(name)
        if held is None or len(held) < rows:
            held = self._buffers[name] = np.empty((rows,) if columns is None else (rows, columns), dtype)
        return held

    def _pairs(self, positions, to_box: float) -> tuple[np.ndarray, np.ndarray]:
        rows = max(1024, len(positions))  # a first size: _pairs doubles the arrays where a chunk finds more
        particle, halo, n = _pairs(positions, to_box, self.sorted_centres, self.halo_order, self.cell_start,
                                   self.half, self.box, self.ncell, self.margin,
                                   self._buffer("particle", rows, np.int64), self._buffer("halo", rows, np.int64))
        self._buffers["particle"], self._buffers["halo"] = particle, halo  # grown where they overflowed
        return particle[:n].copy(), halo[:n].copy()


@numba.njit(cache=True, inline="always")
def _floor(v):
    """floor(v) as an integer, by truncation (corrected by one below zero)."""
    c = np.int64(v)
    return c - 1 if v < c else c


@numba.njit(cache=True, inline="always")
def _wrap(c, ncell):
    """Cell c of a periodic row of ncell: itself where it lies in the row (all but the edges), else modulo."""
    return c if 0 <= c < ncell else c % ncell


def _by_cell(pos, to_box, ncell, box):
    """(the points' indices ordered by the cell of an ncell^3 grid they lie in, their positions times `to_box` in
    that order, the index where each cell's points start: ncell^3 + 1 values): how the halos are filed."""
    order, ordered = np.empty(len(pos), np.int64), np.empty((len(pos), 3), np.float64)
    start = _sort_by_cell(pos, to_box, ncell, box, np.empty(len(pos), np.int64), order, ordered)
    return order, ordered, start


@numba.njit(cache=True)
def _sort_by_cell(pos, to_box, ncell, box, cell, order, ordered):
    """A stable counting sort of points by the cell of an ncell^3 grid they lie in, into `order` (their
    indices) and `ordered` (their positions times `to_box`), with `cell` as work space; returns the index
    where each cell's points start (ncell^3 + 1 values). Sorts the halos into the search's cells and a
    chunk's particles into coarser buckets."""
    scale = ncell / box
    start = np.zeros(ncell**3 + 1, np.int64)
    for p in range(pos.shape[0]):
        c = np.int64(0)
        for d in range(3):
            c = c * ncell + _wrap(_floor(pos[p, d] * to_box * scale), ncell)
        cell[p] = c
        start[c + 1] += 1
    for c in range(ncell**3):
        start[c + 1] += start[c]
    cell_start = start.copy()
    for p in range(pos.shape[0]):
        k = start[cell[p]]
        order[k] = p
        for d in range(3):
            ordered[k, d] = pos[p, d] * to_box
        start[cell[p]] = k + 1
    return cell_start


@numba.njit(cache=True, inline="always")
def _cells_reached(x, reach, scale, ncell):
    """The first and last cell (unwrapped) along one axis that a cube reaching `reach` from x can hold a
    centre in: one, or two where x lies within `reach` of a cell boundary."""
    first = _floor((x - reach) * scale)
    return first, first + 1 if (ncell > 1 and _floor((x + reach) * scale) > first) else first


@numba.njit(cache=True)
def _pairs(pos, to_box, centres, halo_order, cell_start, half, box, ncell, margin, out_particle, out_halo):
    """(particle array, halo array, n): the (particle, halo) pairs in one pass over the particles (positions
    times `to_box`) in the first n entries of the given arrays, or of larger ones where they outgrow them (by
    doubling); a halo is dropped at its first axis out of reach."""
    scale, reach = ncell / box, half + margin
    capacity, n = len(out_particle), 0
    for p in range(pos.shape[0]):
        x, y, z = pos[p, 0] * to_box, pos[p, 1] * to_box, pos[p, 2] * to_box
        x0, x1 = _cells_reached(x, reach, scale, ncell)
        y0, y1 = _cells_reached(y, reach, scale, ncell)
        z0, z1 = _cells_reached(z, reach, scale, ncell)
        for i in range(x0, x1 + 1):
            row = _wrap(i, ncell) * ncell
            for j in range(y0, y1 + 1):
                column = (row + _wrap(j, ncell)) * ncell
                for k in range(z0, z1 + 1):
                    cell = column + _wrap(k, ncell)
                    for m in range(cell_start[cell], cell_start[cell + 1]):
                        if not abs(minimum_image(x - centres[m, 0], box)) <= half:
                            continue
                        if not abs(minimum_image(y - centres[m, 1], box)) <= half:
                            continue
                        if not abs(minimum_image(z - centres[m, 2], box)) <= half:
                            continue
                        if n == capacity:
                            capacity *= 2
                            grown_particle, grown_halo = np.empty(capacity, np.int64), np.empty(capacity, np.int64)
                            grown_particle[:n], grown_halo[:n] = out_particle[:n], out_halo[:n]
                            out_particle, out_halo = grown_particle, grown_halo
                        out_particle[n], out_halo[n] = p, halo_order[m]
                        n += 1
    return out_particle, out_halo, n
