"""MPI plumbing shared by every verb: the communicator, rank-aware logging, and abort-on-exception so an
error on one rank ends the whole job promptly instead of leaving the others waiting in a collective."""
from __future__ import annotations

import heapq
import logging
import os
import sys
import traceback

import numpy as np

# Open MPI busy-polls a core while a rank waits in MPI. Horovod's background thread waits in MPI collectives
# for the other ranks every few milliseconds all through a training step, so where ranks and TensorFlow
# threads fill the cores (a CPU-only node, the demo's 2 cores) the polling took half the compute: a demo
# net's step 78.8 ms, 39.4 ms with yielding (BENCHMARKS.md, "Open MPI yields when idle"). Set before MPI
# starts; a user's setting wins.
os.environ.setdefault("OMPI_MCA_mpi_yield_when_idle", "1")
from mpi4py import MPI  # noqa: E402 - after the setting above

from mpipaint.errors import PREEMPTED_EXIT, InputError, NoSpace, Preempted

COMM = MPI.COMM_WORLD


def get_logger(name: str = "mpipaint") -> logging.Logger:
    """A logger whose lines start with the rank, e.g. '[rank 1/4] ...'; INFO on rank 0, WARNING elsewhere."""
    logger = logging.getLogger(name)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(f"[rank {COMM.rank}/{COMM.size}] %(asctime)s %(message)s",
                                               datefmt="%H:%M:%S"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO if COMM.rank == 0 else logging.WARNING)
        logger.propagate = False
    return logger


def run_or_abort(function, *args, **kwargs):
    """Run `function`; on any exception print it with the rank and end the job with a non-zero code.

    With more than one rank this calls MPI_Abort, which ends every rank at once, even those blocked in a
    collective. Bad input exits with 2, anything else (a full disk included) with 1; a job stopped by a
    signal with its output resumable exits with PREEMPTED_EXIT on every rank.
    """
    try:
        return function(*args, **kwargs)
    except Preempted as exc:  # raised on every rank together: no abort needed
        if COMM.rank == 0:
            print(f"mpipaint: {exc}", file=sys.stderr, flush=True)
        sys.exit(PREEMPTED_EXIT)
    except Exception as exc:  # noqa: BLE001 - every failure must end all ranks
        code = 2 if isinstance(exc, InputError) else 1
        said = isinstance(exc, (InputError, NoSpace))  # the message is the whole story: no traceback
        kind = "error" if said else f"{type(exc).__name__}"
        print(f"mpipaint: {kind} on rank {COMM.rank}/{COMM.size}: {exc}", file=sys.stderr, flush=True)
        if not said:
            traceback.print_exc()
        if COMM.size > 1:
            COMM.Abort(code)
        if isinstance(exc, NoSpace):  # HDF5's exit handler would flush the open file again, into the full disk
            sys.stderr.flush()
            os._exit(code)
        sys.exit(code)


def my_share(items):
    """This rank's items of a list dealt round-robin: for independent, similar-sized work units."""
    return list(items)[COMM.rank::COMM.size]


def balance_by_cost(costs, num_ranks: int) -> list[list[int]]:
    """Longest-processing-time greedy: items (by index) to ranks, heaviest first, each to the least loaded
    rank (ties to the lower rank). Deterministic; each rank's list is in ascending item order."""
    loads = [(0.0, rank) for rank in range(num_ranks)]  # a heap: O(N log P) for 1e6 halos on 1e3 ranks
    owned = [[] for _ in range(num_ranks)]
    for item in sorted(range(len(costs)), key=lambda k: (-costs[k], k)):
        load, rank = heapq.heappop(loads)
        owned[rank].append(item)
        heapq.heappush(loads, (load + costs[item], rank))
    return [sorted(items) for items in owned]


def owners_by_cost(num_items: int, todo, costs, num_ranks: int) -> np.ndarray:
    """Owning rank of each of `num_items` items: the `todo` items dealt by cost (LPT), -1 for the rest."""
    todo = np.asarray(todo, dtype=np.int64)
    owners = np.full(num_items, -1, dtype=np.int64)
    for rank, items in enumerate(balance_by_cost(list(costs), num_ranks)):
        owners[todo[items]] = rank
    return owners


def node_local() -> tuple[int, int]:
    """(this rank's index, number of ranks) on its node, by one MPI shared-memory split (collective)."""
    node = COMM.Split_type(MPI.COMM_TYPE_SHARED)
    try:
        return node.rank, node.size
    finally:
        node.Free()
