"""What one number per halo and projection means: the sums and means of painted (and true) maps that the
painted catalog stores, training calibrates and evaluation compares. Science, not I/O: the catalog writer
(io/painted.py), train, evaluate, calibrate and the demo all take them from here."""
from __future__ import annotations

import numpy as np

from mpipaint.science.ranges import out_of_range
from mpipaint.science.stats import log_spread_dex

SUMMARY = {  # target -> (dataset, units, description)
    "dm": ("mdm_proj", "Msun", "projected dark-matter mass in the map"),
    "xray": ("lx", "erg/s", "0.5-2 keV rest-frame luminosity: sum of the painted X-ray map"),
    "gas": ("mgas", "Msun", "hot-gas mass: sum of the painted gas map"),
    "temperature": ("t_mean", "keV", "mean painted temperature over pixels holding dark matter"),
    "y": ("y_int", "kpc^2", "cylindrical Compton-Y of the map's square: sum of the painted y map x pixel area "
                            "(physical kpc^2; Y / d_A^2 is in sr)"),
}


MEAN_OVER_DM = frozenset({"temperature"})  # summarised by the mean over pixels holding DM; others by sum x area


def summarise(target: str, image: np.ndarray, dm_image: np.ndarray, pixel_area: float) -> float:
    """The per-halo number of one painted map (see SUMMARY)."""
    if target in MEAN_OVER_DM:
        holds_dm = dm_image > 0
        return float(from_sum(target, image[holds_dm].sum(dtype=np.float64), holds_dm.sum(), pixel_area))
    return float(from_sum(target, image.sum(dtype=np.float64), None, pixel_area))


def from_sum(target: str, pixel_sum, dm_pixels, pixel_area: float):
    """`summarise` from a map's sum over the pixels that count (those holding DM for MEAN_OVER_DM targets,
    else all) and its number of pixels holding DM (unused for sums); element-wise over maps. Lets a device
    reduce the maps and send back only sums (model/jax_chain.py)."""
    if target in MEAN_OVER_DM:
        return np.where(dm_pixels > 0, pixel_sum / np.maximum(dm_pixels, 1), 0.0)
    return pixel_sum * pixel_area


def totals(target: str, images, dm_images, pixel_area: float) -> np.ndarray:
    """`summarise` of each map of a stack (images and their DM maps along the first axis)."""
    return np.array([summarise(target, image, d, pixel_area) for image, d in zip(images, dm_images)])


def halo_values(painted: dict, mdm_proj: np.ndarray, coarser: bool = False, residuals=None) -> dict:
    """The ensemble summary of one halo, per axis: from the DM mass in its maps [Msun] and {target:
    model.results.Painted}, each target's mean over members, their std (several members), sigma_dex (members'
    log spread and the validation residual in quadrature, where known) and fraction at the bound, and the
    range flags (the columns of `io.painted.columns`); `coarser`: the box's DM particles are heavier than the
    training run's (every row is flagged)."""
    values = {"mdm_proj": np.asarray(mdm_proj, dtype=np.float64)}
    outside, bound = np.zeros(len(mdm_proj)), np.zeros(len(mdm_proj))
    for target, result in painted.items():
        name = SUMMARY[target][0]
        per_member = result.totals
        values[name] = per_member.mean(axis=0)
        if len(per_member) > 1:
            values[f"{name}_std"] = per_member.std(axis=0, ddof=1)
        residual = (residuals or {}).get(target)
        if residual is not None:
            values[f"{name}_sigma_dex"] = np.hypot(log_spread_dex(per_member), residual)
        values[f"{name}_at_bound"] = result.at_bound
        outside, bound = np.maximum(outside, result.dm_outside), np.maximum(bound, result.at_bound)
    empty = values["mdm_proj"] <= 0  # nothing to paint from: whatever the net returns is not a prediction
    values["dm_outside_range"] = outside
    values["out_of_range"] = (out_of_range(outside, bound, coarser) | empty).astype(np.uint8)
    return values
