"""Subsampled inputs: a deterministic fraction of a run's DM chosen by particle ID, masses scaled by its
inverse, the same for any rank count, conserving mass within the binomial error."""
import h5py
import numpy as np
import pytest

from conftest import run_mpipaint
from mpipaint.halos.particles import kept_by_id


@pytest.mark.parametrize("fraction", [0.5, 0.1, 0.03])
def test_the_kept_fraction_is_binomial_nested_and_a_function_of_the_id_alone(fraction):
    """Of 2e6 IDs (consecutive, as N-body codes number them, and random 64-bit ones) the kept fraction lies
    within 4 binomial sigma of F; a sparser subsample is a subset of a denser one (one subsample family, as
    AbacusSummit's A within A+B); chunks of IDs in any order give the same choice."""
    rng = np.random.default_rng(3)
    for ids in (np.arange(1, 2_000_001, dtype=np.uint64), rng.integers(0, 2**63, 2_000_000, dtype=np.uint64)):
        kept = kept_by_id(ids, fraction)
        sigma = np.sqrt(fraction * (1 - fraction) / len(ids))
        assert abs(kept.mean() - fraction) < 4 * sigma
        assert not (kept & ~kept_by_id(ids, min(1.0, 2 * fraction))).any()
        order = rng.permutation(len(ids))
        chunked = np.concatenate([kept_by_id(part, fraction) for part in np.array_split(ids[order], 7)])
        np.testing.assert_array_equal(chunked, kept[order])
    assert kept_by_id(np.arange(1000), 1.0).all()


@pytest.mark.mpi
def test_prepare_subsample_is_the_same_on_one_and_two_ranks_and_keeps_the_mass(universe, tmp_path):
    """`prepare --subsample 0.25` of the FP run: bit-identical DM maps on 1 and 2 ranks (slabs on 2), each map's
    DM total within 5 binomial sigma of the full run's, the gas maps untouched, and the set's particle mass
    4x the run's with the fraction recorded; a fraction outside (0, 1] is refused with exit 2."""
    halos = tmp_path / "halos.hdf5"
    run_mpipaint("select", universe / "FP" / "output", "--snap", "99", "--out", halos, "--min-m200c", "2e14")
    common = ("prepare", universe / "FP" / "output", "--halos", halos, "--npix", "32")
    run_mpipaint(*common, "--out", tmp_path / "full.hdf5")
    run_mpipaint(*common, "--out", tmp_path / "one.hdf5", "--subsample", "0.25")
    run_mpipaint(*common, "--out", tmp_path / "two.hdf5", "--subsample", "0.25", "--read-strategy", "slabs",
                 ranks=2)
    with h5py.File(tmp_path / "full.hdf5") as full, h5py.File(tmp_path / "one.hdf5") as one, \
            h5py.File(tmp_path / "two.hdf5") as two:
        np.testing.assert_array_equal(one["dm"][()], two["dm"][()])
        np.testing.assert_array_equal(one["gas"][()], full["gas"][()])
        assert one.attrs["subsample_fraction"] == 0.25
        assert one.attrs["dm_particle_mass_msun"] == pytest.approx(4 * full.attrs["dm_particle_mass_msun"])
        totals_full = full["dm"][()].sum(axis=(1, 2))
        totals_sub = one["dm"][()].sum(axis=(1, 2))
        counts = totals_full * full.attrs["pixel_kpc"] ** 2 / full.attrs["dm_particle_mass_msun"]
    assert len(counts) >= 6 and counts.min() > 100
    assert np.all(np.abs(totals_sub / totals_full - 1) < 5 * np.sqrt(0.75 / (0.25 * counts)))
    assert not np.array_equal(totals_sub, totals_full)
    refused = run_mpipaint(*common, "--out", tmp_path / "bad.hdf5", "--subsample", "1.5", check=False)
    assert refused.returncode == 2 and "subsample must be a fraction in (0, 1]" in refused.stderr
    assert not (tmp_path / "bad.hdf5").exists()
