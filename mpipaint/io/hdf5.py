"""Small helpers that turn h5py failures into `InputError`s naming the file and what was expected."""
from __future__ import annotations

import errno
import os
import re
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np

from mpipaint.errors import InputError, NoSpace


ALLOW_OUTSIDE_ENV = "MPIPAINT_ALLOW_HDF5_OUTSIDE"  # =1: follow external links, external storage, virtual datasets
_CHECKED = {}  # (path, size, mtime) of input files walked -> None (accepted) or the InputError of their damage


def _version(path) -> tuple:
    stat = os.stat(path)
    return os.path.realpath(path), stat.st_size, stat.st_mtime_ns


def open_hdf5(path) -> h5py.File:
    """Open an existing HDF5 input read-only, with a clear error if it is missing, truncated or not HDF5, or
    if its metadata are damaged or it reaches into other files (`check_metadata`)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(f"{path}: file not found")
    refused = _CHECKED.get(_version(path))
    if refused:  # HDF5 may crash reopening a file whose metadata failed
        raise refused
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise InputError(f"{path}: not a readable HDF5 file (truncated or corrupt?): {exc}") from None
    try:
        check_metadata(f)
    except BaseException:
        f.close()
        raise
    return f


def check_metadata(f: h5py.File) -> None:
    """Walk every link and object header of an input once per file version in a process: damaged metadata (a
    flipped byte, a truncated header) becomes an InputError naming the file here, not an HDF5 error without
    it wherever the object is first read; and inputs whose data lie in other files are refused
    (`_refuse_outside`). Attribute values are not read here: HDF5 can crash decoding a damaged attribute
    message, so they are read, with errors naming them, where they are needed (`require_attr`)."""
    key = _version(f.filename)
    if key in _CHECKED:
        return
    try:
        _refuse_outside(f)
    except InputError:
        raise
    except (OSError, RuntimeError, ValueError, KeyError, TypeError) as exc:
        _CHECKED[key] = InputError(f"{f.filename}: damaged HDF5 metadata ({exc}); the file cannot be read as "
                                   "it was written: restore it from its source")
        raise _CHECKED[key] from None
    _CHECKED[key] = None


def _refuse_outside(f: h5py.File) -> None:
    """Refuse an input whose data lie in other files: external links, datasets in external raw storage
    (any bytes at all, read as numbers) and virtual datasets (a missing source reads as fill, i.e. zeros),
    naming the object and its target, unless MPIPAINT_ALLOW_HDF5_OUTSIDE=1; even then a virtual dataset's
    missing source file is an error."""
    allowed = os.environ.get(ALLOW_OUTSIDE_ENV) == "1"
    hint = f"mpipaint reads only data inside its input files (set {ALLOW_OUTSIDE_ENV}=1 to allow this)"
    outside = []

    def check(name, link):
        if isinstance(link, h5py.ExternalLink):
            outside.append(f"'{name}' is an external link to '{link.path}' in {link.filename}")
            return
        dset = f.get(name) if isinstance(link, h5py.HardLink) else None
        if not isinstance(dset, h5py.Dataset):
            return
        if dset.external:
            outside.append(f"dataset '{name}' is stored in external file(s) "
                           f"{', '.join(os.fsdecode(entry[0]) for entry in dset.external)}")
        elif dset.is_virtual:
            sources = sorted({source.file_name for source in dset.virtual_sources()})
            here = os.path.dirname(f.filename)
            missing = [s for s in sources if s != "." and not os.path.exists(os.path.join(here, s))]
            if missing or not allowed:
                outside.append(f"dataset '{name}' is virtual, mapped from {', '.join(sources)}"
                               + (f" (missing: {', '.join(missing)})" if missing else ""))

    names = []  # collected first: h5py's lock breaks when a visit callback raises (a crash on the next access)
    f.id.links.visit(names.append)
    for raw in names:
        name = raw.decode("utf-8", errors="replace")
        if name.encode("utf-8") != raw:
            raise InputError(f"{f.filename}: an object name that is not text ({raw!r}): damaged HDF5 metadata?")
        check(name, f.get(name, getlink=True))
    if outside and (not allowed or any("missing:" in text for text in outside)):
        raise InputError(f"{f.filename}: {'; '.join(outside)}; {hint}")


RESUME_HINT = "free space (or raise the quota) and run the same command again, which resumes from what is on disk"
NO_SPACE_ERRNOS = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded",
                   errno.EFBIG: "file size limit reached"}


def _no_space_reason(exc: BaseException):
    """What ran out, if `exc` is a write that failed for want of space: h5py's OSError carries errno itself
    or, for a failed HDF5 write, inside its message ('errno = 28')."""
    numbers = [getattr(exc, "errno", None), *map(int, re.findall(r"errno = (\d+)", str(exc)))]
    return next((NO_SPACE_ERRNOS[n] for n in numbers if n in NO_SPACE_ERRNOS), None)


@contextmanager
def space_checked(path, doing: str):
    """Turn a write that fails for want of space into NoSpace naming `path` and what was being done, so the
    job ends with a message instead of an HDF5 traceback. Writes must be flushed inside the block (h5py
    ignores errors raised when a dataset's chunk cache is written as its handle is dropped)."""
    try:
        yield
    except (OSError, RuntimeError) as exc:
        failures, cause = [], exc
        while cause is not None:  # closing after a failed flush raises an error of its own, without errno
            failures.append(cause)
            cause = cause.__context__
        reason = next((r for r in map(_no_space_reason, failures) if r is not None), None)
        if reason is None or isinstance(exc, NoSpace):
            raise
        raise NoSpace(f"{path}: {reason} while {doing}; {RESUME_HINT}") from None


SPACE_MARGIN_BYTES = 1 << 20  # free space kept for HDF5's metadata when a file is flushed and closed


def require_space(path, nbytes: int, doing: str) -> None:
    """NoSpace unless the file system of `path` has `nbytes` (plus SPACE_MARGIN_BYTES) free: a write that
    fails for want of space leaves an HDF5 file whose metadata may be half flushed, so a job stops before it
    (quotas, which statvfs does not see, are caught as they fail by `space_checked`)."""
    stat = os.statvfs(os.path.dirname(os.path.abspath(path)))
    free = stat.f_bavail * stat.f_frsize
    if free < nbytes + SPACE_MARGIN_BYTES:
        raise NoSpace(f"{path}: no space left on device for {doing} ({free / 2**20:.1f} MiB free, "
                      f"{(nbytes + SPACE_MARGIN_BYTES) / 2**20:.1f} MiB needed); {RESUME_HINT}")


def create_allocated(group: h5py.Group, name: str, shape, dtype, fillvalue=None) -> h5py.Dataset:
    """A dataset whose storage is placed in the file at once, filled with `fillvalue` (None: left unwritten,
    for maps too large to fill). Output that ranks write independently under MPI-IO needs this: HDF5
    otherwise allocates a dataset when a rank first opens it to write, a collective metadata change that ranks
    with other rows (or none) never join (a hang), and that a killed job never writes to disk (its rows
    read back as fill with their done flags set)."""
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER if fillvalue is None else h5py.h5d.FILL_TIME_ALLOC)
    return group.create_dataset(name, shape=shape, dtype=dtype, fillvalue=fillvalue, dcpl=dcpl)


def unallocated(f: h5py.File) -> list[str]:
    """The datasets of `f` without storage in the file (see create_allocated)."""
    return sorted(name for name, obj in f.items()
                  if isinstance(obj, h5py.Dataset) and obj.id.get_storage_size() == 0 and obj.size > 0)


class OpenFiles:
    """The last few HDF5 files read, kept open read-only by their owner (a Snapshot) until it closes them or
    is dropped: opening a chunk and finding a dataset cost about 0.4 ms on a local disk (a metadata round trip
    on Lustre or GPFS), as much as reading a small halo's particles, and consecutive halos mostly share a
    chunk."""

    def __init__(self, capacity: int = 4):
        self.capacity = capacity
        self._files = OrderedDict()  # path -> (h5py.File, {name: h5py.Dataset}), least recently read first

    def dataset(self, path, name: str) -> h5py.Dataset:
        """The dataset `name` of the file at `path` (errors as open_hdf5 and require_dataset)."""
        path = os.fspath(path)
        held = self._files.pop(path, None) or (open_hdf5(path), {})
        self._files[path] = held
        while len(self._files) > self.capacity:
            self._files.popitem(last=False)[1][0].close()
        if name not in held[1]:
            held[1][name] = require_dataset(held[0], name)
        return held[1][name]

    def close(self) -> None:
        while self._files:
            self._files.popitem()[1][0].close()


def require_attr(h5obj, name: str, what: str = "attribute"):
    """Return h5obj.attrs[name], or raise naming the file, the group and the missing attribute."""
    with metadata_named(h5obj.file.filename, f"{what} '{name}' of group '{h5obj.name}'"):
        if name not in h5obj.attrs:
            raise InputError(f"{h5obj.file.filename}: {what} '{name}' missing from group '{h5obj.name}'")
        return h5obj.attrs[name]


@contextmanager
def metadata_named(path, what: str):
    """An HDF5 error reading `what` (a damaged attribute or object header: h5py's message names neither the
    file nor the object) becomes an InputError naming both."""
    try:
        yield
    except InputError:
        raise
    except (OSError, RuntimeError, ValueError) as exc:
        raise InputError(f"{path}: {what} cannot be read (damaged HDF5 metadata?): {exc}") from None


def attr_text(value) -> str | None:
    """An HDF5 attribute holding one value as str: h5py gives bytes or str, numbers, alone or in a
    one-element array (VELOCIraptor stores numbers as text, SOAP strings as bytes)."""
    if value is None:
        return None
    value = np.ravel(value)[0] if np.ndim(value) else value
    return value.decode() if isinstance(value, bytes) else str(value)


def require_dataset(h5file: h5py.File, name: str) -> h5py.Dataset:
    """Return the dataset `name`, or raise naming the file and the dataset that was expected."""
    obj = h5file.get(name)
    if not isinstance(obj, h5py.Dataset):
        raise InputError(f"{h5file.filename}: dataset '{name}' missing")
    return obj


def read_slice(dset: h5py.Dataset, start: int, stop: int, out=None):
    """Read dset[start:stop] as a hyperslab (into `out` if given); a short or unreadable file is an InputError."""
    if stop > dset.shape[0]:
        raise InputError(
            f"{dset.file.filename}: dataset '{dset.name}' has {dset.shape[0]} rows, expected at least {stop}"
        )
    try:
        if out is None:
            return dset[start:stop]
        dset.read_direct(out, source_sel=np.s_[start:stop])
        return out
    except (OSError, RuntimeError) as exc:
        raise InputError(f"{dset.file.filename}: cannot read '{dset.name}' rows {start}:{stop} "
                         f"(truncated file?): {exc}") from None


class FinishedFile:
    """An mpipaint output open for reading (a context manager), refused unless its writer set the root
    attribute `complete`; subclasses name the file's `kind`, how to finish it, and check its contents."""

    kind = "file"
    finish_hint = "re-run the command that wrote it"

    def __init__(self, path):
        self.path = Path(path)
        self.file = open_hdf5(path)
        try:
            if not self.file.attrs.get("complete", False):
                raise InputError(f"{path}: {self.kind} is incomplete ({self.finish_hint} to finish it)")
            self._check()
        except BaseException:
            self.file.close()
            raise

    def _check(self) -> None:
        """Raise InputError where the file lacks what its format requires."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.file.close()

    def column(self, name: str) -> np.ndarray:
        return require_dataset(self.file, name)[()]

    def units(self, name: str) -> str:
        return str(self.file[name].attrs["units"])
