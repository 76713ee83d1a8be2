"""mpipaint's readers against illustris_python, an independent reader, on the example universe."""
import dataclasses

import h5py
import numpy as np
import pytest

from mpipaint.example.synth import generate
from mpipaint.io.group_catalog import GroupCatalog, find_group_catalog
from mpipaint.io.hdf5 import OpenFiles
from mpipaint.io.particle_types import DM, GAS, STARS
from mpipaint.io.snapshot import Snapshot, find_snapshot
from mpipaint.options import SynthConfig

il = pytest.importorskip("illustris_python")  # the independent reference; the tests need it
pytestmark = pytest.mark.reference
PTYPE_NAMES = {GAS: "gas", DM: "dm", STARS: "stars"}


@pytest.fixture(scope="module", params=[67, 99])
def opened(universe, request):
    base = str(universe / "FP" / "output")
    snap = request.param
    return base, snap, Snapshot(find_snapshot(base, snap)), GroupCatalog(find_group_catalog(base, snap))


def test_catalog_header_and_tables_equal_illustris_python(opened):
    base, snap, _, catalog = opened
    header = il.groupcat.loadHeader(base, snap)
    assert catalog.num_groups == header["Ngroups_Total"]
    assert catalog.num_subhalos == header["Nsubgroups_Total"]
    assert catalog.redshift == header["Redshift"]
    fields = ["GroupPos", "GroupMass", "Group_M_Crit200", "Group_R_Crit200", "GroupLenType", "GroupFirstSub"]
    theirs = il.groupcat.loadHalos(base, snap, fields=fields)
    ours = catalog.groups(*fields)
    for name in fields:
        np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)
    sub_fields = ["SubhaloPos", "SubhaloLenType", "SubhaloGrNr"]
    theirs = il.groupcat.loadSubhalos(base, snap, fields=sub_fields)
    ours = catalog.subhalos(*sub_fields)
    for name in sub_fields:
        np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)


def test_halo_particles_equal_loadhalo(opened):
    base, snap, snapshot, catalog = opened
    offsets = catalog.group_offsets()
    lengths = catalog.groups("GroupLenType")["GroupLenType"]
    for halo in (0, catalog.num_groups // 2, catalog.num_groups - 1):
        for ptype, name in PTYPE_NAMES.items():
            fields = ["Coordinates", "ParticleIDs"] + (["Masses", "Density", "InternalEnergy"] if ptype == GAS else [])
            theirs = il.snapshot.loadHalo(base, snap, halo, name, fields=fields)
            lo, hi = offsets[halo, ptype], offsets[halo, ptype] + lengths[halo, ptype]
            for field in fields:
                ours = snapshot.read(ptype, field, lo, hi, physical=False)
                np.testing.assert_array_equal(ours, theirs[field], err_msg=f"halo {halo} {name} {field}")


def test_ranges_across_chunk_boundaries_equal_loadsubset(opened):
    base, snap, snapshot, _ = opened
    everything = il.snapshot.loadSubset(base, snap, "gas", fields=["Coordinates", "StarFormationRate"])
    ends = snapshot.file_offsets[1:-1, GAS]
    for boundary in ends:  # a range straddling every chunk boundary
        lo, hi = boundary - 17, boundary + 23
        np.testing.assert_array_equal(snapshot.read(GAS, "Coordinates", lo, hi, physical=False),
                                      everything["Coordinates"][lo:hi])
    np.testing.assert_array_equal(snapshot.read(GAS, "StarFormationRate"), everything["StarFormationRate"])


def test_dm_masses_come_from_masstable(opened):
    _, _, snapshot, _ = opened
    masses = snapshot.read(DM, "Masses", 10, 20)
    assert np.all(masses == snapshot.units.mass_to_msun(snapshot.header.mass_table[DM]))
    assert snapshot.header.mass_table[DM] > 0


def test_offsets_file_cumsum_and_gadget4_agree(universe, tmp_path):
    catalog = GroupCatalog(find_group_catalog(universe / "FP" / "output", 99))
    assert catalog.offsets_file().exists()
    from_file = catalog.group_offsets()
    lengths = catalog.groups("GroupLenType")["GroupLenType"].astype(np.int64)
    np.testing.assert_array_equal(from_file[1:], np.cumsum(lengths, axis=0)[:-1])
    g4_dir = generate(dataclasses.replace(SynthConfig(), flavour="gadget4", snapshots=((99, 0.0),),
                                          degraded=()), tmp_path / "g4")
    g4_catalog = GroupCatalog(find_group_catalog(g4_dir / "FP" / "output", 99))
    assert not g4_catalog.offsets_file().exists()
    np.testing.assert_array_equal(g4_catalog.group_offsets(), from_file)


def test_gadget4_flavour_reads_to_same_physical_values(universe, tmp_path):
    g4_dir = generate(dataclasses.replace(SynthConfig(), flavour="gadget4", snapshots=((99, 0.0),),
                                          degraded=()), tmp_path / "g4")
    tng = Snapshot(find_snapshot(universe / "FP" / "output", 99))
    g4 = Snapshot(find_snapshot(g4_dir / "FP" / "output", 99))
    assert g4.header.flavour == "gadget4" and tng.header.flavour == "tng"
    assert g4.box_size_kpc == tng.box_size_kpc
    for ptype, field in ((DM, "Coordinates"), (DM, "Masses"), (GAS, "Density"), (GAS, "Masses")):
        np.testing.assert_array_equal(g4.read(ptype, field), tng.read(ptype, field))
    np.testing.assert_array_equal(g4.temperature(0, 1000), tng.temperature(0, 1000))


def test_physical_units_match_tng_scaling_attributes(opened):
    """Our conversion equals the a^a_scaling h^h_scaling to_cgs recipe stored on TNG datasets."""
    _, _, snapshot, _ = opened
    a, h = snapshot.header.scale_factor, snapshot.header.hubble
    with h5py.File(snapshot.files[0]) as f:
        for field, unit_cgs in (("Coordinates", 3.085678e21), ("Masses", 1.989e33), ("Density", 1.0)):
            dset = f[f"PartType0/{field}"]
            factor = a ** dset.attrs["a_scaling"] * h ** dset.attrs["h_scaling"] * dset.attrs["to_cgs"] / unit_cgs
            np.testing.assert_allclose(snapshot.read(GAS, field, 0, 5), dset[:5] * factor, rtol=1e-6)


def test_single_file_and_one_chunk_paths(universe, tmp_path):
    snapdir = universe / "FP" / "output" / "snapdir_099"
    via_chunk = Snapshot(snapdir / "snap_099.2.hdf5")  # any chunk finds its siblings
    assert via_chunk.files == Snapshot(snapdir).files and len(via_chunk.files) == 4
    single = generate(dataclasses.replace(SynthConfig(), num_files=1, snapshots=((99, 0.0),), degraded=()),
                      tmp_path / "one")
    chunk = single / "FP" / "output" / "snapdir_099" / "snap_099.0.hdf5"
    flat = single / "FP" / "output" / "snap_099.hdf5"
    chunk.rename(flat)  # the Illustris-style single snapshot file
    chunk.parent.rmdir()
    one = Snapshot(find_snapshot(single / "FP" / "output", 99))
    assert one.files == [flat]
    np.testing.assert_array_equal(one.read(GAS, "Coordinates"), via_chunk.read(GAS, "Coordinates"))


def test_empty_ranges_keep_row_shape_and_dtype(opened):
    _, _, snapshot, _ = opened
    for ptype, field, shape in ((DM, "Coordinates", (0, 3)), (GAS, "Density", (0,)), (DM, "ParticleIDs", (0,))):
        middle = snapshot.num_particles(ptype) // 2
        empty = snapshot.read(ptype, field, middle, middle)
        full = snapshot.read(ptype, field, middle, middle + 1)
        assert empty.shape == shape and empty.dtype == full.dtype
    assert snapshot.read(DM, "Masses", 3, 3).shape == (0,)  # from MassTable


def test_reads_across_many_chunks_keep_few_files_open(tmp_path):
    """Halo-sized reads that wander over 7 chunk files equal illustris_python's, while the snapshot keeps at
    most OpenFiles' capacity (4) of them open, and none once closed (a writer may then open them)."""
    base = generate(dataclasses.replace(SynthConfig(), num_files=7, snapshots=((99, 0.0),), degraded=()),
                    tmp_path / "seven") / "FP" / "output"
    everything = il.snapshot.loadSubset(str(base), 99, "dm", fields=["Coordinates"])
    open_files = lambda: h5py.h5f.get_obj_count(h5py.h5f.OBJ_ALL, h5py.h5f.OBJ_FILE)  # noqa: E731
    before = open_files()
    snapshot = Snapshot(find_snapshot(base, 99))
    ends = snapshot.file_offsets[:, DM]
    assert len(snapshot.files) == 7
    for k in (0, 6, 1, 5, 2, 4, 3, 0, 6, 2):  # more chunks than are kept open, revisited after eviction
        lo, hi = ends[k] + 3, min(ends[k] + 500, ends[k + 1] + 11, ends[-1])  # some cross into chunk k + 1
        np.testing.assert_array_equal(snapshot.read(DM, "Coordinates", lo, hi, physical=False),
                                      everything[lo:hi], err_msg=f"chunk {k}")
        assert open_files() - before <= OpenFiles().capacity
    snapshot.close()
    assert open_files() == before
    with h5py.File(snapshot.files[0], "a"):
        pass
