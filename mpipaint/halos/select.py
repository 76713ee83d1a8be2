"""Which halos: the rows of a halo table from a TNG-layout group catalog (M200c cut, centres at the most
bound particle of the central subhalo, particle offsets, matched DMO twins) or from a Rockstar list (no
offsets). Pure functions of the files read; `mpipaint select` deals snapshots to ranks and writes."""
from __future__ import annotations

import numpy as np
import pandas as pd

from mpipaint.errors import InputError
from mpipaint.halos.match import match_bijective
from mpipaint.io.catalog import GroupCatalog, find_group_catalog, read_rockstar
from mpipaint.io.halotable import NTYPES
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


def select_rockstar(path, snapnum: int, min_m200c: float) -> pd.DataFrame:
    """Halos of one Rockstar list with M200c >= min_m200c (no particle offsets: counts are 0)."""
    catalog = read_rockstar(path)
    chosen = np.flatnonzero(catalog.m200c_msun >= min_m200c)
    centres = catalog.centre_kpc[chosen] % catalog.box_size_kpc
    return pd.DataFrame({
        "halo_id": catalog.halo_id[chosen], "snapshot": snapnum, "redshift": catalog.redshift,
        "scale_factor": catalog.scale_factor, "centre_x": centres[:, 0], "centre_y": centres[:, 1],
        "centre_z": centres[:, 2], "m200c": catalog.m200c_msun[chosen], "r200c": catalog.r200c_kpc[chosen],
        "box_size": catalog.box_size_kpc, **_empty_columns(len(chosen)), "dmo_halo_id": -1,
    })
