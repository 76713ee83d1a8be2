"""What an observer measures of a light-cone halo: its observed redshift, its observer-frame X-ray energy
flux, and seeded lognormal realisations of its painted values.

Peculiar motion: a halo moving away at v_los has 1 + z_pec = sqrt((1 + b) / (1 - b)), b = v_los / c, and
1 + z_obs = (1 + z_cos)(1 + z_pec). Its flux falls by (1 + z_pec)^2 from the cosmological luminosity
distance's (Davis et al. 2011, eq. 12-13): F = L K(T, z_obs) / (4 pi d_L(z_cos)^2 (1 + z_pec)^2), K the
APEC K-correction at the observed redshift (`sky.kcorrection`).
"""
from __future__ import annotations

import numpy as np

from mpipaint import units as u
from mpipaint.cosmology import SPEED_OF_LIGHT_KM_S


def observed_redshift(z_cos, v_los_kms) -> np.ndarray:
    """z_obs from the cosmological redshift and the line-of-sight peculiar velocity [km/s] (positive away)."""
    beta = np.asarray(v_los_kms, np.float64) / SPEED_OF_LIGHT_KM_S
    return (1.0 + np.asarray(z_cos, np.float64)) * np.sqrt((1.0 + beta) / (1.0 - beta)) - 1.0


def energy_flux(luminosity_erg_s, k_corr, d_l_kpc, z_cos, z_obs) -> np.ndarray:
    """Observer-frame energy flux [erg/s/cm^2] of rest-frame band luminosity L [erg/s] (see the module)."""
    doppler = (1.0 + np.asarray(z_obs, np.float64)) / (1.0 + np.asarray(z_cos, np.float64))
    d_l_cm = np.asarray(d_l_kpc, np.float64) * u.KPC_CM * doppler
    return np.asarray(luminosity_erg_s, np.float64) * k_corr / (4.0 * np.pi * d_l_cm**2)


def lognormal_draws(values, sigma_dex, keys, seed: int, count: int) -> np.ndarray:
    """(N, count) realisations value x 10^(sigma_dex N(0, 1)) per row (median: the painted value), the
    normal deviates drawn from (seed, *key) of each row alone, so any rank, order or subset gives the same
    numbers; rows without a sigma (NaN) repeat their value."""
    values, sigma = np.asarray(values, np.float64), np.nan_to_num(np.asarray(sigma_dex, np.float64))
    deviates = np.stack([np.random.default_rng([int(seed), *(int(k) for k in key)]).standard_normal(count)
                         for key in keys]) if len(keys) else np.empty((0, count))
    return values[:, None] * 10.0 ** (sigma[:, None] * deviates)

