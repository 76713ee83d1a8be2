"""Reader throughput, side by side on the same files: mpipaint's hyperslab reads vs illustris_python on a
TNG-layout universe, and its Gadget binary reader vs yt's and the bare read of the bytes.

    python benchmarks/bench_readers.py UNIVERSE_DIR [--repeat 3]
    python benchmarks/bench_readers.py --gadget-binary WORKDIR [--particles 4000000] [--files 4]

UNIVERSE_DIR is the output of `mpipaint synth` (e.g. `--dm-particles 10000000 --halos 64`). WORKDIR gets a
Gadget format-2 DM snapshot of uniform random particles (tests/gadget_files.py writes it).
"""
import argparse
import sys
from pathlib import Path

import illustris_python as il
import numpy as np

from mpipaint.io.group_catalog import GroupCatalog, find_group_catalog
from mpipaint.io.particle_types import DM, GAS
from mpipaint.io.snapshot import Snapshot, find_snapshot
from timing import best_of


def gadget_binary(workdir: Path, particles: int, files: int, repeat: int) -> None:
    """Whole-type and per-range reads of a Gadget binary snapshot: mpipaint, yt, and np.fromfile of the block."""
    import yt  # noqa: PLC0415

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from gadget_files import write_gadget_binary  # noqa: PLC0415

    yt.set_log_level(50)
    rng = np.random.default_rng(1)
    blocks = {"POS": rng.uniform(0, 1e5, (particles, 3)).astype(np.float32),
              "VEL": np.zeros((particles, 3), np.float32), "ID": np.arange(particles, dtype=np.uint32)}
    workdir.mkdir(parents=True, exist_ok=True)
    cosmology = {"time": 1.0, "redshift": 0.0, "box_size": 1e5, "omega0": 0.3, "omega_lambda": 0.7, "hubble": 0.7}
    paths = write_gadget_binary(workdir / "snapshot_000", {DM: blocks}, [0, 0.1, 0, 0, 0, 0], cosmology, 2,
                                num_files=files)
    snapshot = Snapshot(paths[0])
    offsets = [chunk.file.blocks["POS"].offset for chunk in snapshot.chunks]
    counts = snapshot.file_counts[:, DM]

    def floor():
        return sum(len(np.fromfile(p, np.float32, 3 * n, offset=o)) // 3 for p, o, n in zip(paths, offsets, counts))

    def ours():
        return len(snapshot.read(DM, "Coordinates", physical=False))

    dataset = yt.load(str(paths[0]))
    dataset.index  # noqa: B018 - yt's particle index is built once, outside the timing

    def theirs():
        return len(dataset.all_data()["Halo", "Coordinates"])  # a new data object: nothing cached

    starts = rng.integers(0, particles - 100_000, 10)

    def ours_ranges():
        return sum(len(snapshot.read(DM, "Coordinates", int(s), int(s) + 100_000, physical=False)) for s in starts)

    print(f"# {particles:,} DM particles in {files} format-2 files, float32; best of {repeat}")
    print("| read | particles | mpipaint [Mpart/s] | yt, loaded and indexed [Mpart/s] | "
          "np.fromfile of the block [Mpart/s] | mpipaint vs yt |")
    print("| --- | --- | --- | --- | --- | --- |")
    t_ours, n = best_of(repeat, ours)
    t_yt, n_yt = best_of(repeat, theirs)
    t_floor, n_floor = best_of(repeat, floor)
    assert n == n_yt == n_floor
    print(f"| all DM Coordinates | {n:,} | {n / t_ours / 1e6:.1f} | {n / t_yt / 1e6:.1f} | "
          f"{n / t_floor / 1e6:.1f} | {t_yt / t_ours:.2f} |")
    t_ranges, n = best_of(repeat, ours_ranges)
    print(f"| 10 ranges of 1e5 (a halo's particles) | {n:,} | {n / t_ranges / 1e6:.1f} | (reads whole files) | | |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("universe")
    parser.add_argument("--snap", type=int, default=99)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--gadget-binary", action="store_true", help="the Gadget binary comparison in UNIVERSE")
    parser.add_argument("--particles", type=int, default=4_000_000)
    parser.add_argument("--files", type=int, default=4)
    args = parser.parse_args()
    if args.gadget_binary:
        gadget_binary(Path(args.universe), args.particles, args.files, args.repeat)
        return
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
