"""The example universe: layout, determinism, resolution twins, gas phases, edge halos, and a gas-DM
connection a U-net can learn."""
import dataclasses

import h5py
import numpy as np
import pytest
from scipy import stats

from conftest import run_mpipaint
from mpipaint.example.synth import generate
from mpipaint.io.group_catalog import GroupCatalog, find_group_catalog
from mpipaint.io.particle_types import DM, GAS, NTYPES, STARS
from mpipaint.io.snapshot import Snapshot, find_snapshot
from mpipaint.options import SynthConfig

HOT_T_K, MAX_HOT_RHO = 3e5, 5e-25


def open_run(universe, run, snap=99):
    out = universe / run / "output"
    return Snapshot(find_snapshot(out, snap)), GroupCatalog(find_group_catalog(out, snap))


def test_tng_layout_on_disk(universe):
    for run in ("FP", "DMO", "FP-2", "FP-3"):
        for snap in (67, 99):
            chunks = sorted((universe / run / "output" / f"snapdir_{snap:03d}").glob("*.hdf5"))
            assert [c.name for c in chunks] == [f"snap_{snap:03d}.{k}.hdf5" for k in range(4)]
            assert (universe / run / "output" / f"groups_{snap:03d}" / f"fof_subhalo_tab_{snap:03d}.0.hdf5").exists()
            assert (universe / run / "postprocessing" / "offsets" / f"offsets_{snap:03d}.hdf5").exists()
    z = {snap: Snapshot(find_snapshot(universe / "FP" / "output", snap)).redshift for snap in (67, 99)}
    assert z == {67: 0.5, 99: 0.0}


def test_particles_ordered_by_group_then_unbound(universe):
    for run in ("FP", "DMO", "FP-3"):
        snapshot, catalog = open_run(universe, run)
        lengths = catalog.groups("GroupLenType")["GroupLenType"].astype(np.int64)
        in_groups = lengths.sum(axis=0)
        assert np.all(in_groups <= snapshot.header.num_part_total)
        assert snapshot.header.num_part_total[DM] - in_groups[DM] > 0  # unbound particles follow
        assert np.all(np.diff(lengths.sum(axis=1)) <= 0)  # ranked by size, as FoF catalogs are


def test_deterministic_from_seed(tmp_path):
    small = SynthConfig(halos=6, dm_particles=20_000, snapshots=((99, 0.0),), degraded=())
    a, b = generate(small, tmp_path / "a"), generate(small, tmp_path / "b")
    c = generate(dataclasses.replace(small, seed=7), tmp_path / "c")
    snaps = [Snapshot(find_snapshot(d / "FP" / "output", 99)) for d in (a, b, c)]
    np.testing.assert_array_equal(snaps[0].read(GAS, "Coordinates"), snaps[1].read(GAS, "Coordinates"))
    np.testing.assert_array_equal(snaps[0].read(GAS, "InternalEnergy"), snaps[1].read(GAS, "InternalEnergy"))
    assert snaps[0].num_particles(GAS) != snaps[2].num_particles(GAS) or not np.array_equal(
        snaps[0].read(GAS, "Coordinates", 0, 100), snaps[2].read(GAS, "Coordinates", 0, 100))


def test_lower_resolution_twins_conserve_mass(universe):
    fp, fp_cat = open_run(universe, "FP")
    for run, factor in (("FP-2", 8), ("FP-3", 64)):
        low, low_cat = open_run(universe, run)
        assert fp.num_particles(DM) / low.num_particles(DM) == pytest.approx(factor, rel=0.02)
        assert low.header.mass_table[DM] == pytest.approx(factor * fp.header.mass_table[DM], rel=1e-6)
        for ptype in (DM, GAS):
            assert low.read(ptype, "Masses").sum() == pytest.approx(fp.read(ptype, "Masses").sum(), rel=0.01)
        m200_fp = fp_cat.groups("Group_M_Crit200")["Group_M_Crit200"]
        m200_low = low_cat.groups("Group_M_Crit200")["Group_M_Crit200"]
        np.testing.assert_allclose(np.sort(m200_low), np.sort(m200_fp), rtol=0.15)


def test_dmo_twin_shares_dm_particle_ids(universe):
    fp, _ = open_run(universe, "FP")
    dmo, _ = open_run(universe, "DMO")
    assert dmo.num_particles(GAS) == 0 and dmo.num_particles(STARS) == 0
    np.testing.assert_array_equal(np.sort(fp.read(DM, "ParticleIDs")), np.sort(dmo.read(DM, "ParticleIDs")))
    total_fp = sum(fp.read(t, "Masses").sum() for t in range(NTYPES) if fp.num_particles(t))
    assert dmo.read(DM, "Masses").sum() == pytest.approx(total_fp, rel=0.2)


def test_mass_function_spans_a_decade_above_the_cut(universe):
    masses = []
    for snap in (67, 99):
        snapshot, catalog = open_run(universe, "FP", snap)
        masses.append(snapshot.units.mass_to_msun(catalog.groups("Group_M_Crit200")["Group_M_Crit200"]))
    masses = np.concatenate(masses)
    above = masses[masses >= 1e14]
    assert len(above) >= 16
    assert above.max() / 1e14 >= 5.0
    assert (masses < 1e14).any()  # the cut has something to cut


def test_halos_cross_the_periodic_edge(universe):
    crossing = 0
    for snap in (67, 99):
        snapshot, catalog = open_run(universe, "FP", snap)
        box = snapshot.box_size_kpc
        groups = catalog.groups("GroupPos", "Group_R_Crit200", "GroupLenType")
        offsets = catalog.group_offsets()
        for halo in range(catalog.num_groups):
            lo = offsets[halo, DM]
            x = snapshot.read(DM, "Coordinates", lo, lo + groups["GroupLenType"][halo, DM])
            straddles = (x < 0.1 * box).any(axis=0) & (x > 0.9 * box).any(axis=0)
            crossing += bool(straddles.any())
    assert crossing >= 2


def test_gas_phases_for_the_hot_gas_filter(universe):
    snapshot, _ = open_run(universe, "FP")
    temperature = snapshot.temperature()
    density = snapshot.read(GAS, "Density")
    sfr = snapshot.read(GAS, "StarFormationRate")
    metals = snapshot.read(GAS, "GFM_Metallicity")
    hot = (temperature > HOT_T_K) & (sfr == 0) & (density < MAX_HOT_RHO)
    assert 0.8 < hot.mean() < 0.99
    assert (sfr > 0).sum() > 100 and np.all(temperature[sfr > 0] < HOT_T_K)
    assert ((temperature > HOT_T_K) & (sfr == 0) & (density >= MAX_HOT_RHO)).sum() > 50  # dense, hot
    assert ((temperature < HOT_T_K) & (sfr == 0)).sum() > 100  # cold, not star forming
    assert np.all(metals > 0) and np.all(metals < 0.1)
    t_kev = temperature[hot] * 1.380649e-16 / 1.602176634e-9
    assert 0.3 < np.median(t_kev) < 15


def _central_fraction(snapshot, ptype, lo, n, centre, radius, box):
    x = snapshot.read(ptype, "Coordinates", lo, lo + n)
    m = snapshot.read(ptype, "Masses", lo, lo + n)
    d = x - centre
    d -= box * np.round(d / box)
    return m[np.linalg.norm(d, axis=1) < radius].sum() / m.sum()


def test_gas_structure_follows_dark_matter_structure(universe):
    """Across halos, the gas central concentration rises with the DM central concentration."""
    dm_conc, gas_conc = [], []
    for snap in (67, 99):
        snapshot, catalog = open_run(universe, "FP", snap)
        groups = catalog.groups("GroupPos", "Group_R_Crit200", "GroupLenType")
        offsets = catalog.group_offsets()
        box = snapshot.box_size_kpc
        for halo in range(catalog.num_groups):
            centre = snapshot.units.length_to_kpc(groups["GroupPos"][halo])
            r = 0.1 * snapshot.units.length_to_kpc(groups["Group_R_Crit200"][halo])
            lengths = groups["GroupLenType"][halo]
            dm_conc.append(_central_fraction(snapshot, DM, offsets[halo, DM], lengths[DM], centre, r, box))
            gas_conc.append(_central_fraction(snapshot, GAS, offsets[halo, GAS], lengths[GAS], centre, r, box))
    rho, p_value = stats.spearmanr(dm_conc, gas_conc)
    assert rho > 0.4 and p_value < 0.01


def test_same_universe_from_one_and_two_ranks(tmp_path):
    config = tmp_path / "small.yaml"
    config.write_text("synth:\n  halos: 6\n  dm_particles: 20000\n  num_files: 2\n")
    run_mpipaint("synth", "--config", config, "--out", tmp_path / "one")
    run_mpipaint("synth", "--config", config, "--out", tmp_path / "two", ranks=2)
    for run in ("FP", "DMO", "FP-3"):
        for snap in (67, 99):
            files = sorted((tmp_path / "one" / run / "output").rglob(f"*_{snap:03d}.*.hdf5"))
            assert len(files) == 4
            for file in files:
                twin = tmp_path / "two" / file.relative_to(tmp_path / "one")
                with h5py.File(file) as a, h5py.File(twin) as b:
                    for name in ("PartType1/Coordinates", "PartType1/ParticleIDs", "Group/Group_M_Crit200"):
                        if name in a:
                            np.testing.assert_array_equal(a[name][()], b[name][()], err_msg=f"{file} {name}")


def test_bad_synth_option_is_refused(tmp_path):
    result = run_mpipaint("synth", "--out", tmp_path / "x", "--flavour", "tng", "--halos", "0", check=False)
    assert result.returncode == 2 and "halos >= 1" in result.stderr
