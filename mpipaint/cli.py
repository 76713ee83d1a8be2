"""The `mpipaint` command: argument parsing only; each verb calls into its module."""
from __future__ import annotations

import argparse
import sys

from mpipaint import __version__
from mpipaint.config import section
from mpipaint.errors import InputError
from mpipaint.model.keras_env import PRECISIONS

CONFIG_SECTIONS = ("synth", "select", "prepare", "train", "evaluate", "calibrate", "paint", "demo", "jobs")
NO_MPI_VERBS = ("demo", "jobs", "export-fits")  # these never start MPI (login nodes; the demo launches mpirun)


def _synth(args):
    from mpipaint.synth import SynthConfig, generate  # noqa: PLC0415 - import only what the verb needs
    from mpipaint.units import tng_snapshots  # noqa: PLC0415

    cfg = section(args.config, "synth", SynthConfig, {
        "seed": args.seed, "halos": args.halos, "dm_particles": args.dm_particles,
        "snapshots": tng_snapshots(args.snap) if args.snap else None,
        "num_files": args.files, "flavour": args.flavour, "box_size": args.box_size}, CONFIG_SECTIONS)
    generate(cfg, args.out)


def _select(args):
    from mpipaint.select import SelectOptions, run_select  # noqa: PLC0415

    options = section(args.config, "select", SelectOptions, {
        "source": args.source, "out": args.out, "snapshots": tuple(args.snap) if args.snap else None,
        "min_m200c": args.min_m200c, "catalog_type": args.catalog_type, "dmo": args.dmo}, CONFIG_SECTIONS)
    run_select(options)


def _prepare(args):
    from mpipaint.prepare import PrepareOptions, run_prepare  # noqa: PLC0415

    options = section(args.config, "prepare", PrepareOptions, {
        "run": args.run, "halos": args.halos, "out": args.out, "npix": args.npix, "width": args.width,
        "axes": tuple(args.axes) if args.axes else None, "deposition_mode": args.deposition_mode,
        "read_strategy": args.read_strategy, "chunk_particles": args.chunk_particles}, CONFIG_SECTIONS)
    run_prepare(options)


def _train(args):
    from mpipaint.train import TrainOptions, run_train  # noqa: PLC0415

    options = section(args.config, "train", TrainOptions, {
        "data": args.data, "out": args.out, "target": args.target, "scheme": args.scheme, "space": args.space,
        "mask": args.mask, "epochs": args.epochs, "batch_size": args.batch_size, "learning_rate": args.lr,
        "warmup_epochs": args.warmup_epochs, "base_filters": args.base_filters, "depth": args.depth,
        "seed": args.seed, "precision": args.precision, "members": args.members,
        "patience": args.patience, "lr_patience": args.lr_patience, "total_weight": args.total_weight,
        "augment": args.augment, "split": tuple(args.split) if args.split else None}, CONFIG_SECTIONS)
    run_train(options)


def _evaluation_options(args, verb):
    from mpipaint.evaluate import EvaluateOptions  # noqa: PLC0415

    return section(args.config, verb, EvaluateOptions, {
        "models": tuple(args.model) if args.model else None, "data": args.data, "out": args.out,
        "split": args.split, "inputs": tuple(args.input) if args.input else None, "per_dex": args.per_dex,
        "bootstrap": getattr(args, "bootstrap", None), "precision": args.precision, "backend": args.backend,
        "snapshots": tuple(args.snapshots) if args.snapshots else None}, CONFIG_SECTIONS)


def _evaluate(args):
    from mpipaint.evaluate import run_evaluate  # noqa: PLC0415

    run_evaluate(_evaluation_options(args, "evaluate"))


def _calibrate(args):
    from mpipaint.evaluate import run_calibrate  # noqa: PLC0415

    run_calibrate(_evaluation_options(args, "calibrate"))


def _paint(args):
    from mpipaint.paint import PaintOptions, run_paint  # noqa: PLC0415

    options = section(args.config, "paint", PaintOptions, {
        "box": args.box, "models": tuple(args.model) if args.model else None, "out": args.out,
        "catalog": args.catalog, "min_m200c": args.min_m200c, "axes": tuple(args.axes) if args.axes else None,
        "maps": args.maps, "read_strategy": args.read_strategy, "chunk_particles": args.chunk_particles,
        "corrections": args.corrections, "correction_input": args.correction_input,
        "precision": args.precision, "backend": args.backend, "batch_halos": args.batch_halos}, CONFIG_SECTIONS)
    run_paint(options)


def _inference_arguments(verb):
    verb.add_argument("--precision", choices=PRECISIONS,
                      help="inference precision (default auto: bf16 where the CPU or GPU computes it "
                      "natively, else fp32; see README, Precision)")
    verb.add_argument("--backend", choices=("tf", "jax"), help="what runs the nets (default tf; jax runs "
                      "where TensorFlow is not installed, e.g. CUDA 13 GPU nodes; see README, Backend)")


def _read_strategy_arguments(verb):
    verb.add_argument("--read-strategy", choices=("offsets", "slabs"),
                      help="read each halo's particle range (default for group mode) or slabs + exchange")
    verb.add_argument("--chunk-particles", type=int, help="slabs: particles read per rank per step (4e6)")


def _demo(args):
    from mpipaint.demo import DemoOptions, run_demo  # noqa: PLC0415

    run_demo(section(args.config, "demo", DemoOptions, {"out": args.out, "ranks": args.ranks,
                                                        "epochs": args.epochs}, CONFIG_SECTIONS))


def _jobs(args):
    from mpipaint.jobs import JobOptions, render  # noqa: PLC0415

    if args.config is None:
        raise InputError("jobs render needs --config: the config the job runs with (and its 'jobs:' values)")
    options = section(args.config, "jobs", JobOptions, {
        "template": args.template, "config": args.config, "nodes": args.nodes,
        "ntasks_per_node": args.ntasks_per_node, "gpus_per_node": args.gpus_per_node,
        "cpus_per_task": args.cpus_per_task, "time": args.time, "account": args.account,
        "partition": args.partition, "job_name": args.job_name, "launcher": args.launcher}, CONFIG_SECTIONS)
    sys.stdout.write(render(options))


def _export_fits(args):
    from mpipaint.export import export_fits  # noqa: PLC0415

    written = export_fits(args.painted, args.out, None if args.all else args.halo)
    print(f"wrote {len(written)} FITS files to {args.out}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mpipaint", description=__doc__)
    parser.add_argument("--version", action="version", version=f"mpipaint {__version__}")
    verbs = parser.add_subparsers(dest="verb", required=True)

    synth = verbs.add_parser("synth", help="write the example universe (FP, DMO, FP-2, FP-3) in TNG layout")
    synth.add_argument("--out", required=True, help="directory to write the runs into")
    synth.add_argument("--seed", type=int)
    synth.add_argument("--halos", type=int, help="halos per snapshot (default 32)")
    synth.add_argument("--snap", type=int, nargs="+", help="TNG snapshot numbers to write, at their TNG "
                       "redshifts (default 67 99; known: 50 67 78 84 91 99)")
    synth.add_argument("--dm-particles", type=int, help="DM particles in halos per snapshot (default 250000)")
    synth.add_argument("--files", type=int, help="chunks per snapshot and catalog (default 4)")
    synth.add_argument("--box-size", type=float, help="comoving box side [ckpc/h] (default 100000)")
    synth.add_argument("--flavour", choices=("tng", "gadget4"), help="on-disk header flavour (default tng)")
    synth.add_argument("--config", help="YAML config with a 'synth:' section")
    synth.set_defaults(handler=_synth)

    select = verbs.add_parser("select", help="halo catalog -> halo table (mass cut, centres, offsets, DMO match)")
    select.add_argument("source", nargs="?", help="a run's output/ directory, or Rockstar list(s) "
                        "comma-separated with --catalog-type rockstar")
    select.add_argument("--out", help="halo table to write (HDF5)")
    select.add_argument("--snap", type=int, nargs="+", help="snapshot numbers")
    select.add_argument("--min-m200c", type=float, help="mass cut in Msun (default 1e14)")
    select.add_argument("--catalog-type", choices=("subfind", "rockstar"))
    select.add_argument("--dmo", help="the DMO twin's output/ directory: adds matched DMO halo ids")
    select.add_argument("--config", help="YAML config with a 'select:' section")
    select.set_defaults(handler=_select)

    prepare = verbs.add_parser("prepare", help="run + halo table -> training-set HDF5 of projected maps "
                               "(DM; hot gas, Mazzotta T and 0.5-2 keV X-ray for a full-physics run)")
    prepare.add_argument("run", nargs="?", help="the run's output/ directory")
    prepare.add_argument("--halos", help="halo table of this run (from mpipaint select)")
    prepare.add_argument("--out", help="training set to write (HDF5); re-running resumes it")
    prepare.add_argument("--npix", type=int, help="pixels per side (default 512)")
    prepare.add_argument("--width", type=float, help="map width in physical kpc (default 4000)")
    prepare.add_argument("--axes", type=int, nargs="+", help="projection axes, 0=x 1=y 2=z (default 0 1 2)")
    prepare.add_argument("--deposition-mode", choices=("group", "cube"),
                         help="FoF members (default) or every particle in the map's cube")
    _read_strategy_arguments(prepare)
    prepare.add_argument("--config", help="YAML config with a 'prepare:' section")
    prepare.set_defaults(handler=_prepare)

    train = verbs.add_parser("train", help="Horovod data-parallel U-net training -> model bundle "
                             "(run under horovodrun or mpirun)")
    train.add_argument("--data", help="training set from mpipaint prepare (full-physics run)")
    train.add_argument("--out", help="model bundle directory; re-running resumes from its checkpoint")
    train.add_argument("--target", choices=("gas", "temperature", "xray"))
    train.add_argument("--scheme", choices=("minmax", "4sigma"))
    train.add_argument("--space", choices=("log", "linear"), help="linear: the paper's T_lin model")
    train.add_argument("--mask", action="store_const", const=True, help="zero output where the DM map is empty")
    train.add_argument("--epochs", type=int, help="at most this many epochs (default 20)")
    train.add_argument("--patience", type=int, help="stop after this many epochs without a better validation "
                       "loss (default 10; 0: never)")
    train.add_argument("--lr-patience", type=int, help="halve the learning rate after this many epochs without "
                       "a better validation loss (default 4)")
    train.add_argument("--total-weight", type=float, help="weight of the squared log10 error of each map's total "
                       "in the loss (default 0.01; 0: the paper's pixel MSE alone)")
    train.add_argument("--no-augment", dest="augment", action="store_const", const=False,
                       help="no random flips and rotations of training images")
    train.add_argument("--members", type=int, help="deep ensemble: train this many bundles from different "
                       "initialisations into OUT/member_K (default 1)")
    train.add_argument("--batch-size", type=int, help="images per rank per step (default 4)")
    train.add_argument("--lr", type=float, help="Adam learning rate per rank (default 1e-3; x ranks)")
    train.add_argument("--warmup-epochs", type=int)
    train.add_argument("--base-filters", type=int, help="first-level filters (64 = the paper's)")
    train.add_argument("--depth", type=int, help="pooling levels (4 = the paper's)")
    train.add_argument("--seed", type=int, help="split and shuffle seed (member K initialises with seed + K)")
    train.add_argument("--split", type=float, nargs=3, metavar=("TRAIN", "VALIDATION", "TEST"),
                       help="fractions of the halos in each split (default 0.8 0.1 0.1)")
    train.add_argument("--precision", choices=PRECISIONS, help="compute policy (default fp32; bf16 on CPUs with "
                       "AVX512_BF16/AMX or GPUs; fp16 on GPUs only; auto as for inference; weights stay fp32)")
    train.add_argument("--config", help="YAML config with a 'train:' section")
    train.set_defaults(handler=_train)

    for verb, text in (("evaluate", "bundles on a training set's maps vs FP truth: MPE, pixel PDFs, profiles, "
                                    "distribution functions, Lx-M_DM relation -> PNG figures + summary.json"),
                       ("calibrate", "correction tables: true / predicted distribution functions of Lx and "
                                     "Mgas per input (FP, DMO, FP-2, FP-3) -> HDF5")):
        sub = verbs.add_parser(verb, help=text)
        sub.add_argument("--model", action="append", help="model bundle or ensemble (repeat for several targets)")
        sub.add_argument("--data", help="the full-physics training set the bundles were trained on")
        sub.add_argument("--out", help="report directory" if verb == "evaluate" else "corrections file (HDF5)")
        sub.add_argument("--split", choices=("train", "validation", "test", "all"),
                         help="halos of --data to use (default test)")
        sub.add_argument("--input", action="append", metavar="NAME=TRAINSET",
                         help="DM-only training set (e.g. dmo=..., fp2=..., fp3=...) predicted against FP truth")
        sub.add_argument("--per-dex", type=int, help="distribution-function bins per dex (default 4)")
        sub.add_argument("--snapshots", type=int, nargs="+", help="only images of these snapshots (default all)")
        _inference_arguments(sub)
        if verb == "evaluate":
            sub.add_argument("--bootstrap", type=int, help="bootstrap resamples for the scaling relation and the "
                             "MPE intervals (default 1000)")
        sub.add_argument("--config", help=f"YAML config with a '{verb}:' section")
        sub.set_defaults(handler=_evaluate if verb == "evaluate" else _calibrate)

    paint = verbs.add_parser("paint", help="DMO box -> per-halo painted Lx, Mgas, T and projected DM mass "
                             "(parallel HDF5; run under mpirun)")
    paint.add_argument("box", nargs="?", help="snapshot file, one chunk of it, or its snapdir")
    paint.add_argument("--model", action="append", help="model bundle or ensemble directory (repeat for several "
                       "targets; bundles of one target are painted as an ensemble: mean and std)")
    paint.add_argument("--out", help="painted catalog (HDF5); re-running resumes it")
    paint.add_argument("--catalog", help="group catalog (default: found from the TNG layout)")
    paint.add_argument("--min-m200c", type=float, help="halos painted: M200c above this [Msun] (default 1e14)")
    paint.add_argument("--axes", type=int, nargs="+", help="projection axes (default 0 1 2)")
    paint.add_argument("--maps", action="store_const", const=True, help="also store DM and painted maps")
    _read_strategy_arguments(paint)
    paint.add_argument("--corrections", help="correction tables from mpipaint calibrate: adds per-halo weights")
    paint.add_argument("--correction-input", help="which table of --corrections: the input kind of BOX "
                       "(default dmo; fp, fp2, fp3 ...)")
    _inference_arguments(paint)
    paint.add_argument("--batch-halos", type=int, help="halos whose maps go through a net in one call (default 1; "
                       "8-16 keep a GPU busy)")
    paint.add_argument("--config", help="YAML config with a 'paint:' section")
    paint.set_defaults(handler=_paint)
    demo = verbs.add_parser("demo", help="the whole chain on the example universe (synth ... paint, under "
                            "mpirun) and a short report; run it without mpirun")
    demo.add_argument("--out", help="working directory (default ./example)")
    demo.add_argument("--ranks", type=int, help="MPI ranks per step (default 2)")
    demo.add_argument("--epochs", type=int, help="training epochs per U-net (default 30)")
    demo.add_argument("--config", help="YAML config with a 'demo:' section")
    demo.set_defaults(handler=_demo)

    jobs = verbs.add_parser("jobs", help="SLURM job scripts from the templates in jobs/")
    render = jobs.add_subparsers(dest="action", required=True).add_parser(
        "render", help="print a batch script: mpipaint jobs render TEMPLATE --config CONFIG > job.sbatch")
    render.add_argument("template", help="select, prepare, train, paint, or a template file")
    render.add_argument("--config", help="the mpipaint config the job runs (its 'jobs:' section gives defaults)")
    render.add_argument("--nodes", type=int)
    render.add_argument("--ntasks-per-node", type=int, help="MPI ranks per node (default: GPUs per node, or 16)")
    render.add_argument("--gpus-per-node", type=int)
    render.add_argument("--cpus-per-task", type=int)
    render.add_argument("--time", help="[D-]HH:MM:SS")
    render.add_argument("--account")
    render.add_argument("--partition")
    render.add_argument("--job-name")
    render.add_argument("--launcher", choices=("srun", "mpirun"))
    render.set_defaults(handler=_jobs)

    fits = verbs.add_parser("export-fits", help="painted and DM maps of a painted catalog (paint --maps) as "
                            "FITS images, for mock-observation pipelines")
    fits.add_argument("painted", help="painted catalog written with --maps")
    which = fits.add_mutually_exclusive_group(required=True)
    which.add_argument("--halo", type=int, help="group index (halo_id) to export")
    which.add_argument("--all", action="store_true", help="every halo")
    fits.add_argument("--out", required=True, help="directory for the FITS files")
    fits.set_defaults(handler=_export_fits)
    return parser


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    if args.verb in NO_MPI_VERBS:
        _run_without_mpi(args)
    from mpipaint.parallel import run_or_abort  # noqa: PLC0415 - MPI starts only once the args are valid

    run_or_abort(args.handler, args)
    sys.exit(0)


def _run_without_mpi(args) -> None:
    try:
        args.handler(args)
    except (InputError, RuntimeError, ValueError, OSError) as exc:
        print(f"mpipaint {args.verb}: error: {exc}", file=sys.stderr)
        sys.exit(2 if isinstance(exc, InputError) else 1)
    sys.exit(0)
