"""`mpipaint train`: Horovod data-parallel training of a U-net on a training set from `prepare`.

Launch with `horovodrun -np N mpipaint train ...` or `mpirun -n N mpipaint train ...`. The split is by halo
(all projections of a halo in one split), seeded and recorded. The normalisation is fitted on the training
split of the full-physics maps. Each rank streams its own shard of the training images from the HDF5 file
(tf.data, one image at a time); all ranks run the same number of steps. Horovod averages gradients (the
learning rate is scaled by the number of ranks, with a warm-up) and the batch-norm statistics are averaged
at every epoch end, so all ranks hold identical weights, which is checked at the end. Rank 0 writes
checkpoints (with optimizer state) after every epoch; a re-run resumes from the last one.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from mpipaint import __version__
from mpipaint.config import plain
from mpipaint.errors import InputError
from mpipaint.model.keras_env import keras, place_on_devices, require_legacy_keras
from mpipaint.model.norm import RunningStats
from mpipaint.parallel import get_logger

TARGETS = ("gas", "temperature", "xray")
KILL_AFTER_EPOCHS_ENV = "MPIPAINT_TEST_KILL_AFTER_EPOCHS"  # test-only: SIGKILL rank 0 after that checkpoint


@dataclass(frozen=True)
class TrainOptions:
    """Options of `mpipaint train` (CLI flags or the `train:` section of a YAML config)."""

    data: str = None  # training set from `mpipaint prepare` on a full-physics run
    out: str = None  # bundle directory to write
    target: str = "xray"
    scheme: str = "minmax"  # or '4sigma'
    space: str = "log"  # or 'linear' (the paper's T_lin)
    mask: bool = False  # zero the output where the DM map is empty
    epochs: int = 20
    batch_size: int = 4  # per rank
    learning_rate: float = 1e-3  # per rank; Adam; scaled by the number of ranks
    warmup_epochs: int = 2
    base_filters: int = 64
    depth: int = 4
    seed: int = 1234
    split: tuple = (0.8, 0.1, 0.1)
    mixed_precision: bool = False  # GPU only

    def __post_init__(self):
        if not (self.data and self.out):
            raise ValueError("'data' and 'out' are required")
        if self.target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, not {self.target!r}")
        if self.scheme not in ("minmax", "4sigma") or self.space not in ("log", "linear"):
            raise ValueError(f"scheme must be minmax/4sigma and space log/linear, got {self.scheme}, {self.space}")
        if len(self.split) != 3 or abs(sum(self.split) - 1) > 1e-9 or min(self.split) < 0:
            raise ValueError(f"split must be three non-negative fractions summing to 1, got {self.split}")
        if self.epochs < 1 or self.batch_size < 1 or self.learning_rate <= 0:
            raise ValueError("epochs, batch_size and learning_rate must be positive")


def split_by_halo(snapshots, halo_ids, seed: int, fractions=(0.8, 0.1, 0.1)) -> dict[str, np.ndarray]:
    """Image indices of the train/validation/test splits; every projection of a halo lands in one split."""
    keys = np.stack([np.asarray(snapshots, np.int64), np.asarray(halo_ids, np.int64)], axis=1)
    halos, image_halo = np.unique(keys, axis=0, return_inverse=True)
    order = np.random.default_rng(seed).permutation(len(halos))
    n_train = max(1, int(round(fractions[0] * len(halos))))
    n_val = int(round(fractions[1] * len(halos)))
    which = np.empty(len(halos), dtype=np.int8)
    which[order[:n_train]], which[order[n_train:n_train + n_val]], which[order[n_train + n_val:]] = 0, 1, 2
    image_split = which[image_halo.ravel()]
    return {name: np.flatnonzero(image_split == k) for k, name in enumerate(("train", "validation", "test"))}


def fit_normalisations(path, target, indices, options):
    """Input (DM, always log) and target normalisations from the training images, streamed one by one."""
    dm_stats, target_stats = RunningStats("log"), RunningStats(options.space)
    with h5py.File(path, "r") as f:
        for index in indices:
            dm_stats.add(f["dm"][index], f"{path}: dm image {index}")
            target_stats.add(f[target][index], f"{path}: {target} image {index}")
    return dm_stats.fit(options.scheme), target_stats.fit(options.scheme)


class _Pairs:
    """Reads normalised (input, target) pairs of one rank's images from the training set."""

    def __init__(self, path, target, input_norm, target_norm, mask):
        self.file = h5py.File(path, "r")
        self.target, self.input_norm, self.target_norm, self.mask = target, input_norm, target_norm, mask

    def __call__(self, index):
        dm = self.file["dm"][int(index)]
        x = self.input_norm.forward(dm)[..., None].astype(np.float32)
        y = self.target_norm.forward(self.file[self.target][int(index)])[..., None].astype(np.float32)
        m = (dm > 0).astype(np.float32)[..., None]
        return x, m, y


def _dataset(tf, pairs, indices, npix, batch, seed, mask):
    def load(index):
        x, m, y = tf.numpy_function(pairs, [index], (tf.float32, tf.float32, tf.float32))
        for t in (x, m, y):
            t.set_shape((npix, npix, 1))
        return ({"dm": x, "mask": m} if mask else x), y

    data = tf.data.Dataset.from_tensor_slices(np.asarray(indices, dtype=np.int64))
    data = data.shuffle(len(indices), seed=seed, reshuffle_each_iteration=True).repeat()
    return data.map(load, num_parallel_calls=1).batch(batch, drop_remainder=True).prefetch(2)


def _weights_digest(model) -> str:
    digest = hashlib.sha256()
    for w in model.weights:
        digest.update(np.ascontiguousarray(w.numpy()).tobytes())
    return digest.hexdigest()


def _versions():
    import horovod  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    return {"mpipaint": __version__, "tensorflow": tf.__version__, "tf_keras": keras().__version__,
            "horovod": horovod.__version__, "numpy": np.__version__, "h5py": h5py.__version__}


def run_train(options: TrainOptions) -> None:
    require_legacy_keras()
    import horovod.tensorflow as hvd_tf  # noqa: PLC0415 - after the Keras check
    import horovod.tensorflow.keras as hvd  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    from mpipaint.model.bundle import fingerprint, save_bundle  # noqa: PLC0415
    from mpipaint.model.unet import build_unet  # noqa: PLC0415

    hvd.init()
    log = get_logger()
    k = keras()
    _place_on_devices(tf, hvd, options)
    k.utils.set_random_seed(options.seed)  # weight initialisation and dropout: the same run gives the same net
    with h5py.File(options.data, "r") as f:
        if options.target not in f:
            raise InputError(f"{options.data}: no '{options.target}' maps (a DM-only training set?)")
        attrs = {key: f.attrs[key] for key in f.attrs}
        npix, target_units = int(attrs["npix"]), str(f[options.target].attrs["units"])
        splits = split_by_halo(f["snapshot"][()], f["halo_id"][()], options.seed, options.split)
        halo_of = np.stack([f["snapshot"][()], f["halo_id"][()]], axis=1)
    if len(splits["train"]) < hvd.size() * options.batch_size:
        raise InputError(f"{options.data}: {len(splits['train'])} training images cannot fill one batch of "
                         f"{options.batch_size} on each of {hvd.size()} ranks")
    norms = fit_normalisations(options.data, options.target, splits["train"], options) if hvd.rank() == 0 else None
    input_norm, target_norm = hvd_tf.broadcast_object(norms, root_rank=0)

    checkpoint_dir = Path(options.out) / "checkpoint"
    identity = {"trainset_fingerprint": fingerprint(options.data),
                "options": {key: v for key, v in plain(options).items() if key not in ("epochs", "out", "data")}}
    state = _read_state(checkpoint_dir, identity) if hvd.rank() == 0 else None
    state = hvd_tf.broadcast_object(state, root_rank=0)
    lr = options.learning_rate * hvd.size()
    if state["epoch"] > 0:
        model = hvd.load_model(str(checkpoint_dir / "model.h5"))
        log.info("resuming from the checkpoint of epoch %d", state["epoch"])
    else:
        model = build_unet(npix, options.base_filters, options.depth, options.scheme, options.mask)
        model.compile(optimizer=hvd.DistributedOptimizer(k.optimizers.Adam(lr)), loss="mse")

    shard = splits["train"][hvd.rank()::hvd.size()]
    steps = len(splits["train"]) // (hvd.size() * options.batch_size)
    pairs = _Pairs(options.data, options.target, input_norm, target_norm, options.mask)
    train_data = _dataset(tf, pairs, shard, npix, options.batch_size, options.seed + hvd.rank(), options.mask)
    val_steps = len(splits["validation"]) // (hvd.size() * options.batch_size)
    val_data = None
    if val_steps:
        val_data = _dataset(tf, pairs, splits["validation"][hvd.rank()::hvd.size()], npix, options.batch_size,
                            options.seed, options.mask)
    callbacks = [hvd.callbacks.BroadcastGlobalVariablesCallback(0), _AverageMetrics(hvd_tf, tf),
                 _LinearWarmup(lr, hvd.size(), options.warmup_epochs, steps),
                 _AverageBatchNormStatistics(hvd)]
    if hvd.rank() == 0:
        callbacks.append(_Checkpoint(checkpoint_dir, state, log))
    model.fit(train_data, steps_per_epoch=steps, epochs=options.epochs, initial_epoch=state["epoch"],
              validation_data=val_data, validation_steps=val_steps or None, callbacks=callbacks, verbose=0)
    digests = hvd_tf.allgather_object(_weights_digest(model))
    if len(set(digests)) != 1:
        raise RuntimeError(f"weights differ across ranks after training: {digests}")
    log.info("weights identical on %d ranks (sha256 %s)", hvd.size(), digests[0][:16])
    if hvd.rank() == 0:
        losses = _read_state(checkpoint_dir, identity)["history"]
        meta = {
            "target": options.target, "target_units": target_units, "npix": npix,
            "width_kpc": float(attrs["width_kpc"]), "deposition_mode": str(attrs["deposition_mode"]),
            "emission_model": str(attrs.get("emission_model", "")), "mask": options.mask,
            "input_normalisation": input_norm.to_dict(), "target_normalisation": target_norm.to_dict(),
            "trainset": str(Path(options.data).resolve()), "trainset_fingerprint": identity["trainset_fingerprint"],
            "split_seed": options.seed, "split_fractions": list(options.split),
            "split_halos": {name: np.unique(halo_of[idx], axis=0).tolist() for name, idx in splits.items()},
            "options": plain(options),
            "ranks": hvd.size(), "weights_sha256": digests[0], "history": losses, "versions": _versions(),
        }
        save_bundle(options.out, model, meta)
        log.info("wrote bundle %s", options.out)


def _place_on_devices(tf, hvd, options):
    """One GPU per rank by local rank, or the node's cores shared; mixed precision only on a GPU."""
    on_gpu = place_on_devices(tf, hvd.local_rank(), hvd.local_size())
    if options.mixed_precision:
        if not on_gpu:
            raise InputError("--mixed-precision needs a GPU; none is visible")
        keras().mixed_precision.set_global_policy("mixed_float16")


def _read_state(checkpoint_dir: Path, identity: dict) -> dict:
    """The last checkpoint's state, or a fresh one; refuses a checkpoint made from other data or settings."""
    path = checkpoint_dir / "state.json"
    if not (path.exists() and (checkpoint_dir / "model.h5").exists()):
        return {"epoch": 0, "history": {}, "identity": identity}
    state = json.loads(path.read_text())
    if state.get("identity") != identity:
        raise InputError(f"{checkpoint_dir}: checkpoint was made from another training set or with other "
                         "options; remove it or choose another --out")
    return state


class _LinearWarmup(keras().callbacks.Callback):
    """Learning rate from lr/N to lr (N ranks) linearly over the first epochs, per batch (Goyal et al. 2017).
    Horovod's own warm-up callback calls Keras 3's backend, which tf-keras models cannot use."""

    def __init__(self, lr, ranks, warmup_epochs, steps_per_epoch):
        super().__init__()
        self.lr, self.ranks, self.warmup_steps, self.steps_per_epoch = lr, ranks, warmup_epochs * steps_per_epoch, \
            steps_per_epoch
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        step = self.epoch * self.steps_per_epoch + batch
        if step <= self.warmup_steps:
            fraction = step / self.warmup_steps if self.warmup_steps else 1.0
            self.model.optimizer.learning_rate.assign(self.lr / self.ranks * (1 + fraction * (self.ranks - 1)))


class _AverageMetrics(keras().callbacks.Callback):
    """Epoch losses averaged over ranks before they are logged (Horovod's callback needs Keras 3's backend)."""

    def __init__(self, hvd_tf, tf):
        super().__init__()
        self.hvd_tf, self.tf = hvd_tf, tf

    def on_epoch_end(self, epoch, logs=None):
        for key, value in sorted((logs or {}).items()):
            logs[key] = float(self.hvd_tf.allreduce(self.tf.constant(float(value), dtype=self.tf.float64),
                                                    op=self.hvd_tf.Average, name=f"metric_{key}").numpy())


class _AverageBatchNormStatistics(keras().callbacks.Callback):
    """Average non-trainable variables (batch-norm moving mean/variance) over ranks at every epoch end:
    Horovod averages gradients only, and each rank's statistics come from its own shard."""

    def __init__(self, hvd):
        super().__init__()
        self.hvd = hvd

    def on_epoch_end(self, epoch, logs=None):
        for variable in self.model.non_trainable_variables:
            variable.assign(self.hvd.allreduce(variable, op=self.hvd.Average))


class _Checkpoint(keras().callbacks.Callback):
    """Rank 0: model with optimizer state and the loss history after every epoch, replaced atomically."""

    def __init__(self, directory: Path, state: dict, log):
        super().__init__()
        self.directory, self.history, self.log = directory, dict(state["history"]), log
        self.identity = state["identity"]
        directory.mkdir(parents=True, exist_ok=True)

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        self.model.save(self.directory / "model.partial.h5")
        os.replace(self.directory / "model.partial.h5", self.directory / "model.h5")
        partial = self.directory / "state.partial.json"
        partial.write_text(json.dumps({"epoch": epoch + 1, "history": self.history, "identity": self.identity}))
        os.replace(partial, self.directory / "state.json")
        self.log.info("epoch %d: %s", epoch + 1, ", ".join(f"{k} {v:.5g}" for k, v in (logs or {}).items()))
        if os.environ.get(KILL_AFTER_EPOCHS_ENV) == str(epoch + 1):
            os.kill(os.getpid(), signal.SIGKILL)
