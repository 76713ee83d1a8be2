"""Map kernels and gas maps: exact CIC weights, conservation, periodic wrapping, and agreement with yt
(CIC deposition, SPH projection) and pyxsim (APEC X-ray luminosity) on the same particles."""
import os
import subprocess
import sys

import numba
import numpy as np
import pytest

from mpipaint import units as u
from mpipaint.errors import InputError
from mpipaint.halos.particles import HaloParticles
from mpipaint.halos.select import select_subfind
from mpipaint.io.particle_types import GAS
from mpipaint.io.snapshot import Snapshot, find_snapshot
from mpipaint.maps import xray
from mpipaint.maps.apec_files import require_apec_tables
from mpipaint.maps.cic import PARTICLES_PER_BLOCK, cic_project_axes
from mpipaint.maps.gas import GasCells, gas_maps, hot_gas_mask
from mpipaint.maps.geometry import IMAGE_AXES, MapGeometry
from mpipaint.maps.sph import smoothing_length, sph_project
from one_map import cic_project, dm_map
from pyxsim_reference import pyxsim_luminosities



def geometry(axis=2, npix=10, width=10.0, centre=(0.0, 0.0, 0.0), box=0.0):
    return MapGeometry(centre=centre, width=width, npix=npix, axis=axis, box_size=box)


def test_cic_exact_weights():
    g = geometry()  # 1 kpc pixels, pixel i spans [-5 + i, -4 + i)
    at_centre = cic_project(np.array([[-4.5, -4.5, 0.0]]), 2.0, g)
    assert at_centre[0, 0] == 2.0 and at_centre.sum() == 2.0
    between = cic_project(np.array([[-4.25, -3.75, 0.0]]), 1.0, g)  # 1/4 px right, 3/4 px up
    np.testing.assert_allclose(between[0:2, 0:3], [[0.75 * 0.25, 0.75 * 0.75, 0.0], [0.25 * 0.25, 0.25 * 0.75, 0.0]],
                               atol=1e-15)
    # image axes follow yt: along x the image is (y, z)
    along_x = cic_project(np.array([[3.0, -4.5, 4.5]]), 1.0, geometry(axis=0))
    assert along_x[0, 9] == 1.0


def test_cic_conserves_mass_inside_the_map():
    rng = np.random.default_rng(3)
    positions = rng.uniform(-4.4, 4.4, size=(200_000, 3))
    weights = rng.uniform(0.5, 2.0, 200_000)
    assert cic_project(positions, weights, geometry(npix=64)).sum() == pytest.approx(weights.sum(), rel=1e-12)


def _reference_cic(positions, weights, g):
    """Plain numpy CIC (np.add.at, one corner at a time), written apart from the kernel it checks."""
    d = np.asarray(positions) - np.asarray(g.centre)
    if g.box_size > 0:
        d -= g.box_size * np.round(d / g.box_size)
    i, j = IMAGE_AXES[g.axis]
    x = (d[:, i] + 0.5 * g.width) / g.pixel_size - 0.5
    y = (d[:, j] + 0.5 * g.width) / g.pixel_size - 0.5
    in_depth = np.abs(d[:, g.axis]) <= 0.5 * g.depth
    i0, j0 = np.floor(x).astype(int), np.floor(y).astype(int)
    grid = np.zeros((g.npix, g.npix))
    for di, wx in ((0, 1 - (x - i0)), (1, x - i0)):
        for dj, wy in ((0, 1 - (y - j0)), (1, y - j0)):
            a, b = i0 + di, j0 + dj
            ok = in_depth & (a >= 0) & (a < g.npix) & (b >= 0) & (b < g.npix)
            np.add.at(grid, (a[ok], b[ok]), (weights * wx * wy)[ok])
    return grid


def test_cic_matches_a_plain_numpy_cic_at_map_edges_depth_cut_and_box_wrap():
    """Clouds cut by every map edge, particles beyond the depth and across the periodic boundary."""
    rng = np.random.default_rng(7)
    box = 500.0
    g = MapGeometry(centre=(490.0, 10.0, 250.0), width=80.0, npix=40, axis=1, box_size=box, depth=60.0)
    positions = (np.array(g.centre) + rng.uniform(-50.0, 50.0, size=(100_000, 3))) % box
    weights = rng.uniform(0.5, 2.0, len(positions))
    ours = cic_project(positions, weights, g)
    np.testing.assert_allclose(ours, _reference_cic(positions, weights, g), rtol=1e-12, atol=1e-12 * weights.sum())
    assert 0 < ours.sum() < weights.sum()  # partly cut: the comparison covers both kinds of particle


def test_one_pass_along_three_axes_gives_each_axis_its_own_projection():
    """A halo's three maps come from one pass over its particles (paint, prepare): each must equal the
    numpy reference along its axis, with clouds cut by edges, depth and the periodic wrap, and be
    bit-identical to projecting that axis alone."""
    rng = np.random.default_rng(9)
    box, centre = 500.0, (490.0, 10.0, 250.0)
    positions = (np.array(centre) + rng.normal(0.0, 30.0, size=(3 * PARTICLES_PER_BLOCK + 7, 3))) % box
    weights = rng.uniform(0.5, 2.0, len(positions))
    geometries = [MapGeometry(centre=centre, width=80.0, npix=40, axis=a, box_size=box, depth=60.0) for a in (0, 1, 2)]
    maps = cic_project_axes(positions, weights, geometries)
    for g, image in zip(geometries, maps):
        assert np.array_equal(image, cic_project(positions, weights, g)), g.axis
        np.testing.assert_allclose(image, _reference_cic(positions, weights, g), rtol=1e-12,
                                   atol=1e-12 * weights.sum())
    assert len({float(m.sum()) for m in maps}) == 3  # the axes cut different particles: a real comparison


def test_the_device_projection_makes_the_host_maps_in_float32():
    """JAX paint projects on the device (maps.device_projection.DeviceProjector): a group of three halos, one across the
    periodic boundary, in cube mode (depth cut), along three axes, in two calls of PARTICLE_CHUNK particles,
    padded to two batches of four maps, gives each halo's maps of the numpy reference within float32
    rounding (1e-5 of the map's peak), empty pixels where the reference has none, and each map's mass (its
    total) within 1e-6."""
    pytest.importorskip("jax")
    from mpipaint.maps.geometry import MapSpec  # noqa: PLC0415
    from mpipaint.maps.device_projection import PARTICLE_CHUNK, DeviceProjector  # noqa: PLC0415

    assert PARTICLE_CHUNK < 70_000 < 2 * PARTICLE_CHUNK
    rng = np.random.default_rng(11)
    box, spec, axes = 500.0, MapSpec(npix=40, width_kpc=80.0, deposition_mode="cube"), (0, 1, 2)
    halos = []
    for centre, count in (((490.0, 10.0, 250.0), 70_000), ((250.0, 250.0, 250.0), 5), ((100.0, 400.0, 60.0), 9_000)):
        row = {"centre_x": centre[0], "centre_y": centre[1], "centre_z": centre[2], "box_size": box}
        positions = (np.array(centre) + rng.normal(0.0, 30.0, size=(count, 3))) % box
        halos.append((positions, rng.uniform(0.5, 2.0, count), row))
    maps = DeviceProjector(spec, axes, batch_size=4).project(halos)
    assert maps.array.shape == (12, 40, 40) and len(maps) == 9
    host, totals = maps.host(), maps.totals()
    for h, (positions, masses, row) in enumerate(halos):
        for k, g in enumerate(spec.geometries(row, axes)):
            reference = _reference_cic(positions, masses, g) / g.pixel_area
            image = host[h * 3 + k]
            np.testing.assert_allclose(image, reference, rtol=0, atol=1e-5 * reference.max())
            np.testing.assert_array_equal(image > 0, reference > 0)
            np.testing.assert_allclose(totals[h * 3 + k], reference.sum() * g.pixel_area, rtol=1e-6)
    assert np.all(np.asarray(maps.array[9:]) == 0)  # the padding maps are empty
    assert 0 < totals[0] < halos[0][1].sum()  # partly cut by the map's edges and depth


def test_cic_and_sph_are_bit_identical_for_one_and_two_threads():
    """Three fixed blocks: threads change who deposits them, never the order in which they are summed."""
    rng = np.random.default_rng(8)
    positions = rng.normal(0.0, 2.0, size=(3 * PARTICLES_PER_BLOCK - 5, 3))
    weights = rng.uniform(0.5, 2.0, len(positions))
    g = geometry(npix=16)
    smoothing = rng.uniform(0.1, 2.0, len(positions))
    deposit = {"cic": lambda: cic_project(positions, weights, g),
               "sph": lambda: sph_project(positions, smoothing, np.stack([weights, 2 * weights], axis=1), g)}
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = {name: f() for name, f in deposit.items()}
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = {name: f() for name, f in deposit.items()}
    finally:
        numba.set_num_threads(threads)
    for name in deposit:
        assert np.array_equal(one[name], two[name]), name
    np.testing.assert_allclose(one["cic"], _reference_cic(positions, weights, g), rtol=1e-12)
    # SPH: a cell whose footprint lies inside the map keeps all its weight, one that misses it keeps none
    reach = np.abs(positions[:, :2]).max(axis=1)
    inside, touching = 2 * weights[reach + smoothing < 4.5].sum(), 2 * weights[reach - smoothing < 5.0].sum()
    assert inside <= one["sph"][1].sum() <= touching


KERNELS_SCRIPT = """
import sys
import numpy as np
from mpipaint.maps.cic import cic_project_axes
from mpipaint.maps.geometry import MapGeometry
from mpipaint.maps.sph import sph_project
rng = np.random.default_rng(3)
positions = rng.normal(0.0, 150.0, size=(20000, 3))
weights = 10 ** rng.normal(0.0, 1.5, (len(positions), 2))
g = MapGeometry(centre=(0.0, 0.0, 0.0), width=1000.0, npix=64, axis=2, box_size=0.0)
np.save(sys.argv[1], np.stack([cic_project_axes(positions, weights[:, 0], [g])[0],
                               *sph_project(positions, rng.uniform(5, 80, len(positions)), weights, g)]))
"""


def test_kernels_give_the_same_bits_freshly_compiled_and_from_numba_cache(tmp_path):
    """A prepare killed on a cold cache and resumed on a warm one must match an uninterrupted run: results
    may not depend on whether numba compiled a kernel now or loaded it (fast-math reassociation did)."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    for name in ("cold", "warm"):
        subprocess.run([sys.executable, "-c", KERNELS_SCRIPT, str(tmp_path / f"{name}.npy")], env=env, check=True,
                       timeout=300)
    assert any((tmp_path / "cache").rglob("*.nbi"))  # the second run had a cache to load
    assert np.array_equal(np.load(tmp_path / "cold.npy"), np.load(tmp_path / "warm.npy"))


def test_halo_across_the_box_edge_projects_like_an_interior_halo():
    rng = np.random.default_rng(4)
    box = 1000.0
    halo = rng.normal(0.0, 30.0, size=(50_000, 3))
    masses = rng.uniform(1, 2, 50_000)
    edge_centre, inner_centre = np.array([2.0, 500.0, 998.0]), np.array([400.0, 500.0, 400.0])
    for axis in (0, 1, 2):
        edge = cic_project((halo + edge_centre) % box, masses, geometry(axis, 64, 300.0, tuple(edge_centre), box))
        inner = cic_project(halo + inner_centre, masses, geometry(axis, 64, 300.0, tuple(inner_centre), box))
        np.testing.assert_allclose(edge, inner, rtol=0, atol=1e-9 * masses.sum())


def _yt():
    """yt, an optional reference (the tests that compare with it are skipped without it)."""
    yt = pytest.importorskip("yt")
    yt.set_log_level(40)
    return yt


def _yt_particles(positions, masses, box):
    yt = _yt()
    data = {("io", f"particle_position_{c}"): positions[:, k] for k, c in enumerate("xyz")}
    data[("io", "particle_mass")] = masses
    return yt.load_particles(data, length_unit="kpc", mass_unit="Msun", bbox=np.array([[0, box]] * 3))


@pytest.mark.reference
def test_cic_agrees_with_yt_particle_deposition():
    """yt's FITSParticleProjection(deposition='cic') on the same particles: <= 1e-4 of the map total.

    Particles stay inside the map: yt drops particles outside the region whose clouds overlap the edge."""
    rng = np.random.default_rng(5)
    positions, masses = rng.uniform(350, 650, size=(20_000, 3)), rng.uniform(1, 2, 20_000)
    ds, yt = _yt_particles(positions, masses, 1000.0), _yt()
    for axis in (0, 1, 2):
        image = yt.FITSParticleProjection(ds, "xyz"[axis], ("io", "particle_mass"), center=ds.arr([500] * 3, "kpc"),
                                          width=(400.0, "kpc"), image_res=64, deposition="cic")
        theirs = np.nan_to_num(np.asarray(image["particle_mass"].data, float)) / ds.quan(1, "Msun").to_value("g")
        ours = cic_project(positions, masses, geometry(axis, 64, 400.0, (500.0,) * 3, 1000.0)).T  # FITS: [y, x]
        assert np.abs(ours - theirs).max() <= 1e-4 * theirs.sum()


@pytest.fixture(scope="module")
def cluster(universe):
    """Hot gas of a massive halo of the example universe, unwrapped around its centre (+5000 kpc)."""
    table = select_subfind(universe / "FP" / "output", 99, 1e14)
    row = table.iloc[2]
    snapshot = Snapshot(find_snapshot(universe / "FP" / "output", 99))
    cells = HaloParticles({99: snapshot}, table, "group", "offsets").gas(2)
    centre = tuple(row[["centre_x", "centre_y", "centre_z"]].astype(float))
    shift = MapGeometry(centre=centre, width=1.0, npix=1, axis=2, box_size=float(row["box_size"])).offsets
    local = GasCells(shift(cells.positions) + 5000.0, *(getattr(cells, f) for f in
                     ("mass", "density", "temperature", "electron_abundance", "sfr", "metallicity")))
    return {"row": row, "snapshot": snapshot, "cells": cells, "local": local}


@pytest.mark.reference
def test_gas_column_density_agrees_with_yt_sph_projection(cluster):
    """Same cells, same kernel (cubic spline) and h = 2 (3V/4pi)^(1/3) as yt: the map sums agree to 0.2 %
    and 90 % of pixels above 1 % of the peak to 0.2 %. The residual comes from mpipaint normalising each
    cell's weights to its exact mass (yt does not) and from the kernel tables' resolution."""
    yt, hot = _yt(), cluster["local"].hot()
    volume = hot.volume_kpc3
    data = {("gas", f"particle_position_{c}"): hot.positions[:, k] for k, c in enumerate("xyz")}
    data.update({("gas", "particle_mass"): hot.mass, ("gas", "density"): hot.mass / volume,
                 ("gas", "smoothing_length"): smoothing_length(volume)})
    ds = yt.load_particles(data, length_unit="kpc", mass_unit="Msun", bbox=np.array([[0, 10000.0]] * 3),
                           periodicity=(False,) * 3)
    for axis in (0, 1, 2):
        frb = ds.proj(("gas", "density"), axis).to_frb((2000.0, "kpc"), 256, center=ds.arr([5000] * 3, "kpc"))
        theirs = np.asarray(frb[("gas", "density")].to("Msun/kpc**2"))
        ours = gas_maps(hot, geometry(axis, 256, 2000.0, (5000.0,) * 3))["gas"].T
        assert ours.sum() == pytest.approx(theirs.sum(), rel=2e-3)
        bright = theirs > 0.01 * theirs.max()
        assert np.percentile(np.abs(ours[bright] / theirs[bright] - 1), 90) < 2e-3


def test_hot_gas_filter_and_conservation(cluster):
    cells = cluster["local"]
    hot = hot_gas_mask(cells.temperature, cells.density, cells.sfr)
    assert 0 < hot.sum() < len(hot)
    g = geometry(2, 128, 8000.0, (5000.0,) * 3)
    maps = gas_maps(cells, g)
    assert maps["gas"].sum() * g.pixel_area == pytest.approx(cells.mass[hot].sum(), rel=1e-9)
    lx = xray.luminosity(cells.mass, cells.density, cells.temperature, cells.metallicity, cells.electron_abundance)
    assert maps["xray"].sum() * g.pixel_area == pytest.approx(lx[hot].sum(), rel=1e-9)
    assert (maps["temperature"] >= 0).all() and maps["temperature"].max() < 30


def test_mazzotta_temperature_of_isothermal_gas_is_that_temperature():
    rng = np.random.default_rng(6)
    n = 5000
    cells = GasCells(rng.normal(0, 100, (n, 3)), np.full(n, 1e8), 10 ** rng.uniform(-28, -26, n),
                     np.full(n, 5.0e7), np.full(n, 1.157), np.zeros(n), np.full(n, 0.004))
    temperature = gas_maps(cells, geometry(2, 32, 600.0))["temperature"]
    kt = 5.0e7 * u.BOLTZMANN_ERG_K / u.KEV_ERG
    np.testing.assert_allclose(temperature[temperature > 0], kt, rtol=1e-12)


def test_mazzotta_weights_favour_cool_dense_gas():
    two = GasCells(np.zeros((2, 3)), np.array([1e8, 1e8]), np.array([1e-26, 1e-26]), np.array([1e7, 1e8]),
                   np.full(2, 1.157), np.zeros(2), np.full(2, 0.004))
    t_map = gas_maps(two, geometry(2, 4, 40.0))["temperature"]
    w = np.array([1e7, 1e8]) ** -0.75
    expected = (w * np.array([1e7, 1e8])).sum() / w.sum() * u.BOLTZMANN_ERG_K / u.KEV_ERG
    assert t_map.max() == pytest.approx(expected, rel=1e-12)


@pytest.mark.reference
def test_xray_fast_table_agrees_with_pyxsim_and_yt(cluster):
    """pyxsim's CIESourceModel (APEC 3.0.8 from the same files) on yt's load of the same snapshot: the halo's
    hot-gas 0.5-2 keV luminosity (the X-ray image sum) agrees within 2 %."""
    pytest.importorskip("pyxsim")
    snapshot, row = cluster["snapshot"], cluster["row"]
    theirs, ids = pyxsim_luminosities(snapshot.files[0])
    np.testing.assert_array_equal(ids, snapshot.read(GAS, "ParticleIDs"))  # same cells, same order
    start, stop = int(row["offset_type0"]), int(row["offset_type0"] + row["count_type0"])
    cells = cluster["cells"]
    hot = hot_gas_mask(cells.temperature, cells.density, cells.sfr)
    g = geometry(2, 256, 4000.0, tuple(row[["centre_x", "centre_y", "centre_z"]].astype(float)), float(row["box_size"]))
    image_sum = gas_maps(cells, g)["xray"].sum() * g.pixel_area
    reference = theirs[start:stop][hot].sum()
    assert image_sum == pytest.approx(reference, rel=0.02)
    assert 1e42 < reference < 1e46  # erg/s: a cluster


def test_missing_apec_tables_stop_with_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("MPIPAINT_APEC_DIR", str(tmp_path))
    with pytest.raises(InputError, match=r"APEC 3\.0\.8 tables .* not found.*does not fall back"):
        require_apec_tables()


def test_dm_map_units(universe):
    table = select_subfind(universe / "FP" / "output", 67, 1e14)
    row = table.iloc[0]
    snapshot = Snapshot(find_snapshot(universe / "FP" / "output", int(row["snapshot"])))
    positions, masses = HaloParticles({int(row["snapshot"]): snapshot}, table, "group", "offsets").dm(0)
    g = MapGeometry(centre=tuple(row[["centre_x", "centre_y", "centre_z"]].astype(float)), width=40_000.0,
                    npix=64, axis=1, box_size=float(row["box_size"]))
    assert dm_map(positions, masses, g).sum() * g.pixel_area == pytest.approx(masses.sum(), rel=1e-9)


def test_sph_cell_smaller_than_a_pixel_goes_whole_into_its_pixel():
    g = geometry(2, 10, 10.0)
    image = sph_project(np.array([[0.2, -3.7, 0.0]]), np.array([0.1]), np.array([5.0]), g)
    assert image[5, 1] == 5.0 and image.sum() == 5.0
