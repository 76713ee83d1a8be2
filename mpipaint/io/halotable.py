"""The halo table written by `mpipaint select`: one HDF5 group `halos`, one 1-D dataset per column, each
with `units` and `description` attributes, readable into pandas with `read_halo_table`.

Positions are physical kpc in the periodic box of the halo's snapshot (box side in `box_size`).
"""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from mpipaint.cosmology import Cosmology

from mpipaint.errors import InputError
from mpipaint.io.halo_catalog import CatalogKind, HaloCatalog, layout, require_snapshot_and_m200c
from mpipaint.io.hdf5 import open_hdf5
from mpipaint.io.outputs import create_complete, existing_output
from mpipaint.io.particle_types import NTYPES


SCHEMA = {
    "halo_id": ("int64", "", "FoF group index in its catalog (Rockstar: the halo ID)"),
    "snapshot": ("int32", "", "snapshot number (-1 if unknown)"),
    "redshift": ("float64", "", "redshift of the snapshot"),
    "scale_factor": ("float64", "", "cosmological scale factor a"),
    "centre_x": ("float64", "kpc", "centre (potential minimum: SubhaloPos of GroupFirstSub), physical"),
    "centre_y": ("float64", "kpc", "centre, physical"),
    "centre_z": ("float64", "kpc", "centre, physical"),
    "m200c": ("float64", "Msun", "mass within R200c (mean density 200 rho_crit(z))"),
    "r200c": ("float64", "kpc", "R200c, physical"),
    "box_size": ("float64", "kpc", "periodic box side at this snapshot, physical"),
    **{f"offset_type{t}": ("int64", "", f"first PartType{t} particle of the halo in the snapshot (-1: none)")
       for t in range(NTYPES)},
    **{f"count_type{t}": ("int64", "", f"number of PartType{t} particles of the halo (FoF)")
       for t in range(NTYPES)},
    "dmo_halo_id": ("int64", "", "bijectively matched halo in the DMO twin (-1: none or not matched)"),
}
# columns tables written before they existed lack (read as NaN): peculiar velocity where the catalog has it
VELOCITY_COLUMNS = ("velocity_x", "velocity_y", "velocity_z")
OPTIONAL_SCHEMA = {**{name: ("float64", "km/s", f"peculiar velocity along {name[-1]} (NaN: the catalog has none)")
                      for name in VELOCITY_COLUMNS},
                   "member_offset": ("int64", "", "first position in the member-ID lists of the catalog named by "
                                     "the file's member_ids_catalog (-1: membership by snapshot order or none)"),
                   "member_count": ("int64", "", "number of member IDs there (0: none)")}
OPTIONAL_DEFAULTS = {"member_offset": -1, "member_count": 0}  # tables written before these columns existed


def write_halo_table(path, table: pd.DataFrame, attrs: dict) -> None:
    """Write `table` (columns as SCHEMA) and provenance `attrs` to `path`, atomically; a file there is
    replaced only if it is a halo table mpipaint wrote."""
    missing = [c for c in SCHEMA if c not in table.columns]
    if missing:
        raise ValueError(f"halo table lacks columns {missing}")
    existing_output(path, "halo table", contains="halos")

    def lay_out(f):
        group = f.create_group("halos")
        for column, (dtype, unit, description) in (SCHEMA | OPTIONAL_SCHEMA).items():
            values = (table[column].to_numpy() if column in table
                      else np.full(len(table), OPTIONAL_DEFAULTS.get(column, np.nan)))
            dset = group.create_dataset(column, data=values.astype(dtype))
            dset.attrs["units"] = unit
            dset.attrs["description"] = description
        for key, value in attrs.items():
            f.attrs[key] = value

    create_complete(path, lay_out)


def read_halo_table(path) -> pd.DataFrame:
    """The halo table at `path` as a DataFrame; units per column in `df.attrs['units']`."""
    with open_hdf5(path) as f:
        if "halos" not in f:
            raise InputError(f"{path}: group 'halos' missing: not an mpipaint halo table")
        group = f["halos"]
        missing = [c for c in SCHEMA if not isinstance(group.get(c), h5py.Dataset) or group[c].ndim != 1]
        if missing:
            raise InputError(f"{path}: halo table lacks 1-D datasets {missing}")
        wrong_units = [c for c, (_, unit, _) in SCHEMA.items() if group[c].attrs.get("units") != unit]
        if wrong_units:
            raise InputError(f"{path}: halos/{wrong_units[0]} has units {group[wrong_units[0]].attrs.get('units')!r}, "
                             f"expected {SCHEMA[wrong_units[0]][1]!r}")
        table = pd.DataFrame({c: group[c][()] for c in SCHEMA})
        for column, (_, unit, _) in OPTIONAL_SCHEMA.items():
            present = isinstance(group.get(column), h5py.Dataset) and group[column].attrs.get("units") == unit
            table[column] = group[column][()] if present else OPTIONAL_DEFAULTS.get(column, np.nan)
        table.attrs["units"] = {c: unit for c, (_, unit, _) in (SCHEMA | OPTIONAL_SCHEMA).items()}
        table.attrs.update({k: (v.item() if isinstance(v, np.generic) else v) for k, v in f.attrs.items()})
    _check_values(path, table)
    return table


def _check_values(path, table: pd.DataFrame) -> None:
    """Refuse what no halo can have: no rows, non-finite or non-positive sizes and boxes, centres outside the
    box, negative particle counts, a halo twice (each error names the first such halo)."""
    if not len(table):
        raise InputError(f"{path}: the halo table has no halos (was select's mass cut above every halo?)")
    rules = {"centre_x": np.isfinite, "centre_y": np.isfinite, "centre_z": np.isfinite, "redshift": np.isfinite,
             "m200c": lambda x: np.isfinite(x) & (x > 0), "r200c": lambda x: np.isfinite(x) & (x > 0),
             "box_size": lambda x: np.isfinite(x) & (x > 0),
             **{f"count_type{t}": lambda x: x >= 0 for t in range(NTYPES)}}
    for axis in ("centre_x", "centre_y", "centre_z"):  # select writes centres wrapped into the box
        rules[axis] = lambda x: np.isfinite(x) & (x >= 0) & (x <= table["box_size"].to_numpy())
    repeated = table.duplicated(["snapshot", "halo_id"]).to_numpy()
    if repeated.any():
        row = int(np.argmax(repeated))
        halo, snapshot = int(table["halo_id"].iloc[row]), int(table["snapshot"].iloc[row])
        raise InputError(f"{path}: halo {halo} of snapshot {snapshot} "
                         f"appears again at row {row} ({int(repeated.sum())} repeated rows): it would be painted twice")
    for column, valid in rules.items():
        bad = ~valid(table[column].to_numpy())
        if bad.any():
            row = int(np.argmax(bad))
            raise InputError(f"{path}: halos/{column} of halo {int(table['halo_id'].iloc[row])} (row {row}) is "
                             f"{table[column].iloc[row]}, which no halo can have ({int(bad.sum())} such rows)")


def _mismatch(path: Path) -> str | None:
    found = layout(path)
    return None if found == "halo table" else f"{found}, not HDF5 with a 'halos' group"


def _read(path, snapshot, mass_column, hosts_only) -> HaloCatalog:
    """The rows of a halo table at the snapshot's time, as they were selected (membership, DMO twins)."""
    require_snapshot_and_m200c(path, snapshot, mass_column, "a halo table may hold several snapshots")
    table = read_halo_table(path)
    a = snapshot.header.scale_factor
    here = np.isclose(table["scale_factor"], a, rtol=1e-6)
    if not here.any():
        raise InputError(f"{path}: halo table of scale factors {sorted(set(table['scale_factor']))}, but "
                         f"{snapshot.path} is at a={a:.6g}")
    rows = table[here]
    first = rows.iloc[0]
    cosmology = Cosmology(float(first["scale_factor"]), float(first["redshift"]), snapshot.header.hubble,
                          snapshot.header.omega_m, snapshot.header.omega_lambda, float(first["box_size"]))
    column = {name: rows[name].to_numpy() for name in rows.columns}
    type_columns = [(f"offset_type{t}", f"count_type{t}") for t in range(NTYPES)]
    return HaloCatalog(Path(path), HALO_TABLE.name, cosmology, column["halo_id"],
                       np.stack([column[f"centre_{c}"] for c in "xyz"], axis=1), column["m200c"], column["r200c"],
                       column["m200c"], "m200c",
                       offsets=np.stack([column[offset] for offset, _ in type_columns], axis=1),
                       counts=np.stack([column[count] for _, count in type_columns], axis=1),
                       velocity_kms=_velocities(column), dmo_halo_id=column["dmo_halo_id"], snapshot=column["snapshot"],
                       member_ranges=np.stack([column["member_offset"], column["member_count"]], axis=1),
                       member_ids_catalog=table.attrs.get("member_ids_catalog"),
                       m200c_definition=table.attrs.get("m200c_definition"), offsets_of=table.attrs.get("offsets_of"))


def _velocities(column: dict) -> np.ndarray | None:
    """(N, 3) peculiar velocities [km/s] where the table has them for every row, else None."""
    velocity = np.stack([column[name] for name in VELOCITY_COLUMNS], axis=1)
    return velocity if len(velocity) and np.isfinite(velocity).all() else None


HALO_TABLE = CatalogKind("halo table", _mismatch, _read)
