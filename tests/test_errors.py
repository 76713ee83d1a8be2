"""Malformed input: each case gives an error naming the file and what was expected, and a non-zero exit."""
import os
import shutil

import h5py
import numpy as np
import pytest

from conftest import run_mpipaint
from mpipaint.errors import InputError
from mpipaint.halos.select import select_catalog
from mpipaint.io.group_catalog import GroupCatalog, find_group_catalog
from mpipaint.io.halolists import read_rockstar
from mpipaint.io.hdf5 import ALLOW_OUTSIDE_ENV
from mpipaint.io.particle_types import DM, GAS
from mpipaint.io.snapshot import Snapshot, find_snapshot


def select_fails(universe, *extra):
    result = run_mpipaint("select", universe / "FP" / "output", "--snap", "99", "--out",
                          universe / "halos.hdf5", *extra, check=False)
    assert result.returncode == 2, result.stderr
    assert not (universe / "halos.hdf5").exists()  # nothing that looks complete
    return result.stderr


def put_catalog_in_place(universe, source: str, run: str) -> None:
    """`source`'s snapshot-99 group catalog copied over `run`'s, whose offsets file is removed (so the
    catalog's own GroupLenType gives the offsets)."""
    groups = universe / run / "output" / "groups_099"
    for chunk in groups.iterdir():
        chunk.unlink()
    for chunk in (universe / source / "output" / "groups_099").iterdir():
        (groups / chunk.name).write_bytes(chunk.read_bytes())
    (universe / run / "postprocessing" / "offsets" / "offsets_099.hdf5").unlink()


def test_missing_chunk_file(universe_copy):
    missing = universe_copy / "FP" / "output" / "snapdir_099" / "snap_099.2.hdf5"
    missing.unlink()
    with pytest.raises(InputError, match=r"snap_099\.2\.hdf5: chunk file missing"):
        Snapshot(find_snapshot(universe_copy / "FP" / "output", 99))
    assert "snap_099.2.hdf5: chunk file missing" in select_fails(universe_copy)


def test_missing_dataset(universe_copy):
    chunk = universe_copy / "FP" / "output" / "snapdir_099" / "snap_099.1.hdf5"
    with h5py.File(chunk, "a") as f:
        del f["PartType0/Density"]
    snapshot = Snapshot(find_snapshot(universe_copy / "FP" / "output", 99))
    with pytest.raises(InputError, match=r"snap_099\.1\.hdf5: dataset 'PartType0/Density' missing"):
        snapshot.read(GAS, "Density")


def test_missing_header_attribute(universe_copy):
    chunk = universe_copy / "FP" / "output" / "snapdir_099" / "snap_099.0.hdf5"
    with h5py.File(chunk, "a") as f:
        del f["Header"].attrs["Time"]
    with pytest.raises(InputError, match=r"snap_099\.0\.hdf5: header attribute 'Time' missing"):
        Snapshot(find_snapshot(universe_copy / "FP" / "output", 99))
    assert "header attribute 'Time' missing" in select_fails(universe_copy)


def test_truncated_file(universe_copy):
    chunk = universe_copy / "FP" / "output" / "snapdir_099" / "snap_099.3.hdf5"
    os.truncate(chunk, chunk.stat().st_size // 2)
    with pytest.raises(InputError, match=r"snap_099\.3\.hdf5: not a readable HDF5 file"):
        Snapshot(find_snapshot(universe_copy / "FP" / "output", 99))
    assert "not a readable HDF5 file" in select_fails(universe_copy)


def _metadata_offsets(path, every: int = 7) -> list[int]:
    """Byte offsets of `path` outside every dataset's raw data: the superblock, object headers, heaps and
    B-trees, where a flipped byte damages the file's structure rather than a number."""
    with h5py.File(path) as f:
        spans = []
        f.visititems(lambda _, obj: spans.append((obj.id.get_offset(), obj.id.get_storage_size()))
                     if isinstance(obj, h5py.Dataset) and obj.id.get_offset() is not None else None)
    return [x for x in range(0, os.path.getsize(path), every) if not any(a <= x < a + n for a, n in spans)]


def test_a_flipped_metadata_byte_is_an_error_naming_the_file(universe, xray_bundle, tmp_path):
    """120 copies of a snapshot chunk, each with one metadata byte inverted: each either reads (the byte was
    slack, or a count that the reader checks against the data) or is refused with an InputError naming its
    file; never an HDF5 error without the name, never a crash. The command line exits 2 on one of them."""
    source = universe / "DMO" / "output" / "snapdir_099" / "snap_099.0.hdf5"
    offsets = np.random.default_rng(1).choice(_metadata_offsets(source), 120, replace=False)
    refused = []
    for offset in offsets:
        damaged = tmp_path / f"flip{offset}.hdf5"  # a new name each: HDF5 keeps a file it failed on half open
        shutil.copy(source, damaged)
        with open(damaged, "r+b") as f:
            f.seek(int(offset))
            byte = f.read(1)[0]
            f.seek(int(offset))
            f.write(bytes([byte ^ 0xFF]))
        try:
            Snapshot(damaged).num_particles(DM)
        except InputError as exc:
            assert str(damaged) in str(exc)
            refused.append(damaged)
    assert refused
    result = run_mpipaint("paint", refused[0], "--model", xray_bundle[0], "--out", tmp_path / "out.hdf5",
                          check=False)
    assert result.returncode == 2 and str(refused[0]) in result.stderr and "Traceback" not in result.stderr


def test_nan_positions(universe_copy):
    chunk = universe_copy / "FP" / "output" / "snapdir_099" / "snap_099.0.hdf5"
    with h5py.File(chunk, "a") as f:
        f["PartType1/Coordinates"][5, 1] = np.nan
    snapshot = Snapshot(find_snapshot(universe_copy / "FP" / "output", 99))
    with pytest.raises(InputError, match=r"PartType1/Coordinates has non-finite values \(first at particle 5\)"):
        snapshot.read(1, "Coordinates", 0, 100)
    catalog_chunk = universe_copy / "FP" / "output" / "groups_099" / "fof_subhalo_tab_099.0.hdf5"
    with h5py.File(catalog_chunk, "a") as f:
        f["Subhalo/SubhaloPos"][2, 0] = np.nan
    expected = "fof_subhalo_tab_099.0.hdf5: 'Subhalo/SubhaloPos' has non-finite values (first at row 2)"
    assert expected in select_fails(universe_copy)


@pytest.mark.parametrize("field", ["InternalEnergy", "Masses"])
def test_negative_gas_energies_and_masses(universe_copy, field):
    chunk = universe_copy / "FP" / "output" / "snapdir_099" / "snap_099.0.hdf5"
    with h5py.File(chunk, "a") as f:
        f[f"PartType0/{field}"][7] = -f[f"PartType0/{field}"][7]
    snapshot = Snapshot(find_snapshot(universe_copy / "FP" / "output", 99))
    with pytest.raises(InputError, match=rf"PartType0/{field} has 1 values that no particle can have "
                                         r"\(first at particle 7"):
        snapshot.read(GAS, field, 0, 100)


def test_unsigned_group_first_sub_sentinel_means_no_subhalo(universe_copy):
    """Some writers store GroupFirstSub as uint32, -1 becoming 4294967295: the group keeps its own centre."""
    chunk = universe_copy / "FP" / "output" / "groups_099" / "fof_subhalo_tab_099.0.hdf5"
    with h5py.File(chunk, "a") as f:
        first_sub = f["Group/GroupFirstSub"][()].astype(np.int64)
        first_sub[0] = -1
        del f["Group/GroupFirstSub"]
        f["Group/GroupFirstSub"] = first_sub.astype(np.uint32)
    out = universe_copy / "halos.hdf5"
    run_mpipaint("select", universe_copy / "FP" / "output", "--snap", "99", "--out", out)
    with h5py.File(chunk) as f:
        group_pos = f["Group/GroupPos"][0] * f["Header"].attrs["Time"] / f["Header"].attrs["HubbleParam"]
    with h5py.File(out) as f:
        row = np.flatnonzero(f["halos/halo_id"][()] == 0)  # the most massive group: above the cut
        assert len(row) == 1
        np.testing.assert_allclose([f[f"halos/centre_{c}"][row[0]] for c in "xyz"], group_pos, rtol=1e-5)


def test_catalog_from_another_snapshot(universe_copy):
    output = universe_copy / "FP" / "output"
    snapshot = Snapshot(find_snapshot(output, 99))
    with pytest.raises(InputError, match=r"catalog is at a=0.666667 but snapshot .* is at a=1"):
        GroupCatalog(find_group_catalog(output, 67)).check_matches(snapshot)


def test_catalog_with_more_particles_than_its_snapshot(universe_copy):
    fp_catalog = GroupCatalog(find_group_catalog(universe_copy / "FP" / "output", 99))
    low_res = Snapshot(find_snapshot(universe_copy / "FP-3" / "output", 99))
    with pytest.raises(InputError, match=r"groups reach particle \d+ of PartType\d, but snapshot .* holds"):
        fp_catalog.check_matches(low_res)
    # the same mismatch through the CLI: FP-3 particles with the FP catalog put in its place
    put_catalog_in_place(universe_copy, source="FP", run="FP-3")
    result = run_mpipaint("select", universe_copy / "FP-3" / "output", "--snap", "99", "--out",
                          universe_copy / "t.hdf5", check=False)
    assert result.returncode == 2 and "groups reach particle" in result.stderr


def test_stale_offsets_file_copied_from_another_snapshot(universe_copy):
    """What happened: offsets_067 copied over offsets_099, projected DM mass 48 % low without a word."""
    offsets = universe_copy / "FP" / "postprocessing" / "offsets"
    (offsets / "offsets_099.hdf5").write_bytes((offsets / "offsets_067.hdf5").read_bytes())
    assert "offsets_099.hdf5: group offsets are not the running sum of" in select_fails(universe_copy)


def test_the_twin_runs_catalog_at_the_same_redshift(universe_copy):
    """The DMO run's catalog put in the FP run's place: every count fits, the DM particle mass does not."""
    put_catalog_in_place(universe_copy, source="DMO", run="FP")
    dmo_catalog = GroupCatalog(find_group_catalog(universe_copy / "DMO" / "output", 99))
    with pytest.raises(InputError, match=r"DM particle mass .* differs from snapshot .*MassTable\[1\]"):
        dmo_catalog.check_matches(Snapshot(find_snapshot(universe_copy / "FP" / "output", 99)))
    assert "differs from snapshot" in select_fails(universe_copy)


def test_missing_snapshot_and_bad_rockstar(tmp_path):
    with pytest.raises(InputError, match=r"no snapshot 42 \(expected snapdir_042/ or snap_042.hdf5 or snapshot_042 "):
        find_snapshot(tmp_path, 42)
    bogus = tmp_path / "out_0.list"
    bogus.write_text("1 2 3\n")
    with pytest.raises(InputError, match=r"out_0.list: no '#' line naming the columns"):
        read_rockstar(bogus)


def test_bad_config(universe, tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("select:\n  min_m200c: 1e14\n  snapshotz: [99]\n")  # 1e14: a string to PyYAML
    result = run_mpipaint("select", universe / "FP" / "output", "--out", tmp_path / "t.hdf5",
                          "--config", config, check=False)
    assert result.returncode == 2
    assert "bad.yaml:select: unknown key(s) ['snapshotz']" in result.stderr
    config.write_text("select:\n  min_m200c: lots\n")
    result = run_mpipaint("select", universe / "FP" / "output", "--snap", "99", "--out", tmp_path / "t.hdf5",
                          "--config", config, check=False)
    assert result.returncode == 2 and "select.min_m200c: expected a finite number, got 'lots'" in result.stderr


def test_raw_exceptions_become_messages_naming_the_input(universe, small_trainset, xray_bundle, tmp_path):
    """Each of these used to end in a traceback (FileNotFoundError, Errno, an HDF5 chunk error, NaN without
    the image): now exit 2 and a message naming what is wrong."""
    in_a_file = tmp_path / "a_file"
    in_a_file.write_text("x")
    cases = [
        (("train", "--data", tmp_path / "missing.hdf5", "--out", tmp_path / "b"), "missing.hdf5: file not found"),
        (("select", universe / "FP" / "output", "--snap", "99", "--out", in_a_file / "halos.hdf5"),
         "cannot create its directory"),
        (("synth", "--out", in_a_file / "universe", "--halos", "4", "--dm-particles", "1000", "--snap", "99"),
         "cannot create its directory"),
        (("train", "--data", small_trainset, "--out", in_a_file / "bundle", "--epochs", "1"),
         "cannot create its directory"),
        (("prepare", universe / "FP" / "output", "--halos", tmp_path / "h.hdf5", "--out", tmp_path / "t.hdf5",
          "--npix", "100000"), "need 8 <= npix <= 8192"),
    ]
    nan_maps = tmp_path / "nan.hdf5"
    nan_maps.write_bytes(small_trainset.read_bytes())
    with h5py.File(nan_maps, "a") as f:
        image = f["dm"][4]
        image[3, 3] = np.nan
        f["dm"][4] = image
        halo = int(f["halo_id"][4])
    cases.append((("evaluate", "--model", xray_bundle[0], "--data", nan_maps, "--split", "all", "--out",
                   tmp_path / "report"), f"'dm' image 4 (halo {halo} of snapshot"))
    for args, message in cases:
        result = run_mpipaint(*args, check=False)
        assert result.returncode == 2 and message in result.stderr, (args, result.stderr[-500:])


def _plain_table(path, halo_id=None, m200c=None) -> None:
    """A plain HDF5 halo table of four halos at the box centre; `halo_id` / `m200c`: make that dataset
    yourself (a function of the open file and the name)."""
    with h5py.File(path, "w") as f:
        for name, make, values in (("halo_id", halo_id, np.arange(4)), ("m200c", m200c, np.full(4, 1e15))):
            if make is None:
                f[name] = values
            else:
                make(f, name)
        for c in "xyz":
            f[c] = np.full(4, 50.0)
            f[c].attrs["units"] = "cMpc/h"
        f["m200c"].attrs["units"] = "Msun/h"


def test_inputs_that_reach_into_other_files_are_refused(universe_copy, xray_bundle, tmp_path, monkeypatch):
    """External raw storage reads any file's bytes as numbers, an external link reads another HDF5 file, a
    virtual dataset whose source is gone reads as zeros: each is refused naming the dataset and where it
    points, in a snapshot and in a halo table, and by `paint` with exit 2; only MPIPAINT_ALLOW_HDF5_OUTSIDE=1
    lets an external link through (a missing virtual source never)."""
    box = universe_copy / "DMO" / "output" / "snapdir_099"
    secret = tmp_path / "notes.txt"
    secret.write_bytes(b"a user's private notes " * 10)
    stored_outside = tmp_path / "stored_outside.hdf5"
    _plain_table(stored_outside, halo_id=lambda f, name: f.create_dataset(
        name, shape=(4,), dtype="<i8", external=[(str(secret), 0, 32)]))
    snapshot = Snapshot(box)
    with pytest.raises(InputError, match=r"stored_outside\.hdf5: dataset 'halo_id' is stored in external "
                                         r"file\(s\) .*notes\.txt"):
        select_catalog(snapshot, stored_outside, 99, 1e14)
    virtual = tmp_path / "virtual.hdf5"

    def missing_source(f, name):
        layout = h5py.VirtualLayout(shape=(4,), dtype="f8")
        layout[:] = h5py.VirtualSource(str(tmp_path / "gone.hdf5"), "m200c", shape=(4,))
        f.create_virtual_dataset(name, layout, fillvalue=0)

    _plain_table(virtual, m200c=missing_source)
    with pytest.raises(InputError, match=r"virtual\.hdf5: dataset 'm200c' is virtual, mapped from .*gone\.hdf5 "
                                         r"\(missing: .*gone\.hdf5\)"):
        select_catalog(snapshot, virtual, 99, 1e14)

    result = run_mpipaint("paint", box, "--catalog", stored_outside, "--model", xray_bundle[0], "--out",
                          tmp_path / "p.hdf5", check=False)
    assert result.returncode == 2 and "is stored in external file(s)" in result.stderr, result.stderr[-400:]
    assert not (tmp_path / "p.hdf5").exists()

    positions = Snapshot(box).read(DM, "Coordinates")
    chunk = box / "snap_099.1.hdf5"
    elsewhere = tmp_path / "elsewhere.hdf5"
    with h5py.File(chunk, "a") as f:
        with h5py.File(elsewhere, "w") as target:
            target["positions"] = f["PartType1/Coordinates"][()]
        del f["PartType1/Coordinates"]
        f["PartType1/Coordinates"] = h5py.ExternalLink(str(elsewhere), "/positions")
    message = r"snap_099\.1\.hdf5: 'PartType1/Coordinates' is an external link to '/positions' in .*elsewhere\.hdf5"
    with pytest.raises(InputError, match=message):
        Snapshot(box).read(DM, "Coordinates")
    monkeypatch.setenv(ALLOW_OUTSIDE_ENV, "1")
    np.testing.assert_array_equal(Snapshot(box).read(DM, "Coordinates"), positions)
    with pytest.raises(InputError, match="missing: "):
        select_catalog(snapshot, virtual, 99, 1e14)
