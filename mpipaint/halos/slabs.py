"""The `slabs` read strategy: every rank reads a disjoint slab of a particle type once, in chunks, and
sends each particle to the ranks that own a halo containing it (`parallel.exchange.alltoallv`).

Membership of a particle in a halo:
- `group`: FoF membership, i.e. the halo's particle index range (group-ordered TNG/AREPO/Gadget-4
  snapshots). Gives exactly the particles the `offsets` strategy reads, in the same (global index) order,
  so both strategies make bit-identical maps.
- `cube`: every particle inside the halo's cube of side `width` centred on the halo, periodic by minimum
  image. Needs no ordering of the snapshot, so it serves unsorted boxes and non-TNG input.

Memory per rank: one chunk of `chunk_particles` particles for reading, plus the particles of the halos the
rank owns; never the box.
"""
from __future__ import annotations

import numba
import numpy as np
from mpi4py import MPI

from mpipaint.io.snapshot import Snapshot
from mpipaint.maps.geometry import minimum_image
from mpipaint.parallel import COMM
from mpipaint.parallel.exchange import alltoallv

MAX_CELLS_PER_SIDE = 128  # halo-search grid: at most 128^3 cells (16 MB of cell starts)


def slab(total: int, rank: int, size: int) -> tuple[int, int]:
    """This rank's contiguous share [lo, hi) of `total` particles."""
    return total * rank // size, total * (rank + 1) // size


def members_by_range(starts, counts, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """(particle index - lo, halo index) of every particle in [lo, hi) that lies in a halo's index range
    [starts[h], starts[h] + counts[h]); halo ranges must not overlap (FoF groups)."""
    particles, halos = [], []
    for h in np.flatnonzero((starts < hi) & (starts + counts > lo) & (counts > 0)):
        a, b = max(int(starts[h]), lo), min(int(starts[h] + counts[h]), hi)
        particles.append(np.arange(a - lo, b - lo, dtype=np.int64))
        halos.append(np.full(b - a, h, dtype=np.int64))
    if not particles:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(particles), np.concatenate(halos)


@numba.njit(cache=True)
def _cube_pairs(pos, centres, half, box, ncell, cell_start, cell_halos, fill, out_particle, out_halo):
    """Count (fill=False) or list (fill=True) the (particle, halo) pairs with the particle in the halo's cube."""
    n = 0
    span = 1 if ncell >= 3 else 0  # with fewer than 3 cells per side all halos sit in cell 0
    for p in range(pos.shape[0]):
        cx = int(np.floor(pos[p, 0] / box * ncell)) % ncell
        cy = int(np.floor(pos[p, 1] / box * ncell)) % ncell
        cz = int(np.floor(pos[p, 2] / box * ncell)) % ncell
        for dx in range(-span, span + 1):
            for dy in range(-span, span + 1):
                for dz in range(-span, span + 1):
                    cell = (((cx + dx) % ncell) * ncell + (cy + dy) % ncell) * ncell + (cz + dz) % ncell
                    for k in range(cell_start[cell], cell_start[cell + 1]):
                        h = cell_halos[k]
                        if (abs(minimum_image(pos[p, 0] - centres[h, 0], box)) <= half
                                and abs(minimum_image(pos[p, 1] - centres[h, 1], box)) <= half
                                and abs(minimum_image(pos[p, 2] - centres[h, 2], box)) <= half):
                            if fill:
                                out_particle[n] = p
                                out_halo[n] = h
                            n += 1
    return n


def members_by_cube(positions, centres, width: float, box: float) -> tuple[np.ndarray, np.ndarray]:
    """(particle index, halo index) of every particle within a halo's periodic cube of side `width`.
    Halos are binned on a grid of cells no smaller than half the cube, so each particle checks the halos
    of its own and the 26 neighbouring cells only."""
    half = 0.5 * width
    ncell = int(min(MAX_CELLS_PER_SIDE, max(1, np.floor(box / half))))
    ncell = ncell if ncell >= 3 else 1
    centres = np.ascontiguousarray(centres, dtype=np.float64) % box
    cells = np.floor(centres / box * ncell).astype(np.int64) % ncell
    flat = (cells[:, 0] * ncell + cells[:, 1]) * ncell + cells[:, 2]
    cell_halos = np.argsort(flat, kind="stable").astype(np.int64)
    cell_start = np.searchsorted(flat[cell_halos], np.arange(ncell**3 + 1)).astype(np.int64)
    positions = np.ascontiguousarray(positions, dtype=np.float64)
    empty = np.empty(0, np.int64)
    n = _cube_pairs(positions, centres, half, box, ncell, cell_start, cell_halos, False, empty, empty)
    particle, halo = np.empty(n, np.int64), np.empty(n, np.int64)
    _cube_pairs(positions, centres, half, box, ncell, cell_start, cell_halos, True, particle, halo)
    return particle, halo


def _columns(values: dict[str, np.ndarray]) -> list[tuple[str, int, np.dtype]]:
    """(name, columns, dtype) per field: how a field travels in a float64 record and is restored."""
    return [(name, 1 if v.ndim == 1 else v.shape[1], v.dtype) for name, v in values.items()]


def gather_particles(snapshot: Snapshot, ptype: int, fields, halos, owners, membership: str, width: float,
                     chunk_particles: int) -> dict[int, dict[str, np.ndarray]]:
    """Particles of every halo this rank owns, in physical units: {halo: {field: array}}, each halo's
    particles in global index order. Collective over COMM.

    halos: DataFrame with centre_x/y/z [kpc], offset_type{ptype}, count_type{ptype}; owners[h] is the rank
    that owns halo h, or -1 for halos nobody needs now (already painted).
    """
    owners = np.asarray(owners, dtype=np.int64)
    needed = np.flatnonzero(owners >= 0)
    starts = halos[f"offset_type{ptype}"].to_numpy(np.int64)[needed]
    counts = halos[f"count_type{ptype}"].to_numpy(np.int64)[needed]
    centres = halos[["centre_x", "centre_y", "centre_z"]].to_numpy(np.float64)[needed]
    total = snapshot.num_particles(ptype)
    if membership == "group":  # nothing past the last needed group (TNG stores the fuzz last)
        total = int((starts + counts).max()) if len(needed) else 0
    lo, hi = slab(total, COMM.rank, COMM.size)
    rounds = COMM.allreduce(-(-(hi - lo) // chunk_particles), op=MPI.MAX)
    received, layout = [], None
    for r in range(rounds):
        a, b = min(lo + r * chunk_particles, hi), min(lo + (r + 1) * chunk_particles, hi)
        values = {name: snapshot.read(ptype, name, a, b) for name in fields}
        if membership == "group":
            particle, local_halo = members_by_range(starts, counts, a, b)
        else:
            particle, local_halo = members_by_cube(values["Coordinates"], centres, width, snapshot.box_size_kpc)
        layout = _columns(values)
        records = np.column_stack([needed[local_halo].astype(np.float64), (a + particle).astype(np.float64)]
                                  + [values[name][particle].reshape(len(particle), ncol)
                                     for name, ncol, _ in layout])
        received.append(alltoallv(records, owners[needed[local_halo]]))
    return _by_halo(np.concatenate(received) if received else np.empty((0, 2)), layout)


def _by_halo(records: np.ndarray, layout) -> dict[int, dict[str, np.ndarray]]:
    """Split received records into per-halo field arrays, each halo's particles by global index."""
    if layout is None or not len(records):
        return {}
    records = records[np.lexsort((records[:, 1], records[:, 0]))]
    halo = records[:, 0].astype(np.int64)
    bounds = np.flatnonzero(np.diff(halo)) + 1
    out = {}
    for part in np.split(records, bounds):
        fields, column = {}, 2
        for name, ncol, dtype in layout:  # float32/int fields round-trip float64 exactly
            fields[name] = (part[:, column] if ncol == 1 else part[:, column:column + ncol]).astype(dtype)
            column += ncol
        out[int(part[0, 0])] = fields
    return out
