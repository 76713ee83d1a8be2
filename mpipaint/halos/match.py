"""Bijective FP <-> DMO halo matching by shared dark-matter particle IDs.

Both runs start from the same initial conditions, so a DM particle has the same ID in both. A FP halo's
forward match is the DMO halo holding most of its DM particles; the match is kept only if that DMO halo's
own most-shared FP halo is the FP halo again (bijective, as in Nelson et al. 2015 for TNG). Only the
particle ranges of candidate halos are read, never the whole box.
"""
from __future__ import annotations

import numpy as np

from mpipaint.io.group_catalog import GroupCatalog
from mpipaint.io.particle_types import DM
from mpipaint.io.snapshot import Snapshot

CANDIDATE_MASS_FRACTION = 0.3  # candidates: halos above this fraction of the least massive selected halo


class _IdIndex:
    """Sorted DM particle IDs of a set of halos, to look up which halo holds a given ID."""

    def __init__(self, snapshot: Snapshot, catalog: GroupCatalog, halo_ids):
        offsets = catalog.group_offsets()[:, DM]
        lengths = catalog.groups("GroupLenType")["GroupLenType"][:, DM].astype(np.int64)
        ids, owners = [], []
        for halo in halo_ids:
            chunk = read_halo_dm_ids(snapshot, offsets[halo], lengths[halo])
            ids.append(chunk)
            owners.append(np.full(len(chunk), halo, dtype=np.int64))
        ids = np.concatenate(ids) if ids else np.empty(0, np.uint64)
        owners = np.concatenate(owners) if owners else np.empty(0, np.int64)
        order = np.argsort(ids, kind="stable")
        self.ids, self.owners = ids[order], owners[order]

    def best_owner(self, ids) -> int:
        """The halo holding most of `ids` (-1 if none of them)."""
        if len(self.ids) == 0 or len(ids) == 0:
            return -1
        where = np.clip(np.searchsorted(self.ids, ids), 0, len(self.ids) - 1)
        found = self.owners[where[self.ids[where] == ids]]
        if len(found) == 0:
            return -1
        halos, counts = np.unique(found, return_counts=True)
        return int(halos[np.argmax(counts)])  # ties go to the lower (more massive) group index


def read_halo_dm_ids(snapshot: Snapshot, offset: int, length: int) -> np.ndarray:
    return snapshot.read(DM, "ParticleIDs", int(offset), int(offset) + int(length))


def _candidates(catalog: GroupCatalog, snapshot: Snapshot, mass_floor: float):
    m200 = snapshot.units.mass_to_msun(catalog.groups("Group_M_Crit200")["Group_M_Crit200"])
    return np.flatnonzero(m200 >= mass_floor)


def match_bijective(fp_snap: Snapshot, fp_cat: GroupCatalog, dmo_snap: Snapshot, dmo_cat: GroupCatalog,
                    selected) -> np.ndarray:
    """DMO group index matched to each selected FP group (-1 where the match is not bijective)."""
    selected = np.asarray(selected, dtype=np.int64)
    if len(selected) == 0:
        return np.empty(0, np.int64)
    fp_m200 = fp_snap.units.mass_to_msun(fp_cat.groups("Group_M_Crit200")["Group_M_Crit200"])
    floor = CANDIDATE_MASS_FRACTION * fp_m200[selected].min()
    dmo_index = _IdIndex(dmo_snap, dmo_cat, _candidates(dmo_cat, dmo_snap, floor))
    fp_index = _IdIndex(fp_snap, fp_cat, _candidates(fp_cat, fp_snap, floor))
    fp_offsets, fp_len = fp_cat.group_offsets()[:, DM], fp_cat.groups("GroupLenType")["GroupLenType"][:, DM]
    dmo_offsets, dmo_len = dmo_cat.group_offsets()[:, DM], dmo_cat.groups("GroupLenType")["GroupLenType"][:, DM]
    matched = np.full(len(selected), -1, dtype=np.int64)
    for i, halo in enumerate(selected):
        forward = dmo_index.best_owner(read_halo_dm_ids(fp_snap, fp_offsets[halo], fp_len[halo]))
        if forward < 0:
            continue
        backward = fp_index.best_owner(read_halo_dm_ids(dmo_snap, dmo_offsets[forward], dmo_len[forward]))
        if backward == halo:
            matched[i] = forward
    return matched
