"""U-net throughput on this machine: full-size inference (mpipaint Predictor vs model.predict) and
small-U-net Horovod training at 1 and N processes.

    python benchmarks/bench_unet.py inference [--sizes 1 4 8] [--npix 512] [--precisions fp32 bf16] [--backends tf jax]
        [--baseline COMMIT]
    python benchmarks/bench_unet.py training --ranks 1 2 [--npix 128 --base 16 --depth 3]

Inference uses the full-size U-net of Table A1 (31,054,145 parameters; weights untrained, which does not
change the cost), on each of `--backends` (jax needs no TensorFlow): mpipaint's chain as paint runs it
without --maps (normalisation, the net, the bounded inverse, each map's summary: on the host around a
TensorFlow net, on the device with JAX) beside the net alone; `--baseline COMMIT` adds the JAX net of that
commit (model/jax_unet.py loaded from git) beside this tree's. Training runs `train-worker` under
mpirun with Horovod's DistributedOptimizer on in-memory random maps (compute + gradient allreduce; data
loading is not timed here)."""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

from mpipaint.model.bundle import Bundle
from mpipaint.model.infer import EnsemblePredictor, Predictor
from mpipaint.model.jax_unet import JaxUnet
from mpipaint.model.keras_env import dtype_policy
from mpipaint.model.unet import build_unet
import machine
from baseline import module_at
from random_bundle import random_meta, random_weights, unet_architecture
from timing import best_of


def jax_device() -> str:
    import jax  # noqa: PLC0415

    return f"{jax.devices()[0].device_kind} (jax {jax.__version__})"


def inference(args):
    """Per backend and precision, side by side: mpipaint's chain and the net alone (for TensorFlow
    model.predict) on the same maps; the same weights everywhere, and the largest relative change of a map
    sum against the first backend and precision."""
    meta = random_meta(args.npix)
    maps = 10 ** np.random.default_rng(0).uniform(0, 10, (max(args.sizes), args.npix, args.npix))
    architecture = unet_architecture(args.npix)
    weights, reference, rates = random_weights(architecture), {}, {}
    print(f"# full-size U-net (31,054,145 parameters), {args.npix}^2; {machine.line()}"
          + (f"; JAX on {jax_device()}" if "jax" in args.backends else ""))
    print("| backend | precision | batch | mpipaint chain [images/s] | net alone [images/s] | vs first | "
          "max map-sum change vs first |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    nets = {backend: (backend, JaxUnet) for backend in args.backends}  # row label -> (backend, JAX net class)
    if args.baseline:
        nets[f"jax {args.baseline}"] = ("jax", module_at(args.baseline, "mpipaint/model/jax_unet.py",
                                                         tempfile.mkdtemp(prefix="bench_unet_")).JaxUnet)
    first = (next(iter(nets)), args.precisions[0])
    for label, (backend, jax_net) in nets.items():
        for precision in args.precisions:
            if backend == "jax":
                model = jax_net(architecture, weights, precision)
            else:
                with dtype_policy(precision):
                    model = build_unet(**architecture)
                model.set_weights(weights)
            for batch in args.sizes:
                bundle = Bundle(model, meta, precision, backend)
                chain = EnsemblePredictor([bundle], batch_size=batch, keep_maps=False)
                x = maps[:batch]
                sums = chain(x).totals[0]  # also the trace
                reference.setdefault(batch, sums)
                ours = best_of(args.repeat, lambda: chain(x))[0]
                inputs = Predictor(bundle, batch_size=batch).normalised_inputs(x)[0]
                seconds = best_of(args.repeat, net_alone(backend, model, inputs, batch))[0]
                theirs = f"{batch / seconds:.3f}"
                rates[label, precision, batch] = batch / ours
                change = np.max(np.abs(sums / reference[batch] - 1))
                print(f"| {label} | {precision} | {batch} | {batch / ours:.3f} | {theirs} | "
                      f"{rates[label, precision, batch] / rates[(*first, batch)]:.2f} | {change:.2e} |")


def net_alone(backend: str, model, inputs, batch: int):
    """A timed call of the net by itself: TensorFlow's model.predict (warmed up here); for JAX the jitted
    net on inputs already on the device, waited for (the Predictor adds normalisation and transfers)."""
    if backend == "tf":
        model.predict(inputs, batch_size=batch, verbose=0)
        return lambda: model.predict(inputs, batch_size=batch, verbose=0)
    import jax  # noqa: PLC0415

    on_device = jax.device_put(inputs)
    model.launch(on_device).block_until_ready()
    return lambda: model.launch(on_device).block_until_ready()


def training(args):
    print(f"# U-net base {args.base}, depth {args.depth}, {args.npix}^2, batch {args.batch} per rank, CPU")
    print("| Horovod processes | images/s (all ranks) | per process |")
    print("| --- | --- | --- |")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    for ranks in args.ranks:
        command = ["mpirun", "-n", str(ranks), "--oversubscribe", sys.executable, __file__, "train-worker",
                   "--npix", str(args.npix), "--base", str(args.base), "--depth", str(args.depth),
                   "--batch", str(args.batch), "--steps", str(args.steps)]
        output = subprocess.run(command, capture_output=True, text=True, env=env, check=True).stdout
        rate = float(re.search(r"IMAGES_PER_S ([0-9.]+)", output).group(1))
        print(f"| {ranks} | {rate:.2f} | {rate / ranks:.2f} |")


def train_worker(args):
    import horovod.tensorflow.keras as hvd  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    from mpipaint.model.keras_env import keras  # noqa: PLC0415

    hvd.init()
    tf.config.threading.set_intra_op_parallelism_threads(max(1, (os.cpu_count() or 1) // hvd.local_size()))
    model = build_unet(args.npix, args.base, args.depth, "minmax")
    model.compile(optimizer=hvd.DistributedOptimizer(keras().optimizers.Adam(1e-3 * hvd.size())), loss="mse")
    rng = np.random.default_rng(hvd.rank())
    x = rng.random((args.batch, args.npix, args.npix, 1), dtype=np.float32)
    y = rng.random((args.batch, args.npix, args.npix, 1), dtype=np.float32)
    data = tf.data.Dataset.from_tensors((x, y)).repeat()
    model.fit(data, steps_per_epoch=3, epochs=1, verbose=0,
              callbacks=[hvd.callbacks.BroadcastGlobalVariablesCallback(0)])  # warm-up and trace
    start = time.perf_counter()
    model.fit(data, steps_per_epoch=args.steps, epochs=1, verbose=0)
    elapsed = hvd.allreduce(tf.constant(time.perf_counter() - start), op=hvd.Average).numpy()
    if hvd.rank() == 0:
        print(f"IMAGES_PER_S {args.steps * args.batch * hvd.size() / elapsed:.4f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("inference", "training", "train-worker"))
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=("fp32", "bf16", "fp16"))
    parser.add_argument("--backends", nargs="+", default=["tf"], choices=("tf", "jax"))
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--npix", type=int, default=None)
    parser.add_argument("--base", type=int, default=16)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--baseline", default=None, help="inference: a commit whose JAX net to time beside")
    args = parser.parse_args()
    if args.mode == "inference":
        args.npix = args.npix or 512
        inference(args)
    else:
        args.npix = args.npix or 128
        if args.mode == "training":
            training(args)
        else:
            train_worker(args)


if __name__ == "__main__":
    main()
