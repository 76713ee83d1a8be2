"""Particle types, a snapshot's header in code units and what a snapshot format declares: what every format
reader, the registry (`io.snapshot_formats`) and the format-neutral `io.snapshot` share, in a module that
imports nothing of mpipaint's (so a format reader never imports the facade that uses it)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

NTYPES = 6
GAS, DM, STARS = 0, 1, 4


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
    flavour: str  # the SnapshotFormat's name: "tng" (Illustris/TNG/AREPO), "gadget4", "swift", "gadget-binary"
    subsample_fraction: float = 1.0  # of the run's particles the snapshot holds (AbacusSummit's subsamples)
    halo_particles_only: bool = False  # particles of halos alone (AbacusSummit's halo subsamples): no cube maps


@dataclass(frozen=True)
class SnapshotFormat:
    """One snapshot format: its name, a description for messages, why a file is not of it (`mismatch` gives
    None for a file it recognises from its content, else the reason) and the reader of one of its files.

    A chunk reader has `path`, `header` (SnapshotHeader), `units` (units.CodeUnits), `counts` and `stored`
    (particles per type the header claims and the file holds) and `has(ptype, field)`, `row_format(ptype,
    field)` -> (row shape, dtype) and `read_into(ptype, field, lo, hi, out)`, fields named as TNG names them
    (the format maps them to what it stores). A format whose files are not named NAME.K gives its own
    `chunk_list`, and one read from a directory of its own layout its `directory_entry`."""

    name: str
    description: str
    mismatch: Callable[[Path], str | None]
    open_chunk: Callable  # (path, io.hdf5.OpenFiles) -> chunk reader
    chunk_list: Callable | None = None  # first file -> every chunk, for layouts that are not NAME.K (io.chunks)
    directory_entry: Callable | None = None  # a directory of the format's own layout -> its first file, or None


def per_type(values) -> np.ndarray:
    """A per-type header array for the NTYPES types read (SWIFT's seventh, neutrinos, is not painted)."""
    return np.ravel(values)[:NTYPES]


def counts_from_words(low, high) -> np.ndarray:
    """Particles per type from a header's NumPart_Total and its high words (counts beyond 2^32)."""
    low, high = (per_type(words).astype(np.uint64) for words in (low, high))
    return (low + (high << np.uint64(32))).astype(np.int64)
