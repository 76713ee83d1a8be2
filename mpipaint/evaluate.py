"""`mpipaint evaluate` and `mpipaint calibrate`: model bundles run on training-set maps and compared with
full-physics truth; what the numbers mean is `science.evaluation`.

Predictions (`predict_sample`, collective): the images of a training set are grouped by halo, halos are
dealt to ranks, every bundle runs on one halo's projections as one batch (as in `paint`, so numbers do
not depend on the number of ranks), and rank 0 gathers per-image reductions only: totals (as in the
painted catalog: Lx, Mgas, mean T, projected DM mass), radial profiles and pixel histograms. No rank
holds more than one halo's maps.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mpipaint import __version__
from mpipaint.errors import InputError
from mpipaint.io.corrections import write_tables
from mpipaint.io.outputs import make_parent
from mpipaint.io.trainingset import TrainingSet
from mpipaint.maps.geometry import MapSpec
from mpipaint.model.bundle import BundleSet
from mpipaint.options import EvaluateOptions
from mpipaint.parallel import COMM, get_logger, my_share
from mpipaint.science import stats, summaries
from mpipaint.science.evaluation import RELATION_TARGETS, Sample, correction_tables, evaluation
from mpipaint.science.ranges import coarser_than_trained


def load_bundles(paths, spec: MapSpec, precision: str, backend: str) -> BundleSet:
    """The bundle set (model.bundle.BundleSet), each bundle checked against the training set's maps and set
    up to run at `precision` by `backend` as paint would (their one split: `BundleSet.split_halos`)."""
    from mpipaint.model.bundle import load_bundle_set  # noqa: PLC0415 - TensorFlow (or JAX) only here
    from mpipaint.model.infer import setup_inference  # noqa: PLC0415

    return load_bundle_set(paths, spec, setup_inference(precision, backend)[0], backend)


def split_images(path, split_halos: dict, split: str, snapshots=None) -> np.ndarray:
    """Indices of the images of `path` whose halo is in the bundle's `split` (all images for 'all'), of
    the given snapshots only (all when None)."""
    with TrainingSet(path) as data:
        keys = data.halo_keys()
    wanted = np.ones(len(keys), bool) if snapshots is None else np.isin(keys[:, 0], snapshots)
    if split == "all":
        chosen = None
    else:
        chosen = {tuple(h) for h in split_halos[split]}
    indices = np.array([i for i, key in enumerate(map(tuple, keys.tolist()))
                        if wanted[i] and (chosen is None or key in chosen)], dtype=np.int64)
    if not len(indices):
        where = f" in snapshots {list(snapshots)}" if snapshots is not None else " (another training set?)"
        raise InputError(f"{path}: no images of the bundle's '{split}' halos{where}")
    return indices


def _halo_groups(keys, indices) -> list[np.ndarray]:
    """`indices` split by halo (rows of `keys`: snapshot, halo id), halos in key order, images ascending."""
    order = np.lexsort((indices, keys[:, 1], keys[:, 0]))
    bounds = np.flatnonzero(np.any(np.diff(keys[order], axis=0) != 0, axis=1)) + 1
    return np.split(indices[order], bounds) if len(indices) else []


def predict_sample(bundles: BundleSet, path, indices, options: EvaluateOptions, with_truth: bool,
                   predictors: dict | None = None) -> Sample | None:
    """Every target's bundles on the DM maps of images `indices` of training set `path` (and/or the truth's
    reductions; the network runs only where `predictors` is given: {target: EnsemblePredictor}, filled on
    first use and kept by the caller, so that each bundle is traced once per run, not once per sample);
    rank 0 gets the Sample."""
    from mpipaint.model.infer import EnsemblePredictor  # noqa: PLC0415

    with_predictions, rows = predictors is not None, []
    with TrainingSet(path) as data:
        spec, particle_mass = data.spec, data.attrs.get("dm_particle_mass_msun")
        area, pixel = spec.pixel_area, spec.pixel_kpc
        edges_kpc = np.linspace(0.0, 0.5 * spec.width_kpc, options.profile_bins + 1)
        pdf_edges = np.linspace(0.0, 1.0, options.pdf_bins + 1)
        if with_truth:
            for target in bundles:
                data.require_target(target)
        keys, redshift = data.halo_keys()[indices], data.column("redshift")
        for group in my_share(_halo_groups(keys, np.asarray(indices))):
            dm = data.maps("dm", group)
            row = {"index": group, "mdm": summaries.totals("dm", dm, dm, area)}
            for target, members in bundles.items():
                norm = members[0].target_norm
                if with_predictions:
                    if target not in predictors:  # every halo has naxes images
                        predictors[target] = EnsemblePredictor(members, batch_size=len(group))
                    result = predictors[target](dm, redshift[group[0]])  # a halo's images share it
                    images = result.mean_images
                    row[target] = (result.totals,) + _reductions(images, pixel, edges_kpc, norm.forward(images),
                                                                 pdf_edges) + (result.at_bound, result.dm_outside)
                if with_truth:
                    truth = data.maps(target, group)
                    totals = [summaries.totals(target, truth, dm, area)]
                    row[f"true_{target}"] = (totals,) + _reductions(truth, pixel, edges_kpc, norm.forward(truth),
                                                                    pdf_edges)
            rows.append(row)
    gathered = COMM.gather(rows, root=0)
    if COMM.rank != 0:
        return None
    sample = _assemble(path, [r for part in gathered for r in part], list(bundles), with_truth, with_predictions)
    sample.coarser = coarser_than_trained(particle_mass, bundles.trained_particle_mass_msun)
    sample.particle_mass_msun = particle_mass
    return sample


def _reductions(images, pixel, edges_kpc, z, pdf_edges):
    profiles = [stats.radial_profile(image, pixel, edges_kpc) for image in images]
    pdf = np.histogram(z[z > 0], bins=pdf_edges)[0]
    return profiles, pdf


def _assemble(path, rows, targets, with_truth, with_predictions) -> Sample:
    index = np.concatenate([r["index"] for r in rows])
    order = np.argsort(index)
    with TrainingSet(path) as data:
        per = {name: data.column(name)[index[order]] for name in ("snapshot", "halo_id", "redshift", "box_size")}

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


def _check_inputs(named: dict, spec: MapSpec) -> None:
    for name, path in named.items():
        with TrainingSet(path) as data:
            mismatch = data.spec.mismatch(spec)
        if mismatch:
            raise InputError(f"{path}: input '{name}' holds other maps than the training set: {mismatch}")


def _samples(options: EvaluateOptions):
    """Bundles, the split's sample (predicted and true), the whole FP set (truth only: the reference of
    the inputs' distribution functions), each input's sample (predicted) and the bundles' predictors."""
    with TrainingSet(options.data) as data:
        spec = data.spec
    _check_inputs(options.named_inputs(), spec)
    bundles = load_bundles(options.models, spec, options.precision, options.backend)
    split_halos, snaps = bundles.split_halos, options.snapshots
    if options.split != "all":
        _require_own_trainset(bundles, options.data)
    everything = split_images(options.data, split_halos, "all", snaps)
    chosen = split_images(options.data, split_halos, options.split, snaps)
    predictors = {}
    split = predict_sample(bundles, options.data, chosen, options, with_truth=True, predictors=predictors)
    full = split if options.split == "all" else predict_sample(bundles, options.data, everything, options,
                                                               with_truth=True)
    inputs = {}
    for name, path in options.named_inputs().items():
        inputs[name] = predict_sample(bundles, path, split_images(path, split_halos, "all", snaps), options,
                                      with_truth=False, predictors=predictors)
    return bundles, split, full, inputs, predictors


def _require_own_trainset(bundles: BundleSet, path) -> None:
    """A split names halos of the training set a bundle was trained on: on any other set, 'test' halos may
    be training halos, or none at all."""
    with TrainingSet(path) as data:
        given = data.fingerprint()
    for members in bundles.values():
        recorded = members[0].meta.get("trainset_fingerprint")
        if recorded is not None and recorded != given:
            raise InputError(f"{path}: not the training set the {members[0].target} bundle was trained on "
                             f"(its fingerprint differs from the bundle's, {members[0].meta.get('trainset')}); "
                             "evaluate a split on the bundle's own training set, or use --split all")


def _validation_sample(bundles: BundleSet, options: EvaluateOptions, predictors: dict) -> Sample | None:
    """Predictions and truth of the validation halos, where residual scatters are measured for an evaluation
    of another split (collective; None where there are none)."""
    split_halos = bundles.split_halos
    if options.split == "validation" or not split_halos["validation"]:
        return None
    try:
        indices = split_images(options.data, split_halos, "validation", options.snapshots)
    except InputError:  # no validation halo in the chosen snapshots
        return None
    return predict_sample(bundles, options.data, indices, options, with_truth=True, predictors=predictors)


def _fitted_sample(bundles: BundleSet, options: EvaluateOptions, predictors: dict) -> Sample | None:
    """Predictions and truth of the halos the bundles were trained and selected on (training and validation
    splits), where the scatter missed about a scaling relation is measured; collective; None without a
    relation's target or without such halos in the chosen snapshots."""
    if not set(RELATION_TARGETS) & set(bundles):
        return None
    split_halos = bundles.split_halos
    indices = []
    for name in ("train", "validation"):
        try:
            indices.append(split_images(options.data, split_halos, name, options.snapshots))
        except InputError:  # none of this split in the chosen snapshots
            continue
    if not indices:
        return None
    return predict_sample(bundles, options.data, np.sort(np.concatenate(indices)), options, with_truth=True,
                          predictors=predictors)


def run_evaluate(options: EvaluateOptions) -> None:
    log = get_logger()
    bundles, split, full, inputs, predictors = _samples(options)
    reference = _validation_sample(bundles, options, predictors)
    fitted = _fitted_sample(bundles, options, predictors)
    if COMM.rank != 0:
        return
    from mpipaint import plots  # noqa: PLC0415 - matplotlib on rank 0 only

    out = Path(options.out)
    make_parent(out / "summary.json")
    summary = {"split": options.split, "images": int(len(split.halo_id)),
               "precision": bundles.precision, "backend": options.backend,
               "halos": split.halo_count(), "models": [str(m) for m in options.models],
               "trainset": str(options.data), "inputs": options.named_inputs(), "mpipaint_version": __version__,
               "snapshots": list(options.snapshots) if options.snapshots else "all",
               **evaluation(bundles.residuals, split, full, inputs, reference, fitted, options.per_dex,
                            options.bootstrap)}
    (out / "summary.json").write_text(json.dumps(summary, indent=1, sort_keys=True))
    figures = plots.evaluation_figures(summary, out, options)
    log.info("evaluation of %d %s images written to %s (%s)", summary["images"], options.split, out,
             ", ".join(f.name for f in figures))
    for target, values in summary["targets"].items():
        low, high = values["mpe_median_interval"]
        log.info("%s: MPE of %s median %.1f %% (68 %%: %.1f to %.1f), mean %.1f %% over %d images of %d halos",
                 target, values["quantity"], values["mpe_median_percent"], low, high, values["mpe_mean_percent"],
                 values["images"], values["halos"])


def run_calibrate(options: EvaluateOptions) -> None:
    """Correction tables: true over predicted phi for FP DM maps of the split and for every input."""
    log = get_logger()
    bundles, split, full, inputs, _ = _samples(options)
    if COMM.rank != 0:
        return
    tables = correction_tables(bundles.residuals, split, full, inputs, options.per_dex)
    if not tables:
        raise InputError("calibrate needs an X-ray or gas bundle: corrections exist for Lx and Mgas only")
    make_parent(options.out)
    masses = {name: sample.particle_mass_msun for name, sample in {"fp": split, **inputs}.items()}
    write_tables(options.out, tables, {
        "models": [str(Path(m).resolve()) for m in options.models], "trainset": str(Path(options.data).resolve()),
        "split": options.split, "inputs": json.dumps(options.named_inputs()), "mpipaint_version": __version__,
        "snapshots": np.asarray(options.snapshots if options.snapshots else [], dtype=np.int64)},
        {name: mass for name, mass in masses.items() if mass is not None})
    for source, by_quantity in tables.items():
        for quantity, table in by_quantity.items():
            usable = np.isfinite(table["ratio"])
            log.info("%s %s: ratio true/predicted %s in %d calibrated bins", source, quantity,
                     np.array2string(table["ratio"][usable], precision=2), int(usable.sum()))
    log.info("wrote correction tables %s", options.out)
