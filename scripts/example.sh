#!/usr/bin/env bash
# The main job on the built-in example: `mpipaint demo` runs synth, select, prepare, train (Horovod),
# evaluate, calibrate and paint of the DMO box, each under `mpirun -n 2`, then prints a short report.
# Outputs go to ./example/ (report in ./example/report/).
set -euo pipefail
exec mpipaint demo --config "$(dirname "$0")/../configs/demo.yaml"
