"""Inference with a model bundle: DM surface-density maps in, the bundle's target in physical units out.

Inputs are normalised with the bundle's full-physics constants (never refitted on the maps at hand, as the
paper does for DMO inputs), run through the model in fixed-size batches by one compiled tf.function
(a short last batch is padded, so there is a single trace), and mapped back with the exact inverse, which
bounds every pixel (`Normalisation.z_max`), times the bundle's `total_scale` (its offset of map totals on
the training halos removed; at most a factor 10**MAX_TOTAL_OFFSET_DEX = 2 either way).

`EnsemblePredictor` runs all bundles of one target (a deep ensemble, or a single bundle) on the same maps
and reports, per map, how far it lies outside what the bundles were trained on: the fraction of DM pixels
brighter than the fitted input range and the fraction of output pixels at the bound (`norm.out_of_range`
turns them into the catalog's flag).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from mpipaint.model.bundle import Bundle
from mpipaint.model.keras_env import inference_precision, place_on_devices
from mpipaint.parallel import node_local


def setup_inference(precision: str = "fp32", backend: str = "tf") -> tuple[str, bool]:
    """One GPU per rank by node-local rank, else (TensorFlow) the node's cores shared by its ranks;
    deterministic TensorFlow ops. Returns the precision to load bundles at (keras_env.inference_precision) and
whether the nets run on a GPU (asynchronously: the host's work overlaps them)."""
    if backend == "jax":
        local_rank, local_size = node_local()
        if local_size > 1:  # ranks may share a GPU: JAX would otherwise take 75 % of its memory per process
            os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
        import jax  # noqa: PLC0415 - no TensorFlow on this path

        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        if not gpus:
            return inference_precision(precision, None), False
        gpu = gpus[local_rank % len(gpus)]
        jax.config.update("jax_default_device", gpu)
        capability = tuple(int(v) for v in str(getattr(gpu, "compute_capability", "0.0")).split(".")[:2])
        return inference_precision(precision, capability), True
    import tensorflow as tf  # noqa: PLC0415 - bundle.py has set TF_USE_LEGACY_KERAS already

    tf.config.experimental.enable_op_determinism()
    capability = place_on_devices(tf, *node_local())
    return inference_precision(precision, capability), capability is not None


class Predictor:
    """Callable: (N, npix, npix) DM maps [Msun/kpc^2] -> (N, npix, npix) target maps [bundle's units]."""

    def __init__(self, bundle: Bundle, batch_size: int = 8):
        """`batch_size`: maps per call of the net (a short last batch is padded)."""
        self.bundle, self.batch_size = bundle, batch_size
        self.masked, self.npix = bool(bundle.meta.get("mask")), int(bundle.meta["npix"])
        model = bundle.model
        if bundle.backend == "jax":
            self._run = model.launch  # jit-compiled; returns a device array at once
        else:
            import tensorflow as tf  # noqa: PLC0415

            self._run = tf.function(lambda inputs: model(inputs, training=False))  # a tensor; np.asarray waits

    def normalised_inputs(self, dm_maps):
        """The net's inputs (N, npix, npix, 1) float32, its mask (None for an unmasked net), and each map's
        fraction of DM pixels above the fitted input range, from one pass over the pixels."""
        dm_maps = np.asarray(dm_maps, dtype=np.float64)
        x, outside = self.bundle.input_norm.forward_and_outside(dm_maps, np.float32)
        mask = (dm_maps > 0)[..., None].astype(np.float32) if self.masked else None
        return x[..., None], mask, outside

    def launch(self, dm_maps) -> tuple[list, int, np.ndarray]:
        """Start the net on every batch of `dm_maps` and return without waiting where the backend runs
        asynchronously (JAX; TensorFlow as far as its GPU queue allows): (the batches' outputs, still on the
        device, the number of maps, their input-range fractions). `collect` waits for them; the host meanwhile
        is free."""
        x, mask, outside = self.normalised_inputs(dm_maps)
        launched = []
        for start in range(0, len(x), self.batch_size):
            xb = _padded(x[start:start + self.batch_size], self.batch_size)
            if self.masked:
                xb = {"dm": xb, "mask": _padded(mask[start:start + self.batch_size], self.batch_size)}
            launched.append(self._run(xb))
        return launched, len(x), outside

    def collect(self, launched) -> np.ndarray:
        """The model's output in normalised (0..1) space, shape (N, npix, npix), of a `launch`."""
        outputs, n, _ = launched
        z = [np.asarray(o, dtype=np.float32).reshape(-1, self.npix, self.npix) for o in outputs]
        if len(z) == 1:
            return z[0][:n]  # no copy: one batch is the common case
        return np.concatenate(z)[:n] if z else np.empty((0, self.npix, self.npix), np.float32)

    def predict_normalised(self, dm_maps) -> np.ndarray:
        """The model's output in normalised (0..1) space, shape (N, npix, npix)."""
        return self.collect(self.launch(dm_maps))

    def to_physical(self, z, out=None) -> np.ndarray:
        """Normalised output -> physical map: the exact (bounded) inverse, times the bundle's total_scale."""
        return self.bundle.target_norm.inverse(z, self.bundle.total_scale, out)

    def __call__(self, dm_maps) -> np.ndarray:
        return self.to_physical(self.predict_normalised(dm_maps))


def _padded(batch, size: int):
    """`batch` with zero maps appended up to `size` (one compiled shape for every call)."""
    pad = size - len(batch)
    return np.concatenate([batch, np.zeros((pad,) + batch.shape[1:], batch.dtype)]) if pad else batch


@dataclass
class Painted:
    """One target painted on N DM maps by K ensemble members."""

    images: np.ndarray  # (K, N, npix, npix) physical maps, bounded
    dm_outside: np.ndarray  # (N,) largest fraction, over members, of DM pixels above the fitted input range
    at_bound: np.ndarray  # (N,) largest fraction, over members, of output pixels at the upper bound

    @property
    def mean_images(self) -> np.ndarray:
        return self.images.mean(axis=0)

    def select(self, maps) -> "Painted":
        """The part of this result that belongs to `maps` (an index or slice over the N maps)."""
        return Painted(self.images[:, maps], self.dm_outside[maps], self.at_bound[maps])


class EnsemblePredictor:
    """Callable: (N, npix, npix) DM maps -> Painted, from every bundle of one target."""

    def __init__(self, bundles: list[Bundle], batch_size: int = 8):
        self.members = [Predictor(b, batch_size) for b in bundles]

    def warm_up(self) -> None:
        """Trace and compile each member's net on one batch of empty maps, so that the first halos' timing
        (and a GPU's first seconds) is inference, not compilation."""
        npix = self.members[0].npix
        self(np.zeros((self.members[0].batch_size, npix, npix)))

    def launch(self, dm_maps) -> list:
        """Start every member on `dm_maps` (see Predictor.launch); `collect` gives the Painted."""
        dm_maps = np.asarray(dm_maps, dtype=np.float64)
        return [member.launch(dm_maps) for member in self.members]

    def collect(self, launched) -> Painted:
        images, outside, at_bound = None, [], []
        for k, (member, started) in enumerate(zip(self.members, launched)):
            z = member.collect(started)
            if images is None:  # written in place: no stacked copy of float64 maps
                images = np.empty((len(self.members),) + z.shape)
            at_bound.append(member.bundle.target_norm.inverse_and_at_bound(z, member.bundle.total_scale,
                                                                           images[k])[1])
            outside.append(started[2])
        return Painted(images, np.max(outside, axis=0), np.max(at_bound, axis=0))

    def __call__(self, dm_maps) -> Painted:
        return self.collect(self.launch(dm_maps))
