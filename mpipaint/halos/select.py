"""Which halos: the rows of a halo table from a catalog of any kind (`io.halo_catalog_kinds`), cut by mass:
group catalogs (centres at the most bound particle of the central subhalo, particle offsets, matched DMO
twins), mpipaint's own halo tables, and lists without membership (Rockstar family, plain tables: no offsets,
so painted by `cube` deposition). Pure functions of the files read; `mpipaint select` deals snapshots to
ranks and writes."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from mpipaint.errors import InputError
from mpipaint.halos.match import match_bijective
from mpipaint.io.group_catalog import GROUP_CATALOG, GroupCatalog, find_group_catalog
from mpipaint.io.halo_catalog import HaloCatalog
from mpipaint.io.halo_catalog_kinds import open_halo_catalog
from mpipaint.io.particle_types import NTYPES
from mpipaint.io.snapshot import Snapshot, find_snapshot


def above(halos: HaloCatalog, min_mass: float) -> np.ndarray:
    """Indices of the halos whose cut mass is >= min_mass [Msun]."""
    return np.flatnonzero(halos.cut_mass_msun >= min_mass)


def select_subfind(output_dir, snapnum: int, min_m200c: float, dmo_dir=None) -> pd.DataFrame:
    """Halos of one snapshot of a run in the TNG/Gadget layout (snapdir_NNN/ or snapshot_NNN beside groups_NNN/,
    any group-catalog kind) with M200c >= min_m200c, with matched DMO ids (TNG/Gadget-4 catalogs only)."""
    snapshot = Snapshot(find_snapshot(output_dir, snapnum))
    path = find_group_catalog(output_dir, snapnum)
    halos = open_halo_catalog(path, snapshot)
    if dmo_dir is not None:
        if halos.kind != GROUP_CATALOG.name:
            raise InputError(f"{path}: a {halos.kind}; FP and DMO halos are matched through the particle "
                             "offsets of TNG/Gadget-4 group catalogs")
        catalog = GroupCatalog(path)
        dmo_snapshot = Snapshot(find_snapshot(dmo_dir, snapnum))
        dmo_catalog = GroupCatalog(find_group_catalog(dmo_dir, snapnum))
        dmo_catalog.check_matches(dmo_snapshot)
        if not np.isclose(dmo_snapshot.header.scale_factor, snapshot.header.scale_factor, rtol=1e-6):
            raise InputError(f"{dmo_snapshot.path}: DMO snapshot {snapnum} is at a different time than "
                             f"{snapshot.path}")
        chosen = above(halos, min_m200c)
        dmo_ids = np.full(len(halos), -1, np.int64)
        dmo_ids[chosen] = match_bijective(snapshot, catalog, dmo_snapshot, dmo_catalog, chosen)
        halos = dataclasses.replace(halos, dmo_halo_id=dmo_ids)
    return select_halos(halos, snapnum, min_m200c)


def select_catalog(snapshot: Snapshot, catalog, snapnum: int, min_mass: float, mass_column: str = "m200c",
                   ) -> pd.DataFrame:
    """Halos of `snapshot` with mass >= min_mass [Msun] from the catalog at path `catalog`, of any kind."""
    return select_halos(open_halo_catalog(catalog, snapshot, mass_column), snapnum, min_mass)


def select_rockstar(path, snapnum: int, min_mass: float, mass_column: str = "m200c",
                    hosts_only: bool = True, box=None) -> pd.DataFrame:
    """Halos of one catalog file with `mass_column` >= min_mass [Msun] (hosts only by default): of a kind that
    states its own cosmology and box (Rockstar-family lists, SOAP), or of any kind with `box`, the snapshot it
    belongs to."""
    snapshot = Snapshot(box) if box is not None else None
    return select_halos(open_halo_catalog(path, snapshot, mass_column, hosts_only), snapnum, min_mass)


def select_halos(halos: HaloCatalog, snapnum: int, min_mass: float) -> pd.DataFrame:
    """Halo table rows of the halos whose cut mass is >= min_mass [Msun], centres wrapped into the box;
    without membership, counts are 0 and offsets -1; `snapnum` where the catalog names no snapshot."""
    chosen = above(halos, min_mass)
    box = halos.cosmology.box_size_kpc
    centres = halos.centre_kpc[chosen] % box
    table = {
        "halo_id": halos.halo_id[chosen],
        "snapshot": np.full(len(chosen), snapnum) if halos.snapshot is None else halos.snapshot[chosen],
        "redshift": halos.cosmology.redshift, "scale_factor": halos.cosmology.scale_factor,
        "centre_x": centres[:, 0], "centre_y": centres[:, 1], "centre_z": centres[:, 2],
        "m200c": halos.m200c_msun[chosen], "r200c": halos.r200c_kpc[chosen], "box_size": box,
    }
    counts = halos.counts[chosen] if halos.has_membership else np.zeros((len(chosen), NTYPES), np.int64)
    offsets = (np.where(counts > 0, halos.offsets[chosen], -1) if halos.offsets is not None
               else np.full_like(counts, -1))
    table.update({f"offset_type{t}": offsets[:, t] for t in range(NTYPES)})  # the halo table's column order
    table.update({f"count_type{t}": counts[:, t] for t in range(NTYPES)})
    table["dmo_halo_id"] = -1 if halos.dmo_halo_id is None else halos.dmo_halo_id[chosen]
    velocity = np.full((len(chosen), 3), np.nan) if halos.velocity_kms is None else halos.velocity_kms[chosen]
    table.update({f"velocity_{c}": velocity[:, k] for k, c in enumerate("xyz")})
    ranges = (halos.member_ranges[chosen] if halos.member_ranges is not None
              else np.tile(np.array([-1, 0], np.int64), (len(chosen), 1)))
    table.update({"member_offset": ranges[:, 0], "member_count": ranges[:, 1]})
    result = pd.DataFrame(table)
    result.attrs.update(membership_attrs(halos))
    return result


def membership_attrs(halos: HaloCatalog) -> dict:
    """What a halo table records about its catalog beyond the rows: where members are found by ID (the
    catalog whose member-ID lists `member_offset`/`member_count` index), what m200c means if not M200c, and
    the particle set the offsets index where it is the catalog's own."""
    attrs = {}
    if halos.member_ids_catalog is not None:
        attrs["member_ids_catalog"] = str(Path(halos.member_ids_catalog).resolve())
    if halos.m200c_definition is not None:
        attrs["m200c_definition"] = halos.m200c_definition
    if halos.offsets_of is not None:
        attrs["offsets_of"] = str(Path(halos.offsets_of).resolve())
    return attrs
