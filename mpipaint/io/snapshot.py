"""Snapshot reader: TNG / Illustris / AREPO / Gadget-4 / SWIFT HDF5, and Gadget-2/3 binary (`io.gadget_binary`).

A snapshot is a single file (`snap_099.hdf5`, `snapshot_099`) or a set of chunks (`snapdir_099/snap_099.K.hdf5`,
`snapshot_099.K`); the format is told from each file's first bytes. Each chunk holds a contiguous piece of
every particle type, so a global index range of one type maps to hyperslabs of consecutive chunks;
`Snapshot.read` reads exactly that range and never the whole box. Values come back in physical units (see
`mpipaint.units`) unless `physical=False`. A file whose header claims more chunks but has no sibling files
(a cut-out rewritten by another tool) is read alone, with a warning.
"""
from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path

import h5py
import numpy as np

from mpipaint import units as u
from mpipaint.errors import InputError
from mpipaint.io.gadget_binary import GadgetBinaryFile
from mpipaint.io.hdf5 import OpenFiles, metadata_named, open_hdf5, read_slice, require_attr
from mpipaint.io.particle_types import GAS, NTYPES, SnapshotHeader

# gas fields many runs do not store, the value assumed for every cell then, and the assumption as recorded
ASSUMED_GAS_FIELDS = {"ElectronAbundance": (u.FULLY_IONISED_ELECTRON_ABUNDANCE,
                                            "ElectronAbundance not stored: gas taken as fully ionised (n_e/n_H = "
                                            f"{u.FULLY_IONISED_ELECTRON_ABUNDANCE:.4f}, mu = 0.588) for its "
                                            "temperature, density and X-ray emission")}

_CHUNK_NAME = re.compile(r"^(?P<stem>.+)\.(?P<index>\d+)(?P<suffix>\.hdf5)?$")  # HDF5 or binary chunks


def _first_present(groups, name, what):
    for group in groups:
        if group is not None and name in group.attrs:
            return group.attrs[name]
    return require_attr(groups[0], name, what)


def read_header(h5file) -> tuple[SnapshotHeader, u.CodeUnits]:
    """Parse Header (+ Parameters/Units for Gadget-4) of an open snapshot or catalog file."""
    with metadata_named(h5file.filename, "the header"):
        return _parse_header(h5file)


def _parse_header(h5file) -> tuple[SnapshotHeader, u.CodeUnits]:
    header = h5file.get("Header")
    if header is None:
        raise InputError(f"{h5file.filename}: group 'Header' missing: not a Gadget/AREPO snapshot")
    if "Cosmology" in h5file and "Scale-factor" in header.attrs:
        return _swift_header(h5file, header)
    params = h5file.get("Parameters")
    flavour = "gadget4" if (params is not None and "HubbleParam" not in header.attrs) else "tng"
    cosmo_groups = [header, params]
    total = _total_counts(header)
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


def per_type(values) -> np.ndarray:
    """A per-type header array for the NTYPES types read (SWIFT's seventh, neutrinos, is not painted)."""
    return np.ravel(values)[:NTYPES]


def _counts_from_words(low, high) -> np.ndarray:
    """Particles per type from a header's NumPart_Total and its high words (counts beyond 2^32)."""
    low, high = (per_type(words).astype(np.uint64) for words in (low, high))
    return (low + (high << np.uint64(32))).astype(np.int64)


def _total_counts(header) -> np.ndarray:
    return _counts_from_words(require_attr(header, "NumPart_Total", "header attribute"),
                              header.attrs.get("NumPart_Total_HighWord", np.zeros(NTYPES)))


def _scalar(group, name: str, what: str) -> float:
    return float(np.ravel(require_attr(group, name, what))[0])


def _swift_header(h5file, header) -> tuple[SnapshotHeader, u.CodeUnits]:
    """A SWIFT snapshot: cosmology from its Cosmology group, units from its Units group (no h anywhere;
    comoving positions, peculiar velocities)."""
    cosmology, units = h5file["Cosmology"], h5file.get("Units")
    if units is None:
        raise InputError(f"{h5file.filename}: group 'Units' missing from a SWIFT snapshot")
    scale_factor = _scalar(header, "Scale-factor", "header attribute")
    hdr = SnapshotHeader(
        box_size=_scalar(header, "BoxSize", "header attribute"), hubble=_scalar(cosmology, "h", "cosmology attribute"),
        scale_factor=scale_factor, redshift=_scalar(header, "Redshift", "header attribute"),
        mass_table=per_type(require_attr(header, "MassTable", "header attribute")).astype(np.float64),
        num_part_total=_total_counts(header), num_files=int(_scalar(header, "NumFilesPerSnapshot", "header attribute")),
        omega_m=_scalar(cosmology, "Omega_m", "cosmology attribute"),
        omega_lambda=_scalar(cosmology, "Omega_lambda", "cosmology attribute"), flavour="swift")
    length_cm = _scalar(units, "Unit length in cgs (U_L)", "SWIFT unit")
    code = u.CodeUnits(length_cm, _scalar(units, "Unit mass in cgs (U_M)", "SWIFT unit"),
                       length_cm / _scalar(units, "Unit time in cgs (U_t)", "SWIFT unit"), hubble=1.0,
                       scale_factor=scale_factor, comoving=bool(cosmology.attrs.get("Cosmological run", [1])[0]),
                       velocity_sqrt_a=False)
    return hdr, code


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


class _HDF5Chunk:
    """One HDF5 file of a snapshot; its particles are read through the snapshot's few open files (thousands of
    chunks stay closed)."""

    def __init__(self, path: Path, open_files: OpenFiles):
        self.path, self.open_files = path, open_files
        with open_hdf5(path) as f:
            self.header, self.units = read_header(f)
            self.counts = per_type(require_attr(f["Header"], "NumPart_ThisFile", "header attribute")).astype(np.int64)
            self.stored = np.array([_rows(f.get(f"PartType{t}")) for t in range(NTYPES)], np.int64)

    def has(self, ptype: int, field: str) -> bool:
        with open_hdf5(self.path) as f:
            return f"PartType{ptype}/{field}" in f

    def row_format(self, ptype: int, field: str) -> tuple[tuple, np.dtype]:
        dset = self.open_files.dataset(self.path, f"PartType{ptype}/{field}")  # the read that follows uses it
        return dset.shape[1:], dset.dtype

    def read_into(self, ptype: int, field: str, lo: int, hi: int, out: np.ndarray) -> None:
        read_slice(self.open_files.dataset(self.path, f"PartType{ptype}/{field}"), lo, hi, out=out)


class _BinaryChunk:
    """One Gadget binary file of a snapshot, in Gadget's default code units (the format stores none)."""

    def __init__(self, path: Path):
        self.path, self.file = path, GadgetBinaryFile(path)
        h = self.file.header
        self.header = SnapshotHeader(box_size=float(h["box_size"]), hubble=float(h["hubble"]),
                                     scale_factor=float(h["time"]), redshift=float(h["redshift"]),
                                     mass_table=np.asarray(h["mass"], np.float64),
                                     num_part_total=_counts_from_words(h["npart_total"], h["npart_total_high"]),
                                     num_files=int(h["num_files"]), omega_m=float(h["omega0"]),
                                     omega_lambda=float(h["omega_lambda"]), flavour="gadget-binary")
        self.units = u.CodeUnits(u.TNG_UNIT_LENGTH_CM, u.TNG_UNIT_MASS_G, u.TNG_UNIT_VELOCITY_CM_S,
                                 hubble=self.header.hubble or 1.0, scale_factor=self.header.scale_factor,
                                 comoving=self.header.omega_m > 0)
        self.counts = np.asarray(h["npart"], np.int64)
        self.stored = self.counts  # every block's size was checked against these counts

    def has(self, ptype: int, field: str) -> bool:
        return self.file.has(ptype, field)

    def row_format(self, ptype: int, field: str) -> tuple[tuple, np.dtype]:
        return self.file.row_format(ptype, field)

    def read_into(self, ptype: int, field: str, lo: int, hi: int, out: np.ndarray) -> None:
        self.file.read_into(ptype, field, lo, hi, out)


def _rows(group) -> int:
    """Particles a PartType group holds: the length of its first dataset (0 for none)."""
    first = next((item for item in (group or {}).values() if isinstance(item, h5py.Dataset)), None)
    return 0 if first is None else len(first)


def open_chunk(path: Path, open_files: OpenFiles | None = None):
    """One file of a snapshot, HDF5 or Gadget binary by its first bytes; an HDF5 chunk is read through
    `open_files` (by default its own)."""
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    return _HDF5Chunk(path, open_files or OpenFiles()) if h5py.is_hdf5(path) else _BinaryChunk(path)


def _first_chunk(path: Path) -> Path:
    """The file to start from: `path`, the first chunk of a snapdir, or chunk 0 of a multi-file snapshot named
    by its stem (`snapshot_005` for snapshot_005.K, as yt and pynbody take it)."""
    if not path.exists():
        return next((stem_chunk for suffix in (".0", ".0.hdf5")
                     if (stem_chunk := path.with_name(path.name + suffix)).is_file()), path)
    if not path.is_dir():
        return path
    files = [p for p in path.iterdir() if p.is_file()]
    chunks = sorted((p for p in files if _CHUNK_NAME.match(p.name)), key=_chunk_index)
    if chunks:
        return chunks[0]
    if len(files) == 1:
        return files[0]
    raise InputError(f"{path}: directory holds no snapshot chunks (NAME.K.hdf5, or Gadget binary NAME.K) and not "
                     "a single snapshot file")


def chunk_files(path) -> list[Path]:
    """The ordered chunk files of the snapshot at `path` (a file, one chunk, or a snapdir)."""
    first = _first_chunk(Path(path))
    num_files = open_chunk(first).header.num_files
    if num_files == 1:
        return [first]
    match = _CHUNK_NAME.match(first.name)
    siblings = [] if match is None else [first.parent / f"{match['stem']}.{k}{match['suffix'] or ''}"
                                         for k in range(num_files)]
    if not any(file.exists() for file in siblings if file != first):
        logging.getLogger("mpipaint").warning(
            "%s: header says NumFilesPerSnapshot=%d, but no other chunk of it exists: reading this file alone, "
            "its particles as the snapshot's (a cut-out?)", first, num_files)
        return [first]
    for file in siblings:
        if not file.exists():
            raise InputError(f"{file}: chunk file missing (NumFilesPerSnapshot={num_files} in {first})")
    return siblings


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
    """Locate snapshot `snapnum` under a run's output directory: snapdir_NNN/, snap_NNN.hdf5, or Gadget's
    binary snapshot_NNN (a single file, or chunks snapshot_NNN.K)."""
    return find_in_output(output_dir, f"snapshot {snapnum}", f"snapdir_{snapnum:03d}/", f"snap_{snapnum:03d}.hdf5",
                          f"snapshot_{snapnum:03d}", f"snapshot_{snapnum:03d}.0")


class Snapshot:
    """Random access to one snapshot's particles by global index range, one chunk hyperslab at a time."""

    def __init__(self, path):
        self.path = Path(path)
        self.files = chunk_files(path)
        self._open_files = OpenFiles()
        self.chunks = [open_chunk(file, self._open_files) for file in self.files]
        self.header, self.units = self.chunks[0].header, self.chunks[0].units
        self._stored_fields = {}  # (ptype, field) -> bool: `has` is asked on every read of an assumed field
        alone = len(self.files) < self.header.num_files
        for chunk in self.chunks:
            stored = chunk.stored
            if np.array_equal(stored, chunk.counts):
                continue
            if not alone:
                raise InputError(f"{chunk.path}: header NumPart_ThisFile says {chunk.counts.tolist()} particles per "
                                 f"type, the PartType groups hold {stored.tolist()}")
            logging.getLogger("mpipaint").warning("%s: header NumPart_ThisFile says %s, the file holds %s particles "
                                                  "per type: reading what it holds", chunk.path,
                                                  chunk.counts.tolist(), stored.tolist())
            chunk.counts = stored
        self.file_counts = np.array([chunk.counts for chunk in self.chunks], dtype=np.int64).reshape(-1, NTYPES)
        self.file_offsets = np.vstack([np.zeros(NTYPES, np.int64), np.cumsum(self.file_counts, axis=0)])
        summed = self.file_offsets[-1]
        if alone:  # a file read alone: its particles are the snapshot's
            self.header = dataclasses.replace(self.header, num_part_total=summed, num_files=1)
        if not np.array_equal(summed, self.header.num_part_total):
            raise InputError(f"{self.path}: chunks hold {summed.tolist()} particles per type, header "
                             f"NumPart_Total says {self.header.num_part_total.tolist()}")

    def close(self) -> None:
        """Close the chunk files kept open between reads (dropping the snapshot closes them too)."""
        self._open_files.close()

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

    @property
    def assumptions(self) -> list[str]:
        """What was assumed for gas fields this snapshot lacks (ASSUMED_GAS_FIELDS), for output attributes."""
        if self.num_particles(GAS) == 0:
            return []
        return [text for field, (_, text) in ASSUMED_GAS_FIELDS.items() if not self.has(GAS, field)]

    def read(self, ptype: int, field: str, start: int = 0, stop: int | None = None,
             physical: bool = True) -> np.ndarray:
        """Particles [start, stop) of type `ptype`, field `field`, physical units unless physical=False; a gas
        field of ASSUMED_GAS_FIELDS that the snapshot lacks comes as its assumed value (see `assumptions`)."""
        total = self.num_particles(ptype)
        stop = total if stop is None else stop
        if not 0 <= start <= stop <= total:
            raise InputError(f"{self.path}: range {start}:{stop} of PartType{ptype} outside 0:{total}")
        if field == "Masses" and self.header.mass_table[ptype] > 0:
            values = np.full(stop - start, self.header.mass_table[ptype], dtype=np.float64)
        elif ptype == GAS and field in ASSUMED_GAS_FIELDS and not self.has(GAS, field):
            values = np.full(stop - start, ASSUMED_GAS_FIELDS[field][0], dtype=np.float64)
        else:
            values = self._read_raw(ptype, field, start, stop)
        if np.issubdtype(values.dtype, np.floating):
            _require_finite(values, self.path, ptype, field, start)
            _require_physical(values, self.path, ptype, field, start)
        return self.units.to_physical(field, values) if physical else values

    def has(self, ptype: int, field: str) -> bool:
        """Whether the snapshot stores `field` for `ptype` (mass-table masses count as stored)."""
        if field == "Masses" and self.header.mass_table[ptype] > 0:
            return True
        if (ptype, field) not in self._stored_fields:
            holding = [chunk for chunk, count in zip(self.chunks, self.file_counts[:, ptype]) if count > 0]
            self._stored_fields[ptype, field] = bool(holding) and holding[0].has(ptype, field)
        return self._stored_fields[ptype, field]

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
            if out is None:
                shape, dtype = self.chunks[k].row_format(ptype, field)
                out = np.empty((stop - start,) + shape, dtype=dtype)
            at = lo + lo_global - start
            self.chunks[k].read_into(ptype, field, lo, hi, out[at:at + hi - lo])
        return out if out is not None else self._empty(ptype, field)

    def _empty(self, ptype, field):
        """A zero-length array with the dataset's row shape and dtype (float64 if no chunk holds the type)."""
        for chunk, count in zip(self.chunks, self.file_counts[:, ptype]):
            if count > 0:
                shape, dtype = chunk.row_format(ptype, field)
                return np.empty((0,) + shape, dtype=dtype)
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
