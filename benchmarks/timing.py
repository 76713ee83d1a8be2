"""Shared timing helper for the benchmarks."""
import time


def best_of(repeat, function):
    """(best wall time in seconds, last return value) of `repeat` calls to `function`."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result
