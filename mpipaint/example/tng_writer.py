"""Write snapshots, FoF/Subfind catalogs and offsets in the IllustrisTNG on-disk layout.

Layout under a run directory RUN (as on the TNG public data release):

    RUN/output/snapdir_NNN/snap_NNN.K.hdf5          particles, each chunk a contiguous piece of every type
    RUN/output/groups_NNN/fof_subhalo_tab_NNN.K.hdf5 Group/* and Subhalo/* tables
    RUN/postprocessing/offsets/offsets_NNN.hdf5     first particle of every group/subhalo, per type

Values are written in code units (ckpc/h, 1e10 Msun/h, km/s sqrt(a)); the caller converts. A `gadget4`
flavour writes Gadget-4's header instead: cosmology and units in Parameters/Units groups, 64-bit
NumPart_Total with no high word, and Group/GroupOffsetType in the catalog.
"""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from mpipaint import units as u
from mpipaint.io.particle_types import NTYPES

# TNG's per-dataset scaling attributes: value * a^a_scaling * h^h_scaling * to_cgs is physical cgs
_SCALING = {
    "Coordinates": (1.0, -1.0, u.TNG_UNIT_LENGTH_CM),
    "Masses": (0.0, -1.0, u.TNG_UNIT_MASS_G),
    "Velocities": (0.5, 0.0, u.TNG_UNIT_VELOCITY_CM_S),
    "Density": (-3.0, 2.0, u.TNG_UNIT_MASS_G / u.TNG_UNIT_LENGTH_CM**3),
    "InternalEnergy": (0.0, 0.0, u.TNG_UNIT_VELOCITY_CM_S**2),
}


def _split_points(n: int, parts: int) -> np.ndarray:
    return np.linspace(0, n, parts + 1).round().astype(np.int64)


def _cosmology_attrs(meta: dict) -> dict:
    return {"BoxSize": meta["box_size"], "HubbleParam": meta["hubble"], "Omega0": meta["omega_m"],
            "OmegaLambda": meta["omega_lambda"], "OmegaBaryon": meta["omega_b"]}


def _unit_attrs() -> dict:
    return {"UnitLength_in_cm": u.TNG_UNIT_LENGTH_CM, "UnitMass_in_g": u.TNG_UNIT_MASS_G,
            "UnitVelocity_in_cm_per_s": u.TNG_UNIT_VELOCITY_CM_S}


def _write_header(f: h5py.File, meta: dict, this_file: dict, flavour: str) -> None:
    header = f.create_group("Header")
    header.attrs["Time"] = meta["scale_factor"]
    header.attrs["Redshift"] = meta["redshift"]
    header.attrs["BoxSize"] = meta["box_size"]
    for key, value in this_file.items():
        header.attrs[key] = value
    if flavour == "gadget4":
        params = f.create_group("Parameters")
        for key, value in {**_cosmology_attrs(meta), **_unit_attrs(), "ComovingIntegrationOn": 1}.items():
            params.attrs[key] = value
        units_group = f.create_group("Units")
        for key, value in _unit_attrs().items():
            units_group.attrs[key] = value
    else:
        for key, value in {**_cosmology_attrs(meta), **_unit_attrs()}.items():
            header.attrs[key] = value


def write_snapshot(run_dir, snapnum: int, particles: dict, meta: dict, num_files: int,
                   flavour: str = "tng") -> np.ndarray:
    """Write particles {ptype: {field: array in code units}} as `num_files` chunks.

    Returns the first global particle index of every chunk, per type: shape (num_files, 6).

    meta holds box_size, hubble, omega_m, omega_lambda, omega_b, scale_factor, redshift and mass_table
    (code mass per type, 0 where per-particle Masses are written).
    """
    snapdir = Path(run_dir) / "output" / f"snapdir_{snapnum:03d}"
    snapdir.mkdir(parents=True, exist_ok=True)
    totals = np.zeros(NTYPES, dtype=np.uint64)
    for ptype, fields in particles.items():
        totals[ptype] = len(next(iter(fields.values())))
    splits = {ptype: _split_points(int(totals[ptype]), num_files) for ptype in particles}
    for k in range(num_files):
        this_file = np.zeros(NTYPES, dtype=np.int64)
        for ptype in particles:
            this_file[ptype] = splits[ptype][k + 1] - splits[ptype][k]
        counts = {"NumPart_ThisFile": this_file, "NumFilesPerSnapshot": num_files,
                  "MassTable": np.asarray(meta["mass_table"], dtype=np.float64)}
        if flavour == "gadget4":
            counts["NumPart_Total"] = totals.astype(np.uint64)
        else:
            counts["NumPart_Total"] = (totals & np.uint64(0xFFFFFFFF)).astype(np.uint32)
            counts["NumPart_Total_HighWord"] = (totals >> np.uint64(32)).astype(np.uint32)
        with h5py.File(snapdir / f"snap_{snapnum:03d}.{k}.hdf5", "w") as f:
            _write_header(f, meta, counts, flavour)
            for ptype, fields in particles.items():
                lo, hi = splits[ptype][k], splits[ptype][k + 1]
                if hi == lo:
                    continue
                group = f.create_group(f"PartType{ptype}")
                for name, values in fields.items():
                    dset = group.create_dataset(name, data=values[lo:hi])
                    if name in _SCALING:
                        a_scaling, h_scaling, to_cgs = _SCALING[name]
                        dset.attrs.update({"a_scaling": a_scaling, "h_scaling": h_scaling, "to_cgs": to_cgs})
    return np.array([[splits[t][k] if t in splits else 0 for t in range(NTYPES)] for k in range(num_files)])


def write_group_catalog(run_dir, snapnum: int, groups: dict, subhalos: dict, meta: dict, num_files: int,
                        flavour: str = "tng") -> Path:
    """Write Group/* and Subhalo/* tables (code units) as `num_files` catalog chunks; return groups dir."""
    groupdir = Path(run_dir) / "output" / f"groups_{snapnum:03d}"
    groupdir.mkdir(parents=True, exist_ok=True)
    num_groups = len(groups["GroupLenType"])
    num_subs = len(subhalos["SubhaloLenType"])
    gsplit, ssplit = _split_points(num_groups, num_files), _split_points(num_subs, num_files)
    sub_word = "Nsubhalos" if flavour == "gadget4" else "Nsubgroups"
    for k in range(num_files):
        counts = {"Ngroups_ThisFile": gsplit[k + 1] - gsplit[k], "Ngroups_Total": num_groups,
                  f"{sub_word}_ThisFile": ssplit[k + 1] - ssplit[k], f"{sub_word}_Total": num_subs,
                  "NumFiles": num_files}
        with h5py.File(groupdir / f"fof_subhalo_tab_{snapnum:03d}.{k}.hdf5", "w") as f:
            _write_header(f, meta, counts, flavour)
            for name, table, split in (("Group", groups, gsplit), ("Subhalo", subhalos, ssplit)):
                group = f.create_group(name)
                for field, values in table.items():
                    group.create_dataset(field, data=values[split[k]:split[k + 1]])
    return groupdir


def write_offsets(run_dir, snapnum: int, group_offsets, subhalo_offsets, num_groups_files: int,
                  snapshot_file_offsets) -> Path:
    """Write TNG's postprocessing/offsets/offsets_NNN.hdf5 (what illustris_python's loadHalo reads)."""
    path = Path(run_dir) / "postprocessing" / "offsets" / f"offsets_{snapnum:03d}.hdf5"
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f["Group/SnapByType"] = np.asarray(group_offsets, dtype=np.int64)
        f["Subhalo/SnapByType"] = np.asarray(subhalo_offsets, dtype=np.int64)
        f["FileOffsets/Group"] = _split_points(len(group_offsets), num_groups_files)[:-1]
        f["FileOffsets/Subhalo"] = _split_points(len(subhalo_offsets), num_groups_files)[:-1]
        f["FileOffsets/SnapByType"] = np.asarray(snapshot_file_offsets, dtype=np.int64)
    return path
