"""Where a GPU inference call's time goes, for the full U-net at 512^2, per map: the host chain stage by
stage (host normalisation, transfers, net, inverse, sums: infer.Predictor), the device chain whole
(jax_chain.DevicePredictor, as paint runs it with and without --maps), and the CIC projection of halos of
`--particles` on the host and on the device (`maps.projection.PROJECTORS`), then particles to summaries as
paint runs them with JAX: what limits painting when the net alone is fast.

    python benchmarks/profile_host.py [--batch 24] [--precision bf16] [--particles 12000] [--npix 512]
                                      [--base-filters 64]
"""
import argparse

import numba
import numpy as np

from mpipaint.maps.geometry import MapSpec
from mpipaint.maps.projection import PROJECTORS
from mpipaint.model.bundle import Bundle
from mpipaint.model.jax_chain import DevicePredictor
from mpipaint.model.jax_unet import JaxUnet
from random_bundle import NORM, random_meta, random_weights, unet_architecture
from timing import best_of


def main():
    import jax  # noqa: PLC0415
    import jax.numpy as jnp  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=24)
    parser.add_argument("--precision", default="bf16")
    parser.add_argument("--particles", type=int, default=12_000, help="DM particles per halo (the 4x box's mean)")
    parser.add_argument("--npix", type=int, default=512)
    parser.add_argument("--base-filters", type=int, default=64, help="64: the paper's U-net; smaller for a dry run")
    args = parser.parse_args()
    npix, n = args.npix, args.batch
    architecture = unet_architecture(npix, args.base_filters)
    net = JaxUnet(architecture, random_weights(architecture), args.precision)
    dm = 10 ** np.random.default_rng(0).uniform(0, 10, (n, npix, npix))
    x = NORM.forward(dm, np.float32)[..., None]
    on_device = jax.device_put(x)
    out = net.launch(on_device)
    z = np.asarray(out)
    images = np.empty((n, npix, npix))
    stages = {"forward + outside (numba)": lambda: NORM.forward_and_outside(dm, np.float32),
              "host -> device": lambda: jnp.asarray(x).block_until_ready(),
              "net alone": lambda: net.launch(on_device).block_until_ready(),
              "device -> host": lambda: np.asarray(out),
              "inverse + at_bound (numba)": lambda: NORM.inverse_and_at_bound(z[..., 0], 1.0, images),
              "map sums (numpy)": lambda: images.sum(axis=(1, 2)),
              "whole host chain": lambda: NORM.inverse_and_at_bound(
                  np.asarray(net.launch(NORM.forward(dm, np.float32)[..., None]))[..., 0], 1.0, images)}
    meta = random_meta(npix)
    for keep_maps, name in ((False, "device chain, summaries back (paint)"),
                            (True, "device chain, maps back (--maps)")):
        chain = DevicePredictor(Bundle(net, meta, args.precision, "jax"), n, keep_maps)
        stages[name] = lambda chain=chain: chain.collect(chain.launch(dm))
    spec, axes = MapSpec(npix, 4000.0, "group"), (0, 1, 2)
    row = {"centre_x": 5e4, "centre_y": 5e4, "centre_z": 5e4, "box_size": 1e5}
    rng = np.random.default_rng(1)
    halos = [(5e4 + rng.normal(0.0, 300.0, (args.particles, 3)), np.full(args.particles, 1e9), row)
             for _ in range(n // len(axes))]
    lean = DevicePredictor(Bundle(net, meta, args.precision, "jax"), n, keep_maps=False)
    host_cic, device_cic = (PROJECTORS[backend](spec, axes, n) for backend in ("tf", "jax"))
    stages[f"CIC on the host ({args.particles} particles a halo, numba)"] = lambda: host_cic.project(halos)
    stages["CIC on the device, waited for"] = lambda: device_cic.masses(device_cic.project(halos))
    stages["particles -> summaries on the device (paint with JAX)"] = lambda: lean.collect(
        lean.launch(device_cic.project(halos)))
    print(f"# {n} maps of {npix}^2, U-net base {args.base_filters}, {args.precision}; numba "
          f"{numba.get_num_threads()} threads ({numba.threading_layer() if hasattr(numba, 'threading_layer') else '?'}"
          f"); {jax.devices()[0].device_kind}")
    print("| stage | ms per map |")
    print("| --- | --- |")
    for name, function in stages.items():
        function()  # compiles
        print(f"| {name} | {best_of(3, function)[0] / n * 1e3:.3f} |", flush=True)


if __name__ == "__main__":
    main()
