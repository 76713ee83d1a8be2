"""The format and catalog-kind registries: a file is read by the one reader that recognises its content,
and what none or several recognise is refused naming the file and what was tried; every catalog kind gives
the same halos as one `HaloCatalog`."""
import dataclasses

import h5py
import numpy as np
import pandas as pd
import pytest

from mpipaint import units as u
from mpipaint.errors import InputError
from mpipaint.io import gadget_hdf5, snapshot_formats
from mpipaint.io.halo_catalog_kinds import open_halo_catalog
from mpipaint.io.particle_types import DM, GAS
from mpipaint.io.snapshot import Snapshot, find_snapshot
from test_inputs import universe_table, write_swift_copy


def test_a_file_no_format_recognises_is_refused_naming_every_format_tried(universe, tmp_path):
    catalog_file = universe / "FP" / "output" / "groups_099" / "fof_subhalo_tab_099.0.hdf5"
    with pytest.raises(InputError, match=r"fof_subhalo_tab_099\.0\.hdf5: not a snapshot of any format") as caught:
        Snapshot(catalog_file)
    for fmt in snapshot_formats.FORMATS:
        assert fmt.description in str(caught.value)
    assert "NumPart_ThisFile" in str(caught.value)  # why the HDF5 formats refused it: a group catalog


def test_a_file_two_formats_recognise_is_refused_as_ambiguous(universe, monkeypatch):
    twin = dataclasses.replace(gadget_hdf5.TNG, name="tng-twin", description="a second TNG reader")
    monkeypatch.setattr(snapshot_formats, "FORMATS", snapshot_formats.FORMATS + (twin,))
    with pytest.raises(InputError, match=r"snap_099\.0\.hdf5: recognised as 2 snapshot formats .*a second TNG"):
        Snapshot(find_snapshot(universe / "FP" / "output", 99))


def test_each_hdf5_flavour_is_told_from_content_alone(universe, tmp_path):
    """The same DM under a name no format uses: TNG and SWIFT layouts are still told apart."""
    tng = Snapshot(find_snapshot(universe / "DMO" / "output", 99))
    swift = write_swift_copy(tng, tmp_path / "anything.h5")
    assert Snapshot(swift).format is gadget_hdf5.SWIFT
    assert tng.format is gadget_hdf5.TNG


def test_swift_gas_fields_read_by_their_names_and_comoving_energy(universe, tmp_path):
    """SWIFT names gas fields in plural and stores u comoving (a^-2 at gamma = 5/3): written so at a = 2/3,
    the gas reads back as the TNG-layout run's physical density, internal energy and temperature."""
    tng = Snapshot(find_snapshot(universe / "FP" / "output", 67))
    a = tng.header.scale_factor
    path = write_swift_copy(Snapshot(find_snapshot(universe / "DMO" / "output", 67)), tmp_path / "snap.hdf5")
    n = tng.num_particles(GAS)
    mpc_cm, mass_g = 1e3 * u.KPC_CM, 1e10 * u.MSUN_G
    with h5py.File(path, "a") as f:
        for key in ("NumPart_ThisFile", "NumPart_Total"):
            counts = f["Header"].attrs[key].copy()
            counts[GAS] = n
            f["Header"].attrs[key] = counts
        gas = f.create_group("PartType0")
        gas["Coordinates"] = tng.read(GAS, "Coordinates") / a / 1e3
        gas["Masses"] = tng.read(GAS, "Masses") / 1e10
        gas["Densities"] = tng.read(GAS, "Density") / (mass_g / mpc_cm**3) * a**3
        energy_unit = (mpc_cm / (mpc_cm / 1e5))**2  # (U_L / U_t)^2 = (km/s)^2 in cgs
        gas["InternalEnergies"] = tng.read(GAS, "InternalEnergy") / energy_unit * a**2
        gas["InternalEnergies"].attrs["a-scale exponent"] = [gadget_hdf5.SWIFT_ENERGY_A_EXPONENT]
        gas["ElectronAbundance"] = tng.read(GAS, "ElectronAbundance")
    swift = Snapshot(path)
    for field in ("Coordinates", "Masses", "Density", "InternalEnergy"):
        np.testing.assert_allclose(swift.read(GAS, field), tng.read(GAS, field), rtol=1e-6, err_msg=field)
    np.testing.assert_allclose(swift.temperature(), tng.temperature(), rtol=1e-6)
    assert swift.num_particles(DM) == tng.num_particles(DM)


def _hlist(rows, h, box_ckpc, scale, velocity) -> str:
    """A consistent-trees hlist of `rows` (centres and box in comoving kpc) at scale factor `scale`, with
    peculiar velocities vx vy vz [km/s]."""
    lines = ["#scale(0) id(1) pid(2) mvir(3) rvir(4) x(5) y(6) z(7) vx(8) vy(9) vz(10) M200c(11)",
             "#Omega_M = 0.308900; Omega_L = 0.691100; h0 = 0.677400",
             f"#Full box size = {box_ckpc * h / 1e3:.9f} Mpc/h"]
    for (_, row), v in zip(rows.iterrows(), velocity):
        x, y, z = (f"{row[c] * h / 1e3:.9f}" for c in ("centre_x", "centre_y", "centre_z"))
        m = row["m200c"] * h
        lines.append(f"{scale:.9f} {row['halo_id']} -1 {1.3 * m:.9e} {1.3 * row['r200c'] * h:.6f} {x} {y} {z} "
                     f"{v[0]:.6f} {v[1]:.6f} {v[2]:.6f} {m:.9e}")
    return "\n".join(lines) + "\n"


SWIFT_MPC_CM, SWIFT_1E10_MSUN_G = 3.08567758e24, 1.98841586e43  # SWIFT's internal units, as SOAP files carry


def _soap(path, frame, velocity, snapshot) -> None:
    """A SOAP catalog of `frame`'s halos (centrals) and one satellite, as SWIFT/FLAMINGO write it: comoving Mpc
    and 1e10 Msun with swiftsimio's conversion attributes, no h."""
    a, header = snapshot.header.scale_factor, snapshot.header
    comoving_mpc = u.KPC_CM / (SWIFT_MPC_CM * a)  # physical kpc (mpipaint's kpc) to SWIFT's comoving Mpc
    centre = frame[[f"centre_{c}" for c in "xyz"]].to_numpy() * comoving_mpc
    with h5py.File(path, "w") as f:
        f.create_group("Header").attrs.update({"Code": "SOAP", "Scale-factor": [a], "Redshift": [header.redshift],
                                               "BoxSize": [snapshot.box_size_kpc / a / 1e3] * 3})  # comoving Mpc
        f.create_group("Cosmology").attrs.update({"h": [header.hubble], "Omega_m": [header.omega_m],
                                                  "Omega_lambda": [header.omega_lambda]})
        columns = {"InputHalos/HaloCentre": (np.vstack([centre, centre[:1] + 0.05]), SWIFT_MPC_CM * a),
                   "InputHalos/IsCentral": (np.r_[np.ones(len(frame), int), 0], 1.0),
                   "InputHalos/HaloCatalogueIndex": (np.r_[frame["halo_id"].to_numpy(), 10**6], 1.0),
                   "SO/200_crit/TotalMass": (np.r_[frame["m200c"].to_numpy(), 1e12] * u.MSUN_G / SWIFT_1E10_MSUN_G,
                                             SWIFT_1E10_MSUN_G),
                   "SO/200_crit/SORadius": (np.r_[frame["r200c"].to_numpy(), 100.0] * comoving_mpc, SWIFT_MPC_CM * a),
                   "BoundSubhalo/CentreOfMassVelocity": (np.vstack([velocity, velocity[:1]]), 1e5)}
        for name, (values, factor) in columns.items():
            f[name] = values
            f[name].attrs.update({"Conversion factor to physical CGS (including cosmological corrections)": [factor],
                                  "h-scale exponent": [0.0]})


def test_every_catalog_kind_gives_the_same_halos(universe_copy, tmp_path):
    """The group catalog (with GroupVel written as TNG stores it, peculiar velocity times a), select's halo
    table, a consistent-trees list, a plain CSV and a SOAP catalog (with a satellite, left out) of the same
    halos: the same ids, centres, masses and velocities from `open_halo_catalog`; membership exactly where
    the kind has it."""
    output = universe_copy / "FP" / "output"
    snapshot = Snapshot(find_snapshot(output, 67))
    a, h = snapshot.header.scale_factor, snapshot.header.hubble
    groups = output / "groups_067"
    velocity = {}
    for chunk in sorted(groups.glob("fof_subhalo_tab_067.*.hdf5")):
        with h5py.File(chunk, "a") as f:
            count = int(f["Header"].attrs["Ngroups_ThisFile"])
            rng = np.random.default_rng(count)
            velocity[chunk.name] = rng.normal(0, 500, (count, 3))
            if count:
                f["Group/GroupVel"] = (velocity[chunk.name] * a).astype(np.float32)
    velocity = np.concatenate([velocity[name] for name in sorted(velocity, key=lambda n: int(n.split(".")[1]))])
    group_halos = open_halo_catalog(groups, snapshot)
    np.testing.assert_allclose(group_halos.velocity_kms, velocity, rtol=1e-6)
    assert group_halos.has_membership and group_halos.counts.shape == (len(group_halos), 6)

    table_path = universe_table(universe_copy, tmp_path)  # select's, of snapshot 99, M200c >= 5e13
    at_99 = Snapshot(find_snapshot(output, 99))
    table_halos, groups_99 = open_halo_catalog(table_path, at_99), open_halo_catalog(output / "groups_099", at_99)
    selected = groups_99.m200c_msun >= 5e13
    np.testing.assert_array_equal(table_halos.halo_id, groups_99.halo_id[selected])
    np.testing.assert_array_equal(table_halos.centre_kpc, groups_99.centre_kpc[selected] % at_99.box_size_kpc)
    np.testing.assert_array_equal(table_halos.counts, groups_99.counts[selected])
    assert table_halos.kind == "halo table" and table_halos.cosmology == at_99.cosmology

    chosen = group_halos.m200c_msun >= 5e13
    box = snapshot.box_size_kpc
    frame = pd.DataFrame({"halo_id": group_halos.halo_id[chosen],
                          **{f"centre_{c}": group_halos.centre_kpc[chosen, k] % box for k, c in enumerate("xyz")},
                          "m200c": group_halos.m200c_msun[chosen], "r200c": group_halos.r200c_kpc[chosen]})
    comoving = frame.assign(**{f"centre_{c}": frame[f"centre_{c}"] / a for c in "xyz"})
    hlist = tmp_path / "hlist_0.66667.list"
    hlist.write_text(_hlist(comoving, h, box / a, a, group_halos.velocity_kms[chosen]))
    csv = tmp_path / "halos.csv"
    pd.DataFrame({"halo_id": frame["halo_id"], "x [kpc]": frame["centre_x"], "y [kpc]": frame["centre_y"],
                  "z [kpc]": frame["centre_z"], "m200c [Msun]": frame["m200c"],
                  **{f"{c} [km/s]": group_halos.velocity_kms[chosen, k] for k, c in enumerate(("vx", "vy", "vz"))}
                  }).to_csv(csv, index=False)
    soap = tmp_path / "halo_properties_0067.hdf5"
    _soap(soap, frame, group_halos.velocity_kms[chosen], snapshot)
    for path, kind in ((hlist, "rockstar"), (csv, "plain table"), (soap, "SOAP")):
        halos = open_halo_catalog(path, snapshot)
        assert halos.kind == kind and not halos.has_membership
        np.testing.assert_array_equal(halos.halo_id, group_halos.halo_id[chosen], err_msg=kind)
        np.testing.assert_allclose(halos.centre_kpc, frame[[f"centre_{c}" for c in "xyz"]], rtol=1e-8, atol=1e-5,
                                   err_msg=kind)
        np.testing.assert_allclose(halos.m200c_msun, group_halos.m200c_msun[chosen], rtol=1e-8, err_msg=kind)
        np.testing.assert_allclose(halos.velocity_kms, group_halos.velocity_kms[chosen], atol=1e-5, err_msg=kind)


def test_a_path_no_catalog_kind_recognises_names_the_kinds_tried(universe, tmp_path):
    snapshot = Snapshot(find_snapshot(universe / "FP" / "output", 99))
    empty = tmp_path / "groups_099"
    empty.mkdir()
    (empty / "notes.txt").write_text("#\n")
    (empty / "more.txt").write_text("#\n")
    with pytest.raises(InputError, match=r"groups_099: not a halo catalog of any kind .*group catalog: a "
                                         r"directory without fof_subhalo_tab.*rockstar: directory"):
        open_halo_catalog(empty, snapshot)
    with pytest.raises(InputError, match=r"nothing.csv: catalog not found"):
        open_halo_catalog(tmp_path / "nothing.csv", snapshot)
