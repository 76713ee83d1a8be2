"""One job per output: the collective side of the output lock (`io.outputs.WriterLock`), which rank 0 holds
for the whole job while every rank learns whether it got it."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from mpipaint.errors import InputError
from mpipaint.io.outputs import WriterLock, make_parent
from mpipaint.parallel import COMM


@contextmanager
def exclusive_writer(path, log):
    """Collective: this job is the only writer of `path` until the block ends (InputError on every rank,
    naming the other job, when one holds it)."""
    lock = WriterLock(Path(path)) if COMM.rank == 0 else None
    error = None
    if lock is not None:
        try:
            make_parent(path)  # the lock goes beside the output: --out under a file is said here
            lock.acquire(log)
        except InputError as exc:
            error = str(exc)
    error = COMM.bcast(error, root=0)
    if error:
        raise InputError(error)
    try:
        yield
    finally:
        if lock is not None:
            lock.release()
