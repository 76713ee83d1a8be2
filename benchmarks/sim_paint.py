"""Scaling model of `mpipaint paint`: how close the loop comes to the balanced ideal on 64 to 4096 ranks.

    python benchmarks/sim_paint.py [--batch-halos 1 8] [--seed 1]

Replays the real dealing (parallel.owners_by_cost: longest-processing-time greedy, each rank's halos in
catalogue order; by particle count as paint dealt before, and by modelled cost as paint deals now: on a
GPU the larger of a halo's CPU work and its inference, which the loop overlaps, on a CPU their sum) and
three loops over per-halo costs:
  lock-step   paint before parallel/engine.py: in round r every rank painted its r-th group of --batch-halos halos,
              then all ranks flushed together, so each round lasted as long as its slowest rank's group;
  free        each rank paints its own halos without waiting for the others (makespan: the busiest rank);
  free+overlap  as free, with the next halo read and projected while the current one is inferred: paint
              now on a GPU (engine.work_through); on a CPU the nets share the cores, so `free` is paint.
Efficiency = ideal / makespan, ideal = the sum of all halos' costs / ranks (for the overlapped loop the
sum of max(CPU, inference) per halo).

Halos: M200c above 1e14 Msun from dN/dlnM ~ M^-1.7 (cluster mass function), capped at 3e15 Msun; FoF
members N = 1.2 M200c / m_DM at TNG300-Dark resolution (m_DM = 1.0e8 Msun); catalogue order by mass.
Per-halo costs, three 512^2 maps and three targets (9 images per halo):
  host     paint.CPU_S_PER_PARTICLE per member particle: reading, projecting and writing, the offsets read's fit
           over boxes of 1e6-1e8 particles and 1e2-1e4 halos on 1 rank (bench_scale.py paint; BENCHMARKS.md
           "Scale, part 2")
  maps     3 x 1.5e-3 s per 512^2 map      paint of the 4x example box here: 0.33 s for 183 maps
  infer    per image, by device: cpu-fp32 0.87 s, cpu-bf16 0.53 s (full U-net, this 2-core AMD EPYC:
           BENCHMARKS.md); on one H100 (gpu_check.sh, bf16): gpu-net 1/784 s (the net alone) and
           gpu-predictor 1/232 s (with the host normalisation and transfers, batch 24)
"""
import argparse

import numpy as np

from mpipaint.paint import CPU_S_PER_PARTICLE
from mpipaint.parallel import owners_by_cost

M_DM_MSUN, FOF_OVER_M200C = 1.0e8, 1.2
PROJECT_S_PER_MAP = 1.5e-3
IMAGES_PER_HALO = 9  # three projections x three targets
INFER_S_PER_IMAGE = {"cpu-fp32": 0.87, "cpu-bf16": 0.87 / 1.64, "gpu-net": 1.0 / 784, "gpu-predictor": 1.0 / 232}
CASES = ((1_000, 64), (10_000, 256), (1_000_000, 4096))


def halo_particles(n: int, rng) -> np.ndarray:
    """FoF member counts of `n` halos above 1e14 Msun, heaviest first (catalogue order)."""
    low, high, slope = 1e14, 3e15, 1.7
    u = rng.uniform(size=n) * (1.0 - (high / low) ** -slope)
    m200c = low * (1.0 - u) ** (-1.0 / slope)
    return np.sort(FOF_OVER_M200C * m200c / M_DM_MSUN)[::-1]


def makespans(cpu, infer, owners, ranks: int, batch: int) -> dict:
    """Makespan [s] of each loop for per-halo costs `cpu` (read + project) and `infer`."""
    lock_rounds, free, overlap = {}, np.zeros(ranks), np.zeros(ranks)
    for rank in range(ranks):
        mine = np.flatnonzero(owners == rank)
        work = cpu[mine] + infer[mine]
        for r, start in enumerate(range(0, len(mine), batch)):
            lock_rounds[r] = max(lock_rounds.get(r, 0.0), work[start:start + batch].sum())
        free[rank] = work.sum()
        if len(mine):  # a two-stage pipeline: CPU of halo k+1 beside inference of halo k
            stage = np.maximum(cpu[mine][1:], infer[mine][:-1]).sum()
            overlap[rank] = cpu[mine][0] + stage + infer[mine][-1]
    return {"lock-step": sum(lock_rounds.values()), "free": free.max(), "free+overlap": overlap.max()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-halos", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print("| halos | ranks | device | dealt by | halos per call | lock-step | free | free+overlap |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for halos, ranks in CASES:
        particles = halo_particles(halos, rng)
        by_particles = owners_by_cost(halos, np.arange(halos), particles, ranks)
        cpu = CPU_S_PER_PARTICLE * particles + 3 * PROJECT_S_PER_MAP
        for device, per_image in INFER_S_PER_IMAGE.items():
            infer = np.full(halos, IMAGES_PER_HALO * per_image)
            ideal = {"lock-step": (cpu + infer).sum() / ranks, "free": (cpu + infer).sum() / ranks,
                     "free+overlap": np.maximum(cpu, infer).sum() / ranks}
            overlapped = device.startswith("gpu")  # as paint deals: on a CPU the nets share the cores
            by_cost = owners_by_cost(halos, np.arange(halos), np.maximum(cpu, infer) if overlapped else cpu + infer,
                                     ranks)
            for dealing, owners in (("particles", by_particles), ("cost", by_cost)):
                for batch in args.batch_halos:
                    spans = makespans(cpu, infer, owners, ranks, batch)
                    cells = " | ".join(f"{ideal[k] / spans[k]:.3f}" for k in ("lock-step", "free", "free+overlap"))
                    print(f"| {halos:,} | {ranks} | {device} | {dealing} | {batch} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
