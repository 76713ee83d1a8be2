"""The snapshot formats mpipaint reads, and which one a file is, told from its content (yt's `_is_valid`,
pynbody's `_can_load`): every format is asked, exactly one must recognise the file.

Adding a format is one module that defines a `particle_types.SnapshotFormat` (its `mismatch` and chunk
reader, with its field-name and unit map) and one line in FORMATS.
"""
from __future__ import annotations

from pathlib import Path

from mpipaint.errors import InputError
from mpipaint.io import gadget_binary, gadget_hdf5
from mpipaint.io.particle_types import SnapshotFormat
from mpipaint.io.registry import the_one_recognising

FORMATS = (gadget_hdf5.TNG, gadget_hdf5.GADGET4, gadget_hdf5.SWIFT, gadget_binary.FORMAT)


def snapshot_format(path: Path) -> SnapshotFormat:
    """The one format that recognises the file at `path`; none or several is an error naming the file and the
    formats tried, with why each refused it."""
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    return the_one_recognising(path, FORMATS, lambda fmt: fmt.description, "snapshot", "format")
