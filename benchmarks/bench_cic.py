"""DM CIC projection throughput: mpipaint's numba kernel vs peers, side by side on the same particles.

    python benchmarks/bench_cic.py [--sizes 1e5 1e6 1e7] [--npix 512]

Particles: a cuspy blob inside a 4 Mpc, 512^2 map, in a periodic 100 Mpc box. Peers:
numpy.histogram2d (NGP, no cloud: a floor), yt's CICDeposit_2 kernel (the one behind
ParticleProjectionPlot / FITSParticleProjection with deposition='cic', given pixel coordinates),
Pylians' MAS_library 2D CIC, and pmesh's CIC painter, where they import. mpipaint runs with 1 thread
(per-core figure) and with all threads; its time includes the periodic wrap, which the peers are spared.

Two floors, on one thread, bound what any float64 CIC of these particles can reach on this core: reading
the positions and weights once (a plain sum), and the scatter-add alone of the four corner weights of the
same clouds, precomputed.
"""
import argparse

import numba
import numpy as np
from yt.utilities.lib.particle_mesh_operations import CICDeposit_2

from mpipaint.maps import cic
from mpipaint.maps.geometry import MapGeometry
from timing import best_of

WIDTH, BOX = 4000.0, 100_000.0


def particles(n, rng):
    r = 400.0 * rng.pareto(2.0, n) + 1.0
    direction = rng.normal(size=(n, 3))
    positions = direction / np.linalg.norm(direction, axis=1, keepdims=True) * np.minimum(r, 1900.0)[:, None]
    return (positions + 500.0) % BOX, rng.uniform(1.0, 2.0, n)


def _yt_end_to_end(positions, masses, npix):
    """What a yt user runs: load the particles, then a CIC particle projection of the 4 Mpc map."""
    import yt  # noqa: PLC0415

    yt.set_log_level(40)
    data = {("io", f"particle_position_{c}"): positions[:, k] for k, c in enumerate("xyz")}
    data[("io", "particle_mass")] = masses
    ds = yt.load_particles(data, length_unit="kpc", mass_unit="Msun", bbox=np.array([[0.0, BOX]] * 3))
    yt.FITSParticleProjection(ds, "z", ("io", "particle_mass"), center=ds.arr([500.0] * 3, "kpc"),
                              width=(WIDTH, "kpc"), image_res=npix, deposition="cic")


def peers(positions, masses, npix):
    """name -> callable, for the peers that are installed; each maps the same particles to npix^2."""
    u = positions[:, 0] - 500.0 + 0.5 * WIDTH
    v = positions[:, 1] - 500.0 + 0.5 * WIDTH
    edges = np.linspace(0.0, WIDTH, npix + 1)
    out = {"numpy.histogram2d (NGP)": lambda: np.histogram2d(u, v, bins=(edges, edges), weights=masses)}

    def yt_cic():
        buff, mask = np.zeros((npix, npix)), np.zeros((npix, npix), dtype=np.uint8)
        CICDeposit_2(u, v, masses, len(u), buff, mask, edges, edges)

    out["yt CICDeposit_2 kernel"] = yt_cic
    if len(u) <= 1_000_000:
        out["yt FITSParticleProjection(cic), end to end"] = lambda: _yt_end_to_end(positions, masses, npix)
    try:
        import MAS_library as masl  # noqa: PLC0415

        uv = np.ascontiguousarray(np.stack([u, v], axis=1), dtype=np.float32)
        m32 = masses.astype(np.float32)

        def pylians():
            grid = np.zeros((npix, npix), dtype=np.float32)
            masl.MA(uv, grid, WIDTH, "CIC", W=m32, verbose=False)

        out["Pylians MAS_library kernel"] = pylians

        def pylians_as_used():
            """What a Pylians user runs from snapshot positions: numpy minimum image and projection first."""
            d = positions[:, :2] - 500.0  # the two image axes only: the map keeps the whole line of sight
            d -= BOX * np.round(d / BOX)
            uv_user = np.ascontiguousarray(d + 0.5 * WIDTH, dtype=np.float32)
            grid = np.zeros((npix, npix), dtype=np.float32)
            masl.MA(uv_user, grid, WIDTH, "CIC", W=m32, verbose=False)

        out["Pylians, with the numpy wrap + projection it needs"] = pylians_as_used
    except ImportError:
        pass
    try:
        from pmesh.pm import ParticleMesh  # noqa: PLC0415

        pm = ParticleMesh(BoxSize=[WIDTH, WIDTH], Nmesh=[npix, npix], dtype="f8")
        uv64 = np.stack([u, v], axis=1)
        out["pmesh (cic)"] = lambda: pm.paint(uv64, mass=masses, resampler="cic")
    except ImportError:
        pass
    return out


@numba.njit
def _read_once(positions, weights):
    total = 0.0
    for p in range(positions.shape[0]):
        total += positions[p, 0] + positions[p, 1] + positions[p, 2] + weights[p]
    return total


def floors(positions, masses, geometry, repeat):
    """(read floor, scatter floor) in seconds on one thread, for these particles in this map."""
    n, npix = len(positions), geometry.npix
    corner, left, right, frac_v = np.empty(n, np.int32), np.empty(n), np.empty(n), np.empty(n)
    cic._clouds(positions[:, 0].copy(), positions[:, 1].copy(), positions[:, 2].copy(), masses,
                np.asarray(geometry.centre), npix / geometry.width, BOX, 1.0 / BOX, np.inf, npix, corner, left,
                right, frac_v)
    grid = np.zeros((npix + 2) ** 2)
    _read_once(positions[:10], masses[:10])
    read = best_of(repeat, lambda: _read_once(positions, masses))[0]
    scatter = best_of(repeat, lambda: cic._deposit(corner, left, right, frac_v, n, npix + 2, grid))[0]
    return read, scatter


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e5, 1e6, 1e7])
    parser.add_argument("--npix", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    threads = numba.get_num_threads()
    geometry = MapGeometry(centre=(500.0, 500.0, 500.0), width=WIDTH, npix=args.npix, axis=2, box_size=BOX)
    print("| particles | code | Mpart/s | mpipaint (1 thread) speed-up |")
    print("| --- | --- | --- | --- |")
    for n in map(int, args.sizes):
        positions, masses = particles(n, rng)
        cic.cic_project_axes(positions[:100], masses[:100], [geometry])  # compile
        numba.set_num_threads(1)
        ours_1 = best_of(args.repeat, lambda: cic.cic_project_axes(positions, masses, [geometry]))[0]
        numba.set_num_threads(threads)
        ours_all = best_of(args.repeat, lambda: cic.cic_project_axes(positions, masses, [geometry]))[0]
        print(f"| {n:.0e} | mpipaint, 1 thread | {n / ours_1 / 1e6:.1f} | 1.00 |")
        print(f"| {n:.0e} | mpipaint, {threads} threads | {n / ours_all / 1e6:.1f} | {ours_1 / ours_all:.2f} |")
        numba.set_num_threads(1)
        for name, t in zip(("floor: read positions + weights once", "floor: scatter-add of precomputed clouds"),
                           floors(positions, masses, geometry, args.repeat)):
            print(f"| {n:.0e} | {name} | {n / t / 1e6:.1f} | {t / ours_1:.2f} |")
        numba.set_num_threads(threads)
        for name, function in peers(positions, masses, args.npix).items():
            t = best_of(args.repeat, function)[0]
            print(f"| {n:.0e} | {name} | {n / t / 1e6:.1f} | {t / ours_1:.1f} |")


if __name__ == "__main__":
    main()
