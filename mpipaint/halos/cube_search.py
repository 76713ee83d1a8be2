"""Which particles lie in which halo's cube (`cube` deposition): every particle within a periodic cube of
side `width` centred on a halo, by minimum image.

The halos are binned once on a grid whose cells are no smaller than the cube's side nor than the halos'
mean spacing, so the grid has at most as many cells as there are halos (memory grows with the halos, not
with the box) and holds about one halo per cell. A halo whose cube holds a particle has its centre within
half a side of it along each axis, so in one of at most 2 cells per axis: each particle looks up at most 8
cells, fewer the larger the cells are than the cube, and tests their halos. The cost per particle is set
by the halos' number density and the cube's volume, not by the number of halos: a bigger box with more
halos costs the same per particle. Each chunk of particles is visited in the order of their cells (a
counting sort, linear in particles plus cells), so that neighbouring particles read the same cells and
halos from cache: at 1e6 halos the cells and centres (32 MB) do not fit in it (BENCHMARKS.md).
"""
from __future__ import annotations

import numba
import numpy as np

from mpipaint.maps.geometry import minimum_image

ROUNDING_MARGIN = 1e-9  # of the box: cells a hair wider than the cube, so rounding cannot hide a third cell


class CubeSearch:
    """The halos' cell grid, built once per set of halos and used for every chunk of particles."""

    def __init__(self, centres, width: float, box: float):
        self.half, self.box = 0.5 * float(width), float(box)
        centres = np.ascontiguousarray(centres, dtype=np.float64) % self.box
        self.margin = ROUNDING_MARGIN * self.box
        spacing = self.box / max(len(centres), 1) ** (1 / 3)
        self.ncell = max(1, int(np.floor(self.box / max(float(width) + 4 * self.margin, spacing))))
        self.halo_order, self.sorted_centres, self.cell_start = _by_cell(centres, self.ncell, self.box)

    def members(self, positions) -> tuple[np.ndarray, np.ndarray]:
        """(particle index, halo index) of every particle of `positions` (N x 3, box units) in a halo's
        cube, grouped by the particles' cells (in no particular order within them)."""
        positions = np.ascontiguousarray(positions, dtype=np.float64)
        visit, in_cell_order, _ = _by_cell(positions, self.ncell, self.box)
        particle, halo = _pairs(in_cell_order, self.sorted_centres, self.halo_order, self.cell_start,
                                self.half, self.box, self.ncell, self.margin)
        return visit[particle], halo


@numba.njit(cache=True)
def _by_cell(pos, ncell, box):
    """(the points' indices ordered by the cell they lie in, their positions in that order, the index where
    each cell's points start: ncell^3 + 1 values): a stable counting sort, the one binning of halos and
    particles alike, so both are put in cells by the same arithmetic."""
    scale = ncell / box
    cell = np.empty(pos.shape[0], np.int64)
    start = np.zeros(ncell**3 + 1, np.int64)
    for p in range(pos.shape[0]):
        c = np.int64(0)
        for d in range(3):
            c = c * ncell + np.int64(np.floor(pos[p, d] * scale)) % ncell
        cell[p] = c
        start[c + 1] += 1
    for c in range(ncell**3):
        start[c + 1] += start[c]
    cell_start = start.copy()
    order, ordered = np.empty(pos.shape[0], np.int64), np.empty_like(pos)
    for p in range(pos.shape[0]):
        k = start[cell[p]]
        order[k] = p
        ordered[k, 0], ordered[k, 1], ordered[k, 2] = pos[p, 0], pos[p, 1], pos[p, 2]
        start[cell[p]] = k + 1
    return order, ordered, cell_start


@numba.njit(cache=True)
def _pairs(pos, centres, halo_order, cell_start, half, box, ncell, margin):
    """(particle, halo) pairs in one pass over the particles, the output grown by doubling."""
    scale = ncell / box
    capacity = max(1024, pos.shape[0])
    out_particle, out_halo = np.empty(capacity, np.int64), np.empty(capacity, np.int64)
    n = 0
    low, count = np.empty(3, np.int64), np.empty(3, np.int64)
    for p in range(pos.shape[0]):
        for d in range(3):
            a = np.int64(np.floor((pos[p, d] - half - margin) * scale))
            b = np.int64(np.floor((pos[p, d] + half + margin) * scale))
            low[d] = a
            count[d] = 2 if (b > a and ncell > 1) else 1
        for i in range(count[0]):
            for j in range(count[1]):
                for k in range(count[2]):
                    cell = (((low[0] + i) % ncell) * ncell + (low[1] + j) % ncell) * ncell + (low[2] + k) % ncell
                    for m in range(cell_start[cell], cell_start[cell + 1]):
                        if (abs(minimum_image(pos[p, 0] - centres[m, 0], box)) <= half
                                and abs(minimum_image(pos[p, 1] - centres[m, 1], box)) <= half
                                and abs(minimum_image(pos[p, 2] - centres[m, 2], box)) <= half):
                            if n == capacity:
                                capacity *= 2
                                grown_particle, grown_halo = np.empty(capacity, np.int64), np.empty(capacity, np.int64)
                                grown_particle[:n], grown_halo[:n] = out_particle[:n], out_halo[:n]
                                out_particle, out_halo = grown_particle, grown_halo
                            out_particle[n], out_halo[n] = p, halo_order[m]
                            n += 1
    return out_particle[:n].copy(), out_halo[:n].copy()
