"""Maps of one halo: projected DM mass (CIC) and, from hot gas only, column density, Mazzotta
spectroscopic-like temperature, 0.5-2 keV X-ray surface brightness and thermal SZ Compton-y (SPH-kernel
projection).

Hot gas (the paper's eqs. 1-3): T > 3e5 K, SFR == 0, rho < 5e-25 g/cm^3.
Mazzotta et al. (2004): T_sl = sum(w T) / sum(w) along the line of sight, w = n^2 T^-3/4 per unit volume,
so each cell enters both projections with weight n^2 T^-3/4 V (n = rho / (mu m_p)).
Compton-y: y = sigma_T / (m_e c^2) * integral of n_e k_B T along the line of sight; each cell deposits its
electron pressure times volume, n_e k_B T V = x_e X_H (m / m_p) k_B T, with its own electron abundance
x_e, so a y map's sum times the pixel area is the cylindrical Y [kpc^2] of the map's square.
All map values are per unit area (kpc^-2) except the temperature and y (dimensionless); a map's sum times
the pixel area is the halo total (Mgas, Lx, projected DM mass, Y). Pixels with no hot gas have
temperature 0.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mpipaint import units as u
from mpipaint.maps import xray
from mpipaint.maps.cic import cic_project_axes
from mpipaint.maps.geometry import MapGeometry
from mpipaint.maps.sph import smoothing_length, sph_project

HOT_MIN_TEMPERATURE_K = 3e5
HOT_MAX_DENSITY_CGS = 5e-25
MAP_UNITS = {"dm": "Msun/kpc^2", "gas": "Msun/kpc^2", "temperature": "keV", "xray": "erg/s/kpc^2", "y": ""}
GAS_MAPS = ("gas", "temperature", "xray", "y")  # what gas_maps makes, in this order
MAP_DESCRIPTIONS = {
    "dm": "projected dark-matter surface density (CIC)",
    "gas": "projected hot-gas column density (SPH kernel)",
    "temperature": "Mazzotta spectroscopic-like temperature of hot gas, weights n^2 T^-3/4 (SPH kernel)",
    "xray": "0.5-2 keV rest-frame X-ray surface brightness of hot gas (SPH kernel)",
    "y": "thermal SZ Compton-y of hot gas, sigma_T / (m_e c^2) * integral n_e k_B T dl (SPH kernel; sum x pixel "
         "area = Y [kpc^2])",
}
Y_PER_ERG_KPC2 = u.THOMSON_CROSS_SECTION_CM2 / (u.ELECTRON_REST_ENERGY_ERG * u.KPC_CM**2)  # y of 1 erg in 1 kpc^2


@dataclass
class GasCells:
    """Gas cells of one halo in physical units."""

    positions: np.ndarray  # kpc
    mass: np.ndarray  # Msun
    density: np.ndarray  # g/cm^3
    temperature: np.ndarray  # K
    electron_abundance: np.ndarray
    sfr: np.ndarray  # Msun/yr
    metallicity: np.ndarray  # mass fraction

    @property
    def volume_kpc3(self) -> np.ndarray:
        """Cell volumes [kpc^3] = mass / density."""
        return self.mass / (self.density / u.MSUN_G * u.KPC_CM**3)

    def hot(self) -> "GasCells":
        """Only the hot gas: T > 3e5 K, SFR == 0, rho < 5e-25 g/cm^3."""
        keep = hot_gas_mask(self.temperature, self.density, self.sfr)
        return GasCells(*(getattr(self, f)[keep] for f in self.__dataclass_fields__))


def hot_gas_mask(temperature, density, sfr):
    return (temperature > HOT_MIN_TEMPERATURE_K) & (sfr == 0) & (density < HOT_MAX_DENSITY_CGS)


def dm_maps(positions, masses, geometries) -> np.ndarray:
    """Projected DM surface density [Msun/kpc^2] of one halo along each of `geometries` (same centre and
    size, one axis each), in one pass over its particles: (len(geometries), npix, npix)."""
    return cic_project_axes(positions, masses, geometries) / geometries[0].pixel_area


def gas_maps(cells: GasCells, geometry: MapGeometry) -> dict[str, np.ndarray]:
    """Hot-gas column density, Mazzotta temperature, X-ray surface brightness and Compton-y of `cells`."""
    hot = cells.hot()
    volume_kpc3 = hot.volume_kpc3
    h = smoothing_length(volume_kpc3)
    number_density = hot.density / (u.mean_molecular_weight(hot.electron_abundance) * u.PROTON_MASS_G)
    weight = number_density**2 * hot.temperature**-0.75 * volume_kpc3
    kt_kev = hot.temperature * u.BOLTZMANN_ERG_K / u.KEV_ERG
    lx = xray.luminosity(hot.mass, hot.density, hot.temperature, hot.metallicity, hot.electron_abundance)
    pressure_volume = electron_pressure_volume(hot)
    gas, w_sum, wt_sum, xray_map, pe_sum = sph_project(
        hot.positions, h, np.stack([hot.mass, weight, weight * kt_kev, lx, pressure_volume], axis=1), geometry)
    temperature = np.divide(wt_sum, w_sum, out=np.zeros_like(w_sum), where=w_sum > 0)
    return {"gas": gas / geometry.pixel_area, "temperature": temperature, "xray": xray_map / geometry.pixel_area,
            "y": pe_sum * (Y_PER_ERG_KPC2 / geometry.pixel_area)}


def electron_pressure_volume(cells: GasCells) -> np.ndarray:
    """n_e k_B T V [erg] of each cell: x_e X_H (m / m_p) k_B T."""
    electrons = cells.electron_abundance * u.HYDROGEN_MASS_FRACTION * cells.mass * u.MSUN_G / u.PROTON_MASS_G
    return electrons * u.BOLTZMANN_ERG_K * cells.temperature
