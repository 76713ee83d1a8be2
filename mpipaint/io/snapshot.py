"""Snapshots of any format mpipaint reads (`io.snapshot_formats`), as one format-neutral `Snapshot`.

A snapshot is a single file (`snap_099.hdf5`, `snapshot_099`) or a set of chunks (`snapdir_099/snap_099.K.hdf5`,
`snapshot_099.K`; `io.chunks`); the format is told from the first file's content. Each chunk holds a
contiguous piece of every particle type, so a global index range of one type maps to hyperslabs of consecutive chunks;
`Snapshot.read` reads exactly that range and never the whole box. Values come back in physical units (see
`mpipaint.units`) unless `physical=False`. A file whose header claims more chunks but has no sibling files
(a cut-out rewritten by another tool) is read alone, with a warning.
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np

from mpipaint import units as u
from mpipaint.cosmology import Cosmology
from mpipaint.errors import InputError
from mpipaint.io.chunks import first_chunk, sibling_chunks
from mpipaint.io.hdf5 import OpenFiles
from mpipaint.io.particle_types import GAS, NTYPES, SnapshotFormat
from mpipaint.io.snapshot_formats import directory_entry, snapshot_format

# gas fields many runs do not store, the value assumed for every cell then, and the assumption as recorded
_IONISED = u.FULLY_IONISED_ELECTRON_ABUNDANCE
ASSUMED_GAS_FIELDS = {"ElectronAbundance": (_IONISED, "ElectronAbundance not stored: gas taken as fully ionised "
                                            f"(n_e/n_H = {_IONISED:.4f}, mu = {u.mean_molecular_weight(_IONISED):.3f})"
                                            " for its temperature, density and X-ray emission")}


def chunk_files(path) -> tuple[list[Path], SnapshotFormat]:
    """The ordered chunk files of the snapshot at `path` (a file, one chunk, a snapdir or a stem) and their
    format, told from the first file's content."""
    first = directory_entry(Path(path)) or first_chunk(Path(path))
    fmt = snapshot_format(first)
    if fmt.chunk_list is not None:
        return fmt.chunk_list(first), fmt
    num_files = fmt.open_chunk(first, OpenFiles()).header.num_files
    siblings = sibling_chunks(first, num_files)
    if num_files > 1 and not any(file.exists() for file in siblings if file != first):
        logging.getLogger("mpipaint").warning(
            "%s: header says NumFilesPerSnapshot=%d, but no other chunk of it exists: reading this file alone, "
            "its particles as the snapshot's (a cut-out?)", first, num_files)
        return [first], fmt
    for file in siblings:
        if not file.exists():
            raise InputError(f"{file}: chunk file missing (NumFilesPerSnapshot={num_files} in {first})")
    return siblings, fmt


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
        self.files, self.format = chunk_files(path)
        self._open_files = OpenFiles()
        self.chunks = [self.format.open_chunk(file, self._open_files) for file in self.files]
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
    def cosmology(self) -> Cosmology:
        """The snapshot's background and box, as its header states them."""
        header = self.header
        return Cosmology(header.scale_factor, header.redshift, header.hubble, header.omega_m, header.omega_lambda,
                         self.box_size_kpc)

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
        constant = self.constant(ptype, field)
        if constant is not None:
            values = np.full(stop - start, constant, dtype=np.float64)
        else:
            values = self._read_raw(ptype, field, start, stop)
        if np.issubdtype(values.dtype, np.floating):
            _require_finite(values, self.path, ptype, field, start)
            _require_physical(values, self.path, ptype, field, start)
        return self.units.to_physical(field, values) if physical else values

    def constant(self, ptype: int, field: str) -> float | None:
        """The code-unit value that every particle of the type has for `field` where the snapshot stores none
        per particle (a mass-table mass, an assumed gas field), else None."""
        if field == "Masses" and self.header.mass_table[ptype] > 0:
            return float(self.header.mass_table[ptype])
        if ptype == GAS and field in ASSUMED_GAS_FIELDS and not self.has(GAS, field):
            return float(ASSUMED_GAS_FIELDS[field][0])
        return None

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


# fields no particle can have at or below zero (a temperature from a negative internal energy is negative), and
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
