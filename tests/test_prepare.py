"""`mpipaint prepare`: the same file from 1 and 2 ranks, resume after a kill, DM-only runs, units, and the
training-set reader."""
import shlex
import shutil

import h5py
import numpy as np
import pytest

from conftest import fill_then_grow, in_small_file_system, mpipaint_cmd, run_mpipaint
from mpipaint.errors import InputError
from mpipaint.faults import FAULT_ENV, spec
from mpipaint.halos.particles import HaloParticles
from mpipaint.io.halotable import read_halo_table
from mpipaint.io.snapshot import Snapshot, find_snapshot
from mpipaint.io.trainingset import TrainingSet
from mpipaint.maps.geometry import MapSpec

SMALL = ("--npix", "64")


@pytest.fixture(scope="module")
def tables(universe, tmp_path_factory):
    out = tmp_path_factory.mktemp("prepare")
    for run in ("FP", "DMO"):
        run_mpipaint("select", universe / run / "output", "--snap", "67", "99", "--min-m200c", "2e14",
                     "--out", out / f"{run}.hdf5")
    return out


@pytest.fixture(scope="module")
def serial(universe, tables):
    out = tables / "serial.hdf5"
    run_mpipaint("prepare", universe / "FP" / "output", "--halos", tables / "FP.hdf5", "--out", out, *SMALL)
    return out


def assert_same_file(a, b):
    with h5py.File(a) as fa, h5py.File(b) as fb:
        assert sorted(fa) == sorted(fb)
        for name in fa:
            np.testing.assert_array_equal(fa[name][()], fb[name][()], err_msg=name)
            assert dict(fa[name].attrs) == dict(fb[name].attrs)
        assert bool(fa.attrs["complete"]) and bool(fb.attrs["complete"])


def test_contents_units_and_provenance(serial, tables, universe):
    halos = read_halo_table(tables / "FP.hdf5")
    with h5py.File(serial) as f:
        assert f["dm"].shape == (3 * len(halos), 64, 64) and f["dm"].chunks == (1, 64, 64)
        assert f["dm"].compression == "gzip"
        assert {name: f[name].attrs["units"] for name in ("dm", "gas", "temperature", "xray")} == {
            "dm": "Msun/kpc^2", "gas": "Msun/kpc^2", "temperature": "keV", "xray": "erg/s/kpc^2"}
        assert f.attrs["emission_model"].startswith("APEC 3.0.8")
        assert f.attrs["deposition_mode"] == "group" and f.attrs["width_kpc"] == 4000.0
        np.testing.assert_array_equal(f["halo_id"][::3], halos["halo_id"])
        np.testing.assert_array_equal(f["axis"][:6], [0, 1, 2, 0, 1, 2])
        assert f["done"][()].all() and np.isfinite(f["xray"][()]).all()
        # each map holds the halo's hot gas, less what projects outside the 4 Mpc square (FoF members reach
        # 1.5 R200c, about 3 Mpc for the 1e15 Msun halo, so up to a quarter of its gas lies outside)
        gas_in_map = f["gas"][()].sum(axis=(1, 2), dtype=np.float64) * (4000.0 / 64) ** 2
    snapshots = {int(n): Snapshot(find_snapshot(universe / "FP" / "output", int(n))) for n in set(halos["snapshot"])}
    for k in range(len(halos)):
        hot_mass = HaloParticles(snapshots, halos, "group", "offsets").gas(k).hot().mass.sum()
        assert np.all(gas_in_map[3 * k:3 * k + 3] <= hot_mass * (1 + 1e-6))
        assert np.all(gas_in_map[3 * k:3 * k + 3] >= 0.75 * hot_mass)


def test_the_reader_gives_what_prepare_wrote_and_refuses_damage(serial, tmp_path):
    """TrainingSet (what train, evaluate and the demo read through) against the raw file; a non-finite pixel
    or an unfinished set is an error naming the file (and the image and its halo)."""
    with TrainingSet(serial) as data, h5py.File(serial) as f:
        assert data.spec == MapSpec(64, 4000.0, "group") and data.targets == ("gas", "temperature", "xray", "y")
        np.testing.assert_array_equal(data.halo_keys()[:, 1], f["halo_id"][()])
        np.testing.assert_array_equal(data.maps("xray", [0, 4]), f["xray"][[0, 4]].astype(np.float64))
        halo, snapshot = int(f["halo_id"][4]), int(f["snapshot"][4])
    broken = tmp_path / "broken.hdf5"
    shutil.copy(serial, broken)
    with h5py.File(broken, "r+") as f:
        f["gas"][4, 10, 10] = np.nan
    with TrainingSet(broken) as data, pytest.raises(InputError, match=rf"broken.hdf5: 'gas' image 4 \(halo {halo} "
                                                    rf"of snapshot {snapshot}\) has non-finite"):
        data.maps("gas", [3, 4, 5])
    with h5py.File(broken, "r+") as f:
        f.attrs["complete"] = False
    with pytest.raises(InputError, match="broken.hdf5: training set is incomplete"):
        TrainingSet(broken)


def test_two_ranks_write_the_same_file(universe, tables, serial):
    out = tables / "two.hdf5"
    run_mpipaint("prepare", universe / "FP" / "output", "--halos", tables / "FP.hdf5", "--out", out, *SMALL,
                 ranks=2)
    assert_same_file(serial, out)


def test_killed_job_resumes_to_the_same_file(universe, tables, serial, monkeypatch):
    out = tables / "killed.hdf5"
    monkeypatch.setenv(FAULT_ENV, spec("kill", "groups-written", 2))
    killed = run_mpipaint("prepare", universe / "FP" / "output", "--halos", tables / "FP.hdf5", "--out", out,
                          *SMALL, check=False)
    assert killed.returncode != 0
    with h5py.File(out) as f:
        assert not f.attrs["complete"] and f["done"][()].sum() == 6
    monkeypatch.delenv(FAULT_ENV)
    resumed = run_mpipaint("prepare", universe / "FP" / "output", "--halos", tables / "FP.hdf5", "--out", out,
                           *SMALL, ranks=2)
    assert "resuming" in resumed.stderr and "6 of" in resumed.stderr
    assert_same_file(serial, out)


def test_a_done_flag_without_its_maps_is_mapped_again(universe, tables, serial):
    """What a kill or a full disk could leave before the flags were written after the data: resume must not
    count such an image as done (it would stay all NaN in a file marked complete)."""
    out = tables / "flag_without_maps.hdf5"
    with h5py.File(serial) as done_file, h5py.File(out, "w") as f:
        for key, value in done_file.attrs.items():
            f.attrs[key] = value
        f.attrs["complete"] = False
        for name in done_file:
            source = done_file[name]
            if source.ndim == 3:  # maps: halo 0's images copied; halo 1's (3-5) flagged done without data
                dset = f.create_dataset(name, shape=source.shape, dtype=source.dtype, chunks=source.chunks,
                                        compression="gzip", fillvalue=np.nan)
                dset[:3] = source[:3]
            else:
                f.create_dataset(name, data=source[()])
            f[name].attrs.update(source.attrs)
        f["done"][...] = 0
        f["done"][:6] = 1
    resumed = run_mpipaint("prepare", universe / "FP" / "output", "--halos", tables / "FP.hdf5", "--out", out,
                           *SMALL)
    assert "3 images marked done have no maps on disk" in resumed.stderr and "3 of" in resumed.stderr
    assert_same_file(serial, out)


def test_dmo_run_gives_dm_maps_alone(universe, tables):
    out = tables / "dmo.hdf5"
    run_mpipaint("prepare", universe / "DMO" / "output", "--halos", tables / "DMO.hdf5", "--out", out, *SMALL)
    with h5py.File(out) as f:
        assert sorted(k for k in f if k in ("dm", "gas", "temperature", "xray")) == ["dm"]
        assert "emission_model" not in f.attrs and f.attrs["complete"]


def test_other_settings_are_not_resumed(universe, tables, serial):
    result = run_mpipaint("prepare", universe / "FP" / "output", "--halos", tables / "FP.hdf5", "--out", serial,
                          "--npix", "32", check=False)
    assert result.returncode == 2 and "made with other settings" in result.stderr


def test_a_resume_whose_halo_table_changed_is_refused(universe, tables, tmp_path, monkeypatch):
    """Killed, then the halo table's centres moved by 300 kpc: resuming would mix maps centred on the old
    and the new positions, so it is refused naming what changed."""
    halos = tmp_path / "halos.hdf5"
    shutil.copy(tables / "FP.hdf5", halos)
    out = tmp_path / "killed.hdf5"
    monkeypatch.setenv(FAULT_ENV, spec("kill", "groups-written", 2))
    args = ("prepare", universe / "FP" / "output", "--halos", halos, "--out", out, *SMALL)
    assert run_mpipaint(*args, check=False).returncode != 0
    monkeypatch.delenv(FAULT_ENV)
    with h5py.File(halos, "a") as f:
        f["halos/centre_x"][...] += 300.0
    refused = run_mpipaint(*args, check=False)
    assert refused.returncode == 2 and "halo_table_sha256" in refused.stderr and "run_fingerprint" not in refused.stderr


def test_a_full_disk_stops_with_a_message_and_resumes_once_space_is_freed(universe, tables, serial, tmp_path):
    """prepare on a 2 MiB file system (the set needs 1.5): the job ends naming the file and the missing
    space, leaves no lock and a consistent file with some images done and not `complete`; after the file
    system grows the same command finishes it, identical to the set written with room to spare."""
    run = fill_then_grow(tmp_path, ("prepare", universe / "FP" / "output", "--halos", tables / "FP.hdf5", *SMALL),
                         "2m")
    assert run.returncode == 1 and "out.hdf5: no space left on device" in run.log, run.log
    assert "Traceback" not in run.log and run.left == ["out.hdf5"]  # no lock, no staging directory
    with h5py.File(run.partial) as f:
        assert not f.attrs["complete"] and 0 < f["done"][()].sum() < len(f["done"])
    assert run.resumed_returncode == 0, run.resumed_log
    assert_same_file(serial, run.resumed)


def test_a_disk_too_small_for_the_layout_leaves_nothing_at_out(universe, tables, tmp_path):
    """The new file cannot even be laid out (a 16 kB file system): a message, and no file at --out that a
    rerun would take for a training set."""
    command = shlex.join(map(str, mpipaint_cmd("prepare", universe / "FP" / "output", "--halos",
                                               tables / "FP.hdf5", "--out", "OUT", *SMALL)))
    in_small_file_system(tmp_path, f"""
{command.replace("OUT", '"$SMALL/ts.hdf5"')} > {tmp_path}/log 2>&1; echo $? > {tmp_path}/rc
ls -A "$SMALL" > {tmp_path}/listing
""", "16k")
    log = (tmp_path / "log").read_text()
    assert (tmp_path / "rc").read_text().strip() == "1" and "ts.hdf5: no space left on device" in log, log
    assert (tmp_path / "listing").read_text().split() == []
