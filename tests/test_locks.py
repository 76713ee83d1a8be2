"""The one-writer lock of resumable outputs (io.outputs): a stale lock is taken over by exactly one of
several jobs racing for it, and a lock that cannot be written is not left behind."""
import json
import logging
import multiprocessing
import socket
import subprocess

import pytest

from mpipaint.errors import InputError
from mpipaint.io import outputs

CONTENDERS, ROUNDS = 4, 25


def _contend(path, start, results):
    """One job: wait for the others, try to take the lock, report, hold it until every job has tried."""
    lock = outputs.WriterLock(path)
    start.wait()
    try:
        lock.acquire(logging.getLogger("test-locks"))
        results.put(True)
    except InputError:
        results.put(False)
    start.wait()
    lock.release()


def _dead_pid() -> int:
    finished = subprocess.Popen(["true"])
    finished.wait()
    return finished.pid


def test_exactly_one_of_several_racing_jobs_takes_over_a_stale_lock(tmp_path):
    context = multiprocessing.get_context("fork")
    out = tmp_path / "catalog.hdf5"
    winners = []
    for _ in range(ROUNDS):
        lock_file = tmp_path / "catalog.hdf5.lock"
        lock_file.write_text(json.dumps({"host": socket.gethostname(), "pid": _dead_pid()}))
        start, results = context.Barrier(CONTENDERS), context.Queue()
        jobs = [context.Process(target=_contend, args=(out, start, results)) for _ in range(CONTENDERS)]
        for job in jobs:
            job.start()
        winners.append(sum(results.get(timeout=60) for _ in jobs))
        for job in jobs:
            job.join(timeout=60)
        assert not lock_file.exists()
    assert winners == [1] * ROUNDS


def test_a_zombie_holder_or_a_reused_pid_is_no_longer_running(tmp_path):
    """Right after a kill -9 the holder can linger as a zombie until its parent reaps it, and a pid can
    come back as another process: neither still holds the lock."""
    zombie = subprocess.Popen(["true"])
    subprocess.run(["sleep", "0.3"])
    assert not outputs._alive(zombie.pid, outputs._start_ticks(zombie.pid))  # exited, not yet reaped
    zombie.wait()
    running = subprocess.Popen(["sleep", "30"])
    try:
        ticks = outputs._start_ticks(running.pid)
        assert outputs._alive(running.pid, ticks) and not outputs._alive(running.pid, ticks + 1)
    finally:
        running.kill()
        running.wait()


def test_a_lock_that_cannot_be_written_is_not_left_behind(tmp_path, monkeypatch):
    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(outputs.json, "dump", full_disk)
    with pytest.raises(InputError, match=r"catalog\.hdf5\.lock: cannot write the lock .*No space left on device"):
        outputs.WriterLock(tmp_path / "catalog.hdf5").acquire(logging.getLogger("test-locks"))
    assert not (tmp_path / "catalog.hdf5.lock").exists()
