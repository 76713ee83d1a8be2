"""Gadget-III's binary Subfind catalogs (P-Gadget3 `subfind.c`, read by Pylians' `readsubf`):
`groups_NNN/subhalo_tab_NNN.K` with `subhalo_ids_NNN.K`, K = 0 .. NTask-1, either byte order.

subhalo_tab: a 32-byte header (int32 Ngroups, TotNgroups, Nids; int64 TotNids; int32 NTask, Nsubgroups,
TotNsubgroups), then the file's groups, whole arrays one after another (uint32 GroupLen, GroupOffset; float32
GroupMass, GroupPos[3], Group_M_Mean200, Group_R_Mean200, Group_M_Crit200, Group_R_Crit200,
Group_M_TopHat200, Group_R_TopHat200; float32[3] velocity dispersions in runs that store them; uint32
ContaminationCount, float32 ContaminationMass, uint32 GroupNsubs, GroupFirstSub), then the file's subhalos
(uint32 SubLen, SubOffset, SubParent; float32 SubMass, SubPos[3], SubVel[3], SubCM[3], SubSpin[3],
SubVelDisp, SubVmax, SubVmaxRad, SubHalfMassRad; uint32/uint64 SubMostBoundID; uint32 SubGrNr; float32[6]
SubMassType in runs that store it). Which optional blocks and ID width a run wrote is told from the sizes
(the ID width from subhalo_ids). subhalo_ids has group_ids' layout (`io.gadget3_groups`): each group's
members, GroupOffset and GroupLen index them.

Halos are the FoF groups: M200c and R200c are Group_M_Crit200 and Group_R_Crit200, the centre the position
of the group's first subhalo (its potential minimum; GroupPos where it has none), members by particle ID as
for FoF, counted as DM (the group table gives no types: DM-only boxes). Velocities are not read: SubVel's
factors of a differ between Gadget-III versions and the file does not say which. Units are the snapshot's.
A groups_NNN/ holding both FoF and Subfind files is read as Subfind.
"""
from __future__ import annotations

import struct
from itertools import product
from pathlib import Path

import numpy as np

from mpipaint.errors import InputError
from mpipaint.io.gadget3_groups import (IDS_HEADER_BYTES, SUBFIND_TAB_NAME, MemberIDs, binary_catalog_kind,
                                       file_set, read_header)
from mpipaint.io.halo_catalog import HaloCatalog
from mpipaint.io.particle_types import DM, NTYPES

HEADER = "iiiqiii"  # Ngroups, TotNgroups, Nids, TotNids, NTask, Nsubgroups, TotNsubgroups
HEADER_BYTES = struct.calcsize("<" + HEADER)
GROUP_BLOCKS = (("GroupLen", "u4", 1), ("GroupOffset", "u4", 1), ("GroupMass", "f4", 1), ("GroupPos", "f4", 3),
                ("Group_M_Mean200", "f4", 1), ("Group_R_Mean200", "f4", 1), ("Group_M_Crit200", "f4", 1),
                ("Group_R_Crit200", "f4", 1), ("Group_M_TopHat200", "f4", 1), ("Group_R_TopHat200", "f4", 1))
GROUP_VELDISP = (("Group_VelDisp", "f4", 3),)
GROUP_TAIL = (("GroupContaminationCount", "u4", 1), ("GroupContaminationMass", "f4", 1), ("GroupNsubs", "u4", 1),
              ("GroupFirstSub", "u4", 1))
SUB_BLOCKS = (("SubLen", "u4", 1), ("SubOffset", "u4", 1), ("SubParent", "u4", 1), ("SubMass", "f4", 1),
              ("SubPos", "f4", 3), ("SubVel", "f4", 3), ("SubCM", "f4", 3), ("SubSpin", "f4", 3),
              ("SubVelDisp", "f4", 1), ("SubVmax", "f4", 1), ("SubVmaxRad", "f4", 1), ("SubHalfMassRad", "f4", 1))
SUB_MASSTAB = (("SubMassType", "f4", NTYPES),)


def _width(blocks) -> int:
    return sum(np.dtype(kind).itemsize * n for _, kind, n in blocks)


def layouts(id_bytes: int):
    """(group blocks, subhalo blocks) of every layout P-Gadget3 writes, for IDs of `id_bytes`."""
    for veldisp, masstab in product((False, True), repeat=2):
        subs = SUB_BLOCKS + (("SubMostBoundID", f"u{id_bytes}", 1), ("SubGrNr", "u4", 1))
        yield (GROUP_BLOCKS + (GROUP_VELDISP if veldisp else ()) + GROUP_TAIL,
               subs + (SUB_MASSTAB if masstab else ()))


def read_tab_header(path: Path) -> tuple[str, tuple]:
    """(byte order, header values) of a subhalo_tab file: the order in which the counts are plausible and
    some layout fits the file's size."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        raw = handle.read(HEADER_BYTES)
    if len(raw) == HEADER_BYTES:
        for order in ("<", ">"):
            values = struct.unpack(order + HEADER, raw)
            ngroups, total_groups, _, _, ntask, nsubs, total_subs = values
            plausible = 0 <= ngroups <= total_groups and 0 <= nsubs <= total_subs and ntask >= 1
            if plausible and any(size - HEADER_BYTES == ngroups * _width(g) + nsubs * _width(s)
                                 for id_bytes in (4, 8) for g, s in layouts(id_bytes)):
                return order, values
    raise InputError(f"{path}: not a Gadget-III subhalo_tab file: its header (Ngroups, TotNgroups, Nids, TotNids, "
                     f"NTask, Nsubgroups, TotNsubgroups) agrees with its size of {size} bytes in neither byte order")


class Gadget3Subfind:
    """The Subfind groups and subhalos of one snapshot: every subhalo_tab file of `groups_NNN/`."""

    def __init__(self, path):
        self.directory, self.tab_files, self.ids_files = file_set(path, SUBFIND_TAB_NAME, "subhalo_ids",
                                                                  lambda tab: read_tab_header(tab)[1][4])
        _, first = read_tab_header(self.tab_files[0])
        self.num_groups, self.num_ids, self.num_subs = first[1], first[3], first[6]

    def _id_bytes(self) -> int:
        for file in self.ids_files:
            header = read_header(file, ids_file=True)
            if header.nids:
                return (file.stat().st_size - IDS_HEADER_BYTES) // header.nids
        return 4

    def tables(self) -> tuple[dict, dict]:
        """({group field: values}, {subhalo field: values}) over all files, native byte order."""
        id_bytes = self._id_bytes()
        groups, subs = {}, {}
        for file in self.tab_files:
            order, (ngroups, total_groups, _, total_ids, _, nsubs, total_subs) = read_tab_header(file)
            if (total_groups, total_ids, total_subs) != (self.num_groups, self.num_ids, self.num_subs):
                raise InputError(f"{file}: header totals differ from {self.tab_files[0]}'s: files of two catalogs?")
            size = file.stat().st_size - HEADER_BYTES
            fitting = [(g, s) for g, s in layouts(id_bytes) if size == ngroups * _width(g) + nsubs * _width(s)]
            if not fitting:
                raise InputError(f"{file}: {size} bytes of data fit no Subfind layout for {ngroups} groups and "
                                 f"{nsubs} subhalos with {id_bytes}-byte IDs")
            group_blocks, sub_blocks = fitting[0]
            with open(file, "rb") as handle:
                handle.seek(HEADER_BYTES)
                for blocks, count, out in ((group_blocks, ngroups, groups), (sub_blocks, nsubs, subs)):
                    for name, kind, width in blocks:
                        values = np.fromfile(handle, np.dtype(order + kind), count * width).astype(kind)
                        out.setdefault(name, []).append(values.reshape(count, width) if width > 1 else values)
        return ({name: np.concatenate(v) for name, v in groups.items()},
                {name: np.concatenate(v) for name, v in subs.items()})

    def halos(self, snapshot) -> HaloCatalog:
        """Every FoF group: M200c, R200c, centre at its first subhalo, members by ID (`member_ids`)."""
        groups, subs = self.tables()
        lengths, offsets = groups["GroupLen"].astype(np.int64), groups["GroupOffset"].astype(np.int64)
        if len(lengths) != self.num_groups or (offsets + lengths > self.num_ids).any():
            raise InputError(f"{self.directory}: {len(lengths)} groups reaching member {int((offsets + lengths).max())}"
                             f", headers say {self.num_groups} groups of {self.num_ids} members")
        if (np.asarray(snapshot.header.num_part_total)[[t for t in range(NTYPES) if t != DM]] > 0).any():
            raise InputError(f"{self.directory}: Subfind's group_tab gives no members per type, and {snapshot.path} "
                             "holds more than DM")
        units = snapshot.units
        first = groups["GroupFirstSub"].astype(np.int64)
        has_sub = (groups["GroupNsubs"] > 0) & (first < len(subs.get("SubPos", ())))
        centres = np.where(has_sub[:, None], subs["SubPos"][np.where(has_sub, first, 0)] if self.num_subs else 0,
                           groups["GroupPos"])
        counts = np.zeros((self.num_groups, NTYPES), np.int64)
        counts[:, DM] = lengths
        m200c = units.to_physical("Group_M_Crit200", groups["Group_M_Crit200"])
        return HaloCatalog(self.directory, GADGET3_SUBFIND.name, snapshot.cosmology, np.arange(self.num_groups),
                           units.to_physical("GroupPos", centres), m200c,
                           units.to_physical("Group_R_Crit200", groups["Group_R_Crit200"]), m200c, "m200c",
                           counts=counts, member_ranges=np.stack([offsets, lengths], axis=1),
                           member_ids_catalog=self.directory)

    def member_ids(self) -> MemberIDs:
        return MemberIDs(self.ids_files, self.num_ids)


GADGET3_SUBFIND = binary_catalog_kind("Gadget-III Subfind catalog", SUBFIND_TAB_NAME, read_tab_header,
                                      Gadget3Subfind)
