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

Memory per rank: one chunk of `chunk_particles` particles for reading and its records in flight (float64,
8 bytes per value), plus the particles of the halos the rank owns as they arrived: each field in the file's
own dtype and code units (float32 coordinates: 12 bytes), fields that every particle shares (mass-table
masses) not at all, and the global index (8 bytes) that puts a halo's pieces in order. A halo becomes
physical float64 fields only when it is projected (`Received.fields`), and is freed then: never the box,
no sorted copy of all the records, no float64 copy of every halo.
"""
from __future__ import annotations

import numpy as np

from mpipaint.errors import InputError
from mpipaint.halos.cube_search import CubeSearch
from mpipaint.io.snapshot import Snapshot
from mpipaint.parallel import COMM, MPI
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


def _columns(snapshot: Snapshot, ptype: int, fields) -> list[tuple[str, int, np.dtype]]:
    """(name, columns, dtype) of each field that travels per particle, as the snapshot stores it; fields that
    every particle shares (Snapshot.constant) travel not at all."""
    layout = []
    for name in fields:
        if snapshot.constant(ptype, name) is None:
            values = snapshot.read(ptype, name, 0, min(1, snapshot.num_particles(ptype)), physical=False)
            layout.append((name, 1 if values.ndim == 1 else values.shape[1], values.dtype))
    return layout


def _as_record_columns(values: np.ndarray, ncol: int) -> np.ndarray:
    """A field as float64 record columns, bit-exactly: 8-byte integers (IDs above 2^53) by their bits, every
    other dtype (float32, float64, 32-bit integers) by value."""
    values = np.ascontiguousarray(values).reshape(len(values), ncol)
    return values.view(np.float64) if values.dtype.kind in "iu" and values.dtype.itemsize == 8 else values


def _from_record_columns(columns: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The inverse of _as_record_columns."""
    if dtype.kind in "iu" and dtype.itemsize == 8:
        return np.ascontiguousarray(columns).view(dtype)
    return columns.astype(dtype)


def records_of(first_column: np.ndarray, index: np.ndarray, values: dict, layout) -> np.ndarray:
    """Float64 records (first_column, global index, each field's columns) of particles to send."""
    return np.column_stack([first_column, index.astype(np.float64)]
                           + [_as_record_columns(values[name], ncol) for name, ncol, _ in layout])


def gather_particles(snapshot: Snapshot, ptype: int, fields, halos, owners, membership: str, width: float,
                     chunk_particles: int, member_ids=None) -> dict[int, "Received"]:
    """Particles of every halo this rank owns: {halo: Received}, whose `fields()` gives them in physical
    units and global index order. Collective over COMM.

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
    layout = _columns(snapshot, ptype, fields)
    received, found = {}, 0
    for r in range(rounds):
        a, b = min(lo + r * chunk_particles, hi), min(lo + (r + 1) * chunk_particles, hi)
        values = {name: snapshot.read(ptype, name, a, b, physical=False) for name, _, _ in layout}
        if membership == "ids":
            records = directory.members(snapshot.read(ptype, "ParticleIDs", a, b), a, values, layout)
            found += len(records)
            _file_by_halo(alltoallv(records, owners[records[:, 0].astype(np.int64)]), received, snapshot, ptype,
                          fields, layout)
            continue
        if membership == "group":
            particle, local_halo = members_by_range(starts, counts, a, b)
        else:
            particle, local_halo = search.members(values["Coordinates"], float(snapshot.units.length_to_kpc(1.0)))
        records = records_of(needed[local_halo].astype(np.float64), a + particle,
                             {name: values[name][particle] for name, _, _ in layout}, layout)
        destinations = owners[needed[local_halo]]
        del values, particle, local_halo  # only the records travel on
        _file_by_halo(alltoallv(records, destinations), received, snapshot, ptype, fields, layout)
    if membership == "ids":
        directory.check_found(COMM.allreduce(found), int(counts.sum()), snapshot, ptype)
    return received


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
        records = records_of(particle_ids.view(np.float64), np.arange(first, first + len(particle_ids)), values,
                             layout)
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


class Received:
    """One halo's particles of one type as they arrived, in pieces: the global index and each travelling field in
    the snapshot's dtype and code units. `fields()` turns them into the physical fields the offsets read gives
    (the same conversion of the same values, in global index order: bit-identical maps)."""

    def __init__(self, snapshot: Snapshot, ptype: int, fields, layout):
        self.snapshot, self.ptype, self.names, self.layout = snapshot, ptype, tuple(fields), layout
        self.index, self.pieces = [], []

    def add(self, records: np.ndarray) -> None:
        """Keep one round's records of this halo (halo, index, fields...) in their compact form."""
        self.index.append(records[:, 1].astype(np.int64))
        column, piece = 2, {}
        for name, ncol, dtype in self.layout:
            values = _from_record_columns(records[:, column:column + ncol], dtype)
            piece[name] = values[:, 0] if ncol == 1 else values
            column += ncol
        self.pieces.append(piece)

    def fields(self) -> dict[str, np.ndarray]:
        """{field: physical values} in global index order."""
        order = np.argsort(np.concatenate(self.index), kind="stable")
        travelled = {name: np.concatenate([piece[name] for piece in self.pieces])[order] for name, _, _ in self.layout}
        out = {}
        for name in self.names:
            constant = self.snapshot.constant(self.ptype, name)
            raw = np.full(len(order), constant, np.float64) if constant is not None else travelled.pop(name)
            out[name] = self.snapshot.units.to_physical(name, raw)
        return out


def _file_by_halo(records: np.ndarray, received: dict, snapshot: Snapshot, ptype: int, fields, layout) -> None:
    """Add one round's received records to each of their halos' `Received`, so that the round's float64
    buffer is freed now."""
    if not len(records):
        return
    order = np.argsort(records[:, 0], kind="stable")  # no sorted copy of the records: one halo's rows at a time
    halos = records[order, 0]
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(halos)) + 1, [len(order)]])
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        halo = int(halos[lo])
        if halo not in received:
            received[halo] = Received(snapshot, ptype, fields, layout)
        received[halo].add(records[order[lo:hi]])
