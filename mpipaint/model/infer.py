"""Inference with a model bundle: DM surface-density maps in, the bundle's target in physical units out.

Inputs are normalised with the bundle's full-physics constants (never refitted on the maps at hand, as the
paper does for DMO inputs), run through the model in fixed-size batches by one compiled function (a short
last batch is padded, so there is a single trace), and mapped back with the exact inverse, which bounds
every pixel (`Normalisation.z_max`), times the bundle's `total_scale` at the maps' redshift (its offset of
map totals on the training halos removed; at most a factor 10**MAX_TOTAL_OFFSET_DEX = 2 either way). Each map is then
summarised (`science.summaries`: Lx, Mgas, mean T).

Two chains do this (`predictor_for`): `Predictor` on the host around the net (TensorFlow, where the host is
the CPU that runs the net anyway), and with JAX `jax_chain.DevicePredictor`, the whole chain in one
jit-compiled function on the device, so that a GPU sends back a few numbers per map instead of the maps.

`EnsemblePredictor` runs all bundles of one target (a deep ensemble, or a single bundle) on the same maps
and reports, per map, how far it lies outside what the bundles were trained on: the fraction of DM pixels
brighter than the fitted input range and the fraction of output pixels at the bound (`science.ranges.out_of_range`
turns them into the catalog's flag).
"""
from __future__ import annotations

import os

import numpy as np

from mpipaint.model.bundle import Bundle
from mpipaint.model.keras_env import inference_precision, place_on_devices
from mpipaint.maps.batches import padded
from mpipaint.model.results import Painted
from mpipaint.parallel import node_local
from mpipaint.science import summaries


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
    """The host chain of one bundle (the TensorFlow backend): FP normalisation on the host, the net in
    fixed-size batches, the exact bounded inverse and each map's summary on the host. (A JAX bundle's net
    runs here too, on the device, where its normalised output is compared with TensorFlow's.)
    Callable: (N, npix, npix) DM maps [Msun/kpc^2] -> (N, npix, npix) target maps [bundle's units]."""

    def __init__(self, bundle: Bundle, batch_size: int = 8):
        """`batch_size`: maps per call of the net (a short last batch is padded)."""
        self.bundle, self.batch_size = bundle, batch_size
        self.masked, self.npix = bundle.masked, bundle.spec.npix
        self.target, self.pixel_area = bundle.target, bundle.spec.pixel_area
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

    def launch(self, dm_maps, redshift: float | None = None) -> tuple:
        """Start the net on every batch of `dm_maps` (of halos at `redshift`: it picks the bundle's total
        calibration) and return without waiting where the backend runs asynchronously (TensorFlow as far as
        its GPU queue allows): a handle for `collect`."""
        dm_maps = np.asarray(dm_maps, dtype=np.float64)
        x, mask, outside = self.normalised_inputs(dm_maps)
        launched = []
        for start in range(0, len(x), self.batch_size):
            xb = padded(x[start:start + self.batch_size], self.batch_size)
            if self.masked:
                xb = {"dm": xb, "mask": padded(mask[start:start + self.batch_size], self.batch_size)}
            launched.append(self._run(xb))
        return launched, dm_maps, outside, self.bundle.total_scale(redshift)

    def collect_normalised(self, launched) -> np.ndarray:
        """The model's output in normalised (0..1) space, shape (N, npix, npix), of a `launch`."""
        outputs, dm_maps = launched[:2]
        z = [np.asarray(o, dtype=np.float32).reshape(-1, self.npix, self.npix) for o in outputs]
        if len(z) == 1:
            return z[0][:len(dm_maps)]  # no copy: one batch is the common case
        return np.concatenate(z)[:len(dm_maps)] if z else np.empty((0, self.npix, self.npix), np.float32)

    def collect(self, launched, out=None) -> "Painted":
        """The Painted of a `launch` (one member); the physical maps are written into `out` if given."""
        _, dm_maps, outside, scale = launched
        z = self.collect_normalised(launched)
        images = np.empty(z.shape) if out is None else out
        at_bound = self.bundle.target_norm.inverse_and_at_bound(z, scale, images)[1]
        per_map = summaries.totals(self.target, images, dm_maps, self.pixel_area)
        return Painted(per_map[None], outside, at_bound, images[None])

    def __call__(self, dm_maps, redshift: float | None = None) -> np.ndarray:
        return self.collect(self.launch(dm_maps, redshift)).images[0]


def predictor_for(bundle: Bundle, batch_size: int = 8, keep_maps: bool = True):
    """The chain that runs `bundle`: with JAX the whole chain on the device (`jax_chain.DevicePredictor`,
    which returns the maps only if `keep_maps`), with TensorFlow the host chain (`Predictor`)."""
    if bundle.backend == "jax":
        from mpipaint.model.jax_chain import DevicePredictor  # noqa: PLC0415

        return DevicePredictor(bundle, batch_size, keep_maps)
    return Predictor(bundle, batch_size)


class EnsemblePredictor:
    """Callable: (N, npix, npix) DM maps -> Painted, from every bundle of one target."""

    def __init__(self, bundles: list[Bundle], batch_size: int = 8, keep_maps: bool = True):
        """`keep_maps`: whether the Painted holds the physical maps (paint without --maps needs only the
        summaries, which a device chain computes without sending the maps back)."""
        self.members = [predictor_for(b, batch_size, keep_maps) for b in bundles]
        self.keep_maps = keep_maps

    def launch(self, dm_maps, redshift: float | None = None) -> list:
        """Start every member on `dm_maps` of halos at `redshift` (see Predictor.launch; with JAX also
        maps.device_projection.DeviceMaps); `collect` gives the Painted."""
        return [member.launch(dm_maps, redshift) for member in self.members]

    def collect(self, launched) -> Painted:
        results, images = [], None
        for k, (member, started) in enumerate(zip(self.members, launched)):
            if self.keep_maps and images is None:  # members write in place: no stacked copy of float64 maps
                images = np.empty((len(self.members), len(started[1]), member.npix, member.npix))
            results.append(member.collect(started, None if images is None else images[k]))
        return Painted(np.concatenate([r.totals for r in results]), np.max([r.dm_outside for r in results], axis=0),
                       np.max([r.at_bound for r in results], axis=0), images)

    def __call__(self, dm_maps, redshift: float | None = None) -> Painted:
        return self.collect(self.launch(dm_maps, redshift))
