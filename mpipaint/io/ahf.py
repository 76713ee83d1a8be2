"""AHF (the Amiga Halo Finder) catalogs: `PREFIX.AHF_halos` with its `PREFIX.AHF_particles` beside it.

AHF_halos is text, one halo per line, its columns named by the first line (`#ID(1) hostHalo(2)
numSubStruct(3) Mvir(4) npart(5) Xc(6) Yc(7) Zc(8) VXc(9) VYc(10) VZc(11) Rvir(12) ...`, read by name, any
case, `(index)` suffixes dropped). Units as AHF writes them for cosmological runs: positions and radii
comoving kpc/h, masses Msun/h, velocities peculiar km/s. Mvir is the mass inside the overdensity the run was
set to (AHF.input's VirialOverdensity and UseRhoBack; 200 and 0 make it M200c): the file does not say, so
it stands in for M200c and is named so (`m200c_definition`). Centre: Xc, Yc, Zc. Hosts only by default
(hostHalo = -1). AHF_particles: the number of halos; then per halo, in AHF_halos' order, a line with its
particle count (and, in AHF >= 1.0, its ID), followed by that many lines of particle ID (and AHF's type:
0 gas, 1 DM, 4 stars, 5 black holes, Gadget's numbering). IDs are the snapshot's ParticleIDs (AHF run on
Gadget-format input); a halo's particles include its subhaloes', so a particle may belong to several
halos. The box and cosmology come from the snapshot.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mpipaint import units as u
from mpipaint.errors import InputError
from mpipaint.io.halo_catalog import CatalogKind, HaloCatalog, layout, require_snapshot_and_m200c
from mpipaint.io.halolists import header_naming
from mpipaint.io.particle_types import DM, NTYPES

SUFFIX = ".AHF_halos"
PARTICLES_SUFFIX = ".AHF_particles"
LENGTH, MASS = "ckpc/h", "Msun/h"
COLUMNS = ("id", "hosthalo", "mvir", "npart", "xc", "yc", "zc")
VELOCITIES = ("vxc", "vyc", "vzc")
M200C_DEFINITION = ("AHF's Mvir (inside the overdensity the AHF run was set to: VirialOverdensity and UseRhoBack "
                    "in its AHF.input; 200 and 0 make it M200c) standing in for M200c; R200c from it")


def particles_file(halos_file: Path) -> Path:
    return halos_file.with_name(halos_file.name[:-len(SUFFIX)] + PARTICLES_SUFFIX)


def read_ahf_halos(path: Path) -> dict[str, np.ndarray]:
    """The columns of an AHF_halos file by their lower-case names (AHF >= 1.0 writes an empty first name)."""
    names = header_naming(path, COLUMNS)
    if names is None:
        raise InputError(f"{path}: the first line names no columns {', '.join(COLUMNS)}: not an AHF_halos file")
    names = [name for name in names if name]
    try:
        data = pd.read_csv(path, sep=r"\s+", comment="#", header=None, dtype=np.float64)
    except (ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"{path}: unreadable rows: {exc}") from None
    if len(data) and data.shape[1] != len(names):
        raise InputError(f"{path}: rows hold {data.shape[1]} values, the column header names {len(names)}")
    return {name: data[k].to_numpy() if len(data) else np.empty(0) for k, name in enumerate(names)}


class AHFMembers:
    """The member IDs of every halo of an AHF_particles file, concatenated in AHF_halos' order (`read(lo,
    hi)`), with each member's type; the file is text, parsed once where it is first needed."""

    def __init__(self, path: Path, halo_ids, npart):
        self.path, self.halo_ids, self.npart = Path(path), np.asarray(halo_ids, np.int64), np.asarray(npart, np.int64)
        self.total = int(self.npart.sum())
        self._ids, self._types = None, None

    def _parse(self) -> None:
        if not self.path.is_file():
            raise InputError(f"{self.path}: AHF_particles file missing (membership of the AHF_halos beside it)")
        try:
            rows = pd.read_csv(self.path, sep=r"\s+", header=None, names=[0, 1], dtype=np.float64)
        except (ValueError, pd.errors.ParserError) as exc:
            raise InputError(f"{self.path}: unreadable rows: {exc}") from None
        first, second = rows[0].to_numpy(), rows[1].to_numpy()
        if not len(first) or first[0] != len(self.npart):
            raise InputError(f"{self.path}: begins with {first[0] if len(first) else 'nothing'} halos, the "
                             f"AHF_halos beside it lists {len(self.npart)}: files of two catalogs?")
        heads = 1 + np.arange(len(self.npart)) + np.concatenate([[0], np.cumsum(self.npart)[:-1]])
        if len(first) != 1 + len(self.npart) + self.total or not np.array_equal(first[heads], self.npart):
            raise InputError(f"{self.path}: halo particle counts differ from the npart column of the AHF_halos "
                             "beside it: files of two catalogs?")
        if np.isfinite(second[heads]).all() and not np.array_equal(second[heads], self.halo_ids):
            halo = int(np.argmax(second[heads] != self.halo_ids))
            raise InputError(f"{self.path}: halo {halo} has ID {second[heads][halo]:.0f} here, "
                             f"{self.halo_ids[halo]} in the AHF_halos beside it")
        member = np.ones(len(first), bool)
        member[0], member[heads] = False, False
        self._ids = first[member].astype(np.uint64)
        types = second[member]
        self._types = types.astype(np.int64) if np.isfinite(types).all() else None

    def read(self, lo: int, hi: int) -> np.ndarray:
        if self._ids is None:
            self._parse()
        return self._ids[lo:hi]

    def counts_by_type(self) -> np.ndarray | None:
        """(halos, NTYPES) member counts per type, None where the file gives no types."""
        self.read(0, 0)
        if self._types is None:
            return None
        halo = np.repeat(np.arange(len(self.npart)), self.npart)
        if ((self._types < 0) | (self._types >= NTYPES)).any():
            raise InputError(f"{self.path}: particle types outside 0..{NTYPES - 1}")
        counts = np.zeros((len(self.npart), NTYPES), np.int64)
        np.add.at(counts, (halo, self._types), 1)
        return counts


def read_ahf(path, snapshot, hosts_only: bool = True) -> HaloCatalog:
    """Halos of an AHF_halos file in `snapshot`'s box, members from the AHF_particles beside it."""
    path = Path(path)
    column = read_ahf_halos(path)
    a, h = snapshot.header.scale_factor, snapshot.header.hubble
    members = AHFMembers(particles_file(path), column["id"], column["npart"])
    counts = members.counts_by_type()
    if counts is None:  # AHF before 1.0 wrote no types: only a box of one particle type can be read
        if (np.asarray(snapshot.header.num_part_total)[[t for t in range(NTYPES) if t != DM]] > 0).any():
            raise InputError(f"{members.path}: lists no particle types, and {snapshot.path} holds more than DM")
        counts = np.zeros((len(column["id"]), NTYPES), np.int64)
        counts[:, DM] = column["npart"]
    starts = np.concatenate([[0], np.cumsum(column["npart"].astype(np.int64))[:-1]])
    keep = column["hosthalo"] < 0 if hosts_only else np.ones(len(column["id"]), bool)
    if hosts_only and (column["hosthalo"] >= 0).any() and not keep.any():
        raise InputError(f"{path}: no halo has hostHalo = -1: no hosts")
    mass = u.mass_to_msun(column["mvir"][keep], MASS, h)
    velocity = (np.stack([column[c][keep] for c in VELOCITIES], axis=1)
                if set(VELOCITIES) <= set(column) else None)
    return HaloCatalog(path, AHF.name, snapshot.cosmology, column["id"][keep].astype(np.int64),
                       u.length_to_kpc(np.stack([column[c][keep] for c in ("xc", "yc", "zc")], axis=1), LENGTH, a, h),
                       mass, snapshot.cosmology.r200c_kpc(mass), mass, "m200c", velocity_kms=velocity,
                       counts=counts[keep], member_ranges=np.stack([starts[keep], column["npart"][keep]], axis=1)
                       .astype(np.int64), member_ids_catalog=path, m200c_definition=M200C_DEFINITION)


def _mismatch(path: Path) -> str | None:
    found = layout(path)
    if found != "header text" or not path.name.endswith(SUFFIX):
        return f"{found}, not a '#'-headed *{SUFFIX} file"
    return None if header_naming(path, COLUMNS) else f"its first line names no columns {', '.join(COLUMNS)}"


def _read(path, snapshot, mass_column, hosts_only) -> HaloCatalog:
    require_snapshot_and_m200c(path, snapshot, mass_column, "an AHF catalog carries no cosmology or box")
    return read_ahf(path, snapshot, hosts_only)


def _members(path: Path) -> AHFMembers:
    column = read_ahf_halos(path)
    return AHFMembers(particles_file(path), column["id"], column["npart"])


AHF = CatalogKind("AHF", _mismatch, _read, _members)
