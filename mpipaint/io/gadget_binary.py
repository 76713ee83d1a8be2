"""Gadget-2/3 binary snapshot files (SnapFormat 1 and 2), one file of a snapshot at a time.

A file is a sequence of Fortran records (int32 byte count, the bytes, the count again) in either byte order.
The first is the 256-byte header; then one block per quantity, covering the types that have it in type
order. Format 2 puts an 8-byte record before each block: its 4-character name and the next record's size.
Format 1 has no names: blocks follow Gadget-2's order (`FORMAT1_ORDER`), the optional ones present as the
header's flags say. Block widths give the precision (float32/64 values, 32/64-bit IDs). Values are read
by seeking into the block, so a range of particles costs only its bytes.

Gadget binary files carry no units: they are read in Gadget's defaults (kpc/h comoving, 1e10 Msun/h,
km/s), as TNG's, which `mpipaint.units` converts; a run in Mpc/h must be converted first.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mpipaint import units as u
from mpipaint.errors import InputError
from mpipaint.io.particle_types import GAS, NTYPES, STARS, SnapshotFormat, SnapshotHeader, counts_from_words

HEADER_BYTES = 256
# block name -> (HDF5 field name, particle types it covers: "all", "mass" = types without a MassTable entry,
# or a tuple of types, values per particle)
BLOCKS = {
    "POS": ("Coordinates", "all", 3), "VEL": ("Velocities", "all", 3), "ID": ("ParticleIDs", "all", 1),
    "MASS": ("Masses", "mass", 1), "U": ("InternalEnergy", (GAS,), 1), "RHO": ("Density", (GAS,), 1),
    "NE": ("ElectronAbundance", (GAS,), 1), "NH": ("NeutralHydrogenAbundance", (GAS,), 1),
    "HSML": ("SmoothingLength", (GAS,), 1), "SFR": ("StarFormationRate", (GAS,), 1),
    "AGE": ("GFM_StellarFormationTime", (STARS,), 1), "Z": ("GFM_Metallicity", (GAS, STARS), 1),
}
FIELD_BLOCKS = {field: name for name, (field, _, _) in BLOCKS.items()}
# Gadget-2's io.c order; (block, header flag that must be set, or None)
FORMAT1_ORDER = (("POS", None), ("VEL", None), ("ID", None), ("MASS", None), ("U", None), ("RHO", None),
                 ("NE", "flag_cooling"), ("NH", "flag_cooling"), ("HSML", None), ("SFR", "flag_sfr"),
                 ("AGE", "flag_stellarage"), ("Z", "flag_metals"))
HEADER_LAYOUT = "6i6dddii6Iiiddddii6Ii"  # up to flag_entropy_instead_u; the rest of the 256 bytes is padding
HEADER_NAMES = ("npart", "mass", "time", "redshift", "flag_sfr", "flag_feedback", "npart_total", "flag_cooling",
                "num_files", "box_size", "omega0", "omega_lambda", "hubble", "flag_stellarage", "flag_metals",
                "npart_total_high", "flag_entropy_instead_u")
SIZES = (6, 6, 1, 1, 1, 1, 6, 1, 1, 1, 1, 1, 1, 1, 1, 6, 1)


@dataclass(frozen=True)
class Block:
    """Where one block's values lie: the byte offset of its data, the types it covers, its value dtype and
    values per particle."""

    offset: int
    types: tuple
    dtype: np.dtype
    width: int


def _first_record_size(path: Path) -> tuple[str, int] | str:
    """(byte order, format 1 or 2) from the first record's marker, or why the file cannot be Gadget binary."""
    with open(path, "rb") as handle:
        first = handle.read(4)
    if len(first) < 4:
        return "empty file"
    for order in ("<", ">"):
        marker = struct.unpack(order + "i", first)[0]
        if marker in (HEADER_BYTES, 8):
            return order, 1 if marker == HEADER_BYTES else 2
    return (f"first record holds {struct.unpack('<i', first)[0]} bytes, not the 256 of a Gadget header (format 1) "
            "or 8 of a block name (format 2)")


def _mismatch(path: Path) -> str | None:
    layout = _first_record_size(path)
    return layout if isinstance(layout, str) else None


class GadgetBinaryFile:
    """One file of a Gadget binary snapshot: its header values and a table of its blocks."""

    def __init__(self, path):
        self.path = Path(path)
        layout = _first_record_size(self.path)
        if isinstance(layout, str):
            raise InputError(f"{self.path}: {layout}: not a Gadget binary snapshot")
        self.byteorder, self.format = layout
        with open(self.path, "rb") as handle:
            records = self._records(handle, self.path.stat().st_size)
        self.header = self._parse_header(records)
        self.blocks = self._block_table(records)

    def _records(self, handle, data_size) -> list[tuple[str | None, int, int]]:
        """(name or None, data offset, bytes) of every data record, checking each record's two markers; in
        format 2 every data record follows the 8-byte record that names it."""
        records, name, position = [], None, 0
        while position < data_size:
            head = handle.read(4)
            size = struct.unpack(self.byteorder + "i", head)[0] if len(head) == 4 else -1
            what = f"block {name}" if name else f"record at byte {position}"
            if size < 0 or position + 8 + size > data_size:
                raise InputError(f"{self.path}: {what} is cut short: it claims {size} bytes, the file ends "
                                 f"{data_size - position} bytes after its start (truncated file?)")
            body = handle.read(size) if self.format == 2 and name is None else handle.seek(size, 1)
            tail = handle.read(4)
            if struct.unpack(self.byteorder + "i", tail)[0] != size:
                raise InputError(f"{self.path}: {what}: the record's end marker differs from its start "
                                 f"({size} bytes): corrupt file or a block over 2 GB")
            if self.format == 2 and name is None:
                if size != 8:
                    raise InputError(f"{self.path}: record at byte {position} holds {size} bytes where format 2 "
                                     "has an 8-byte block name")
                name = body[:4].decode("ascii", "replace").strip()
            else:
                records.append((name, position + 4, size))
                name = None
            position += 8 + size
        return records

    def _parse_header(self, records) -> dict:
        name, offset, size = records[0]
        if size != HEADER_BYTES or (self.format == 2 and name != "HEAD"):
            raise InputError(f"{self.path}: header record is {size} bytes named {name!r}, expected 256 bytes "
                             "(named HEAD in format 2)")
        with open(self.path, "rb") as handle:
            handle.seek(offset)
            values = struct.unpack(self.byteorder + HEADER_LAYOUT, handle.read(struct.calcsize(HEADER_LAYOUT)))
        header, at = {}, 0
        for key, count in zip(HEADER_NAMES, SIZES):
            header[key] = np.array(values[at:at + count]) if count > 1 else values[at]
            at += count
        if np.any(header["npart"] < 0) or header["num_files"] < 1:
            raise InputError(f"{self.path}: malformed header: NumPart_ThisFile {header['npart'].tolist()}, "
                             f"NumFilesPerSnapshot {header['num_files']}")
        return header

    def _covered(self, covers) -> tuple:
        counts, mass = self.header["npart"], self.header["mass"]
        if covers == "all":
            return tuple(t for t in range(NTYPES) if counts[t] > 0)
        if covers == "mass":
            return tuple(t for t in range(NTYPES) if counts[t] > 0 and mass[t] == 0)
        return tuple(t for t in covers if counts[t] > 0)

    def _block_table(self, records) -> dict[str, Block]:
        if self.format == 2:
            named = [(name, offset, size) for name, offset, size in records[1:] if name in BLOCKS]
        else:
            expected = [name for name, flag in FORMAT1_ORDER if flag is None or self.header[flag]]
            expected = [name for name in expected if self._covered(BLOCKS[name][1])]
            named = [(name, offset, size) for name, (_, offset, size) in zip(expected, records[1:])]
        table = {}
        for name, offset, size in named:
            _, covers, width = BLOCKS[name]
            types = self._covered(covers)
            count = int(sum(self.header["npart"][t] for t in types)) * width
            if count == 0:
                continue
            itemsize = size // count
            if itemsize * count != size or itemsize not in (4, 8):
                raise InputError(f"{self.path}: block {name} holds {size} bytes, which is not {count} values "
                                 f"of 4 or 8 bytes (types {list(types)}, NumPart_ThisFile "
                                 f"{self.header['npart'].tolist()})")
            kind = "u" if name == "ID" else "f"
            table[name] = Block(offset, types, np.dtype(f"{self.byteorder}{kind}{itemsize}"), width)
        return table

    def has(self, ptype: int, field: str) -> bool:
        return self._found(ptype, field) is not None

    def _found(self, ptype: int, field: str) -> Block | None:
        block = self.blocks.get(FIELD_BLOCKS.get(field))
        return block if block is not None and ptype in block.types else None

    def row_format(self, ptype: int, field: str) -> tuple[tuple, np.dtype]:
        """(shape of one particle's value, native dtype) of `field` for `ptype`."""
        block = self._block(ptype, field)
        return ((3,) if block.width == 3 else ()), block.dtype.newbyteorder("=")

    def read_into(self, ptype: int, field: str, start: int, stop: int, out: np.ndarray) -> None:
        """Particles [start, stop) of this file's `ptype` into `out` (row_format's dtype), straight from the
        file where the byte order is native, else through one swapped copy."""
        block = self._block(ptype, field)
        before = int(sum(self.header["npart"][t] for t in block.types if t < ptype))
        row = block.dtype.itemsize * block.width
        target = out if out.flags.c_contiguous and block.dtype.isnative else np.empty(out.shape, block.dtype)
        with open(self.path, "rb") as handle:
            handle.seek(block.offset + (before + start) * row)
            got = handle.readinto(memoryview(target.reshape(-1).view(np.uint8)))
        if target is not out:
            out[...] = target
        if got != (stop - start) * row:
            raise InputError(f"{self.path}: block {FIELD_BLOCKS[field]} ends after {got // row} of PartType{ptype}'s "
                             f"particles {start}:{stop} (truncated file?)")

    def _block(self, ptype: int, field: str) -> Block:
        """The block to read `field` of `ptype` from, or an InputError saying why there is none."""
        block = self._found(ptype, field)
        if field == "InternalEnergy" and self.header["flag_entropy_instead_u"]:
            raise InputError(f"{self.path}: the header's flag_entropy_instead_u is set: block U holds entropy, "
                             "not the internal energy mpipaint needs")
        if block is None:
            raise InputError(f"{self.path}: no {FIELD_BLOCKS.get(field, field)} block for PartType{ptype} "
                             f"('{field}'; blocks present: {', '.join(self.blocks) or 'none'})")
        return block


class GadgetBinaryChunk:
    """One Gadget binary file of a snapshot as a chunk reader, in Gadget's default code units (the format
    stores none)."""

    def __init__(self, path: Path, open_files=None):
        self.path, self.file = path, GadgetBinaryFile(path)
        h = self.file.header
        self.header = SnapshotHeader(box_size=float(h["box_size"]), hubble=float(h["hubble"]),
                                     scale_factor=float(h["time"]), redshift=float(h["redshift"]),
                                     mass_table=np.asarray(h["mass"], np.float64),
                                     num_part_total=counts_from_words(h["npart_total"], h["npart_total_high"]),
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


FORMAT = SnapshotFormat("gadget-binary", "Gadget-2/3 binary (SnapFormat 1 or 2)", _mismatch, GadgetBinaryChunk)
