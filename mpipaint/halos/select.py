"""Which halos: the rows of a halo table from a TNG-layout group catalog (M200c cut, centres at the most
bound particle of the central subhalo, particle offsets, matched DMO twins) or from a halo list without
membership (Rockstar family, plain tables: `io.halolists`; no offsets, so painted by `cube` deposition).
Pure functions of the files read; `mpipaint select` deals snapshots to ranks and writes."""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from mpipaint.errors import InputError
from mpipaint.halos.match import match_bijective
from mpipaint.io.catalog import GroupCatalog, find_group_catalog
from mpipaint.io.halolists import Cosmology, HaloList, read_plain_table, read_rockstar
from mpipaint.io.halotable import NTYPES, read_halo_table
from mpipaint.io.hdf5 import open_hdf5
from mpipaint.io.snapshot import Snapshot, find_snapshot


def _empty_columns(n):
    return {f"offset_type{t}": np.full(n, -1, np.int64) for t in range(NTYPES)} | \
        {f"count_type{t}": np.zeros(n, np.int64) for t in range(NTYPES)}


def select_subfind(output_dir, snapnum: int, min_m200c: float, dmo_dir=None) -> pd.DataFrame:
    """Halos of one snapshot of a TNG-layout run with M200c >= min_m200c, with matched DMO ids."""
    snapshot = Snapshot(find_snapshot(output_dir, snapnum))
    catalog = GroupCatalog(find_group_catalog(output_dir, snapnum))
    dmo = None
    if dmo_dir is not None:
        dmo = Snapshot(find_snapshot(dmo_dir, snapnum)), GroupCatalog(find_group_catalog(dmo_dir, snapnum))
    return select_groups(snapshot, catalog, snapnum, min_m200c, dmo)


def select_groups(snapshot: Snapshot, catalog: GroupCatalog, snapnum: int, min_m200c: float,
                  dmo=None) -> pd.DataFrame:
    """Halo table rows of `catalog`'s groups with M200c >= min_m200c; dmo = (snapshot, catalog) of the twin."""
    catalog.check_matches(snapshot)
    units = snapshot.units
    groups = catalog.groups("Group_M_Crit200", "Group_R_Crit200", "GroupPos", "GroupFirstSub", "GroupLenType")
    m200c = units.to_physical("Group_M_Crit200", groups["Group_M_Crit200"])
    chosen = np.flatnonzero(m200c >= min_m200c)
    centres = units.to_physical("GroupPos", groups["GroupPos"])[chosen]
    first_sub = groups["GroupFirstSub"][chosen].astype(np.int64)
    first_sub[first_sub == np.iinfo(np.uint32).max] = -1  # -1 ("no subhalo") as some writers store it: uint32
    if catalog.num_subhalos and (first_sub >= 0).any():
        sub_pos = units.to_physical("SubhaloPos", catalog.subhalos("SubhaloPos")["SubhaloPos"])
        if first_sub.max() >= len(sub_pos):
            raise InputError(f"{catalog.path}: GroupFirstSub up to {first_sub.max()} but only "
                             f"{len(sub_pos)} subhalos")
        centres = np.where((first_sub >= 0)[:, None], sub_pos[np.maximum(first_sub, 0)], centres)
    box = snapshot.box_size_kpc
    offsets, lengths = catalog.group_offsets()[chosen], groups["GroupLenType"][chosen].astype(np.int64)
    dmo_ids = np.full(len(chosen), -1, np.int64)
    if dmo is not None:
        dmo_snapshot, dmo_catalog = dmo
        dmo_catalog.check_matches(dmo_snapshot)
        if not np.isclose(dmo_snapshot.header.scale_factor, snapshot.header.scale_factor, rtol=1e-6):
            raise InputError(f"{dmo_snapshot.path}: DMO snapshot {snapnum} is at a different time than "
                             f"{snapshot.path}")
        dmo_ids = match_bijective(snapshot, catalog, dmo_snapshot, dmo_catalog, chosen)
    table = {
        "halo_id": chosen, "snapshot": np.full(len(chosen), snapnum), "redshift": snapshot.redshift,
        "scale_factor": snapshot.header.scale_factor,
        "centre_x": centres[:, 0] % box, "centre_y": centres[:, 1] % box, "centre_z": centres[:, 2] % box,
        "m200c": m200c[chosen], "r200c": units.to_physical("Group_R_Crit200", groups["Group_R_Crit200"])[chosen],
        "box_size": box, **_empty_columns(len(chosen)), "dmo_halo_id": dmo_ids,
    }
    for t in range(NTYPES):
        has = lengths[:, t] > 0
        table[f"offset_type{t}"] = np.where(has, offsets[:, t], -1)
        table[f"count_type{t}"] = lengths[:, t]
    return pd.DataFrame(table)


def select_catalog(snapshot: Snapshot, catalog, snapnum: int, min_mass: float, mass_column: str = "m200c",
                   ) -> pd.DataFrame:
    """Halos of `snapshot` with mass >= min_mass [Msun] from a catalog of any kind (`catalog_kind`): a group
    catalog, a halo table from `mpipaint select` (its rows at the snapshot's time), a Rockstar-family list
    (header values it lacks taken from the snapshot) or a plain table."""
    kind = catalog_kind(catalog)
    if kind == "group catalog":
        return select_groups(snapshot, GroupCatalog(catalog), snapnum, min_mass)
    a = snapshot.header.scale_factor
    if kind == "halo table":
        table = read_halo_table(catalog)
        here = np.isclose(table["scale_factor"], a, rtol=1e-6)
        if len(table) and not here.any():
            raise InputError(f"{catalog}: halo table of scale factors {sorted(set(table['scale_factor']))}, but "
                             f"{snapshot.path} is at a={a:.6g}")
        return table[here & (table["m200c"] >= min_mass)].reset_index(drop=True)
    cosmology = Cosmology(a, snapshot.header.hubble, snapshot.header.omega_m, snapshot.header.omega_lambda,
                          snapshot.box_size_kpc)
    halos = (read_rockstar(catalog, mass_column, fallback=cosmology) if kind == "rockstar"
             else read_plain_table(catalog, cosmology))
    if not np.isclose(halos.cosmology.scale_factor, a, rtol=1e-4):
        raise InputError(f"{catalog}: halos at a={halos.cosmology.scale_factor:.6g}, but {snapshot.path} is at "
                         f"a={a:.6g}")
    if not np.isclose(halos.cosmology.box_size_kpc, snapshot.box_size_kpc, rtol=1e-4):
        raise InputError(f"{catalog}: halos in a box of {halos.cosmology.box_size_kpc:.6g} kpc, but {snapshot.path} "
                         f"is a box of {snapshot.box_size_kpc:.6g} kpc (physical): a list of another run?")
    return select_halo_list(halos, snapnum, min_mass)


def catalog_kind(path) -> str:
    """'group catalog' (a groups_NNN directory or fof_subhalo_tab file), 'halo table' (mpipaint select's),
    'rockstar' (a text file whose first line is a '#' header) or 'plain table' (other CSV or HDF5)."""
    path = Path(path)
    if path.is_dir():
        return "group catalog"
    if not path.is_file():
        raise InputError(f"{path}: catalog not found")
    if h5py.is_hdf5(path):
        with open_hdf5(path) as f:
            if "Header" in f and "Ngroups_Total" in f["Header"].attrs:
                return "group catalog"
            return "halo table" if isinstance(f.get("halos"), h5py.Group) else "plain table"
    with open(path, errors="replace") as handle:
        first = next((line for line in handle if line.strip()), "")
    return "rockstar" if first.startswith("#") else "plain table"


def select_rockstar(path, snapnum: int, min_mass: float, mass_column: str = "m200c",
                    hosts_only: bool = True) -> pd.DataFrame:
    """Halos of one Rockstar-family list with `mass_column` >= min_mass [Msun] (hosts only by default)."""
    return select_halo_list(read_rockstar(path, mass_column, hosts_only), snapnum, min_mass)


def select_halo_list(halos: HaloList, snapnum: int, min_mass: float) -> pd.DataFrame:
    """Halo table rows of a list without membership whose cut mass is >= min_mass [Msun] (no particle
    offsets: counts are 0, offsets -1)."""
    chosen = np.flatnonzero(halos.cut_mass_msun >= min_mass)
    box = halos.cosmology.box_size_kpc
    centres = halos.centre_kpc[chosen] % box
    return pd.DataFrame({
        "halo_id": halos.halo_id[chosen], "snapshot": snapnum, "redshift": halos.cosmology.redshift,
        "scale_factor": halos.cosmology.scale_factor, "centre_x": centres[:, 0], "centre_y": centres[:, 1],
        "centre_z": centres[:, 2], "m200c": halos.m200c_msun[chosen], "r200c": halos.r200c_kpc[chosen],
        "box_size": box, **_empty_columns(len(chosen)), "dmo_halo_id": -1,
    })
