"""Light-cone speed and memory: `mpipaint lightcone` on painted catalogs of N uniformly placed halos per
snapshot (four snapshots of one box, z = 0.1, 0.3, 0.6, 1.0), full sky to `--zmax`, under `mpirun -n R` for
each R of `--ranks`; prints the light-cone halos written, the wall time, light-cone halos per second per
rank, the peak memory per rank and, over the halo counts, the fitted growth exponents of wall time and
memory.

    python benchmarks/bench_lightcone.py [--halos 10000 30000 100000] [--zmax 1] [--box-cmpc 1500] [--ranks 1 2]
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from painted_files import write_painted  # noqa: E402
from machine import line  # noqa: E402

SNAPSHOTS = ((91, 0.1), (78, 0.3), (67, 0.6), (50, 1.0))
PEAK_MEMORY = """
import resource, runpy, sys
sys.argv = ["mpipaint", *sys.argv[1:]]
try:
    runpy.run_module("mpipaint", run_name="__main__")
finally:
    print("peak_rss_mb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, file=sys.stderr)
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--halos", type=int, nargs="+", default=[10000, 30000, 100000])
    parser.add_argument("--zmax", type=float, default=1.0)
    parser.add_argument("--box-cmpc", type=float, default=1500.0)
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    box = args.box_cmpc * 1e3
    print(f"# {line()}")
    print(f"# full sky to z = {args.zmax}, 4 snapshots of a {args.box_cmpc:.0f} cMpc box")
    print("| ranks | halos per snapshot | light-cone halos | wall [s] | halos/s per rank | peak memory per rank [MB] |")
    print("| --- | --- | --- | --- | --- | --- |")
    env = {**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    measured = {ranks: [] for ranks in args.ranks}
    for n in args.halos:
        work = Path(tempfile.mkdtemp())
        rng = np.random.default_rng(n)
        paths = [write_painted(work / f"painted_{s}.hdf5", s, z, rng.uniform(0, box, (n, 3)), seed=s, box_ckpc=box)
                 for s, z in SNAPSHOTS]
        for ranks in args.ranks:
            command = [shutil.which("mpirun"), "-n", str(ranks), "--oversubscribe", sys.executable, "-c",
                       PEAK_MEMORY, "lightcone", *map(str, paths), "--out", str(work / "lc.hdf5"),
                       "--zmax", str(args.zmax)]
            start = time.perf_counter()
            result = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
            wall = time.perf_counter() - start
            peaks = sorted(float(text.split()[-1]) for text in result.stderr.splitlines()
                           if text.startswith("peak_rss_mb"))
            with h5py.File(work / "lc.hdf5") as f:
                rows = len(f["ra"])
            (work / "lc.hdf5").unlink()
            measured[ranks].append((n, wall, max(peaks)))
            print(f"| {ranks} | {n} | {rows} | {wall:.1f} | {rows / wall / ranks:.3g} | "
                  f"{' / '.join(f'{p:.0f}' for p in peaks)} |", flush=True)
        shutil.rmtree(work)
    for ranks, points in measured.items():
        if len(points) > 1:
            n, wall, peak = (np.log(np.array(column)) for column in zip(*points))
            print(f"# {ranks} rank(s): wall ~ N^{np.polyfit(n, wall, 1)[0]:.2f}, "
                  f"peak memory per rank ~ N^{np.polyfit(n, peak, 1)[0]:.2f}")


if __name__ == "__main__":
    main()
