"""A rank's start-up: importing TensorFlow, tf-keras and Horovod in a fresh process, with Python's default
collector thresholds (700, 10, 10) and with the ones `mpipaint` sets (`cli.COLLECTOR_THRESHOLDS`), alternating
so that a shared host's drift falls on both.

    python benchmarks/bench_startup.py [--runs 6]

Prints each pair of runs, the medians and their ratio, and each setting's collector passes per generation and
tracked objects after the import. Every `mpipaint` process that paints, trains or evaluates pays this import.
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from machine import line  # noqa: E402
from mpipaint.cli import COLLECTOR_THRESHOLDS  # noqa: E402

PYTHON_DEFAULT = (700, 10, 10)
IMPORT = """
import gc, json, os, sys, time
gc.set_threshold(*json.loads(sys.argv[1]))
os.environ["TF_USE_LEGACY_KERAS"] = "1"
start = time.perf_counter()
import tensorflow, tf_keras, horovod.tensorflow
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "passes": [g["collections"] for g in gc.get_stats()],
                  "objects": len(gc.get_objects())}))
"""


def one_import(thresholds) -> dict:
    result = subprocess.run([sys.executable, "-c", IMPORT, json.dumps(thresholds)], capture_output=True, text=True,
                            check=True)
    return json.loads(result.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=6, help="pairs of imports")
    args = parser.parse_args()
    print(f"machine: {line()}")
    settings = {"python default": PYTHON_DEFAULT, "mpipaint": COLLECTOR_THRESHOLDS}
    runs = {name: [] for name in settings}
    for k in range(args.runs):
        for name, thresholds in settings.items():
            runs[name].append(one_import(thresholds))
        print(f"pair {k + 1}: " + ", ".join(f"{name} {runs[name][-1]['seconds']:.2f} s" for name in settings))
    medians = {name: float(np.median([r["seconds"] for r in runs[name]])) for name in settings}
    for name, thresholds in settings.items():
        last = runs[name][-1]
        print(f"{name} {thresholds}: median {medians[name]:.2f} s, collector passes per generation "
              f"{last['passes']}, {last['objects']} tracked objects after the import")
    print(f"ratio of medians (default / mpipaint): {medians['python default'] / medians['mpipaint']:.2f}")


if __name__ == "__main__":
    main()
