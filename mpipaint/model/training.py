"""The pieces of U-net training that do not depend on how a job is run (`mpipaint.train` runs them): the
split by halo, the normalisations fitted on the training split, the 8 symmetries of a square map, each
epoch's image order and symmetries (`epoch_plan`), the image pipeline (`Pairs`, `batches`) and the loss."""
from __future__ import annotations

import numpy as np

from mpipaint.io.trainingset import TrainingSet
from mpipaint.model.norm import RunningStats


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
    with TrainingSet(path) as data:
        for index in indices:
            dm_stats.add(data.images("dm", index), f"{path}: dm image {index}")
            target_stats.add(data.images(target, index), f"{path}: {target} image {index}")
    return dm_stats.fit(options.scheme), target_stats.fit(options.scheme)


CHECKPOINT_SUFFIX = ".npz"  # a training checkpoint: epoch-N.npz, the variables after epoch N (model.callbacks)

SYMMETRIES = 8  # the dihedral group of the square: 4 rotations, each with or without a transpose


def dihedral(image: np.ndarray, k: int) -> np.ndarray:
    """Symmetry k (0..7) of a square image: k % 4 quarter turns, transposed first for k >= 4."""
    return np.rot90(image.T if k >= 4 else image, k % 4)


def epoch_plan(shard, seed: int, rank: int, epoch: int, count: int, augment: bool):
    """(image indices, symmetries) a rank trains on in one epoch: `count` images of its shard in a seeded
    random order, each with a random symmetry (0 without `augment`). A function of the epoch alone, so a
    run resumed at epoch E trains on what the uninterrupted run trained on from E (a stream position
    carried across epochs would restart on resume)."""
    rng = np.random.default_rng([seed, rank, epoch])
    order = rng.permutation(np.asarray(shard, dtype=np.int64))[:count]
    symmetries = rng.integers(SYMMETRIES, size=count) if augment else np.zeros(count, dtype=np.int64)
    return order, symmetries


class Pairs:
    """Reads normalised (input, mask, target) images of the training set, each in a given symmetry.
    For a masked net the target is zero where the DM map is empty: the mask zeroes the output there, so
    those pixels carry no gradient, but on the example they held 99 % of the X-ray MSE, a constant floor
    that hid the learnable error from the loss and the schedule."""

    def __init__(self, path, target, input_norm, target_norm, mask: bool):
        self.data = TrainingSet(path)
        self.target, self.input_norm, self.target_norm, self.mask = target, input_norm, target_norm, mask

    def __call__(self, index, symmetry):
        dm, truth = self.data.images("dm", int(index)), self.data.images(self.target, int(index))
        dm, truth = dihedral(dm, int(symmetry)), dihedral(truth, int(symmetry))
        x = self.input_norm.forward(dm)[..., None].astype(np.float32)
        m = (dm > 0).astype(np.float32)[..., None]
        y = self.target_norm.forward(truth)[..., None].astype(np.float32)
        if self.mask:  # a masked net paints nothing where the DM map is empty: fit only what it can paint
            y *= m
        return x, m, y


def batches(tf, pairs, indices, symmetries, npix, batch, mask, drop_remainder: bool):
    """Batches of (index, symmetry) pairs in the given order (tf.data reads them one by one, in order)."""
    def load(index, symmetry):
        x, m, y = tf.numpy_function(pairs, [index, symmetry], (tf.float32, tf.float32, tf.float32))
        for t in (x, m, y):
            t.set_shape((npix, npix, 1))
        return ({"dm": x, "mask": m} if mask else x), y

    data = tf.data.Dataset.from_tensor_slices((np.asarray(indices, dtype=np.int64),
                                               np.asarray(symmetries, dtype=np.int64)))
    # no autotuning: the pipeline's parallelism is fixed here, and the autotuner's thread sleeps in periods
    # that double up to a minute, which the iterator's end waited out (2-38 s after a demo net's last epoch)
    options = tf.data.Options()
    options.autotune.enabled = False
    pipeline = data.map(load, num_parallel_calls=1).batch(batch, drop_remainder=drop_remainder).prefetch(2)
    return pipeline.with_options(options)


def map_and_total_loss(tf, norm, total_weight: float):
    """Per-image loss: pixel MSE in normalised units plus total_weight x (log10 total_pred/total_true)^2,
    the totals taken in physical units relative to the fitted top (no float32 overflow over 17 dex)."""
    span, z_max, tiny = norm.high - norm.low, norm.z_max, 1e-30

    def relative_map(z):
        z = tf.minimum(z, z_max)
        x = tf.pow(10.0, (z - 1.0) * span) if norm.space == "log" else (norm.low + z * span) / norm.high
        return tf.where(z > 0, x, 0.0)

    def map_and_total(y_true, y_pred):
        y_pred = tf.cast(y_pred, tf.float32)
        mse = tf.reduce_mean(tf.square(y_true - y_pred), axis=[1, 2, 3])
        if not total_weight:
            return mse
        totals = [tf.reduce_sum(relative_map(y), axis=[1, 2, 3]) for y in (y_true, y_pred)]
        dex = (tf.math.log(totals[1] + tiny) - tf.math.log(totals[0] + tiny)) / np.log(10.0)
        return mse + total_weight * tf.square(dex)

    return map_and_total
