"""The one fault-injection seam, for the tests of restarts and failures: production code marks the points
where a job may die, and MPIPAINT_FAULT=ACTION:POINT:VALUE makes it die there.

    kill:groups-written:3       rank 0 ends itself with SIGKILL (like a node failure) once it has written
                                3 groups (engine.work_through)
    raise:halo-start:1          rank 1 raises as it starts its first group of halos (paint)
    kill:epochs-checkpointed:2  rank 0 ends itself once epoch 2's checkpoint is written (train)
    term:groups-written:2       rank 0 sends itself SIGTERM (a stop signal: `parallel.stopping`)
    usr1-job:groups-written:2   rank 0 sends SIGUSR1 to its parent, mpirun, which forwards it to every rank
                                (what SLURM's `--signal=USR1@T` does before the time limit)

Unset (every real run), `reached` returns at once.
"""
from __future__ import annotations

import os
import signal

FAULT_ENV = "MPIPAINT_FAULT"
SIGNALS = {"term": (os.getpid, signal.SIGTERM), "usr1-job": (os.getppid, signal.SIGUSR1)}  # action -> whom, what


def reached(point: str, value: int) -> None:
    """Where a job may die: act if MPIPAINT_FAULT names this point and value (see the module docstring)."""
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    action, where, at = spec.split(":")
    if where != point or at != str(value):
        return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if action in SIGNALS:
        target, signum = SIGNALS[action]
        os.kill(target(), signum)
        return
    raise RuntimeError(f"injected fault at {point} {value} ({FAULT_ENV}={spec})")


def spec(action: str, point: str, value: int) -> str:
    """The MPIPAINT_FAULT value for a test."""
    return f"{action}:{point}:{value}"
