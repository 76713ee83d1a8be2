"""`mpipaint train`: Horovod data-parallel training of a U-net on a training set from `prepare`.

Launch with `horovodrun -np N mpipaint train ...` or `mpirun -n N mpipaint train ...`. The split is by halo
(all projections of a halo in one split), seeded and recorded. The normalisation is fitted on the training
split of the full-physics maps. Each rank streams its own shard of the training images from the HDF5 file
(tf.data, one image at a time), each in one of the 8 flips and 90-degree rotations of the square (exact
symmetries of a projected map); the order and the symmetries of every epoch are seeded by (seed, rank,
epoch) alone (`model.training.epoch_plan`), so a resumed run sees what the uninterrupted one saw. All
ranks run the same number of steps. Horovod averages gradients (the learning rate is scaled by the number
of ranks, with a warm-up) and the batch-norm statistics are averaged at every epoch end, so all ranks hold
identical weights, which is checked at the end.

The loss is the paper's pixel MSE in normalised units plus `total_weight` times the squared log10 error of
the map's integrated total (what the MPE measures: Lx comes from the few brightest pixels, which a pixel MSE
treats like any other, so nets trained on it alone painted the example's Lx 2-3x low). The validation loss
(averaged over ranks) drives the schedule: the learning rate halves after `lr_patience` epochs without
improvement, at most callbacks.LR_HALVINGS times; training stops after `patience` epochs without improvement at that
floor, and the bundle holds the weights of the best validation epoch. (Stopping on the first plateau ended
members after 12 of 40 epochs: a batch-4 validation loss jumps by 10x between epochs at the initial rate.)
The finished net then paints the training maps as `paint` would: the median offset of its map totals there
(per training redshift where each has enough halos: the net sees no redshift) is recorded and removed from
everything it paints, and its residual scatter on the validation halos is
recorded for per-halo uncertainties (`calibrate_totals`).
Rank 0 writes checkpoints (weights, batch-norm statistics, optimizer moments, step and learning rate, the
schedule's state and the best weights) after every epoch; a re-run resumes from the last one and ends with
the bundle of the uninterrupted run. SIGTERM or SIGUSR1 end training at the end of the current epoch, after
its checkpoint, with exit 143. `members` > 1 trains a deep ensemble: that many bundles on the same split from different
initialisations, for per-halo uncertainties (`model/bundle.py`). Several targets are trained one after another
in the one job (TensorFlow and Horovod start once), each with its recipe into OUT/TARGET.
"""
from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from mpipaint import __version__
from mpipaint.config import plain
from mpipaint.errors import InputError, Preempted
from mpipaint.io.outputs import make_parent
from mpipaint.io.trainingset import TrainingSet
from mpipaint.model.bundle import MAX_TOTAL_OFFSET_DEX, Bundle, save_bundle, total_offset_dex, weights_digest
from mpipaint.model.keras_env import (PRECISION_POLICIES, inference_precision, keras, place_on_devices,
                                      require_legacy_keras)
from mpipaint.model.training import (CHECKPOINT_SUFFIX, Pairs, batches, epoch_plan, fit_normalisations,
                                     map_and_total_loss, split_by_halo)
from mpipaint.options import TrainOptions
from mpipaint.parallel import get_logger, stopping
from mpipaint.parallel.exclusive import exclusive_writer
from mpipaint.science import stats
from mpipaint.science.summaries import totals

def _versions():
    import horovod  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    return {"mpipaint": __version__, "tensorflow": tf.__version__, "tf_keras": keras().__version__,
            "horovod": horovod.__version__, "numpy": np.__version__, "h5py": h5py.__version__}


def member_runs(options: TrainOptions) -> list[tuple[Path, int]]:
    """(bundle directory, initialisation seed) of each member: OUT itself for one, OUT/member_K for more."""
    if options.members == 1:
        return [(Path(options.out), options.seed)]
    return [(Path(options.out) / f"member_{k}", options.seed + k) for k in range(options.members)]


def run_train(options: TrainOptions) -> None:
    require_legacy_keras()
    import horovod.tensorflow as hvd_tf  # noqa: PLC0415 - after the Keras check
    import horovod.tensorflow.keras as hvd  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    hvd.init()
    stopping.install()
    precision = _place_on_devices(tf, hvd, options)
    tf.config.experimental.enable_op_determinism()  # the same command gives the same weights
    with TrainingSet(options.data) as data:
        for target in options.target:  # before the first net trains, not hours later
            data.require_target(target)
    for one in options.for_each_target():
        _train_target(one, hvd, hvd_tf, tf, precision)


def _train_target(options: TrainOptions, hvd, hvd_tf, tf, precision: str) -> None:
    """The bundle (or ensemble) of one target's net, at options.out."""
    from mpipaint.model.bundle import write_ensemble  # noqa: PLC0415

    target = options.net_target
    with TrainingSet(options.data) as data:
        attrs, spec, target_units = data.attrs, data.spec, data.units(target)
        trainset_fingerprint = data.fingerprint()
        halo_of = data.halo_keys()
        splits = split_by_halo(halo_of[:, 0], halo_of[:, 1], options.seed, options.split)
    if hvd.rank() == 0:
        make_parent(Path(options.out) / "bundle.json")  # before hours of training: --out under a file fails now
    if len(splits["train"]) < hvd.size() * options.batch_size:
        raise InputError(f"{options.data}: {len(splits['train'])} training images cannot fill one batch of "
                         f"{options.batch_size} on each of {hvd.size()} ranks")
    norms = fit_normalisations(options.data, target, splits["train"], options) if hvd.rank() == 0 else None
    input_norm, target_norm = hvd_tf.broadcast_object(norms, root_rank=0)
    meta = {
        "target": target, "target_units": target_units, **spec.attrs(),
        "emission_model": str(attrs.get("emission_model", "")), "mask": options.mask,
        "dm_particle_mass_msun": float(attrs["dm_particle_mass_msun"]) if "dm_particle_mass_msun" in attrs else None,
        "input_normalisation": input_norm.to_dict(), "target_normalisation": target_norm.to_dict(),
        "trainset": str(Path(options.data).resolve()), "trainset_fingerprint": trainset_fingerprint,
        "split_seed": options.seed, "split_fractions": list(options.split),
        "split_halos": {name: np.unique(halo_of[idx], axis=0).tolist() for name, idx in splits.items()},
        "options": _recorded(options), "training_precision": precision, "ranks": hvd.size(),
        "versions": _versions()}
    runs = member_runs(options)
    with exclusive_writer(options.out, get_logger()):  # two trainings on one --out clobber each other's checkpoints
        for out, init_seed in runs:
            _train_member(options, hvd, hvd_tf, tf, splits, (input_norm, target_norm), dict(meta), out, init_seed)
        if hvd.rank() == 0 and options.members > 1:
            write_ensemble(options.out, target, [out.name for out, _ in runs])
            get_logger().info("wrote an ensemble of %d bundles in %s", options.members, options.out)


def _recorded(options: TrainOptions) -> dict:
    """One net's options as its bundle and checkpoint record them (the target by name)."""
    return {**plain(options), "target": options.net_target}


def _train_member(options, hvd, hvd_tf, tf, splits, norms, meta, out: Path, init_seed: int) -> None:
    """Train one bundle (with checkpoints and resume) and write it to `out`."""
    from mpipaint.model.callbacks import (AverageBatchNormStatistics, AverageMetrics, Checkpoint,  # noqa: PLC0415
                                          LinearWarmup, StopOnSignal, ValidationSchedule, restore_checkpoint)
    from mpipaint.model.unet import build_unet  # noqa: PLC0415

    log, k = get_logger(), keras()
    input_norm, target_norm = norms
    k.backend.clear_session()
    k.utils.set_random_seed(init_seed)  # weight initialisation: the same run gives the same net
    npix = meta["npix"]
    checkpoint_dir = out / "checkpoint"
    identity = {"trainset_fingerprint": meta["trainset_fingerprint"], "init_seed": init_seed,
                "options": {key: v for key, v in _recorded(options).items()
                            if key not in ("epochs", "out", "data", "members")}}  # so K can grow
    state = _read_state(checkpoint_dir, identity) if hvd.rank() == 0 else None
    state = hvd_tf.broadcast_object(state, root_rank=0)
    lr = options.learning_rate * hvd.size()
    loss = map_and_total_loss(tf, target_norm, options.total_weight)
    architecture = {"image_size": npix, "base_filters": options.base_filters, "depth": options.depth,
                    "head": options.scheme, "mask": options.mask}
    model = build_unet(**architecture)
    model.compile(optimizer=hvd.DistributedOptimizer(k.optimizers.Adam(lr), num_groups=1), loss=loss)
    # the optimizer's variables exist before the first step, so the training step is traced once, not twice
    # (a tf.function that creates variables is traced again after its first call: 5 s of a demo net's 75 s)
    model.optimizer.build(model.trainable_variables)
    if state["epoch"] > 0:
        restore_checkpoint(model, checkpoint_dir / state["checkpoint"], state["learning_rate"])
        log.info("resuming from the checkpoint of epoch %d (%s)", state["epoch"], out)

    shard = splits["train"][hvd.rank()::hvd.size()]
    steps = len(splits["train"]) // (hvd.size() * options.batch_size)
    plans = [epoch_plan(shard, init_seed, hvd.rank(), epoch, steps * options.batch_size, options.augment)
             for epoch in range(state["epoch"], options.epochs)]
    pairs = Pairs(options.data, options.net_target, input_norm, target_norm, options.mask)
    train_data = batches(tf, pairs, *(np.concatenate([plan[k] for plan in plans] or [np.empty(0, np.int64)])
                                       for k in (0, 1)), npix, options.batch_size, options.mask, True)
    val_data, monitor = None, "loss"
    if len(splits["validation"]) >= hvd.size():  # every rank evaluates a share, so the average is defined
        mine = splits["validation"][hvd.rank()::hvd.size()]
        val_data = batches(tf, pairs, mine, np.zeros(len(mine), np.int64), npix, options.batch_size,
                            options.mask, False)
        monitor = "val_loss"
    else:
        log.warning("%d validation images for %d ranks: the schedule follows the training loss",
                    len(splits["validation"]), hvd.size())
    schedule = ValidationSchedule(monitor, options, state, checkpoint_dir, [w.shape for w in model.weights])
    # every rank starts from rank 0's variables before the first step: Horovod's broadcast callback runs after
    # the first batch, which overwrote the other ranks' batch-norm statistics of that batch (on a resume only,
    # so the resumed run differed from the uninterrupted one)
    hvd_tf.broadcast_variables(model.variables, root_rank=0)
    callbacks = [AverageMetrics(hvd_tf, tf),
                 LinearWarmup(lr, hvd.size(), options.warmup_epochs, steps),
                 AverageBatchNormStatistics(hvd_tf), schedule]
    if hvd.rank() == 0:
        callbacks.append(Checkpoint(checkpoint_dir, state, schedule, log))
    stop = StopOnSignal(hvd_tf, tf)
    if not state["schedule"]["stopped"]:
        model.fit(train_data, steps_per_epoch=steps, epochs=options.epochs, initial_epoch=state["epoch"],
                  validation_data=val_data, callbacks=[*callbacks, stop], verbose=0)
    if stop.stopped_after is not None:
        raise Preempted(f"training of {out} stopped on a signal after epoch {stop.stopped_after}, which is "
                        "checkpointed; run the same command again to continue")
    if schedule.best_weights is not None:
        model.set_weights(schedule.best_weights)
    digests = hvd_tf.allgather_object(weights_digest(model.get_weights()))
    if len(set(digests)) != 1:
        raise RuntimeError(f"weights differ across ranks after training: {digests}")
    log.info("weights identical on %d ranks (sha256 %s)", hvd.size(), digests[0][:16])
    calibration = calibrate_totals(Bundle(model, meta), options, splits, hvd, hvd_tf)
    if hvd.rank() == 0:
        final = _read_state(checkpoint_dir, identity)
        meta.update({"init_seed": init_seed, "history": final["history"],
                     "schedule": {"monitor": monitor, **final["schedule"]}, **calibration})
        save_bundle(out, model.get_weights(), architecture, meta)
        residual = calibration["validation_residual_dex"]
        log.info("wrote bundle %s (best %s %.5g at epoch %d; totals %+.3f dex off on training halos%s, removed; "
                 "validation residual %s dex)", out, monitor, final["schedule"]["best"],
                 final["schedule"]["best_epoch"], calibration["total_offset_dex"], _by_redshift_text(calibration),
                 "-" if residual is None else f"{residual:.3f}")


def calibrate_totals(bundle, options: TrainOptions, splits: dict, hvd, hvd_tf) -> dict:
    """The bundle.json entries that calibrate a trained net's totals, measured as paint runs it (infer.Predictor).

    total_offset_dex: the median over training halos of log10(predicted / true) totals (means over
    projections, as the catalog's quantities), which every painted map is divided by (Bundle.total_scale).
    A common offset of 0.06 dex in Lx is 0.008 in a normalised pixel under an 8 dex range, about 1 % of the
    final loss, so nets end with offsets of this size that differ from member to member (fidelity benchmark:
    +16 % on training, +17 % on validation and +11 % on test halos); hundreds of training halos measure it
    to about 0.01 dex. Bounded by bundle.MAX_TOTAL_OFFSET_DEX.
    total_offset_by_redshift: the same median per training redshift, where every one has at least
    `min_halos_per_redshift` halos (paint then takes the offset at its box's redshift); else absent.
    validation_residual_dex: the rms of log10(true / predicted) over validation halos after that offset,
    None without validation images. Paint adds it to an ensemble's spread for a halo's uncertainty."""
    from mpipaint.model.infer import Predictor  # noqa: PLC0415 - TensorFlow is loaded by now

    predictor = Predictor(bundle, batch_size=options.batch_size)  # traced once for both splits
    redshift, true, predicted = split_halo_totals(predictor, options, splits["train"], hvd, hvd_tf)
    errors = stats.log_ratios_dex(predicted, true)
    say = hvd.rank() == 0  # every rank measures the same offsets; one says so
    calibration = {"total_offset_dex": _bounded_offset(np.median(errors) if len(errors) else 0.0, "training halos",
                                                       say)}
    redshifts, which = np.unique(redshift, return_inverse=True)
    counts = np.bincount(which, minlength=len(redshifts))
    if len(redshifts) > 1 and counts.min() >= options.min_halos_per_redshift:
        calibration["total_offset_by_redshift"] = {
            "redshift": redshifts.tolist(), "halos": counts.tolist(),
            "offset_dex": [_bounded_offset(np.median(errors[which == k]), f"training halos at z = {z:.3g}", say)
                           for k, z in enumerate(redshifts)]}
    elif len(redshifts) > 1 and say:
        get_logger().info("one total offset for training redshifts %s: %s halos each, an offset per redshift "
                          "needs %d (--min-halos-per-redshift)", np.round(redshifts, 3).tolist(), counts.tolist(),
                          options.min_halos_per_redshift)
    calibration["validation_residual_dex"] = None
    if len(splits["validation"]):
        redshift, true, predicted = split_halo_totals(predictor, options, splits["validation"], hvd, hvd_tf)
        offsets = np.array([total_offset_dex(calibration, z) for z in redshift])
        calibration["validation_residual_dex"] = stats.residual_scatter_dex(true, predicted * 10.0 ** -offsets)
    return calibration


def _bounded_offset(offset: float, measured_on: str, say: bool) -> float:
    """`offset` [dex] within bundle.MAX_TOTAL_OFFSET_DEX, with a warning where it was not (if `say`)."""
    if abs(offset) > MAX_TOTAL_OFFSET_DEX and say:
        get_logger().warning("totals %+.2f dex off on the %s: offset limited to %+.2f dex; the net has not "
                             "learned the totals", offset, measured_on, np.sign(offset) * MAX_TOTAL_OFFSET_DEX)
    return float(np.clip(offset, -MAX_TOTAL_OFFSET_DEX, MAX_TOTAL_OFFSET_DEX))


def _by_redshift_text(calibration: dict) -> str:
    table = calibration.get("total_offset_by_redshift")
    if table is None:
        return ""
    return " (" + ", ".join(f"{o:+.3f} at z = {z:.3g}" for z, o in zip(table["redshift"], table["offset_dex"])) + ")"


TOTALS_CHUNK = 64  # images read at a time when a trained net runs over a split: memory flat in split size


def split_halo_totals(predictor, options: TrainOptions, indices, hvd, hvd_tf) -> tuple[np.ndarray, ...]:
    """(redshift, true, predicted) per halo of a split (totals: the mean over the halo's projections) by the
    net of `predictor` (infer.Predictor), the images shared among ranks and streamed; every rank gets the whole
    result. Predicted without the bundle's total_scale (the totals are linear in the map, so callers apply the
    offset they measure)."""
    mine, bundle = np.sort(indices)[hvd.rank()::hvd.size()], predictor.bundle
    true, predicted = [], []
    with TrainingSet(options.data) as data:
        halos, redshift = data.halo_keys(), data.column("redshift")
        for start in range(0, len(mine), TOTALS_CHUNK):
            chunk = mine[start:start + TOTALS_CHUNK]
            dm = data.images("dm", chunk).astype(np.float64)
            true.append(totals(options.net_target, data.images(options.net_target, chunk), dm, 1.0))
            predicted.append(totals(options.net_target, predictor(dm) / bundle.total_scale(), dm, 1.0))
    parts = hvd_tf.allgather_object((mine, np.concatenate(true or [np.empty(0)]),
                                     np.concatenate(predicted or [np.empty(0)])))
    order, true, predicted = (np.concatenate([part[k] for part in parts]) for k in range(3))
    # a halo's images share its snapshot's redshift: taken as stored (a mean of three equal floats can be 1 ulp
    # off, and one snapshot would then count as two redshifts), in means_by_group's halo order
    first_image = np.unique(halos[order], axis=0, return_index=True)[1]
    return (redshift[order][first_image], stats.means_by_group(halos[order], true)[1],
            stats.means_by_group(halos[order], predicted)[1])


def _place_on_devices(tf, hvd, options) -> str:
    """One GPU per rank by local rank, or the node's cores shared; the Keras policy of `options.precision`
    ('auto' as for inference: bf16 where the hardware computes it natively). Returns the precision."""
    capability = place_on_devices(tf, hvd.local_rank(), hvd.local_size())
    precision = inference_precision(options.precision, capability)
    if precision == "fp16" and capability is None:
        raise InputError("--precision fp16 trains on a GPU only (loss scaling); none is visible")
    keras().mixed_precision.set_global_policy(PRECISION_POLICIES[precision])
    return precision


def _read_state(checkpoint_dir: Path, identity: dict) -> dict:
    """The last checkpoint's state, or a fresh one; refuses a checkpoint made from other data or settings."""
    path = checkpoint_dir / "state.json"
    if not path.exists():
        return {"epoch": 0, "history": {}, "identity": identity,
                "schedule": {"best": float("inf"), "best_epoch": 0, "wait": 0, "lr_wait": 0, "halvings": 0,
                             "stopped": False}}
    try:
        state = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a training checkpoint's state ({exc})") from None
    if state.get("identity") != identity:
        raise InputError(f"{checkpoint_dir}: checkpoint was made from another training set or with other "
                         "options; remove it or choose another --out")
    if not str(state.get("checkpoint", "")).endswith(CHECKPOINT_SUFFIX) or "learning_rate" not in state:
        raise InputError(f"{checkpoint_dir}: a checkpoint of an older mpipaint (a whole Keras model or a "
                         "TensorFlow checkpoint); remove this checkpoint directory to train from the start")
    return state
