"""Read throughput of the halo catalogs that list members by particle ID, side by side with the bare read of
the same bytes (the I/O floor): Gadget-III FoF (binary group_tab/group_ids, tests/gadget_files.py writes
them to P-Gadget3's layout) and AHF (text AHF_halos/AHF_particles, the floor being pandas' parse of the
particles file alone); and, with --abacus, an AbacusSummit timeslice read through mpipaint's Snapshot
against abacusutils' read_asdf of the same files (the suite's own reader, which mpipaint calls).

    python benchmarks/bench_catalogs.py WORKDIR [--halos 100000] [--members 20000000] [--files 4] [--repeat 3]
        [--abacus SLICES_DIR]

Neither Gadget-III's nor AHF's own reader installs here to compare with (Pylians' readfof is compiled with
the rest of Pylians; pynbody's AHFCatalogue needs a pynbody snapshot), so the floor stands in for them.
"""
import argparse
import sys
import time
from pathlib import Path

import machine
import numpy as np
import pandas as pd

from mpipaint.io.ahf import AHFMembers, read_ahf_halos
from mpipaint.io.gadget3_groups import Gadget3FoF
from timing import best_of


def halo_lengths(halos: int, members: int, rng) -> np.ndarray:
    """Lognormal group sizes (at least 20 particles) summing to `members`."""
    if members < 20 * halos:
        raise SystemExit(f"--members must be at least 20 per halo ({20 * halos})")
    sizes = rng.lognormal(0.0, 1.5, halos)
    lengths = 20 + np.floor(sizes / sizes.sum() * (members - 20 * halos)).astype(np.int64)
    lengths[np.argmax(lengths)] += members - lengths.sum()
    return lengths


def gadget3(workdir: Path, lengths, ids, files: int, repeat: int) -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from gadget_files import write_gadget3_fof  # noqa: PLC0415

    n = len(lengths)
    zeros3, zeros6 = np.zeros((n, 3)), np.zeros((n, 6))
    length_type = np.zeros((n, 6), np.int64)
    length_type[:, 1] = lengths
    directory = write_gadget3_fof(workdir, 0, lengths, zeros3, zeros3, np.ones(n), length_type, zeros6, ids,
                                  num_files=files, id_dtype="u8")
    paths = sorted(directory.iterdir())

    def ours():
        catalog = Gadget3FoF(directory)
        catalog.groups()
        return catalog.member_ids().read(0, catalog.num_ids)

    def floor():
        return [np.fromfile(path, np.uint8) for path in paths]

    return _row("Gadget-III FoF (binary)", paths, n, len(ids), ours, floor, repeat)


def ahf(workdir: Path, lengths, ids, repeat: int) -> dict:
    n = len(lengths)
    halos = workdir / "bench.z0.000.AHF_halos"
    table = np.column_stack([np.arange(n), -np.ones(n), np.zeros(n), np.full(n, 1e14), lengths, np.zeros((n, 3))])
    header = "ID(1)\thostHalo(2)\tnumSubStruct(3)\tMvir(4)\tnpart(5)\tXc(6)\tYc(7)\tZc(8)"
    np.savetxt(halos, table, fmt="%d\t%d\t%d\t%.6e\t%d\t%.3f\t%.3f\t%.3f", header=header, comments="#")
    particles = halos.with_name("bench.z0.000.AHF_particles")
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    with open(particles, "w") as handle:
        handle.write(f"{n}\n")
        for k, (start, length) in enumerate(zip(starts, lengths)):
            handle.write(f"{length}\t{k}\n")
            np.savetxt(handle, np.column_stack([ids[start:start + length], np.ones(length, np.int64)]), fmt="%d")

    def ours():
        column = read_ahf_halos(halos)
        return AHFMembers(particles, column["id"], column["npart"]).read(0, int(column["npart"].sum()))

    def floor():
        return pd.read_csv(particles, sep=r"\s+", header=None, names=[0, 1])

    return _row("AHF (text)", [halos, particles], n, len(ids), ours, floor, repeat)


def abacus(slices: Path, repeat: int) -> dict:
    from abacusnbody.data.read_abacus import read_asdf  # noqa: PLC0415

    from mpipaint.io.particle_types import DM  # noqa: PLC0415
    from mpipaint.io.snapshot import Snapshot  # noqa: PLC0415

    def ours():
        return Snapshot(slices).read(DM, "Coordinates")

    paths = Snapshot(slices).files

    def library():
        return [read_asdf(str(path), load=("pos",)) for path in paths]

    return _row("AbacusSummit timeslice (pack9) vs abacusutils", paths, 0, len(ours()), ours, library, repeat)


def _row(name, paths, halos, members, ours, floor, repeat) -> dict:
    ours_s, got = best_of(repeat, ours)
    assert len(got) == members
    floor_s, _ = best_of(repeat, floor)
    megabytes = sum(p.stat().st_size for p in paths) / 1e6
    return {"format": name, "halos": halos, "members": members, "MB": megabytes, "mpipaint_s": ours_s,
            "floor_s": floor_s, "ratio": ours_s / floor_s, "members_per_s": members / ours_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--halos", type=int, default=100_000)
    parser.add_argument("--members", type=int, default=20_000_000)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--abacus", type=Path, default=None, help="an Abacus slices/zX.XXX/ directory")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2)
    lengths = halo_lengths(args.halos, args.members, rng)
    ids = rng.permutation(args.members).astype(np.uint64) + np.uint64(1)
    start = time.perf_counter()
    rows = [gadget3(args.workdir, lengths, ids, args.files, args.repeat), ahf(args.workdir, lengths, ids, args.repeat)]
    if args.abacus is not None:
        rows.append(abacus(args.abacus, args.repeat))
    print(f"`python benchmarks/bench_catalogs.py {' '.join(sys.argv[1:])}` ({machine.line()}; "
          f"{time.perf_counter() - start:.0f} s in all)\n")
    print("| format | halos | member IDs (particles) | MB | mpipaint [s] | bare read or library [s] | ratio | per second |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print(f"| {row['format']} | {row['halos']:.0e} | {row['members']:.0e} | {row['MB']:.0f} | "
              f"{row['mpipaint_s']:.2f} | {row['floor_s']:.2f} | {row['ratio']:.2f} | {row['members_per_s']:.3g} |")


if __name__ == "__main__":
    main()
