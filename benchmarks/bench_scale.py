"""Paint at the size of real suites, part 1: the `cube` halo search (which particles lie in which halo's
map cube) per box particle, against the halo count, beside reading the same particles from HDF5; and the
memory of slab reading per particle received.

    python benchmarks/bench_scale.py search [--halos 1000 10000 100000 1000000] [--particles 4000000]
        [--baseline COMMIT]
    python benchmarks/bench_scale.py gather SNAPDIR HALOS.hdf5 [--chunk 20000] [--baseline COMMIT]

Boxes grow with their halo count at a fixed halo number density (`--density`, per cMpc^3: 3e-4 is about
the abundance of halos above 1e13 Msun), so that a bigger box is what a bigger halo count means in a real
run. Each chunk of `--particles` particles is half uniform over the box and half in Gaussian clumps of 300 kpc
around halos (what falls in cubes). Printed per halo count: the box side, the seconds to build the search,
the microseconds per particle of `CubeSearch.members` and of the `--baseline` commit's `members_by_cube`
(the search as it was, loaded from git, so the repository keeps one implementation), the (particle, halo)
pairs found (identical for both), and the microseconds per particle of reading the chunk's coordinates from
an HDF5 file (float32, gzip off) as every read strategy must; then the fitted growth of the per-particle
cost over the halo counts.

`gather`: `halos.slabs.gather_particles` on one rank (no mpirun needed) for the DM of every halo of the
table at the snapshot's time, by group and by cube membership, in chunks of `--chunk` particles (small, so
that the chunk itself weighs little beside what arrives); printed: the peak of traced allocations
(tracemalloc, which numpy reports to) per particle received, for this tree and the `--baseline` commit's
module, and the bytes per particle of the fields returned.
"""
import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from machine import line  # noqa: E402
from mpipaint.halos.cube_search import CubeSearch  # noqa: E402

WIDTH_KPC = 4000.0  # the paper's map width (physical kpc; comoving at z = 0)
CLUMP_KPC = 300.0


def module_at(commit: str, directory: Path):
    """mpipaint/halos/slabs.py as it was at `commit`, imported from git's copy written into `directory`
    (numba caches by file), so the repository keeps one implementation."""
    source = subprocess.run(["git", "show", f"{commit}:mpipaint/halos/slabs.py"], capture_output=True, text=True,
                            check=True, cwd=Path(__file__).resolve().parents[1]).stdout
    path = directory / f"slabs_{commit}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"slabs_{commit}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def chunk(rng, centres, box: float, count: int) -> np.ndarray:
    uniform = rng.uniform(0, box, (count // 2, 3))
    hosts = centres[rng.integers(0, len(centres), count - count // 2)]
    return np.concatenate([uniform, (hosts + rng.normal(0, CLUMP_KPC, hosts.shape)) % box])


def sorted_pairs(particle, halo) -> np.ndarray:
    order = np.lexsort((halo, particle))
    return np.stack([particle[order], halo[order]])


def read_seconds(positions: np.ndarray) -> float:
    """Seconds to read `positions` back from an HDF5 file as float32 coordinates, converted to float64."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "chunk.hdf5"
        with h5py.File(path, "w") as f:
            f["Coordinates"] = positions.astype(np.float32)
        start = time.perf_counter()
        with h5py.File(path) as f:
            f["Coordinates"][()].astype(np.float64)
        return time.perf_counter() - start


def search(args) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="bench_scale_"))
    baseline = module_at(args.baseline, scratch).members_by_cube if args.baseline else None
    rng = np.random.default_rng(3)
    print(f"machine: {line()}; {args.particles:.0e} particles per chunk, {args.density:g} halos per cMpc^3, "
          f"cubes {WIDTH_KPC:g} kpc")
    print("| halos | box [cMpc] | build [s] | search [us/particle] | baseline [us/particle] | pairs | "
          "HDF5 read [us/particle] |\n| --- | --- | --- | --- | --- | --- | --- |")
    CubeSearch(np.zeros((1, 3)), WIDTH_KPC, 1e5).members(np.zeros((1, 3)))  # compiled before timing
    costs = []
    for halos in args.halos:
        box = 1000.0 * (halos / args.density) ** (1 / 3)
        centres = rng.uniform(0, box, (halos, 3))
        positions = chunk(rng, centres, box, args.particles)
        start = time.perf_counter()
        finder = CubeSearch(centres, WIDTH_KPC, box)
        build = time.perf_counter() - start
        start = time.perf_counter()
        particle, halo = finder.members(positions)
        new = (time.perf_counter() - start) / len(positions) * 1e6
        old = "-"
        if baseline is not None and halos <= args.baseline_max_halos:
            baseline(positions[:1000], centres, WIDTH_KPC, box)
            start = time.perf_counter()
            old_particle, old_halo = baseline(positions, centres, WIDTH_KPC, box)
            old = f"{(time.perf_counter() - start) / len(positions) * 1e6:.3f}"
            if not np.array_equal(sorted_pairs(particle, halo), sorted_pairs(old_particle, old_halo)):
                raise SystemExit(f"{halos} halos: the baseline found other pairs")
        read = read_seconds(positions) / len(positions) * 1e6
        costs.append(new)
        print(f"| {halos:.0e} | {box / 1000:.0f} | {build:.2f} | {new:.3f} | {old} | {len(particle)} | {read:.3f} |")
    if len(costs) > 1:
        slope = np.polyfit(np.log(args.halos), np.log(costs), 1)[0]
        print(f"\nsearch cost per particle ~ H^{slope:.2f} over {args.halos[0]:.0e}-{args.halos[-1]:.0e} halos; "
              f"largest / smallest {max(costs) / min(costs):.2f}")


def gather(args) -> None:
    import tracemalloc  # noqa: PLC0415

    from mpipaint.halos import slabs  # noqa: PLC0415 - this tree's
    from mpipaint.io.halotable import read_halo_table  # noqa: PLC0415
    from mpipaint.io.particle_types import DM  # noqa: PLC0415
    from mpipaint.io.snapshot import Snapshot  # noqa: PLC0415

    snapshot = Snapshot(args.snapdir)
    table = read_halo_table(args.halos)
    table = table[np.isclose(table["scale_factor"], snapshot.header.scale_factor, rtol=1e-6)].reset_index(drop=True)
    owners = np.zeros(len(table), np.int64)
    modules = {"this tree": slabs}
    if args.baseline:
        modules[args.baseline] = module_at(args.baseline, Path(tempfile.mkdtemp(prefix="bench_scale_")))
    print(f"machine: {line()}; {args.snapdir}, {len(table)} halos, chunks of {args.chunk} particles")
    print("| membership | module | particles received | peak [B/particle] | fields returned [B/particle] |\n"
          "| --- | --- | --- | --- | --- |")
    for membership in ("group", "cube"):
        for name, module in modules.items():
            run = (snapshot, DM, ("Coordinates", "Masses"), table, owners, membership, WIDTH_KPC, args.chunk)
            module.gather_particles(*run)  # compiled before measuring
            tracemalloc.start()
            out = module.gather_particles(*run)
            kept, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            received = sum(len(fields["Masses"]) for fields in out.values())
            print(f"| {membership} | {name} | {received} | {peak / received:.0f} | {kept / received:.0f} |")
            del out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="part", required=True)
    part = sub.add_parser("search", help="the cube halo search alone")
    part.add_argument("--halos", type=int, nargs="+", default=[1000, 10000, 100000, 1000000])
    part.add_argument("--particles", type=int, default=4_000_000)
    part.add_argument("--density", type=float, default=3e-4, help="halos per cMpc^3")
    part.add_argument("--baseline", default=None, help="git commit whose members_by_cube to time beside")
    part.add_argument("--baseline-max-halos", type=int, default=1_000_000)
    part = sub.add_parser("gather", help="slab reading's memory per particle received, one rank")
    part.add_argument("snapdir", help="a snapshot (directory or file)")
    part.add_argument("halos", help="halo table from mpipaint select")
    part.add_argument("--chunk", type=int, default=20_000)
    part.add_argument("--baseline", default=None, help="git commit whose halos/slabs.py to measure beside")
    args = parser.parse_args()
    {"search": search, "gather": gather}[args.part](args)


if __name__ == "__main__":
    main()
