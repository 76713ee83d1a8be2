"""`mpipaint paint BOX [--model BUNDLE ...] [--catalog CATALOG] [--out OUT.hdf5]`: paint baryons onto every
halo of a box.

Bundles are the --model paths, else every bundle in $MPIPAINT_MODELS (`model.bundle.configured_models`);
the output is BOXNAME_painted.hdf5 in the current directory unless --out names it. Rank 0 selects the
halos (mass cut) from --catalog (a group catalog, a halo table, a Rockstar-family list or a plain table:
`halos.select.select_catalog`) or the group catalog beside BOX in the TNG layout; they are dealt to ranks by modelled
cost (longest-processing-time greedy) from particles x CPU_S_PER_PARTICLE and the inference time per halo
that rank 0 measures once the nets are compiled: on a GPU the larger of the two, which the loop overlaps;
on a CPU, where the nets run on the same cores, their sum (inference, the same for every halo, dominates
there, and dealing by particles alone left ranks with unequal halo counts). Particles
come by the read strategy (`halos.particles`): each rank reads its halos' particle ranges (`offsets`, group-ordered
snapshots), or ranks read disjoint slabs once and exchange halo members (`slabs`, any snapshot; the only way
for `cube` deposition). The deposition mode is the one
the bundles were trained on. Each halo is projected with the CIC kernel along every axis in one pass over
its particles (with `--backend jax` on the device, where the nets run, from the particles' float32 offsets:
`model.jax_chain`), and every bundle runs on the maps of `--batch-halos` halos as one batch (a fixed batch
composition, so results do not depend on the number of ranks). Several bundles of one target (a
`train --members` ensemble) give the ensemble mean and standard deviation per halo; every row says how far
its maps lie outside the trained range (`painted`). Ranks run free (`parallel.engine`): no collective per halo, the
next halos read and projected while the nets run on the last ones, rows written as they are done (each
rank into the file under mpio, else sent to rank 0), each followed by its done flag; re-running the same
command paints only what is missing; `complete` is set only at the end. With CPU inference the file is
identical for any rank count and either read strategy.
"""
from __future__ import annotations

import dataclasses
import os
import re
import resource
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from mpipaint import __version__, faults
from mpipaint.errors import InputError, Preempted
from mpipaint.halos.particles import HaloParticles, members_by_id, read_strategy_for
from mpipaint.halos.select import select_catalog
from mpipaint.io import painted
from mpipaint.io.corrections import calibrated_particle_mass, read_table
from mpipaint.io.group_catalog import find_group_catalog
from mpipaint.io.fingerprints import snapshot_fingerprint, table_fingerprint
from mpipaint.io.hdf5 import space_checked, unallocated
from mpipaint.io.outputs import (create_complete, differing_settings, existing_output,
                                 refuse_other_settings)
from mpipaint.io.particle_types import DM
from mpipaint.io.snapshot import Snapshot
from mpipaint.maps.projection import PROJECTORS
from mpipaint.model.bundle import configured_models, description_digest, member_paths
from mpipaint.options import PaintOptions
from mpipaint.parallel import COMM, get_logger, owners_by_cost, stopping
from mpipaint.parallel.engine import PhaseTimes, open_writer, work_through
from mpipaint.parallel.exclusive import exclusive_writer
from mpipaint.parallel.progress import Progress
from mpipaint.science import corrections, summaries
from mpipaint.science.ranges import coarser_than_trained

CPU_S_PER_PARTICLE = 6.2e-8  # read + one-pass CIC of three maps + write, per member particle (offsets read,
#                            1 rank; bench_scale.py paint over 1e6-1e8 particles, AMD EPYC): with the measured
#                            inference time per halo, the cost by which halos are dealt
KIND = "painted catalog"  # what --out holds, in messages
NO_MPIO_ENV = "MPIPAINT_NO_MPIO"  # =1: gather rows to rank 0 even when h5py has MPI (filesystems without MPI-IO)


def snapshot_number(box, snapshot: Snapshot) -> int | None:
    """The snapshot number in the name of BOX or its first file (snap_NNN, snapdir_NNN, snapshot_NNN), or None."""
    for name in (Path(box).name, snapshot.files[0].name):
        match = re.search(r"snap(?:shot|dir)?_(\d{3,})", name)
        if match:
            return int(match.group(1))
    return None


def halo_table(options: PaintOptions, snapshot: Snapshot) -> tuple[pd.DataFrame, Path]:
    """The halos to paint (`halos.select.select_catalog`) and the catalog they come from: --catalog, or the
    group catalog beside BOX in the TNG layout."""
    snapnum = snapshot_number(options.box, snapshot)
    catalog = options.catalog
    if catalog is None:
        if snapnum is None:
            raise InputError(f"{options.box}: cannot tell the snapshot number from the name (snap_NNN...), so "
                             "no group catalog can be found beside it: name one with --catalog")
        output_dir = snapshot.files[0].parent
        if output_dir.name.startswith("snapdir_"):
            output_dir = output_dir.parent
        catalog = find_group_catalog(output_dir, snapnum)
    table = select_catalog(snapshot, catalog, -1 if snapnum is None else snapnum, options.min_m200c,
                           options.mass_column)
    return table, Path(catalog)


def default_out(box) -> Path:
    """BOXNAME_painted.hdf5 in the current directory: BOX's name without chunk index and .hdf5."""
    name = re.sub(r"(\.\d+)?(\.hdf5)?$", "", Path(box).name) or "box"
    return Path.cwd() / f"{name}_painted.hdf5"


def with_defaults(options: PaintOptions) -> PaintOptions:
    """Options with the models (from $MPIPAINT_MODELS where none are given) and the output filled in."""
    models = options.models or configured_models()
    return dataclasses.replace(options, models=tuple(models), out=options.out or str(default_out(options.box)))


class HaloPainter:
    """Paints groups of halos in two steps, so that the engine overlaps them: `start` reads each halo's
    particles, projects its maps along every axis in one pass and launches each bundle's nets on all the
    group's maps in one call (the predictors' fixed batch, padded: a map's result does not depend on the
    maps beside it, so neither on which halos a rank holds); `finish` collects the maps and gives the rows.
    The `projector` makes the maps (`maps.projection.PROJECTORS`): on the host, or with JAX on the device from
    the particles, where they stay. The nets calibrate their totals at the box's `redshift`."""

    def __init__(self, particles: HaloParticles, predictors, projector, axes, with_maps, times, coarser, residuals,
                 tables, redshift: float, sparser: bool = False):
        self.particles, self.predictors, self.redshift = particles, predictors, redshift
        self.axes, self.with_maps, self.times, self.coarser = axes, with_maps, times, coarser
        self.residuals, self.tables, self.projector = residuals, tables, projector
        self.sparser_than_calibrated = sparser
        self.deposited = 0  # DM particles this rank projected: the halos' members or their cubes' particles

    def start(self, indices):
        faults.reached("halo-start", COMM.rank)
        halos = []
        for index in indices:
            with self.times("read"):
                halos.append((*self.particles.dm(index), self.particles.row(index)))
            self.deposited += len(halos[-1][1])
        with self.times("project"):
            maps = self.projector.project(halos)
        with self.times("infer"):
            launched = {target: predictor.launch(maps, self.redshift)
                        for target, predictor in self.predictors.items()}
        return indices, maps, launched

    def finish(self, started):
        """[(row, values, maps or None)] of a started group."""
        indices, maps, launched = started
        with self.times("infer"):
            results = {target: self.predictors[target].collect(handle) for target, handle in launched.items()}
        mdm, dm = self.projector.masses(maps), self.projector.on_host(maps) if self.with_maps else None
        rows, naxes = [], len(self.axes)
        for k, index in enumerate(indices):
            mine = slice(k * naxes, (k + 1) * naxes)
            halo = {target: r.select(mine) for target, r in results.items()}
            values = summaries.halo_values(halo, mdm[mine], self.coarser, self.residuals)
            if np.any(values["mdm_proj"] <= 0):
                get_logger().warning("halo %d: no DM particles in its map along axes %s; its row is flagged "
                                     "out_of_range", int(self.particles.row(index)["halo_id"]),
                                     [a for a, m in zip(self.axes, values["mdm_proj"]) if m <= 0])
            halo_maps = {"dm": dm[mine], **{t: r.mean_images for t, r in halo.items()}} if self.with_maps else None
            rows.append((index, {**values, **_weights(values, self.tables, self.sparser_than_calibrated)},
                         halo_maps))
        return rows


def _warm_up(predictors, projector, batch_halos: int) -> float:
    """Compile the projection and the nets before the clock starts, then time one inference call of every
    target's nets on one group's (empty) maps, where paint keeps them: seconds, rank 0's and the same on
    every rank, since the dealing must agree."""
    nowhere = {"centre_x": 0.0, "centre_y": 0.0, "centre_z": 0.0, "box_size": 0.0}
    maps = projector.project([(np.zeros((1, 3)), np.zeros(1), nowhere)] * batch_halos)
    for predictor in predictors.values():
        predictor(maps)
    seconds = None
    if COMM.rank == 0:
        start = time.perf_counter()
        for predictor in predictors.values():
            predictor(maps)
        seconds = time.perf_counter() - start
    return COMM.bcast(seconds, root=0)


def _warn_beyond_training_redshifts(bundles, redshift: float, box, log) -> None:
    """A box outside the redshifts a net's totals were calibrated at gets the nearest one's offset: say so."""
    for target, members in bundles.items():
        table = members[0].meta.get("total_offset_by_redshift")
        if table and not table["redshift"][0] <= redshift <= table["redshift"][-1]:
            log.warning("%s: z = %.3g lies outside the redshifts %s the %s nets were trained and calibrated at: "
                        "their totals take the nearest one's offset, and their errors there are unmeasured", box,
                        redshift, table["redshift"], target)


def correction_tables(options: PaintOptions, targets) -> dict:
    """{quantity: (target, table)} of the correction file for the painted targets that have one (Lx, Mgas, Y)."""
    if options.corrections is None:
        return {}
    corrected = [t for t in targets if t in corrections.QUANTITIES]
    if not corrected:
        raise InputError(f"{options.corrections}: corrections exist for "
                         f"{', '.join(q for q, _ in corrections.QUANTITIES.values())}, but the bundles paint "
                         f"{', '.join(targets)}")
    return {corrections.QUANTITIES[t][0]: (t, read_table(options.corrections, options.correction_input,
                                                                     corrections.QUANTITIES[t][0]))
            for t in corrected}


def _weights(values: dict, tables: dict, sparser: bool) -> dict:
    """Correction weights and out-of-calibration flags of one halo's row values; every row is outside the
    calibration when the box's DM is sparser than that of the input the tables were calibrated on."""
    result = {}
    for quantity, (_, table) in tables.items():
        weight, outside = corrections.correction_weights(values[quantity], table)
        result[f"{quantity}_weight"], result[f"{quantity}_outside_calibration"] = weight, outside | sparser
    return result


def run_paint(options: PaintOptions) -> None:
    log = get_logger()
    from mpipaint.model.infer import EnsemblePredictor, setup_inference  # noqa: PLC0415

    options = with_defaults(options)
    stopping.install()
    precision, on_gpu = setup_inference(options.precision, options.backend)
    from mpipaint.model.bundle import load_bundle_set  # noqa: PLC0415 - TensorFlow only when painting

    bundles = load_bundle_set(options.models, precision=precision, backend=options.backend)
    spec = bundles.spec
    tables = correction_tables(options, list(bundles))
    snapshot = Snapshot(options.box)
    table, catalog = halo_table(options, snapshot) if COMM.rank == 0 else (None, None)
    table, catalog = COMM.bcast((table, catalog), root=0)
    try:
        strategy = read_strategy_for(spec.deposition_mode, options.read_strategy, members_by_id(table))
    except ValueError as exc:
        raise InputError(f"{options.models[0]}: bundles trained on '{spec.deposition_mode}' maps, halos of "
                         f"{catalog}: {exc}") from None
    if spec.deposition_mode == "group" and len(table) and (table["count_type1"] == 0).all():
        raise InputError(f"{catalog}: a halo list without particle membership (Rockstar, a plain table) is painted "
                         f"from every particle in the map's cube, but {options.models[0]} was trained on FoF-member "
                         "('group') maps: use bundles trained with --deposition-mode cube")
    snapnum = int(table["snapshot"].iloc[0]) if len(table) else -1
    if COMM.rank == 0:
        _warn_beyond_training_redshifts(bundles, snapshot.redshift, options.box, log)
    batch = options.batch_halos * len(options.axes)
    predictors = {target: EnsemblePredictor(b, batch_size=batch, keep_maps=options.maps)
                  for target, b in bundles.items()}
    projector = PROJECTORS[options.backend](spec, options.axes, batch)  # the maps are made where the nets run
    infer_s_per_halo = _warm_up(predictors, projector, options.batch_halos) / options.batch_halos
    log.info("nets compiled; inference %.3g s per halo (%s, %s)", infer_s_per_halo, options.backend, precision)
    trained_mass = bundles.trained_particle_mass_msun
    box_mass = snapshot.typical_mass_msun(DM) / options.subsample  # what a painted particle weighs
    coarser = coarser_than_trained(box_mass, trained_mass)
    if coarser and COMM.rank == 0:
        log.warning("%s: DM particles of %.3g Msun, %.1fx the training run's: every row is flagged out_of_range",
                    options.box, box_mass, box_mass / trained_mass)
    attrs = {"box": str(Path(options.box).resolve()), "catalog": str(catalog.resolve()),
             "models": [str(Path(m).resolve()) for m in options.models], "min_m200c_msun": options.min_m200c,
             "axes": np.asarray(options.axes, dtype=np.int64), "maps": options.maps, **spec.attrs(),
             "read_strategy": strategy,
             "snapshot": snapnum, "box_size_kpc": snapshot.box_size_kpc, "mpipaint_version": __version__,
             "scale_factor": snapshot.header.scale_factor, "hubble": snapshot.header.hubble,
             "omega_m": snapshot.header.omega_m, "omega_lambda": snapshot.header.omega_lambda,
             "dm_particle_mass_msun": box_mass, "precision": precision, "backend": options.backend,
             "emission_model": bundles.emission_model}
    attrs.update(_input_fingerprints(options, snapshot, table))
    if trained_mass is not None:
        attrs["trained_dm_particle_mass_msun"] = float(trained_mass)
    if "m200c_definition" in table.attrs:  # the catalog has no M200c: what stands in for it
        attrs["m200c_definition"] = table.attrs["m200c_definition"]
    sparser = False
    if tables:
        calibrated_mass = calibrated_particle_mass(options.corrections, options.correction_input)
        sparser = coarser_than_trained(box_mass, calibrated_mass)
        attrs.update({"corrections": str(Path(options.corrections).resolve()),
                      "correction_input": options.correction_input, "sparser_than_calibration": sparser})
        if calibrated_mass is not None:
            attrs["calibrated_dm_particle_mass_msun"] = calibrated_mass
        if sparser and COMM.rank == 0:
            log.warning("%s: DM particles of %.3g Msun, %.1fx those the '%s' tables were calibrated on: every row "
                        "is flagged outside the calibration", options.box, box_mass, box_mass / calibrated_mass,
                        options.correction_input)
    attrs["subsample_fraction"] = options.subsample * snapshot.header.subsample_fraction  # of the run's DM
    residuals = bundles.residuals
    row_columns = painted.columns({t: len(b) for t, b in bundles.items()}, list(tables), residuals)
    map_targets = ("dm", *bundles) if options.maps else ()
    # no try/finally around the file: under mpio closing is collective, and a rank that fails must reach
    # MPI_Abort instead of waiting in close() for ranks that are still painting (the file stays incomplete)
    with exclusive_writer(options.out, log):
        out, done = _open(options, table, spec.npix, attrs, row_columns, map_targets, log)
        todo = np.flatnonzero(~done)
        cpu_s = CPU_S_PER_PARTICLE * table["count_type1"].to_numpy()[todo]
        costs = np.maximum(cpu_s, infer_s_per_halo) if on_gpu else cpu_s + infer_s_per_halo
        owners = owners_by_cost(len(table), todo, costs, COMM.size)
        mine = [int(h) for h in np.flatnonzero(owners == COMM.rank)]
        groups = [mine[k:k + options.batch_halos] for k in range(0, len(mine), options.batch_halos)]
        start, times = time.monotonic(), PhaseTimes()
        with times("read"):
            particles = HaloParticles({snapnum: snapshot}, table, spec.deposition_mode, strategy, owners,
                                      spec.width_kpc, options.chunk_particles, subsample=options.subsample)
        painter = HaloPainter(particles, predictors, projector, options.axes, options.maps, times, coarser,
                              residuals, tables, snapshot.redshift, sparser)
        writer = open_writer(out, painted.write_rows, _parallel_io(), _progress(len(table), done, mine))
        work_through(groups, painter.start, painter.finish, writer, times)
        _finish(out, options.out, len(table))
        _report(log, times, len(todo), painter.deposited, time.monotonic() - start)
        log.info("wrote %s", options.out)


def _progress(total, done, mine) -> Progress:
    """Global progress where rank 0 sees every row (one rank, or rows funnelled to it); under mpio rank 0
    reports its own share, which the cost dealing keeps in step with the others'."""
    if _parallel_io():
        return Progress("halos (rank 0's share)", len(mine))
    return Progress("halos", total, int(done.sum()))


def _report(log, times: PhaseTimes, halos: int, deposited: int, elapsed):
    """Rank 0 logs throughput (halos painted, DM particles projected by all ranks), the slowest rank's time
    per phase, and every rank's peak memory."""
    phases = COMM.gather(times.seconds, root=0)
    peak_mb = COMM.gather(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, root=0)
    particles = COMM.reduce(deposited, root=0)  # summed
    if COMM.rank != 0:
        return
    slowest = {phase: max(p[phase] for p in phases) for phase in phases[0]}
    log.info("summary: %d halos, %d DM particles projected in %.2f s: %.3f halos/s, %.4g particles/s; max over "
             "ranks: %s; peak memory per rank [MB]: %s", halos, particles, elapsed, halos / elapsed,
             particles / elapsed, ", ".join(f"{k} {v:.2f} s" for k, v in slowest.items()),
             " ".join(f"{m:.0f}" for m in peak_mb))


def _input_fingerprints(options, snapshot, table) -> dict:
    """What a resume must find unchanged besides the settings (`io.fingerprints`): the box's particles, the
    halos selected from the catalog, every bundle's description. Rank 0 reads, every rank gets them."""
    prints = None
    if COMM.rank == 0:
        prints = {"box_fingerprint": snapshot_fingerprint(snapshot), "halo_table_sha256": table_fingerprint(table),
                  "models_sha256": [description_digest(p) for given in options.models for p in member_paths(given)]}
    return COMM.bcast(prints, root=0)


def _parallel_io() -> bool:
    """Collective mpio writes: h5py built with MPI, more than one rank, and not switched off."""
    return bool(h5py.get_config().mpi) and COMM.size > 1 and os.environ.get(NO_MPIO_ENV) != "1"


def _open(options, table, npix, attrs, row_columns, map_targets, log):
    """(the output open for writing: on every rank under mpio, on rank 0 alone otherwise, else None; per
    halo, whether its row is painted). Rank 0 checks what is at --out and its rows, or lays out a new file
    whole before it appears there (outputs.create_complete)."""
    path = Path(options.out)
    done = None
    if COMM.rank == 0:  # an error here ends every rank through run_or_abort's MPI_Abort
        if existing_output(path, KIND):
            refuse_other_settings(path, KIND, differing_settings(path, attrs))
            done = _painted_rows(path, log)
        else:
            create_complete(path, lambda f: painted.create(f, table, len(options.axes), npix, row_columns,
                                                            map_targets, attrs))
            done = np.zeros(len(table), dtype=bool)
    done = COMM.bcast(done, root=0)
    if _parallel_io():
        return h5py.File(path, "r+", driver="mpio", comm=COMM), done
    return (h5py.File(path, "r+") if COMM.rank == 0 else None), done


def _painted_rows(path, log) -> np.ndarray:
    """Rank 0, resuming: which rows of the catalog at `path` are painted (`painted.verified_done`)."""
    with h5py.File(path, "r") as f:
        without_storage = unallocated(f)
        if without_storage and _parallel_io():
            raise InputError(f"{path}: laid out by an earlier mpipaint without storage for "
                             f"{', '.join(without_storage)}, which ranks cannot resume together under MPI-IO; "
                             f"resume it with {NO_MPIO_ENV}=1")
        done, unwritten = painted.verified_done(f)
    if unwritten:
        log.warning("%s: %d halos flagged done have no painted row on disk; painting them again", path, unwritten)
    log.info("resuming %s: %d of %d halos already painted", path, int(done.sum()), len(done))
    return done


def _finish(out, path, total: int) -> None:
    """Count the painted rows once every rank's writes are on disk, set `complete` if that is all of them,
    close the file; fewer rows end the job on every rank: Preempted where a rank was stopped by a signal."""
    if out is not None and _parallel_io():
        out.flush()  # collective: every rank's rows reach the file before rank 0 counts them
    painted_rows = int(np.count_nonzero(out["done"][()] == 1)) if COMM.rank == 0 else None
    painted_rows = COMM.bcast(painted_rows, root=0)
    stopped = stopping.requested_anywhere()
    if out is not None:
        with space_checked(path, "marking it complete"):
            if painted_rows == total:
                out.attrs["complete"] = True
            out.close()
    if painted_rows < total:
        rest = f"{painted_rows} of {total} halos of {path} are painted; run the same command again to paint the rest"
        raise Preempted(rest) if stopped else RuntimeError(rest)
