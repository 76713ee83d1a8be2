"""Code-unit conversions against values computed by hand from the TNG documentation's recipes."""
import h5py
import numpy as np
import pytest

from mpipaint import units as u
from mpipaint.io.gadget_hdf5 import read_header


def tng_units(a=0.5, h=0.7):
    return u.CodeUnits(u.TNG_UNIT_LENGTH_CM, u.TNG_UNIT_MASS_G, u.TNG_UNIT_VELOCITY_CM_S, hubble=h, scale_factor=a)


def test_length_mass_velocity_by_hand():
    code = tng_units(a=0.5, h=0.7)
    assert code.length_to_kpc(1000.0) == pytest.approx(1000.0 * 0.5 / 0.7, rel=1e-12)  # ckpc/h -> kpc
    assert code.mass_to_msun(2.0) == pytest.approx(2.0e10 / 0.7, rel=1e-12)  # 1e10 Msun/h -> Msun
    assert code.velocity_to_kms(100.0) == pytest.approx(100.0 * np.sqrt(0.5), rel=1e-12)  # km/s sqrt(a)


def test_density_against_astropy_units():
    """1 code density = 1e10 Msun/h / (ckpc/h)^3, converted by astropy (an independent unit system)."""
    from astropy import units as au

    code = tng_units(a=0.5, h=0.7)
    expected = (1e10 * au.Msun / 0.7 / (0.5 * au.kpc / 0.7) ** 3).to_value(au.g / au.cm**3)
    assert code.density_to_cgs(1.0) == pytest.approx(expected, rel=1e-3)  # mpipaint's Msun and kpc constants


def test_temperature_tng_faq_recipe():
    # TNG FAQ: T = (gamma-1) u / k_B * 1e10 * mu, mu = 4 m_p / (1 + 3 X_H + 4 X_H x_e), u in (km/s)^2
    u_kms2, x_e = 1.0e4, 1.157
    mu = 4.0 / (1.0 + 3 * 0.76 + 4 * 0.76 * x_e) * 1.67262192369e-24
    expected = (5.0 / 3.0 - 1.0) * u_kms2 / 1.380649e-16 * 1e10 * mu
    code = tng_units()
    got = u.temperature_from_internal_energy(code.internal_energy_to_cgs(u_kms2), x_e)
    assert got == pytest.approx(expected, rel=1e-12)
    assert got == pytest.approx(4.75e5, rel=1e-2)
    assert u.internal_energy_from_temperature(got, x_e) == pytest.approx(1e14, rel=1e-12)


def test_to_code_inverts_to_physical():
    code = tng_units(a=0.3, h=0.6774)
    for field in u.PHYSICAL_FIELDS:
        values = np.array([0.5, 3.0, 1234.5])
        np.testing.assert_allclose(code.to_physical(field, code.to_code(field, values)), values, rtol=1e-13)


def test_critical_density_and_r200c():
    # rho_crit,0 = 3 H0^2 / (8 pi G) = 2.775e2 h^2 Msun/kpc^3 (standard value)
    assert u.critical_density_msun_kpc3(1.0, 0.3, 0.7, 0.0) == pytest.approx(277.5, rel=2e-3)
    rho = u.critical_density_msun_kpc3(0.7, 0.3, 0.7, 0.0)
    r = u.r200c_kpc(1e14, rho)
    assert 1e14 / (4 / 3 * np.pi * r**3) == pytest.approx(200 * rho, rel=1e-12)
    # E(z)^2 at z=1 is 0.3*8 + 0.7 = 3.1
    assert u.critical_density_msun_kpc3(0.7, 0.3, 0.7, 1.0) == pytest.approx(3.1 * rho, rel=1e-12)


def _header_file(**extra_header):
    f = h5py.File("mem.hdf5", "w", driver="core", backing_store=False)
    header = f.create_group("Header")
    attrs = {"NumPart_Total": np.array([0, 5, 0, 0, 0, 0], np.uint32),
             "NumPart_Total_HighWord": np.array([0, 1, 0, 0, 0, 0], np.uint32),
             "Time": 0.5, "Redshift": 1.0, "MassTable": np.zeros(6), "NumFilesPerSnapshot": 1, "BoxSize": 1000.0,
             "HubbleParam": 0.7, "Omega0": 0.3, "OmegaLambda": 0.7}
    attrs.update(extra_header)
    for key, value in attrs.items():
        header.attrs[key] = value
    return f


def test_numpart_high_word():
    with _header_file() as f:
        header, _ = read_header(f)
    assert header.num_part_total[1] == 5 + 2**32


def test_gadget4_units_group_overrides_tng_defaults():
    with _header_file() as f:
        del f["Header"].attrs["HubbleParam"]
        params = f.create_group("Parameters")
        params.attrs.update({"HubbleParam": 0.7, "Omega0": 0.3, "OmegaLambda": 0.7, "ComovingIntegrationOn": 1})
        f.create_group("Units").attrs.update({"UnitLength_in_cm": 3.085678e24, "UnitMass_in_g": 1.989e43,
                                              "UnitVelocity_in_cm_per_s": 1e5})
        header, code = read_header(f)
    assert header.flavour == "gadget4"
    assert code.length_to_kpc(1.0) == pytest.approx(1000.0 * 0.5 / 0.7, rel=1e-12)  # cMpc/h -> kpc
