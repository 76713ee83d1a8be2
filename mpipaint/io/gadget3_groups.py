"""Gadget-III's binary FoF catalogs (P-Gadget3 `fof.c`, the format of Quijote, read by Pylians' `readfof`):
`groups_NNN/group_tab_NNN.K` with `group_ids_NNN.K`, K = 0 .. NTask-1, either byte order.

group_tab: a 24-byte header (int32 Ngroups, TotNgroups, Nids; int64 TotNids; int32 NTask), then, for the
file's Ngroups groups, whole arrays one after another: int32 GroupLen, int32 GroupOffset (first member in
the concatenated ID lists), float32 GroupMass, float32[3] GroupPos, float32[3] GroupVel, int32[6]
GroupLenType, float32[6] GroupMassType and, in runs with star formation, float32 GroupSFR (the file's size
tells which). group_ids: the same header plus int32 Offset (this file's first position in the
concatenated list), then Nids member IDs, uint32 or uint64 (the file's size tells which), group by group.

Units are the snapshot's (Gadget's defaults: ckpc/h, 1e10 Msun/h, GroupVel = peculiar velocity times a).
Membership is by particle ID: Gadget-III boxes are not stored in group order, so group deposition reads
them by slabs and finds each particle's group by its ID (`halos.slabs`). A FoF catalog has no spherical-
overdensity masses: the FoF mass (GroupMass) stands in for M200c, R200c follows from it, the centre is
GroupPos; the halo table and the painted file say so (`m200c_definition`).
"""
from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mpipaint.errors import InputError
from mpipaint.io.halo_catalog import CatalogKind, HaloCatalog, layout, require_snapshot_and_m200c
from mpipaint.io.particle_types import NTYPES

HEADER = "iiiqi"  # Ngroups, TotNgroups, Nids, TotNids, NTask
HEADER_BYTES = struct.calcsize("<" + HEADER)
IDS_HEADER_BYTES = HEADER_BYTES + 4  # + Offset
GROUP_FIELDS = (("GroupLen", "i4", 1), ("GroupOffset", "i4", 1), ("GroupMass", "f4", 1), ("GroupPos", "f4", 3),
                ("GroupVel", "f4", 3), ("GroupLenType", "i4", NTYPES), ("GroupMassType", "f4", NTYPES))
SFR_FIELD = ("GroupSFR", "f4", 1)
M200C_DEFINITION = "FoF mass (GroupMass of Gadget-III's group_tab) standing in for M200c; R200c from it"
_TAB_NAME = re.compile(r"^group_tab_(?P<snap>\d{3})\.(?P<index>\d+)$")
SUBFIND_TAB_NAME = re.compile(r"^subhalo_tab_(?P<snap>\d{3})\.(?P<index>\d+)$")  # `io.gadget3_subfind`


@dataclass(frozen=True)
class FileHeader:
    order: str  # '<' or '>'
    ngroups: int
    total_groups: int
    nids: int
    total_ids: int
    num_files: int


def _bytes_per_group(fields) -> int:
    return sum(np.dtype(kind).itemsize * width for _, kind, width in fields)


def read_header(path: Path, ids_file: bool = False) -> FileHeader:
    """The header of one group_tab (or group_ids) file, in the byte order that makes it consistent with the
    file's size; an error naming the file where neither does."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        raw = handle.read(IDS_HEADER_BYTES if ids_file else HEADER_BYTES)
    if len(raw) < (IDS_HEADER_BYTES if ids_file else HEADER_BYTES):
        raise InputError(f"{path}: {size} bytes, shorter than a Gadget-III group file's header")
    for order in ("<", ">"):
        values = struct.unpack(order + HEADER, raw[:HEADER_BYTES])
        header = FileHeader(order, *values)
        if not (0 <= header.ngroups <= header.total_groups and 0 <= header.nids <= header.total_ids
                and header.num_files >= 1):
            continue
        if ids_file:
            if size - IDS_HEADER_BYTES in (4 * header.nids, 8 * header.nids):
                return header
        elif size - HEADER_BYTES in (header.ngroups * _bytes_per_group(GROUP_FIELDS),
                                     header.ngroups * _bytes_per_group(GROUP_FIELDS + (SFR_FIELD,))):
            return header
    what = "group_ids" if ids_file else "group_tab"
    raise InputError(f"{path}: not a Gadget-III {what} file: its header (Ngroups, TotNgroups, Nids, TotNids, "
                     f"NTask) agrees with its size of {size} bytes in neither byte order")


def files_label(tab_name: re.Pattern) -> str:
    """How messages name the files a pattern matches: group_tab_NNN.K."""
    return tab_name.pattern[1:tab_name.pattern.index("(")] + "NNN.K"


def file_set(path, tab_name: re.Pattern, ids_stem: str, num_files) -> tuple[Path, list[Path], list[Path]]:
    """(directory, tab files, ID files) of a Gadget-III catalog at `path` (its groups_NNN/ or one file of it):
    the files `tab_name` names, K = 0 .. num_files(first tab file) - 1, and `ids_stem`_NNN.K beside each."""
    path = Path(path)
    directory = path if path.is_dir() else path.parent
    tabs = [p for p in directory.iterdir() if tab_name.match(p.name)]
    if not tabs:
        raise InputError(f"{path}: no {files_label(tab_name)} files")
    match = tab_name.match(tabs[0].name)
    stem, snap = match.group(0)[:match.start("snap")], match["snap"]
    count = num_files(directory / f"{stem}{snap}.0")
    tab_files = [directory / f"{stem}{snap}.{k}" for k in range(count)]
    ids_files = [directory / f"{ids_stem}_{snap}.{k}" for k in range(count)]
    for file in tab_files + ids_files:
        if not file.is_file():
            raise InputError(f"{file}: catalog file missing (NTask = {count} in {tab_files[0]})")
    return directory, tab_files, ids_files


class Gadget3FoF:
    """The FoF groups of one snapshot: every group_tab file of `groups_NNN/` and its group_ids files."""

    def __init__(self, path):
        self.directory, self.tab_files, self.ids_files = file_set(path, _TAB_NAME, "group_ids",
                                                                  lambda tab: read_header(tab).num_files)
        first = read_header(self.tab_files[0])
        self.num_groups, self.num_ids, self.order = first.total_groups, first.total_ids, first.order

    def groups(self) -> dict[str, np.ndarray]:
        """Every group field over all group_tab files, in the files' byte order turned native."""
        parts, counted = {name: [] for name, _, _ in GROUP_FIELDS}, 0
        for file in self.tab_files:
            header = self._consistent(read_header(file), file)
            fields = GROUP_FIELDS
            if file.stat().st_size - HEADER_BYTES != header.ngroups * _bytes_per_group(fields):
                fields = GROUP_FIELDS + (SFR_FIELD,)
            with open(file, "rb") as handle:
                handle.seek(HEADER_BYTES)
                for name, kind, width in fields:
                    values = np.fromfile(handle, np.dtype(header.order + kind), header.ngroups * width)
                    if name in parts:
                        parts[name].append(values.astype(kind).reshape(header.ngroups, width).squeeze(axis=1)
                                           if width == 1 else values.astype(kind).reshape(header.ngroups, width))
            counted += header.ngroups
        if counted != self.num_groups:
            raise InputError(f"{self.directory}: the group_tab files hold {counted} groups, their headers' "
                             f"TotNgroups says {self.num_groups}")
        return {name: np.concatenate(values) if values else np.empty(0) for name, values in parts.items()}

    def _consistent(self, header: FileHeader, file: Path) -> FileHeader:
        if (header.total_groups, header.total_ids, header.num_files) != (self.num_groups, self.num_ids,
                                                                       len(self.tab_files)):
            raise InputError(f"{file}: header totals (TotNgroups {header.total_groups}, TotNids "
                             f"{header.total_ids}, NTask {header.num_files}) differ from {self.tab_files[0]}'s: "
                             "files of two catalogs in one directory?")
        return header

    def check(self, groups: dict, snapshot) -> None:
        """Refuse a catalog that cannot describe `snapshot`: members counted per type must make the group's
        length, the ID lists must hold every member, groups must not reach past the IDs or hold more
        particles of a type than the snapshot does."""
        lengths, offsets, by_type = groups["GroupLen"], groups["GroupOffset"], groups["GroupLenType"]
        rules = (("a negative GroupLen or GroupOffset", (lengths < 0) | (offsets < 0)),
                 ("GroupLenType summing to another length than GroupLen", by_type.sum(axis=1) != lengths),
                 ("members past the end of the ID lists", offsets.astype(np.int64) + lengths > self.num_ids))
        for what, bad in rules:
            if bad.any():
                group = int(np.argmax(bad))
                raise InputError(f"{self.directory}: group {group} has {what} (GroupLen {lengths[group]}, "
                                 f"GroupOffset {offsets[group]}, TotNids {self.num_ids}; {int(bad.sum())} such "
                                 "groups)")
        if int(lengths.sum()) != self.num_ids:
            raise InputError(f"{self.directory}: GroupLen sums to {int(lengths.sum())}, TotNids says {self.num_ids}")
        too_many = by_type.sum(axis=0) > np.asarray(snapshot.header.num_part_total)
        if too_many.any():
            ptype = int(np.argmax(too_many))
            raise InputError(f"{self.directory}: groups hold {int(by_type[:, ptype].sum())} PartType{ptype} "
                             f"particles, but snapshot {snapshot.path} has {snapshot.num_particles(ptype)}: "
                             "the catalog of another run?")

    def halos(self, snapshot) -> HaloCatalog:
        """Every group in physical units, membership by ID (`member_ids`)."""
        groups = self.groups()
        self.check(groups, snapshot)
        units = snapshot.units
        mass = units.to_physical("GroupMass", groups["GroupMass"])
        counts = groups["GroupLenType"].astype(np.int64)
        ranges = np.stack([groups["GroupOffset"].astype(np.int64), groups["GroupLen"].astype(np.int64)], axis=1)
        return HaloCatalog(self.directory, GADGET3_FOF.name, snapshot.cosmology, np.arange(self.num_groups),
                           units.to_physical("GroupPos", groups["GroupPos"]), mass,
                           snapshot.cosmology.r200c_kpc(mass), mass, "m200c",
                           velocity_kms=units.to_physical("GroupVel", groups["GroupVel"]),
                           counts=counts, member_ranges=ranges, member_ids_catalog=self.directory,
                           m200c_definition=M200C_DEFINITION)

    def member_ids(self) -> "MemberIDs":
        return MemberIDs(self.ids_files, self.num_ids)


class MemberIDs:
    """The concatenated member-ID lists of a catalog's group_ids files: `read(lo, hi)` gives positions
    [lo, hi) as uint64, seeking into the files that hold them."""

    def __init__(self, files, total: int):
        self.files, self.total = [Path(f) for f in files], int(total)
        self.path = self.files[0].parent
        self._layout = None

    def _files(self) -> list[tuple[Path, FileHeader, int, np.dtype]]:
        """(file, header, first position, ID dtype) per file, checked once."""
        if self._layout is None:
            layout, position = [], 0
            for file in self.files:
                header = read_header(file, ids_file=True)
                with open(file, "rb") as handle:
                    handle.seek(HEADER_BYTES)
                    offset = struct.unpack(header.order + "i", handle.read(4))[0]
                if header.total_ids != self.total or (offset != position and header.nids):
                    raise InputError(f"{file}: member IDs from position {offset} of {header.total_ids}, but the "
                                     f"files before it end at {position} of {self.total}: ID files of another "
                                     "catalog?")
                width = (file.stat().st_size - IDS_HEADER_BYTES) // max(header.nids, 1)
                layout.append((file, header, position, np.dtype(f"{header.order}u{width if header.nids else 8}")))
                position += header.nids
            if position != self.total:
                raise InputError(f"{self.files[0].parent}: the group_ids files hold {position} IDs, TotNids says "
                                 f"{self.total}")
            self._layout = layout
        return self._layout

    def read(self, lo: int, hi: int) -> np.ndarray:
        out = [np.empty(0, np.uint64)]
        for file, header, start, dtype in self._files():
            a, b = max(lo, start), min(hi, start + header.nids)
            if a < b:
                with open(file, "rb") as handle:
                    handle.seek(IDS_HEADER_BYTES + (a - start) * dtype.itemsize)
                    out.append(np.fromfile(handle, dtype, b - a).astype(np.uint64))
        return np.concatenate(out)


def binary_catalog_kind(name: str, tab_name: re.Pattern, check_header, catalog, beside=None) -> CatalogKind:
    """A Gadget-III binary catalog kind: recognised as a directory of (or one of) the files `tab_name` names
    whose first header `check_header` accepts, unless files `beside` names lie there too (a kind read in
    preference); read by `catalog(path).halos(snapshot)`, member IDs by `catalog(path).member_ids()`."""
    def mismatch(path: Path) -> str | None:
        tabs = ([p for p in path.iterdir() if tab_name.match(p.name)] if path.is_dir()
                else [path] if tab_name.match(path.name) else [])
        files = files_label(tab_name)
        if not tabs:
            found = layout(path)
            return f"{found} without {files} files" if found == "directory" else f"{found}, not a {files}"
        if beside is not None and any(beside.match(p.name) for p in tabs[0].parent.iterdir()):
            return f"{files_label(beside)} files lie beside these: the directory is read as their catalog"
        try:
            check_header(tabs[0])
        except InputError as exc:
            return str(exc)
        return None

    def read(path, snapshot, mass_column, hosts_only) -> HaloCatalog:
        require_snapshot_and_m200c(path, snapshot, mass_column, "a Gadget-III catalog's code units are its "
                                   "snapshot's and its members are found there by ID")
        return catalog(path).halos(snapshot)

    return CatalogKind(name, mismatch, read, lambda path: catalog(path).member_ids())


GADGET3_FOF = binary_catalog_kind("Gadget-III FoF catalog", _TAB_NAME, read_header, Gadget3FoF, SUBFIND_TAB_NAME)
