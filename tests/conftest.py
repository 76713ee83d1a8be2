"""Shared fixtures: one example universe per test session, and an `mpirun` helper for MPI tests."""
from __future__ import annotations

import fcntl
import importlib
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

MPIRUN_TIMEOUT_S = 300
try:
    importlib.import_module("mpi4py")  # the package only: MPI itself starts where a test imports mpi4py.MPI
except ImportError:  # these modules import mpipaint's MPI code at the top: without MPI, none of them runs
    collect_ignore = ["test_configs.py", "test_exchange.py", "test_paint.py", "test_readers.py", "test_synth.py",
                      "test_train.py"]


def pytest_configure(config):
    """Markers to choose by what a test needs: `pytest -m "not mpi and not tf and not reference"` runs the
    kernels, statistics and units without MPI, TensorFlow or the reference tools."""
    config.addinivalue_line("markers", "mpi: needs MPI (mpirun, or the example universe, which synth writes "
                            "with it)")
    config.addinivalue_line("markers", "tf: needs TensorFlow (tf-keras)")
    config.addinivalue_line("markers", "reference: compares with an independent code (yt, pyxsim, "
                            "illustris_python), skipped where it is not installed")


def pytest_collection_modifyitems(items):
    for item in items:
        if "universe" in item.fixturenames:
            item.add_marker(pytest.mark.mpi)


def mpi_env() -> dict:
    """Environment for mpirun in CI containers: root allowed, no shared-memory CMA quirks."""
    env = dict(os.environ)
    env.update({"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
                "OMPI_MCA_rmaps_base_oversubscribe": "1", "OMPI_MCA_btl_vader_single_copy_mechanism": "none",
                "PYTHONUNBUFFERED": "1"})
    return env


def mpipaint_cmd(*args, ranks: int | None = None) -> list[str]:
    """The command line for `mpipaint ARGS`, under `mpirun -n ranks` when ranks is given."""
    base = [sys.executable, "-m", "mpipaint", *map(str, args)]
    if ranks is None:
        return base
    return [shutil.which("mpirun"), "-n", str(ranks), "--oversubscribe", *base]


def run_mpipaint(*args, ranks=None, timeout=MPIRUN_TIMEOUT_S, check=True, cwd=None, env=None):
    """Run `mpipaint ARGS` (under mpirun with `ranks`) in `cwd`, with `env` added to the environment."""
    result = subprocess.run(mpipaint_cmd(*args, ranks=ranks), capture_output=True, text=True,
                            timeout=timeout, env={**mpi_env(), **(env or {})}, cwd=cwd)
    if check and result.returncode != 0:
        raise AssertionError(f"mpipaint {args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def in_small_file_system(tmp_path, script: str, size: str):
    """Run bash `script` in a private mount namespace where $SMALL is a fresh tmpfs of `size` (a full disk
    made by the test itself); skipped where this machine forbids mounts (no CAP_SYS_ADMIN)."""
    small = tmp_path / "small"
    small.mkdir()
    probe = subprocess.run(["unshare", "-m", "mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a small file system here: {probe.stderr.strip()}")
    full = f"set -e\nmount -t tmpfs -o size={size} tmpfs {small}\nset +e\n{script}"
    subprocess.run(["unshare", "-m", "bash", "-c", full], env={**mpi_env(), "SMALL": str(small)}, check=True,
                   timeout=600)


@dataclass
class OutOfSpace:
    """What `fill_then_grow` saw: the run on the small file system (exit code, log, what it left there, a
    copy of its output) and the same command's rerun after the file system grew."""
    returncode: int
    log: str
    left: list
    partial: Path
    resumed_returncode: int
    resumed_log: str
    resumed: Path


def fill_then_grow(tmp_path, args, size: str, ranks: int = 2) -> OutOfSpace:
    """`mpipaint ARGS --out $SMALL/out.hdf5` on a tmpfs of `size`, then the same command after the tmpfs grew
    to 64 MiB (`in_small_file_system`)."""
    command = shlex.join(map(str, mpipaint_cmd(*args, "--out", "OUT", ranks=ranks))).replace(
        "OUT", '"$SMALL/out.hdf5"')
    in_small_file_system(tmp_path, f"""
{command} > {tmp_path}/full.log 2>&1; echo $? > {tmp_path}/full.rc
ls -A "$SMALL" > {tmp_path}/listing
cp "$SMALL/out.hdf5" {tmp_path}/partial.hdf5
mount -o remount,size=64m "$SMALL"
{command} > {tmp_path}/resumed.log 2>&1; echo $? > {tmp_path}/resumed.rc
cp "$SMALL/out.hdf5" {tmp_path}/resumed.hdf5
""", size)
    saw = {name: (tmp_path / name).read_text() for name in ("full.rc", "full.log", "listing", "resumed.rc",
                                                            "resumed.log")}
    return OutOfSpace(int(saw["full.rc"]), saw["full.log"], saw["listing"].split(), tmp_path / "partial.hdf5",
                      int(saw["resumed.rc"]), saw["resumed.log"], tmp_path / "resumed.hdf5")


def built_once(tmp_path_factory, name: str, build) -> Path:
    """The directory `name`, filled by `build(directory)` once per test run: pytest-xdist's workers share it
    (the first to ask builds it under a lock in the run's temporary directory while the others wait), so
    that the session's universe and nets are not made again by every worker."""
    run = tmp_path_factory.getbasetemp()
    if "PYTEST_XDIST_WORKER" in os.environ:
        run = run.parent  # the workers' temporary directories lie side by side in the run's
    directory, built = run / name, run / f"{name}.built"
    with open(run / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not built.exists():
            shutil.rmtree(directory, ignore_errors=True)  # a build that failed in another worker
            directory.mkdir()
            build(directory)
            built.touch()
    return directory


@pytest.fixture(scope="session")
def universe(tmp_path_factory) -> Path:
    """The default example universe (FP, DMO, FP-2, FP-3; snapshots 67 and 99), generated once."""
    from mpipaint.example.synth import generate  # MPI only for the tests that need the universe
    from mpipaint.options import SynthConfig

    return built_once(tmp_path_factory, "universe", lambda out: generate(SynthConfig(), out))


@pytest.fixture
def universe_copy(universe, tmp_path) -> Path:
    """A private copy of the example universe, for tests that damage files."""
    copy = tmp_path / "universe"
    shutil.copytree(universe, copy)
    return copy


TINY_TRAINING = ("--base-filters", "8", "--depth", "2", "--batch-size", "4", "--seed", "3")


@pytest.fixture(scope="session")
def small_trainset(universe, tmp_path_factory) -> Path:
    """32-pixel training set of every FP halo above 1e14 Msun at snapshots 67 and 99."""
    def build(out):
        run_mpipaint("select", universe / "FP" / "output", "--snap", "67", "99", "--out", out / "halos.hdf5")
        run_mpipaint("prepare", universe / "FP" / "output", "--halos", out / "halos.hdf5", "--out", out / "ts.hdf5",
                     "--npix", "32")

    return built_once(tmp_path_factory, "trainset", build) / "ts.hdf5"


@pytest.fixture(scope="session")
def xray_bundle(small_trainset, tmp_path_factory):
    """A tiny X-ray U-net trained for 5 epochs by two Horovod ranks, its totals calibrated per training
    redshift: (bundle path, what training wrote to stderr)."""
    def build(out):
        result = run_mpipaint("train", "--data", small_trainset, "--out", out / "xray", "--epochs", "5",
                              *TINY_TRAINING, "--min-halos-per-redshift", "3", ranks=2)
        (out / "train.stderr").write_text(result.stderr)

    out = built_once(tmp_path_factory, "bundle", build)
    return out / "xray", (out / "train.stderr").read_text()


@pytest.fixture(scope="session")
def cube_bundle(universe, tmp_path_factory):
    """A tiny X-ray U-net trained on cube-deposition maps (what halo lists without membership are painted
    with), and the DMO box's halo table at snapshot 99."""
    def build(out):
        run_mpipaint("select", universe / "FP" / "output", "--snap", "67", "99", "--out", out / "fp.hdf5")
        run_mpipaint("prepare", universe / "FP" / "output", "--halos", out / "fp.hdf5", "--out", out / "ts.hdf5",
                     "--npix", "32", "--deposition-mode", "cube")
        run_mpipaint("train", "--data", out / "ts.hdf5", "--out", out / "models" / "xray", "--epochs", "2",
                     *TINY_TRAINING)
        run_mpipaint("select", universe / "DMO" / "output", "--snap", "99", "--out", out / "dmo.hdf5")

    return built_once(tmp_path_factory, "cube_bundle", build)
