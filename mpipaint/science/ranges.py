"""Whether a painted map can be trusted: its DM input or its output outside the range the net was trained on
(the fractions `model.norm` measures), or an input run coarser than the training run. The painted
catalog's and the evaluation's `out_of_range` flags come from here."""
from __future__ import annotations

import numpy as np

FLAG_FRACTION = 1e-3  # a painted map is out of range when more of its pixels are outside or at the bound
RESOLUTION_TOLERANCE = 2.0  # inputs whose DM particles are heavier than the training run's by more are flagged


def out_of_range(dm_outside, at_bound, coarser: bool = False) -> np.ndarray:
    """1 where a painted map's DM input or its output lies outside the trained range (see FLAG_FRACTION),
    or everywhere when the input run is coarser than the training run (see `coarser_than_trained`)."""
    flags = (np.asarray(dm_outside) > FLAG_FRACTION) | (np.asarray(at_bound) > FLAG_FRACTION) | coarser
    return flags.astype(np.uint8)


def coarser_than_trained(input_particle_mass, trained_particle_mass) -> bool:
    """Whether DM maps come from particles heavier than the training run's by more than RESOLUTION_TOLERANCE:
    their pixels can all lie inside the trained range while their shot noise does not (BENCHMARKS.md, "Why
    these rules"). Unknown masses: False."""
    if input_particle_mass is None or trained_particle_mass is None:
        return False
    return float(input_particle_mass) > RESOLUTION_TOLERANCE * float(trained_particle_mass)
