"""One progress bar on rank 0: global items done, total, rate and time left.

On a terminal the bar is redrawn in place; in a batch log (SLURM output files) it becomes a log line at
every 5 % step or at most once a minute, so a million-halo job does not write a million lines.
"""
from __future__ import annotations

import sys
import time

from mpipaint.parallel import COMM, get_logger

BAR_WIDTH = 30
LOG_STEP = 0.05  # fraction of the total between log lines (not a terminal)
LOG_INTERVAL_S = 60.0


class Progress:
    """Call `update(done)` with the global count (same on every rank); only rank 0 draws."""

    def __init__(self, what: str, total: int, done_before: int = 0, stream=None):
        self.what, self.total, self.done_before = what, total, done_before
        self.stream = stream or sys.stderr
        self.start = self.last_log = time.monotonic()
        self.last_fraction = -1.0
        self.tty = COMM.rank == 0 and self.stream.isatty()

    def line(self, done: int) -> str:
        elapsed = max(time.monotonic() - self.start, 1e-9)
        rate = (done - self.done_before) / elapsed
        left = (self.total - done) / rate if rate > 0 else float("inf")
        filled = int(BAR_WIDTH * done / self.total) if self.total else BAR_WIDTH
        eta = f"{left / 60:.1f} min left" if left != float("inf") else "time left unknown"
        return (f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{self.total} {self.what} "
                f"({rate:.2f} {self.what}/s, {eta})")

    def update(self, done: int) -> None:
        if COMM.rank != 0:
            return
        if self.tty:
            end = "\n" if done >= self.total else ""
            print(f"\r{self.line(done)}", end=end, file=self.stream, flush=True)
            return
        fraction = done / self.total if self.total else 1.0
        now = time.monotonic()
        if fraction >= 1.0 or fraction - self.last_fraction >= LOG_STEP or now - self.last_log >= LOG_INTERVAL_S:
            get_logger().info(self.line(done))
            self.last_fraction, self.last_log = fraction, now
