"""How well bundles paint, from predictions and truth on training-set maps (the paper's sections 3.1-3.7):
MPE with intervals, pixel PDFs and profiles, distribution functions in the volume a sample stands for,
the Lx-M_DM and Y-M_DM relations, uncertainty coverage, out-of-range diagnostics, and the correction tables
calibrate writes. No MPI and no model: `mpipaint evaluate` gathers each `Sample` and hands it here.

Distribution functions use one value per halo (the mean over its projections) in the volume the sample
stands for: snapshots x comoving box volume x the fraction of the box's selected halos in the sample.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mpipaint.science import corrections, stats, summaries
from mpipaint.science.ranges import out_of_range

MASS_PIVOT_MSUN = 1e14  # pivot of the scaling relations against M_DM
RELATION_TARGETS = ("xray", "y")  # targets whose per-halo quantity (Lx, Y) is fitted against M_DM


@dataclass
class Sample:
    """Per-image reductions of one training set's images, in image order."""

    snapshot: np.ndarray
    halo_id: np.ndarray
    redshift: np.ndarray
    box_size: np.ndarray  # physical kpc
    mdm_proj: np.ndarray  # Msun
    predicted: dict  # target -> per-image totals (painted-catalog quantities), ensemble mean
    members: dict = field(default_factory=dict)  # target -> (members, images) totals of each member
    at_bound: dict = field(default_factory=dict)  # target -> per-image fraction of output pixels at the bound
    dm_outside: np.ndarray = None  # per-image fraction of DM pixels above the trained input range
    coarser: bool = False  # DM particles heavier than the training run's (science.ranges.coarser_than_trained)
    particle_mass_msun: float | None = None  # of the input's DM (of its subsample: mass / fraction), where recorded
    true: dict = field(default_factory=dict)
    profiles_predicted: dict = field(default_factory=dict)  # target -> (N, bins)
    profiles_true: dict = field(default_factory=dict)
    pdf_predicted: dict = field(default_factory=dict)  # target -> counts of normalised pixels
    pdf_true: dict = field(default_factory=dict)

    def per_halo(self, values) -> tuple[np.ndarray, np.ndarray]:
        """(halo keys, mean of `values` over each halo's projections)."""
        return stats.means_by_group(self.halo_keys(), values)

    def halo_count(self) -> int:
        return len(np.unique(self.halo_keys(), axis=0))

    def per_halo_members(self, target: str) -> np.ndarray:
        """(members, halos): each ensemble member's prediction, averaged over each halo's projections."""
        return np.array([self.per_halo(member)[1] for member in self.members[target]])

    def halo_sigma_dex(self, target: str, residual_dex: float | None) -> np.ndarray:
        """Per halo (in per_halo's order): the uncertainty of log10 of the prediction, the members' spread
        and the bundles' validation residual in quadrature, as the painted catalog's `<quantity>_sigma_dex`."""
        per_member = self.per_halo_members(target)
        return np.hypot(np.nan_to_num(stats.log_spread_dex(per_member)), residual_dex or 0.0)

    def halo_keys(self) -> np.ndarray:
        return np.stack([self.snapshot, self.halo_id], axis=1)

    def flagged(self) -> np.ndarray:
        """Per image: 1 where the inputs or any target's outputs lie outside the trained range."""
        bound = np.max([self.at_bound[t] for t in self.at_bound], axis=0) if self.at_bound else 0.0
        return out_of_range(self.dm_outside, bound, self.coarser)

    def volume_mpc3(self, fraction: float) -> float:
        snaps = np.unique(self.snapshot)
        return sum(stats.comoving_volume_mpc3(self.box_size[self.snapshot == s][0],
                                              self.redshift[self.snapshot == s][0], 1, fraction) for s in snaps)


def distribution_functions(target, residual_dex, split: Sample, full: Sample, inputs: dict, per_dex: int) -> dict:
    """phi of one quantity: the split's truth and prediction, the whole FP truth, and each input's prediction.
    Predictions are spread by each halo's sigma_dex (stats.distribution_function: the truth scatters about
    what a net predicts from the DM map by the bundles' validation residual, `residual_dex`)."""
    _, true_all = full.per_halo(full.true[target])
    edges = stats.log_bin_edges(true_all, per_dex)

    def predicted(sample: Sample, volume: float):
        return stats.distribution_function(sample.per_halo(sample.predicted[target])[1], volume, edges,
                                           scatter_dex=sample.halo_sigma_dex(target, residual_dex))

    fraction = split.halo_count() / full.halo_count()
    volume_split, volume_all = split.volume_mpc3(fraction), full.volume_mpc3(1.0)
    result = {"true": stats.distribution_function(split.per_halo(split.true[target])[1], volume_split, edges),
              "fp": predicted(split, volume_split),
              "true_all": stats.distribution_function(true_all, volume_all, edges)}
    for name, sample in inputs.items():
        result[name] = predicted(sample, sample.volume_mpc3(1.0))
    return result


def correction_tables(residuals: dict, split: Sample, full: Sample, inputs: dict, per_dex: int) -> dict:
    """{input: {quantity: corrections.ratio_table}}: true over predicted phi of each corrected quantity (Lx,
    Mgas, Y) for the FP maps of the split ('fp') and for every input against the whole FP truth; `residuals`:
    target -> residual dex."""
    tables = {}
    for target in (t for t in residuals if t in corrections.QUANTITIES):
        quantity = corrections.QUANTITIES[target][0]
        functions = distribution_functions(target, residuals[target], split, full, inputs, per_dex)
        tables.setdefault("fp", {})[quantity] = corrections.ratio_table(functions["true"], functions["fp"])
        for name in inputs:
            tables.setdefault(name, {})[quantity] = corrections.ratio_table(functions["true_all"], functions[name])
    return tables


def evaluation(residuals: dict, split: Sample, full: Sample, inputs: dict, reference: Sample | None,
               fitted: Sample | None, per_dex: int, bootstrap: int) -> dict:
    """The science of `summary.json`: per target MPE with intervals, pixel PDFs and profile quartiles (and the
    uncertainty coverage where a `reference` sample gives the residual scatter); distribution functions of
    Lx, Mgas and Y; the Lx-M_DM and Y-M_DM relations per input; out-of-range diagnostics. `residuals`: target
    -> the bundles' validation residual [dex] (None where not recorded); `fitted`: the training and validation
    halos, where the scatter a net misses about a relation is measured (None: not measured)."""
    result = {"targets": {}, "distribution_functions": {}, "scaling_relation": {}, "scaling_relation_points": {},
              "range_diagnostics": {name: range_diagnostics(s) for name, s in {"fp": split, **inputs}.items()}}
    for target, residual in residuals.items():
        quantity, units = summaries.SUMMARY[target][0], summaries.SUMMARY[target][1]
        result["targets"][target] = {
            "quantity": quantity, "units": units, "members": len(split.members[target]),
            **stats.mpe_summary(split.predicted[target], split.true[target], split.halo_keys(), bootstrap),
            "mpe_by_snapshot": mpe_by_snapshot(split, target, bootstrap),
            "pdf_true": split.pdf_true[target].tolist(), "pdf_predicted": split.pdf_predicted[target].tolist(),
            "profile_true": stats.quartiles(split.profiles_true[target]),
            "profile_predicted": stats.quartiles(split.profiles_predicted[target])}
        if reference is not None:
            result["targets"][target]["uncertainty"] = uncertainty(split, target,
                                                                   residual_scatter_dex(reference, target))
        if target in corrections.QUANTITIES:
            functions = distribution_functions(target, residual, split, full, inputs, per_dex)
            result["distribution_functions"][quantity] = {k: v.to_dict() for k, v in functions.items()}
    result.update(scaling_relations(split, inputs, reference, fitted, bootstrap,
                                    [target for target in RELATION_TARGETS if target in residuals]))
    truth = result["scaling_relation"].get(summaries.SUMMARY["xray"][0], {}).get("true", {})
    if "slope" in truth:
        for name, sample in {"fp": split, **inputs}.items():
            result["range_diagnostics"][name]["lx_vs_true_relation"] = lx_against_relation(sample, truth)
    return result


def mpe_by_snapshot(sample: Sample, target: str, bootstrap: int) -> list[dict]:
    """The MPE summary per snapshot, with its redshift: the net sees no redshift, and a bias that changes sign
    with z hides in the pooled median (the totals' offsets per training redshift remove most of it)."""
    keys, result = sample.halo_keys(), []
    for snap in np.unique(sample.snapshot):
        mine = sample.snapshot == snap
        result.append({"snapshot": int(snap), "redshift": float(sample.redshift[mine][0]),
                       **stats.mpe_summary(sample.predicted[target][mine], sample.true[target][mine], keys[mine],
                                           bootstrap)})
    return result


def scaling_relations(split: Sample, inputs: dict, reference: Sample | None, fitted: Sample | None, bootstrap: int,
                      targets) -> dict:
    """Per quantity of `targets` (Lx, Y): its fit against M_DM (stats.fit_scaling_relation) for the truth, the
    FP prediction and each input's prediction, and their points; and the FP fit's scatter of a painted
    population: each value spread by the scatter the net misses about the relation on the `fitted` halos
    (`population_spread_dex`, stats.missing_scatter_dex: a difference of two variances, which the 10 % of
    validation halos alone measure too loosely, so the training halos count too, as for the total offsets),
    and, beside it, by the residual of the `reference` (validation) halos (`scatter_with_residual`, which
    counts the net's own errors twice)."""
    fits, points = {}, {}
    for target in targets:
        quantity = summaries.SUMMARY[target][0]
        relations = {"true": (split.mdm_proj, split.true[target]), "fp": (split.mdm_proj, split.predicted[target])}
        relations.update({name: (s.mdm_proj, s.predicted[target]) for name, s in inputs.items()})
        fits[quantity] = {}
        for name, (mass, values) in relations.items():
            try:
                fits[quantity][name] = vars(stats.fit_scaling_relation(mass, values, MASS_PIVOT_MSUN, bootstrap))
            except ValueError as exc:
                fits[quantity][name] = {"error": str(exc)}
        fp = fits[quantity]["fp"]
        if reference is not None and "scatter" in fp:
            errors = stats.log_ratios_dex(reference.true[target], reference.predicted[target])
            fp["scatter_with_residual"] = float(np.hypot(fp["scatter"], np.std(errors)))  # spread only
        if fitted is not None and "scatter" in fp:
            try:
                spread = stats.missing_scatter_dex(fitted.mdm_proj, fitted.true[target], fitted.predicted[target],
                                                   MASS_PIVOT_MSUN)
            except ValueError as exc:  # fewer than 3 usable training and validation images, as the fits record
                fp["population_spread_error"] = str(exc)
            else:
                fp["population_spread_dex"] = spread
                fp["scatter_of_population"] = float(np.hypot(fp["scatter"], spread))
        points[quantity] = {name: {"mdm_proj": m.tolist(), quantity: v.tolist()} for name, (m, v) in relations.items()}
    return {"scaling_relation": fits, "scaling_relation_points": points}


def corrected_against_truth(values, weights, sigma_dex, truth, volume_mpc3: float, per_dex: int) -> dict:
    """phi of painted per-halo values, raw and with their correction weights (each halo spread by its
    sigma_dex), against the truth's phi in the same volume and bins; the corrected one's Poisson agreement."""
    edges = stats.log_bin_edges(truth, per_dex)
    true = stats.distribution_function(truth, volume_mpc3, edges)
    raw = stats.distribution_function(values, volume_mpc3, edges, scatter_dex=sigma_dex)
    corrected = stats.distribution_function(values, volume_mpc3, edges, weights, scatter_dex=sigma_dex)
    return {"true": true.to_dict(), "raw": raw.to_dict(), "corrected": corrected.to_dict(),
            **stats.poisson_agreement(corrected, true), "halos_outside_calibration": int(np.isnan(weights).sum()),
            "halos": int(len(values))}


def range_diagnostics(sample: Sample) -> dict:
    """How much of an input kind's maps lies outside what the bundles were trained on."""
    return {"images": int(len(sample.halo_id)), "flagged_fraction": float(sample.flagged().mean()),
            "coarser_than_training": bool(sample.coarser),
            "dm_outside_median": float(np.median(sample.dm_outside)),
            "dm_outside_max": float(np.max(sample.dm_outside)),
            "at_bound_max": {t: float(np.max(v)) for t, v in sample.at_bound.items()}}


def lx_against_relation(sample: Sample, truth: dict) -> dict:
    """Predicted Lx over the true FP Lx-M_DM relation at each image's M_DM: typical and worst factors among
    images that are not flagged out of range."""
    expected = 10.0 ** (truth["norm"] + truth["slope"] * np.log10(sample.mdm_proj / truth["pivot"]))
    dex = np.abs(np.log10(np.maximum(sample.predicted["xray"], 1e-300) / expected))
    usable = sample.flagged() == 0
    return {"median_factor": float(10.0 ** np.median(dex)), "unflagged_images": int(usable.sum()),
            "unflagged_max_factor": float(10.0 ** dex[usable].max()) if usable.any() else float("nan"),
            "unflagged_beyond_factor_3": int((dex[usable] > np.log10(3.0)).sum())}


def _halo_log_errors(sample: Sample, target: str):
    """Per halo (mean over projections) with positive truth and members: log10(truth / ensemble mean) and
    the members' spread in log10 (0 for a single bundle) [dex]."""
    per_member = sample.per_halo_members(target)
    truth = sample.per_halo(sample.true[target])[1]
    keep = (truth > 0) & np.all(per_member > 0, axis=0)
    return (np.log10(truth[keep] / per_member[:, keep].mean(axis=0)),
            stats.log_spread_dex(per_member[:, keep]))


def residual_scatter_dex(sample: Sample, target: str) -> float:
    """rms of log10(truth / prediction) over a sample's halos (means over projections): the scatter of the
    truth about what the bundles predict from DM alone, which an ensemble's spread does not contain."""
    return stats.residual_scatter_dex(sample.per_halo(sample.true[target])[1],
                                      sample.per_halo(sample.predicted[target])[1])


def uncertainty(sample: Sample, target: str, residual_dex: float) -> dict:
    """Coverage on the sample's halos of the ensemble spread alone and of the spread plus the residual
    scatter measured on other halos (the validation split), both in dex."""
    errors, spread = _halo_log_errors(sample, target)
    return {"ensemble": stats.coverage(errors, spread), "residual_scatter_dex": residual_dex,
            "with_residual": stats.coverage(errors, np.hypot(spread, residual_dex))}
