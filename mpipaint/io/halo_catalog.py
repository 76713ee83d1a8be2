"""The one type every halo catalog is read into (`io.halo_catalog_kinds` chooses the reader), and what a
catalog kind declares: a module that imports no reader, so readers and the registry both take it from here."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import h5py
import numpy as np

from mpipaint.cosmology import Cosmology
from mpipaint.errors import InputError
from mpipaint.io.hdf5 import attr_text, open_hdf5

BINARY_PROBE_BYTES = 1024
BOX_TOLERANCE = 1e-3  # fraction of the box side a centre may lie outside it (round-off of wrapped positions)


@dataclass(frozen=True)
class HaloCatalog:
    """Halos of one snapshot from a catalog of any kind, in physical units.

    ids; centres [kpc]; M200c [Msun] and R200c [kpc]; the mass a cut uses [Msun] and its name; peculiar
    velocities [km/s] where the catalog has them; particle membership where it has it (`group` deposition),
    else None (`cube` deposition): by snapshot order (first particle and count per type, -1 / 0 for none) or by
    particle ID (`member_ranges`: first position and length in the concatenated member-ID lists of the
    catalog at `member_ids_catalog`, with `counts` per type); the matched DMO twin (-1: none); the snapshot number each row names
    where the catalog records one; what the m200c column means where it is not M200c (`m200c_definition`);
    the particle set the offsets index where it is the catalog's own (`offsets_of`: AbacusSummit subsamples)."""

    path: Path
    kind: str
    cosmology: Cosmology
    halo_id: np.ndarray
    centre_kpc: np.ndarray
    m200c_msun: np.ndarray
    r200c_kpc: np.ndarray
    cut_mass_msun: np.ndarray
    mass_column: str
    velocity_kms: np.ndarray | None = None
    offsets: np.ndarray | None = None  # (N, NTYPES) int64
    counts: np.ndarray | None = None  # (N, NTYPES) int64
    dmo_halo_id: np.ndarray | None = None
    snapshot: np.ndarray | None = None
    member_ranges: np.ndarray | None = None  # (N, 2) int64
    member_ids_catalog: Path | None = None
    m200c_definition: str | None = None
    offsets_of: Path | None = None  # where offsets index a particle set of the catalog's own (not the box's)

    def __post_init__(self):
        """Refuse what would paint wrong numbers without a word: non-finite centres or masses, negative
        masses, halos repeated, centres outside the box by more than BOX_TOLERANCE of its side."""
        box = self.cosmology.box_size_kpc
        rules = (("a non-finite centre", ~np.isfinite(self.centre_kpc).all(axis=1)),
                 ("a non-finite or negative mass", ~(np.isfinite(self.m200c_msun) & (self.m200c_msun >= 0)
                                                     & np.isfinite(self.cut_mass_msun) & (self.cut_mass_msun >= 0))),
                 ("a centre outside the box", ((self.centre_kpc < -BOX_TOLERANCE * box)
                                               | (self.centre_kpc > (1 + BOX_TOLERANCE) * box)).any(axis=1)),
                 ("the id of an earlier halo", _repeated(self.halo_id if self.snapshot is None
                                                         else np.stack([self.snapshot, self.halo_id], axis=1))))
        for what, bad in rules:
            if bad.any():
                row = int(np.argmax(bad))
                raise InputError(f"{self.path}: halo {self.halo_id[row]} (row {row} of its halos) has {what} "
                                 f"(centre {self.centre_kpc[row].tolist()} kpc, M200c {self.m200c_msun[row]:.4g} "
                                 f"Msun, box {box:.6g} kpc; {int(bad.sum())} such rows)")

    def __len__(self) -> int:
        return len(self.halo_id)

    @property
    def has_membership(self) -> bool:
        return self.counts is not None


def _repeated(ids) -> np.ndarray:
    """Per element (row of a 2-D array): whether an earlier one has the same value."""
    seen = np.zeros(len(ids), bool)
    _, first = np.unique(ids, return_index=True, axis=0 if np.ndim(ids) > 1 else None)
    seen[first] = True
    return ~seen


@dataclass(frozen=True)
class CatalogKind:
    """One kind of halo catalog: its name, why a path is not of it (`mismatch` gives None for a path it
    recognises from its content, else the reason) and its reader, `read(path, snapshot, mass_column,
    hosts_only)` -> HaloCatalog (snapshot: the io.snapshot.Snapshot the halos belong to, or None) and, for
    kinds whose membership is by particle ID, how its member-ID lists are opened."""

    name: str
    mismatch: Callable[[Path], str | None]
    read: Callable
    member_ids: Callable | None = None  # path -> its member-ID lists (`total`, `read(lo, hi)` -> uint64)


def require_snapshot_and_m200c(path, snapshot, mass_column: str, why_snapshot: str) -> None:
    """A kind that needs the snapshot beside it and cuts on M200c alone refuses to be read otherwise."""
    if snapshot is None:
        raise InputError(f"{path}: {why_snapshot}: it is read with its snapshot")
    if mass_column != "m200c":
        raise InputError(f"{path}: this catalog's cut uses m200c, not {mass_column!r}")


def layout(path: Path) -> str:
    """What a catalog path holds, the partition every kind's `mismatch` reads: 'directory', 'group catalog'
    (HDF5 with a Header holding Ngroups_Total), 'soap catalog' (HDF5 whose Header says Code = SOAP),
    'velociraptor properties' (HDF5 with Total_num_of_groups and UnitInfo), 'halo table' (HDF5 with a
    `halos` group), 'hdf5' (other),
    'binary' (a NUL byte among the first BINARY_PROBE_BYTES, as no text has), 'header text' (text whose first
    non-empty line is a '#' line) or 'text'."""
    if path.is_dir():
        return "directory"
    if h5py.is_hdf5(path):
        with open_hdf5(path) as f:
            header = f.get("Header")
            if isinstance(header, h5py.Group) and "Ngroups_Total" in header.attrs:
                return "group catalog"
            if isinstance(header, h5py.Group) and attr_text(header.attrs.get("Code")) == "SOAP":
                return "soap catalog"
            if "Total_num_of_groups" in f and isinstance(f.get("UnitInfo"), h5py.Group):
                return "velociraptor properties"
            return "halo table" if isinstance(f.get("halos"), h5py.Group) else "hdf5"
    with open(path, "rb") as handle:
        if b"\0" in handle.read(BINARY_PROBE_BYTES):
            return "binary"
    with open(path, errors="replace") as handle:
        first = next((line for line in handle if line.strip()), "")
    return "header text" if first.startswith("#") else "text"

