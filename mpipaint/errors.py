"""The exception types that end a job with a clear message and a chosen exit code, not a traceback."""
import signal

PREEMPTED_EXIT = 128 + signal.SIGTERM  # what a shell reports for a job ended by SIGTERM: job scripts requeue on it


class InputError(ValueError):
    """Bad or inconsistent input data; the message names the file, dataset or halo and what was expected."""


class Preempted(Exception):
    """The job stopped early on a signal (SLURM's preemption or time limit) with its output resumable; every
    rank raises it together (`parallel.stopping`)."""


class NoSpace(OSError):
    """An output could not be written for want of space (a full file system, a quota, a file-size limit); the
    message names the file, and what was written before stays resumable."""
