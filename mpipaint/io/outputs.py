"""Output files that a killed job resumes (`prepare`'s training set, `paint`'s catalog): one writer at a
time, a file at the path only once it can be resumed, and plain words about whatever else is there.

- `WriterLock(path)` (held by a job through `parallel.exclusive.exclusive_writer`): PATH.lock created
  exclusively, holding host, pid, SLURM job id, command and start time, and a heartbeat thread touches it
  every HEARTBEAT_S. A second job is refused with the
  first one's identity. A lock is stale, and taken over, when its process is gone (same host) or its
  heartbeat stopped STALE_AFTER_S ago (another host: a job killed with its node). Released on leaving.
- `existing_output(path, kind)`: what the path holds: nothing, an mpipaint file (resumable if its settings
  match), or something mpipaint did not write, which it never overwrites and never suggests removing.
- `create_complete(path, lay_out)`: a new file is laid out in a private directory beside the path, closed,
  and renamed into place, so the path never holds a file too young to resume, and no planted link can send
  the bytes elsewhere; a link at the path itself is refused (`refuse_link`).
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np

from mpipaint.errors import InputError
from mpipaint.io.hdf5 import space_checked

LOCK_SUFFIX = ".lock"
HEARTBEAT_S = 15.0
STALE_AFTER_S = 120.0  # 8 missed heartbeats
MARKER_ATTR = "mpipaint_version"  # every file mpipaint writes has it


class WriterLock:
    """PATH.lock for this process (rank 0 of the job, through `parallel.exclusive.exclusive_writer`), with
    its heartbeat."""

    def __init__(self, output: Path):
        self.output, self.path = output, Path(f"{output}{LOCK_SUFFIX}")
        self.stop = threading.Event()
        self.thread = None

    def acquire(self, log) -> None:
        record = {"host": socket.gethostname(), "pid": os.getpid(), "job": os.environ.get("SLURM_JOB_ID", ""),
                  "command": " ".join(sys.argv), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        fd = self._create()
        if fd is None:
            with _directory_locked(self.path.parent):  # one process at a time judges and removes a stale lock
                holder, age = _read_lock(self.path)
                if not _stale(holder, age):
                    raise InputError(f"{self.output}: being written by another job ({_describe(holder)}; "
                                     f"lock {self.path} refreshed {age:.0f} s ago); wait for it, or choose "
                                     "another --out")
                log.warning("%s: taking over the lock of a job that is no longer running (%s)", self.path,
                            _describe(holder))
                self.path.unlink(missing_ok=True)
                fd = self._create()
            if fd is None:  # a process that found no lock at all created one meanwhile
                raise InputError(f"{self.output}: another job took the lock {self.path} at the same moment; "
                                 "wait for it, or choose another --out")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump({**record, "start_ticks": _start_ticks(os.getpid())}, f)
        except OSError as exc:  # an empty lock left behind would refuse every later job for STALE_AFTER_S
            self.path.unlink(missing_ok=True)
            raise InputError(f"{self.path}: cannot write the lock of {self.output} ({exc.strerror})") from None
        self.thread = threading.Thread(target=self._beat, daemon=True)
        self.thread.start()

    def _create(self):
        """A descriptor of the lock file created exclusively (never through a link), or None if it exists."""
        try:
            return os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        except FileExistsError:
            return None

    def _beat(self) -> None:
        while not self.stop.wait(HEARTBEAT_S):
            try:
                os.utime(self.path)
            except OSError:
                return

    def release(self) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join()
            self.path.unlink(missing_ok=True)


def _read_lock(path: Path) -> tuple[dict, float]:
    """(holder record, seconds since its last heartbeat); an unreadable record counts as {} (a job that
    died while writing it)."""
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return {}, float("inf")
    try:
        holder = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        holder = {}
    return (holder if isinstance(holder, dict) else {}), age


@contextmanager
def _directory_locked(directory: Path):
    """An advisory lock on `directory` (flock) while the block runs; where the file system has no flock
    (some network mounts), the block runs unlocked."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            pass
        yield
    finally:
        os.close(fd)  # releases the flock


def _start_ticks(pid: int):
    """When process `pid` started (clock ticks since boot, /proc/PID/stat field 22), None where /proc has no
    such process; with the pid it names one process, as pids are reused."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _alive(pid: int, start_ticks) -> bool:
    """Whether the process that wrote a lock still runs on this host: not gone, not a zombie waiting to be
    reaped (what a rank killed a moment ago is), not another process under a reused pid."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return state not in ("Z", "X") and (start_ticks is None or _start_ticks(pid) == start_ticks)


def _stale(holder: dict, age_s: float) -> bool:
    if holder.get("host") == socket.gethostname() and isinstance(holder.get("pid"), int):
        return not _alive(holder["pid"], holder.get("start_ticks"))
    return age_s > STALE_AFTER_S


def _describe(holder: dict) -> str:
    if not holder:
        return "unknown job"
    job = f", SLURM job {holder['job']}" if holder.get("job") else ""
    return f"pid {holder.get('pid')} on {holder.get('host')}{job}, started {holder.get('started')}"


def existing_output(path, kind: str, contains: str = "done") -> bool:
    """Whether `path` holds an mpipaint file (with the object `contains`) to resume or replace (False:
    nothing there). Anything else is an InputError that says what the path holds; `kind` names the output
    in messages ('painted catalog')."""
    path = Path(path)
    refuse_link(path)
    if not path.exists():
        return False
    if not path.is_file():
        raise InputError(f"{path}: --out must name a file for the {kind}, and this is not a regular file")
    if not h5py.is_hdf5(path):
        raise InputError(f"{path}: exists and is not an HDF5 file, so not a {kind} mpipaint wrote; it is left "
                         "alone: choose another --out")
    try:
        with h5py.File(path, "r") as f:
            ours = MARKER_ATTR in f.attrs and contains in f
    except OSError as exc:
        if "lock" in str(exc).lower():
            raise InputError(f"{path}: open for writing by another process; wait for it or choose another "
                             "--out") from None
        raise InputError(f"{path}: an HDF5 file that cannot be read ({exc}); mpipaint does not overwrite a "
                         "file it cannot identify: choose another --out") from None
    if not ours:
        raise InputError(f"{path}: an HDF5 file that is not a {kind} mpipaint wrote (no '{MARKER_ATTR}' "
                         f"attribute or '{contains}'); it is left alone: choose another --out")
    return True


def differing_settings(path, attrs: dict) -> list[str]:
    """The root attributes (settings) in which an existing mpipaint output differs from `attrs`."""
    with h5py.File(path, "r") as f:
        return [key for key, value in attrs.items()
                if key not in f.attrs or not np.array_equal(np.asarray(f.attrs[key]), np.asarray(value))]


def refuse_other_settings(path, kind: str, differing: list[str]) -> None:
    if differing:
        raise InputError(f"{path}: an mpipaint {kind} made with other settings or inputs ({', '.join(differing)} "
                         "differ), which a resume would mix with these; choose another --out, or remove that "
                         "earlier output if it is no longer wanted")


def make_parent(path) -> None:
    """Create the directory an output goes into, or say why it cannot be (a file in the way, no permission)."""
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{path}: cannot create its directory {Path(path).parent} ({exc.strerror})") from None


def create_complete(path, lay_out) -> None:
    """Rank 0 alone: `lay_out(h5py.File)` fills a new file, which is then renamed to `path` (atomic on POSIX
    file systems). The file is made in a private directory (mode 0700, created exclusively) beside `path`,
    so no name it is written under can be a link planted to send the bytes elsewhere."""
    path = Path(path)
    make_parent(path)
    refuse_link(path)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".creating", dir=path.parent))
    try:
        partial = staging / path.name
        with space_checked(path, "laying it out"):
            with h5py.File(partial, "w") as f:
                lay_out(f)
                f.flush()
            _sync(partial)  # a file system that allocates at write-back reports a full disk only here
        os.replace(partial, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _sync(path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def refuse_link(path) -> None:
    """--out must not be a symbolic link: writing through it would put the output somewhere else."""
    if Path(path).is_symlink():
        raise InputError(f"{path}: is a symbolic link (to {os.readlink(path)}); mpipaint writes its output only "
                         "as a regular file at --out: name the file itself, or another --out")
