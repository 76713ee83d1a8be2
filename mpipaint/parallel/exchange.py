"""Records exchanged among all ranks: each row of a float64 array to the rank that needs it (MPI Alltoallv),
for any caller (the slab read strategy, `halos.slabs`)."""
from __future__ import annotations

import numpy as np
from mpi4py import MPI

from mpipaint.parallel import COMM


def alltoallv(records: np.ndarray, destination: np.ndarray) -> np.ndarray:
    """Send each record (row of float64) to its destination rank; returns the rows sent to this rank."""
    width = records.shape[1]
    order = np.argsort(destination, kind="stable")
    send = np.ascontiguousarray(records[order])
    send_counts = np.bincount(destination, minlength=COMM.size).astype(np.int64) * width
    recv_counts = np.empty(COMM.size, np.int64)
    COMM.Alltoall(send_counts, recv_counts)
    recv = np.empty(int(recv_counts.sum()), np.float64)
    displs = lambda c: np.concatenate([[0], np.cumsum(c)[:-1]])  # noqa: E731
    COMM.Alltoallv([send, (send_counts, displs(send_counts)), MPI.DOUBLE],
                   [recv, (recv_counts, displs(recv_counts)), MPI.DOUBLE])
    return recv.reshape(-1, width)
