"""The work loop that `paint` and `prepare` share: every rank works through its own halos in groups at its
own pace, with no per-halo collective, and hands each finished group to a writer.

Loop (`work_through`): group k's CPU work (read, project, and for paint the launch of the nets) runs while
group k-1 is still on the device; only then are k-1's results collected and written. With JAX a
launch returns before the device finishes (asynchronous dispatch), so reading and projecting overlap
inference; on a CPU the two share the cores anyway.

Writers (`open_writer`): a group's data is written before its done flags, so a job killed at any moment
leaves rows that are either complete and flagged or unflagged and painted again on resume.
- `DirectWriter`: each rank writes its own rows straight into the file. Under h5py's mpio driver these are
  independent MPI-IO writes into datasets laid out whole in advance (no collective per group: the flush
  that would order data and flags is collective, so the order rests on each rank's writes reaching the
  operating system in program order, which survives a killed process); with one rank and serial h5py, a
  flush between data and flags.
- `FunnelWriter`: serial h5py with several ranks (or MPIPAINT_NO_MPIO=1, or `prepare`, whose training set is
  always written by rank 0): ranks send finished groups to rank 0 without waiting for it (at most
  MAX_IN_FLIGHT unreceived sends each); rank 0 writes its own groups and whatever has arrived after each
  of its groups, and the rest at the end.
"""
from __future__ import annotations

import itertools
import time

import numpy as np
from mpi4py import MPI

from mpipaint import faults
from mpipaint.io.hdf5 import require_space, space_checked
from mpipaint.parallel import COMM, stopping
from mpipaint.parallel.progress import Progress

MAX_IN_FLIGHT = 2  # a rank's groups sent to rank 0 and not yet received: bounds its memory
ROWS_TAG = 17  # MPI tag of groups sent to rank 0


class PhaseTimes:
    """Seconds spent per phase on this rank: `with times("read"): ...`."""

    def __init__(self, phases=("read", "project", "infer", "write")):
        self.seconds = {phase: 0.0 for phase in phases}
        self._phase, self._start = None, 0.0

    def __call__(self, phase):
        self._phase = phase
        return self

    def __enter__(self):
        self._start = time.perf_counter()

    def __exit__(self, *exc):
        self.seconds[self._phase] += time.perf_counter() - self._start


class DirectWriter:
    """Each rank writes its own groups into the open file `out` (see the module docstring)."""

    def __init__(self, out, write_group, parallel: bool, progress: Progress):
        """`write_group(out, items, flush)`: write the items' data, `flush`, set their done flags, `flush`."""
        self.out, self.write_group, self.progress = out, write_group, progress
        self.flush = (lambda: None) if parallel else out.flush
        self.written = progress.done_before

    def write(self, items) -> None:
        _write_group(self.write_group, self.out, items, self.flush)
        self.written += len(items)
        self.progress.update(self.written)

    def close(self) -> None:
        """Nothing left in flight."""


class FunnelWriter:
    """Ranks send their groups to rank 0, which alone writes the open file `out` (None elsewhere)."""

    def __init__(self, out, write_group, progress: Progress):
        self.out, self.write_group, self.progress = out, write_group, progress
        self.written, self.in_flight, self.ended = progress.done_before, [], 0

    def write(self, items) -> None:
        if COMM.rank != 0:
            self.in_flight.append(COMM.isend(items, dest=0, tag=ROWS_TAG))
            if len(self.in_flight) > MAX_IN_FLIGHT:
                self.in_flight.pop(0).wait()
            return
        self._store(items)
        while COMM.iprobe(source=MPI.ANY_SOURCE, tag=ROWS_TAG):
            self._receive()

    def close(self) -> None:
        """Send (other ranks) or receive and write (rank 0) everything still in flight: every rank ends with
        an empty message (None), which rank 0 counts."""
        if COMM.rank != 0:
            for request in self.in_flight:
                request.wait()
            COMM.send(None, dest=0, tag=ROWS_TAG)
            return
        while self.ended < COMM.size - 1:
            self._receive()

    def _receive(self) -> None:
        items = COMM.recv(source=MPI.ANY_SOURCE, tag=ROWS_TAG)
        if items is None:
            self.ended += 1
        else:
            self._store(items)

    def _store(self, items) -> None:
        _write_group(self.write_group, self.out, items, self.out.flush)
        self.written += len(items)
        self.progress.update(self.written)


def _write_group(write_group, out, items, flush) -> None:
    """One group into `out`; a full disk or quota ends the job with a message naming the file (NoSpace),
    before the write where the free space is short of the group's bytes."""
    doing = f"writing a group of {len(items)} to it"
    require_space(out.filename, _payload_bytes(items), doing)
    with space_checked(out.filename, doing):
        write_group(out, items, flush)


def _payload_bytes(items) -> int:
    """The bytes of the arrays in a group's items (nested tuples, lists and dicts), uncompressed."""
    if isinstance(items, np.ndarray):
        return items.nbytes
    if isinstance(items, dict):
        return sum(_payload_bytes(item) for item in items.values())
    if isinstance(items, (list, tuple)):
        return sum(_payload_bytes(item) for item in items)
    return 8


def open_writer(out, write_group, parallel: bool, progress: Progress):
    """The writer for this job: a DirectWriter when `out` is open on every rank under mpio (`parallel`) or
    there is one rank, else a FunnelWriter (`out` open on rank 0 only)."""
    if not parallel and COMM.size > 1:
        return FunnelWriter(out, write_group, progress)
    return DirectWriter(out, write_group, parallel, progress)


def _until_stop_requested(groups):
    for group in groups:
        if stopping.requested():
            return
        yield group


def work_through(groups, start, finish, writer, times: PhaseTimes) -> None:
    """For each group: `start(group)` (CPU work; may launch asynchronous inference) -> a handle, then
    `finish(previous handle)` -> the items the writer takes. One group stays in flight, so group k's CPU
    work runs while group k-1 is on the device. No group starts once this rank received a stop signal
    (`stopping`); the one in flight is written. Closes the writer at the end; writing is timed as 'write'."""
    pending, written = None, 0
    started = map(start, _until_stop_requested(groups))
    for handle in itertools.chain(started, [None]):  # lazily: start(k), then finish(k - 1)
        if pending is not None:
            items = finish(pending)
            with times("write"):
                writer.write(items)
            written += 1
            if COMM.rank == 0:
                faults.reached("groups-written", written)
        pending = handle
    with times("write"):
        writer.close()
