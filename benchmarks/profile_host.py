"""Where a GPU Predictor call's time goes, stage by stage (host normalisation, transfers, net, inverse),
for the full U-net at 512^2: what limits painting when the net alone is fast.

    python benchmarks/profile_host.py [--batch 24] [--precision bf16]
"""
import argparse
import time

import numba
import numpy as np

from mpipaint.model.jax_unet import JaxUnet
from mpipaint.model.norm import Normalisation
from random_bundle import random_weights


def timed(function, repeat=3):
    function()
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def main():
    import jax  # noqa: PLC0415
    import jax.numpy as jnp  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=24)
    parser.add_argument("--precision", default="bf16")
    args = parser.parse_args()
    npix, n = 512, args.batch
    norm = Normalisation("minmax", "log", 0.0, 10.0, 1.0)
    architecture = {"image_size": npix, "base_filters": 64, "depth": 4, "head": "minmax", "mask": False}
    net = JaxUnet(architecture, random_weights(architecture), args.precision)
    dm = 10 ** np.random.default_rng(0).uniform(0, 10, (n, npix, npix))
    x = norm.forward(dm, np.float32)[..., None]
    on_device = jax.device_put(x)
    out = net.launch(on_device)
    z = np.asarray(out)
    images = np.empty((n, npix, npix))
    stages = {"forward + outside (numba)": lambda: norm.forward_and_outside(dm, np.float32),
              "host -> device": lambda: jnp.asarray(x).block_until_ready(),
              "net alone": lambda: net.launch(on_device).block_until_ready(),
              "device -> host": lambda: np.asarray(out),
              "inverse + at_bound (numba)": lambda: norm.inverse_and_at_bound(z[..., 0], 1.0, images),
              "map sums (numpy)": lambda: images.sum(axis=(1, 2)),
              "whole call": lambda: norm.inverse_and_at_bound(
                  np.asarray(net.launch(norm.forward(dm, np.float32)[..., None]))[..., 0], 1.0, images)}
    print(f"# {n} maps of 512^2, {args.precision}; numba {numba.get_num_threads()} threads "
          f"({numba.threading_layer() if hasattr(numba, 'threading_layer') else '?'}); {jax.devices()[0].device_kind}")
    print("| stage | ms per map |")
    print("| --- | --- |")
    for name, function in stages.items():
        print(f"| {name} | {timed(function) / n * 1e3:.3f} |", flush=True)


if __name__ == "__main__":
    main()
