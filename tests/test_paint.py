"""`mpipaint paint` on the DMO box of the example universe: identical catalogs from 1, 2 and 4 ranks,
resume after a kill, a failing rank ends the job, halos across the box edge painted whole."""
import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest import fill_then_grow, mpi_env, mpipaint_cmd, run_mpipaint
from mpipaint.errors import PREEMPTED_EXIT
from mpipaint.faults import FAULT_ENV, spec
from mpipaint.halos.select import select_catalog
from mpipaint.io.particle_types import DM
from mpipaint.io.snapshot import Snapshot
from mpipaint.paint import NO_MPIO_ENV

pytestmark = pytest.mark.tf  # TensorFlow (tf-keras) builds, trains or runs the nets here

FP32 = ("--precision", "fp32")  # rank-count identity is asserted at full precision


@pytest.fixture(scope="module")
def box(universe):
    return universe / "DMO" / "output" / "snapdir_099"


@pytest.fixture(scope="module")
def serial(box, xray_bundle, tmp_path_factory):
    out = tmp_path_factory.mktemp("paint") / "one.hdf5"
    run_mpipaint("paint", *FP32, box, "--model", xray_bundle[0], "--out", out, "--maps")
    return out


def assert_same(a, b):
    with h5py.File(a) as fa, h5py.File(b) as fb:
        assert sorted(fa) == sorted(fb) and bool(fa.attrs["complete"]) and bool(fb.attrs["complete"])
        for name in fa:
            np.testing.assert_array_equal(fa[name][()], fb[name][()], err_msg=name)


def test_catalog_contents_and_units(serial, box):
    with h5py.File(serial) as f:
        assert {f[n].attrs["units"] for n in ("lx", "mdm_proj", "m200c", "centre")} == {"erg/s", "Msun", "kpc"}
        assert f["lx"].shape == (len(f["halo_id"]), 3) and f["done"][()].all()
        assert f["map_xray"].shape[2:] == (32, 32) and f["map_dm"].attrs["units"] == "Msun/kpc^2"
        assert f.attrs["deposition_mode"] == "group" and f.attrs["read_strategy"] == "offsets"
        area = (f.attrs["width_kpc"] / f.attrs["npix"]) ** 2
        np.testing.assert_allclose(f["map_xray"][()].sum(axis=(2, 3)) * area, f["lx"][()], rtol=1e-12)
        assert (f["m200c"][()] >= 1e14).all() and (f["lx"][()] > 0).all()


def test_paint_calibrates_the_totals_at_the_box_redshift(serial, box, xray_bundle, tmp_path):
    """A bundle whose total offsets per training redshift are edited paints every map of the box (z = 0) scaled
    by exactly the change of the offset at z = 0, whatever its pooled offset; the rows are otherwise the
    same (identical flags and DM)."""
    bundle = tmp_path / "xray"
    shutil.copytree(xray_bundle[0], bundle)
    meta = json.loads((bundle / "bundle.json").read_text())
    table = meta.get("total_offset_by_redshift")
    assert table and table["redshift"][0] == 0.0  # the fixture calibrates per training redshift
    change = 0.1 if table["offset_dex"][0] <= 0 else -0.1  # within the bounds of +-0.3 dex
    edited = {**table, "offset_dex": [table["offset_dex"][0] + change, -0.2]}
    (bundle / "bundle.json").write_text(json.dumps({**meta, "total_offset_dex": 0.25,
                                                    "total_offset_by_redshift": edited}))
    out = tmp_path / "edited.hdf5"
    run_mpipaint("paint", *FP32, box, "--model", bundle, "--out", out, "--maps")
    with h5py.File(serial) as before, h5py.File(out) as after:
        assert float(after["redshift"][0]) == 0.0
        np.testing.assert_allclose(after["lx"][()] / before["lx"][()], 10.0 ** -change, rtol=1e-12)
        np.testing.assert_allclose(after["map_xray"][()], before["map_xray"][()] * 10.0 ** -change, rtol=1e-12)
        for name in ("out_of_range", "mdm_proj", "map_dm"):
            np.testing.assert_array_equal(after[name][()], before[name][()], err_msg=name)


@pytest.mark.parametrize("ranks", [2, 4])
def test_same_catalog_for_any_number_of_ranks(serial, box, xray_bundle, tmp_path, ranks):
    out = tmp_path / f"{ranks}.hdf5"
    run_mpipaint("paint", *FP32, box, "--model", xray_bundle[0], "--out", out, "--maps", ranks=ranks)
    assert_same(serial, out)


def test_halos_batched_through_the_net_give_the_same_catalog(serial, box, xray_bundle, tmp_path):
    """--batch-halos puts several halos' maps through a net in one call: which halos share a call depends on
    the rank count, so a map's result must not depend on its batch-mates (or on padding): the catalog is
    identical to one painted halo by halo."""
    out = tmp_path / "batched.hdf5"
    run_mpipaint("paint", *FP32, box, "--model", xray_bundle[0], "--out", out, "--maps", "--batch-halos", "4", ranks=2)
    assert_same(serial, out)


def test_gathered_writes_give_the_same_catalog(serial, box, xray_bundle, tmp_path, monkeypatch):
    """The fallback for an h5py without MPI: rows gathered to rank 0."""
    monkeypatch.setenv(NO_MPIO_ENV, "1")
    out = tmp_path / "gathered.hdf5"
    run_mpipaint("paint", *FP32, box, "--model", xray_bundle[0], "--out", out, "--maps", ranks=2)
    assert_same(serial, out)


def test_slab_reads_and_exchange_give_the_same_catalog(serial, box, xray_bundle, tmp_path):
    """Strategy (b) on group-ordered input: slabs of 30,000 particles, members sent by Alltoallv."""
    out = tmp_path / "slabs.hdf5"
    run_mpipaint("paint", *FP32, box, "--model", xray_bundle[0], "--out", out, "--maps", "--read-strategy", "slabs",
                 "--chunk-particles", "30000", ranks=2)
    assert_same(serial, out)
    with h5py.File(out) as f:
        assert f.attrs["read_strategy"] == "slabs"


def test_killed_job_resumes_to_the_same_catalog(serial, box, xray_bundle, tmp_path, monkeypatch):
    out = tmp_path / "killed.hdf5"
    monkeypatch.setenv(FAULT_ENV, spec("kill", "groups-written", 3))
    killed = run_mpipaint("paint", *FP32, box, "--model", xray_bundle[0], "--out", out, "--maps", check=False)
    assert killed.returncode != 0
    with h5py.File(out) as f:
        assert not f.attrs["complete"] and f["done"][()].sum() == 3
    monkeypatch.delenv(FAULT_ENV)
    resumed = run_mpipaint("paint", *FP32, box, "--model", xray_bundle[0], "--out", out, "--maps", ranks=2)
    assert "resuming" in resumed.stderr and "3 of" in resumed.stderr
    assert_same(serial, out)


needs_mpio = pytest.mark.skipif(not h5py.get_config().mpi, reason="h5py without MPI: rows are funnelled to rank 0")


def flagged_rows_are_whole(out) -> int:
    """The number of rows flagged done, after asserting that each is on disk whole (finite in every column a
    painted row always fills) in a file that is not marked complete."""
    with h5py.File(out) as f:
        flagged = f["done"][()] == 1
        assert not f.attrs["complete"] and set(np.unique(f["done"][()])) <= {0, 1}
        for name in ("mdm_proj", "lx", "lx_at_bound", "dm_outside_range"):
            assert np.isfinite(f[name][()][flagged]).all(), name
        assert (f["mdm_proj"][()][flagged] > 0).all()
    return int(flagged.sum())


@needs_mpio
def test_a_rank_killed_mid_run_under_mpio_leaves_only_whole_rows_and_resumes(serial, box, xray_bundle, tmp_path,
                                                                            monkeypatch):
    """kill -9 of rank 0 after its second group, while rank 1 has rows in flight, under independent MPI-IO
    writes: every row flagged done is on disk whole (the catalog's storage is laid out before any rank
    writes, so no metadata is left in a dead rank's cache), and the resumed file is the serial one."""
    out = tmp_path / "killed_mpio.hdf5"
    monkeypatch.setenv(FAULT_ENV, spec("kill", "groups-written", 2))
    killed = run_mpipaint("paint", *FP32, box, "--model", xray_bundle[0], "--out", out, "--maps", ranks=2, check=False)
    assert killed.returncode != 0
    flagged = flagged_rows_are_whole(out)
    with h5py.File(serial) as f:
        assert 2 <= flagged < len(f["done"])
    monkeypatch.delenv(FAULT_ENV)
    resumed = run_mpipaint("paint", *FP32, box, "--model", xray_bundle[0], "--out", out, "--maps", ranks=2)
    assert f"resuming {out}: {flagged} of" in resumed.stderr and "no painted row" not in resumed.stderr
    assert_same(serial, out)


@needs_mpio
def test_a_full_disk_under_mpio_ends_with_a_message_and_resumes_once_space_is_freed(serial, box, xray_bundle,
                                                                                   tmp_path):
    """Two ranks writing maps independently onto a file system that fills before the last rows: the job
    ends naming the file and the missing space, every flagged row is whole, and with room the same command
    finishes the serial catalog."""
    size_kb = (serial.stat().st_size + (1 << 20) - 150_000) // 1024  # room for all but the last few maps
    run = fill_then_grow(tmp_path, ("paint", *FP32, box, "--model", xray_bundle[0], "--maps"), f"{size_kb}k")
    assert run.returncode == 1 and "out.hdf5: no space left on device" in run.log, run.log
    # the rank that ran out of space may be rank 1, whose MPI_Abort ends rank 0 with its lock held: the lock
    # names a dead process, which the rerun takes over (on another host, after STALE_AFTER_S)
    assert "Traceback" not in run.log and set(run.left) - {"out.hdf5.lock"} == {"out.hdf5"}
    assert 0 < flagged_rows_are_whole(run.partial)
    assert run.resumed_returncode == 0, run.resumed_log
    assert_same(serial, run.resumed)


@needs_mpio
@pytest.mark.parametrize("fault", ["usr1-job", "term"])
def test_a_stop_signal_finishes_the_rows_in_flight_and_the_job_resumes(serial, box, xray_bundle, tmp_path, monkeypatch,
                                                                       fault):
    """What SLURM sends before SIGKILL: SIGUSR1 to every rank (`--signal`, here forwarded by mpirun) or SIGTERM
    (here to rank 0 alone). The ranks finish their groups in flight, close the catalog unfinished, release
    the lock and exit 143 saying how to resume; the re-run paints the rest to the serial catalog."""
    out = tmp_path / f"{fault}.hdf5"
    monkeypatch.setenv(FAULT_ENV, spec(fault, "groups-written", 2))
    stopped = run_mpipaint("paint", *FP32, box, "--model", xray_bundle[0], "--out", out, "--maps", ranks=2,
                           check=False)
    assert stopped.returncode == PREEMPTED_EXIT, stopped.stderr
    assert "run the same command again to paint the rest" in stopped.stderr and "Traceback" not in stopped.stderr
    assert not Path(f"{out}.lock").exists()
    flagged = flagged_rows_are_whole(out)
    assert flagged >= 2
    monkeypatch.delenv(FAULT_ENV)
    resumed = run_mpipaint("paint", *FP32, box, "--model", xray_bundle[0], "--out", out, "--maps", ranks=2)
    assert f"resuming {out}: {flagged} of" in resumed.stderr and "taking over" not in resumed.stderr
    assert_same(serial, out)


def test_fewer_halos_than_ranks_under_mpio_ends_with_a_complete_catalog(box, xray_bundle, tmp_path):
    """One halo above 5e14 Msun, two ranks: the rank without work takes part in every collective step and
    the job ends (it used to hang with the catalog marked complete and its row unpainted)."""
    out = tmp_path / "one_halo.hdf5"
    run_mpipaint("paint", *FP32, box, "--model", xray_bundle[0], "--out", out, "--min-m200c", "5e14", ranks=2,
                 timeout=120)
    with h5py.File(out) as f:
        assert len(f["done"]) == 1 and f["done"][()].all() and f.attrs["complete"]
        assert np.isfinite(f["lx"][()]).all()


def test_a_resume_whose_inputs_changed_is_refused_naming_them(universe_copy, xray_bundle, tmp_path, monkeypatch):
    """Killed, then a bundle's total offset edited (its weights' digest still valid) or every DM particle
    moved 400 ckpc/h: resuming would mix rows painted from the old inputs and the new, so it is refused
    (exit 2) naming what changed, and the catalog is left as it was."""
    box = universe_copy / "DMO" / "output" / "snapdir_099"
    bundle = tmp_path / "xray"
    shutil.copytree(xray_bundle[0], bundle)
    out = tmp_path / "killed.hdf5"
    args = ("paint", *FP32, box, "--model", bundle, "--out", out)
    monkeypatch.setenv(FAULT_ENV, spec("kill", "groups-written", 2))
    assert run_mpipaint(*args, check=False).returncode != 0
    monkeypatch.delenv(FAULT_ENV)
    before = out.read_bytes()
    described = (bundle / "bundle.json").read_bytes()
    meta = json.loads(described)
    (bundle / "bundle.json").write_text(json.dumps({**meta, "total_offset_dex": meta["total_offset_dex"] / 2}))
    refused = run_mpipaint(*args, check=False)
    assert refused.returncode == 2 and "models_sha256" in refused.stderr and "box_fingerprint" not in refused.stderr
    (bundle / "bundle.json").write_bytes(described)
    for chunk in box.glob("snap_099.*.hdf5"):
        with h5py.File(chunk, "a") as f:
            box_size = f["Header"].attrs["BoxSize"]
            f["PartType1/Coordinates"][...] = (f["PartType1/Coordinates"][()] + 400.0) % box_size
    refused = run_mpipaint(*args, check=False)
    assert refused.returncode == 2 and "box_fingerprint" in refused.stderr and "models_sha256" not in refused.stderr
    assert out.read_bytes() == before


def test_a_failing_rank_ends_the_job_promptly(box, xray_bundle, tmp_path, monkeypatch):
    monkeypatch.setenv(FAULT_ENV, spec("raise", "halo-start", 1))
    start = time.monotonic()
    result = run_mpipaint("paint", *FP32, box, "--model", xray_bundle[0], "--out", tmp_path / "x.hdf5", ranks=2,
                          check=False, timeout=120)
    assert time.monotonic() - start < 30
    assert result.returncode != 0 and "on rank 1/2" in result.stderr
    assert "injected fault at halo-start 1" in result.stderr


def test_a_rank_failing_on_its_first_halo_leaves_a_catalog_that_resumes(serial, box, xray_bundle, tmp_path,
                                                                          monkeypatch):
    """Under mpio an error in the first seconds used to leave a file without an HDF5 signature, which the
    re-run refused: a new catalog now appears at --out only once it is laid out whole."""
    out = tmp_path / "early.hdf5"
    monkeypatch.setenv(FAULT_ENV, spec("raise", "halo-start", 1))
    failed = run_mpipaint("paint", *FP32, box, "--model", xray_bundle[0], "--out", out, "--maps", ranks=2, check=False)
    assert failed.returncode != 0 and "injected fault at halo-start 1" in failed.stderr
    assert Path(f"{out}.lock").exists()  # MPI_Abort ended rank 0 too
    monkeypatch.delenv(FAULT_ENV)
    resumed = run_mpipaint("paint", *FP32, box, "--model", xray_bundle[0], "--out", out, "--maps", ranks=2)
    assert "taking over the lock of a job that is no longer running" in resumed.stderr
    assert "resuming" in resumed.stderr and not Path(f"{out}.lock").exists()
    assert_same(serial, out)


@pytest.mark.parametrize("kind", ["text", "directory", "foreign_hdf5"])
def test_an_out_path_mpipaint_did_not_write_is_left_alone(box, xray_bundle, tmp_path, kind):
    out = tmp_path / "precious"
    if kind == "text":
        out.write_text("a user's notes")
    elif kind == "directory":
        out.mkdir()
    else:
        with h5py.File(out, "w") as f:
            f["PartType1/Coordinates"] = np.zeros((4, 3))
    before = out.read_bytes() if out.is_file() else None
    result = run_mpipaint("paint", *FP32, box, "--model", xray_bundle[0], "--out", out, check=False)
    assert result.returncode == 2 and ("choose another --out" in result.stderr or "not a regular file" in result.stderr)
    assert "remove" not in result.stderr.lower()
    assert (out.read_bytes() if out.is_file() else None) == before


def test_links_at_or_beside_out_never_send_the_catalog_elsewhere(box, xray_bundle, tmp_path):
    """A link planted where the new catalog used to be laid out (.NAME.creating) is never written through,
    and a link at --out is refused (exit 2), its target untouched."""
    notes = tmp_path / "notes.txt"
    notes.write_text("a user's notes")
    out = tmp_path / "painted.hdf5"
    (tmp_path / f".{out.name}.creating").symlink_to(notes)
    one_halo = ("--min-m200c", "5e14")
    run_mpipaint("paint", *FP32, box, "--model", xray_bundle[0], "--out", out, *one_halo)
    assert notes.read_text() == "a user's notes" and out.is_file() and not out.is_symlink()
    link = tmp_path / "link.hdf5"
    link.symlink_to(out)
    refused = run_mpipaint("paint", *FP32, box, "--model", xray_bundle[0], "--out", link, *one_halo, check=False)
    assert refused.returncode == 2 and "is a symbolic link" in refused.stderr


def test_a_second_writer_is_refused_and_a_dead_writers_lock_taken_over(box, xray_bundle, tmp_path):
    out = tmp_path / "locked.hdf5"
    lock = Path(f"{out}.lock")
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "job": "4242",
                                "command": "mpipaint paint", "started": "today"}))
    refused = run_mpipaint("paint", *FP32, box, "--model", xray_bundle[0], "--out", out, ranks=2, check=False)
    assert refused.returncode == 2 and f"pid {os.getpid()}" in refused.stderr and "SLURM job 4242" in refused.stderr
    assert not out.exists()
    finished = subprocess.Popen(["true"])  # a process that is gone
    finished.wait()
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": finished.pid}))
    taken = run_mpipaint("paint", *FP32, box, "--model", xray_bundle[0], "--out", out, ranks=2)
    assert "taking over the lock of a job that is no longer running" in taken.stderr
    assert not lock.exists()
    with h5py.File(out) as f:
        assert f.attrs["complete"]


def test_bf16_inference_paints_what_fp32_paints_to_bf16_rounding(box, xray_bundle, tmp_path):
    """Reduced precision changes the arithmetic, not the answer. bf16 keeps 8 bits of mantissa through ~20
    layers (weights and the head stay fp32): a normalised output near 1 moves by up to ~2^-8, which the
    8-dex log range of X-ray maps turns into a few per cent per pixel. Per map: Lx within 10 % of fp32,
    2 % in the median; and the file says which precision ran."""
    lx = {}
    for precision in ("fp32", "bf16"):
        out = tmp_path / f"{precision}.hdf5"
        run_mpipaint("paint", *FP32, box, "--model", xray_bundle[0], "--out", out, "--precision", precision)
        with h5py.File(out) as f:
            assert f.attrs["precision"] == precision
            lx[precision] = f["lx"][()]
    change = np.abs(lx["bf16"] / lx["fp32"] - 1)
    assert change.max() < 0.10 and np.median(change) < 0.02 and change.max() > 0  # bf16 did run


def test_jax_paints_the_tensorflow_catalog_where_tensorflow_is_not_installed(serial, box, xray_bundle, tmp_path):
    """The JAX backend rebuilds the net from the bundle's weights alone and runs the whole chain on the
    device, CIC included, in float32. With TensorFlow, tf_keras and Horovod unimportable, two ranks paint the
    catalog TensorFlow painted (fp32) on the host: the DM maps within 2e-6 of each map's peak (float32 clouds;
    measured 1.3e-6) with the same empty pixels, their masses within 1e-6, Lx within 1e-5 relative
    (measured 5e-6), pixels within 1e-3 (the net turns the DM maps' float32 rounding into up to 3e-4 in 0.3 %
    of the pixels with AVX-512 kernels, 5.1e-4 in one pixel of 43008 with oneDNN's AVX2 ones), everything else
    the same."""
    blocked = tmp_path / "blocked"
    for name in ("tensorflow", "tf_keras", "horovod"):
        (blocked / name).mkdir(parents=True)
        (blocked / name / "__init__.py").write_text(f"raise ImportError('{name} is not installed here')\n")
    env = {**mpi_env(), "PYTHONPATH": os.pathsep.join(filter(None, [str(blocked), os.environ.get("PYTHONPATH")]))}
    out = tmp_path / "jax.hdf5"
    result = subprocess.run(mpipaint_cmd("paint", *FP32, box, "--model", xray_bundle[0], "--out", out, "--maps",
                                         "--backend", "jax", ranks=2), capture_output=True, text=True, env=env,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    with h5py.File(serial) as tf_file, h5py.File(out) as jax_file:
        assert jax_file.attrs["backend"] == "jax" and tf_file.attrs["backend"] == "tf"
        assert sorted(jax_file) == sorted(tf_file) and bool(jax_file.attrs["complete"])
        dm_jax, dm_tf = jax_file["map_dm"][()], tf_file["map_dm"][()]
        np.testing.assert_array_equal(dm_jax > 0, dm_tf > 0)
        assert np.all(np.abs(dm_jax - dm_tf) <= 2e-6 * dm_tf.max(axis=(2, 3), keepdims=True))
        np.testing.assert_allclose(jax_file["mdm_proj"][()], tf_file["mdm_proj"][()], rtol=1e-6, atol=0)
        np.testing.assert_allclose(jax_file["lx"][()], tf_file["lx"][()], rtol=1e-5, atol=0)
        np.testing.assert_allclose(jax_file["map_xray"][()], tf_file["map_xray"][()], rtol=1e-3, atol=0)
        for name in ("halo_id", "m200c", "out_of_range"):
            np.testing.assert_array_equal(jax_file[name][()], tf_file[name][()], err_msg=name)


def test_halo_across_the_box_edge_is_painted_whole(serial, box):
    snapshot = Snapshot(box)
    table = select_catalog(snapshot, box.parent / "groups_099", 99, 1e14)
    with h5py.File(serial) as f:
        mdm, width = f["mdm_proj"][()], f.attrs["width_kpc"]
    box_size = snapshot.box_size_kpc
    edge_halos = 0
    for k, row in table.iterrows():
        lo, n = int(row["offset_type1"]), int(row["count_type1"])
        x = snapshot.read(DM, "Coordinates", lo, lo + n)
        if not ((x < 0.1 * box_size).any(axis=0) & (x > 0.9 * box_size).any(axis=0)).any():
            continue
        edge_halos += 1
        d = x - row[["centre_x", "centre_y", "centre_z"]].to_numpy(dtype=float)
        d -= box_size * np.round(d / box_size)
        masses = snapshot.read(DM, "Masses", lo, lo + n)
        for column, (i, j) in enumerate(((1, 2), (2, 0), (0, 1))):
            inside = (np.abs(d[:, i]) < 0.5 * width) & (np.abs(d[:, j]) < 0.5 * width)
            assert inside.mean() > 0.8  # wrapped around the edge, the halo is in one piece
            assert mdm[k, column] == pytest.approx(masses[inside].sum(), rel=0.02)
    assert edge_halos >= 1


def test_fits_export_round_trips_maps_and_header(serial, tmp_path):
    from astropy.io import fits

    result = run_mpipaint("export-fits", serial, "--all", "--out", tmp_path / "fits")
    assert "wrote" in result.stderr
    with h5py.File(serial) as f:
        row = 1
        halo, snap = int(f["halo_id"][row]), int(f["snapshot"][row])
        width, npix = float(f.attrs["width_kpc"]), int(f.attrs["npix"])
        assert len(list((tmp_path / "fits").glob("*.fits"))) == 3 * len(f["halo_id"])
        for k, axis in enumerate("xyz"):
            with fits.open(tmp_path / "fits" / f"halo_{halo}_snap{snap:03d}_{axis}.fits") as hdus:
                assert [h.name for h in hdus] == ["PRIMARY", "DM", "XRAY"]
                header = hdus["XRAY"].header
                np.testing.assert_array_equal(hdus["XRAY"].data.T, f["map_xray"][row, k])
                np.testing.assert_array_equal(hdus["DM"].data.T, f["map_dm"][row, k])
                assert header["BUNIT"] == "erg/s/kpc^2" and hdus["DM"].header["BUNIT"] == "Msun/kpc^2"
                assert header["HALOID"] == halo and header["PROJAXIS"] == axis
                assert header["WIDTH"] == width and header["PIXSCALE"] == width / npix
                assert header["REDSHIFT"] == f["redshift"][row] and header["EMISMODL"].startswith("APEC")
                assert header["CDELT1"] == width / npix and header["CUNIT1"] == "kpc"
    missing = run_mpipaint("export-fits", serial, "--halo", "99999", "--out", tmp_path / "none", check=False)
    assert missing.returncode == 2 and "no halo with halo_id 99999" in missing.stderr
