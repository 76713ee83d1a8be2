"""Resolution- and DMO-bias correction tables (the paper, section 3.5): per bin of Lx or Mgas, the ratio
of the true full-physics distribution function to the one predicted from some input (FP DM maps, DMO maps,
8x or 64x coarser maps).

The predicted phi spreads each halo by its `sigma_dex` (stats.distribution_function): painted values are
the net's expectation given the DM map, and a table of raw values would mostly undo the narrowing that
implies, with ratios of 5 at the sample's faint edge that do not carry to another redshift. The ratio
corrects abundances, not values: a painted halo with luminosity L gets the number-density weight
w = ratio(L), so that the phi of the catalog spread by `sigma_dex` and weighted by w is the corrected phi.
Weights are interpolated linearly in log10(ratio) against log10(bin centre) between calibrated bins
(those with predicted and true halos), held at the end bins' ratio up to the calibrated range's edges,
and NaN outside it, with a flag set: no silent extrapolation.

The tables' file: `io.corrections`.
"""
from __future__ import annotations

import numpy as np

from mpipaint.science.stats import DistributionFunction
from mpipaint.science.summaries import SUMMARY

# target -> (quantity, units), as in the painted catalog: corrections exist for Lx, Mgas and Y
QUANTITIES = {target: SUMMARY[target][:2] for target in ("xray", "gas", "y")}


def ratio_table(true: DistributionFunction, predicted: DistributionFunction) -> dict:
    """phi_true / phi_predicted per bin with its Poisson error; NaN where either bin holds less than one
    (expected) halo."""
    if not np.array_equal(true.edges, predicted.edges):
        raise ValueError("true and predicted distribution functions need the same bins")
    usable = (true.counts >= 1) & (predicted.counts >= 1)
    ratio = np.full(len(true.phi), np.nan)
    ratio[usable] = true.phi[usable] / predicted.phi[usable]
    relative = np.sqrt(np.divide(true.error**2, true.phi**2, out=np.zeros_like(true.phi), where=usable)
                       + np.divide(predicted.error**2, predicted.phi**2, out=np.zeros_like(true.phi), where=usable))
    return {"bin_edges": true.edges, "phi_true": true.phi, "phi_true_error": true.error,
            "phi_predicted": predicted.phi, "phi_predicted_error": predicted.error,
            "counts_true": true.counts, "counts_predicted": predicted.counts,
            "ratio": ratio, "ratio_error": np.where(usable, ratio * relative, np.nan),
            "volume_true_mpc3": true.volume_mpc3, "volume_predicted_mpc3": predicted.volume_mpc3}


def correction_weights(values, table: dict) -> tuple[np.ndarray, np.ndarray]:
    """(weight, outside) for each value: the interpolated ratio, and True (weight NaN) where the value lies
    outside the calibrated range or is not positive."""
    edges, ratio = np.asarray(table["bin_edges"], float), np.asarray(table["ratio"], float)
    ok = np.flatnonzero(np.isfinite(ratio) & (ratio > 0))
    values = np.asarray(values, float)
    if not len(ok):
        return np.full(values.shape, np.nan), np.ones(values.shape, bool)
    centres = 0.5 * (np.log10(edges[:-1]) + np.log10(edges[1:]))
    low, high = edges[ok[0]], edges[ok[-1] + 1]
    positive = np.where(values > 0, values, 1.0)
    weight = 10.0 ** np.interp(np.log10(positive), centres[ok], np.log10(ratio[ok]))
    outside = ~((values >= low) & (values <= high))
    return np.where(outside, np.nan, weight), outside
