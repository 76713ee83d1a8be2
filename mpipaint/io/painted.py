"""The painted catalog written by `mpipaint paint`: one row per halo, one column per projection axis.

Per halo: `halo_id`, `snapshot`, `redshift`, `m200c` [Msun], `r200c` [kpc], `centre` [kpc] (N x 3),
`velocity` [km/s] (N x 3, peculiar; NaN where the catalog has none), `done` (1 once the row is written).
Per halo and axis (N x n_axes): `mdm_proj` [Msun], projected DM mass in the map; and for each target: `lx`
[erg/s] (0.5-2 keV, sum of the X-ray map), `mgas` [Msun] (sum of the gas map), `t_mean` [keV] (mean of the
temperature map over pixels holding DM), `y_int` [physical kpc^2] (Compton-Y: sum of the y map x pixel area),
each the mean over the target's ensemble members, with
`<quantity>_std` (their standard deviation) when there are several,
`<quantity>_sigma_dex` (the halo's uncertainty: the members' spread in log10 and the bundles' residual
scatter on their validation halos, in quadrature; when the bundles record it), and `<quantity>_at_bound`
(fraction of the map's pixels at the upper bound of the trained range). Diagnostics:
`dm_outside_range` (fraction of DM pixels brighter than any a bundle was trained on) and the flag
`out_of_range` (1: either fraction above `science.ranges.FLAG_FRACTION`, the box's DM particles heavier than the
training run's by more than `science.ranges.RESOLUTION_TOLERANCE`, or a map without DM; the row's values are
extrapolations). With
--maps: `map_dm` and `map_<target>` (ensemble mean; N x n_axes x npix x npix). With correction tables
(`science/corrections.py`), for
`lx`, `mgas` and `y_int`: `<quantity>_weight` (N x n_axes), the number-density weight that turns counts of
painted halos into the corrected distribution function (NaN outside the calibrated range), and
`<quantity>_outside_calibration` (1 there). Root attribute `complete` is True only at the end.

Root attributes: the maps' `MapSpec`, `axes`, `box_size_kpc`, the snapshot's cosmology (`scale_factor`,
`hubble`, `omega_m`, `omega_lambda`) and the run's settings. `columns`, `create`
and `write_rows` write it, the values from `science.summaries.halo_values` (for paint, under mpio by each
rank or through rank 0; both give the same file); `PaintedCatalog` reads it (the demo, export-fits).
"""
from __future__ import annotations

import h5py
import numpy as np

from mpipaint.errors import InputError
from mpipaint.io.halotable import VELOCITY_COLUMNS
from mpipaint.io.hdf5 import FinishedFile, create_allocated, require_attr, require_dataset
from mpipaint.maps.gas import MAP_UNITS
from mpipaint.maps.geometry import MapSpec
from mpipaint.science.summaries import SUMMARY

PER_HALO = {"halo_id": ("int64", ""), "snapshot": ("int32", ""), "redshift": ("float64", ""),
            "m200c": ("float64", "Msun"), "r200c": ("float64", "kpc")}
PER_HALO_VECTORS = ("centre", "velocity")  # (N, 3) per halo, not per axis


def columns(members: dict, corrected=(), residuals=None) -> dict:
    """{dataset: (dtype, units, description)} of the per-halo-and-axis columns of a catalog painted with
    `members[target]` bundles per target, the targets' validation residual scatters [dex] where known
    (`residuals`), and correction weights for the `corrected` quantities."""
    result = {"mdm_proj": ("float64",) + SUMMARY["dm"][1:],
              "dm_outside_range": ("float64", "", "fraction of DM pixels brighter than the input range a bundle "
                                   "was trained on (largest over bundles)"),
              "out_of_range": ("uint8", "", "1: DM pixels outside or painted pixels at the bound of the trained "
                               "range exceed the flag fraction, the box is coarser than the training run, or "
                               "the map holds no DM; values are extrapolations")}
    for target, count in members.items():
        name, unit, description = SUMMARY[target]
        result[name] = ("float64", unit, description + (f" (mean of {count} ensemble members)" if count > 1 else ""))
        if count > 1:
            result[f"{name}_std"] = ("float64", unit, f"standard deviation of {name} over {count} ensemble members")
        if (residuals or {}).get(target) is not None:
            result[f"{name}_sigma_dex"] = ("float64", "dex", f"uncertainty of log10 {name}: members' spread and the "
                                           "validation residual scatter in quadrature")
        result[f"{name}_at_bound"] = ("float64", "", "fraction of painted pixels at the upper bound of the trained "
                                      "range (largest over members)")
    for quantity in corrected:
        result[f"{quantity}_weight"] = ("float64", "", "number-density weight phi_true/phi_predicted at this "
                                        f"{quantity} (correction table, interpolated in log space)")
        result[f"{quantity}_outside_calibration"] = ("uint8", "", f"1: {quantity} outside the calibrated range, "
                                                     "weight NaN")
    return result


def create(f: h5py.File, table, naxes: int, npix: int, row_columns: dict, map_targets, attrs: dict) -> None:
    """Lay out an empty painted catalog in the open file `f`, every dataset's storage placed and rows filled
    with NaN (0 for flags), so that writing rows changes no metadata (`hdf5.create_allocated`):
    `row_columns` from `columns`, and maps of `map_targets` (none without --maps)."""
    n = len(table)
    for name, (dtype, unit) in PER_HALO.items():
        f.create_dataset(name, data=table[name].to_numpy().astype(dtype)).attrs["units"] = unit
    centre = table[["centre_x", "centre_y", "centre_z"]].to_numpy(dtype=np.float64)
    f.create_dataset("centre", data=centre).attrs["units"] = "kpc"
    velocity = np.stack([table[name].to_numpy(np.float64) if name in table else np.full(n, np.nan)
                         for name in VELOCITY_COLUMNS], axis=1)
    f.create_dataset("velocity", data=velocity).attrs.update(
        {"units": "km/s", "description": "peculiar velocity of the halo (NaN: its catalog has none)"})
    for name, (dtype, unit, description) in row_columns.items():
        fill = np.nan if dtype == "float64" else 0
        dset = create_allocated(f, name, (n, naxes), dtype, fill)
        dset.attrs.update({"units": unit, "description": description})
    for target in map_targets:
        maps = create_allocated(f, f"map_{target}", (n, naxes, npix, npix), "float64")
        maps.attrs["units"] = MAP_UNITS[target]
    create_allocated(f, "done", (n,), "uint8", 0).attrs["units"] = ""
    for key, value in attrs.items():
        f.attrs[key] = value
    f.attrs["complete"] = False


def write_rows(f: h5py.File, rows, flush) -> None:
    """Write a group of halos' per-axis values (and maps), [(row, values, maps or None)], one write per
    dataset for the whole group (a write per halo and column took a quarter of a GPU's time per halo:
    BENCHMARKS.md), `flush`, then set their done flags and `flush` again: a flag never reaches the file
    before its row. The datasets stay open through each flush, so a failed write raises there (h5py
    ignores the error when a dropped handle's buffered bytes fail to reach the disk)."""
    rows = sorted(rows, key=lambda item: item[0])  # h5py's point selections must increase
    where = [row for row, _, _ in rows]
    datasets = {name: f[name] for name in rows[0][1]}
    datasets.update({f"map_{target}": f[f"map_{target}"] for target in rows[0][2] or {}})
    for name in rows[0][1]:
        datasets[name][where] = np.stack([values[name] for _, values, _ in rows])
    for target in rows[0][2] or {}:
        datasets[f"map_{target}"][where] = np.stack([maps[target] for _, _, maps in rows])
    flush()
    done = f["done"]
    done[where] = 1
    flush()


MAY_BE_NAN = ("_weight", "_sigma_dex")  # endings of columns that a painted row can hold as NaN (see `columns`)


def verified_done(f: h5py.File) -> tuple[np.ndarray, int]:
    """(per halo: flagged done and its row written, number of halos flagged done without their row). A row
    counts as written when its flag is exactly 1 and every column that a painted row always holds a number
    in is finite; any other flag (a damaged file, a write lost in a crash) is painted again on resume."""
    flags = f["done"][()]
    done = flags == 1
    for name, dset in f.items():
        if (isinstance(dset, h5py.Dataset) and dset.dtype == np.float64 and dset.ndim == 2
                and name not in PER_HALO_VECTORS and not name.endswith(MAY_BE_NAN)):
            done &= np.isfinite(dset[()]).all(axis=1)
    return done, int(np.count_nonzero(flags)) - int(done.sum())


class PaintedCatalog(FinishedFile):
    """A complete painted catalog open for reading (a context manager): per-halo and per-axis columns, the
    maps of `--maps`. A missing, unreadable or unfinished file is an InputError naming it."""

    kind = "painted catalog"
    finish_hint = "re-run the paint job"

    def _check(self) -> None:
        for name in (*PER_HALO, "centre", "mdm_proj", "out_of_range"):
            require_dataset(self.file, name)
        self.spec = MapSpec.from_attrs(self.file.attrs)
        self.axes = [int(axis) for axis in require_attr(self.file, "axes")]
        self.box_size_kpc = float(require_attr(self.file, "box_size_kpc"))

    def __len__(self) -> int:
        return len(self.file["halo_id"])

    def __contains__(self, name: str) -> bool:
        return name in self.file

    def attr(self, name: str, default=None):
        return self.file.attrs.get(name, default)

    def per_halo(self, name: str) -> np.ndarray:
        """A per-halo-and-axis column averaged over the projection axes (one value per halo)."""
        return self.column(name).mean(axis=1)

    @property
    def map_names(self) -> list[str]:
        """The stored maps (`map_dm`, `map_<target>`); none without --maps."""
        return sorted(name for name in self.file if name.startswith("map_"))

    def maps(self, name: str, row: int) -> np.ndarray:
        """One halo's maps of `name` (n_axes x npix x npix)."""
        return self.file[name][row]


def halo_maps(path, name: str, halo_ids, axes) -> tuple[np.ndarray, float]:
    """One painted catalog's maps `name` of halos `halo_ids`, each for its projection along box axis
    `axes[k]` (n x npix x npix), and the maps' comoving pixel size [ckpc]: what the sky needs of `paint
    --maps`. A halo or axis the catalog has not painted is an InputError naming the file."""
    with PaintedCatalog(path) as catalog:
        if name not in catalog:
            raise InputError(f"{path}: no {name} maps (paint with --maps to have them)")
        index = {int(h): k for k, h in enumerate(catalog.column("halo_id"))}
        axis_index = {a: k for k, a in enumerate(catalog.axes)}
        missing = [(int(h), int(a)) for h, a in zip(halo_ids, axes) if int(h) not in index or int(a) not in axis_index]
        if missing:
            raise InputError(f"{path}: no painted map of halo {missing[0][0]} along axis {missing[0][1]} "
                             f"({len(missing)} such)")
        maps = catalog.file[name]
        images = np.stack([maps[index[int(h)], axis_index[int(a)]] for h, a in zip(halo_ids, axes)]) if len(axes) \
            else np.empty((0, catalog.spec.npix, catalog.spec.npix), maps.dtype)
        return images, catalog.spec.pixel_kpc / float(require_attr(catalog.file, "scale_factor"))
