"""The U-net of Chadayammuri et al. (2023), Table A1, with width, depth and image size configurable.

Encoder: per level two (3x3 conv, batch norm with momentum BN_MOMENTUM, ReLU) then 2x2 max pooling;
filters base * 2^level (64-128-256-512 at full size). Bottleneck: two conv blocks of base * 2^depth
(1024). Decoder: per level a 2x2 stride-2 transposed conv with ReLU, concatenation with the encoder level's
output, two conv blocks.
Head: a 1x1 conv to one channel, ReLU for 'minmax' targets and sigmoid for '4sigma' ones (the paper's
choice), optionally multiplied by a mask input that is 0 where the DM map is empty. The ReLU is left
unbounded so that its gradient never vanishes in training; predictions are bounded where they are mapped
back to physical units (`Normalisation.inverse`). At full size
(base 64, depth 4, 512x512) this has 31,054,145 parameters (11,776 non-trainable), as Table A1.
"""
from __future__ import annotations

from mpipaint.errors import InputError
from mpipaint.model.keras_env import keras

HEAD_ACTIVATION = {"minmax": "relu", "4sigma": "sigmoid"}
# batch-norm moving averages that forget the initial statistics within a few dozen steps, so that a short
# run's inference matches its training-mode outputs (Keras' 0.99 does not; BENCHMARKS.md, "Why these rules")
BN_MOMENTUM = 0.9
# under a reduced-precision policy (keras_env.dtype_policy) the full-resolution blocks, which read the
# normalised log DM map and write the log target map, still compute in float32: 8 dex of log range do not
# fit bf16's 8 bits of mantissa (about 20 % of the full U-net's FLOPs; BENCHMARKS.md, "Why these rules")
FULL_RESOLUTION_DTYPE = "float32"


def _conv_block(layers, x, filters, dtype=None):
    """Two (3x3 conv, batch norm, ReLU); `dtype` overrides the precision policy (FULL_RESOLUTION_DTYPE)."""
    for _ in range(2):
        x = layers.Conv2D(filters, 3, padding="same", dtype=dtype)(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, dtype=dtype)(x)
        x = layers.Activation("relu", dtype=dtype)(x)
    return x


def build_unet(image_size: int = 512, base_filters: int = 64, depth: int = 4, head: str = "minmax",
               mask: bool = False):
    """A Keras (tf-keras) U-net: inputs (N, S, S, 1) [and a mask of the same shape], output (N, S, S, 1)."""
    if image_size % (2**depth):
        raise ValueError(f"image_size {image_size} must be divisible by 2^depth = {2**depth}")
    k = keras()
    layers = k.layers
    image = k.Input((image_size, image_size, 1), name="dm")
    x, skips = image, []
    for level in range(depth):
        x = _conv_block(layers, x, base_filters * 2**level, FULL_RESOLUTION_DTYPE if level == 0 else None)
        skips.append(x)
        x = layers.MaxPooling2D(2)(x)
    x = _conv_block(layers, x, base_filters * 2**depth)
    for level in reversed(range(depth)):
        x = layers.Conv2DTranspose(base_filters * 2**level, 2, strides=2, activation="relu")(x)
        x = layers.Concatenate(dtype="float32" if level == 0 else None)([x, skips[level]])
        x = _conv_block(layers, x, base_filters * 2**level, FULL_RESOLUTION_DTYPE if level == 0 else None)
    out = layers.Conv2D(1, 1, activation=HEAD_ACTIVATION[head], name="head", dtype="float32")(x)
    inputs = [image]
    if mask:
        mask_input = k.Input((image_size, image_size, 1), name="mask")
        out = layers.Multiply(name="masked", dtype="float32")([out, mask_input])
        inputs.append(mask_input)
    return k.Model(inputs=inputs, outputs=out, name="unet")


# build_unet's arguments, as a bundle records them: (type, smallest, largest) of the numbers
ARCHITECTURE = {"image_size": (int, 8, 8192), "base_filters": (int, 1, 1024), "depth": (int, 1, 8),
                "head": (str, None, None), "mask": (bool, None, None)}


def weight_shapes(architecture: dict) -> list[tuple]:
    """Shapes of build_unet(**architecture)'s weight arrays in the order tf-keras stores them (layer by layer
    as built; a batch norm's gamma, beta, moving mean, moving variance), without building the net."""
    shapes, channels = [], 1

    def conv_block(filters):
        nonlocal channels
        for _ in range(2):
            shapes.extend([(3, 3, channels, filters), (filters,)] + [(filters,)] * 4)
            channels = filters

    base, depth = architecture["base_filters"], architecture["depth"]
    for level in range(depth):
        conv_block(base * 2**level)
    conv_block(base * 2**depth)
    for level in reversed(range(depth)):
        filters = base * 2**level
        shapes.extend([(2, 2, filters, channels), (filters,)])
        channels = 2 * filters  # concatenated with the skip of the same width
        conv_block(filters)
    return shapes + [(1, 1, channels, 1), (1,)]


def check_architecture(architecture, source) -> dict:
    """A bundle's recorded build_unet arguments, each checked (InputError naming `source` otherwise)."""
    if not isinstance(architecture, dict) or set(architecture) != set(ARCHITECTURE):
        raise InputError(f"{source}: architecture must give exactly {', '.join(ARCHITECTURE)}, got {architecture!r}")
    for key, (kind, low, high) in ARCHITECTURE.items():
        value = architecture[key]
        if type(value) is not kind or (low is not None and not low <= value <= high):
            limits = f" in {low}..{high}" if low is not None else ""
            raise InputError(f"{source}: architecture {key} must be a {kind.__name__}{limits}, got {value!r}")
    if architecture["head"] not in HEAD_ACTIVATION:
        raise InputError(f"{source}: architecture head must be one of {', '.join(HEAD_ACTIVATION)}, "
                         f"got {architecture['head']!r}")
    if architecture["image_size"] % 2 ** architecture["depth"]:
        raise InputError(f"{source}: image_size {architecture['image_size']} must be divisible by 2^depth")
    return architecture
