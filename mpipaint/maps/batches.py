"""Stacks of maps in whole batches: every call of a net or of the device's CIC sees one shape, so it is
compiled once (a map's result does not depend on the maps beside it)."""
from __future__ import annotations

import numpy as np


def whole_batches(count: int, batch_size: int) -> int:
    """Maps that hold `count` maps in whole batches of `batch_size` (at least one batch)."""
    return max(1, -(-count // batch_size)) * batch_size


def padded(batch, size: int):
    """`batch` with zero maps appended up to `size` (one compiled shape for every call)."""
    pad = size - len(batch)
    return np.concatenate([batch, np.zeros((pad,) + batch.shape[1:], batch.dtype)]) if pad else batch
