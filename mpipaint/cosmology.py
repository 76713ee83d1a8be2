"""The one cosmology type: the background of one snapshot and the periodic box it lives in, as a snapshot
header, a halo catalog's header or the snapshot beside a catalog that has none gives them."""
from __future__ import annotations

from dataclasses import dataclass

from mpipaint import units as u


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
