"""The light-cone: halo counts against the shells' volumes, distances against astropy, the K-correction
against SOXS, peculiar velocities, repeated halos, realisations, rank-count independence and bad input.
Painted catalogs are written in mpipaint's own format (io.painted) with halos placed by the test."""
import h5py
import numpy as np
import pandas as pd
import pytest

from conftest import run_mpipaint
from painted_files import BOX_CKPC, H, OMEGA_M, SIGMA, Y_MAP_OFFSET, write_painted
from mpipaint.io.lightcone import LightconeCatalog
from mpipaint.io.arf import read_arf
from mpipaint.maps.apec_files import apec_dir
from mpipaint.sky.absorption import TBABS_FILE, transmission
from mpipaint.sky.spectra import ObservedBand

pytestmark = pytest.mark.mpi


@pytest.fixture(scope="module")
def two_snapshots(tmp_path_factory):
    """Snapshots at z = 0.1 and 0.25 of one 300 cMpc box, 120 uniformly placed halos each; the first with
    peculiar velocities of 600 km/s along +x."""
    out = tmp_path_factory.mktemp("sky")
    rng = np.random.default_rng(11)
    near = write_painted(out / "painted_091.hdf5", 91, 0.1, rng.uniform(0, BOX_CKPC, (120, 3)),
                         velocity=np.tile([600.0, 0.0, 0.0], (120, 1)), seed=1)
    far = write_painted(out / "painted_084.hdf5", 84, 0.25, rng.uniform(0, BOX_CKPC, (120, 3)), seed=2)
    return near, far


def _lightcone(tmp_path, name, *painted_paths, ranks=2, extra=()):
    out = tmp_path / name
    run_mpipaint("lightcone", *painted_paths, "--out", out, "--zmax", "0.35", *extra, ranks=ranks)
    return out


def test_full_sky_counts_are_the_halo_densities_times_the_shell_volumes(two_snapshots, tmp_path):
    out = _lightcone(tmp_path, "lc.hdf5", *two_snapshots, extra=("--observer", "0.3", "0.6", "0.1"))
    with LightconeCatalog(out) as lc:
        edges, snapshots = lc.column("shell_edges_kpc"), lc.column("shell_snapshots")
        rows = lc.column("snapshot")
        distance = lc.column("comoving_distance")
    assert list(snapshots) == [91, 84]
    for k, snapshot in enumerate(snapshots):
        expected = 120 / BOX_CKPC**3 * 4.0 / 3.0 * np.pi * (edges[k + 1] ** 3 - edges[k] ** 3)
        got = int((rows == snapshot).sum())
        assert abs(got - expected) < 5 * np.sqrt(expected), (snapshot, got, expected)
        inside = distance[rows == snapshot]
        assert inside.min() >= edges[k] and inside.max() < edges[k + 1]


@pytest.mark.reference
def test_distances_agree_with_astropy(two_snapshots, tmp_path):
    astropy_cosmology = pytest.importorskip("astropy.cosmology")
    out = _lightcone(tmp_path, "lc.hdf5", two_snapshots[1], extra=("--sky", "octant"))
    reference = astropy_cosmology.LambdaCDM(H0=100 * H, Om0=OMEGA_M, Ode0=1 - OMEGA_M, Tcmb0=0)
    with LightconeCatalog(out) as lc:
        z = lc.column("z_cos")
        np.testing.assert_allclose(lc.column("comoving_distance"), reference.comoving_distance(z).to_value("kpc"),
                                   rtol=1e-6)
        np.testing.assert_allclose(lc.column("d_l"), reference.luminosity_distance(z).to_value("kpc"), rtol=1e-6)
        np.testing.assert_allclose(lc.column("d_a"), reference.angular_diameter_distance(z).to_value("kpc"),
                                   rtol=1e-6)
        assert (lc.column("ra") < 90).all() and (lc.column("dec") >= 0).all()
        # without velocities the flux is the K-corrected luminosity over 4 pi d_L^2
        assert not lc.column("velocity_known").any()
        d_l_cm = reference.luminosity_distance(z).to_value("cm")
        np.testing.assert_allclose(lc.column("flux_x") * 4 * np.pi * d_l_cm**2 / lc.column("k_corr"),
                                   lc.column("lx"), rtol=1e-6)


def _soxs_generator():
    thermal = pytest.importorskip("soxs.thermal_spectra")
    from mpipaint.maps.apec_files import APEC_VERSION, require_apec_tables  # noqa: PLC0415

    return thermal.CIEGenerator("apec", 0.1, 6.0, 11800, model_root=str(require_apec_tables()),
                                model_vers=APEC_VERSION, abund_table="angr")


def _off_grid_points(seed):
    rng = np.random.default_rng(seed)
    return list(zip(np.geomspace(1.0, 15.0, 6) * rng.uniform(0.93, 1.07, 6), rng.uniform(0.0, 1.0, 6)))


@pytest.mark.reference
def test_k_correction_agrees_with_soxs_band_integration():
    """K(T, z) against SOXS integrating the same APEC spectrum (0.3 solar) redshifted to z, observer-frame
    band over rest 0.5-2 keV, off the tables' grids: kT 1-15 keV, z 0-1."""
    generator, band = _soxs_generator(), ObservedBand((0.5, 2.0), 1.0)
    for kt, z in _off_grid_points(5):
        rest, seen = (generator.get_spectrum(kt, 0.3, redshift, 1.0) for redshift in (0.0, z))
        # SOXS dims a redshifted spectrum by (1 + z) in energy and time: undo that to compare luminosities
        theirs = (seen.get_flux_in_band(0.5, 2.0)[1] / rest.get_flux_in_band(0.5, 2.0)[1]).value * (1 + z) ** 2
        assert float(band(band.k_corr, kt, z)) == pytest.approx(theirs, rel=0.01), (kt, z)


def _tbabs_as_soxs_2_read_it():
    """SOXS 2.0.0's own reading of its tbabs table: a quintic spline through the bin centres."""
    from scipy.interpolate import InterpolatedUnivariateSpline  # noqa: PLC0415

    with h5py.File(apec_dir() / TBABS_FILE) as f:
        sigma, emin, emax = f["cross_section"][()], float(f["emin"][()]), float(f["emax"][()])
    edges = np.linspace(emin, emax, len(sigma) + 1)
    return InterpolatedUnivariateSpline(0.5 * (edges[1:] + edges[:-1]), sigma, k=5, ext=1)


@pytest.mark.reference
def _write_arf(path):
    """An OGIP ARF, 0.1-10 keV: a Gaussian bump of 600 cm^2 at 1.5 keV on 20 cm^2."""
    fits = pytest.importorskip("astropy.io.fits")
    energy = np.linspace(0.1, 10.0, 991)
    lo, hi = energy[:-1], energy[1:]
    area = 600.0 * np.exp(-0.5 * ((0.5 * (lo + hi) - 1.5) / 0.8) ** 2) + 20.0
    columns = [fits.Column("ENERG_LO", "E", "keV", array=lo), fits.Column("ENERG_HI", "E", "keV", array=hi),
               fits.Column("SPECRESP", "E", "cm**2", array=area)]
    table = fits.BinTableHDU.from_columns(columns, name="SPECRESP")
    table.header.update({"HDUCLASS": "OGIP", "HDUCLAS1": "RESPONSE", "HDUCLAS2": "SPECRESP"})
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path)
    return path


def test_absorption_and_count_rates_agree_with_soxs(tmp_path, monkeypatch):
    """Through N_H = 5e21 cm^-2 (tbabs) and an OGIP ARF written here, the absorbed fraction of the band flux
    and the photons per erg seen through the ARF equal those of SOXS's own redshifted spectrum, absorbed as
    SOXS 2.0.0 applies tbabs and seen through the ARF as SOXS reads it."""
    response = pytest.importorskip("soxs.response")
    arf_path = _write_arf(tmp_path / "test.arf")
    band = ObservedBand((0.5, 2.0), 1.0, transmission(5e21), read_arf(arf_path))
    monkeypatch.chdir(tmp_path)  # SOXS finds an ARF by its name in the working directory
    arf = response.AuxiliaryResponseFile(arf_path.name)
    sigma, generator = _tbabs_as_soxs_2_read_it(), _soxs_generator()
    for kt, z in _off_grid_points(8):
        seen = generator.get_spectrum(kt, 0.3, z, 1.0)
        e, de = seen.emid.value, seen.de.value
        inside = (e >= 0.5) & (e < 2.0)
        photons = seen.flux.value * de
        kept = photons * np.exp(-5e21 * sigma(e))
        clear, absorbed = ((p * e)[inside].sum() for p in (photons, kept))
        counts = (kept * arf.interpolate_area(e).value)[inside].sum()
        fraction = band(band.k_absorbed, kt, z) / band(band.k_corr, kt, z)
        assert float(fraction) == pytest.approx(absorbed / clear, rel=0.01), (kt, z)
        per_erg = counts / (absorbed * 1.602176634e-9)
        assert float(band(band.photons_per_erg, kt, z)) == pytest.approx(per_erg, rel=0.01), (kt, z)


def test_peculiar_velocities_shift_the_observed_redshift(two_snapshots, tmp_path):
    """Halos moving at 600 km/s along +x: v_los = 600 cos(dec) cos(ra) from the sky position alone, and
    1 + z_obs = (1 + z_cos) sqrt((1 + b) / (1 - b))."""
    out = _lightcone(tmp_path, "lc.hdf5", two_snapshots[0], extra=("--zmax", "0.2"))
    with LightconeCatalog(out) as lc:
        ra, dec = np.radians(lc.column("ra")), np.radians(lc.column("dec"))
        assert lc.column("velocity_known").all()
        np.testing.assert_allclose(lc.column("v_los"), 600 * np.cos(dec) * np.cos(ra), atol=1e-6)
        beta = lc.column("v_los") / 299792.458
        np.testing.assert_allclose(1 + lc.column("z_obs"), (1 + lc.column("z_cos")) * np.sqrt((1 + beta) / (1 - beta)),
                                   rtol=1e-12)


def test_one_halo_through_two_replicas_keeps_its_painted_values(two_snapshots, tmp_path):
    """Every row carries the painted values of its halo along the projection it names, whichever replica
    it was seen through; a halo appears more than once."""
    out = _lightcone(tmp_path, "lc.hdf5", *two_snapshots, extra=("--shuffle-replicas", "4"))
    catalogs = {}
    for path in two_snapshots:
        with h5py.File(path) as f:
            catalogs[int(f.attrs["snapshot"])] = {name: f[name][()] for name in ("halo_id", "lx", "t_mean", "mgas")}
    with LightconeCatalog(out) as lc:
        snapshot, halo, axis = lc.column("snapshot"), lc.column("halo_id"), lc.column("axis")
        columns = {name: lc.column(name) for name in ("lx", "t_mean", "mgas")}
        replicas = lc.column("replica")
    seen = pd.DataFrame({"snapshot": snapshot, "halo": halo}).value_counts()
    assert seen.max() > 1
    for s, cat in catalogs.items():
        rows = np.flatnonzero(snapshot == s)
        index = np.searchsorted(cat["halo_id"], halo[rows])
        for name, values in columns.items():
            np.testing.assert_array_equal(values[rows], cat[name][index, axis[rows]], err_msg=name)
    assert len({tuple(r) for r in replicas}) > 8


def test_realisations_scatter_as_the_painted_sigma_and_any_rank_count_gives_the_same_file(two_snapshots,
                                                                                           tmp_path):
    options = ("--draws", "16", "--seed", "9", "--shuffle-replicas", "2", "--cone", "40", "20", "50")
    one = _lightcone(tmp_path, "one.hdf5", *two_snapshots, ranks=1, extra=options)
    two = _lightcone(tmp_path, "two.hdf5", *two_snapshots, ranks=2, extra=options)
    with h5py.File(one) as a, h5py.File(two) as b:
        assert sorted(a) == sorted(b)
        for name in a:
            np.testing.assert_array_equal(a[name][()], b[name][()], err_msg=name)
        lx, draws = a["lx"][()], a["lx_draws"][()]
        spread = np.log10(draws / lx[:, None])
        n = spread.size
        assert abs(spread.mean()) < 4 * SIGMA["xray"] / np.sqrt(n)
        assert spread.std() == pytest.approx(SIGMA["xray"], rel=4 / np.sqrt(2 * n))
        assert a["flux_x_draws"].shape == draws.shape and (a["flux_x_draws"][()] > 0).all()
        np.testing.assert_allclose(a["y_sr_draws"][()], a["y_int_draws"][()] / a["d_a"][()][:, None] ** 2, rtol=1e-12)
        direction = np.stack([np.cos(np.radians(a["dec"][()])) * np.cos(np.radians(a["ra"][()])),
                              np.cos(np.radians(a["dec"][()])) * np.sin(np.radians(a["ra"][()])),
                              np.sin(np.radians(a["dec"][()]))], axis=1)
        axis = [np.cos(np.radians(20)) * np.cos(np.radians(40)), np.cos(np.radians(20)) * np.sin(np.radians(40)),
                np.sin(np.radians(20))]
        assert (direction @ axis >= np.cos(np.radians(50)) - 1e-12).all()


def test_rows_spilled_in_batches_by_interleaved_ranks_land_once_each_in_unit_order(tmp_path, monkeypatch):
    """Units dealt round-robin to three ranks, spilled and copied in batches of a few units: every row lands
    once, in unit order, whatever the batch boundaries."""
    from mpipaint.io import lightcone as io_lightcone
    monkeypatch.setattr(io_lightcone, "SPILL_BATCH_BYTES", 200)  # a batch every 1-3 units
    rng = np.random.default_rng(5)
    units = [{"ra": rng.uniform(0, 360, n), "halo_id": rng.integers(0, 10**9, n),
              "replica": rng.integers(-3, 3, (n, 3))} for n in rng.integers(0, 9, 40)]
    ranks = [io_lightcone.SpilledRows(tmp_path, rank, 3) for rank in range(3)]
    for index, rows in enumerate(units):
        ranks[index % 3].add(index, rows)
    where = {index: spot for spilled in ranks for index, spot in spilled.close().items()}
    assert len({spot[1] for spot in where.values()}) > 3  # several batches per rank
    schema = {"ra": (np.float64, (), "deg", ""), "halo_id": (np.int64, (), "", ""),
              "replica": (np.int64, (3,), "", "")}
    total = io_lightcone.write_lightcone(tmp_path / "cone.hdf5", schema, where, {}, {})
    with h5py.File(tmp_path / "cone.hdf5") as f:
        assert total == sum(len(rows["ra"]) for rows in units) == len(f["ra"])
        for name in schema:
            np.testing.assert_array_equal(f[name][()], np.concatenate([rows[name] for rows in units]))


def test_a_light_cone_list_of_ones_own_joins_to_the_painted_values(two_snapshots, tmp_path):
    """A list (ra, dec, z, snapshot, halo_id) written from a tiled light-cone, given back with --halos,
    gives the same rows: the same painted projection, values, redshifts and fluxes; a halo the catalogs
    have not painted is refused naming the list's row."""
    tiled = _lightcone(tmp_path, "tiled.hdf5", *two_snapshots, extra=("--cone", "30", "10", "25"))
    with LightconeCatalog(tiled) as lc:
        columns = {name: lc.column(name) for name in ("ra", "dec", "z_cos", "snapshot", "halo_id", "axis", "lx",
                                                      "t_mean", "z_obs", "flux_x", "d_l")}
    listed = tmp_path / "mine.csv"
    pd.DataFrame({"ra [deg]": columns["ra"], "dec [deg]": columns["dec"], "z": columns["z_cos"],
                  "snapshot": columns["snapshot"], "halo_id": columns["halo_id"]}).to_csv(listed, index=False)
    joined = _lightcone(tmp_path, "joined.hdf5", *two_snapshots, extra=("--halos", listed))
    with LightconeCatalog(joined) as lc:
        order = np.lexsort((lc.column("halo_id"), lc.column("z_cos")))
        again = {name: lc.column(name)[order] for name in columns}
    reference = np.lexsort((columns["halo_id"], columns["z_cos"]))
    for name in ("snapshot", "halo_id", "axis", "lx", "t_mean"):
        np.testing.assert_array_equal(again[name], columns[name][reference], err_msg=name)
    for name in ("z_obs", "flux_x", "d_l"):
        np.testing.assert_allclose(again[name], columns[name][reference], rtol=1e-9, err_msg=name)
    with open(listed, "a") as handle:
        handle.write("10.0,5.0,0.1,91,99999\n")
    result = run_mpipaint("lightcone", *two_snapshots, "--halos", listed, "--out", tmp_path / "bad.hdf5", check=False)
    assert result.returncode == 2 and "names halo 99999 of snapshot 91" in result.stderr


def test_healpix_maps_hold_every_halo_and_its_flux(two_snapshots, tmp_path):
    """The counts map sums to the light-cone's halos and the surface brightness times the pixel area to their
    flux; healpy and astropy read the file; an NSIDE that is not a power of 2 is refused."""
    healpy = pytest.importorskip("healpy")
    fits = pytest.importorskip("astropy.io.fits")
    out = _lightcone(tmp_path, "lc.hdf5", *two_snapshots, extra=("--healpix", "16", "--sky", "octant"))
    surface, y_map, counts = healpy.read_map(tmp_path / "lc_healpix.fits", field=(0, 1, 2))
    with LightconeCatalog(out) as lc:
        flux, ra, dec = lc.column("flux_x"), lc.column("ra"), lc.column("dec")
        y_sr, y_int, d_a = lc.column("y_sr"), lc.column("y_int"), lc.column("d_a")
        assert lc.file["y_sr"].attrs["units"] == "sr" and lc.file["y_int"].attrs["units"] == "kpc^2"
    np.testing.assert_allclose(y_sr, y_int / d_a**2, rtol=1e-12)  # d_a: checked against astropy above
    assert counts.sum() == len(flux)
    assert surface.sum() * healpy.nside2pixarea(16) == pytest.approx(flux.sum(), rel=1e-12)
    assert y_map.sum() * healpy.nside2pixarea(16) == pytest.approx(y_sr.sum(), rel=1e-12)  # mean y x pixel area
    brightest = np.argmax(flux)
    pixel = healpy.ang2pix(16, ra[brightest], dec[brightest], lonlat=True)
    assert surface[pixel] * healpy.nside2pixarea(16) >= flux[brightest]
    with fits.open(tmp_path / "lc_healpix.fits") as hdus:
        assert hdus[1].header["MAPMODE"] == "POINT" and hdus[1].header["NSIDE"] == 16
        assert hdus[1].header["YMAPMODE"] == "POINT" and hdus[1].header["TTYPE2"] == "Y"
    result = run_mpipaint("lightcone", two_snapshots[0], "--healpix", "12", "--out", tmp_path / "bad.hdf5",
                          check=False)
    assert result.returncode == 2 and "power of 2" in result.stderr and not (tmp_path / "bad.hdf5").exists()


@pytest.mark.reference
def test_soxs_reads_the_simput_export_and_finds_each_source_s_flux(two_snapshots, tmp_path):
    """SOXS, the real client, reads the SIMPUT file: every source above the flux limit, at its position, and
    the energy flux SOXS integrates from its spectrum over E_MIN-E_MAX is the light-cone's (absorbed) flux
    within 1 %."""
    simput = pytest.importorskip("soxs.simput")
    out = _lightcone(tmp_path, "lc.hdf5", two_snapshots[0], extra=("--zmax", "0.15", "--sky", "octant",
                                                                   "--nh", "3e20"))
    with LightconeCatalog(out) as lc:
        flux, ra, dec = lc.column("flux_x_absorbed"), lc.column("ra"), lc.column("dec")
        assert (flux < lc.column("flux_x")).all()
    limit = float(np.quantile(flux, 0.5))
    run_mpipaint("export-simput", out, "--out", tmp_path / "clusters.simput", "--flux-min", str(limit))
    catalog = simput.SimputCatalog.from_file(str(tmp_path / "clusters.simput"))
    bright = np.flatnonzero(flux >= limit)
    assert catalog.num_sources == len(bright)
    np.testing.assert_allclose(catalog.ra, ra[bright], rtol=1e-12)
    np.testing.assert_allclose(catalog.dec, dec[bright], atol=1e-12)
    for k, spectrum_ref in enumerate(catalog.spectra):
        source = catalog.read_source(spectrum_ref)
        energy, density = np.asarray(source.energy, np.float64), np.asarray(source.fluxdensity, np.float64)
        step = energy[1] - energy[0]
        inside = (energy - step / 2 >= source.emin) & (energy + step / 2 <= source.emax)
        integrated = (density * energy * step)[inside].sum() * 1.602176634e-9
        assert integrated == pytest.approx(flux[bright[k]], rel=0.01), k


def _tangent_plane(positions, ra0, dec0):
    """(east, north) [deg] of positions about (ra0, dec0) by spherical trigonometry (small offsets)."""
    ra = np.degrees(np.arctan2(positions[:, 1], positions[:, 0]))
    dec = np.degrees(np.arcsin(positions[:, 2] / np.linalg.norm(positions, axis=1)))
    return np.column_stack([((ra - ra0 + 180) % 360 - 180) * np.cos(np.radians(dec0)), dec - dec0])


@pytest.mark.reference
def test_soxs_draws_an_extended_source_s_photons_where_its_painted_map_lies(tmp_path, monkeypatch):
    """A halo painted with maps is an extended SIMPUT source: SOXS reads its image and WCS and draws 2e5
    photons through an ARF; their mean sky position and covariance are those of the painted map's pixels
    placed in 3-D along the projection's image axes (y and z for a projection along x) at 284 cMpc and
    turned into RA/Dec by spherical trigonometry: the 625 kpc offset of the emission to 1 %, the tilted
    map's foreshortened spread to 3 %. A --rebin that does not divide the map is refused."""
    simput = pytest.importorskip("soxs.simput")
    response = pytest.importorskip("soxs.response")
    centre = np.array([250_000.0, 120_000.0, 60_000.0])  # from the observer at the box corner, z = 0
    painted = write_painted(tmp_path / "painted.hdf5", 99, 0.0, centre[None], axes=(0,), with_maps=True)
    ra0, dec0 = np.degrees(np.arctan2(centre[1], centre[0])), np.degrees(np.arcsin(centre[2] / np.linalg.norm(centre)))
    out = tmp_path / "lc.hdf5"
    run_mpipaint("lightcone", painted, "--out", out, "--zmax", "0.1", "--cone", str(ra0), str(dec0), "1", ranks=1)
    run_mpipaint("export-simput", out, "--out", tmp_path / "c.simput", "--rebin", "2")
    monkeypatch.chdir(tmp_path)
    catalog = simput.SimputCatalog.from_file("c.simput")
    assert catalog.num_sources == 1
    source = catalog.read_source(catalog.spectra[0])
    assert source.imhdu is not None and source.imhdu.data.shape == (32, 32)
    arf = response.AuxiliaryResponseFile(_write_arf(tmp_path / "flat.arf").name)
    exposure = 1.0
    while arf.detect_events_spec(source, exposure, prng=1)["energy"].size < 2000:
        exposure *= 10.0
    events = arf.detect_events_spec(source, exposure * 100, prng=2)
    photons = np.column_stack([((events["ra"] - ra0 + 180) % 360 - 180) * np.cos(np.radians(dec0)),
                               events["dec"] - dec0])
    assert len(photons) > 1e5
    pixel, grid = 2 * 4000.0 / 64, (np.arange(32) + 0.5 - 16) * 2 * 4000.0 / 64
    fine = np.arange(64) - 31.5
    blob = np.exp(-0.5 * (((fine[:, None] - 10) / 3) ** 2 + (fine[None, :] / 3) ** 2))
    weights = blob.reshape(32, 2, 32, 2).sum(axis=(1, 3)).ravel()
    y, z = np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0])
    blocks = centre + grid[:, None, None] * y + grid[None, :, None] * z
    sky = _tangent_plane(blocks.reshape(-1, 3), ra0, dec0)
    mean = weights @ sky / weights.sum()
    jacobian = np.stack([_tangent_plane((centre + axis)[None], ra0, dec0)[0] for axis in (y, z)], axis=1)
    covariance = np.cov(sky.T, aweights=weights, bias=True) + jacobian @ jacobian.T * pixel ** 2 / 12
    offset = np.linalg.norm(mean)
    assert np.linalg.norm(photons.mean(axis=0) - mean) < 0.01 * offset, (photons.mean(axis=0), mean)
    spread = np.cov(photons.T)
    assert np.abs(spread - covariance).max() < 0.03 * np.abs(covariance).max(), (spread, covariance)
    assert not np.allclose(covariance[0, 0], covariance[1, 1], rtol=0.05)  # the tilt shows
    result = run_mpipaint("export-simput", out, "--out", tmp_path / "bad.simput", "--rebin", "3", check=False)
    assert result.returncode == 2 and "does not divide" in result.stderr and not (tmp_path / "bad.simput").exists()


def test_painted_maps_spread_each_halo_on_the_sky_and_keep_its_flux(tmp_path):
    """With painted X-ray and y maps, each halo is laid on the HEALPix sky as its maps (MAPMODE, YMAPMODE
    MAPS): its flux and its Y are conserved to 1e-6, they cover many pixels, and their weighted centres sit
    where the maps put them: the X-ray 10 pixels (625 kpc) along the first image axis of a projection along
    x (+y), the y Y_MAP_OFFSET pixels along the second (+z)."""
    healpy = pytest.importorskip("healpy")
    fits = pytest.importorskip("astropy.io.fits")
    centre = np.array([[60_000.0, 2_000.0, 3_000.0]])  # 60 cMpc from the observer at the box corner, z = 0
    painted = write_painted(tmp_path / "painted.hdf5", 99, 0.0, centre, axes=(0,), with_maps=True)
    out = tmp_path / "lc.hdf5"
    run_mpipaint("lightcone", painted, "--out", out, "--zmax", "0.03", "--cone", "0", "0", "20", "--healpix",
                 "2048", ranks=2)
    surface, y_map, counts = healpy.read_map(tmp_path / "lc_healpix.fits", field=(0, 1, 2))
    with LightconeCatalog(out) as lc:
        flux, y_sr, replica = lc.column("flux_x"), lc.column("y_sr"), lc.column("replica")
    assert list(map(tuple, replica)) == [(0, 0, 0)] and counts.sum() == 1
    pixel_kpc = 4000.0 / 64
    for sky, total, offset in ((surface, flux.sum(), [0.0, 10 * pixel_kpc, 0.0]),
                               (y_map, y_sr.sum(), [0.0, 0.0, Y_MAP_OFFSET * pixel_kpc])):
        assert sky.sum() * healpy.nside2pixarea(2048) == pytest.approx(total, rel=1e-6)
        lit = np.flatnonzero(sky > 0)
        assert len(lit) > 50
        weighted = (np.stack(healpy.pix2vec(2048, lit), axis=1) * sky[lit, None]).sum(axis=0)
        expected = centre[0] + offset
        angle = np.degrees(np.arccos(weighted @ expected / np.linalg.norm(weighted) / np.linalg.norm(expected)))
        assert angle < 0.03, angle  # against 0.5-0.6 deg between the halo's centre and its emission's
    with fits.open(tmp_path / "lc_healpix.fits") as hdus:
        assert hdus[1].header["MAPMODE"] == "MAPS" and hdus[1].header["YMAPMODE"] == "MAPS"


def test_snapshots_of_two_boxes_or_a_cone_off_the_sky_are_refused(two_snapshots, tmp_path):
    other = write_painted(tmp_path / "other.hdf5", 99, 0.0, np.random.default_rng(1).uniform(0, 1e5, (5, 3)))
    with h5py.File(other, "a") as f:
        f.attrs["box_size_kpc"] = 1e5
    result = run_mpipaint("lightcone", two_snapshots[0], other, "--out", tmp_path / "lc.hdf5", check=False)
    assert result.returncode == 2 and "other.hdf5" in result.stderr and "one box" in result.stderr
    result = run_mpipaint("lightcone", two_snapshots[0], "--cone", "10", "100", "5", "--out", tmp_path / "lc.hdf5",
                          check=False)
    assert result.returncode == 2 and "-90 <= DEC <= 90" in result.stderr
    assert not (tmp_path / "lc.hdf5").exists()


def test_an_arf_that_is_not_ogip_or_a_band_below_apec_is_refused_and_nothing_is_left(two_snapshots, tmp_path):
    fits = pytest.importorskip("astropy.io.fits")
    not_arf = tmp_path / "image.fits"
    fits.HDUList([fits.PrimaryHDU(np.zeros((4, 4)))]).writeto(not_arf)
    result = run_mpipaint("lightcone", two_snapshots[0], "--arf", not_arf, "--out", tmp_path / "lc.hdf5", check=False)
    assert result.returncode == 2 and "image.fits" in result.stderr
    result = run_mpipaint("lightcone", two_snapshots[0], "--band", "0.01", "2", "--out", tmp_path / "lc.hdf5",
                          check=False)
    assert result.returncode == 2 and "band" in result.stderr
    result = run_mpipaint("lightcone", two_snapshots[0], "--zmin", "0.9", "--zmax", "0.95", "--cone", "10", "10",
                          "0.01", "--out", tmp_path / "lc.hdf5", check=False)
    assert result.returncode == 2 and "no halo lies" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["image.fits"]  # no catalog, no spill directory
