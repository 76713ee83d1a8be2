"""TensorFlow with the legacy Keras 2 API (tf-keras), which Horovod 0.28.1 needs.

Under Keras 3, Horovod's DistributedOptimizer runs without error but does not average gradients (ranks
drift apart) and its broadcast callback crashes. So mpipaint builds models with tf_keras under
TF_USE_LEGACY_KERAS=1 and refuses to train when Keras 3 is what TensorFlow would use.
"""
from __future__ import annotations

import os
from contextlib import contextmanager

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# TensorFlow turns its oneDNN CPU kernels on by itself only where the CPU has AVX512_VNNI, AVX512_BF16 or AMX;
# on AVX2-only CPUs (AMD EPYC Rome and Milan, older Xeons) its own kernels trained the demo's U-nets 20-25 %
# slower (BENCHMARKS.md, "oneDNN on AVX2 CPUs"). A user's setting wins.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


class Keras3Error(RuntimeError):
    """Training was asked for while TensorFlow's Keras is Keras 3."""


def keras():
    """The tf-keras (Keras 2) module that TensorFlow uses under TF_USE_LEGACY_KERAS=1."""
    import tf_keras  # noqa: PLC0415 - heavy import, only when a model is needed

    return tf_keras


def place_on_devices(tf, local_rank: int, local_size: int) -> tuple | None:
    """One GPU per rank by node-local rank (memory grown on demand); without GPUs, the node's cores shared
    by its `local_size` ranks. The GPU's compute capability (major, minor) when this rank got one, else None."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        gpu = gpus[local_rank % len(gpus)]
        tf.config.experimental.set_memory_growth(gpu, True)
        tf.config.set_visible_devices(gpu, "GPU")
        return tuple(tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0)))
    tf.config.threading.set_intra_op_parallelism_threads(max(1, (os.cpu_count() or 1) // local_size))
    return None


PRECISION_POLICIES = {"fp32": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}  # Keras policies
PRECISIONS = ("auto", *PRECISION_POLICIES)
DEFAULT_PRECISION = "auto"  # inference in paint, evaluate and calibrate: what the hardware computes natively
PRECISION_HELP = ("inference precision (auto: bf16 where the CPU or GPU computes it natively, else fp32; see "
                  "README, Precision)")
TRAINING_PRECISION = "fp32"  # train's default: the fidelity benchmark's nets were trained at fp32


def inference_precision(requested: str, gpu_capability: tuple | None) -> str:
    """The precision to run bundles at: `requested`, or for 'auto' bf16 where the hardware computes it
    natively (a GPU of compute capability (major, minor) 8.0 or newer; without a GPU, a CPU with AVX512_BF16
    or AMX: 1.64x fp32's speed for the full U-net on one here), else fp32. Weights, the full-resolution
    blocks and the head stay fp32 (unet.FULL_RESOLUTION_DTYPE)."""
    if requested != "auto":
        return requested
    if gpu_capability is not None:
        return "bf16" if tuple(gpu_capability) >= (8, 0) else "fp32"
    try:
        with open("/proc/cpuinfo") as f:
            flags = set(next((line for line in f if line.startswith("flags")), "").split())
    except OSError:
        flags = set()
    return "bf16" if flags & {"avx512_bf16", "amx_bf16"} else "fp32"


@contextmanager
def dtype_policy(precision: str):
    """Layers built inside compute at `precision` (PRECISION_POLICIES); the previous policy is restored."""
    k = keras()
    previous = k.mixed_precision.global_policy()
    k.mixed_precision.set_global_policy(PRECISION_POLICIES[precision])
    try:
        yield
    finally:
        k.mixed_precision.set_global_policy(previous)


def require_legacy_keras() -> None:
    """Raise Keras3Error unless TensorFlow's `tf.keras` is the legacy Keras 2 (tf-keras)."""
    import tensorflow as tf  # noqa: PLC0415

    implementation = tf.keras.layers.Layer.__module__.split(".")[0]
    if implementation != "tf_keras":
        raise Keras3Error(f"tf.keras is provided by '{implementation}' (Keras 3; TF_USE_LEGACY_KERAS="
                          f"{os.environ.get('TF_USE_LEGACY_KERAS')!r}): Horovod's DistributedOptimizer does not "
                          "average gradients under Keras 3. Install tf-keras 2.18 and set TF_USE_LEGACY_KERAS=1 "
                          "before TensorFlow is imported.")
