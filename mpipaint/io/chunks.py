"""The chunk files of one snapshot or catalog, found the same way for every format: `NAME.K` (Gadget binary)
or `NAME.K.hdf5`, K = 0 .. N-1, N from the first file's header; a path may name a file, chunk 0, a directory
of chunks (`snapdir_099/`, `groups_099/`) or the stem of a multi-file set (`snapshot_005` for
snapshot_005.K, as yt and pynbody take it)."""
from __future__ import annotations

import re
from pathlib import Path

from mpipaint.errors import InputError

CHUNK_NAME = re.compile(r"^(?P<stem>.+)\.(?P<index>\d+)(?P<suffix>\.hdf5)?$")


def chunk_index(path: Path) -> int:
    """K of a chunk named NAME.K[.hdf5]; -1 for a name that is not a chunk's."""
    match = CHUNK_NAME.match(path.name)
    return int(match.group("index")) if match else -1


def first_chunk(path: Path) -> Path:
    """The file to start from: `path` itself, the lowest chunk of a directory, or chunk 0 named by its stem."""
    if not path.exists():
        return next((stem_chunk for suffix in (".0", ".0.hdf5")
                     if (stem_chunk := path.with_name(path.name + suffix)).is_file()), path)
    if not path.is_dir():
        return path
    files = [p for p in path.iterdir() if p.is_file()]
    chunks = sorted((p for p in files if CHUNK_NAME.match(p.name)), key=chunk_index)
    if chunks:
        return chunks[0]
    if len(files) == 1:
        return files[0]
    raise InputError(f"{path}: directory holds no chunk files (NAME.K.hdf5, or Gadget binary NAME.K) and not a "
                     "single file")


def sibling_chunks(first: Path, num_files: int) -> list[Path]:
    """Every chunk of the set `first` starts, in order (only `first` if it is one file or not named as a
    chunk); whether they exist is the caller's to check."""
    match = CHUNK_NAME.match(first.name)
    if num_files == 1 or match is None:
        return [first]
    return [first.parent / f"{match['stem']}.{k}{match['suffix'] or ''}" for k in range(num_files)]
