"""The painted catalog written by `mpipaint paint`: one row per halo, one column per projection axis.

Per halo: `halo_id`, `snapshot`, `redshift`, `m200c` [Msun], `r200c` [kpc], `centre` [kpc] (N x 3),
`done` (1 once the row is written). Per halo and axis (N x n_axes): `mdm_proj` [Msun], projected DM mass in
the map; and for each model bundle: `lx` [erg/s] (0.5-2 keV, sum of the X-ray map), `mgas` [Msun] (sum of
the gas map), `t_mean` [keV] (mean of the temperature map over pixels holding DM). With --maps:
`map_dm` and `map_<target>` (N x n_axes x npix x npix). With correction tables (`corrections.py`), for
`lx` and `mgas`: `<quantity>_weight` (N x n_axes), the number-density weight that turns counts of
painted halos into the corrected distribution function (NaN outside the calibrated range), and
`<quantity>_outside_calibration` (1 there). Root attribute `complete` is True only at the end.

Written collectively with h5py's mpio driver when h5py has MPI (each rank writes its own rows), else
gathered to rank 0; both give the same file.
"""
from __future__ import annotations

import h5py
import numpy as np

from mpipaint.maps.gas import MAP_UNITS

SUMMARY = {  # target -> (dataset, units, description)
    "dm": ("mdm_proj", "Msun", "projected dark-matter mass in the map"),
    "xray": ("lx", "erg/s", "0.5-2 keV rest-frame luminosity: sum of the painted X-ray map"),
    "gas": ("mgas", "Msun", "hot-gas mass: sum of the painted gas map"),
    "temperature": ("t_mean", "keV", "mean painted temperature over pixels holding dark matter"),
}
PER_HALO = {"halo_id": ("int64", ""), "snapshot": ("int32", ""), "redshift": ("float64", ""),
            "m200c": ("float64", "Msun"), "r200c": ("float64", "kpc")}


def summarise(target: str, image: np.ndarray, dm_image: np.ndarray, pixel_area: float) -> float:
    """The per-halo number of one painted map (see SUMMARY)."""
    if target == "temperature":
        holds_dm = dm_image > 0
        return float(image[holds_dm].mean()) if holds_dm.any() else 0.0
    return float(image.sum(dtype=np.float64) * pixel_area)


def create(f: h5py.File, table, targets, naxes: int, npix: int, with_maps: bool, attrs: dict,
           corrected=()) -> None:
    """Lay out an empty painted catalog in the open file `f` (collective under mpio); `corrected` names
    the quantities (lx, mgas) that get correction weights."""
    n = len(table)
    for name, (dtype, unit) in PER_HALO.items():
        f.create_dataset(name, data=table[name].to_numpy().astype(dtype)).attrs["units"] = unit
    centre = table[["centre_x", "centre_y", "centre_z"]].to_numpy(dtype=np.float64)
    f.create_dataset("centre", data=centre).attrs["units"] = "kpc"
    for target in ("dm",) + tuple(targets):
        name, unit, description = SUMMARY[target]
        dset = f.create_dataset(name, shape=(n, naxes), dtype="float64", fillvalue=np.nan)
        dset.attrs.update({"units": unit, "description": description})
        if with_maps:
            maps = f.create_dataset(f"map_{target}", shape=(n, naxes, npix, npix), dtype="float64")
            maps.attrs["units"] = MAP_UNITS[target]
    for quantity in corrected:
        weight = f.create_dataset(f"{quantity}_weight", shape=(n, naxes), dtype="float64", fillvalue=np.nan)
        weight.attrs.update({"units": "", "description": "number-density weight phi_true/phi_predicted at "
                             f"this {quantity} (correction table, interpolated in log space)"})
        flag = f.create_dataset(f"{quantity}_outside_calibration", shape=(n, naxes), dtype="uint8")
        flag.attrs.update({"units": "", "description": f"1: {quantity} outside the calibrated range, weight NaN"})
    f.create_dataset("done", shape=(n,), dtype="uint8").attrs["units"] = ""
    for key, value in attrs.items():
        f.attrs[key] = value
    f.attrs["complete"] = False


def write_row(f: h5py.File, row: int, summaries: dict, maps: dict | None, weights: dict) -> None:
    """Write one halo's per-axis numbers (and maps, correction weights), then its done flag."""
    for target, values in summaries.items():
        f[SUMMARY[target][0]][row] = values
    for quantity, (weight, outside) in weights.items():
        f[f"{quantity}_weight"][row] = weight
        f[f"{quantity}_outside_calibration"][row] = outside
    for target, images in (maps or {}).items():
        f[f"map_{target}"][row] = images
    f["done"][row] = 1
