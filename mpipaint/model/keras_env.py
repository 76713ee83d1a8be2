"""TensorFlow with the legacy Keras 2 API (tf-keras), which Horovod 0.28.1 needs.

Under Keras 3, Horovod's DistributedOptimizer runs without error but does not average gradients (ranks
drift apart) and its broadcast callback crashes. So mpipaint builds models with tf_keras under
TF_USE_LEGACY_KERAS=1 and refuses to train when Keras 3 is what TensorFlow would use.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class Keras3Error(RuntimeError):
    """Training was asked for while TensorFlow's Keras is Keras 3."""


def keras():
    """The tf-keras (Keras 2) module that TensorFlow uses under TF_USE_LEGACY_KERAS=1."""
    import tf_keras  # noqa: PLC0415 - heavy import, only when a model is needed

    return tf_keras


def place_on_devices(tf, local_rank: int, local_size: int) -> bool:
    """One GPU per rank by node-local rank (memory grown on demand); without GPUs, the node's cores shared
    by its `local_size` ranks. True when this rank got a GPU."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        gpu = gpus[local_rank % len(gpus)]
        tf.config.experimental.set_memory_growth(gpu, True)
        tf.config.set_visible_devices(gpu, "GPU")
        return True
    tf.config.threading.set_intra_op_parallelism_threads(max(1, (os.cpu_count() or 1) // local_size))
    return False


def require_legacy_keras() -> None:
    """Raise Keras3Error unless TensorFlow's `tf.keras` is the legacy Keras 2 (tf-keras)."""
    import tensorflow as tf  # noqa: PLC0415

    implementation = tf.keras.layers.Layer.__module__.split(".")[0]
    if implementation != "tf_keras":
        raise Keras3Error(f"tf.keras is provided by '{implementation}' (Keras 3; TF_USE_LEGACY_KERAS="
                          f"{os.environ.get('TF_USE_LEGACY_KERAS')!r}): Horovod's DistributedOptimizer does not "
                          "average gradients under Keras 3. Install tf-keras 2.18 and set TF_USE_LEGACY_KERAS=1 "
                          "before TensorFlow is imported.")
