"""The snapshot formats mpipaint reads, and which one a file is, told from its content (yt's `_is_valid`,
pynbody's `_can_load`): every format is asked, exactly one must recognise the file.

Adding a format is one module that defines a `particle_types.SnapshotFormat` (its `mismatch` and chunk
reader, with its field-name and unit map) and one line in FORMATS.
"""
from __future__ import annotations

from pathlib import Path

from mpipaint.errors import InputError
from mpipaint.io import abacus, gadget_binary, gadget_hdf5
from mpipaint.io.particle_types import SnapshotFormat
from mpipaint.io.registry import the_one_recognising

FORMATS = (gadget_hdf5.TNG, gadget_hdf5.GADGET4, gadget_hdf5.SWIFT, gadget_binary.FORMAT, abacus.SUBSAMPLES,
           abacus.TIMESLICE)


def snapshot_format(path: Path) -> SnapshotFormat:
    """The one format that recognises the file at `path`; none or several is an error naming the file and the
    formats tried, with why each refused it."""
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    return the_one_recognising(path, FORMATS, lambda fmt: fmt.description, "snapshot", "format")


def directory_entry(path: Path) -> Path | None:
    """The first file of a directory laid out as one format's own (an AbacusSummit redshift directory), or
    None: other directories are found by `io.chunks`."""
    for fmt in FORMATS:
        entry = fmt.directory_entry(path) if fmt.directory_entry is not None and path.is_dir() else None
        if entry is not None:
            return entry
    return None
