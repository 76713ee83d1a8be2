"""`mpipaint select`: schema and units, mass cut, centres, DMO matching, config, Rockstar, and MPI."""
import time

import h5py
import numpy as np
import pandas as pd
import pytest

from conftest import run_mpipaint
from mpipaint.errors import InputError
from mpipaint.io.group_catalog import GroupCatalog, find_group_catalog
from mpipaint.io.halotable import OPTIONAL_SCHEMA, SCHEMA, read_halo_table
from mpipaint.io.particle_types import DM
from mpipaint.io.snapshot import Snapshot, find_snapshot


@pytest.fixture(scope="module")
def table_path(universe, tmp_path_factory):
    out = tmp_path_factory.mktemp("select") / "halos.hdf5"
    run_mpipaint("select", universe / "FP" / "output", "--snap", "67", "99", "--min-m200c", "1e14",
                 "--dmo", universe / "DMO" / "output", "--out", out)
    return out


def test_schema_units_and_pandas(table_path):
    table = read_halo_table(table_path)
    assert list(table.columns) == list(SCHEMA) + list(OPTIONAL_SCHEMA)
    with h5py.File(table_path) as f:
        for column, (_, unit, _) in (SCHEMA | OPTIONAL_SCHEMA).items():
            assert f["halos"][column].attrs["units"] == unit
    assert table.attrs["units"]["m200c"] == "Msun" and table.attrs["units"]["centre_x"] == "kpc"
    assert set(table["snapshot"]) == {67, 99}
    assert (table["m200c"] >= 1e14).all()


@pytest.mark.parametrize("column,row,value,message", [
    ("centre_y", 2, np.nan, "halos/centre_y of halo"),
    ("count_type1", 0, -5, "halos/count_type1 of halo"),
    ("m200c", 1, 0.0, "halos/m200c of halo"),
])
def test_impossible_halo_values_are_refused_with_the_halo_named(universe, table_path, tmp_path, column, row, value,
                                                                message):
    damaged = tmp_path / "damaged.hdf5"
    damaged.write_bytes(table_path.read_bytes())
    with h5py.File(damaged, "a") as f:
        f[f"halos/{column}"][row] = value
    result = run_mpipaint("prepare", universe / "FP" / "output", "--halos", damaged, "--out", tmp_path / "ts.hdf5",
                          "--npix", "16", check=False)
    assert result.returncode == 2 and message in result.stderr and f"(row {row})" in result.stderr
    assert not (tmp_path / "ts.hdf5").exists()


def test_an_empty_halo_table_is_refused(universe, tmp_path):
    empty = tmp_path / "empty.hdf5"
    run_mpipaint("select", universe / "FP" / "output", "--snap", "99", "--min-m200c", "1e17", "--out", empty)
    with pytest.raises(InputError, match="the halo table has no halos"):
        read_halo_table(empty)


def test_every_halo_above_the_cut_is_selected_with_its_subhalo_centre(universe, table_path):
    table = read_halo_table(table_path)
    for snap in (67, 99):
        snapshot = Snapshot(find_snapshot(universe / "FP" / "output", snap))
        catalog = GroupCatalog(find_group_catalog(universe / "FP" / "output", snap))
        groups = catalog.groups("Group_M_Crit200", "GroupFirstSub")
        m200 = snapshot.units.mass_to_msun(groups["Group_M_Crit200"])
        rows = table[table["snapshot"] == snap]
        np.testing.assert_array_equal(rows["halo_id"], np.flatnonzero(m200 >= 1e14))
        sub_pos = snapshot.units.length_to_kpc(catalog.subhalos("SubhaloPos")["SubhaloPos"])
        expected = sub_pos[groups["GroupFirstSub"][rows["halo_id"]]]
        np.testing.assert_allclose(rows[["centre_x", "centre_y", "centre_z"]], expected, rtol=1e-12)
        assert np.allclose(rows["box_size"], snapshot.box_size_kpc)


def test_offsets_and_counts_read_the_halo_particles(universe, table_path):
    table = read_halo_table(table_path)
    row = table[table["snapshot"] == 99].iloc[3]
    snapshot = Snapshot(find_snapshot(universe / "FP" / "output", 99))
    lo, n = int(row["offset_type1"]), int(row["count_type1"])
    x = snapshot.read(DM, "Coordinates", lo, lo + n)
    d = x - row[["centre_x", "centre_y", "centre_z"]].to_numpy(dtype=float)
    d -= row["box_size"] * np.round(d / row["box_size"])
    assert np.median(np.linalg.norm(d, axis=1)) < row["r200c"]


def test_dmo_matches_are_bijective_and_share_particles(universe, table_path):
    table = read_halo_table(table_path)
    assert (table["dmo_halo_id"] >= 0).mean() > 0.9
    for snap in (67, 99):
        rows = table[(table["snapshot"] == snap) & (table["dmo_halo_id"] >= 0)]
        assert rows["dmo_halo_id"].is_unique
        fp = Snapshot(find_snapshot(universe / "FP" / "output", snap))
        dmo = Snapshot(find_snapshot(universe / "DMO" / "output", snap))
        dmo_catalog = GroupCatalog(find_group_catalog(universe / "DMO" / "output", snap))
        dmo_offsets = dmo_catalog.group_offsets()[:, DM]
        dmo_len = dmo_catalog.groups("GroupLenType")["GroupLenType"][:, DM]
        for lo, n, k in rows[["offset_type1", "count_type1", "dmo_halo_id"]].itertuples(index=False):
            ids_fp = fp.read(DM, "ParticleIDs", lo, lo + n)
            ids_dmo = dmo.read(DM, "ParticleIDs", dmo_offsets[k], dmo_offsets[k] + dmo_len[k])
            assert len(np.intersect1d(ids_fp, ids_dmo)) > 0.9 * len(ids_fp)
    # DMO ranks differ from FP ranks somewhere: the matching is not the identity
    assert (table["dmo_halo_id"] != table["halo_id"]).any()


def test_config_file_gives_the_same_table_as_flags(universe, table_path, tmp_path):
    config = tmp_path / "select.yaml"
    out = tmp_path / "from_config.hdf5"
    config.write_text(f"select:\n  source: {universe / 'FP' / 'output'}\n  snapshots: [67, 99]\n"
                      f"  min_m200c: 1e14\n  dmo: {universe / 'DMO' / 'output'}\n  out: {out}\n")
    run_mpipaint("select", "--config", config)
    pd.testing.assert_frame_equal(read_halo_table(out), read_halo_table(table_path), check_like=False)


def test_two_ranks_give_the_same_table(universe, table_path, tmp_path):
    out = tmp_path / "mpi.hdf5"
    run_mpipaint("select", universe / "FP" / "output", "--snap", "67", "99", "--min-m200c", "1e14",
                 "--dmo", universe / "DMO" / "output", "--out", out, ranks=2)
    pd.testing.assert_frame_equal(read_halo_table(out), read_halo_table(table_path))


def test_a_failing_rank_ends_the_job_promptly(universe_copy, tmp_path):
    (universe_copy / "FP" / "output" / "snapdir_099" / "snap_099.1.hdf5").unlink()  # rank 1's snapshot
    out = tmp_path / "never.hdf5"
    start = time.monotonic()
    result = run_mpipaint("select", universe_copy / "FP" / "output", "--snap", "67", "99",
                          "--dmo", universe_copy / "DMO" / "output", "--out", out, ranks=2, check=False, timeout=60)
    assert time.monotonic() - start < 30
    assert result.returncode != 0
    assert "on rank 1/2" in result.stderr and "snap_099.1.hdf5: chunk file missing" in result.stderr
    assert not out.exists()


def test_select_writes_only_its_own_file_at_out(universe, table_path, tmp_path):
    """`select --out` replaces a halo table mpipaint wrote, never anything else (a user's file, or the target
    of a link planted at --out or where a temporary file used to be made)."""
    notes = tmp_path / "notes.txt"
    notes.write_text("a user's notes")
    args = ("select", universe / "FP" / "output", "--snap", "99", "--out")
    refused = run_mpipaint(*args, notes, check=False)
    assert refused.returncode == 2 and "not an HDF5 file" in refused.stderr and "remove" not in refused.stderr
    link = tmp_path / "link.hdf5"
    link.symlink_to(notes)
    refused = run_mpipaint(*args, link, check=False)
    assert refused.returncode == 2 and "is a symbolic link" in refused.stderr
    out = tmp_path / "halos.hdf5"
    planted = tmp_path / "halos.hdf5.partial"
    planted.symlink_to(notes)
    run_mpipaint(*args, out)
    assert notes.read_text() == "a user's notes" and out.is_file() and not out.is_symlink()
    out.write_bytes(table_path.read_bytes())  # a table mpipaint wrote is replaced
    run_mpipaint(*args, out)
    assert set(read_halo_table(out)["snapshot"]) == {99}
