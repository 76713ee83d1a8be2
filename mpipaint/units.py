"""Physical constants and code-unit conversions, in one place.

Internally mpipaint works in *physical* units: lengths in kpc, masses in Msun, densities in g/cm^3,
velocities in km/s, temperatures in K. Snapshot values are converted on read with the scale factor a
and the Hubble parameter h:

    length   [ckpc/h]              -> kpc        x * a / h            (comoving runs)
    mass     [1e10 Msun/h]         -> Msun       m * 1e10 / h
    velocity [km/s sqrt(a)]        -> km/s       v * sqrt(a)          (TNG/Gadget 'Velocities')
    density  [1e10 Msun/h/(ckpc/h)^3] -> g/cm^3  rho * M_unit h^2 / (a^3 L_unit^3)
    internal energy [(km/s)^2]     -> (cm/s)^2   u * V_unit^2

The code units above are the TNG defaults; Gadget-4 and other runs give their own UnitLength_in_cm,
UnitMass_in_g and UnitVelocity_in_cm_per_s, which `CodeUnits` carries.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

# kpc and Msun as TNG's code units assume them, so 1 code mass is exactly 1e10 Msun/h and 1 code length
# exactly 1 ckpc/h, as illustris_python users take them (the IAU 2015 Msun differs by 3e-4).
KPC_CM = 3.085678e21
MSUN_G = 1.989e33
PROTON_MASS_G = 1.67262192369e-24
BOLTZMANN_ERG_K = 1.380649e-16
KEV_ERG = 1.602176634e-9
GRAVITY_CGS = 6.6743e-8
THOMSON_CROSS_SECTION_CM2 = 6.6524587321e-25  # CODATA 2018
ELECTRON_REST_ENERGY_ERG = 8.1871057769e-7  # m_e c^2, CODATA 2018
HYDROGEN_MASS_FRACTION = 0.76  # X_H used by TNG for the temperature of gas cells
ADIABATIC_INDEX = 5.0 / 3.0
KM_CM = 1e5  # 1 km in cm
MPC_CM = 1e3 * KPC_CM
HUBBLE_100_S = 100.0 * KM_CM / MPC_CM  # 100 km/s/Mpc in 1/s

# TNG default code units (ckpc/h, 1e10 Msun/h, km/s)
TNG_UNIT_LENGTH_CM = KPC_CM
TNG_UNIT_MASS_G = 1e10 * MSUN_G
TNG_UNIT_VELOCITY_CM_S = KM_CM


@dataclass(frozen=True)
class CodeUnits:
    """Code units of one snapshot: what its stored numbers mean, and how to make them physical."""

    length_cm: float
    mass_g: float
    velocity_cm_s: float
    hubble: float
    scale_factor: float
    comoving: bool = True
    velocity_sqrt_a: bool = True  # Gadget-style velocities carry a factor sqrt(a); SWIFT's are peculiar
    energy_a_exponent: float = 0.0  # u_physical = a^exponent u_stored: 0 for Gadget/TNG, -2 for SWIFT

    @property
    def _a(self) -> float:
        return self.scale_factor if self.comoving else 1.0

    def length_to_kpc(self, x):
        """Comoving code length (e.g. ckpc/h) to physical kpc."""
        return np.asarray(x, dtype=np.float64) * (self.length_cm / KPC_CM * self._a / self.hubble)

    def mass_to_msun(self, m):
        """Code mass (e.g. 1e10 Msun/h) to Msun."""
        return np.asarray(m, dtype=np.float64) * (self.mass_g / MSUN_G / self.hubble)

    def velocity_to_kms(self, v):
        """Code velocity (Gadget's km/s sqrt(a), or SWIFT's peculiar velocity) to peculiar velocity in km/s."""
        return np.asarray(v, dtype=np.float64) * (self.velocity_cm_s / KM_CM
                                                  * (np.sqrt(self._a) if self.velocity_sqrt_a else 1.0))

    def group_velocity_to_kms(self, v):
        """A catalog's group velocity (TNG/Gadget GroupVel: peculiar velocity times a, in code units) to
        peculiar velocity in km/s."""
        return np.asarray(v, dtype=np.float64) * (self.velocity_cm_s / KM_CM / self._a)

    def density_to_cgs(self, rho):
        """Comoving code density to physical g/cm^3."""
        length_cm = self.length_cm * self._a / self.hubble
        mass_g = self.mass_g / self.hubble
        return np.asarray(rho, dtype=np.float64) * (mass_g / length_cm**3)

    def internal_energy_to_cgs(self, u):
        """Specific internal energy in code units ((km/s)^2 for TNG) to erg/g."""
        return np.asarray(u, dtype=np.float64) * (self.velocity_cm_s**2 * self._a**self.energy_a_exponent)


    def to_physical(self, field: str, values):
        """Snapshot field values in code units to physical units (see PHYSICAL_FIELDS)."""
        if field not in PHYSICAL_FIELDS:
            return values
        return getattr(self, PHYSICAL_FIELDS[field][0])(values)

    def to_code(self, field: str, values):
        """Physical values of a snapshot field back to code units: the inverse of `to_physical`."""
        if field not in PHYSICAL_FIELDS:
            return values
        return np.asarray(values, dtype=np.float64) / getattr(self, PHYSICAL_FIELDS[field][0])(1.0)


# snapshot field -> (CodeUnits method that makes it physical, physical unit). Fields not listed are
# dimensionless or stored physical already (StarFormationRate in Msun/yr, GFM_Metallicity a mass fraction).
PHYSICAL_FIELDS = {
    "Coordinates": ("length_to_kpc", "kpc"),
    "Masses": ("mass_to_msun", "Msun"),
    "Velocities": ("velocity_to_kms", "km/s"),
    "Density": ("density_to_cgs", "g/cm^3"),
    "InternalEnergy": ("internal_energy_to_cgs", "erg/g"),
    "Group_M_Crit200": ("mass_to_msun", "Msun"),
    "Group_R_Crit200": ("length_to_kpc", "kpc"),
    "GroupMass": ("mass_to_msun", "Msun"),
    "GroupPos": ("length_to_kpc", "kpc"),
    "GroupVel": ("group_velocity_to_kms", "km/s"),
    "SubhaloPos": ("length_to_kpc", "kpc"),
}


# n_e/n_H of fully ionised hydrogen and helium, 1 + 2 n_He/n_H: the electron abundance assumed for gas
# of runs that do not store it (hot cluster gas is fully ionised; mu = 0.588)
FULLY_IONISED_ELECTRON_ABUNDANCE = 1.0 + 2.0 * (1.0 - HYDROGEN_MASS_FRACTION) / (4.0 * HYDROGEN_MASS_FRACTION)


def mean_molecular_weight(electron_abundance):
    """Mean molecular weight (in proton masses) of gas with n_e/n_H = electron_abundance, for X_H = 0.76."""
    x_h = HYDROGEN_MASS_FRACTION
    return 4.0 / (1.0 + 3.0 * x_h + 4.0 * x_h * np.asarray(electron_abundance, dtype=np.float64))


def temperature_from_internal_energy(u_erg_g, electron_abundance):
    """Gas temperature [K] from specific internal energy [erg/g] and electron abundance (TNG FAQ recipe)."""
    mu_g = mean_molecular_weight(electron_abundance) * PROTON_MASS_G
    return (ADIABATIC_INDEX - 1.0) * np.asarray(u_erg_g, dtype=np.float64) / BOLTZMANN_ERG_K * mu_g


def internal_energy_from_temperature(temperature_k, electron_abundance):
    """Specific internal energy [erg/g] of gas at temperature [K]: the inverse of the function above."""
    mu_g = mean_molecular_weight(electron_abundance) * PROTON_MASS_G
    return np.asarray(temperature_k, dtype=np.float64) * BOLTZMANN_ERG_K / ((ADIABATIC_INDEX - 1.0) * mu_g)


# IllustrisTNG's output redshifts of the snapshots the paper uses (and two more at low z)
TNG_SNAPSHOT_REDSHIFTS = {50: 1.0, 67: 0.5, 78: 0.3, 84: 0.2, 91: 0.1, 99: 0.0}


def tng_snapshots(numbers) -> tuple:
    """((snapshot, redshift), ...) of TNG snapshot numbers; an unknown number is a ValueError."""
    unknown = [n for n in numbers if n not in TNG_SNAPSHOT_REDSHIFTS]
    if unknown:
        raise ValueError(f"snapshots {unknown} have no known TNG redshift; known: {sorted(TNG_SNAPSHOT_REDSHIFTS)}")
    return tuple((int(n), TNG_SNAPSHOT_REDSHIFTS[n]) for n in numbers)


LENGTH_UNIT = re.compile(r"^(?P<comoving>c?)(?P<scale>kpc|Mpc)(?P<per_h>/h)?$")  # kpc, cMpc/h, ...
MASS_UNIT = re.compile(r"^(?P<factor>1e10\s*)?Msun(?P<per_h>/h)?$")  # Msun, Msun/h, 1e10 Msun/h


def length_to_kpc(values, unit: str, scale_factor: float, hubble: float):
    """Lengths in `unit` (kpc or Mpc, 'c' first for comoving, '/h' after for h^-1: e.g. cMpc/h, Rockstar's
    positions) to physical kpc; an unknown unit is a ValueError."""
    match = LENGTH_UNIT.match(unit.replace(" ", ""))
    if match is None:
        raise ValueError(f"unknown length unit {unit!r} (expected kpc or Mpc, optionally c... and .../h)")
    factor = (1e3 if match["scale"] == "Mpc" else 1.0) * (scale_factor if match["comoving"] else 1.0)
    return np.asarray(values, dtype=np.float64) * (factor / hubble if match["per_h"] else factor)


def mass_to_msun(values, unit: str, hubble: float):
    """Masses in `unit` (Msun, Msun/h as Rockstar's, or 1e10 Msun/h) to Msun; an unknown unit is a ValueError."""
    match = MASS_UNIT.match(unit.strip())
    if match is None:
        raise ValueError(f"unknown mass unit {unit!r} (expected Msun, Msun/h or 1e10 Msun/h)")
    factor = 1e10 if match["factor"] else 1.0
    return np.asarray(values, dtype=np.float64) * (factor / hubble if match["per_h"] else factor)


def critical_density_msun_kpc3(hubble: float, omega_m: float, omega_lambda: float, redshift: float) -> float:
    """Critical density of the Universe at redshift z [Msun / physical kpc^3], flat LCDM with given Omegas."""
    e2 = omega_m * (1.0 + redshift) ** 3 + omega_lambda + (1.0 - omega_m - omega_lambda) * (1.0 + redshift) ** 2
    h_z = hubble * HUBBLE_100_S * np.sqrt(e2)
    rho_cgs = 3.0 * h_z**2 / (8.0 * np.pi * GRAVITY_CGS)
    return float(rho_cgs * KPC_CM**3 / MSUN_G)


def r200c_kpc(m200c_msun, rho_crit_msun_kpc3: float):
    """Radius [kpc] enclosing mean density 200 rho_crit for mass M200c [Msun]."""
    return np.cbrt(3.0 * np.asarray(m200c_msun, dtype=np.float64) / (4.0 * np.pi * 200.0 * rho_crit_msun_kpc3))
