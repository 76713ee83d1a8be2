"""Compton-y maps: Y against the cells' electron pressure, y against the mass-weighted temperature, and the
projected profile of an isothermal beta-model cluster against its analytic form."""
import numpy as np
import pytest
from scipy import integrate, special

from mpipaint import units as u
from mpipaint.maps.gas import GasCells, Y_PER_ERG_KPC2, electron_pressure_volume, gas_maps
from mpipaint.maps.geometry import MapGeometry
from mpipaint.maps.sph import smoothing_length, sph_project

SIGMA_T_OVER_MEC2 = 6.6524587321e-25 / 8.1871057769e-7  # cm^2 / erg, CODATA 2018


def _cells(n, rng, spread_kpc=150.0, electrons=None):
    density = 10 ** rng.uniform(-27.5, -25.5, n)
    return GasCells(rng.normal(0, spread_kpc, (n, 3)), 10 ** rng.uniform(7.5, 8.5, n), density,
                    10 ** rng.uniform(5.0, 8.0, n), np.full(n, 1.1579) if electrons is None else electrons,
                    np.zeros(n), np.full(n, 0.004))


def test_y_integrates_to_the_cells_electron_pressure():
    """Y = sum(y) x pixel area [kpc^2] equals sigma_T / (m_e c^2) sum n_e k_B T V over the hot cells, each
    with its own electron abundance, for cells whose kernels lie inside the map (1e-10)."""
    rng = np.random.default_rng(3)
    n = 4000
    cells = _cells(n, rng, electrons=rng.uniform(1.0, 1.16, n))
    geometry = MapGeometry((0.0, 0.0, 0.0), 4000.0, 128, 2, 0.0)
    y = gas_maps(cells, geometry)["y"]
    hot = cells.hot()
    assert 0 < len(hot.mass) < n  # the hot selection matters
    n_e = hot.electron_abundance * u.HYDROGEN_MASS_FRACTION * hot.density / u.PROTON_MASS_G
    volume_cm3 = hot.mass * u.MSUN_G / hot.density
    expected_kpc2 = SIGMA_T_OVER_MEC2 * np.sum(n_e * u.BOLTZMANN_ERG_K * hot.temperature * volume_cm3) / u.KPC_CM**2
    assert y.sum() * geometry.pixel_area == pytest.approx(expected_kpc2, rel=1e-10)


def test_y_is_the_mass_weighted_temperature_times_the_gas_column():
    """With one electron abundance, y = sigma_T/(m_e c^2) x_e X_H k_B / m_p times the projected m T of the
    same cells: pixel by pixel and in total Y = const x Mgas x T_mw (1e-10)."""
    rng = np.random.default_rng(4)
    cells = _cells(3000, rng)
    geometry = MapGeometry((0.0, 0.0, 0.0), 2000.0, 64, 0, 0.0)
    maps = gas_maps(cells, geometry)
    hot = cells.hot()
    h = smoothing_length(hot.volume_kpc3)
    mass_temperature = sph_project(hot.positions, h, hot.mass * hot.temperature, geometry) / geometry.pixel_area
    constant = SIGMA_T_OVER_MEC2 * 1.1579 * u.HYDROGEN_MASS_FRACTION * u.BOLTZMANN_ERG_K * u.MSUN_G / (
        u.PROTON_MASS_G * u.KPC_CM**2)
    np.testing.assert_allclose(maps["y"], constant * mass_temperature, rtol=1e-10, atol=1e-300)
    gas_mass = maps["gas"].sum() * geometry.pixel_area
    t_mw = np.sum(hot.mass * hot.temperature) / np.sum(hot.mass)
    assert maps["y"].sum() * geometry.pixel_area == pytest.approx(constant * gas_mass * t_mw, rel=1e-10)
    assert Y_PER_ERG_KPC2 == pytest.approx(SIGMA_T_OVER_MEC2 / u.KPC_CM**2, rel=1e-15)
    assert electron_pressure_volume(hot).sum() > 0


def test_an_isothermal_beta_model_projects_to_its_analytic_y_profile():
    """Cells sampling n_e = n_0 (1 + r^2/r_c^2)^(-3 beta / 2) to 12 r_c at kT = 5 keV: the azimuthally averaged
    y profile equals sigma_T/(m_e c^2) k_B T times the line-of-sight integral of n_e (truncated as sampled)
    within 1 % from 0.5 to 4 r_c, where cells resolve it."""
    rng = np.random.default_rng(5)
    beta, r_c, r_max, n = 2.0 / 3.0, 150.0, 1800.0, 400_000
    shape = lambda r: (1 + (r / r_c) ** 2) ** (-1.5 * beta)  # noqa: E731
    radii = np.linspace(0, r_max, 20001)
    cumulative = integrate.cumulative_trapezoid(4 * np.pi * radii**2 * shape(radii), radii, initial=0)
    r = np.interp(rng.uniform(0, cumulative[-1], n), cumulative, radii)
    direction = rng.normal(size=(n, 3))
    positions = direction / np.linalg.norm(direction, axis=1)[:, None] * r[:, None]
    rho_0 = 3e-26  # g/cm^3 at the centre
    density = rho_0 * shape(r)
    gas_mass_msun = rho_0 * cumulative[-1] * u.KPC_CM**3 / u.MSUN_G
    temperature = 5.0 * u.KEV_ERG / u.BOLTZMANN_ERG_K
    cells = GasCells(positions, np.full(n, gas_mass_msun / n), density, np.full(n, temperature),
                     np.full(n, 1.1579), np.zeros(n), np.full(n, 0.004))
    geometry = MapGeometry((0.0, 0.0, 0.0), 8 * r_c, 64, 2, 0.0)
    y = gas_maps(cells, geometry)["y"]
    centres = (np.arange(64) + 0.5) * geometry.pixel_size - 4 * r_c
    radius = np.hypot(*np.meshgrid(centres, centres, indexing="ij"))
    n_e0 = 1.1579 * u.HYDROGEN_MASS_FRACTION * rho_0 / u.PROTON_MASS_G

    def analytic(projected):
        depth = np.sqrt(max(r_max**2 - projected**2, 0.0))
        column = 2 * integrate.quad(lambda l: shape(np.hypot(projected, l)), 0, depth)[0] * u.KPC_CM
        return SIGMA_T_OVER_MEC2 * n_e0 * u.BOLTZMANN_ERG_K * temperature * column

    edges = np.linspace(0.5 * r_c, 4 * r_c, 8)
    for lo, hi in zip(edges[:-1], edges[1:]):
        ring = (radius >= lo) & (radius < hi)
        expected = np.mean([analytic(p) for p in radius[ring]])
        assert y[ring].mean() == pytest.approx(expected, rel=0.01), (lo, hi)
    # the infinite beta-model's closed form agrees with the truncated integral well inside r_max
    closed = SIGMA_T_OVER_MEC2 * n_e0 * u.BOLTZMANN_ERG_K * temperature * np.sqrt(np.pi) * r_c * u.KPC_CM * (
        special.gamma(1.5 * beta - 0.5) / special.gamma(1.5 * beta)) * (1 + (r_c / r_c) ** 2) ** (0.5 - 1.5 * beta)
    assert analytic(r_c) == pytest.approx(closed, rel=0.1)


def test_a_training_set_prepared_before_y_trains_its_own_targets_and_refuses_y(small_trainset, tmp_path):
    """An FP set without `y` (as prepare wrote them before y existed) is refused for `--target y` with the
    file named and how to get the maps (exit 2, no bundle)."""
    import shutil

    import h5py

    from conftest import run_mpipaint

    old = tmp_path / "before_y.hdf5"
    shutil.copy(small_trainset, old)
    with h5py.File(old, "a") as f:
        del f["y"]
    result = run_mpipaint("train", "--data", old, "--out", tmp_path / "bundle", "--target", "y", check=False)
    assert result.returncode == 2, result.stderr
    assert f"{old}: no 'y' maps" in result.stderr and "run mpipaint prepare again" in result.stderr
    assert not (tmp_path / "bundle").exists()
