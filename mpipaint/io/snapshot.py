"""TNG / Illustris / AREPO / Gadget-4 HDF5 snapshot reader.

A snapshot is a single file (`snap_099.hdf5`) or a set of chunks (`snapdir_099/snap_099.K.hdf5`).
Each chunk holds a contiguous piece of every particle type, so a global index range of one type maps to
hyperslabs of consecutive chunks; `Snapshot.read` reads exactly that range and never the whole box.
Values come back in physical units (see `mpipaint.units`) unless `physical=False`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mpipaint import units as u
from mpipaint.errors import InputError
from mpipaint.io.hdf5 import open_hdf5, read_slice, require_attr, require_dataset

NTYPES = 6
GAS, DM, STARS = 0, 1, 4

_CHUNK_NAME = re.compile(r"^(?P<stem>.+)\.(?P<index>\d+)\.hdf5$")


@dataclass(frozen=True)
class SnapshotHeader:
    """The header values mpipaint needs, in code units as stored."""

    box_size: float
    hubble: float
    scale_factor: float
    redshift: float
    mass_table: np.ndarray
    num_part_total: np.ndarray
    num_files: int
    omega_m: float
    omega_lambda: float
    flavour: str  # "tng" (Illustris/TNG/AREPO) or "gadget4"


def _first_present(groups, name, what):
    for group in groups:
        if group is not None and name in group.attrs:
            return group.attrs[name]
    return require_attr(groups[0], name, what)


def read_header(h5file) -> tuple[SnapshotHeader, u.CodeUnits]:
    """Parse Header (+ Parameters/Units for Gadget-4) of an open snapshot or catalog file."""
    header = h5file.get("Header")
    if header is None:
        raise InputError(f"{h5file.filename}: group 'Header' missing: not a Gadget/AREPO snapshot")
    params = h5file.get("Parameters")
    flavour = "gadget4" if (params is not None and "HubbleParam" not in header.attrs) else "tng"
    cosmo_groups = [header, params]
    low = np.asarray(require_attr(header, "NumPart_Total", "header attribute"), dtype=np.uint64)
    high = np.asarray(header.attrs.get("NumPart_Total_HighWord", np.zeros(NTYPES)), dtype=np.uint64)
    total = (low + (high << np.uint64(32))).astype(np.int64)
    scale_factor = float(require_attr(header, "Time", "header attribute"))
    hubble = float(_first_present(cosmo_groups, "HubbleParam", "header attribute"))
    hdr = SnapshotHeader(
        box_size=float(_first_present(cosmo_groups, "BoxSize", "header attribute")),
        hubble=hubble,
        scale_factor=scale_factor,
        redshift=float(require_attr(header, "Redshift", "header attribute")),
        mass_table=np.asarray(require_attr(header, "MassTable", "header attribute"), dtype=np.float64),
        num_part_total=total,
        num_files=int(require_attr(header, "NumFilesPerSnapshot", "header attribute")),
        omega_m=float(_first_present(cosmo_groups, "Omega0", "header attribute")),
        omega_lambda=float(_first_present(cosmo_groups, "OmegaLambda", "header attribute")),
        flavour=flavour,
    )
    return hdr, read_code_units(h5file)


def _attr_or(groups, name, default):
    for group in groups:
        if group is not None and name in group.attrs:
            return group.attrs[name]
    return default


def read_code_units(h5file) -> u.CodeUnits:
    """Code units of an open snapshot or catalog file: Units, then Parameters, then Header, else TNG's."""
    header = h5file.get("Header")
    if header is None:
        raise InputError(f"{h5file.filename}: group 'Header' missing")
    params = h5file.get("Parameters")
    groups = [h5file.get("Units"), params, header]
    return u.CodeUnits(
        length_cm=float(_attr_or(groups, "UnitLength_in_cm", u.TNG_UNIT_LENGTH_CM)),
        mass_g=float(_attr_or(groups, "UnitMass_in_g", u.TNG_UNIT_MASS_G)),
        velocity_cm_s=float(_attr_or(groups, "UnitVelocity_in_cm_per_s", u.TNG_UNIT_VELOCITY_CM_S)),
        hubble=float(_first_present([header, params], "HubbleParam", "header attribute")),
        scale_factor=float(require_attr(header, "Time", "header attribute")),
        comoving=bool(_attr_or([params], "ComovingIntegrationOn", 1)),
    )


def chunk_files(path) -> list[Path]:
    """The ordered chunk files of the snapshot at `path` (a file, one chunk, or a snapdir)."""
    path = Path(path)
    if path.is_dir():
        chunks = sorted(path.glob("*.hdf5"), key=lambda p: _chunk_index(p))
        if not chunks:
            raise InputError(f"{path}: directory holds no *.hdf5 snapshot chunks")
        first = chunks[0]
    else:
        first = path
    with open_hdf5(first) as f:
        hdr, _ = read_header(f)
    match = _CHUNK_NAME.match(first.name)
    if hdr.num_files == 1:
        return [first]
    if match is None:
        raise InputError(f"{first}: header says NumFilesPerSnapshot={hdr.num_files}, but the name has "
                         "no chunk index (expected NAME.K.hdf5)")
    stem = match.group("stem")
    files = [first.parent / f"{stem}.{k}.hdf5" for k in range(hdr.num_files)]
    for file in files:
        if not file.exists():
            raise InputError(f"{file}: chunk file missing (NumFilesPerSnapshot={hdr.num_files} in {first})")
    return files


def _chunk_index(path: Path) -> int:
    match = _CHUNK_NAME.match(path.name)
    return int(match.group("index")) if match else -1


def find_in_output(output_dir, what: str, *names: str) -> Path:
    """The first of `names` that exists under a run's output directory, or an error listing them."""
    output_dir = Path(output_dir)
    for name in names:
        if (output_dir / name).exists():
            return output_dir / name
    raise InputError(f"{output_dir}: no {what} (expected {' or '.join(names)})")


def find_snapshot(output_dir, snapnum: int) -> Path:
    """Locate snapshot `snapnum` under a run's output directory: snapdir_NNN/ or snap_NNN.hdf5."""
    return find_in_output(output_dir, f"snapshot {snapnum}", f"snapdir_{snapnum:03d}/", f"snap_{snapnum:03d}.hdf5")


class Snapshot:
    """Random access to one snapshot's particles by global index range, one chunk hyperslab at a time."""

    def __init__(self, path):
        self.path = Path(path)
        self.files = chunk_files(path)
        counts = []
        for file in self.files:
            with open_hdf5(file) as f:
                hdr, code_units = read_header(f)
                counts.append(np.asarray(require_attr(f["Header"], "NumPart_ThisFile", "header attribute"),
                                         dtype=np.int64))
                if file == self.files[0]:
                    self.header, self.units = hdr, code_units
        self.file_counts = np.array(counts, dtype=np.int64).reshape(len(self.files), NTYPES)
        self.file_offsets = np.vstack([np.zeros(NTYPES, np.int64), np.cumsum(self.file_counts, axis=0)])
        summed = self.file_offsets[-1]
        if not np.array_equal(summed, self.header.num_part_total):
            raise InputError(f"{self.path}: chunks hold {summed.tolist()} particles per type, header "
                             f"NumPart_Total says {self.header.num_part_total.tolist()}")

    @property
    def box_size_kpc(self) -> float:
        """Periodic box side in physical kpc."""
        return float(self.units.length_to_kpc(self.header.box_size))

    @property
    def redshift(self) -> float:
        return self.header.redshift

    def num_particles(self, ptype: int) -> int:
        return int(self.header.num_part_total[ptype])

    def typical_mass_msun(self, ptype: int, sample: int = 1000) -> float:
        """The median mass of the first `sample` particles of a type [Msun]: the mass resolution of the run."""
        count = min(sample, self.num_particles(ptype))
        if count == 0:
            raise InputError(f"{self.path}: no PartType{ptype} particles, so no mass resolution")
        return float(np.median(self.read(ptype, "Masses", 0, count)))

    def read(self, ptype: int, field: str, start: int = 0, stop: int | None = None,
             physical: bool = True) -> np.ndarray:
        """Particles [start, stop) of type `ptype`, field `field`, physical units unless physical=False."""
        total = self.num_particles(ptype)
        stop = total if stop is None else stop
        if not 0 <= start <= stop <= total:
            raise InputError(f"{self.path}: range {start}:{stop} of PartType{ptype} outside 0:{total}")
        if field == "Masses" and self.header.mass_table[ptype] > 0:
            values = np.full(stop - start, self.header.mass_table[ptype], dtype=np.float64)
        else:
            values = self._read_raw(ptype, field, start, stop)
        if np.issubdtype(values.dtype, np.floating):
            _require_finite(values, self.path, ptype, field, start)
            _require_physical(values, self.path, ptype, field, start)
        return self.units.to_physical(field, values) if physical else values

    def _read_raw(self, ptype, field, start, stop):
        """Read [start, stop) straight into one array, a hyperslab of each chunk it spans."""
        first = int(np.searchsorted(self.file_offsets[1:, ptype], start, side="right"))
        out = None
        for k in range(first, len(self.files)):
            lo_global, hi_global = self.file_offsets[k, ptype], self.file_offsets[k + 1, ptype]
            if lo_global >= stop:
                break
            lo, hi = max(start, lo_global) - lo_global, min(stop, hi_global) - lo_global
            if hi <= lo:
                continue
            with open_hdf5(self.files[k]) as f:
                dset = require_dataset(f, f"PartType{ptype}/{field}")
                if out is None:
                    out = np.empty((stop - start,) + dset.shape[1:], dtype=dset.dtype)
                at = lo + lo_global - start
                read_slice(dset, lo, hi, out=out[at:at + hi - lo])
        return out if out is not None else self._empty(ptype, field)

    def _empty(self, ptype, field):
        """A zero-length array with the dataset's row shape and dtype (float64 if no chunk holds the type)."""
        for k in range(len(self.files)):
            if self.file_counts[k, ptype] > 0:
                with open_hdf5(self.files[k]) as f:
                    dset = require_dataset(f, f"PartType{ptype}/{field}")
                    return np.empty((0,) + dset.shape[1:], dtype=dset.dtype)
        return np.empty(0, dtype=np.float64)

    def temperature(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Gas temperature [K] from InternalEnergy and ElectronAbundance of gas cells [start, stop)."""
        energy = self.read(GAS, "InternalEnergy", start, stop)
        electrons = self.read(GAS, "ElectronAbundance", start, stop)
        return u.temperature_from_internal_energy(energy, electrons)


# fields no particle can have at or below zero (a negative internal energy painted T = -10 keV pixels), and
# below zero; not metallicities, which advection can leave a hair below zero in real runs
POSITIVE_FIELDS = {"Masses", "Density", "InternalEnergy"}
NON_NEGATIVE_FIELDS = {"StarFormationRate"}


def _require_physical(values, path, ptype, field, start):
    """Refuse non-positive masses, densities and internal energies and negative star formation rates."""
    if field in POSITIVE_FIELDS:
        bad = values <= 0
    elif field in NON_NEGATIVE_FIELDS:
        bad = values < 0
    else:
        return
    if len(values) and bad.any():
        index = start + int(np.argmax(bad))
        raise InputError(f"{path}: PartType{ptype}/{field} has {int(bad.sum())} values that no particle can have "
                         f"(first at particle {index}: {values.flat[index - start]})")


def _require_finite(values, path, ptype, field, start):
    """Refuse NaN/inf values. One sum is non-finite if any element is (or on overflow), so the exact
    element-wise check runs only then."""
    if np.isfinite(values.sum()):
        return
    bad = ~np.isfinite(values)
    if bad.any():
        index = start + int(np.argwhere(bad)[0][0])
        raise InputError(f"{path}: PartType{ptype}/{field} has non-finite values (first at particle {index})")
