"""Whole-paint throughput and memory: halos/s, particles/s, time per phase, peak memory per rank, for two
box sizes at the same mass resolution and 1 and 2 ranks.

    python benchmarks/bench_paint.py WORKDIR [--ranks 1 2] [--npix 512] [--base-filters 16] [--boxes 4x]
                                     [--backend tf|jax] [--precision fp32|bf16|fp16|auto] [--batch-halos K]

Generates two DMO boxes with `mpipaint synth` (the default one, and one with 4x the halos and particles in a
box 1.6x wider), and a U-net bundle with untrained weights (the cost of inference does not depend on the
weights; written with numpy, so a node without TensorFlow can run it with `--backend jax`): the full Table
A1 depth with `--base-filters` (64 = the paper's size; 16 keeps this run to minutes on 2 cores). Each run is
`mpirun -n R mpipaint paint BOX --model BUNDLE --out OUT`; the figures come from its summary line. "vs
inference alone" is halos/s against the inference-only bound: ranks / (the seconds per halo of one
inference call that rank 0 times once the nets are compiled, alone on its share of the device; with JAX on
maps already on the device, as paint keeps them)."""
import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import machine
from mpipaint.model.keras_env import DEFAULT_PRECISION, PRECISIONS
from random_bundle import write_random_bundle

BOXES = {"default (100 Mpc/h, 32 halos/snap)": ["--halos", "32", "--dm-particles", "250000"],
         "4x (160 Mpc/h, 128 halos/snap)": ["--halos", "128", "--dm-particles", "1000000", "--box-size", "160000"]}
SUMMARY = re.compile(r"summary: (\d+) halos, (\d+) DM particles projected in ([0-9.]+) s: ([0-9.]+) halos/s, "
                     r"([0-9.e+]+) particles/s; max over ranks: (.*); peak memory per rank \[MB\]: (.*)")
INFERENCE = re.compile(r"inference ([0-9.e+-]+) s per halo")


def run(command, env):
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode:
        sys.exit(f"{command} failed:\n{result.stderr[-3000:]}")
    return result.stderr


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--npix", type=int, default=512)
    parser.add_argument("--base-filters", type=int, default=16)
    parser.add_argument("--read-strategy", nargs="+", default=["offsets"], choices=("offsets", "slabs"),
                        help="read strategies to compare side by side (slabs: --chunk-particles 1e6)")
    parser.add_argument("--boxes", nargs="+", choices=("default", "4x"), help="which boxes (default both)")
    parser.add_argument("--backend", default="tf", choices=("tf", "jax"))
    parser.add_argument("--precision", default=DEFAULT_PRECISION, choices=PRECISIONS)
    parser.add_argument("--batch-halos", type=int, default=1, help="halos per inference call")
    args = parser.parse_args()
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    mpipaint = [sys.executable, "-m", "mpipaint"]
    bundle = write_random_bundle(args.workdir / "bundle", args.npix, args.base_filters)
    print(f"# U-net base {args.base_filters}, depth 4, {args.npix}^2 maps, backend {args.backend}, precision "
          f"{args.precision}, {args.batch_halos} halos per inference call; {machine.line()}")
    print("| box | read | ranks | halos | particles | halos/s | particles/s | slowest rank: read, project, infer, "
          "write | peak memory per rank [MB] | vs inference alone |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for k, (label, synth_flags) in enumerate(BOXES.items()):
        if args.boxes and label.split()[0] not in args.boxes:
            continue
        universe = args.workdir / f"box{k}"
        if not universe.exists():
            run(mpipaint + ["synth", *synth_flags, "--snap", "99", "--out", str(universe)], env)
        for strategy in args.read_strategy:
            for ranks in args.ranks:
                out = args.workdir / f"painted{k}_{strategy}_{ranks}.hdf5"
                out.unlink(missing_ok=True)
                launcher = ["mpirun", "-n", str(ranks), "--oversubscribe"] if ranks > 1 else []  # 1: no mpirun needed
                log = run(launcher + mpipaint +
                          ["paint", str(universe / "DMO" / "output" / "snapdir_099"), "--model", str(bundle),
                           "--out", str(out), "--read-strategy", strategy, "--chunk-particles", "1000000",
                           "--backend", args.backend, "--precision", args.precision,
                           "--batch-halos", str(args.batch_halos)], env)
                halos, particles, _, hps, pps, phases, memory = SUMMARY.search(log).groups()
                phases = ", ".join(p.split()[1] for p in phases.split(", "))
                bound = ranks / float(INFERENCE.search(log).group(1))
                print(f"| {label} | {strategy} | {ranks} | {halos} | {int(particles):,} | {float(hps):.2f} | "
                      f"{float(pps):.3g} | {phases} s | {memory} | {float(hps) / bound:.2f} |")


if __name__ == "__main__":
    main()
