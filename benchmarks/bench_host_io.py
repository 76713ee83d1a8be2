"""The host's file work per halo in `paint`, side by side in one run: reading halos' DM particles with the
chunk file opened for every read (as before) or kept open between reads (Snapshot's OpenFiles), and writing
painted rows one halo per write call or one group of halos per call (io.painted.write_rows). On a GPU this
work, not the net, can set paint's pace (BENCHMARKS.md, "GPU: one H100").

    python benchmarks/bench_host_io.py SNAPSHOT [--halos 61] [--particles 12000] [--group 8] [--repeat 7]

SNAPSHOT: a DMO snapshot, e.g. the 4x box that bench_paint.py generates (WORKDIR/box1/DMO/output/snapdir_099).
Halos are consecutive ranges of --particles DM particles, as the offsets read strategy reads them; rows are
those of a three-target paint (X-ray, gas, temperature, one bundle each, with residual scatters: 12 columns).
"""
import argparse
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

import machine
from mpipaint.io import painted
from mpipaint.io.particle_types import DM
from mpipaint.io.snapshot import Snapshot
from timing import best_of


def read_halos(snapshot: Snapshot, ranges, keep_open: bool) -> None:
    for start, stop in ranges:
        snapshot.read(DM, "Coordinates", start, stop)
        if not keep_open:
            snapshot.close()
    snapshot.close()


COLUMNS = painted.columns({"xray": 1, "gas": 1, "temperature": 1}, (), {"xray": 0.1, "gas": 0.1, "temperature": 0.1})


def write_rows(f: h5py.File, rows, group: int) -> None:
    """Rows into the open catalog `f`, `group` halos per call, then their done flags."""
    for k in range(0, len(rows), group):
        painted.write_rows(f, rows[k:k + group], lambda: None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("snapshot")
    parser.add_argument("--halos", type=int, default=61)
    parser.add_argument("--particles", type=int, default=12_000, help="DM particles per halo (the 4x box's mean)")
    parser.add_argument("--group", type=int, default=8, help="halos per write call (paint's --batch-halos)")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    snapshot = Snapshot(args.snapshot)
    edges = np.minimum(np.arange(args.halos + 1) * args.particles, snapshot.num_particles(DM))
    ranges = [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]
    rng = np.random.default_rng(1)
    rows = [(k, {name: rng.random(3).astype(dtype) for name, (dtype, *_) in COLUMNS.items()}, None)
            for k in range(args.halos)]
    print(f"# {args.halos} halos of {args.particles} DM particles from {len(snapshot.files)} chunk file(s); "
          f"{len(COLUMNS)} columns per row; best of {args.repeat}; {machine.line()}")
    print("| work | before | after | before / after |")
    print("| --- | --- | --- | --- |")
    reopened, _ = best_of(args.repeat, lambda: read_halos(snapshot, ranges, keep_open=False))
    kept, _ = best_of(args.repeat, lambda: read_halos(snapshot, ranges, keep_open=True))
    print(f"| read: file opened per read -> kept open [ms per halo] | {1e3 * reopened / args.halos:.3f} | "
          f"{1e3 * kept / args.halos:.3f} | {reopened / kept:.1f} |")
    table = pd.DataFrame({"halo_id": np.arange(args.halos), "snapshot": 99, "redshift": 0.0, "m200c": 1e14,
                          "r200c": 1e3, "centre_x": 0.0, "centre_y": 0.0, "centre_z": 0.0})
    with tempfile.TemporaryDirectory() as scratch, h5py.File(Path(scratch) / "rows.hdf5", "w") as f:
        painted.create(f, table, 3, 8, COLUMNS, (), {})
        single, _ = best_of(args.repeat, lambda: write_rows(f, rows, 1))
        grouped, _ = best_of(args.repeat, lambda: write_rows(f, rows, args.group))
    print(f"| write: 1 -> {args.group} halos per call [ms per halo] | {1e3 * single / args.halos:.3f} | "
          f"{1e3 * grouped / args.halos:.3f} | {single / grouped:.1f} |")


if __name__ == "__main__":
    main()
