"""VELOCIraptor catalogs (HDF5 output): `PREFIX.properties[.K]` with `PREFIX.catalog_groups[.K]`,
`PREFIX.catalog_particles[.K]` and `PREFIX.catalog_particles.unbound[.K]` beside it, K = 0 .. Num_of_files-1.

properties: one dataset per quantity (ID, hostHaloID, Xc, Yc, Zc, VXc, VYc, VZc, Mass_200crit, R_200crit,
...), `Num_of_files`, `Num_of_groups`, `Total_num_of_groups`; units in the `UnitInfo` attributes (stored as
text or numbers): Length_unit_to_kpc, Mass_unit_to_solarmass, Velocity_unit_to_kms and Comoving_or_Physical
(0: physical and h-free; 1: comoving, per h), the scale factor in `SimulationInfo`/ScaleFactor. The box,
cosmology and h come from the snapshot, whose time the catalog must be. Velocities are peculiar km/s.
catalog_groups: per object Group_Size (bound + unbound particles), Offset and Offset_unbound into that
file's catalog_particles and catalog_particles.unbound Particle_IDs.

Hosts only (hostHaloID = -1). VELOCIraptor gives each particle to one object, a host's list lacking its
substructures' particles; a host's members here are its own and those of every object whose hostHaloID is
its ID (the top-level host, as VELOCIraptor records it), as FoF membership would have them. M200c and R200c:
Mass_200crit, R_200crit; centre: Xc, Yc, Zc. Membership is by particle ID, counted as DM: the box must hold
DM alone.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from mpipaint.errors import InputError
from mpipaint.io.halo_catalog import CatalogKind, HaloCatalog, layout, require_snapshot_and_m200c
from mpipaint.io.hdf5 import attr_text, open_hdf5, require_dataset
from mpipaint.io.particle_types import DM, NTYPES

_NAME = re.compile(r"^(?P<prefix>.+)\.properties(\.(?P<index>\d+))?$")
UNITS = ("Length_unit_to_kpc", "Mass_unit_to_solarmass", "Velocity_unit_to_kms", "Comoving_or_Physical")
PROPERTIES = ("ID", "hostHaloID", "Xc", "Yc", "Zc", "Mass_200crit", "R_200crit")
VELOCITIES = ("VXc", "VYc", "VZc")
SCALE_FACTOR_RTOL = 1e-4


def _number(value) -> float:
    """A UnitInfo/SimulationInfo attribute, stored as a number or as text (b'1000.000000')."""
    return float(attr_text(value))


class VelociraptorCatalog:
    """The files of one VELOCIraptor output, found from its (first) properties file."""

    def __init__(self, path):
        path = Path(path)
        match = _NAME.match(path.name)
        if match is None:
            raise InputError(f"{path}: not a VELOCIraptor properties file name (PREFIX.properties[.K])")
        self.prefix = path.parent / match["prefix"]
        self.multi = match["index"] is not None
        first = self.file("properties", 0)
        with open_hdf5(first) as f:
            self.num_files = int(np.ravel(require_dataset(f, "Num_of_files")[()])[0])
            self.total = int(np.ravel(require_dataset(f, "Total_num_of_groups")[()])[0])
            info = f.get("UnitInfo")
            missing = [key for key in UNITS if info is None or key not in info.attrs]
            if missing:
                raise InputError(f"{first}: UnitInfo lacks {', '.join(missing)}: the catalog's units are unknown")
            self.units = {key: _number(info.attrs[key]) for key in UNITS}
            simulation = f.get("SimulationInfo")
            self.scale_factor = (_number(simulation.attrs["ScaleFactor"])
                                 if simulation is not None and "ScaleFactor" in simulation.attrs else None)
        if not self.multi and self.num_files != 1:
            raise InputError(f"{first}: Num_of_files is {self.num_files}, but the file has no .K suffix")

    def file(self, kind: str, k: int) -> Path:
        path = Path(f"{self.prefix}.{kind}" + (f".{k}" if self.multi else ""))
        if not path.is_file():
            raise InputError(f"{path}: VELOCIraptor file missing (Num_of_files of {self.prefix}.properties)")
        return path

    def _per_file(self, kind: str, names) -> dict[str, np.ndarray]:
        parts = {name: [] for name in names}
        for k in range(self.num_files):
            with open_hdf5(self.file(kind, k)) as f:
                here = int(np.ravel(require_dataset(f, "Num_of_groups")[()])[0])
                for name in names:
                    values = require_dataset(f, name)[()] if here or name in f else np.empty(0)
                    if len(values) != here:
                        raise InputError(f"{f.filename}: '{name}' has {len(values)} rows, Num_of_groups says {here}")
                    parts[name].append(values)
        return {name: np.concatenate(values) for name, values in parts.items()}

    def properties(self, names) -> dict[str, np.ndarray]:
        values = self._per_file("properties", names)
        if len(values[names[0]]) != self.total:
            raise InputError(f"{self.prefix}.properties: {len(values[names[0]])} objects over the files, "
                             f"Total_num_of_groups says {self.total}")
        return values

    def has(self, name: str) -> bool:
        with open_hdf5(self.file("properties", 0)) as f:
            return name in f

    def member_ids(self) -> "VelociraptorMembers":
        return VelociraptorMembers(self)


class VelociraptorMembers:
    """Every host's member IDs (its own bound and unbound particles, then each of its substructures'),
    hosts in the properties' order, concatenated: `read(lo, hi)`; read whole from the HDF5 lists."""

    def __init__(self, catalog: VelociraptorCatalog):
        self.catalog, self.path = catalog, Path(f"{catalog.prefix}.catalog_groups")
        properties = catalog.properties(("ID", "hostHaloID"))
        ids, host = properties["ID"].astype(np.int64), properties["hostHaloID"].astype(np.int64)
        lists = self._object_lists()
        if len(lists) != len(ids):
            raise InputError(f"{self.path}: lists {len(lists)} objects, {catalog.prefix}.properties {len(ids)}")
        top = np.where(host < 0, ids, host)
        hosts = np.flatnonzero(host < 0)
        where = {int(i): k for k, i in enumerate(ids[hosts])}
        unknown = [int(t) for t in top if int(t) not in where]
        if unknown:
            raise InputError(f"{catalog.prefix}.properties: hostHaloID {unknown[0]} names no host of the catalog")
        owner = np.array([where[int(t)] for t in top], dtype=np.int64)
        order = np.lexsort((np.arange(len(ids)), owner))  # each host's objects, itself first
        self._ids = (np.concatenate([lists[k] for k in order]) if len(order) else np.empty(0, np.uint64))
        self.host_ids = ids[hosts]
        self.counts = np.bincount(owner, weights=[len(v) for v in lists], minlength=len(hosts)).astype(np.int64)
        self.total = int(self.counts.sum())

    def _object_lists(self) -> list[np.ndarray]:
        """Each object's bound then unbound particle IDs, over the files in order."""
        lists = []
        for k in range(self.catalog.num_files):
            with open_hdf5(self.catalog.file("catalog_groups", k)) as g:
                size, offset, unbound_offset = (require_dataset(g, name)[()].astype(np.int64)
                                                for name in ("Group_Size", "Offset", "Offset_unbound"))
            with open_hdf5(self.catalog.file("catalog_particles", k)) as f:
                bound_ids = require_dataset(f, "Particle_IDs")[()]
            with open_hdf5(self.catalog.file("catalog_particles.unbound", k)) as f:
                unbound_ids = require_dataset(f, "Particle_IDs")[()]
            unbound = np.diff(np.append(unbound_offset, len(unbound_ids)))
            bound = size - unbound
            if (bound < 0).any() or (offset + bound > len(bound_ids)).any() or (unbound < 0).any():
                raise InputError(f"{self.catalog.file('catalog_groups', k)}: Group_Size, Offset and Offset_unbound "
                                 "reach past the particle lists beside it: files of two catalogs?")
            lists += [np.concatenate([bound_ids[o:o + b], unbound_ids[u:u + n]]).astype(np.uint64)
                      for o, b, u, n in zip(offset, bound, unbound_offset, unbound)]
        return lists

    def read(self, lo: int, hi: int) -> np.ndarray:
        return self._ids[lo:hi]


def read_velociraptor(path, snapshot, hosts_only: bool = True) -> HaloCatalog:
    """The host halos of a VELOCIraptor catalog in `snapshot`'s box, members by ID."""
    catalog = VelociraptorCatalog(path)
    if not hosts_only:
        raise InputError(f"{path}: VELOCIraptor substructures are part of their hosts here; only hosts are read")
    if (np.asarray(snapshot.header.num_part_total)[[t for t in range(NTYPES) if t != DM]] > 0).any():
        raise InputError(f"{path}: membership is counted as DM, but {snapshot.path} holds more than DM")
    a, h = snapshot.header.scale_factor, snapshot.header.hubble
    if catalog.scale_factor is not None and not np.isclose(catalog.scale_factor, a, rtol=SCALE_FACTOR_RTOL):
        raise InputError(f"{path}: catalog at a={catalog.scale_factor:.6g}, snapshot {snapshot.path} at a={a:.6g}")
    names = PROPERTIES + (VELOCITIES if catalog.has(VELOCITIES[0]) else ())
    values = catalog.properties(names)
    hosts = values["hostHaloID"] < 0
    comoving = catalog.units["Comoving_or_Physical"] != 0
    length = catalog.units["Length_unit_to_kpc"] * (a / h if comoving else 1.0)
    mass = catalog.units["Mass_unit_to_solarmass"] / (h if comoving else 1.0)
    members = catalog.member_ids()
    counts = np.zeros((int(hosts.sum()), NTYPES), np.int64)
    counts[:, DM] = members.counts
    starts = np.concatenate([[0], np.cumsum(members.counts)[:-1]]).astype(np.int64)
    velocity = (np.stack([values[c][hosts] for c in VELOCITIES], axis=1) * catalog.units["Velocity_unit_to_kms"]
                if VELOCITIES[0] in values else None)
    m200c = values["Mass_200crit"][hosts] * mass
    return HaloCatalog(Path(path), VELOCIRAPTOR.name, snapshot.cosmology, values["ID"][hosts].astype(np.int64),
                       np.stack([values[c][hosts] for c in ("Xc", "Yc", "Zc")], axis=1) * length, m200c,
                       values["R_200crit"][hosts] * length, m200c, "m200c", velocity_kms=velocity, counts=counts,
                       member_ranges=np.stack([starts, members.counts], axis=1), member_ids_catalog=Path(path))


def _mismatch(path: Path) -> str | None:
    found = layout(path)
    if found != "velociraptor properties":
        return f"{found}, not HDF5 with Total_num_of_groups and UnitInfo"
    return None if _NAME.match(path.name) else "not named PREFIX.properties[.K]"


def _read(path, snapshot, mass_column, hosts_only) -> HaloCatalog:
    require_snapshot_and_m200c(path, snapshot, mass_column, "a VELOCIraptor catalog's members are found in its "
                               "snapshot by ID")
    return read_velociraptor(path, snapshot, hosts_only)


VELOCIRAPTOR = CatalogKind("VELOCIraptor", _mismatch, _read, lambda path: VelociraptorCatalog(path).member_ids())
