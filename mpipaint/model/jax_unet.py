"""The U-net's inference pass in JAX, from a bundle's architecture and weight arrays: paint runs on GPU nodes
whose software stack has JAX and no TensorFlow (TensorFlow 2.18, the newest Horovod trains with, needs its
own CUDA 12 libraries). Training stays TensorFlow + Horovod; both backends give the same maps (fp32: within
float32 rounding).

The layers are unet.build_unet's, in its order, with tf-keras' inference semantics: 3x3 'same' convolutions,
batch norm from the moving statistics (epsilon BN_EPSILON), ReLU, 2x2 max pooling, 2x2 stride-2 transposed
convolutions (kernel (2, 2, out, in): the strides equal the kernel, so each input pixel paints its own 2x2
block), concatenation [upsampled, skip], a 1x1 head with ReLU or sigmoid, and the optional mask. Weight
arrays are consumed in the order tf-keras stores them (`unet.weight_shapes`). Each batch norm is folded into
the convolution before it once, at load (`fold_batch_norm`: kernel x scale, (bias - mean) x scale + beta, in
float64), so that every block is convolution + bias + ReLU, the pattern XLA hands to cuDNN as one fused
kernel, instead of two more passes over each activation map. Under bf16 or fp16 every layer computes in that
type except the full-resolution blocks, their concatenation and the head, which stay float32 as in the
TensorFlow net (unet.FULL_RESOLUTION_DTYPE).
"""
from __future__ import annotations

import numpy as np

from mpipaint.model.unet import HEAD_ACTIVATION

BN_EPSILON = 1e-3  # tf-keras BatchNormalization's default, which build_unet keeps
COMPUTE_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


def fold_batch_norm(architecture: dict, arrays: list) -> list[np.ndarray]:
    """The weights in unet.weight_shapes' order with every batch norm folded into its convolution: per
    convolution of a block (kernel, bias) alone, float32; transposed convolutions and the head unchanged."""
    arrays, folded = iter(arrays), []

    def conv_and_norm():
        kernel, bias, gamma, beta, mean, variance = (np.asarray(next(arrays), np.float64) for _ in range(6))
        scale = gamma / np.sqrt(variance + BN_EPSILON)
        folded.extend([(kernel * scale).astype(np.float32), ((bias - mean) * scale + beta).astype(np.float32)])

    def plain():
        folded.extend([np.asarray(next(arrays), np.float32) for _ in range(2)])

    depth = architecture["depth"]
    for _ in range(2 * (depth + 1)):  # two convolutions per block, down to the bottom
        conv_and_norm()
    for _ in range(depth):
        plain()  # the transposed convolution
        conv_and_norm()
        conv_and_norm()
    plain()  # the head
    return folded


class JaxUnet:
    """Callable like a tf-keras U-net in inference: (N, S, S, 1) inputs, or {"dm": ..., "mask": ...} for a
    masked net, -> (N, S, S, 1) float32 numpy array (`launch`: without waiting). One jit-compiled function
    per input shape."""

    def __init__(self, architecture: dict, arrays: list, precision: str = "fp32"):
        """`arrays`: the weights in unet.weight_shapes' order, checked by the caller (bundle.load_bundle)."""
        import jax  # noqa: PLC0415 - only where this backend is chosen
        import jax.numpy as jnp  # noqa: PLC0415

        self.architecture, self.precision = dict(architecture), precision
        self.params = [jnp.asarray(a) for a in fold_batch_norm(architecture, arrays)]
        self._forward = jax.jit(self.apply)

    def __call__(self, inputs) -> np.ndarray:
        return np.asarray(self.launch(inputs), dtype=np.float32)

    def launch(self, inputs):
        """The output as a device array, returned before the device has finished (JAX dispatches
        asynchronously): the caller's host work overlaps the net until it reads the array."""
        if self.architecture["mask"]:
            x, mask = inputs["dm"], inputs["mask"]
        else:
            x, mask = inputs, None
        import jax.numpy as jnp  # noqa: PLC0415

        return self._forward(self.params, jnp.asarray(x, jnp.float32),
                             None if mask is None else jnp.asarray(mask, jnp.float32))

    def apply(self, params, x, mask):
        """The net on inputs `x` (N, S, S, 1) float32 (and `mask` or None): traceable, for jax.jit."""
        import jax  # noqa: PLC0415
        import jax.numpy as jnp  # noqa: PLC0415

        reduced = jnp.dtype(COMPUTE_DTYPES[self.precision])
        weights = iter(params)

        def conv(x, dtype, padding="SAME"):
            kernel, bias = next(weights).astype(dtype), next(weights).astype(dtype)
            y = jax.lax.conv_general_dilated(x.astype(dtype), kernel, (1, 1), padding,
                                             dimension_numbers=("NHWC", "HWIO", "NHWC"))
            return y + bias

        def conv_block(x, dtype):
            for _ in range(2):
                x = jax.nn.relu(conv(x, dtype))  # batch norm folded in (fold_batch_norm)
            return x

        def up(x, dtype):
            kernel, bias = next(weights).astype(dtype), next(weights).astype(dtype)
            n, h, w, _ = x.shape
            y = jnp.einsum("nijc,aboc->niajbo", x.astype(dtype), kernel).reshape(n, 2 * h, 2 * w, -1)
            return jax.nn.relu(y + bias)

        def pool(x):
            n, h, w, c = x.shape
            return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))

        depth, full = self.architecture["depth"], jnp.float32
        skips = []
        for level in range(depth):
            x = conv_block(x, full if level == 0 else reduced)
            skips.append(x)
            x = pool(x)
        x = conv_block(x, reduced)
        for level in reversed(range(depth)):
            dtype = full if level == 0 else reduced
            x = jnp.concatenate([up(x, reduced), skips[level].astype(reduced)], axis=-1).astype(dtype)
            x = conv_block(x, dtype)
        out = conv(x.astype(full), full, padding="VALID")
        out = jax.nn.relu(out) if HEAD_ACTIVATION[self.architecture["head"]] == "relu" else jax.nn.sigmoid(out)
        return out if mask is None else out * mask
