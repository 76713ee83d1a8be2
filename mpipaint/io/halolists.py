"""Halo lists without particle membership: the Rockstar family and plain tables. They give centres and masses,
so the halos they list are painted from `cube` deposition (every particle in the map's cube).

Rockstar family, told apart by nothing but their column names (a `#` line naming the columns; names are
matched in any case, with consistent-trees' `(index)` suffixes removed):
- Rockstar's `out_*.list` (`#ID DescID Mvir ... X Y Z ... M200c ...`) and `halos_*.ascii` (`#id num_p
  mvir ... x y z ... m200c ...`);
- consistent-trees' `hlist_*.list` (`#scale(0) id(1) ... pid(5) ... mvir(10) ... x(17) y(18) z(19) ...
  M200c(40) ...`), the form of most public Rockstar catalogs.
Positions are comoving Mpc/h and masses Msun/h; cosmology and box come from whichever header lines exist
(`#a = `, `#Om = ; Ol = ; h = ` or `#Omega_M = ; Omega_L = ; h0 = `, `#Box size: ` or `#Full box size = `),
the scale factor else from a `scale` column. Hosts only by default: `pid == -1` where a pid column exists;
otherwise (Rockstar's own lists) by Rockstar's find_parents rule, a halo whose centre lies within the
virial radius (rvir, kpc/h comoving) of a more massive one (mvir) is its subhalo.

Plain tables: CSV with a header row, or HDF5 with one dataset per column; columns `halo_id`, `x`, `y`, `z`
(or HDF5 `centre`, N x 3) and `m200c`, each with its unit: in the CSV header in brackets (`x [cMpc/h]`,
`m200c [Msun]`), as a `units` attribute in HDF5 (lengths kpc or Mpc, `c` first for comoving, `/h`
after; masses Msun, Msun/h or 1e10 Msun/h; `mpipaint.units`).
"""
from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from mpipaint import units as u
from mpipaint.cosmology import Cosmology
from mpipaint.errors import InputError
from mpipaint.io.halo_catalog import CatalogKind, HaloCatalog, layout, require_snapshot_and_m200c
from mpipaint.io.hdf5 import open_hdf5, require_dataset

MASS_COLUMNS = ("m200c", "mvir", "m200b", "m500c")  # Rockstar masses a cut may use (Msun/h)
PLAIN_COLUMNS = ("halo_id", "x", "y", "z", "m200c")  # a plain table's columns (HDF5: `centre` for x, y, z)
VELOCITY_COLUMNS = ("vx", "vy", "vz")  # peculiar velocities where a list has them (Rockstar's: physical km/s)
VELOCITY_UNIT = "km/s"
ROCKSTAR_LENGTH, ROCKSTAR_RADIUS, ROCKSTAR_MASS = "cMpc/h", "ckpc/h", "Msun/h"  # positions, radii, masses
_HEADER_VALUES = {  # key -> patterns of the header lines that give it (Rockstar's, consistent-trees')
    "scale_factor": (r"#\s*a\s*=\s*(\S+)",),
    "omega_m": (r"\bOm\s*=\s*([^;\s]+)", r"\bOmega_M\s*=\s*([^;\s]+)"),
    "omega_lambda": (r"\bOl\s*=\s*([^;\s]+)", r"\bOmega_L\s*=\s*([^;\s]+)"),
    "hubble": (r"\bh0?\s*=\s*([^;\s]+)",),
    "box_mpc_h": (r"#\s*Box size:\s*(\S+)", r"#\s*Full box size\s*=\s*(\S+)"),
}
_HEADER_LINES = {"scale_factor": "'#a = ...'", "omega_m": "'#Om = ...' or '#Omega_M = ...'",
                 "omega_lambda": "'#Ol = ...' or '#Omega_L = ...'", "hubble": "'h = ...' or 'h0 = ...'",
                 "box_mpc_h": "'#Box size: ...' or '#Full box size = ...'"}


def _column_names(line: str) -> list[str]:
    return [re.sub(r"\(\d+\)$", "", name).lower() for name in line.lstrip("#").split()]


def read_rockstar(path, mass_column: str = "m200c", hosts_only: bool = True, fallback: Cosmology | None = None,
                  ) -> HaloCatalog:
    """A Rockstar-family list (see the module); header values it lacks come from `fallback` (the box's
    snapshot) where given, else the missing line is named in the error."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    if mass_column not in MASS_COLUMNS:
        raise InputError(f"{path}: mass column must be one of {MASS_COLUMNS}, not {mass_column!r}")
    header, names, first_row = [], None, None
    with open(path) as handle:
        for line in handle:
            if not line.startswith("#"):
                first_row = line.split()
                break
            header.append(line)
            if names is None and {"id", "x", "y", "z"} <= set(_column_names(line)):
                names = _column_names(line)
        for number, line in enumerate(handle, start=len(header) + 2):  # a '#' among the rows: two lists run
            if line.startswith("#"):                                     # together, read as one by a CSV reader
                raise InputError(f"{path}: line {number} is a '#' header line after halo rows (two lists "
                                 "concatenated?); give each list as its own file")
    if names is None:
        raise InputError(f"{path}: no '#' line naming the columns (with id, x, y, z): not a Rockstar or "
                         "consistent-trees halo list")
    wanted = ["id", "x", "y", "z", "m200c", mass_column]
    if hosts_only:
        wanted += ["pid"] if "pid" in names else [name for name in ("mvir", "rvir") if name not in wanted]
    missing = [name for name in wanted if name not in names]
    if missing:
        why = ("; without a pid column hosts are told by mvir and rvir (keep every halo to do without)"
               if {"mvir", "rvir"} & set(missing) and "pid" not in names and hosts_only else "")
        raise InputError(f"{path}: the column header names no {', '.join(missing)} column{why} (names "
                         f"{' '.join(names)})")
    if first_row is not None and len(first_row) != len(names):
        raise InputError(f"{path}: the first row has {len(first_row)} values, the column header names {len(names)}")
    velocities = list(VELOCITY_COLUMNS) if set(VELOCITY_COLUMNS) <= set(names) else []
    reading = list(dict.fromkeys(wanted + velocities + (["scale"] if "scale" in names else [])))
    columns = sorted(names.index(name) for name in reading)
    try:
        data = pd.read_csv(path, sep=r"\s+", comment="#", header=None, usecols=columns,
                           names=range(len(names)), dtype=np.float64)
    except (ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"{path}: unreadable rows: {exc}") from None
    column = {name: data[names.index(name)].to_numpy() for name in reading}
    cosmology = _rockstar_cosmology(path, "".join(header), column, fallback)
    h = cosmology.hubble
    centre = u.length_to_kpc(np.stack([column[c] for c in "xyz"], axis=1), ROCKSTAR_LENGTH, cosmology.scale_factor,
                             h)
    if not hosts_only:
        keep = np.ones(len(column["id"]), bool)
    elif "pid" in column:
        keep = column["pid"] == -1
    else:
        rvir = u.length_to_kpc(column["rvir"], ROCKSTAR_RADIUS, cosmology.scale_factor, h)
        keep = hosts_by_position(centre, rvir, column["mvir"], cosmology.box_size_kpc)
    m200c = u.mass_to_msun(column["m200c"][keep], ROCKSTAR_MASS, h)
    velocity = np.stack([column[c][keep] for c in VELOCITY_COLUMNS], axis=1) if velocities else None
    return HaloCatalog(path, "rockstar", cosmology, column["id"][keep].astype(np.int64), centre[keep], m200c,
                       cosmology.r200c_kpc(m200c), u.mass_to_msun(column[mass_column][keep], ROCKSTAR_MASS, h),
                       mass_column, velocity_kms=velocity)


def hosts_by_position(centre, radius, mass, box: float) -> np.ndarray:
    """Per halo: True unless its centre lies within the radius of a more massive halo (Rockstar's
    find_parents), distances periodic in `box` (centre and radius in the same length unit)."""
    from scipy.spatial import cKDTree  # noqa: PLC0415 - only for lists without a pid column

    centre = np.mod(centre, box)
    tree = cKDTree(centre, boxsize=box)
    neighbours = tree.query_ball_point(centre, r=np.maximum(radius, 0.0), return_sorted=False)
    counts = np.fromiter((len(n) for n in neighbours), np.int64, len(neighbours))
    around = np.repeat(np.arange(len(centre)), counts)  # the halo whose radius is searched
    inside = np.concatenate([np.asarray(n, np.int64) for n in neighbours]) if len(centre) else around
    host = np.ones(len(centre), bool)
    host[inside[mass[inside] < mass[around]]] = False
    return host


def _rockstar_cosmology(path, header: str, column: dict, fallback: Cosmology | None) -> Cosmology:
    values = {}
    for key, patterns in _HEADER_VALUES.items():
        for pattern in patterns:
            found = re.search(pattern, header)
            if found:
                try:
                    values[key] = float(found.group(1))
                except ValueError:
                    raise InputError(f"{path}: header line {found.group(0)!r} holds no number") from None
                break
    if "scale_factor" not in values and len(column.get("scale", ())):
        values["scale_factor"] = float(column["scale"][0])
    if fallback is not None:
        defaults = {"scale_factor": fallback.scale_factor, "hubble": fallback.hubble, "omega_m": fallback.omega_m,
                    "omega_lambda": fallback.omega_lambda,
                    "box_mpc_h": fallback.box_size_kpc * fallback.hubble / (1e3 * fallback.scale_factor)}
        values = {**defaults, **values}
    missing = [_HEADER_LINES[key] for key in _HEADER_VALUES if key not in values]
    if missing:
        raise InputError(f"{path}: the header has no {', '.join(missing)} line")
    a, h = values["scale_factor"], values["hubble"]
    if not (0 < a <= 1.0 + 1e-6 and h > 0 and values["box_mpc_h"] > 0):
        raise InputError(f"{path}: header gives a = {a}, h = {h}, box {values['box_mpc_h']} Mpc/h: expected "
                         "0 < a <= 1, h > 0 and a positive box")
    return Cosmology.at_scale_factor(a, h, values["omega_m"], values["omega_lambda"],
                                     float(u.length_to_kpc(values["box_mpc_h"], ROCKSTAR_LENGTH, a, h)))


def read_plain_table(path, cosmology: Cosmology) -> HaloCatalog:
    """A plain CSV or HDF5 table (see the module) of halos in the box described by `cosmology`."""
    path = Path(path)
    values, units = _plain_hdf5(path) if h5py.is_hdf5(path) else _plain_csv(path)
    a, h = cosmology.scale_factor, cosmology.hubble
    try:
        centre = np.stack([u.length_to_kpc(values[c], units[c], a, h) for c in "xyz"], axis=1)
        m200c = u.mass_to_msun(values["m200c"], units["m200c"], h)
    except ValueError as exc:
        raise InputError(f"{path}: {exc}") from None
    bad = ~(np.isfinite(centre).all(axis=1) & np.isfinite(m200c) & (m200c > 0))
    if bad.any():
        row = int(np.argmax(bad))
        raise InputError(f"{path}: halo {int(values['halo_id'][row])} (row {row}) has a non-finite centre or a "
                         "non-positive m200c")
    return HaloCatalog(path, "plain table", cosmology, values["halo_id"].astype(np.int64), centre, m200c,
                       cosmology.r200c_kpc(m200c), m200c, "m200c", velocity_kms=_plain_velocities(path, values, units))


def _plain_velocities(path, values: dict, units: dict) -> np.ndarray | None:
    """Peculiar velocities [km/s] from vx, vy, vz columns where a table has all three, else None."""
    present = [c for c in VELOCITY_COLUMNS if c in values]
    if not present:
        return None
    wrong = [c for c in VELOCITY_COLUMNS if c not in values or units.get(c) != VELOCITY_UNIT]
    if wrong:
        raise InputError(f"{path}: velocity column(s) {wrong} missing or not in {VELOCITY_UNIT} (give vx, vy, vz "
                         f"as peculiar velocities, '[{VELOCITY_UNIT}]')")
    velocity = np.stack([np.asarray(values[c], np.float64) for c in VELOCITY_COLUMNS], axis=1)
    if not np.isfinite(velocity).all():
        raise InputError(f"{path}: velocity columns hold non-finite values (row "
                         f"{int(np.argmax(~np.isfinite(velocity).all(axis=1)))})")
    return velocity


def csv_columns(path: Path, what: str) -> tuple[dict, dict]:
    """({name: values}, {name: unit or None}) of a CSV with a header row whose names carry their units in
    brackets (`x [cMpc/h]`), names in lower case; `what` names the table in errors."""
    try:
        frame = pd.read_csv(path, comment="#", skipinitialspace=True)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"{path}: not a readable CSV {what}: {exc}") from None
    values, units = {}, {}
    for header in frame.columns:
        match = re.match(r"^\s*(\w+)\s*(?:\[(.*)\])?\s*$", str(header))
        if match:
            values[match[1].lower()], units[match[1].lower()] = frame[header].to_numpy(), match[2]
    return values, units


def _plain_csv(path: Path) -> tuple[dict, dict]:
    values, units = csv_columns(path, "halo table")
    _require_columns(path, values, units)
    return values, units


def _plain_hdf5(path: Path) -> tuple[dict, dict]:
    with open_hdf5(path) as f:
        values = {name: f[name][()] for name in PLAIN_COLUMNS + VELOCITY_COLUMNS if name in f}
        units = {name: f[name].attrs.get("units") for name in values}
        if "centre" in f and "x" not in values:
            centre = require_dataset(f, "centre")
            if centre.ndim != 2 or centre.shape[1] != 3:
                raise InputError(f"{path}: dataset 'centre' has shape {centre.shape}, expected (N, 3)")
            for k, c in enumerate("xyz"):
                values[c], units[c] = centre[:, k], centre.attrs.get("units")
    units = {name: (unit.decode() if isinstance(unit, bytes) else unit) for name, unit in units.items()}
    _require_columns(path, values, units)
    return values, units


def _require_columns(path, values: dict, units: dict) -> None:
    missing = [name for name in PLAIN_COLUMNS if name not in values]
    if missing:
        raise InputError(f"{path}: halo table lacks column(s) {missing} (expected halo_id, x, y, z or centre, "
                         "m200c)")
    unitless = [name for name in ("x", "y", "z", "m200c") if not units.get(name)]
    if unitless:
        raise InputError(f"{path}: column(s) {unitless} carry no units (CSV: 'x [cMpc/h]'; HDF5: a 'units' "
                         "attribute)")
    lengths = {len(v) for v in values.values()}
    if len(lengths) != 1:
        raise InputError(f"{path}: columns differ in length: {sorted(lengths)}")
    for name in PLAIN_COLUMNS:
        column = np.asarray(values[name])
        number = np.issubdtype(column.dtype, np.number) and not np.issubdtype(column.dtype, np.complexfloating)
        bad = np.ones(len(column), bool) if not number else ~np.isfinite(column.astype(np.float64))
        if name == "halo_id" and number:
            bad |= column.astype(np.float64) != np.round(column.astype(np.float64))
        if bad.any():
            row = int(np.argmax(bad))
            raise InputError(f"{path}: column {name} row {row} is {column[row]!r}, expected a finite "
                             f"{'integer' if name == 'halo_id' else 'number'} ({int(bad.sum())} such rows)")


def header_naming(path: Path, columns) -> list[str] | None:
    """The column names of the first of a text file's leading '#' lines that names all of `columns` (any
    case, `(index)` suffixes dropped), or None."""
    with open(path, errors="replace") as handle:
        for line in handle:
            if not line.startswith("#"):
                break
            names = _column_names(line)
            if set(columns) <= set(names):
                return names
    return None


def _rockstar_mismatch(path: Path) -> str | None:
    found = layout(path)
    if found != "header text":
        return f"{found}, not text whose first line is a '#' header"
    return None if header_naming(path, ("id", "x", "y", "z")) else "no '#' line names the columns id, x, y, z"


def _plain_mismatch(path: Path) -> str | None:
    found = layout(path)
    return None if found in ("hdf5", "text") else f"{found}, not a CSV without '#' header or HDF5 of columns"


def _snapshot_cosmology(snapshot) -> Cosmology | None:
    """What a list without a full header takes from the snapshot it belongs to (redshift 1/a - 1, as a list's
    own scale factor gives it)."""
    if snapshot is None:
        return None
    header = snapshot.header
    return Cosmology.at_scale_factor(header.scale_factor, header.hubble, header.omega_m, header.omega_lambda,
                                     snapshot.box_size_kpc)


def _read_plain(path, snapshot, mass_column, hosts_only) -> HaloCatalog:
    require_snapshot_and_m200c(path, snapshot, mass_column, "a plain halo table carries no cosmology")
    return read_plain_table(path, _snapshot_cosmology(snapshot))


def _read_rockstar(path, snapshot, mass_column, hosts_only) -> HaloCatalog:
    return read_rockstar(path, mass_column, hosts_only, _snapshot_cosmology(snapshot))


ROCKSTAR = CatalogKind("rockstar", _rockstar_mismatch, _read_rockstar)
PLAIN_TABLE = CatalogKind("plain table", _plain_mismatch, _read_plain)
