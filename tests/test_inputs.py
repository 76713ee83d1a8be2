"""Real-world inputs: Gadget binary snapshots (format 1 and 2, both byte orders, 32/64-bit IDs, several files)
against what was written and against yt; SWIFT snapshots; a cut-out whose header claims more chunks; gas without
ElectronAbundance; the Rockstar family read by column names; a box painted with any halo catalog, and
`mpipaint paint BOX` as typed."""
import logging
import shutil
import struct
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from conftest import run_mpipaint
from gadget_files import write_gadget_binary
from mpipaint import units as u
from mpipaint.errors import InputError
from mpipaint.halos.select import select_catalog, select_rockstar
from mpipaint.io.halolists import hosts_by_position
from mpipaint.io.halotable import SCHEMA, read_halo_table
from mpipaint.io.particle_types import DM, GAS, STARS
from mpipaint.io.snapshot import Snapshot, find_snapshot

COSMOLOGY = {"time": 0.5, "redshift": 1.0, "box_size": 1000.0, "omega0": 0.3, "omega_lambda": 0.7, "hubble": 0.7}
NUMBERS = {GAS: 300, DM: 500, STARS: 100}


def gadget_particles(ids64: bool, precision) -> dict:
    """Gas (MASS, U, RHO, HSML blocks), DM (masses in the MassTable) and stars (MASS block), ids unique."""
    rng = np.random.default_rng(5)
    start, particles = (1 << 33) if ids64 else 1, {}
    for ptype, n in NUMBERS.items():
        ids = np.arange(start, start + n, dtype=np.uint64 if ids64 else np.uint32)
        start += n
        blocks = {"POS": rng.uniform(0, 1000, (n, 3)).astype(precision),
                  "VEL": rng.normal(0, 300, (n, 3)).astype(precision), "ID": ids}
        if ptype != DM:
            blocks["MASS"] = rng.uniform(1e-4, 2e-4, n).astype(precision)
        if ptype == GAS:
            blocks.update({"U": rng.uniform(1e3, 1e6, n).astype(precision),
                           "RHO": rng.uniform(1e-8, 1e-4, n).astype(precision),
                           "HSML": rng.uniform(1, 50, n).astype(precision)})
        particles[ptype] = blocks
    return particles


MASS_TABLE = [0.0, 0.01, 0.0, 0.0, 0.0, 0.0]
LAYOUTS = [(1, "<", False, np.float32, 1), (2, ">", True, np.float64, 3), (1, ">", True, np.float32, 3),
           (2, "<", False, np.float32, 2)]
IDS = ["format1-little-32bit-single", "format2-big-64bit-double-3files", "format1-big-64bit-3files",
       "format2-little-2files"]


@pytest.mark.parametrize("snap_format,order,ids64,precision,num_files", LAYOUTS, ids=IDS)
def test_gadget_binary_gives_what_was_written(tmp_path, snap_format, order, ids64, precision, num_files):
    particles = gadget_particles(ids64, precision)
    files = write_gadget_binary(tmp_path / "snapshot_005", particles, MASS_TABLE, COSMOLOGY, snap_format, order,
                                num_files)
    # a file (any chunk: its siblings follow), the directory, or a multi-file snapshot's stem
    for path in (files[0], tmp_path, *([tmp_path / "snapshot_005"] if num_files > 1 else [])):
        snapshot = Snapshot(path)
        assert snapshot.files == files
        assert [snapshot.num_particles(t) for t in (GAS, DM, STARS)] == [NUMBERS[t] for t in (GAS, DM, STARS)]
        for ptype, blocks in particles.items():
            n = NUMBERS[ptype]
            for block, field in (("POS", "Coordinates"), ("VEL", "Velocities"), ("ID", "ParticleIDs"),
                                 ("MASS", "Masses"), ("U", "InternalEnergy"), ("RHO", "Density")):
                if block in blocks:  # a range across the files' boundaries
                    np.testing.assert_array_equal(snapshot.read(ptype, field, 17, n - 5, physical=False),
                                                  blocks[block][17:n - 5], err_msg=f"{block} {ptype}")
        np.testing.assert_array_equal(snapshot.read(DM, "Masses", physical=False), np.full(NUMBERS[DM], 0.01))
        # Gadget's default units, as TNG's: ckpc/h and 1e10 Msun/h
        assert snapshot.box_size_kpc == pytest.approx(1000.0 * 0.5 / 0.7)
        assert snapshot.typical_mass_msun(DM) == pytest.approx(0.01 * 1e10 / 0.7)
        assert not snapshot.has(GAS, "ElectronAbundance") and snapshot.has(GAS, "Density")


@pytest.mark.reference
@pytest.mark.parametrize("snap_format,order,ids64,precision,num_files",
                         [layout for layout in LAYOUTS if layout[0] == 1 or layout[3] == np.float32],
                         ids=[i for i, layout in zip(IDS, LAYOUTS) if layout[0] == 1 or layout[3] == np.float32])
def test_gadget_binary_agrees_with_yt(tmp_path, snap_format, order, ids64, precision, num_files):
    """yt's Gadget frontend (format 1, and format 2 in single precision) reads the same particles."""
    yt = pytest.importorskip("yt")
    files = write_gadget_binary(tmp_path / "snapshot_005", gadget_particles(ids64, precision), MASS_TABLE,
                                COSMOLOGY, snap_format, order, num_files)
    data = yt.load(str(files[0]), long_ids=ids64).all_data()
    snapshot = Snapshot(files[0])
    for ptype, name in ((GAS, "Gas"), (DM, "Halo"), (STARS, "Stars")):
        theirs = np.argsort(data[name, "ParticleIDs"].d)
        ours = np.argsort(snapshot.read(ptype, "ParticleIDs"))
        np.testing.assert_allclose(snapshot.read(ptype, "Coordinates", physical=False)[ours],
                                   data[name, "Coordinates"].to("code_length").d[theirs], rtol=1e-6)
        np.testing.assert_allclose(snapshot.read(ptype, "Masses", physical=False)[ours],
                                   data[name, "Mass"].to("code_mass").d[theirs], rtol=1e-6)
    theirs, ours = np.argsort(data["Gas", "ParticleIDs"].d), np.argsort(snapshot.read(GAS, "ParticleIDs"))
    np.testing.assert_allclose(snapshot.read(GAS, "Density", physical=False)[ours],
                               data["Gas", "Density"].to("code_mass/code_length**3").d[theirs], rtol=1e-6)


def test_damaged_gadget_binary_files_are_refused_naming_file_and_block(tmp_path):
    particles = gadget_particles(False, np.float32)
    path = write_gadget_binary(tmp_path / "snapshot_005", particles, MASS_TABLE, COSMOLOGY, 2)[0]
    whole = path.read_bytes()
    path.write_bytes(whole[:-100])
    with pytest.raises(InputError, match=r"snapshot_005: block HSML is cut short"):
        Snapshot(path)
    path.write_bytes(b"\x64\x00\x00\x00" + whole[4:])
    with pytest.raises(InputError, match=r"snapshot_005: not a snapshot of any format.*Gadget-2/3 binary.*"
                                         r"first record holds 100 bytes"):
        Snapshot(path)
    write_gadget_binary(path, particles, MASS_TABLE, COSMOLOGY, 1)
    damaged = bytearray(path.read_bytes())
    damaged[8:12] = struct.pack("<i", NUMBERS[DM] + 10)  # the header's DM count no longer fits the blocks
    path.write_bytes(bytes(damaged))
    with pytest.raises(InputError, match=r"snapshot_005: block POS holds 10800 bytes, which is not 2730 values"):
        Snapshot(path)


def _capture_warnings():
    records = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logging.getLogger("mpipaint").addHandler(handler)
    return records, handler


@pytest.mark.parametrize("name,header_counts", [("cutout.hdf5", "own"), ("snap_099.0.hdf5", "own"),
                                                ("cutout.hdf5", "the whole box's")])
def test_a_file_whose_header_claims_more_chunks_is_read_alone_with_a_warning(universe, tmp_path, name, header_counts):
    """A cut-out rewritten by another tool keeps NumFilesPerSnapshot (and may keep the box's NumPart_ThisFile):
    read alone, what its PartType groups hold, with a warning."""
    chunk = universe / "FP" / "output" / "snapdir_099" / "snap_099.0.hdf5"
    shutil.copy(chunk, tmp_path / name)
    if header_counts != "own":
        with h5py.File(tmp_path / name, "r+") as f:
            f["Header"].attrs["NumPart_ThisFile"] = f["Header"].attrs["NumPart_Total"]
    records, handler = _capture_warnings()
    try:
        snapshot = Snapshot(tmp_path / name)
    finally:
        logging.getLogger("mpipaint").removeHandler(handler)
    assert any("no other chunk of it exists: reading this file alone" in r.getMessage() for r in records)
    with h5py.File(chunk) as f:
        assert f["Header"].attrs["NumFilesPerSnapshot"] > 1
        assert snapshot.num_particles(DM) == f["Header"].attrs["NumPart_ThisFile"][DM]
        np.testing.assert_array_equal(snapshot.read(DM, "Coordinates", physical=False), f["PartType1/Coordinates"])


@pytest.fixture(scope="module")
def without_electrons(universe, tmp_path_factory):
    """The FP run at snapshot 99 with ElectronAbundance removed from every chunk, its halo table, and the
    training sets prepared from it and from the original."""
    out = tmp_path_factory.mktemp("no_ne")
    run = out / "FP" / "output"
    for part in ("snapdir_099", "groups_099"):
        shutil.copytree(universe / "FP" / "output" / part, run / part)
    for chunk in (run / "snapdir_099").glob("*.hdf5"):
        with h5py.File(chunk, "r+") as f:
            del f["PartType0/ElectronAbundance"]
    run_mpipaint("select", run, "--snap", "99", "--min-m200c", "3e14", "--out", out / "halos.hdf5")
    for name, source in (("assumed", run), ("stored", universe / "FP" / "output")):
        run_mpipaint("prepare", source, "--halos", out / "halos.hdf5", "--out", out / f"{name}.hdf5", "--npix", "32",
                     "--axes", "2")
    return out


def test_gas_without_electron_abundance_is_taken_fully_ionised_and_says_so(universe, without_electrons):
    """The example's hot gas is fully ionised (units.FULLY_IONISED_ELECTRON_ABUNDANCE, the value assumed), so
    the assumption must reproduce its hot-gas temperatures and maps, and the training set must record it."""
    stored = Snapshot(find_snapshot(universe / "FP" / "output", 99))
    assumed = Snapshot(find_snapshot(without_electrons / "FP" / "output", 99))
    assert assumed.assumptions and not stored.assumptions
    np.testing.assert_array_equal(assumed.read(GAS, "ElectronAbundance", 0, 10),
                                  np.full(10, u.FULLY_IONISED_ELECTRON_ABUNDANCE))
    energy = stored.read(GAS, "InternalEnergy")
    hot = stored.read(GAS, "ElectronAbundance") > 1.15
    electrons = {name: s.read(GAS, "ElectronAbundance")[hot] for name, s in (("stored", stored), ("assumed", assumed))}
    np.testing.assert_allclose(u.temperature_from_internal_energy(energy[hot], electrons["assumed"]),
                               u.temperature_from_internal_energy(energy[hot], electrons["stored"]), rtol=2e-3)
    with h5py.File(without_electrons / "assumed.hdf5") as a, h5py.File(without_electrons / "stored.hdf5") as s:
        assert "fully ionised" in a.attrs["assumptions"] and "assumptions" not in s.attrs
        for name in ("gas", "xray"):
            totals_a, totals_s = (f[name][()].sum(axis=(1, 2), dtype=np.float64) for f in (a, s))
            np.testing.assert_allclose(totals_a, totals_s, rtol=0.02, err_msg=name)


def rockstar_lines(rows, h: float, box_kpc: float, style: str) -> list[str]:
    """`rows` of a halo table (snapshot 99, a = 1) as a Rockstar-family list, Mvir = 1.3 M200c and Rvir =
    1.3 R200c, plus a subhalo (id 77777) 100 kpc from the first halo's centre: pid marks it in the
    consistent-trees style; Rockstar's own lists leave it to be found by position."""
    mpc_h = lambda kpc: kpc * h / 1e3  # noqa: E731 - comoving Mpc/h at a = 1
    if style == "hlist":
        header = ["#scale(0) id(1) desc_scale(2) pid(3) upid(4) Mvir(5) rvir(6) x(7) y(8) z(9) M200b(10) "
                  "M200c(11) M500c(12)",
                  "#Omega_M = 0.308900; Omega_L = 0.691100; h0 = 0.677400",
                  f"#Full box size = {mpc_h(box_kpc):.9f} Mpc/h", "#Units: Masses in Msun / h"]
    elif style == "out":
        header = ["#ID DescID Mvir Vmax Vrms Rvir Rs Np X Y Z M200b M200c M500c", "#a = 1.000000",
                  "#Om = 0.308900; Ol = 0.691100; h = 0.677400", f"#Box size: {mpc_h(box_kpc):.9f} Mpc/h"]
    else:  # Rockstar's internal halos_*.ascii
        header = ["#id num_p mvir mbound_vir rvir x y z m200b m200c m500c", "#a = 1.0",
                  "#Om = 0.3089; Ol = 0.6911; h = 0.6774", f"#Box size: {mpc_h(box_kpc):.9f} Mpc/h"]
    first = rows.iloc[0]
    subhalo = {"halo_id": 77777, "centre_x": (first["centre_x"] + 100.0) % box_kpc, "centre_y": first["centre_y"],
               "centre_z": first["centre_z"], "m200c": 0.1 * first["m200c"], "r200c": 0.4 * first["r200c"]}
    lines = list(header)
    halos = [row for _, row in rows.iterrows()]
    for row in halos[:1] + [subhalo] + halos[1:]:
        x, y, z = (f"{mpc_h(row[c]):.9f}" for c in ("centre_x", "centre_y", "centre_z"))
        m200c, rvir = row["m200c"] * h, 1.3 * row["r200c"] * h
        masses = f"{1.2 * m200c:.9e} {m200c:.9e} {0.7 * m200c:.9e}"
        pid = first["halo_id"] if row["halo_id"] == 77777 else -1
        if style == "hlist":
            lines.append(f"1.00000 {row['halo_id']} 1.0 {pid} {pid} {1.3 * m200c:.9e} {rvir:.6f} {x} {y} {z} "
                         f"{masses}")
        elif style == "out":
            lines.append(f"{row['halo_id']} -1 {1.3 * m200c:.9e} 900 800 {rvir:.6f} 300 1000 {x} {y} {z} {masses}")
        else:
            lines.append(f"{row['halo_id']} 1000 {1.3 * m200c:.9e} {m200c:.9e} {rvir:.6f} {x} {y} {z} {masses}")
    return lines


@pytest.mark.parametrize("style", ["hlist", "out", "ascii"])
def test_rockstar_family_by_column_names(universe, tmp_path, style):
    table = read_halo_table(universe_table(universe, tmp_path))
    rows = table[table["snapshot"] == 99]
    h, box_kpc = 0.6774, float(rows["box_size"].iloc[0])
    path = tmp_path / {"hlist": "hlist_1.00000.list", "out": "out_99.list", "ascii": "halos_99.0.ascii"}[style]
    path.write_text("\n".join(rockstar_lines(rows, h, box_kpc, style)) + "\n")
    rock, above = select_rockstar(path, 99, 1e14), rows[rows["m200c"] >= 1e14]
    np.testing.assert_array_equal(rock["halo_id"], above["halo_id"])  # hosts only: the subhalo is left out
    np.testing.assert_allclose(rock["m200c"], above["m200c"], rtol=1e-8)
    np.testing.assert_allclose(rock[["centre_x", "centre_y", "centre_z"]].to_numpy(),
                               above[["centre_x", "centre_y", "centre_z"]].to_numpy(), rtol=1e-8, atol=1e-5)
    np.testing.assert_allclose(rock["r200c"], above["r200c"], rtol=0.01)  # R200c from M200c and rho_crit(z)
    assert rock["box_size"].iloc[0] == pytest.approx(box_kpc, rel=1e-8)
    # the cut on Mvir (1.3 M200c) keeps the halos with M200c above 1e14 / 1.3
    by_mvir = select_rockstar(path, 99, 1e14, "mvir")
    np.testing.assert_array_equal(by_mvir["halo_id"], rows["halo_id"][rows["m200c"] >= 1e14 / 1.3])
    assert 77777 in select_rockstar(path, 99, 1e12, hosts_only=False)["halo_id"].to_numpy()
    assert 77777 not in select_rockstar(path, 99, 1e12)["halo_id"].to_numpy()


def universe_table(universe, tmp_path):
    path = tmp_path / "halos.hdf5"
    run_mpipaint("select", universe / "FP" / "output", "--snap", "99", "--min-m200c", "5e13", "--out", path)
    return path


def test_rockstar_list_without_a_needed_line_or_column_names_it(tmp_path):
    path = tmp_path / "hlist_1.00000.list"
    path.write_text("#scale(0) id(1) pid(2) x(3) y(4) z(5) M200c(6)\n#Omega_M = 0.3; Omega_L = 0.7; h0 = 0.7\n"
                    "1.0 1 -1 1.0 2.0 3.0 1e14\n")
    with pytest.raises(InputError, match=r"hlist_1.00000.list: the header has no '#Box size: \.\.\.' or "
                                         r"'#Full box size = \.\.\.' line"):
        select_rockstar(path, 99, 1e13)
    with pytest.raises(InputError, match=r"names no mvir column"):
        select_rockstar(path, 99, 1e13, "mvir")
    path.write_text("#scale(0) id(1) pid(2) x(3) y(4) z(5) M200c(6)\n#Full box size = 100 Mpc/h\n"
                    "#Omega_M = 0.3; Omega_L = 0.7; h0 = 0.7\n1.0 1 -1 1.0 2.0 3.0\n")
    with pytest.raises(InputError, match=r"the first row has 6 values, the column header names 7"):
        select_rockstar(path, 99, 1e13)


def write_binary_copy(snapshot: Snapshot, path) -> Path:
    """The DM of an HDF5 snapshot rewritten as a two-file Gadget format-2 snapshot (code units as stored)."""
    header = snapshot.header
    particles = {DM: {"POS": snapshot.read(DM, "Coordinates", physical=False),
                      "VEL": snapshot.read(DM, "Velocities", physical=False),
                      "ID": snapshot.read(DM, "ParticleIDs", physical=False)}}
    cosmology = {"time": header.scale_factor, "redshift": header.redshift, "box_size": header.box_size,
                 "omega0": header.omega_m, "omega_lambda": header.omega_lambda, "hubble": header.hubble}
    path.parent.mkdir(parents=True)
    return write_gadget_binary(path, particles, list(header.mass_table), cosmology, 2, num_files=2)[0]


def _painted(path) -> dict:
    with h5py.File(path) as f:
        assert f.attrs["complete"]
        return {name: f[name][()] for name in ("halo_id", "m200c", "centre", "lx", "mdm_proj")}


@pytest.mark.tf
def test_a_box_is_painted_the_same_from_any_kind_of_catalog(universe, cube_bundle, tmp_path):
    """Cube maps depend on the centres alone: the DMO box painted from its group catalog, from select's halo
    table, from a consistent-trees list, and from plain CSV and HDF5 tables of the same halos gives the same
    rows; `mpipaint paint BOX` with $MPIPAINT_MODELS writes BOXNAME_painted.hdf5 here, the same again."""
    box = universe / "DMO" / "output" / "snapdir_099"
    model = cube_bundle / "models" / "xray"
    reference_path = tmp_path / "group.hdf5"
    run_mpipaint("paint", box, "--model", model, "--out", reference_path, "--precision", "fp32")
    reference = _painted(reference_path)
    rows = read_halo_table(cube_bundle / "dmo.hdf5")
    rows = rows[rows["m200c"] >= 1e14]
    h = 0.6774
    hlist = tmp_path / "hlist_1.00000.list"
    hlist.write_text("\n".join(rockstar_lines(rows, h, float(rows["box_size"].iloc[0]), "hlist")) + "\n")
    csv = tmp_path / "halos.csv"
    pd.DataFrame({"halo_id": rows["halo_id"], "x [kpc]": rows["centre_x"], "y [kpc]": rows["centre_y"],
                  "z [kpc]": rows["centre_z"], "m200c [Msun/h]": rows["m200c"] * h}).to_csv(csv, index=False)
    plain = tmp_path / "halos_plain.hdf5"
    with h5py.File(plain, "w") as f:
        f["halo_id"] = rows["halo_id"].to_numpy()
        f["centre"] = rows[["centre_x", "centre_y", "centre_z"]].to_numpy() * h / 1e3
        f["centre"].attrs["units"] = "cMpc/h"
        f["m200c"] = rows["m200c"].to_numpy()
        f["m200c"].attrs["units"] = "Msun"
    for catalog in (cube_bundle / "dmo.hdf5", hlist, csv, plain):
        out = tmp_path / f"{catalog.stem}_painted.hdf5"
        run_mpipaint("paint", box, "--model", model, "--catalog", catalog, "--out", out, "--precision", "fp32")
        got = _painted(out)
        np.testing.assert_array_equal(got["halo_id"], reference["halo_id"], err_msg=catalog.name)
        for name in ("m200c", "centre", "lx", "mdm_proj"):  # the list's 1e-9 Mpc/h text moves CIC weights: 1e-5
            np.testing.assert_allclose(got[name], reference[name], rtol=2e-5, err_msg=f"{catalog.name} {name}")
    binary = write_binary_copy(Snapshot(box), tmp_path / "binary" / "snapshot_099")
    run_mpipaint("paint", binary, "--model", model, "--catalog", hlist, "--out", tmp_path / "binary.hdf5",
                 "--precision", "fp32")
    got = _painted(tmp_path / "binary.hdf5")
    for name in ("m200c", "centre", "lx", "mdm_proj"):  # float32 positions as in the HDF5 box: the same maps
        np.testing.assert_allclose(got[name], reference[name], rtol=2e-5, err_msg=f"Gadget binary box: {name}")
    swift = write_swift_copy(Snapshot(box), tmp_path / "snap_099.hdf5")
    run_mpipaint("paint", swift, "--model", model, "--catalog", hlist, "--out", tmp_path / "swift.hdf5",
                 "--precision", "fp32")
    got = _painted(tmp_path / "swift.hdf5")
    for name in ("m200c", "centre", "lx", "mdm_proj"):  # positions in float64 Mpc: the same maps
        np.testing.assert_allclose(got[name], reference[name], rtol=2e-5, err_msg=f"SWIFT box: {name}")
    typed = run_mpipaint("paint", box, "--precision", "fp32", cwd=tmp_path,
                         env={"MPIPAINT_MODELS": str(cube_bundle / "models")})
    got = _painted(tmp_path / "snapdir_099_painted.hdf5")
    for name in reference:
        np.testing.assert_array_equal(got[name], reference[name], err_msg=f"as typed: {name}\n{typed.stderr}")


@pytest.mark.tf
def test_paint_without_models_or_with_group_bundles_on_a_halo_list_says_what_to_do(universe, xray_bundle,
                                                                                     cube_bundle, tmp_path):
    box = universe / "DMO" / "output" / "snapdir_099"
    result = run_mpipaint("paint", box, cwd=tmp_path, env={"MPIPAINT_MODELS": ""}, check=False)
    assert result.returncode == 2
    assert "no model bundles: name bundles with --model BUNDLE" in result.stderr and "MPIPAINT_MODELS" in result.stderr
    rows = read_halo_table(cube_bundle / "dmo.hdf5")
    hlist = tmp_path / "hlist_1.00000.list"
    hlist.write_text("\n".join(rockstar_lines(rows, 0.6774, float(rows["box_size"].iloc[0]), "hlist")) + "\n")
    result = run_mpipaint("paint", box, "--model", xray_bundle[0], "--catalog", hlist, "--out",
                          tmp_path / "x.hdf5", check=False)
    assert result.returncode == 2 and "trained on FoF-member ('group') maps" in result.stderr
    assert not (tmp_path / "x.hdf5").exists()


def test_a_real_consistent_trees_hlist_reads_as_its_columns_say():
    """halotools' hlist test catalog (written by consistent-trees; no '#a =' line, so the scale factor comes from
    the scale column): hosts, M200c and centres against the file's columns by position (pid 5, x/y/z 17-19,
    M200c 40), converted by hand from Msun/h and comoving Mpc/h with the header's h0 and box."""
    path = Path(__file__).parent / "data" / "dummy_halocat_0.07812.list"
    columns = pd.read_csv(path, sep=r"\s+", comment="#", header=None)
    hosts = columns[columns[5] == -1]
    a, h = 0.07812, 0.68
    table = select_rockstar(path, 7, 0.0)
    assert len(table) == len(hosts) == 432 and len(columns) == 436
    np.testing.assert_array_equal(table["halo_id"], hosts[1].astype(np.int64))
    np.testing.assert_allclose(table["m200c"], hosts[40] / h, rtol=1e-12)
    box = 250e3 * a / h
    assert table["box_size"].iloc[0] == pytest.approx(box) and table["scale_factor"].iloc[0] == a
    np.testing.assert_allclose(table[["centre_x", "centre_y", "centre_z"]].to_numpy(),
                               (hosts[[17, 18, 19]].to_numpy() * 1e3 * a / h) % box, rtol=1e-12)
    massive = select_rockstar(path, 7, 1e11, "mvir")
    np.testing.assert_array_equal(massive["halo_id"], hosts[1][hosts[10] / h >= 1e11].astype(np.int64))


def test_hosts_by_position_is_rockstars_find_parents_rule_by_brute_force():
    """A halo inside the radius of a more massive one is a subhalo, across the periodic box's faces too."""
    rng = np.random.default_rng(11)
    box, n = 100.0, 400
    centre, mass = rng.uniform(0, box, (n, 3)), 10 ** rng.uniform(10, 15, n)
    radius = 2.0 * (mass / 1e14) ** (1 / 3)
    d = centre[:, None, :] - centre[None, :, :]
    d -= box * np.round(d / box)
    distance = np.sqrt((d**2).sum(axis=-1))  # [i, j]
    expected = ~np.any((distance <= radius[None, :]) & (mass[:, None] < mass[None, :]), axis=1)
    got = hosts_by_position(centre, radius, mass, box)
    assert 0 < (~expected).sum() < n and np.array_equal(got, expected)


def test_a_chunk_whose_header_counts_differ_from_its_datasets_is_refused(universe, tmp_path):
    snapdir = tmp_path / "snapdir_099"
    shutil.copytree(universe / "FP" / "output" / "snapdir_099", snapdir)
    with h5py.File(snapdir / "snap_099.1.hdf5", "r+") as f:
        counts = f["Header"].attrs["NumPart_ThisFile"].copy()
        counts[DM] += 5
        f["Header"].attrs["NumPart_ThisFile"] = counts
    with pytest.raises(InputError, match=r"snap_099.1.hdf5: header NumPart_ThisFile says .* the PartType groups hold"):
        Snapshot(snapdir)


def write_swift_copy(snapshot: Snapshot, path) -> Path:
    """The DM of a snapshot rewritten in SWIFT's layout: comoving Mpc and 1e10 Msun without h, peculiar km/s,
    7 particle types, cosmology and units in their own groups, an internal time that is not a."""
    header, a = snapshot.header, snapshot.header.scale_factor
    mpc_cm = 1e3 * u.KPC_CM
    n = snapshot.num_particles(DM)
    with h5py.File(path, "w") as f:
        f.create_group("Code").attrs["Code"] = "SWIFT"
        attrs = f.create_group("Header").attrs
        attrs.update({"BoxSize": np.full(3, snapshot.box_size_kpc / a / 1e3), "Scale-factor": [a],
                      "Redshift": [header.redshift], "Time": [0.0123], "NumFilesPerSnapshot": [1],
                      "NumPart_ThisFile": [0, n, 0, 0, 0, 0, 0], "NumPart_Total": [0, n, 0, 0, 0, 0, 0],
                      "NumPart_Total_HighWord": np.zeros(7, np.uint32), "MassTable": np.zeros(7)})
        f.create_group("Cosmology").attrs.update({"h": [header.hubble], "Omega_m": [header.omega_m],
                                                  "Omega_lambda": [header.omega_lambda], "Cosmological run": [1]})
        f.create_group("Units").attrs.update({"Unit length in cgs (U_L)": [mpc_cm],
                                              "Unit mass in cgs (U_M)": [1e10 * u.MSUN_G],
                                              "Unit time in cgs (U_t)": [mpc_cm / 1e5]})
        dm = f.create_group("PartType1")
        dm["Coordinates"] = snapshot.read(DM, "Coordinates") / a / 1e3
        dm["Masses"] = snapshot.read(DM, "Masses") / 1e10
        dm["Velocities"] = snapshot.read(DM, "Velocities")
        dm["ParticleIDs"] = snapshot.read(DM, "ParticleIDs")
    return Path(path)


def test_a_swift_snapshot_gives_the_same_physical_particles(universe, tmp_path):
    """SWIFT stores no h, comoving Mpc, peculiar velocities and a seventh particle type: read back, its DM is
    the TNG-layout snapshot's in physical units (at a = 2/3, where sqrt(a) and h would show)."""
    tng = Snapshot(find_snapshot(universe / "DMO" / "output", 67))
    swift = Snapshot(write_swift_copy(tng, tmp_path / "snapshot_0067.hdf5"))
    assert swift.header.flavour == "swift" and swift.header.hubble == tng.header.hubble
    assert swift.num_particles(DM) == tng.num_particles(DM) and swift.box_size_kpc == pytest.approx(tng.box_size_kpc)
    for field in ("Coordinates", "Masses", "Velocities"):
        np.testing.assert_allclose(swift.read(DM, field, 100, 5000), tng.read(DM, field, 100, 5000), rtol=1e-12,
                                   err_msg=field)


def test_catalogs_that_would_paint_wrong_numbers_are_refused_naming_the_halo(universe_copy, tmp_path):
    """Each of these was read without a word and painted garbage: a Rockstar NaN cell (a NaN centre), a list
    of another box, a centre far outside the box, a halo listed twice, a row with cells missing, two lists
    run together, a negative GroupLenType without an offsets file (every later halo's particles shifted),
    a halo table with a repeated halo, and the FP run's table used to prepare the DMO run."""
    fp_table = universe_table(universe_copy, tmp_path)
    table = read_halo_table(fp_table)
    rows = table[table["snapshot"] == 99].reset_index(drop=True)
    h, box_kpc = 0.6774, float(rows["box_size"].iloc[0])
    snapshot = Snapshot(find_snapshot(universe_copy / "FP" / "output", 99))
    lines = rockstar_lines(rows, h, box_kpc, "hlist")
    path = tmp_path / "hlist_1.00000.list"
    header, body = lines[:4], lines[4:]

    def refused(text, match):
        path.write_text("\n".join(text) + "\n")
        with pytest.raises(InputError, match=match):
            select_catalog(snapshot, path, 99, 1e13)

    nan_cell = body[2].split()
    nan_cell[7] = "nan"
    refused(header + body[:2] + [" ".join(nan_cell)] + body[3:], rf"halo {rows['halo_id'][1]} .* a non-finite centre")
    other_box = [header[0], header[1], f"#Full box size = {2 * box_kpc * h / 1e3:.9f} Mpc/h", header[3]]
    refused(other_box + body, r"halos in a box of .* a list of another run")
    outside = body[2].split()
    outside[7] = f"{3 * box_kpc * h / 1e3:.6f}"
    refused(header + body[:2] + [" ".join(outside)] + body[3:], r"has a centre outside the box")
    refused(header + body + body[2:3], rf"halo {rows['halo_id'][1]} .* has the id of an earlier halo")
    refused(header + body[:2] + [" ".join(body[2].split()[:8])] + body[3:], r"non-finite centre")
    refused(header + body[:3] + header + body[3:], r"line 8 is a '#' header line after halo rows")

    groups = universe_copy / "FP" / "output" / "groups_099"
    (universe_copy / "FP" / "postprocessing" / "offsets" / "offsets_099.hdf5").unlink()
    with h5py.File(groups / "fof_subhalo_tab_099.0.hdf5", "a") as f:
        lengths = f["Group/GroupLenType"][()]
        lengths[1, 1] = -lengths[1, 1]
        f["Group/GroupLenType"][...] = lengths
    with pytest.raises(InputError, match=r"group 1 has GroupLenType\[1\] = -\d+; a particle count cannot be negative"):
        select_catalog(snapshot, groups, 99, 1e13)

    repeated = tmp_path / "repeated.hdf5"
    with h5py.File(repeated, "w") as f:
        f.attrs.update({"mpipaint_version": "test", "source": str(universe_copy / "FP" / "output"),
                        "catalog_type": "subfind"})
        for column, (dtype, unit, _) in SCHEMA.items():
            f[f"halos/{column}"] = np.concatenate([rows[column], rows[column][:1]]).astype(dtype)
            f[f"halos/{column}"].attrs["units"] = unit
    with pytest.raises(InputError, match=rf"halo {rows['halo_id'][0]} of snapshot 99 appears again at row {len(rows)}"):
        read_halo_table(repeated)
    result = run_mpipaint("prepare", universe_copy / "DMO" / "output", "--halos", fp_table, "--out",
                          tmp_path / "dmo.hdf5", "--npix", "32", check=False)
    assert result.returncode == 2 and "a halo table of another run?" in result.stderr
    assert not (tmp_path / "dmo.hdf5").exists()
