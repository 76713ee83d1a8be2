#!/usr/bin/env bash
# GPU figures for BENCHMARKS.md in one short run (about 12 minutes on one H100, most of it compiling the
# full U-net at every shape), in this order, so that a run cut short still has the paint figures; each step
# writes its table into OUT as it ends:
#   1. where the time of one call of 24 maps goes, bf16: the host chain stage by stage, the device chain
#      (jax_chain) whole with and without the maps sent back, CIC on the host and on the device, and
#      particles to summaries as paint runs them (profile_host.py);
#   2. a one-GPU paint of the 4x example box with the full U-net at bf16 through the JAX backend, 8 and 16
#      halos (24 and 48 maps) per inference call, with its time per phase: paint speed against the
#      inference-only bound (bench_paint.py), then the host's file work per halo in it: reads with the
#      chunk file reopened or kept open, rows written one halo or one group per call (bench_host_io.py);
#   3. full U-net (Table A1, 512^2) inference images/s for each installed backend (JAX; TensorFlow too where
#      installed) at fp32, bf16 and fp16, batch 1-32: paint's chain and the net alone (bench_unet.py);
#   4. toward the FLOP bound (2,570 images/s at 990 TFLOP/s dense bf16): the JAX net with batch norm folded
#      into its convolutions (this tree) beside the net of $BASELINE (unfolded; needs .git), bf16, batch
#      16-128; then the optimised HLO of one bf16 call (XLA_FLAGS dump) and how many of its convolutions
#      cuDNN runs with the bias and ReLU fused (gpu_fusions.py).
# Needs JAX with CUDA, h5py, mpi4py, numba, scipy (no mpirun: one rank); no TensorFlow, PyYAML or
# downloads: the project runs from this checkout through PYTHONPATH.
#   bash benchmarks/gpu_check.sh [OUT]        OUT: working directory (default gpu_check)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-gpu_check}
mkdir -p "$out"
export PYTHONPATH="$here:$here/benchmarks${PYTHONPATH:+:$PYTHONPATH}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
backends=jax
if python3 -c "import tensorflow, tf_keras, horovod" 2>/dev/null; then backends="tf jax"; fi
{ date -u; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  python3 -c "import jax; print('jax', jax.__version__, jax.devices())"
  python3 -c "import mpi4py.MPI, h5py, numba, numpy, scipy, pandas; print('mpi4py', mpi4py.__version__, mpi4py.MPI.Get_library_version().split(chr(10))[0], 'h5py', h5py.__version__, 'numba', numba.__version__, 'numpy', numpy.__version__)"; } | tee "$out/machine.txt"
python3 "$here/benchmarks/profile_host.py" --batch 24 --precision bf16 | tee "$out/profile.md"
for halos in 8 16; do
  python3 "$here/benchmarks/bench_paint.py" "$out/paint" --boxes 4x --ranks 1 --npix 512 --base-filters 64 \
      --backend jax --precision bf16 --batch-halos $halos | tee -a "$out/paint.md"
done
python3 "$here/benchmarks/bench_host_io.py" "$out/paint/box1/DMO/output/snapdir_099" | tee "$out/host_io.md"
python3 "$here/benchmarks/bench_unet.py" inference --npix 512 --backends $backends \
    --precisions fp32 bf16 fp16 --sizes 1 4 16 32 --repeat 3 | tee "$out/inference.md"
baseline=()
if git -C "$here" cat-file -e "${BASELINE:-8d782d4}^{commit}" 2>/dev/null; then baseline=(--baseline "${BASELINE:-8d782d4}"); fi
python3 "$here/benchmarks/bench_unet.py" inference --npix 512 --backends jax --precisions bf16 \
    --sizes 16 32 64 128 --repeat 3 "${baseline[@]}" | tee "$out/folded.md"
XLA_FLAGS="--xla_dump_to=$out/xla --xla_dump_hlo_as_text" python3 "$here/benchmarks/gpu_fusions.py" "$out/xla" \
    | tee "$out/fusions.md"
