"""Light-cone speed and memory: `mpipaint lightcone` on painted catalogs of N halos per snapshot (three
snapshots of a 300 cMpc box, z = 0.1, 0.3, 0.6), full sky to `--zmax`, under `mpirun -n RANKS`; prints the
light-cone halos written, the wall time, light-cone halos per second per rank and the peak memory per rank.

    python benchmarks/bench_lightcone.py [--halos 1000 3000 10000] [--zmax 0.3] [--ranks 2]
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
from painted_files import BOX_CKPC, write_painted  # noqa: E402
from machine import line  # noqa: E402

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
    parser.add_argument("--halos", type=int, nargs="+", default=[1000, 3000, 10000])
    parser.add_argument("--zmax", type=float, default=0.3)
    parser.add_argument("--ranks", type=int, default=2)
    args = parser.parse_args()
    print(f"# {line()}")
    print(f"# full sky to z = {args.zmax}, 3 snapshots of a {BOX_CKPC / 1e3:.0f} cMpc box, {args.ranks} ranks")
    print("| halos per snapshot | light-cone halos | wall [s] | halos/s per rank | peak memory per rank [MB] |")
    print("| --- | --- | --- | --- | --- |")
    env = {**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    for n in args.halos:
        work = Path(tempfile.mkdtemp())
        rng = np.random.default_rng(n)
        paths = [write_painted(work / f"painted_{s}.hdf5", s, z, rng.uniform(0, BOX_CKPC, (n, 3)), seed=s)
                 for s, z in ((91, 0.1), (78, 0.3), (67, 0.6))]
        command = [shutil.which("mpirun"), "-n", str(args.ranks), "--oversubscribe", sys.executable, "-c",
                   PEAK_MEMORY, "lightcone", *map(str, paths), "--out", str(work / "lc.hdf5"),
                   "--zmax", str(args.zmax)]
        start = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
        wall = time.perf_counter() - start
        peaks = [float(line.split()[-1]) for line in result.stderr.splitlines() if line.startswith("peak_rss_mb")]
        with h5py.File(work / "lc.hdf5") as f:
            rows = len(f["ra"])
        print(f"| {n} | {rows} | {wall:.1f} | {rows / wall / args.ranks:.3g} | "
              f"{' / '.join(f'{p:.0f}' for p in sorted(peaks))} |")
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
