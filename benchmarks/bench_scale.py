"""Paint at the size of real suites: the `cube` halo search per box particle against the halo count; the
memory of slab reading per particle received; and whole paints of generated boxes from 1e6 to 3e8
particles and 1e2 to 1e5 halos by offsets, slabs and cube.

    python benchmarks/bench_scale.py search [--halos 1000 10000 100000 1000000] [--particles 4000000] [--rounds 7]
        [--baseline COMMIT]
    python benchmarks/bench_scale.py gather SNAPDIR HALOS.hdf5 [--chunk 20000] [--baseline COMMIT]
    python benchmarks/bench_scale.py paint WORKDIR [--boxes 1e6x1000 1e7x1000 1e8x1000 1e7x100 1e7x10000]
        [--ranks 1 2] [--reads offsets slabs cube]

Boxes grow with their halo count at a fixed halo number density (`--density`, per cMpc^3: 3e-4 is about
the abundance of halos above 1e13 Msun), so that a bigger box is what a bigger halo count means in a real
run. Each chunk of `--particles` particles is half uniform over the box and half in Gaussian clumps of 300 kpc
around halos (what falls in cubes). Printed per halo count: the box side, the seconds to build the search,
the microseconds per particle of `CubeSearch.members` and of the `--baseline` commit's `CubeSearch` (the
search as it was, loaded from git, so the repository keeps one implementation): median and fastest of `--rounds`
rounds that take every halo count in turn; the (particle, halo)
pairs found (identical for both), and the microseconds per particle of reading the chunk's coordinates from
an HDF5 file (float32, gzip off) as every read strategy must; then the fitted growth of the per-particle
cost over the halo counts.

`gather`: `halos.slabs.gather_particles` on one rank (no mpirun needed) for the DM of every halo of the
table at the snapshot's time, by group and by cube membership, in chunks of `--chunk` particles (small, so
that the chunk itself weighs little beside what arrives), each halo then turned into its physical fields
and dropped one by one as paint does; printed: the peak of traced allocations (tracemalloc, which numpy
reports to) per particle received, for this tree and the `--baseline` commit's module, the bytes per
particle held between the gather and the projections, and the rest of the peak per particle of a chunk
(read buffers, members found, records in flight: what grows with `--chunk`, not with the halos).

`paint`: boxes PxH written by `write_box` (DMO, TNG layout, group-ordered, P particles: H groups of M200c
1e14-1e15 Msun and ten times as many of 1e12-1e14, half the particles in groups and half uniform, at `--halo-density`),
painted with a tiny untrained U-net (`--npix` 64, base 4, so that host costs show) by `mpirun -n R mpipaint
paint --batch-halos 8`: offsets, slabs (group) and cube (slabs, a cube bundle). Printed per run: the wall
time of the command, paint's own loop time per halo, particles projected, peak memory per rank (ru_maxrss,
TensorFlow included); then the growth exponents of the loop time per halo against particles (at fixed
halos) and halos (at fixed particles), and the per-particle and per-halo costs of a linear fit.
"""
import argparse
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from baseline import module_at  # noqa: E402
from machine import line  # noqa: E402
from mpipaint.halos.cube_search import CubeSearch  # noqa: E402

WIDTH_KPC = 4000.0  # the paper's map width (physical kpc; comoving at z = 0)
CLUMP_KPC = 300.0


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
    baseline = module_at(args.baseline, "mpipaint/halos/cube_search.py", scratch).CubeSearch if args.baseline else None
    rng = np.random.default_rng(3)
    print(f"machine: {line()}; {args.particles:.0e} particles per chunk, {args.density:g} halos per cMpc^3, "
          f"cubes {WIDTH_KPC:g} kpc; {args.rounds} rounds, each halo count once per round in turn")
    CubeSearch(np.zeros((1, 3)), WIDTH_KPC, 1e5).members(np.zeros((1, 3)))  # compiled before timing
    cases = []
    for halos in args.halos:
        box = 1000.0 * (halos / args.density) ** (1 / 3)
        centres = rng.uniform(0, box, (halos, 3))
        positions = chunk(rng, centres, box, args.particles)
        start = time.perf_counter()
        searches = {"this tree": CubeSearch(centres, WIDTH_KPC, box)}
        build = time.perf_counter() - start
        particle, halo = searches["this tree"].members(positions)
        if baseline is not None and halos <= args.baseline_max_halos:
            searches["baseline"] = baseline(centres, WIDTH_KPC, box)
            if not np.array_equal(sorted_pairs(particle, halo), sorted_pairs(*searches["baseline"].members(positions))):
                raise SystemExit(f"{halos} halos: the baseline found other pairs")
        cases.append((halos, box, build, positions, searches, len(particle)))
    # rounds in turn rather than each size's repeats in a row, so that the shared host's slow spells fall on
    # every size alike and the ratios between sizes hold
    seconds = {(halos, name): [] for halos, _, _, _, searches, _ in cases for name in searches}
    for _ in range(args.rounds):
        for halos, _, _, positions, searches, _ in cases:
            for name, finder in searches.items():
                start = time.perf_counter()
                finder.members(positions)
                seconds[halos, name].append((time.perf_counter() - start) / len(positions) * 1e6)
    print("| halos | box [cMpc] | build [s] | search [us/particle]: median (fastest) | baseline [us/particle] | "
          "pairs | HDF5 read [us/particle] |\n| --- | --- | --- | --- | --- | --- | --- |")
    for halos, box, build, positions, searches, pairs in cases:
        new = seconds[halos, "this tree"]
        old = seconds.get((halos, "baseline"))
        old = f"{np.median(old):.3f} ({min(old):.3f})" if old else "-"
        read = read_seconds(positions) / len(positions) * 1e6
        print(f"| {halos:.0e} | {box / 1000:.0f} | {build:.2f} | {np.median(new):.3f} ({min(new):.3f}) | {old} | "
              f"{pairs} | {read:.3f} |")
    if len(cases) > 1:
        medians = [np.median(seconds[halos, "this tree"]) for halos in args.halos]
        slope = np.polyfit(np.log(args.halos), np.log(medians), 1)[0]
        per_round = np.array(seconds[args.halos[-1], "this tree"]) / np.array(seconds[args.halos[0], "this tree"])
        print(f"\nsearch cost per particle ~ H^{slope:.2f} over {args.halos[0]:.0e}-{args.halos[-1]:.0e} halos; "
              f"{args.halos[-1]:.0e} / {args.halos[0]:.0e} halos: {medians[-1] / medians[0]:.2f} by medians, "
              f"{np.percentile(per_round, 25):.2f}-{np.percentile(per_round, 75):.2f} (quartiles of the "
              f"{args.rounds} rounds' own ratios)")


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
        modules[args.baseline] = module_at(args.baseline, "mpipaint/halos/slabs.py",
                                           Path(tempfile.mkdtemp(prefix="bench_scale_")))
    print(f"machine: {line()}; {args.snapdir}, {len(table)} halos, chunks of {args.chunk} particles")
    print("| membership | module | particles received | peak [B/particle] | held until projected [B/particle] | "
          "the rest [B per chunk particle] |\n| --- | --- | --- | --- | --- | --- |")
    for membership in ("group", "cube"):
        for name, module in modules.items():
            run = (snapshot, DM, ("Coordinates", "Masses"), table, owners, membership, WIDTH_KPC, args.chunk)
            module.gather_particles(*run)  # compiled before measuring
            tracemalloc.start()
            out = module.gather_particles(*run)
            kept = tracemalloc.get_traced_memory()[0]
            received = 0
            for halo in sorted(out):  # as paint: each halo made physical when projected, then dropped
                fields = out.pop(halo)
                received += len(fields.fields()["Masses"] if hasattr(fields, "fields") else fields["Masses"])
                del fields
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            print(f"| {membership} | {name} | {received} | {peak / received:.0f} | {kept / received:.0f} | "
                  f"{(peak - kept) / args.chunk:.0f} |")


H = 0.6774  # the generated boxes' cosmology: Planck 2015, as TNG
BOX_META = {"hubble": H, "omega_m": 0.3089, "omega_lambda": 0.6911, "omega_b": 0.0486, "scale_factor": 1.0,
            "redshift": 0.0}
GROUPS_PER_HALO = 10  # groups below the cut per halo above it
RHO_CRIT_MSUN_KPC3 = 127.0  # z = 0, h = 0.6774


class SlicedColumn:
    """A dataset of `rows` rows made slice by slice by `make(lo, hi)` when `write_snapshot` cuts it per file, so
    that a 3e8-particle box never holds all of a field at once."""

    def __init__(self, rows: int, make):
        self.rows, self.make = rows, make

    def __len__(self) -> int:
        return self.rows

    def __getitem__(self, rows: slice) -> np.ndarray:
        lo, hi, _ = rows.indices(self.rows)
        return self.make(lo, hi)


def box_coordinates(lo: int, hi: int, box: float, centres, r200c, group_end, seed: int) -> np.ndarray:
    """Rows [lo, hi) of a box's coordinates in code units: the first `group_end[-1]` in group order, each group's
    a Gaussian of R200c / 2 about its centre (`group_end`: one past each group's last particle); the rest uniform
    (TNG's fuzz). Drawn from a generator seeded by `lo`, so the box is the same however it is cut."""
    rng = np.random.default_rng([seed, lo])
    index = np.arange(lo, hi)
    grouped = index < group_end[-1]
    owner = np.searchsorted(group_end, index[grouped], side="right")
    kpc = np.empty((hi - lo, 3))
    kpc[grouped] = (centres[owner] + rng.normal(0, 1, (len(owner), 3)) * (r200c[owner, None] / 2)) % box
    kpc[~grouped] = rng.uniform(0, box, (int((~grouped).sum()), 3))
    return kpc * H


def write_box(run: Path, particles: int, halos: int, density: float, seed: int = 0) -> None:
    """A DMO snapshot 99 with its group catalog and offsets in the TNG layout (float64 coordinates, uint64 IDs,
    the DM mass in the MassTable): `halos` groups of M200c 1e14-1e15 Msun (dN/dlnM ~ M^-1) and ten times as many
    of 1e12-1e14, in a box of `halos / density` cMpc^3; half the particles in groups (Gaussian of R200c / 2,
    count by mass), in group order, the other half uniform after them (TNG's fuzz); files of 2e7 particles, made
    one at a time."""
    from mpipaint.example import tng_writer  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    box = 1000.0 * (halos / density) ** (1 / 3)  # ckpc (a = 1)
    m200c = np.concatenate([10 ** rng.uniform(14, 15, halos), 10 ** rng.uniform(12, 14, GROUPS_PER_HALO * halos)])
    m200c = np.sort(m200c)[::-1]  # FoF catalogues list groups by mass
    r200c = (3 * m200c / (4 * np.pi * 200 * RHO_CRIT_MSUN_KPC3)) ** (1 / 3)
    members = np.floor(m200c / m200c.sum() * (particles // 2)).astype(np.int64)
    centres = rng.uniform(0, box, (len(m200c), 3))
    mass = 2 * m200c.sum() / particles  # Msun: the groups hold half the mass
    to_code_mass = H / 1e10
    meta = {**BOX_META, "box_size": box * H, "mass_table": [0, mass * to_code_mass, 0, 0, 0, 0]}
    group_end = np.cumsum(members)
    coordinates = SlicedColumn(particles, lambda lo, hi: box_coordinates(lo, hi, box, centres, r200c, group_end, seed))
    ids = SlicedColumn(particles, lambda lo, hi: np.arange(lo + 1, hi + 1, dtype=np.uint64))
    offsets = tng_writer.write_snapshot(run, 99, {1: {"Coordinates": coordinates, "ParticleIDs": ids}}, meta,
                                        max(1, particles // 20_000_000))
    counts = np.zeros((len(m200c), 6), np.int32)
    counts[:, 1] = members
    groups = {"GroupPos": (centres * H).astype(np.float32), "GroupLenType": counts, "GroupLen": members.astype(np.int32),
              "GroupMass": (members * mass * to_code_mass).astype(np.float32),
              "Group_M_Crit200": (m200c * to_code_mass).astype(np.float32),
              "Group_R_Crit200": (r200c * H).astype(np.float32), "GroupFirstSub": np.full(len(m200c), -1, np.int32),
              "GroupNsubs": np.zeros(len(m200c), np.int32)}
    subhalos = {"SubhaloLenType": np.zeros((0, 6), np.int32), "SubhaloPos": np.zeros((0, 3), np.float32)}
    tng_writer.write_group_catalog(run, 99, groups, subhalos, meta, 1)
    group_offsets = np.zeros((len(m200c), 6), np.int64)
    group_offsets[:, 1] = np.concatenate([[0], np.cumsum(members)[:-1]])
    tng_writer.write_offsets(run, 99, group_offsets, np.zeros((0, 6), np.int64), 1, offsets)


PAINT_SUMMARY = re.compile(r"summary: (\d+) halos, (\d+) DM particles projected in ([0-9.]+) s.*max over ranks: "
                           r"(.*); peak memory per rank \[MB\]: (.*)")
READS = {"offsets": ("group", "offsets"), "slabs": ("group", "slabs"), "cube": ("cube", "slabs")}


def paint_once(args, snapdir: Path, bundle: Path, strategy: str, ranks: int, out: Path) -> tuple:
    """(wall [s], halos, particles projected, loop [s], the slowest rank's loop less inference [s], peak memory
    per rank [MB]) of one paint."""
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    out.unlink(missing_ok=True)
    command = (["mpirun", "-n", str(ranks), "--oversubscribe"] if ranks > 1 else []) + [
        sys.executable, "-m", "mpipaint", "paint", str(snapdir), "--model", str(bundle), "--out", str(out),
        "--read-strategy", strategy, "--chunk-particles", str(int(args.chunk)), "--batch-halos", "8",
        "--precision", "fp32"]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if result.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    out.unlink()
    halos, projected, loop, phases, memory = PAINT_SUMMARY.search(result.stderr).groups()
    seconds = {name: float(value) for name, value in re.findall(r"(\w+) ([0-9.]+) s", phases)}
    return wall, int(halos), int(projected), float(loop), float(loop) - seconds["infer"], memory


def paint(args) -> None:
    from random_bundle import write_random_bundle  # noqa: PLC0415

    bundles = {mode: write_random_bundle(args.workdir / f"bundle_{mode}", args.npix, args.base_filters,
                                         deposition_mode=mode) for mode in ("group", "cube")}
    print(f"machine: {line()}; U-net base {args.base_filters}, depth 4, {args.npix}^2 maps, untrained; "
          f"{args.halo_density:g} halos above 1e14 Msun per cMpc^3, {GROUPS_PER_HALO}x as many groups below; "
          f"--batch-halos 8, --chunk-particles {args.chunk:.0e}")
    print("| particles | halos | read | ranks | wall [s] | loop [s] | loop per halo [ms] | host per halo [ms] | "
          "particles projected | peak memory per rank [MB] |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- "
          "| --- |")
    rows = []
    for box in args.boxes:
        particles, halos = (int(float(n)) for n in box.split("x"))
        run = args.workdir / f"box_{box}"
        if not (run / "output" / "snapdir_099").exists():
            # in a child of its own: Linux keeps a process's peak RSS (ru_maxrss) across fork and exec, so the
            # paints this process starts would report the generator's peak as theirs
            writer = multiprocessing.get_context("spawn").Process(
                target=write_box, args=(run, particles, halos, args.halo_density))
            writer.start()
            writer.join()
            if writer.exitcode:
                raise SystemExit(f"writing {run} failed")
        for read in args.reads:
            mode, strategy = READS[read]
            for ranks in args.ranks:
                wall, painted, projected, loop, host, memory = paint_once(
                    args, run / "output" / "snapdir_099", bundles[mode], strategy, ranks,
                    args.workdir / f"painted_{box}_{read}_{ranks}.hdf5")
                rows.append((particles, painted, projected, read, ranks, loop, host))
                print(f"| {particles:.0e} | {painted} | {read} | {ranks} | {wall:.1f} | {loop:.1f} | "
                      f"{1e3 * loop / painted:.2f} | {1e3 * host / painted:.2f} | {projected:.3g} | {memory} |",
                      flush=True)
    growth(rows)


SCANNED = {"offsets": 2, "slabs": 0, "cube": 0}  # row column of the particles a read goes through: its halos' or the box's


def growth(rows) -> None:
    """Per read and rank count: exponents of the loop time per halo in box particles (at each halo count) and in
    halos (at each particle count); and the host's part of the loop (less inference, the slowest rank) fitted as
    a x particles + b x halos, the particles being those the read goes through (offsets: its halos' members;
    slabs and cube: the whole box)."""
    print()
    for read in sorted({r[3] for r in rows}):
        for ranks in sorted({r[4] for r in rows}):
            mine = np.array([(p, h, n, t, host) for p, h, n, k, r, t, host in rows if k == read and r == ranks])
            if len(mine) < 3:
                continue
            parts = []
            for column, other, name in ((0, 1, "particles"), (1, 0, "halos")):
                for fixed in np.unique(mine[:, other]):
                    at = mine[mine[:, other] == fixed]
                    if len(np.unique(at[:, column])) > 1:
                        slope = np.polyfit(np.log(at[:, column]), np.log(at[:, 3] / at[:, 1]), 1)[0]
                        parts.append(f"per halo ~ {name}^{slope:.2f} at {fixed:.0e} {('halos', 'particles')[column]}")
            (per_particle, per_halo), *_ = np.linalg.lstsq(mine[:, [SCANNED[read], 1]], mine[:, 4], rcond=None)
            scanned = "member" if read == "offsets" else "box"
            print(f"{read}, {ranks} rank(s): {'; '.join(parts)}; host = {per_particle * 1e9:.1f} ns x {scanned} "
                  f"particles + {per_halo * 1e3:.2f} ms x halos")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="part", required=True)
    part = sub.add_parser("search", help="the cube halo search alone")
    part.add_argument("--halos", type=int, nargs="+", default=[1000, 10000, 100000, 1000000])
    part.add_argument("--particles", type=int, default=4_000_000)
    part.add_argument("--density", type=float, default=3e-4, help="halos per cMpc^3")
    part.add_argument("--baseline", default=None, help="git commit whose CubeSearch to time beside")
    part.add_argument("--baseline-max-halos", type=int, default=1_000_000)
    part.add_argument("--rounds", type=int, default=7)
    part = sub.add_parser("gather", help="slab reading's memory per particle received, one rank")
    part.add_argument("snapdir", help="a snapshot (directory or file)")
    part.add_argument("halos", help="halo table from mpipaint select")
    part.add_argument("--chunk", type=int, default=20_000)
    part.add_argument("--baseline", default=None, help="git commit whose halos/slabs.py to measure beside")
    part = sub.add_parser("paint", help="whole paints of generated boxes")
    part.add_argument("workdir", type=Path)
    part.add_argument("--boxes", nargs="+", default=["1e6x1000", "1e7x1000", "1e8x1000", "1e7x100", "1e7x10000"],
                      help="PARTICLESxHALOS of each box")
    part.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    part.add_argument("--reads", nargs="+", default=list(READS), choices=list(READS))
    part.add_argument("--halo-density", type=float, default=1e-5, help="halos above 1e14 Msun per cMpc^3 (TNG300: 1.1e-5)")
    part.add_argument("--npix", type=int, default=64)
    part.add_argument("--base-filters", type=int, default=4)
    part.add_argument("--chunk", type=float, default=4e6, help="slabs: particles read per rank per step")
    args = parser.parse_args()
    {"search": search, "gather": gather, "paint": paint}[args.part](args)


if __name__ == "__main__":
    main()
