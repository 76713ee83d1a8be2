"""Which particles make a halo's maps (the deposition mode) and how they are read (the read strategy).

Deposition modes (a painting run must use the mode its bundles were trained on; files record it):
- `group`: the halo's FoF member particles, as the paper's cutouts of bound particles; maps keep every
  member along the line of sight.
- `cube`: every particle in a periodic cube of side `width` around the halo centre (the map's footprint,
  as deep as it is wide); works for unsorted boxes and non-TNG input.

Read strategies:
- `offsets`: each rank reads only its halos' particle index ranges (group mode, group-ordered snapshots).
- `slabs`: ranks read disjoint slabs of the particle arrays once and exchange halo members (`halos.slabs`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mpipaint import units as u
from mpipaint.errors import InputError
from mpipaint.io.halo_catalog_kinds import open_member_ids
from mpipaint.io.particle_types import DM, GAS
from mpipaint.io.snapshot import Snapshot
from mpipaint.maps.gas import GasCells

READ_STRATEGIES = ("offsets", "slabs")
READ_STRATEGY_HELP = ("read each halo's particle range (offsets; the default for group deposition) or slabs "
                      "of the particle arrays + exchange (slabs; the only way for cube deposition)")
DM_FIELDS = ("Coordinates", "Masses")
SUBSAMPLE_HELP = ("keep this fraction of the DM particles, chosen by a hash of their IDs (the same on any rank count), "
                  "masses scaled by its inverse: a sparser input kind to calibrate or paint")
_SPLITMIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB))
GAS_FIELDS = ("Coordinates", "Masses", "Density", "InternalEnergy", "ElectronAbundance", "StarFormationRate",
              "GFM_Metallicity")


def read_strategy_for(mode: str, strategy: str | None, by_ids: bool = False) -> str:
    """The read strategy to use for maps of deposition `mode` (maps.geometry.DEPOSITION_MODES; by default
    offsets for group mode, slabs for cube and for group members known by particle ID, `by_ids`); refuses
    offsets for those two (neither is an index range of the snapshot)."""
    strategy = strategy or ("slabs" if mode == "cube" or by_ids else "offsets")
    if mode == "cube" and strategy == "offsets":
        raise ValueError("'cube' deposition needs the 'slabs' read strategy")
    if by_ids and mode == "group" and strategy == "offsets":
        raise ValueError("group members known by particle ID (a box in no group order) need the 'slabs' read "
                         "strategy")
    return strategy


def check_subsample(fraction: float) -> None:
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"subsample must be a fraction in (0, 1], not {fraction}")


def kept_by_id(ids, fraction: float) -> np.ndarray:
    """Whether each particle is in the deterministic `fraction` of a run: the splitmix64 hash of its ID (a
    bijection of 64-bit integers that scatters neighbouring IDs) below fraction x 2^64, so a particle is kept
    or dropped alike on any rank count, read strategy or chunking."""
    z = np.asarray(ids).astype(np.uint64) + _SPLITMIX[0]
    z = (z ^ (z >> np.uint64(30))) * _SPLITMIX[1]
    z = (z ^ (z >> np.uint64(27))) * _SPLITMIX[2]
    z ^= z >> np.uint64(31)
    return z < np.uint64(min(fraction * 2.0**64, 2.0**64 - 2**11))  # the largest float64 below 2^64


def members_by_id(table) -> bool:
    """Whether the halo table's members are found by particle ID (its catalog lists member IDs)."""
    return bool(table.attrs.get("member_ids_catalog"))


def _range(row, ptype):
    start = int(row[f"offset_type{ptype}"])
    return start, start + int(row[f"count_type{ptype}"])


def _gas_cells(fields: dict) -> GasCells:
    return GasCells(positions=fields["Coordinates"].reshape(-1, 3), mass=fields["Masses"],
                    density=fields["Density"],
                    temperature=u.temperature_from_internal_energy(fields["InternalEnergy"],
                                                                   fields["ElectronAbundance"]),
                    electron_abundance=fields["ElectronAbundance"], sfr=fields["StarFormationRate"],
                    metallicity=fields["GFM_Metallicity"])


def _read_fields(snapshot: Snapshot, ptype, fields, row) -> dict:
    start, stop = _range(row, ptype)
    if start < 0 and stop > start:
        raise InputError(f"{snapshot.path}: halo {int(row['halo_id'])} has no particle offsets (a Rockstar "
                         "table?); use the 'slabs' read strategy with 'cube' deposition")
    return {name: snapshot.read(ptype, name, max(start, 0), max(stop, 0)) for name in fields}


class HaloParticles:
    """DM (and gas) of the halos of a table, by table index: read on demand by offsets, or gathered for
    this rank's halos beforehand by the slab exchange (collective: every rank constructs it together)."""

    def __init__(self, snapshots: dict, table, mode: str, strategy: str, owners=None, width: float = 0.0,
                 chunk_particles: int = 4_000_000, with_gas: bool = False, subsample: float = 1.0):
        by_ids = mode == "group" and members_by_id(table)
        try:
            read_strategy_for(mode, strategy, by_ids)
        except ValueError as exc:
            raise InputError(f"{table.attrs.get('member_ids_catalog', 'halo table')}: {exc}") from None
        indexed = table.attrs.get("offsets_of")
        if mode == "group" and indexed and any(Path(s.files[0]).resolve().parent.parent != Path(indexed)
                                               for s in snapshots.values()):
            raise InputError(f"{indexed}: the halos' particle ranges index that catalog's own subsample, not "
                             f"{next(iter(snapshots.values())).path}: paint the subsample, or this box in 'cube' mode")
        partial = [s.path for s in snapshots.values() if s.header.halo_particles_only]
        if mode == "cube" and partial:
            raise InputError(f"{partial[0]}: holds the particles of halos alone, not every particle of a map's cube: "
                             "paint it with bundles trained on 'group' maps")
        self.snapshots, self.table, self.mode, self.strategy = snapshots, table, mode, strategy
        self.subsample = subsample
        self._dm_fields = DM_FIELDS + ("ParticleIDs",) if subsample < 1.0 else DM_FIELDS
        self._gathered = {DM: {}, GAS: {}}
        self._columns = {name: table[name].to_numpy() for name in table.columns}
        if strategy == "slabs":
            from mpipaint.halos.slabs import gather_particles  # noqa: PLC0415 - MPI for slabs only

            member_ids = open_member_ids(table.attrs["member_ids_catalog"]) if by_ids else None
            snapnums = table["snapshot"].to_numpy()
            for snapnum, snapshot in snapshots.items():
                here = np.where(snapnums == snapnum, owners, -1)
                for ptype, fields in (((DM, self._dm_fields), (GAS, GAS_FIELDS)) if with_gas
                                      else ((DM, self._dm_fields),)):
                    self._gathered[ptype].update(gather_particles(snapshot, ptype, fields, table, here,
                                                                  "ids" if by_ids else mode, width, chunk_particles,
                                                                  member_ids))

    def row(self, index: int) -> dict:
        """The halo table's row `index` as {column: value}: pandas' iloc costs about 0.2 ms a row, as much as
        reading a small halo."""
        return {name: values[index] for name, values in self._columns.items()}

    def _fields(self, ptype, fields, index) -> dict:
        row = self.row(index)
        if self.strategy == "offsets":
            return _read_fields(self.snapshots[int(row["snapshot"])], ptype, fields, row)
        received = self._gathered[ptype].pop(index, None)  # each halo is mapped once: free it then
        if received is None:
            return {name: np.empty((0, 3) if name == "Coordinates" else 0) for name in fields}
        return received.fields()

    def dm(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Positions [kpc] and masses [Msun] of the halo's DM: of the subsample only, masses / fraction."""
        fields = self._fields(DM, self._dm_fields, index)
        positions, masses = fields["Coordinates"].reshape(-1, 3), fields["Masses"]
        if self.subsample == 1.0:
            return positions, masses
        kept = kept_by_id(fields["ParticleIDs"], self.subsample)
        return positions[kept], masses[kept] / self.subsample

    def gas(self, index: int) -> GasCells:
        return _gas_cells(self._fields(GAS, GAS_FIELDS, index))
