"""`mpipaint evaluate` and `mpipaint calibrate`: model bundles run on training-set maps and compared with
full-physics truth, as in the paper's sections 3.1-3.7.

Predictions (`predict_sample`, collective): the images of a training set are grouped by halo, halos are
dealt to ranks, every bundle runs on one halo's projections as one batch (as in `paint`, so numbers do
not depend on the number of ranks), and rank 0 gathers per-image reductions only: totals (as in the
painted catalog: Lx, Mgas, mean T, projected DM mass), radial profiles and pixel histograms. No rank
holds more than one halo's maps.

Distribution functions use one value per halo (the mean over its projections) in the volume the sample
stands for: snapshots x comoving box volume x the fraction of the box's selected halos in the sample.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mpipaint import __version__
from mpipaint.config import option
from mpipaint.errors import InputError
from mpipaint.io.hdf5 import open_hdf5, require_dataset
from mpipaint.io.outputs import make_parent
from mpipaint.maps.geometry import MapSpec
from mpipaint.model.bundle import BACKEND_HELP, BACKENDS, fingerprint, validation_residual
from mpipaint.model.keras_env import DEFAULT_PRECISION, PRECISION_HELP, PRECISIONS
from mpipaint.model.norm import coarser_than_trained, out_of_range
from mpipaint.parallel import COMM, get_logger, my_share
from mpipaint.science import corrections, stats, summaries

SPLITS = ("train", "validation", "test", "all")
MASS_PIVOT_MSUN = 1e14  # pivot of the Lx-M_DM relation


@dataclass(frozen=True)
class EvaluateOptions:
    """Options of `mpipaint evaluate` and `mpipaint calibrate` (CLI flags or their YAML sections)."""

    models: tuple = option((), "model bundle or ensemble, trained on --data (repeat for several targets)",
                           flag="--model", repeat=True)
    data: str = option(None, "the full-physics training set the bundles were trained on: DM maps and truth")
    out: str = option(None, "evaluate: report directory; calibrate: corrections file (HDF5)")
    split: str = option("test", "halos of --data to use", choices=SPLITS)
    inputs: tuple = option(None, "DM-only training set (dmo=..., fp2=..., fp3=...) predicted against FP truth "
                           "(YAML: a mapping name -> path)", flag="--input", repeat=True, metavar="NAME=TRAINSET")
    per_dex: int = option(4, "distribution-function bins per dex")
    profile_bins: int = 20
    pdf_bins: int = 50
    bootstrap: int = option(1000, "bootstrap resamples for the scaling relation and the MPE intervals",
                            verbs=("evaluate",))
    snapshots: tuple = option(None, "only images of these snapshots (default all; e.g. calibrate on some, check "
                              "on another)", item_type=int, nargs="+")
    precision: str = option(DEFAULT_PRECISION, PRECISION_HELP, choices=PRECISIONS)
    backend: str = option("tf", BACKEND_HELP, choices=BACKENDS)

    def __post_init__(self):
        inputs = self.inputs or ()
        if isinstance(inputs, dict):  # YAML: {dmo: path, fp2: path}
            inputs = [f"{k}={v}" for k, v in inputs.items()]
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"inputs must be NAME=TRAINSET items or a mapping, got {inputs!r}")
        object.__setattr__(self, "inputs", tuple(str(item) for item in inputs))
        if self.snapshots is not None:
            object.__setattr__(self, "snapshots", tuple(int(n) for n in self.snapshots))
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, not {self.precision!r}")
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, not {self.backend!r}")
        if not (self.models and self.data and self.out):
            raise ValueError("'models', 'data' and 'out' are required")
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, not {self.split!r}")
        for item in self.inputs:
            if item.count("=") != 1 or not all(item.split("=")):
                raise ValueError(f"inputs are NAME=TRAINSET, got {item!r}")
        if self.per_dex < 1 or self.profile_bins < 1 or self.pdf_bins < 1 or self.bootstrap < 0:
            raise ValueError("per_dex, profile_bins and pdf_bins must be positive, bootstrap >= 0")

    def named_inputs(self) -> dict[str, str]:
        return dict(item.split("=") for item in self.inputs)


@dataclass
class Sample:
    """Per-image reductions of one training set's images (on rank 0), in image order."""

    snapshot: np.ndarray
    halo_id: np.ndarray
    redshift: np.ndarray
    box_size: np.ndarray  # physical kpc
    mdm_proj: np.ndarray  # Msun
    predicted: dict  # target -> per-image totals (painted-catalog quantities), ensemble mean
    members: dict = field(default_factory=dict)  # target -> (members, images) totals of each member
    at_bound: dict = field(default_factory=dict)  # target -> per-image fraction of output pixels at the bound
    dm_outside: np.ndarray = None  # per-image fraction of DM pixels above the trained input range
    coarser: bool = False  # DM particles heavier than the training run's (norm.coarser_than_trained)
    true: dict = field(default_factory=dict)
    profiles_predicted: dict = field(default_factory=dict)  # target -> (N, bins)
    profiles_true: dict = field(default_factory=dict)
    pdf_predicted: dict = field(default_factory=dict)  # target -> counts of normalised pixels
    pdf_true: dict = field(default_factory=dict)

    def per_halo(self, values) -> tuple[np.ndarray, np.ndarray]:
        """(halo keys, mean of `values` over each halo's projections)."""
        return stats.means_by_group(self.halo_keys(), values)

    def halo_sigma_dex(self, target: str, residual_dex: float | None) -> np.ndarray:
        """Per halo (in per_halo's order): the uncertainty of log10 of the prediction, the members' spread
        and the bundles' validation residual in quadrature, as the painted catalog's `<quantity>_sigma_dex`."""
        per_member = np.array([self.per_halo(member)[1] for member in self.members[target]])
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


def load_bundles(paths, data_attrs: dict, precision: str, backend: str) -> dict:
    """Bundles by target (lists: ensembles expanded), each checked against the training set's maps and
    set up to run at `precision` by `backend` as paint would; they must share one split."""
    from mpipaint.model.bundle import load_bundles_by_target  # noqa: PLC0415 - TensorFlow (or JAX) only here
    from mpipaint.model.infer import setup_inference  # noqa: PLC0415

    bundles = load_bundles_by_target(paths, MapSpec.from_attrs(data_attrs), setup_inference(precision, backend)[0],
                                     backend)
    splits = {json.dumps(b[0].meta["split_halos"], sort_keys=True) for b in bundles.values()}
    if len(splits) != 1:
        raise InputError(f"{', '.join(map(str, paths))}: bundles were trained with different halo splits")
    return bundles


def _attrs(path) -> dict:
    with open_hdf5(path) as f:
        if not f.attrs.get("complete", False):
            raise InputError(f"{path}: training set is incomplete (re-run mpipaint prepare to finish it)")
        return {key: f.attrs[key] for key in f.attrs}


def split_images(path, bundle_meta: dict, split: str, snapshots=None) -> np.ndarray:
    """Indices of the images of `path` whose halo is in the bundle's `split` (all images for 'all'), of
    the given snapshots only (all when None)."""
    with open_hdf5(path) as f:
        keys = np.stack([require_dataset(f, "snapshot")[()], require_dataset(f, "halo_id")[()]], axis=1)
    wanted = np.ones(len(keys), bool) if snapshots is None else np.isin(keys[:, 0], snapshots)
    if split == "all":
        chosen = None
    else:
        chosen = {tuple(h) for h in bundle_meta["split_halos"][split]}
    indices = np.array([i for i, key in enumerate(map(tuple, keys.tolist()))
                        if wanted[i] and (chosen is None or key in chosen)], dtype=np.int64)
    if not len(indices):
        where = f" in snapshots {list(snapshots)}" if snapshots is not None else " (another training set?)"
        raise InputError(f"{path}: no images of the bundle's '{split}' halos{where}")
    return indices


def _finite_maps(f, name: str, indices) -> np.ndarray:
    """Maps `indices` of dataset `name` as float64; an image with non-finite or negative pixels is an
    InputError naming the file, the dataset, the image and its halo."""
    maps = f[name][indices].astype(np.float64)
    bad = ~np.all(np.isfinite(maps) & (maps >= 0), axis=(1, 2))
    if bad.any():
        image = int(np.asarray(indices)[np.argmax(bad)])
        raise InputError(f"{f.filename}: '{name}' image {image} (halo {int(f['halo_id'][image])} of snapshot "
                         f"{int(f['snapshot'][image])}) has non-finite or negative pixels")
    return maps


def _halo_groups(keys, indices) -> list[np.ndarray]:
    """`indices` split by halo (rows of `keys`: snapshot, halo id), halos in key order, images ascending."""
    order = np.lexsort((indices, keys[:, 1], keys[:, 0]))
    bounds = np.flatnonzero(np.any(np.diff(keys[order], axis=0) != 0, axis=1)) + 1
    return np.split(indices[order], bounds) if len(indices) else []


def predict_sample(bundles: dict, path, indices, options: EvaluateOptions, with_truth: bool,
                   with_predictions: bool = True) -> Sample | None:
    """Every target's bundles on the DM maps of images `indices` of training set `path` (and/or the truth's
    reductions; the network runs only with_predictions); rank 0 gets the Sample."""
    from mpipaint.model.infer import EnsemblePredictor  # noqa: PLC0415

    attrs = _attrs(path)
    maps = MapSpec.from_attrs(attrs)
    area, pixel = maps.pixel_area, maps.pixel_kpc
    edges_kpc = np.linspace(0.0, 0.5 * maps.width_kpc, options.profile_bins + 1)
    pdf_edges = np.linspace(0.0, 1.0, options.pdf_bins + 1)
    predictors, rows = {}, []
    with open_hdf5(path) as f:
        if with_truth:
            missing = [t for t in bundles if t not in f]
            if missing:
                raise InputError(f"{path}: no '{missing[0]}' maps to compare with (a DM-only training set?)")
        keys = np.stack([f["snapshot"][()], f["halo_id"][()]], axis=1)[indices]
        for group in my_share(_halo_groups(keys, np.asarray(indices))):
            dm = _finite_maps(f, "dm", group)
            row = {"index": group, "mdm": summaries.totals("dm", dm, dm, area)}
            for target, members in bundles.items():
                norm = members[0].target_norm
                if with_predictions:
                    if target not in predictors:  # one traced function per bundle; every halo has naxes images
                        predictors[target] = EnsemblePredictor(members, batch_size=len(group))
                    result = predictors[target](dm)
                    images = result.mean_images
                    totals = [summaries.totals(target, member, dm, area) for member in result.images]
                    row[target] = (totals,) + _reductions(images, pixel, edges_kpc, norm.forward(images),
                                                          pdf_edges) + (result.at_bound, result.dm_outside)
                if with_truth:
                    truth = _finite_maps(f, target, group)
                    totals = [summaries.totals(target, truth, dm, area)]
                    row[f"true_{target}"] = (totals,) + _reductions(truth, pixel, edges_kpc, norm.forward(truth),
                                                                    pdf_edges)
            rows.append(row)
    gathered = COMM.gather(rows, root=0)
    if COMM.rank != 0:
        return None
    sample = _assemble(path, [r for part in gathered for r in part], list(bundles), with_truth, with_predictions)
    sample.coarser = coarser_than_trained(attrs.get("dm_particle_mass_msun"),
                                          next(iter(bundles.values()))[0].meta.get("dm_particle_mass_msun"))
    return sample


def _reductions(images, pixel, edges_kpc, z, pdf_edges):
    profiles = [stats.radial_profile(image, pixel, edges_kpc) for image in images]
    pdf = np.histogram(z[z > 0], bins=pdf_edges)[0]
    return profiles, pdf


def _assemble(path, rows, targets, with_truth, with_predictions) -> Sample:
    index = np.concatenate([r["index"] for r in rows])
    order = np.argsort(index)
    with open_hdf5(path) as f:
        per = {name: f[name][()][index[order]] for name in ("snapshot", "halo_id", "redshift", "box_size")}

    def column(name, part):  # per-image arrays, images along the first axis
        return np.concatenate([np.asarray(r[name][part]) for r in rows])[order]

    def totals(name):  # (members, images)
        return np.concatenate([np.asarray(r[name][0]) for r in rows], axis=1)[:, order]

    def counts(name):
        return np.sum([r[name][2] for r in rows], axis=0)

    sample = Sample(snapshot=per["snapshot"], halo_id=per["halo_id"], redshift=per["redshift"],
                    box_size=per["box_size"], mdm_proj=np.concatenate([r["mdm"] for r in rows])[order],
                    predicted={})
    for t in targets:
        if with_predictions:
            sample.members[t] = totals(t)
            sample.predicted[t] = sample.members[t].mean(axis=0)
            sample.profiles_predicted[t], sample.pdf_predicted[t] = column(t, 1), counts(t)
            sample.at_bound[t] = column(t, 3)
            outside = column(t, 4)
            sample.dm_outside = outside if sample.dm_outside is None else np.maximum(sample.dm_outside, outside)
        if with_truth:
            sample.true[t] = totals(f"true_{t}")[0]
            sample.profiles_true[t], sample.pdf_true[t] = column(f"true_{t}", 1), counts(f"true_{t}")
    return sample


def _check_inputs(named: dict, data_attrs: dict) -> None:
    for name, path in named.items():
        mismatch = MapSpec.from_attrs(_attrs(path)).mismatch(MapSpec.from_attrs(data_attrs))
        if mismatch:
            raise InputError(f"{path}: input '{name}' holds other maps than the training set: {mismatch}")


def _samples(options: EvaluateOptions):
    """Bundles, the split's sample (predicted and true), the whole FP set (truth only: the reference of
    the inputs' distribution functions) and each input's sample (predicted)."""
    data_attrs = _attrs(options.data)
    _check_inputs(options.named_inputs(), data_attrs)
    bundles = load_bundles(options.models, data_attrs, options.precision, options.backend)
    meta, snaps = next(iter(bundles.values()))[0].meta, options.snapshots
    if options.split != "all":
        _require_own_trainset(bundles, options.data)
    everything = split_images(options.data, meta, "all", snaps)
    chosen = split_images(options.data, meta, options.split, snaps)
    split = predict_sample(bundles, options.data, chosen, options, with_truth=True)
    full = split if options.split == "all" else predict_sample(bundles, options.data, everything, options,
                                                               with_truth=True, with_predictions=False)
    inputs = {}
    for name, path in options.named_inputs().items():
        inputs[name] = predict_sample(bundles, path, split_images(path, meta, "all", snaps), options,
                                      with_truth=False)
    return bundles, split, full, inputs


def _require_own_trainset(bundles: dict, path) -> None:
    """A split names halos of the training set a bundle was trained on: on any other set, 'test' halos may
    be training halos, or none at all."""
    given = fingerprint(path)
    for members in bundles.values():
        recorded = members[0].meta.get("trainset_fingerprint")
        if recorded is not None and recorded != given:
            raise InputError(f"{path}: not the training set the {members[0].meta['target']} bundle was trained on "
                             f"(its fingerprint differs from the bundle's, {members[0].meta.get('trainset')}); "
                             "evaluate a split on the bundle's own training set, or use --split all")


def _validation_sample(bundles: dict, options: EvaluateOptions) -> Sample | None:
    """Predictions and truth of the validation halos, where residual scatters are measured for an evaluation
    of another split (collective; None where there are none)."""
    meta = next(iter(bundles.values()))[0].meta
    if options.split == "validation" or not meta["split_halos"]["validation"]:
        return None
    try:
        indices = split_images(options.data, meta, "validation", options.snapshots)
    except InputError:  # no validation halo in the chosen snapshots
        return None
    return predict_sample(bundles, options.data, indices, options, with_truth=True)


def _fraction(sample: Sample, full: Sample) -> float:
    return len(sample.per_halo(sample.mdm_proj)[0]) / len(full.per_halo(full.mdm_proj)[0])


def distribution_functions(target, bundles: dict, split: Sample, full: Sample, inputs: dict, per_dex: int) -> dict:
    """phi of one quantity: the split's truth and prediction, the whole FP truth, and each input's prediction.
    Predictions are spread by each halo's sigma_dex (stats.distribution_function: the truth scatters about
    what a net predicts from the DM map by the validation residual)."""
    _, true_all = full.per_halo(full.true[target])
    edges = stats.log_bin_edges(true_all, per_dex)
    residual = validation_residual(bundles[target])

    def predicted(sample: Sample, volume: float):
        return stats.distribution_function(sample.per_halo(sample.predicted[target])[1], volume, edges,
                                           scatter_dex=sample.halo_sigma_dex(target, residual))

    volume_split, volume_all = split.volume_mpc3(_fraction(split, full)), full.volume_mpc3(1.0)
    result = {"true": stats.distribution_function(split.per_halo(split.true[target])[1], volume_split, edges),
              "fp": predicted(split, volume_split),
              "true_all": stats.distribution_function(true_all, volume_all, edges)}
    for name, sample in inputs.items():
        result[name] = predicted(sample, sample.volume_mpc3(1.0))
    return result


def run_evaluate(options: EvaluateOptions) -> None:
    log = get_logger()
    bundles, split, full, inputs = _samples(options)
    reference = _validation_sample(bundles, options)
    if COMM.rank != 0:
        return
    from mpipaint import plots  # noqa: PLC0415 - matplotlib on rank 0 only

    out = Path(options.out)
    make_parent(out / "summary.json")
    summary = {"split": options.split, "images": int(len(split.halo_id)),
               "precision": next(iter(bundles.values()))[0].precision, "backend": options.backend,
               "halos": int(len(split.per_halo(split.mdm_proj)[0])), "models": [str(m) for m in options.models],
               "trainset": str(options.data), "inputs": options.named_inputs(), "mpipaint_version": __version__,
               "snapshots": list(options.snapshots) if options.snapshots else "all",
               "targets": {}, "distribution_functions": {}, "scaling_relation": {},
               "range_diagnostics": {name: range_diagnostics(s) for name, s in {"fp": split, **inputs}.items()}}
    for target, members in bundles.items():
        quantity, units = summaries.SUMMARY[target][0], summaries.SUMMARY[target][1]
        summary["targets"][target] = {
            "quantity": quantity, "units": units, "members": len(members),
            **stats.mpe_summary(split.predicted[target], split.true[target], split.halo_keys(), options.bootstrap),
            "pdf_true": split.pdf_true[target].tolist(), "pdf_predicted": split.pdf_predicted[target].tolist(),
            "profile_true": stats.quartiles(split.profiles_true[target]),
            "profile_predicted": stats.quartiles(split.profiles_predicted[target])}
        if reference is not None:
            summary["targets"][target]["uncertainty"] = uncertainty(split, target,
                                                                    residual_scatter_dex(reference, target))
        if target in corrections.QUANTITIES:
            functions = distribution_functions(target, bundles, split, full, inputs, options.per_dex)
            summary["distribution_functions"][quantity] = {k: v.to_dict() for k, v in functions.items()}
    if "xray" in bundles:
        relations = {"true": (split.mdm_proj, split.true["xray"]), "fp": (split.mdm_proj, split.predicted["xray"])}
        relations.update({name: (s.mdm_proj, s.predicted["xray"]) for name, s in inputs.items()})
        for name, (mass, lx) in relations.items():
            try:
                fit = stats.fit_scaling_relation(mass, lx, MASS_PIVOT_MSUN, options.bootstrap)
                summary["scaling_relation"][name] = vars(fit)
            except ValueError as exc:
                summary["scaling_relation"][name] = {"error": str(exc)}
        truth, fp = summary["scaling_relation"]["true"], summary["scaling_relation"]["fp"]
        if reference is not None and "scatter" in fp:
            errors = stats.log_ratios_dex(reference.true["xray"], reference.predicted["xray"])
            fp["scatter_with_residual"] = float(np.hypot(fp["scatter"], np.std(errors)))  # spread, not bias
        if "slope" in truth:
            for name, sample in {"fp": split, **inputs}.items():
                summary["range_diagnostics"][name]["lx_vs_true_relation"] = lx_against_relation(sample, truth)
        summary["scaling_relation_points"] = {n: {"mdm_proj": m.tolist(), "lx": lx.tolist()}
                                              for n, (m, lx) in relations.items()}
    (out / "summary.json").write_text(json.dumps(summary, indent=1, sort_keys=True))
    figures = plots.evaluation_figures(summary, out, options)
    log.info("evaluation of %d %s images written to %s (%s)", summary["images"], options.split, out,
             ", ".join(f.name for f in figures))
    for target, values in summary["targets"].items():
        low, high = values["mpe_median_interval"]
        log.info("%s: MPE of %s median %.1f %% (68 %%: %.1f to %.1f), mean %.1f %% over %d images of %d halos",
                 target, values["quantity"], values["mpe_median_percent"], low, high, values["mpe_mean_percent"],
                 values["images"], values["halos"])


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
    per_member = np.array([sample.per_halo(member)[1] for member in sample.members[target]])
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


def run_calibrate(options: EvaluateOptions) -> None:
    """Correction tables: true over predicted phi for FP DM maps of the split and for every input."""
    log = get_logger()
    bundles, split, full, inputs = _samples(options)
    if COMM.rank != 0:
        return
    tables = {}
    for target in (t for t in bundles if t in corrections.QUANTITIES):
        quantity = corrections.QUANTITIES[target][0]
        functions = distribution_functions(target, bundles, split, full, inputs, options.per_dex)
        tables.setdefault("fp", {})[quantity] = corrections.ratio_table(functions["true"], functions["fp"])
        for name in inputs:
            tables.setdefault(name, {})[quantity] = corrections.ratio_table(functions["true_all"], functions[name])
    if not tables:
        raise InputError("calibrate needs an X-ray or gas bundle: corrections exist for Lx and Mgas only")
    make_parent(options.out)
    corrections.write_tables(options.out, tables, {
        "models": [str(Path(m).resolve()) for m in options.models], "trainset": str(Path(options.data).resolve()),
        "split": options.split, "inputs": json.dumps(options.named_inputs()), "mpipaint_version": __version__,
        "snapshots": np.asarray(options.snapshots if options.snapshots else [], dtype=np.int64)})
    for source, by_quantity in tables.items():
        for quantity, table in by_quantity.items():
            usable = np.isfinite(table["ratio"])
            log.info("%s %s: ratio true/predicted %s in %d calibrated bins", source, quantity,
                     np.array2string(table["ratio"][usable], precision=2), int(usable.sum()))
    log.info("wrote correction tables %s", options.out)
