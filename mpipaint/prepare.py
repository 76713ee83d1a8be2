"""`mpipaint prepare`: a run + its halo table -> training-set HDF5 of projected maps (`io.trainingset`).

Each halo is projected along the requested axes on one rank (its particles are read once, its DM maps
are one CIC pass); halos are dealt to ranks by particle count (longest-processing-time greedy). Each rank
maps its halos at its own pace and sends them to rank 0, which writes the images, then their done flags
(`parallel.engine.FunnelWriter`), so a killed job resumes where it stopped. A full-physics run gives DM, gas,
temperature and X-ray maps; a run without gas gives DM maps.
"""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from mpipaint import __version__
from mpipaint.errors import InputError, Preempted
from mpipaint.halos.particles import HaloParticles, members_by_id, read_strategy_for
from mpipaint.io import trainingset
from mpipaint.io.fingerprints import snapshot_fingerprint, table_fingerprint
from mpipaint.io.halotable import read_halo_table
from mpipaint.io.hdf5 import space_checked
from mpipaint.io.outputs import (create_complete, differing_settings, existing_output,
                                 refuse_other_settings)
from mpipaint.io.particle_types import DM, GAS
from mpipaint.io.snapshot import Snapshot, find_snapshot
from mpipaint.maps import xray
from mpipaint.maps.gas import GAS_MAPS, dm_maps, gas_maps
from mpipaint.options import PrepareOptions
from mpipaint.parallel import COMM, get_logger, owners_by_cost, stopping
from mpipaint.parallel.engine import PhaseTimes, open_writer, work_through
from mpipaint.parallel.exclusive import exclusive_writer
from mpipaint.parallel.progress import Progress

KIND = "training set"  # what --out holds, in messages
def _halo_maps(particles: HaloParticles, index, options, with_gas):
    row = particles.row(index)
    dm_pos, dm_mass = particles.dm(index)
    cells = particles.gas(index) if with_gas else None
    geometries = options.spec.geometries(row, options.axes)
    maps = []
    for geometry, dm in zip(geometries, dm_maps(dm_pos, dm_mass, geometries)):
        maps.append({"dm": dm, **(gas_maps(cells, geometry) if with_gas else {})})
    return maps


def _file_attrs(options, with_gas, table, snapshots):
    attrs = {"run": str(Path(options.run).resolve()), "halo_table": str(Path(options.halos).resolve()),
             "dm_particle_mass_msun": max(s.typical_mass_msun(DM) for s in snapshots.values()) / options.subsample,
             "subsample_fraction": options.subsample,
             **options.spec.attrs(), "pixel_kpc": options.spec.pixel_kpc,
             "axes": np.asarray(options.axes, dtype=np.int64), "num_halos": len(table),
             "mpipaint_version": __version__}
    if with_gas:
        attrs["emission_model"] = xray.EMISSION_MODEL
        assumed = sorted({text for s in snapshots.values() for text in s.assumptions})
        if assumed:
            attrs["assumptions"] = "; ".join(assumed)
    return attrs


def _require_members_in(table, snapshots, halos_path) -> None:
    """Refuse a halo table whose particle ranges cannot index these snapshots (the FP run's table given with
    the DMO run: its gas members, and DM offsets of another ordering, made empty maps)."""
    for snapnum, snapshot in snapshots.items():
        rows = table[table["snapshot"] == snapnum]
        for ptype in (GAS, DM):
            ends = rows[f"offset_type{ptype}"].to_numpy() + rows[f"count_type{ptype}"].to_numpy()
            if len(ends) and ends.max() > snapshot.num_particles(ptype):
                row = int(np.argmax(ends))
                raise InputError(f"{halos_path}: halo {int(rows['halo_id'].iloc[row])} reaches PartType{ptype} "
                                 f"particle {int(ends.max())}, but {snapshot.path} holds "
                                 f"{snapshot.num_particles(ptype)}: a halo table of another run? (select the "
                                 "halos of this run)")


def run_prepare(options: PrepareOptions) -> None:
    log = get_logger()
    stopping.install()
    table = read_halo_table(options.halos)
    snapshots = {int(n): Snapshot(find_snapshot(options.run, int(n))) for n in np.unique(table["snapshot"])}
    _require_members_in(table, snapshots, options.halos)
    try:  # the default for members known by particle ID is slabs, as for cube deposition
        strategy = read_strategy_for(options.deposition_mode, options.read_strategy, members_by_id(table))
    except ValueError as exc:
        raise InputError(f"{options.halos}: {exc}") from None
    with_gas = all(s.num_particles(GAS) > 0 for s in snapshots.values())
    targets = ("dm", *GAS_MAPS) if with_gas else ("dm",)
    naxes = len(options.axes)
    attrs = _file_attrs(options, with_gas, table, snapshots)
    if COMM.rank == 0:  # what a resume must find unchanged besides the settings (io.fingerprints)
        attrs.update({"run_fingerprint": [snapshot_fingerprint(snapshots[n]) for n in sorted(snapshots)],
                      "halo_table_sha256": table_fingerprint(table)})
    with exclusive_writer(options.out, log):
        done = None
        if COMM.rank == 0:
            done = _open_or_create(options, table, targets, attrs, naxes, log)
        done = COMM.bcast(done, root=0)
        if done.all():
            log.info("%s is already complete", options.out)
            return
        todo = [h for h in range(len(table)) if not done[h * naxes:(h + 1) * naxes].all()]
        costs = [float(table["count_type0"].iloc[h] + table["count_type1"].iloc[h]) for h in todo]
        owners = owners_by_cost(len(table), todo, costs, COMM.size)
        mine = [int(h) for h in np.flatnonzero(owners == COMM.rank)]
        log.info("%d of %d halos to map on %d ranks, %d projections each", len(todo), len(table), COMM.size,
                 naxes)
        particles = HaloParticles(snapshots, table, options.deposition_mode, strategy, owners, options.width,
                                  options.chunk_particles, with_gas, options.subsample)
        out = h5py.File(options.out, "r+") if COMM.rank == 0 else None
        try:
            writer = open_writer(out, trainingset.write_images, False,
                                 Progress("images", len(done), int(done.sum())))
            work_through([[h] for h in mine],
                         lambda group: [(group[0] * naxes + k, maps)
                                        for k, maps in enumerate(_halo_maps(particles, group[0], options, with_gas))],
                         lambda images: images, writer, PhaseTimes(("write",)))
            written = COMM.bcast(int(out["done"][()].sum()) if COMM.rank == 0 else None, root=0)
            if written == len(done) and COMM.rank == 0:
                with space_checked(options.out, "marking it complete"):
                    out.attrs["complete"] = True
                    out.flush()
                log.info("wrote %d images to %s", written, options.out)
        finally:
            if out is not None:
                out.close()
        if written < len(done):
            rest = (f"{written} of {len(done)} images of {options.out} are written; run the same command again "
                    "to map the rest")
            raise Preempted(rest) if stopping.requested_anywhere() else RuntimeError(rest)


def _require_map_kinds(path, targets) -> None:
    """A training set begun before a map kind existed cannot gain it: an image's maps are made together."""
    with h5py.File(path, "r") as f:
        missing = [name for name in targets if name not in f]
    if missing:
        raise InputError(f"{path}: a training set without the {', '.join(missing)} map(s) (written by an older "
                         "mpipaint); prepare makes every map of an image in one pass and cannot add maps to the "
                         "images it holds: write a new training set with another --out (this one stays usable "
                         "for its own targets)")


def _open_or_create(options, table, targets, attrs, naxes, log):
    """Rank 0: the done flags of the training set at --out, laid out whole first if there is none."""
    path = Path(options.out)
    if existing_output(path, KIND):
        refuse_other_settings(path, KIND, differing_settings(path, attrs))
        _require_map_kinds(path, targets)
        done, without_maps = trainingset.done_flags(path)
        if without_maps:
            log.warning("%s: %d images marked done have no maps on disk; mapping them again", path, without_maps)
        log.info("resuming %s: %d of %d images already done", path, int(done.sum()), len(done))
        return done
    per_image = {name: np.repeat(table[name].to_numpy(), naxes) for name in trainingset.PER_IMAGE if name != "axis"}
    per_image["axis"] = np.tile(np.asarray(options.axes), len(table))
    create_complete(path, lambda f: trainingset.lay_out(f, targets, options.npix, per_image, attrs))
    return np.zeros(len(table) * naxes, dtype=bool)
