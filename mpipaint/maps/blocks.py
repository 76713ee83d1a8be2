"""Reproducible threaded deposition: particles are dealt to a fixed number of blocks (set by the particle
count alone), each block is deposited into a private grid, and the grids are added to the total in block
order. Every pixel then sums the same blocks in the same order whatever the number of threads or MPI
ranks, so maps are bit-identical. Blocks run a wave of `nthreads` at a time, so only nthreads + 1 grids
are ever held, not one per block.
"""
from __future__ import annotations

import numba
import numpy as np

PARTICLES_PER_BLOCK = 65_536
MAX_BLOCKS = 16


def block_count(num_particles: int, per_block: int = PARTICLES_PER_BLOCK) -> int:
    """Blocks for `num_particles`: depends on the counts only, never on threads or ranks."""
    return int(min(MAX_BLOCKS, max(1, -(-num_particles // per_block))))


@numba.njit(cache=True)
def block_range(block, num_particles, nblocks):
    """[start, stop) of `block` among `nblocks` equal blocks of `num_particles` (called inside the kernels)."""
    per_block = (num_particles + nblocks - 1) // nblocks
    return min(num_particles, block * per_block), min(num_particles, (block + 1) * per_block)


@numba.njit(parallel=True, cache=True)
def _add_in_order(total, wave):
    """total += wave[0] + wave[1] + ..., one pixel at a time, always in block order."""
    for k in numba.prange(total.shape[0]):
        for t in range(wave.shape[0]):
            total[k] += wave[t, k]


def deposit_in_blocks(deposit_wave, nblocks: int, grid_size: int) -> np.ndarray:
    """Flat total of `nblocks` blocks. `deposit_wave(first, grids)` must deposit blocks first, first + 1, ...
    into the zeroed rows of `grids` (rows x grid_size), in parallel."""
    if nblocks == 1:  # the same sum, without a private grid to add
        total = np.zeros((1, grid_size))
        deposit_wave(0, total)
        return total[0]
    total = np.zeros(grid_size)
    wave = np.empty((min(numba.get_num_threads(), nblocks), grid_size))
    for first in range(0, nblocks, len(wave)):
        grids = wave[:min(len(wave), nblocks - first)]
        grids.fill(0.0)
        deposit_wave(first, grids)
        _add_in_order(total, grids)
    return total
