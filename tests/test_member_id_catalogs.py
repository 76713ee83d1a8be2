"""Catalogs that list their members by particle ID, Gadget-III binary FoF (Quijote's format) and AHF: files
written by the test to each format's layout from the example DMO box's own groups, beside a Gadget binary
copy of the box in shuffled order, so that members can only be found by their IDs."""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import run_mpipaint
from gadget_files import write_gadget3_fof, write_gadget3_subfind, write_gadget_binary

from mpipaint.errors import InputError
from mpipaint.io.gadget3_groups import M200C_DEFINITION, Gadget3FoF
from mpipaint.io.group_catalog import GroupCatalog, find_group_catalog
from mpipaint.io.halo_catalog_kinds import catalog_kind, open_halo_catalog
from mpipaint.io.halotable import read_halo_table
from mpipaint.io.particle_types import DM
from mpipaint.io.snapshot import Snapshot

FP32 = ("--precision", "fp32")


def shuffled_box(universe, out, order="<", id_dtype="u4", seed=5) -> dict:
    """The DMO run at snapshot 99 as Gadget-III would leave it: a two-file format-1 Gadget binary snapshot
    `out/snapshot_099` with the particles in random order; returns what a halo finder would say of its groups
    (those of the example's TNG catalog: DM members, centres at the catalog's centres, code units), with the
    TNG snapshot and catalog."""
    snapshot = Snapshot(universe / "DMO" / "output" / "snapdir_099")
    catalog = GroupCatalog(find_group_catalog(universe / "DMO" / "output", 99))
    ids = snapshot.read(DM, "ParticleIDs", physical=False)
    order_in_box = np.random.default_rng(seed).permutation(len(ids))
    header = snapshot.header
    particles = {DM: {"POS": snapshot.read(DM, "Coordinates", physical=False)[order_in_box],
                      "VEL": snapshot.read(DM, "Velocities", physical=False)[order_in_box],
                      "ID": ids[order_in_box].astype(id_dtype)}}
    cosmology = {"time": header.scale_factor, "redshift": header.redshift, "box_size": header.box_size,
                 "omega0": header.omega_m, "omega_lambda": header.omega_lambda, "hubble": header.hubble}
    out.mkdir(parents=True)
    write_gadget_binary(out / "snapshot_099", particles, list(header.mass_table), cosmology, 1, order=order,
                        num_files=2)
    groups = catalog.groups("GroupLenType", "GroupMassType", "GroupPos", "GroupFirstSub")
    centres = np.where((groups["GroupFirstSub"] >= 0)[:, None],
                       catalog.subhalos("SubhaloPos")["SubhaloPos"][np.maximum(groups["GroupFirstSub"], 0)],
                       groups["GroupPos"])
    length_type = groups["GroupLenType"].copy()
    length_type[:, [t for t in range(6) if t != DM]] = 0  # a DMO run's groups hold DM alone
    offsets = catalog.group_offsets()[:, DM]
    velocities = snapshot.read(DM, "Velocities", physical=False)  # GroupVel: members' mean velocity times a
    group_vel = np.array([velocities[o:o + n].mean(axis=0) if n else np.zeros(3)
                          for o, n in zip(offsets, length_type[:, DM])]) * header.scale_factor**1.5
    return {"snapshot": snapshot, "catalog": catalog, "centres": centres, "velocities": group_vel,
            "length_type": length_type, "mass_type": groups["GroupMassType"] * (length_type > 0),
            "members": [ids[o:o + n] for o, n in zip(offsets, length_type[:, DM])]}


def shuffled_run(universe, out, num_files=2, order="<", id_dtype="u4", sfr=False):
    """`shuffled_box` with its groups as Gadget-III FoF files: (run directory, TNG snapshot, catalog)."""
    box = shuffled_box(universe, out, order, id_dtype)
    write_gadget3_fof(out, 99, box["length_type"][:, DM], box["centres"], box["velocities"],
                      box["mass_type"].sum(axis=1), box["length_type"], box["mass_type"],
                      np.concatenate(box["members"]), num_files=num_files, order=order, id_dtype=id_dtype,
                      sfr=np.zeros(len(box["centres"])) if sfr else None)
    return out, box["snapshot"], box["catalog"]


@pytest.fixture(scope="module")
def tng_painted(universe, xray_bundle, tmp_path_factory) -> dict:
    """The group-ordered DMO box painted through its TNG offsets (halos above 3e13 Msun): the reference rows."""
    out = tmp_path_factory.mktemp("tng_painted") / "tng.hdf5"
    run_mpipaint("paint", *FP32, universe / "DMO" / "output" / "snapdir_099", "--model", xray_bundle[0],
                 "--out", out, "--min-m200c", "3e13")
    with h5py.File(out) as f:
        return {name: f[name][()] for name in ("halo_id", "lx", "mdm_proj")}


@pytest.mark.parametrize("num_files, order, id_dtype, sfr", [(1, "<", "u4", False), (3, ">", "u8", True),
                                                              (4, "<", "u8", False)])
def test_gadget3_fof_gives_the_groups_written(universe, tmp_path, num_files, order, id_dtype, sfr):
    """Every layout real runs use (one or several files, either byte order, 32/64-bit IDs, with and without
    GroupSFR) reads back as the TNG catalog it was written from: the same groups, centres, velocities and DM
    counts, the FoF mass standing in for M200c and named so, and each group's member IDs in its range."""
    run, snapshot, catalog = shuffled_run(universe, tmp_path / "run", num_files, order, id_dtype, sfr)
    box = Snapshot(run / "snapshot_099")
    assert catalog_kind(run / "groups_099").name == "Gadget-III FoF catalog"
    halos = open_halo_catalog(run / "groups_099", box)
    reference = catalog.halos(snapshot)
    np.testing.assert_array_equal(halos.halo_id, reference.halo_id)
    np.testing.assert_allclose(halos.centre_kpc, reference.centre_kpc, rtol=1e-7)
    offsets = catalog.group_offsets()[:, DM]
    velocities = snapshot.read(DM, "Velocities")  # peculiar, km/s
    mean_velocity = [velocities[o:o + n].mean(axis=0) for o, n in zip(offsets, halos.counts[:, DM])]
    np.testing.assert_allclose(halos.velocity_kms, mean_velocity, rtol=1e-5, atol=1e-3)
    np.testing.assert_array_equal(halos.counts[:, DM], reference.counts[:, DM])
    groups = catalog.groups("GroupMassType")["GroupMassType"][:, DM]
    np.testing.assert_allclose(halos.m200c_msun, snapshot.units.to_physical("GroupMass", groups), rtol=1e-6)
    assert halos.m200c_definition == M200C_DEFINITION and halos.cut_mass_msun is halos.m200c_msun
    ids = Gadget3FoF(run / "groups_099").member_ids()
    snapshot_ids = snapshot.read(DM, "ParticleIDs", physical=False)
    for group in (0, len(halos) // 2, len(halos) - 1):
        start, length = halos.member_ranges[group]
        np.testing.assert_array_equal(ids.read(start, start + length),
                                      snapshot_ids[offsets[group]:offsets[group] + length])


@pytest.mark.tf
def test_a_shuffled_gadget3_box_paints_as_its_group_ordered_twin(universe, xray_bundle, tng_painted, tmp_path):
    """Group maps depend on which particles are members: the shuffled binary box painted through its FoF
    member IDs (by `mpipaint select` of the run directory and by `paint` finding groups_099 beside the box,
    on 1 and 2 ranks) gives the rows of the group-ordered HDF5 box painted through TNG offsets, for every
    halo both select; the file says what stands in for M200c."""
    run, _, _ = shuffled_run(universe, tmp_path / "run", num_files=3, order=">")
    run_mpipaint("select", run, "--snap", "99", "--out", tmp_path / "halos.hdf5", "--min-m200c", "3e13")
    with h5py.File(tmp_path / "halos.hdf5") as f:
        assert f.attrs["m200c_definition"] == M200C_DEFINITION
        assert (f["halos/member_count"][()] == f["halos/count_type1"][()]).all()
    reference = tng_painted
    for ranks, catalog in ((1, ()), (2, ("--catalog", tmp_path / "halos.hdf5"))):
        out = tmp_path / f"gadget3_{ranks}.hdf5"
        run_mpipaint("paint", *FP32, run / "snapshot_099", "--model", xray_bundle[0], "--out", out,
                     "--min-m200c", "3e13", *catalog, "--chunk-particles", "20000", ranks=ranks)
        with h5py.File(out) as f:
            assert f.attrs["complete"] and f.attrs["read_strategy"] == "slabs"
            assert f.attrs["m200c_definition"] == M200C_DEFINITION
            got = {name: f[name][()] for name in ("halo_id", "lx", "mdm_proj")}
        common, mine, theirs = np.intersect1d(got["halo_id"], reference["halo_id"], return_indices=True)
        assert len(common) >= 10
        # the same members summed in another order: DM totals agree to float rounding (1e-8 seen); the net
        # moves Lx by up to 3e-4 for pixels that differ in their last bits
        np.testing.assert_allclose(got["mdm_proj"][mine], reference["mdm_proj"][theirs], rtol=1e-7,
                                   err_msg=f"{ranks} ranks")
        np.testing.assert_allclose(got["lx"][mine], reference["lx"][theirs], rtol=2e-3, err_msg=f"{ranks} ranks")


def test_damaged_or_foreign_gadget3_files_are_refused_naming_the_file(universe, tmp_path):
    run, _, _ = shuffled_run(universe, tmp_path / "run", num_files=2)
    groups = run / "groups_099"
    tab = groups / "group_tab_099.1"
    tab.write_bytes(tab.read_bytes()[:-4])
    with pytest.raises(InputError, match=r"group_tab_099.1: not a Gadget-III group_tab file"):
        Gadget3FoF(groups).groups()
    (groups / "group_ids_099.1").unlink()
    with pytest.raises(InputError, match=r"group_ids_099.1: catalog file missing \(NTask = 2"):
        Gadget3FoF(groups)


@pytest.mark.mpi
def test_member_ids_of_another_run_are_an_error_before_anything_is_written(universe, xray_bundle, tmp_path):
    """IDs that the box's particles do not carry (the lists of another run) stop paint with exit 2 and a
    message naming the catalog; no output is left."""
    run, _, _ = shuffled_run(universe, tmp_path / "run", num_files=1)
    ids_file = run / "groups_099" / "group_ids_099.0"
    raw = bytearray(ids_file.read_bytes())
    ids = np.frombuffer(raw, "<u4", offset=28)
    raw[28:] = (ids + np.uint32(10_000_000)).tobytes()
    ids_file.write_bytes(bytes(raw))
    out = tmp_path / "x.hdf5"
    result = run_mpipaint("paint", *FP32, run / "snapshot_099", "--model", xray_bundle[0], "--out", out,
                          ranks=2, check=False)
    assert result.returncode == 2, result.stderr
    assert "groups_099: the halos list" in result.stderr and "another run or snapshot" in result.stderr
    assert not out.exists() or not h5py.File(out).attrs.get("complete", False)


def write_subfind(directory, box: dict, num_files: int = 2, order: str = ">", id_dtype="u8",
                  optional: bool = True) -> Path:
    """`box`'s groups as Gadget-III Subfind files in `directory`/groups_099 (beside any FoF files there), from
    the TNG catalog's own M200c, R200c, centres and subhalos; with `optional`, the velocity-dispersion and
    per-type mass blocks some runs write."""
    catalog = box["catalog"]
    tng = catalog.groups("GroupPos", "Group_M_Crit200", "Group_R_Crit200", "GroupNsubs", "GroupFirstSub")
    lengths = box["length_type"][:, DM]
    n = len(lengths)
    groups = {"GroupLen": lengths, "GroupOffset": np.concatenate([[0], np.cumsum(lengths)[:-1]]),
              "GroupMass": box["mass_type"].sum(axis=1), "GroupPos": tng["GroupPos"],
              **{name: tng[f"Group_{kind}_Crit200"] for kind in "MR" for name in
                 (f"Group_{kind}_Mean200", f"Group_{kind}_Crit200", f"Group_{kind}_TopHat200")},
              "GroupContaminationCount": np.zeros(n), "GroupContaminationMass": np.zeros(n),
              "GroupNsubs": tng["GroupNsubs"], "GroupFirstSub": np.maximum(tng["GroupFirstSub"], 0)}
    sub = catalog.subhalos("SubhaloPos", "SubhaloGrNr")
    m = len(sub["SubhaloPos"])
    subs = {"SubLen": np.zeros(m), "SubOffset": np.zeros(m), "SubParent": np.zeros(m), "SubMass": np.zeros(m),
            "SubPos": sub["SubhaloPos"], **{name: np.zeros((m, 3)) for name in ("SubVel", "SubCM", "SubSpin")},
            **{name: np.zeros(m) for name in ("SubVelDisp", "SubVmax", "SubVmaxRad", "SubHalfMassRad")},
            "SubMostBoundID": np.zeros(m), "SubGrNr": sub["SubhaloGrNr"]}
    if optional:
        groups["Group_VelDisp"], subs["SubMassType"] = np.ones((n, 3)), np.ones((m, 6))
    return write_gadget3_subfind(directory, 99, groups, subs, np.concatenate(box["members"]), num_files, order,
                                 id_dtype)


@pytest.mark.parametrize("num_files, order, id_dtype, optional", [(1, "<", "u4", False), (3, ">", "u8", True)])
def test_gadget3_subfind_gives_m200c_and_centres_and_wins_over_fof_files(universe, tmp_path, num_files, order,
                                                                          id_dtype, optional):
    """Subfind files (written beside the FoF files, as P-Gadget3 leaves them) read back as the TNG catalog they
    were written from: its M200c, R200c and centres (the first subhalo's), DM counts and member IDs; the
    directory is read as Subfind, no stand-in for M200c named."""
    run, snapshot, catalog = shuffled_run(universe, tmp_path / "run", num_files=2)
    box = shuffled_box(universe, tmp_path / "other")
    groups = write_subfind(run, box, num_files, order, id_dtype, optional)
    assert catalog_kind(groups).name == "Gadget-III Subfind catalog"
    halos = open_halo_catalog(groups, Snapshot(run / "snapshot_099"))
    reference = catalog.halos(snapshot)
    np.testing.assert_array_equal(halos.halo_id, reference.halo_id)
    for got, expected in ((halos.centre_kpc, reference.centre_kpc), (halos.m200c_msun, reference.m200c_msun),
                          (halos.r200c_kpc, reference.r200c_kpc)):
        np.testing.assert_allclose(got, expected, rtol=1e-7)
    np.testing.assert_array_equal(halos.counts[:, DM], reference.counts[:, DM])
    assert halos.m200c_definition is None and halos.velocity_kms is None
    members = catalog_kind(groups).member_ids(groups)
    start, length = halos.member_ranges[-1]
    np.testing.assert_array_equal(members.read(start, start + length), box["members"][-1])


AHF_COLUMNS = ("ID(1)", "hostHalo(2)", "numSubStruct(3)", "Mvir(4)", "npart(5)", "Xc(6)", "Yc(7)", "Zc(8)", "VXc(9)",
               "VYc(10)", "VZc(11)", "Rvir(12)", "Rmax(13)")
AHF_ID_BASE = 1000  # AHF's halo IDs are its own, not the TNG group index


def write_ahf(directory, box: dict, with_types: bool = True) -> Path:
    """`box`'s groups as AHF >= 1.0 leaves them, PREFIX.z0.000.AHF_halos and .AHF_particles (kpc/h comoving,
    Msun/h, peculiar km/s; IDs AHF_ID_BASE + group), plus one subhalo of the first group (ID 99999, half its
    particles, 50 kpc/h off its centre) listed after it, as AHF nests them."""
    snapshot = box["snapshot"]
    a = snapshot.header.scale_factor
    rows, particles = [], []
    for group, members in enumerate(box["members"]):
        mvir = box["mass_type"][group].sum() * 1e10
        rows.append((AHF_ID_BASE + group, -1, int(group == 0), mvir, len(members), *box["centres"][group],
                     *(box["velocities"][group] / a**1.5 * np.sqrt(a)), 500.0, 100.0))
        particles.append((AHF_ID_BASE + group, members))
        if group == 0:
            half = members[:len(members) // 2]
            rows.append((99999, AHF_ID_BASE, 0, mvir / 2, len(half), *(box["centres"][0] + 50.0), 0.0, 0.0, 0.0,
                         200.0, 50.0))
            particles.append((99999, half))
    halos = Path(directory) / "box.z0.000.AHF_halos"
    with open(halos, "w") as handle:
        handle.write("#" + "\t".join(AHF_COLUMNS) + "\n")
        for row in rows:
            handle.write("\t".join(f"{v:.9g}" if isinstance(v, float) else str(v) for v in row) + "\n")
    with open(halos.with_name("box.z0.000.AHF_particles"), "w") as handle:
        handle.write(f"{len(rows)}\n")
        for halo_id, members in particles:
            handle.write(f"{len(members)}\t{halo_id}\n")
            handle.writelines(f"{pid}\t1\n" if with_types else f"{pid}\n" for pid in members)
    return halos


@pytest.mark.parametrize("with_types", [True, False])
def test_ahf_gives_the_groups_written(universe, tmp_path, with_types):
    """AHF_halos by its column names, units converted, hosts only (the subhalo is dropped, kept with
    hosts_only=False), members counted from AHF_particles, Mvir named as the stand-in for M200c."""
    box = shuffled_box(universe, tmp_path / "run")
    path = write_ahf(tmp_path / "run", box, with_types)
    binary = Snapshot(tmp_path / "run" / "snapshot_099")
    assert catalog_kind(path).name == "AHF"
    halos = open_halo_catalog(path, binary)
    reference = box["catalog"].halos(box["snapshot"])
    np.testing.assert_array_equal(halos.halo_id, AHF_ID_BASE + reference.halo_id)
    np.testing.assert_allclose(halos.centre_kpc, reference.centre_kpc, rtol=1e-7)
    np.testing.assert_array_equal(halos.counts[:, DM], reference.counts[:, DM])
    np.testing.assert_allclose(halos.m200c_msun, box["snapshot"].units.to_physical(
        "GroupMass", box["mass_type"].sum(axis=1)), rtol=1e-7)
    np.testing.assert_allclose(halos.velocity_kms, peculiar_velocities(box), rtol=1e-6, atol=1e-3)
    assert halos.m200c_definition.startswith("AHF's Mvir")
    everything = open_halo_catalog(path, binary, hosts_only=False)
    assert len(everything) == len(halos) + 1 and everything.halo_id[1] == 99999
    assert everything.member_ranges[1].tolist() == [len(box["members"][0]), len(box["members"][0]) // 2]
    if with_types:  # `select` of the file with its snapshot: the rows and membership of the catalog
        table = tmp_path / "halos.hdf5"
        run_mpipaint("select", path, "--catalog-type", "rockstar", "--snap", "99", "--box",
                     tmp_path / "run" / "snapshot_099", "--out", table, "--min-m200c", "3e13")
        rows = read_halo_table(table)
        chosen = halos.m200c_msun >= 3e13
        np.testing.assert_array_equal(rows["halo_id"], halos.halo_id[chosen])
        np.testing.assert_array_equal(rows[["member_offset", "member_count"]], halos.member_ranges[chosen])
        assert rows.attrs["member_ids_catalog"] == str(path.resolve())


def peculiar_velocities(box) -> np.ndarray:
    """Peculiar velocities [km/s] of `box`'s groups, from the members' mean snapshot velocity."""
    a = box["snapshot"].header.scale_factor
    return box["velocities"] / a


def test_ahf_particles_of_another_catalog_are_refused_naming_the_file(universe, tmp_path):
    box = shuffled_box(universe, tmp_path / "run")
    path = write_ahf(tmp_path / "run", box)
    binary = Snapshot(tmp_path / "run" / "snapshot_099")
    particles = path.with_name("box.z0.000.AHF_particles")
    lines = particles.read_text().splitlines()
    particles.write_text("\n".join([str(int(lines[0]) - 1)] + lines[1:]) + "\n")
    with pytest.raises(InputError, match=r"AHF_particles: begins with .* halos, the AHF_halos beside it lists"):
        open_halo_catalog(path, binary)
    lines[1] = lines[1].replace(str(len(box["members"][0])), str(len(box["members"][0]) + 1), 1)
    particles.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"halo particle counts differ from the npart column"):
        open_halo_catalog(path, binary)


def write_velociraptor(directory, box: dict, num_files: int = 2) -> Path:
    """`box`'s groups as VELOCIraptor's HDF5 output in `num_files` files (PREFIX.properties.K and the
    catalog_groups / catalog_particles / .unbound beside it): physical, h-free Mpc and 1e10 Msun, UnitInfo as
    text as VELOCIraptor stores it; the first host gives half its particles to a substructure (ID 999999,
    in the last file), and every object lists its last tenth of particles as unbound."""
    snapshot, reference = box["snapshot"], box["catalog"].halos(box["snapshot"])
    objects = [(int(i) + 1, -1, box["members"][k], reference.centre_kpc[k], reference.m200c_msun[k],
                reference.r200c_kpc[k], box["velocities"][k] / snapshot.header.scale_factor)
               for k, i in enumerate(reference.halo_id)]
    first = objects[0][2]
    objects[0] = (objects[0][0], -1, first[: len(first) // 2], *objects[0][3:])
    substructure = (999999, objects[0][0], first[len(first) // 2:], objects[0][3] + 30.0, 1e12, 50.0, np.zeros(3))
    parts = [list(part) for part in np.array_split(np.arange(len(objects)), num_files)]
    files = [[objects[k] for k in part] for part in parts]
    files[-1].append(substructure)
    prefix = Path(directory) / "vr_099"
    for k, objects_here in enumerate(files):
        suffix = f".{k}"
        count = {"Num_of_files": [num_files], "Num_of_groups": [len(objects_here)],
                 "Total_num_of_groups": [len(objects) + 1]}
        with h5py.File(f"{prefix}.properties{suffix}", "w") as f:
            for name, value in count.items():
                f[name] = np.asarray(value)
            units = f.create_group("UnitInfo")
            for key, value in {"Comoving_or_Physical": b"0", "Length_unit_to_kpc": b"1000.000000",
                               "Mass_unit_to_solarmass": b"10000000000.000000", "Velocity_unit_to_kms": b"1.000000"
                               }.items():
                units.attrs[key] = value
            f.create_group("SimulationInfo").attrs["ScaleFactor"] = snapshot.header.scale_factor
            f["ID"] = np.array([o[0] for o in objects_here], np.int64)
            f["hostHaloID"] = np.array([o[1] for o in objects_here], np.int64)
            for axis, name in enumerate(("Xc", "Yc", "Zc")):
                f[name] = np.array([o[3][axis] / 1e3 for o in objects_here])
            for axis, name in enumerate(("VXc", "VYc", "VZc")):
                f[name] = np.array([o[6][axis] for o in objects_here])
            f["Mass_200crit"] = np.array([o[4] / 1e10 for o in objects_here])
            f["R_200crit"] = np.array([o[5] / 1e3 for o in objects_here])
        bound = [o[2][: len(o[2]) - len(o[2]) // 10] for o in objects_here]
        unbound = [o[2][len(o[2]) - len(o[2]) // 10:] for o in objects_here]
        with h5py.File(f"{prefix}.catalog_groups{suffix}", "w") as f:
            for name, value in count.items():
                f[name] = np.asarray(value)
            f["Group_Size"] = np.array([len(o[2]) for o in objects_here], np.int64)
            f["Offset"] = np.concatenate([[0], np.cumsum([len(b) for b in bound])[:-1]]).astype(np.int64)
            f["Offset_unbound"] = np.concatenate([[0], np.cumsum([len(u) for u in unbound])[:-1]]).astype(np.int64)
            f["Parent_halo_ID"] = np.array([o[1] for o in objects_here], np.int64)
        for kind, lists in (("catalog_particles", bound), ("catalog_particles.unbound", unbound)):
            with h5py.File(f"{prefix}.{kind}{suffix}", "w") as f:
                f["Num_of_files"] = [num_files]
                f["Particle_IDs"] = np.concatenate(lists).astype(np.int64)
    return Path(f"{prefix}.properties.0")


def test_velociraptor_gives_hosts_with_their_substructures_particles(universe, tmp_path):
    """Hosts of a two-file VELOCIraptor output read as the TNG groups they were written from (ids + 1): centres,
    M200c, R200c, velocities in the files' units; every host's members are all its FoF particles again (its
    own bound and unbound ones and its substructure's, found in another file)."""
    box = shuffled_box(universe, tmp_path / "run")
    path = write_velociraptor(tmp_path / "run", box)
    binary = Snapshot(tmp_path / "run" / "snapshot_099")
    assert catalog_kind(path).name == "VELOCIraptor"
    halos = open_halo_catalog(path, binary)
    reference = box["catalog"].halos(box["snapshot"])
    np.testing.assert_array_equal(halos.halo_id, reference.halo_id + 1)
    for got, expected in ((halos.centre_kpc, reference.centre_kpc), (halos.m200c_msun, reference.m200c_msun),
                          (halos.r200c_kpc, reference.r200c_kpc)):
        np.testing.assert_allclose(got, expected, rtol=1e-12)
    np.testing.assert_allclose(halos.velocity_kms, peculiar_velocities(box), rtol=1e-12)
    np.testing.assert_array_equal(halos.counts[:, DM], reference.counts[:, DM])
    members = catalog_kind(path).member_ids(path)
    for host in (0, 1, len(halos) - 1):
        start, length = halos.member_ranges[host]
        assert sorted(members.read(start, start + length).tolist()) == sorted(box["members"][host].tolist())


@pytest.mark.tf
@pytest.mark.parametrize("kind", ["AHF", "VELOCIraptor", "Gadget-III Subfind"])
def test_a_shuffled_box_paints_through_an_id_catalog_as_through_its_group_catalog(universe, xray_bundle,
                                                                                  tng_painted, tmp_path, kind):
    """Hosts of an AHF, VELOCIraptor or Gadget-III Subfind catalog painted from the shuffled binary box on 2
    ranks, members by ID: the same DM in every map as the group-ordered box painted through TNG offsets; the file names the
    stand-in for M200c where the catalog has none (AHF's Mvir)."""
    box = shuffled_box(universe, tmp_path / "run")
    write, id_offset = {"AHF": (write_ahf, AHF_ID_BASE), "VELOCIraptor": (write_velociraptor, 1),
                        "Gadget-III Subfind": (write_subfind, 0)}[kind]
    path = write(tmp_path / "run", box)
    out = tmp_path / "painted.hdf5"
    run_mpipaint("paint", *FP32, tmp_path / "run" / "snapshot_099", "--model", xray_bundle[0], "--catalog", path,
                 "--out", out, "--min-m200c", "3e13", ranks=2)
    with h5py.File(out) as f:
        assert f.attrs["complete"]
        assert f.attrs.get("m200c_definition", "").startswith("AHF's Mvir") == (kind == "AHF")
        got = {name: f[name][()] for name in ("halo_id", "mdm_proj")}
    common, mine, theirs = np.intersect1d(got["halo_id"] - id_offset, tng_painted["halo_id"], return_indices=True)
    assert len(common) >= 10
    np.testing.assert_allclose(got["mdm_proj"][mine], tng_painted["mdm_proj"][theirs], rtol=1e-7)
