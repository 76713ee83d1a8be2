"""The one cosmology type: the background of one snapshot and the periodic box it lives in, as a snapshot
header, a halo catalog's header or the snapshot beside a catalog that has none gives them; and the
distances of a light-cone in that background (matter and Lambda, curvature 1 - Omega_m - Omega_Lambda, no
radiation: astropy's LambdaCDM with Tcmb0 = 0).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from mpipaint import units as u

SPEED_OF_LIGHT_KM_S = 299792.458
DISTANCE_GRID_DZ = 1e-4  # trapezoid steps of the comoving-distance integral: < 1e-9 relative error
DISTANCE_GRID_ZMAX = 20.0


@dataclass(frozen=True)
class Cosmology:
    """Flat-or-not LambdaCDM background at one time, and the box: what turns comoving h^-1 units physical."""

    scale_factor: float
    redshift: float  # as the source states it (a header's Redshift; 1/a - 1 where only a is given)
    hubble: float  # h = H0 / (100 km/s/Mpc)
    omega_m: float
    omega_lambda: float
    box_size_kpc: float  # periodic box side, physical

    @classmethod
    def at_scale_factor(cls, scale_factor: float, hubble: float, omega_m: float, omega_lambda: float,
                        box_size_kpc: float) -> Cosmology:
        """A cosmology of which only the scale factor is known (redshift 1/a - 1)."""
        return cls(scale_factor, 1.0 / scale_factor - 1.0, hubble, omega_m, omega_lambda, box_size_kpc)

    def r200c_kpc(self, m200c_msun):
        """R200c [physical kpc] of halos of M200c [Msun] at this time."""
        rho_crit = u.critical_density_msun_kpc3(self.hubble, self.omega_m, self.omega_lambda, self.redshift)
        return u.r200c_kpc(m200c_msun, rho_crit)

    @property
    def background(self) -> tuple:
        """(h, Omega_m, Omega_Lambda): what distances depend on (snapshots of one run share it)."""
        return self.hubble, self.omega_m, self.omega_lambda

    def comoving_distance_kpc(self, redshift) -> np.ndarray:
        """Line-of-sight comoving distance [comoving kpc] to redshift(s) `redshift`."""
        z_grid, distance = _distance_grid(*self.background)
        return np.interp(redshift, z_grid, distance)

    def redshift_at_distance(self, comoving_kpc) -> np.ndarray:
        """The cosmological redshift at comoving distance(s) [comoving kpc]: the inverse of the above."""
        z_grid, distance = _distance_grid(*self.background)
        return np.interp(comoving_kpc, distance, z_grid)

    def transverse_distance_kpc(self, redshift) -> np.ndarray:
        """Transverse comoving distance D_M [comoving kpc] (equals the line-of-sight one when flat)."""
        distance = self.comoving_distance_kpc(redshift)
        omega_k = 1.0 - self.omega_m - self.omega_lambda
        if abs(omega_k) < 1e-12:
            return distance
        hubble_kpc = SPEED_OF_LIGHT_KM_S / (100.0 * self.hubble) * 1e3
        root = np.sqrt(abs(omega_k))
        x = root * distance / hubble_kpc
        return hubble_kpc / root * (np.sinh(x) if omega_k > 0 else np.sin(x))

    def luminosity_distance_kpc(self, redshift) -> np.ndarray:
        """Luminosity distance d_L = (1 + z) D_M [kpc]."""
        return (1.0 + np.asarray(redshift, np.float64)) * self.transverse_distance_kpc(redshift)

    def angular_diameter_distance_kpc(self, redshift) -> np.ndarray:
        """Angular-diameter distance d_A = D_M / (1 + z) [physical kpc]."""
        return self.transverse_distance_kpc(redshift) / (1.0 + np.asarray(redshift, np.float64))


@lru_cache(maxsize=8)
def _distance_grid(hubble: float, omega_m: float, omega_lambda: float) -> tuple[np.ndarray, np.ndarray]:
    """(z, comoving distance [kpc]) on a fine grid to DISTANCE_GRID_ZMAX, by the trapezoid rule on c / H(z)."""
    z = np.arange(0.0, DISTANCE_GRID_ZMAX + DISTANCE_GRID_DZ / 2, DISTANCE_GRID_DZ)
    omega_k = 1.0 - omega_m - omega_lambda
    e = np.sqrt(omega_m * (1 + z) ** 3 + omega_k * (1 + z) ** 2 + omega_lambda)
    hubble_kpc = SPEED_OF_LIGHT_KM_S / (100.0 * hubble) * 1e3  # c / H0 [kpc]
    steps = 0.5 * (1.0 / e[1:] + 1.0 / e[:-1]) * np.diff(z)
    return z, hubble_kpc * np.concatenate([[0.0], np.cumsum(steps)])

