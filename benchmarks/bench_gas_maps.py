"""Gas-map and X-ray throughput: mpipaint vs yt (+ pyxsim) on the same halo's hot gas cells.

    python benchmarks/bench_gas_maps.py UNIVERSE_DIR [--halo 0] [--npix 512]

mpipaint: the three hot-gas maps (column density, Mazzotta temperature, X-ray) of one projection.
yt: load the same cells as SPH particles; column density projection and the Mazzotta-weighted temperature
projection (two projections). pyxsim + yt: APEC luminosity field on yt's load of the snapshot, and its
projection. Times are for one projection after warm-up, best of --repeat.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np
import yt

from mpipaint import units as u
from mpipaint.halos.particles import HaloParticles
from mpipaint.halos.select import select_subfind
from mpipaint.io.snapshot import Snapshot, find_snapshot
from mpipaint.maps import xray
from mpipaint.maps.gas import gas_maps
from mpipaint.maps.geometry import MapGeometry
from mpipaint.maps.sph import smoothing_length
from timing import best_of

WIDTH = 4000.0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("universe")
    parser.add_argument("--halo", type=int, default=0)
    parser.add_argument("--npix", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    yt.set_log_level(40)
    output = f"{args.universe}/FP/output"
    table = select_subfind(output, 99, 0.0)
    row = table.iloc[args.halo]
    snapshot = Snapshot(find_snapshot(output, 99))
    cells = HaloParticles({99: snapshot}, table, "group", "offsets").gas(args.halo)
    centre = tuple(row[["centre_x", "centre_y", "centre_z"]].astype(float))
    geometry = MapGeometry(centre=centre, width=WIDTH, npix=args.npix, axis=2, box_size=float(row["box_size"]))
    gas_maps(cells, geometry)  # compile
    ours = best_of(args.repeat, lambda: gas_maps(cells, geometry))[0]

    hot = cells.hot()
    local = geometry.offsets(hot.positions) + 5000.0
    volume = hot.volume_kpc3
    n = hot.density / (u.mean_molecular_weight(hot.electron_abundance) * u.PROTON_MASS_G)
    data = {("gas", f"particle_position_{c}"): local[:, k] for k, c in enumerate("xyz")}
    data.update({("gas", "particle_mass"): hot.mass, ("gas", "density"): hot.mass / volume,
                 ("gas", "smoothing_length"): smoothing_length(volume), ("gas", "kT"): hot.temperature,
                 ("gas", "mazzotta_weight"): n**2 * hot.temperature**-0.75})
    ds = yt.load_particles(data, length_unit="kpc", mass_unit="Msun", bbox=np.array([[0, 10000.0]] * 3),
                           periodicity=(False,) * 3)
    centre_yt = ds.arr([5000.0] * 3, "kpc")

    def yt_maps():
        ds.proj(("gas", "density"), 2).to_frb((WIDTH, "kpc"), args.npix, center=centre_yt)[("gas", "density")]
        ds.proj(("gas", "kT"), 2, weight_field=("gas", "mazzotta_weight")).to_frb(
            (WIDTH, "kpc"), args.npix, center=centre_yt)[("gas", "kT")]

    yt_maps()
    theirs = best_of(args.repeat, yt_maps)[0]
    start = time.perf_counter()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from pyxsim_reference import pyxsim_luminosities  # noqa: PLC0415

    luminosity, _ = pyxsim_luminosities(snapshot.files[0])  # whole snapshot: what a pyxsim user runs
    pyxsim_time = time.perf_counter() - start
    print(f"# halo {args.halo}: {len(cells.mass):,} gas cells ({len(hot.mass):,} hot), {args.npix}^2 pixels; "
          f"snapshot {snapshot.num_particles(0):,} gas cells")
    print("| code | what | seconds | mpipaint speed-up |")
    print("| --- | --- | --- | --- |")
    print(f"| mpipaint | gas + Mazzotta T + X-ray maps, one halo | {ours:.3f} | 1.0 |")
    print(f"| yt 4.4 | gas + Mazzotta T projections, one halo | {theirs:.3f} | {theirs / ours:.1f} |")
    print(f"| pyxsim 4.5 + yt | APEC luminosity of every cell of the snapshot | {pyxsim_time:.3f} | "
          f"{pyxsim_time / ours:.1f} (for {len(luminosity):,} cells) |")
    start = time.perf_counter()
    xray.luminosity(snapshot.read(0, "Masses"), snapshot.read(0, "Density"), snapshot.temperature(),
                    snapshot.read(0, "GFM_Metallicity"), snapshot.read(0, "ElectronAbundance"))
    ours_lum = time.perf_counter() - start
    print(f"| mpipaint | fast APEC table, every cell of the snapshot (incl. reading) | {ours_lum:.3f} | "
          f"{pyxsim_time / ours_lum:.1f} vs pyxsim |")


if __name__ == "__main__":
    main()
