"""FoF/Subfind group catalogs (TNG/Illustris and Gadget-4 HDF5); halo lists without membership (Rockstar,
plain tables) are `io.halolists`.

Group catalogs live in `groups_NNN/fof_subhalo_tab_NNN.K.hdf5` (or one `fof_subhalo_tab_NNN.hdf5`).
Per-group particle offsets come, in order of preference, from Gadget-4's `Group/GroupOffsetType`, from a
TNG offsets file (`postprocessing/offsets/offsets_NNN.hdf5`, `Group/SnapByType`), or from cumulative
sums of `GroupLenType` (valid because the snapshot stores particles ordered by group).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from mpipaint.errors import InputError
from mpipaint.io.chunks import first_chunk, sibling_chunks
from mpipaint.io.halo_catalog import CatalogKind, HaloCatalog, layout, require_snapshot_and_m200c
from mpipaint.io.hdf5 import open_hdf5, require_attr, require_dataset
from mpipaint.io.particle_types import DM, NTYPES
from mpipaint.io.snapshot import Snapshot, find_in_output

_CATALOG_NAME = re.compile(r"^fof_subhalo_tab_(?P<snap>\d+)(\.\d+)?\.hdf5$")


def find_group_catalog(output_dir, snapnum: int) -> Path:
    """Locate catalog `snapnum` under a run's output directory: groups_NNN/ or fof_subhalo_tab_NNN.hdf5."""
    return find_in_output(output_dir, f"group catalog {snapnum}", f"groups_{snapnum:03d}/",
                          f"fof_subhalo_tab_{snapnum:03d}.hdf5")


class GroupCatalog:
    """FoF groups and Subfind subhalos of one snapshot, concatenated over catalog chunks."""

    def __init__(self, path):
        self.path = Path(path)
        self.files = self._chunk_files(self.path)
        with open_hdf5(self.files[0]) as f:
            header = f.get("Header")
            if header is None:
                raise InputError(f"{self.files[0]}: group 'Header' missing: not a group catalog")
            self.num_groups = int(require_attr(header, "Ngroups_Total", "catalog header attribute"))
            sub_key = "Nsubgroups_Total" if "Nsubgroups_Total" in header.attrs else "Nsubhalos_Total"
            self.num_subhalos = int(require_attr(header, sub_key, "catalog header attribute"))
            self.redshift = float(require_attr(header, "Redshift", "catalog header attribute"))
            self.scale_factor = float(require_attr(header, "Time", "catalog header attribute"))

    @staticmethod
    def _chunk_files(path: Path) -> list[Path]:
        first = first_chunk(path)
        if _CATALOG_NAME.match(first.name) is None:
            raise InputError(f"{first}: not a group catalog file name (expected fof_subhalo_tab_NNN[.K].hdf5)")
        with open_hdf5(first) as f:
            num_files = int(require_attr(f["Header"] if "Header" in f else f, "NumFiles",
                                         "catalog header attribute"))
        files = sibling_chunks(first, num_files)
        for file in files:
            if not file.exists():
                raise InputError(f"{file}: catalog chunk missing (NumFiles={num_files} in {first})")
        return files

    @property
    def snapshot_number(self) -> int:
        return int(_CATALOG_NAME.match(self.files[0].name).group("snap"))

    def _read_table(self, group: str, fields, count_key: str) -> dict[str, np.ndarray]:
        out = {name: [] for name in fields}
        for file in self.files:
            with open_hdf5(file) as f:
                here = int(require_attr(f["Header"], count_key, "catalog header attribute"))
                if here == 0:
                    continue
                for name in fields:
                    dset = require_dataset(f, f"{group}/{name}")
                    if dset.shape[0] != here:
                        raise InputError(f"{file}: '{group}/{name}' has {dset.shape[0]} rows, header "
                                         f"{count_key} says {here}")
                    values = dset[()]
                    if np.issubdtype(values.dtype, np.floating) and not np.isfinite(values).all():
                        row = int(np.argwhere(~np.isfinite(values))[0][0])
                        raise InputError(f"{file}: '{group}/{name}' has non-finite values (first at row {row})")
                    out[name].append(values)
        return {name: np.concatenate(parts) if parts else np.empty(0) for name, parts in out.items()}

    def groups(self, *fields: str) -> dict[str, np.ndarray]:
        """FoF group fields as stored (code units), concatenated over chunks."""
        result = self._read_table("Group", fields, "Ngroups_ThisFile")
        for name, values in result.items():
            if len(values) != self.num_groups:
                raise InputError(f"{self.path}: Group/{name} has {len(values)} rows over all chunks, "
                                 f"Ngroups_Total says {self.num_groups}")
        return result

    def subhalos(self, *fields: str) -> dict[str, np.ndarray]:
        """Subfind subhalo fields as stored (code units), concatenated over chunks."""
        with open_hdf5(self.files[0]) as f:
            key = "Nsubgroups_ThisFile" if "Nsubgroups_ThisFile" in f["Header"].attrs else "Nsubhalos_ThisFile"
        return self._read_table("Subhalo", fields, key)

    def offsets_file(self) -> Path:
        """Where TNG keeps this snapshot's offsets: <run>/postprocessing/offsets/offsets_NNN.hdf5."""
        in_groups_dir = self.files[0].parent.name.startswith("groups_")
        run_dir = self.files[0].parent.parent.parent if in_groups_dir else self.files[0].parent.parent
        return run_dir / "postprocessing" / "offsets" / f"offsets_{self.snapshot_number:03d}.hdf5"

    def _has_group_field(self, field: str) -> bool:
        with open_hdf5(self.files[0]) as f:
            return f"Group/{field}" in f

    def offsets_source(self) -> str | Path | None:
        """Where group offsets come from: Gadget-4's 'GroupOffsetType', TNG's offsets file, or None
        (cumulative GroupLenType)."""
        if self._has_group_field("GroupOffsetType"):
            return "GroupOffsetType"
        return self.offsets_file() if self.offsets_file().exists() else None

    def group_offsets(self) -> np.ndarray:
        """First particle index of every group, per type: shape (num_groups, 6), int64."""
        source = self.offsets_source()
        if source == "GroupOffsetType":
            offsets = self.groups("GroupOffsetType")["GroupOffsetType"]
        elif source is not None:
            with open_hdf5(source) as f:
                offsets = require_dataset(f, "Group/SnapByType")[()]
        else:
            lengths = self.groups("GroupLenType")["GroupLenType"].astype(np.int64)
            offsets = np.vstack([np.zeros(NTYPES, np.int64), np.cumsum(lengths, axis=0)[:-1]])
        return np.asarray(offsets, dtype=np.int64).reshape(self.num_groups, NTYPES)

    def check_matches(self, snapshot: Snapshot) -> None:
        """Raise if this catalog cannot describe `snapshot` (redshift, particle counts, offsets)."""
        if not np.isclose(self.scale_factor, snapshot.header.scale_factor, rtol=1e-6):
            raise InputError(f"{self.path}: catalog is at a={self.scale_factor:.6g} but snapshot "
                             f"{snapshot.path} is at a={snapshot.header.scale_factor:.6g}")
        if self.num_groups == 0:
            return
        lengths = self.groups("GroupLenType")["GroupLenType"].astype(np.int64)
        if (lengths < 0).any():  # a negative length shifts every later group's running-sum offsets
            group, ptype = (int(i) for i in np.argwhere(lengths < 0)[0])
            raise InputError(f"{self.path}: group {group} has GroupLenType[{ptype}] = {lengths[group, ptype]}; a "
                             "particle count cannot be negative")
        offsets, source = self.group_offsets(), self.offsets_source()
        contiguous = np.all(offsets[0] == 0) and np.array_equal(offsets[1:], offsets[:-1] + lengths[:-1])
        if source is not None and not contiguous:
            raise InputError(f"{source}: group offsets are not the running sum of {self.path}'s GroupLenType "
                             "(groups are stored contiguously): offsets of another snapshot or run?")
        ends = offsets + lengths
        too_far = ends.max(axis=0) > snapshot.header.num_part_total
        if too_far.any():
            ptype = int(np.argmax(too_far))
            raise InputError(f"{self.path}: groups reach particle {ends[:, ptype].max()} of PartType{ptype}, "
                             f"but snapshot {snapshot.path} holds {snapshot.num_particles(ptype)}")
        self._check_dm_particle_mass(snapshot, lengths)

    def _check_dm_particle_mass(self, snapshot: Snapshot, lengths) -> None:
        """The catalog's DM particle mass (GroupMassType / GroupLenType) must be the snapshot's MassTable
        entry: the twin run's catalog at the same redshift (FP against DMO: masses differ by 1/(1 - f_b)) or
        another resolution's passes every other check."""
        table_mass = snapshot.header.mass_table[DM]
        if table_mass <= 0 or not self._has_group_field("GroupMassType"):
            return
        masses = self.groups("GroupMassType")["GroupMassType"][:, DM].astype(np.float64)
        counted = lengths[:, DM] > 0
        if not counted.any():
            return
        per_particle = float(np.median(masses[counted] / lengths[counted, DM]))
        if not np.isclose(per_particle, table_mass, rtol=1e-3):
            raise InputError(f"{self.path}: groups' DM particle mass {per_particle:.6g} (GroupMassType / "
                             f"GroupLenType, code units) differs from snapshot {snapshot.path}'s MassTable[1] "
                             f"{table_mass:.6g}: the catalog of another run (the twin, another resolution)?")

    def halos(self, snapshot: Snapshot) -> HaloCatalog:
        """Every group, after `check_matches`: centres at the most bound particle of the central subhalo
        (SubhaloPos of GroupFirstSub; GroupPos without one), M200c, R200c, peculiar velocities where GroupVel
        is stored, and membership from the offsets."""
        self.check_matches(snapshot)
        units = snapshot.units
        groups = self.groups("Group_M_Crit200", "Group_R_Crit200", "GroupPos", "GroupFirstSub", "GroupLenType")
        m200c = units.to_physical("Group_M_Crit200", groups["Group_M_Crit200"])
        centres = units.to_physical("GroupPos", groups["GroupPos"])
        first_sub = groups["GroupFirstSub"].astype(np.int64)
        first_sub[first_sub == np.iinfo(np.uint32).max] = -1  # -1 ("no subhalo") as some writers store it: uint32
        if self.num_subhalos and (first_sub >= 0).any():
            sub_pos = units.to_physical("SubhaloPos", self.subhalos("SubhaloPos")["SubhaloPos"])
            if first_sub.max() >= len(sub_pos):
                raise InputError(f"{self.path}: GroupFirstSub up to {first_sub.max()} but only {len(sub_pos)} "
                                 "subhalos")
            centres = np.where((first_sub >= 0)[:, None], sub_pos[np.maximum(first_sub, 0)], centres)
        velocity = (units.to_physical("GroupVel", self.groups("GroupVel")["GroupVel"])
                    if self._has_group_field("GroupVel") else None)
        return HaloCatalog(self.path, GROUP_CATALOG.name, snapshot.cosmology, np.arange(self.num_groups),
                           centres, m200c, units.to_physical("Group_R_Crit200", groups["Group_R_Crit200"]), m200c,
                           "m200c", velocity_kms=velocity, offsets=self.group_offsets(),
                           counts=groups["GroupLenType"].astype(np.int64).reshape(self.num_groups, NTYPES))


def _mismatch(path: Path) -> str | None:
    """None for a groups_NNN directory of fof_subhalo_tab files, or one such file."""
    if path.is_dir():
        named = any(_CATALOG_NAME.match(p.name) for p in path.iterdir())
        return None if named else "a directory without fof_subhalo_tab_NNN[.K].hdf5 files"
    found = layout(path)
    return None if found == "group catalog" else f"{found}, not HDF5 with a Header holding Ngroups_Total"


def _read(path, snapshot, mass_column, hosts_only) -> HaloCatalog:
    require_snapshot_and_m200c(path, snapshot, mass_column, "a group catalog's code units and offsets are its "
                               "snapshot's")
    return GroupCatalog(path).halos(snapshot)


GROUP_CATALOG = CatalogKind("group catalog", _mismatch, _read)
