"""Stopping early on request: SLURM sends SIGTERM at preemption and at the time limit (and the signal of
`#SBATCH --signal`, here SIGUSR1, a set time before), then SIGKILL KillWait seconds later (30 by default).
A rank that receives one stops taking new work and finishes and writes its groups in flight (the work loop
asks `requested()` between groups); the verb then closes its output unfinished, releases the lock and, where
`requested_anywhere()`, ends on every rank with `errors.Preempted` (exit `errors.PREEMPTED_EXIT`), whose
message says how to resume.
"""
from __future__ import annotations

import signal

from mpi4py import MPI

from mpipaint.parallel import COMM

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)

_received = []  # the signals this process received (a handler may only set state)


def _note(signum, _frame) -> None:
    _received.append(signum)


def install() -> None:
    """Turn the stop signals into a request that `requested` reports (the work loop, train's epochs)."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, _note)


def requested() -> bool:
    """Whether this rank received a stop signal."""
    return bool(_received)


def requested_anywhere() -> bool:
    """Collective: whether any rank received a stop signal."""
    return COMM.allreduce(requested(), op=MPI.LOR)
