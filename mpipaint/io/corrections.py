"""The correction-table file that `calibrate` writes and `paint --corrections` reads (the tables themselves:
`science.corrections`).

File layout (HDF5): group `<input>/<quantity>` (quantity `lx` [erg/s], `mgas` [Msun] or `y_int` [kpc^2]) with
datasets `bin_edges` [quantity units], `phi_true`, `phi_true_error`, `phi_predicted`, `phi_predicted_error`
[cMpc^-3 dex^-1], `counts_true`, `counts_predicted`, `ratio`, `ratio_error` (Poisson, both samples;
NaN where a bin cannot be calibrated); attributes `units`, `volume_true_mpc3`, `volume_predicted_mpc3`.
Group `<input>` attribute `dm_particle_mass_msun`: the DM particle mass of the input the tables were
calibrated on (of its subsample: mass / fraction), where recorded. Root attributes: `format`, `models`,
`trainset`, `mpipaint_version`.
"""
from __future__ import annotations

import h5py
import numpy as np

from mpipaint.errors import InputError
from mpipaint.io.hdf5 import open_hdf5, require_dataset
from mpipaint.science.corrections import QUANTITIES

FORMAT = "mpipaint-corrections-1"


def write_tables(path, tables: dict, attrs: dict, particle_masses: dict | None = None) -> None:
    """tables: {input: {quantity: ratio_table(...)}}, particle_masses: {input: DM particle mass [Msun]}; written
    whole, then marked with its format."""
    with h5py.File(path, "w") as f:
        for source, by_quantity in tables.items():
            for quantity, table in by_quantity.items():
                group = f.create_group(f"{source}/{quantity}")
                units = dict(QUANTITIES.values())[quantity]
                for name, values in table.items():
                    if name.startswith("volume"):
                        group.attrs[name] = values
                        continue
                    dset = group.create_dataset(name, data=np.asarray(values))
                    dset.attrs["units"] = (units if name == "bin_edges" else "cMpc^-3 dex^-1"
                                           if name.startswith("phi") else "")
                group.attrs["units"] = units
        for source, mass in (particle_masses or {}).items():
            if source in f:
                f[source].attrs["dm_particle_mass_msun"] = float(mass)
        for key, value in attrs.items():
            f.attrs[key] = value
        f.attrs["format"] = FORMAT


def read_table(path, source: str, quantity: str) -> dict:
    """One table of a corrections file, checked: format, group present, edges increasing."""
    with open_hdf5(path) as f:
        if f.attrs.get("format") != FORMAT:
            raise InputError(f"{path}: not an mpipaint corrections file (format attribute {FORMAT!r} missing)")
        name = f"{source}/{quantity}"
        if name not in f:
            have = sorted(f"{s}/{q}" for s in f for q in f[s])
            raise InputError(f"{path}: no correction table '{name}' (has {', '.join(have)})")
        table = {key: require_dataset(f, f"{name}/{key}")[()] for key in ("bin_edges", "ratio")}
    edges = table["bin_edges"]
    if (not np.all(np.isfinite(edges) & (edges > 0)) or np.any(np.diff(edges) <= 0)
            or len(table["ratio"]) != len(edges) - 1):
        raise InputError(f"{path}: '{name}/bin_edges' must be finite, positive and increasing, with one ratio per "
                         f"bin; got {len(edges)} edges {edges.tolist()[:4]}... for {len(table['ratio'])} ratios")
    return table


def calibrated_particle_mass(path, source: str) -> float | None:
    """The DM particle mass [Msun] of the input the tables `source` were calibrated on; None where the file
    does not record it (written before it did)."""
    with open_hdf5(path) as f:
        mass = f[source].attrs.get("dm_particle_mass_msun") if source in f else None
    return None if mass is None else float(mass)
