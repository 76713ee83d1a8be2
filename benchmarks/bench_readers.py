"""Reader throughput: mpipaint's hyperslab reads vs illustris_python, side by side on the same files.

    python benchmarks/bench_readers.py UNIVERSE_DIR [--repeat 3]

UNIVERSE_DIR is the output of `mpipaint synth` (e.g. `--dm-particles 10000000 --halos 64`).
"""
import argparse

import illustris_python as il
import numpy as np

from mpipaint.io.catalog import GroupCatalog, find_group_catalog
from mpipaint.io.snapshot import DM, GAS, Snapshot, find_snapshot
from timing import best_of


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("universe")
    parser.add_argument("--snap", type=int, default=99)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    base = f"{args.universe}/FP/output"
    snapshot = Snapshot(find_snapshot(base, args.snap))
    catalog = GroupCatalog(find_group_catalog(base, args.snap))
    offsets = catalog.group_offsets()
    lengths = catalog.groups("GroupLenType")["GroupLenType"]
    halos = range(min(10, catalog.num_groups))

    def ours_halos():
        return sum(len(snapshot.read(DM, "Coordinates", offsets[h, DM], offsets[h, DM] + lengths[h, DM]))
                   for h in halos)

    def theirs_halos():
        return sum(len(il.snapshot.loadHalo(base, args.snap, h, "dm", fields=["Coordinates"])) for h in halos)

    def ours_all():
        return len(snapshot.read(GAS, "Coordinates", physical=False))

    def theirs_all():
        return len(il.snapshot.loadSubset(base, args.snap, "gas", fields=["Coordinates"]))

    print(f"# {snapshot.header.num_part_total.sum():,} particles, {len(snapshot.files)} chunks")
    print("| read | particles | mpipaint [Mpart/s] | illustris_python [Mpart/s] | ratio |")
    print("| --- | --- | --- | --- | --- |")
    for label, ours, theirs in (("10 largest halos, DM Coordinates (physical)", ours_halos, theirs_halos),
                                ("all gas Coordinates (code units)", ours_all, theirs_all)):
        t_ours, n = best_of(args.repeat, ours)
        t_theirs, n_theirs = best_of(args.repeat, theirs)
        assert n == n_theirs
        print(f"| {label} | {n:,} | {n / t_ours / 1e6:.1f} | {n / t_theirs / 1e6:.1f} | {t_theirs / t_ours:.2f} |")
    np.testing.assert_array_equal(snapshot.read(DM, "Coordinates", 0, 10, physical=False),
                                  il.snapshot.loadHalo(base, args.snap, 0, "dm", fields=["Coordinates"])[:10])


if __name__ == "__main__":
    main()
