"""The `slabs` read strategy: every rank reads a disjoint slab of a particle type once, in chunks, and
sends each particle to the ranks that own a halo containing it (`parallel.exchange.alltoallv`).

Membership of a particle in a halo:
- `group`: FoF membership, i.e. the halo's particle index range (group-ordered TNG/AREPO/Gadget-4
  snapshots). Gives exactly the particles the `offsets` strategy reads, in the same (global index) order,
  so both strategies make bit-identical maps.
- `ids`: FoF membership by particle ID, for catalogs that list their members' IDs (Gadget-III's group_ids)
  beside boxes in no group order. The (ID, halo) pairs of the needed halos are spread over the ranks by ID
  (rank = ID mod ranks), each read once from the catalog's lists; every particle read is sent to the rank
  that holds its ID's pairs, which forwards it to the owner of each halo it belongs to (one, for FoF groups;
  a host and its subhaloes, for AHF). Memory per rank: 16 bytes per member of
  the needed halos over the ranks, beside the records below; each halo's particles in global index order.
  Every member listed must be found in the snapshot exactly once, else the lists are of another box.
- `cube`: every particle inside the halo's cube of side `width` centred on the halo, periodic by minimum
  image (`halos.cube_search`, its cost per particle independent of the number of halos). Needs no ordering
  of the snapshot, so it serves unsorted boxes and non-TNG input.

Memory per rank: one chunk of `chunk_particles` particles for reading, plus the particles of the halos the
rank owns, received as float64 records (8 bytes per value: 48 for a DM particle) that are kept per halo and
turned into the fields' own dtypes halo by halo; never the box, and no sorted copy of all the records.
"""
from __future__ import annotations

import numpy as np
from mpi4py import MPI

from mpipaint.errors import InputError
from mpipaint.halos.cube_search import CubeSearch
from mpipaint.io.snapshot import Snapshot
from mpipaint.parallel import COMM
from mpipaint.parallel.exchange import alltoallv


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


def _columns(values: dict[str, np.ndarray]) -> list[tuple[str, int, np.dtype]]:
    """(name, columns, dtype) per field: how a field travels in a float64 record and is restored."""
    return [(name, 1 if v.ndim == 1 else v.shape[1], v.dtype) for name, v in values.items()]


def gather_particles(snapshot: Snapshot, ptype: int, fields, halos, owners, membership: str, width: float,
                     chunk_particles: int, member_ids=None) -> dict[int, dict[str, np.ndarray]]:
    """Particles of every halo this rank owns, in physical units: {halo: {field: array}}, each halo's
    particles in global index order. Collective over COMM.

    halos: DataFrame with centre_x/y/z [kpc], offset_type{ptype}, count_type{ptype} (and member_offset,
    member_count for `ids`); owners[h] is the rank that owns halo h, or -1 for halos nobody needs now
    (already painted); member_ids: the catalog's member-ID lists (`ids` membership).
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
    search = CubeSearch(centres, width, snapshot.box_size_kpc) if membership == "cube" else None
    directory = IDDirectory(member_ids, halos, needed) if membership == "ids" else None
    pieces, layout, found = {}, None, 0
    for r in range(rounds):
        a, b = min(lo + r * chunk_particles, hi), min(lo + (r + 1) * chunk_particles, hi)
        values = {name: snapshot.read(ptype, name, a, b) for name in fields}
        layout = _columns(values)
        if membership == "ids":
            records = directory.members(snapshot.read(ptype, "ParticleIDs", a, b), a, values, layout)
            found += len(records)
            _file_by_halo(alltoallv(records, owners[records[:, 0].astype(np.int64)]), pieces)
            continue
        if membership == "group":
            particle, local_halo = members_by_range(starts, counts, a, b)
        else:
            particle, local_halo = search.members(values["Coordinates"])
        records = np.column_stack([needed[local_halo].astype(np.float64), (a + particle).astype(np.float64)]
                                  + [values[name][particle].reshape(len(particle), ncol)
                                     for name, ncol, _ in layout])
        _file_by_halo(alltoallv(records, owners[needed[local_halo]]), pieces)
    if membership == "ids":
        directory.check_found(COMM.allreduce(found), int(counts.sum()), snapshot, ptype)
    return _by_halo(pieces, layout)


class IDDirectory:
    """This rank's share of the (member ID, halo) pairs of the needed halos, those with ID mod ranks equal
    to the rank, sorted by ID: built collectively from one slab of the catalog's member-ID lists per rank."""

    def __init__(self, member_ids, halos, needed):
        self.catalog = member_ids
        starts = halos["member_offset"].to_numpy(np.int64)[needed]
        lengths = halos["member_count"].to_numpy(np.int64)[needed]
        lo, hi = slab(member_ids.total, COMM.rank, COMM.size)
        position, local_halo = members_by_range(starts, lengths, lo, hi)
        ids = member_ids.read(lo, hi)[position] if len(position) else np.empty(0, np.uint64)
        pairs = np.column_stack([ids.view(np.float64), needed[local_halo].astype(np.float64)])
        pairs = alltoallv(pairs, (ids % np.uint64(COMM.size)).astype(np.int64))
        keys = np.ascontiguousarray(pairs[:, 0]).view(np.uint64)
        order = np.argsort(keys, kind="stable")
        self.ids, self.halo = keys[order], pairs[order, 1]  # an ID twice: a particle of nested halos (AHF)

    def members(self, particle_ids, first: int, values: dict, layout) -> np.ndarray:
        """Records (halo, global index, fields...) of the particles [first, first + len) that are members, one
        per halo a particle belongs to, on this rank; collective (the particles travel to the ranks holding
        their IDs)."""
        particle_ids = np.asarray(particle_ids).astype(np.uint64)
        records = np.column_stack([particle_ids.view(np.float64),
                                   np.arange(first, first + len(particle_ids), dtype=np.float64)]
                                  + [values[name].reshape(len(particle_ids), ncol) for name, ncol, _ in layout])
        records = alltoallv(records, (particle_ids % np.uint64(COMM.size)).astype(np.int64))
        keys = np.ascontiguousarray(records[:, 0]).view(np.uint64)
        lo, hi = np.searchsorted(self.ids, keys, "left"), np.searchsorted(self.ids, keys, "right")
        matches = hi - lo
        records = np.repeat(records, matches, axis=0)
        pair = np.repeat(lo - np.concatenate([[0], np.cumsum(matches)[:-1]]), matches) + np.arange(len(records))
        records[:, 0] = self.halo[pair]
        return records

    def check_found(self, found: int, listed: int, snapshot: Snapshot, ptype: int) -> None:
        """Every listed member of this type must have been found once (IDs are unique in a snapshot)."""
        if found != listed:
            raise InputError(f"{self.catalog.path}: the halos list {listed} PartType{ptype} members, but {found} "
                             f"of {snapshot.path}'s particles carry their IDs: the member IDs of another run or "
                             "snapshot?")


def _file_by_halo(records: np.ndarray, pieces: dict) -> None:
    """Append one round's received records to `pieces` ({halo: [records]}), a copy per halo, so that the
    round's buffer is freed now and each halo's records once that halo is converted (`_by_halo`)."""
    if not len(records):
        return
    records = records[np.argsort(records[:, 0], kind="stable")]
    bounds = np.flatnonzero(np.diff(records[:, 0])) + 1
    for part in np.split(records, bounds):
        pieces.setdefault(int(part[0, 0]), []).append(part.copy())


def _by_halo(pieces: dict, layout) -> dict[int, dict[str, np.ndarray]]:
    """Each halo's records as field arrays in their own dtypes, its particles by global index; every halo's
    records are freed as soon as it is converted, so the records and the fields never coexist whole."""
    out = {}
    for halo in sorted(pieces):
        part = np.concatenate(pieces.pop(halo))
        part = part[np.argsort(part[:, 1], kind="stable")]
        fields, column = {}, 2
        for name, ncol, dtype in layout:  # float32/int fields round-trip float64 exactly
            fields[name] = (part[:, column] if ncol == 1 else part[:, column:column + ncol]).astype(dtype)
            column += ncol
        out[halo] = fields
    return out
