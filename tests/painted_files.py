"""Painted catalogs in mpipaint's own format (io.painted), with halos placed by the caller: the light-cone's
inputs for tests and benchmarks."""
import h5py
import numpy as np
import pandas as pd

from mpipaint import __version__
from mpipaint.io import painted
from mpipaint.science.summaries import SUMMARY

H, OMEGA_M = 0.6774, 0.3089
BOX_CKPC = 300_000.0
SIGMA = {"xray": 0.15, "gas": 0.05, "temperature": 0.08, "y": 0.1}
Y_MAP_OFFSET = 8  # pixels along the second image axis: where the y maps' blob sits (the X-ray one: 10 along the first)


def write_painted(path, snapshot: int, redshift: float, centres_ckpc, velocity=None, seed=0, axes=(0, 1, 2),
                  box_ckpc: float = BOX_CKPC, with_maps: bool = False):
    """A complete painted catalog of halos at comoving `centres_ckpc`, their painted values drawn per halo
    and axis (Lx, Mgas, T, Y with sigma_dex), as `mpipaint paint` lays it out; `with_maps`: X-ray and y maps
    as `paint --maps` stores them, Gaussians of 3 pixels, the X-ray one 10 pixels off the map's centre along
    its first axis, the y one Y_MAP_OFFSET along its second."""
    a = 1.0 / (1.0 + redshift)
    n, rng, rng_y = len(centres_ckpc), np.random.default_rng(seed), np.random.default_rng([seed, 1])
    velocity = np.full((n, 3), np.nan) if velocity is None else velocity
    table = pd.DataFrame({"halo_id": np.arange(n) * 7 + 3, "snapshot": snapshot, "redshift": redshift,
                          "m200c": 10 ** rng.uniform(14, 15, n), "r200c": rng.uniform(800, 2000, n),
                          **{f"centre_{c}": centres_ckpc[:, k] * a for k, c in enumerate("xyz")},
                          **{f"velocity_{c}": velocity[:, k] for k, c in enumerate("xyz")}})
    row_columns = painted.columns({t: 1 for t in SIGMA}, (), SIGMA)
    attrs = {"mpipaint_version": __version__, "npix": 64, "width_kpc": 4000.0, "deposition_mode": "group",
             "axes": np.asarray(axes), "box_size_kpc": box_ckpc * a, "snapshot": snapshot, "scale_factor": a,
             "hubble": H, "omega_m": OMEGA_M, "omega_lambda": 1 - OMEGA_M}
    with h5py.File(path, "w") as f:
        painted.create(f, table, len(axes), 64, row_columns, ("xray", "y") if with_maps else (), attrs)
        grid = np.arange(64) - 31.5
        blob = np.exp(-0.5 * (((grid[:, None] - 10) / 3) ** 2 + (grid[None, :] / 3) ** 2))
        y_blob = np.exp(-0.5 * ((grid[:, None] / 3) ** 2 + ((grid[None, :] - Y_MAP_OFFSET) / 3) ** 2))
        rows = []
        for i in range(n):
            values = {name: np.zeros(len(axes)) for name in row_columns}
            values.update({"mdm_proj": np.full(len(axes), 1e14), "lx": 10 ** rng.uniform(42, 45, len(axes)),
                           "mgas": 10 ** rng.uniform(12.5, 14, len(axes)), "t_mean": rng.uniform(1, 10, len(axes)),
                           "y_int": 10 ** rng_y.uniform(0.5, 2.5, len(axes)),  # physical kpc^2
                           **{f"{SUMMARY[t][0]}_sigma_dex": np.full(len(axes), s) for t, s in SIGMA.items()}})
            maps = {"xray": np.broadcast_to(blob, (len(axes), 64, 64)),
                    "y": np.broadcast_to(y_blob, (len(axes), 64, 64))}
            rows.append((i, values, maps if with_maps else None))
        painted.write_rows(f, rows, f.flush)
        f.attrs["complete"] = True
    return path
