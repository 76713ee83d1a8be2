"""The light-cone catalog written by `mpipaint lightcone`: one row per halo seen on the sky, one 1-D (or
N x K, for realisations) dataset per column, each with `units` and `description` attributes; the shells
(`shell_edges_kpc`, `shell_snapshots`), the cosmology, observer and sky as root attributes.

Rows are made by many ranks, work unit by work unit, and go in batches of a few MB to each rank's spill
file (`SpilledRows`) in a private directory beside the output, so no rank holds more than a batch; rank 0
then copies the units in their order into the catalog, which is laid out whole and renamed into place
(`outputs.create_complete`): a file there is always complete, and the same for any rank count."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import h5py
import numpy as np

from mpipaint.errors import InputError
from mpipaint.io.halolists import csv_columns
from mpipaint.io.hdf5 import FinishedFile, open_hdf5, require_dataset
from mpipaint.io.outputs import create_complete, existing_output, make_parent

KIND = "light-cone catalog"


def check_output(path) -> None:
    """Before any work: --out is free or a light-cone catalog mpipaint wrote."""
    existing_output(path, KIND, contains="ra")


def spill_directory(out) -> Path:
    """A new private directory beside `out` for the ranks' spill files (rank 0 makes it)."""
    out = Path(out)
    make_parent(out)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".rows", dir=out.parent))


def remove_spill_directory(directory) -> None:
    shutil.rmtree(directory, ignore_errors=True)


# Rows a rank holds before it spills them as one batch, and rank 0 before it writes them out: one HDF5 write
# per column and batch instead of per work unit (a full-sky demo light-cone has ~1100 units of ~10 halos and
# 40 columns: 11 s of small writes, most of the step). Rank 0 holds one batch of every rank while it copies,
# so with many ranks their batches shrink to keep that near COPY_MEMORY_BYTES.
SPILL_BATCH_BYTES = 4 << 20
COPY_MEMORY_BYTES = 256 << 20
MIN_SPILL_BATCH_BYTES = 64 << 10


def spill_batch_bytes(ranks: int) -> int:
    """The batch size of each of `ranks` ranks' spills."""
    return min(SPILL_BATCH_BYTES, max(MIN_SPILL_BATCH_BYTES, COPY_MEMORY_BYTES // ranks))


class _Rows:
    """Work units' rows gathered until they hold `limit` bytes, then taken as one block per column."""

    def __init__(self, limit: int):
        self.limit, self.units, self.nbytes = limit, [], 0

    def add(self, rows: dict, key=None) -> bool:
        """Gathers one unit's rows under `key`; whether the rows gathered, these included, reach the limit."""
        self.units.append((key, rows))
        self.nbytes += sum(values.nbytes for values in rows.values())
        return self.nbytes >= self.limit

    def take(self) -> tuple[dict, list, list[int]]:
        """({column: the units' rows concatenated}, the units' keys, rows per unit); the gathering starts
        afresh."""
        names = self.units[0][1] if self.units else ()
        block = {name: np.concatenate([rows[name] for _, rows in self.units]) for name in names}
        keys, counts = [key for key, _ in self.units], [len(rows["ra"]) for _, rows in self.units]
        self.units, self.nbytes = [], 0
        return block, keys, counts


class SpilledRows:
    """One rank's light-cone rows in its own file of the spill directory: units in the order they are added,
    gathered in batches of about spill_batch_bytes(ranks), a group per batch."""

    def __init__(self, directory, rank: int, ranks: int):
        self.path = Path(directory) / f"rank{rank}.hdf5"
        self.file = h5py.File(self.path, "w")
        self.where: dict[int, tuple[str, str, int, int]] = {}
        self.pending = _Rows(spill_batch_bytes(ranks))

    def add(self, index: int, rows: dict) -> None:
        if self.pending.add({name: np.asarray(values) for name, values in rows.items()}, key=index):
            self._spill()

    def _spill(self) -> None:
        block, indices, counts = self.pending.take()
        if not counts:
            return
        name = f"b{len(self.file)}"
        group = self.file.create_group(name)
        for column, values in block.items():
            group.create_dataset(column, data=values)
        starts = np.cumsum([0, *counts[:-1]])
        for index, start, count in zip(indices, starts.tolist(), counts):
            self.where[index] = (str(self.path), name, start, count)

    def close(self) -> dict[int, tuple[str, str, int, int]]:
        """{unit index: (spill file, batch, first row in the batch, rows)} of this rank's units."""
        try:
            self._spill()
        finally:
            self.file.close()
        return self.where


class _BatchReader:
    """The spilled rows of every rank read back unit by unit in ascending unit order, one batch per spill file
    held at a time (each rank spilled its units in that order)."""

    def __init__(self):
        self.files: dict[str, h5py.File] = {}
        self.loaded: dict[str, tuple[str, dict]] = {}

    def rows(self, spill: str, batch: str, start: int, count: int, columns) -> dict:
        if spill not in self.files:
            self.files[spill] = h5py.File(spill, "r")
        if self.loaded.get(spill, ("",))[0] != batch:
            group = self.files[spill][batch]
            self.loaded[spill] = (batch, {name: group[name][()] for name in columns})
        # copies: rows waiting to be written must not keep a file's previous batches alive
        return {name: values[start:start + count].copy() for name, values in self.loaded[spill][1].items()}

    def close(self) -> None:
        for spill in self.files.values():
            spill.close()


def write_lightcone(path, schema: dict, units: dict, shells: dict, attrs: dict) -> int:
    """`schema`: {name: (dtype, trailing shape, units, description)} of the row columns; `units`: {unit index:
    (spill file, batch, first row, rows)} of every rank, copied in index order; `shells`: {name: (array,
    units, description)}. Returns the number of rows."""
    check_output(path)
    order = sorted(units)
    total = sum(units[index][3] for index in order)

    def lay_out(f):
        columns = {}
        for name, (dtype, trailing, unit, description) in schema.items():
            columns[name] = f.create_dataset(name, shape=(total, *trailing), dtype=dtype)
            columns[name].attrs.update({"units": unit, "description": description})
        reader, pending, written = _BatchReader(), _Rows(SPILL_BATCH_BYTES), 0

        def write_pending():
            nonlocal written
            block, _, counts = pending.take()
            count = sum(counts)
            if count:
                for name, dset in columns.items():
                    dset[written:written + count] = block[name]
                written += count

        try:
            for index in order:
                if pending.add(reader.rows(*units[index], columns)):
                    write_pending()
            write_pending()
        finally:
            reader.close()
        for name, (values, unit, description) in shells.items():
            dset = f.create_dataset(name, data=np.asarray(values))
            dset.attrs.update({"units": unit, "description": description})
        f.attrs.update(attrs)
        f.attrs["complete"] = True

    create_complete(path, lay_out)
    return total


class LightconeCatalog(FinishedFile):
    """A light-cone catalog open for reading (a context manager)."""

    kind = KIND
    finish_hint = "re-run mpipaint lightcone"

    def _check(self) -> None:
        for name in ("ra", "dec", "z_cos", "z_obs", "snapshot", "halo_id", "replica"):
            require_dataset(self.file, name)

    def column(self, name: str, rows: slice = slice(None)) -> np.ndarray:
        return require_dataset(self.file, name)[rows]

    def __len__(self) -> int:
        return len(self.file["ra"])


LIST_COLUMNS = {"ra": "deg", "dec": "deg", "z": "", "snapshot": "", "halo_id": ""}


def read_halo_list(path, snapshots) -> dict:
    """A user's own light-cone halo list: CSV with a header row (`ra [deg]`, `dec [deg]`, `z`, `snapshot`,
    `halo_id`; units in brackets as `--catalog` tables state them) or HDF5 with one dataset per column (`units`
    attributes); z is the cosmological redshift. Every row must name one of `snapshots`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: light-cone halo list not found")
    if h5py.is_hdf5(path):
        with open_hdf5(path) as f:
            values = {name: require_dataset(f, name)[()] for name in LIST_COLUMNS}
            units = {name: f[name].attrs.get("units", "") for name in LIST_COLUMNS}
    else:
        values, units = csv_columns(path, "light-cone list")
        units = {name: unit or "" for name, unit in units.items()}
    missing = [name for name in LIST_COLUMNS if name not in values]
    if missing:
        raise InputError(f"{path}: light-cone list lacks column(s) {missing} (expected ra [deg], dec [deg], z, "
                         "snapshot, halo_id)")
    wrong = [name for name, unit in LIST_COLUMNS.items() if unit and str(units[name] or unit) != unit]
    if wrong:
        raise InputError(f"{path}: column(s) {wrong} in {[units[w] for w in wrong]}, expected deg")
    try:
        listed = {name: np.asarray(values[name], np.float64 if name in ("ra", "dec", "z") else np.int64)
                  for name in LIST_COLUMNS}
    except (TypeError, ValueError) as exc:
        raise InputError(f"{path}: a light-cone list column is not numeric ({exc})") from None
    bad = ~(np.isfinite(listed["ra"]) & np.isfinite(listed["dec"]) & (np.abs(listed["dec"]) <= 90)
            & np.isfinite(listed["z"]) & (listed["z"] >= 0))
    if bad.any():
        row = int(np.argmax(bad))
        raise InputError(f"{path}: row {row} has ra {listed['ra'][row]}, dec {listed['dec'][row]}, z "
                         f"{listed['z'][row]}: expected finite values, |dec| <= 90 and z >= 0")
    unknown = sorted(set(listed["snapshot"].tolist()) - set(snapshots))
    if unknown:
        raise InputError(f"{path}: rows name snapshot(s) {unknown[:5]}, but only {sorted(snapshots)} are painted")
    listed["ra"] = listed["ra"] % 360.0
    return listed

