"""Fingerprints of a job's inputs, written as root attributes of its resumable output and compared on
resume (outputs.refuse_other_settings): a resume whose inputs changed would write a file that mixes rows
from the old inputs and the new, so it is refused, naming what changed.

- `snapshot_fingerprint`: the header (box, time, cosmology, particle counts and mass table), every chunk
  file's size, and the coordinates (and DM masses) of SAMPLES runs of SAMPLE_ROWS particles of each type,
  spread over the box (a rewritten snapshot of the same size, e.g. shifted coordinates, changes them).
  Cheap at any size: a few MB read.
- `table_fingerprint`: every column of the halo table the job works through (ids, centres, masses, offsets).
Bundles are fingerprinted by their description (`model.bundle.description_digest`).
"""
from __future__ import annotations

import dataclasses
import hashlib

import numpy as np

from mpipaint.io.particle_types import DM, NTYPES

SAMPLES, SAMPLE_ROWS = 16, 4096


def _digest(parts) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(np.ascontiguousarray(part).tobytes() if isinstance(part, np.ndarray) else repr(part).encode())
    return digest.hexdigest()


def snapshot_fingerprint(snapshot) -> str:
    """sha256 over a Snapshot's header, chunk sizes and sampled DM particles (see the module docstring)."""
    header = dataclasses.asdict(snapshot.header)
    parts = [sorted((k, np.asarray(v).tolist()) for k, v in header.items())]
    parts += [file.stat().st_size for file in snapshot.files]
    for ptype in range(NTYPES):
        total = snapshot.num_particles(ptype)
        fields = ("Coordinates", "Masses") if ptype == DM else ("Coordinates",)
        for start in np.unique(np.linspace(0, max(total - SAMPLE_ROWS, 0), SAMPLES).astype(np.int64)) if total else ():
            stop = min(int(start) + SAMPLE_ROWS, total)
            parts += [snapshot.read(ptype, field, int(start), stop) for field in fields]
    return _digest(parts)


def table_fingerprint(table) -> str:
    """sha256 over every column of a halo table (a DataFrame), in order."""
    return _digest([list(table.columns)] + [table[name].to_numpy() for name in table.columns])
