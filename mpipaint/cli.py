"""The `mpipaint` command: argument parsing only; each verb calls into its module.

Each verb's flags come from its options dataclass in `options` (`config.option`: one declaration gives the
flag, its help with the default, and the YAML key); a verb's module (and with it MPI or TensorFlow) is
imported only to run it, so `--help` and argument errors work on a login node."""
from __future__ import annotations

import argparse
import gc
import importlib
import sys

from mpipaint import __version__
from mpipaint import options as verb_options
from mpipaint.config import add_options, cli_values, section
from mpipaint.errors import InputError

CONFIG_SECTIONS = ("synth", "select", "prepare", "train", "evaluate", "calibrate", "paint", "lightcone",
                   "export-simput", "demo", "jobs")
# these never start MPI (login nodes; the demo launches mpirun)
NO_MPI_VERBS = ("demo", "jobs", "export-fits", "export-simput")
VERBS = {  # verb -> (help, module, class in `options`, function of the module run with the options)
    "synth": ("write the example universe (FP, DMO, FP-2, FP-3) in TNG layout", "example.synth", "SynthConfig",
              None),
    "select": ("halo catalog -> halo table (mass cut, centres, offsets, DMO match)", "select", "SelectOptions",
               "run_select"),
    "prepare": ("run + halo table -> training-set HDF5 of projected maps (DM; hot gas, Mazzotta T and 0.5-2 keV "
                "X-ray for a full-physics run)", "prepare", "PrepareOptions", "run_prepare"),
    "train": ("Horovod data-parallel U-net training -> model bundle (run under horovodrun or mpirun)",
              "train", "TrainOptions", "run_train"),
    "evaluate": ("bundles on a training set's maps vs FP truth: MPE, pixel PDFs, profiles, distribution "
                 "functions, Lx-M_DM relation -> PNG figures + summary.json", "evaluate", "EvaluateOptions",
                 "run_evaluate"),
    "calibrate": ("correction tables: true / predicted distribution functions of Lx and Mgas per input (FP, "
                  "DMO, FP-2, FP-3) -> HDF5", "evaluate", "EvaluateOptions", "run_calibrate"),
    "paint": ("DMO box -> per-halo painted Lx, Mgas, T and projected DM mass (parallel HDF5; run under mpirun)",
              "paint", "PaintOptions", "run_paint"),
    "lightcone": ("painted catalogs of several snapshots -> light-cone catalog (ra, dec, z, observed-frame "
                  "X-ray flux, realisations; run under mpirun)", "lightcone", "LightconeOptions", "run_lightcone"),
    "export-simput": ("light-cone catalog -> SIMPUT 1.1 file of its clusters for SIXTE and SOXS",
                      "export_simput", "ExportSimputOptions", "export_simput"),
    "demo": ("the whole chain on the example universe (synth ... paint, under mpirun) and a short report; run "
             "it without mpirun", "demo", "DemoOptions", "run_demo"),
}


def _options_class(verb):
    return getattr(verb_options, VERBS[verb][2])


def _run_verb(args):
    """Options from the config's section for the verb, overridden by the flags given; then the verb."""
    _, module, _, function = VERBS[args.verb]
    options_class = _options_class(args.verb)
    options = section(args.config, args.verb, options_class, cli_values(args, options_class, args.verb),
                      CONFIG_SECTIONS)
    if args.verb == "synth":
        from mpipaint.example.synth import generate  # noqa: PLC0415

        generate(options, args.out)
        return
    getattr(importlib.import_module(f"mpipaint.{module}"), function)(options)


def _jobs(args):
    from mpipaint.jobs import render  # noqa: PLC0415

    if args.config is None:
        raise InputError("jobs render needs --config: the config the job runs with (and its 'jobs:' values)")
    values = {**cli_values(args, verb_options.JobOptions), "config": args.config}
    sys.stdout.write(render(section(args.config, "jobs", verb_options.JobOptions, values, CONFIG_SECTIONS)))


def _export_fits(args):
    from mpipaint.export import export_fits  # noqa: PLC0415

    written = export_fits(args.painted, args.out, None if args.all else args.halo)
    print(f"wrote {len(written)} FITS files to {args.out}", file=sys.stderr)


def build_parser(argv=None) -> argparse.ArgumentParser:
    """The parser: every verb listed, the flags of the verb named in `argv` (no verb module imported)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    chosen = next((a for a in argv if a in (*VERBS, "jobs", "export-fits")), None)
    parser = argparse.ArgumentParser(prog="mpipaint", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"mpipaint {__version__}")
    verbs = parser.add_subparsers(dest="verb", required=True)
    for verb, (text, *_) in VERBS.items():
        sub = verbs.add_parser(verb, help=text, description=text)
        sub.set_defaults(handler=_run_verb)
        if verb != chosen:
            continue
        if verb == "synth":
            sub.add_argument("--out", required=True, help="directory to write the runs into")
        add_options(sub, _options_class(verb), verb)
        sub.add_argument("--config", help=f"YAML config with a '{verb}:' section")

    jobs = verbs.add_parser("jobs", help="SLURM job scripts from the templates in jobs/")
    render = jobs.add_subparsers(dest="action", required=True).add_parser(
        "render", help="print a batch script: mpipaint jobs render TEMPLATE --config CONFIG > job.sbatch")
    if chosen == "jobs":
        add_options(render, verb_options.JobOptions)
        render.add_argument("--config", help="the mpipaint config the job runs (its 'jobs:' section gives "
                            "defaults)")
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


# Importing TensorFlow, tf-keras and Horovod leaves ~0.4 million objects that live as long as the process; at
# Python's default thresholds (700, 10, 10) the cyclic collector ran 903 + 82 + 6 passes over them during the
# import: 7.5 s against 5.5 with these (benchmarks/bench_startup.py), on every rank that paints or trains. Young
# garbage is still collected, every 100,000 allocations instead of 700.
COLLECTOR_THRESHOLDS = (100_000, 50, 100)


def main(argv=None) -> None:
    gc.set_threshold(*COLLECTOR_THRESHOLDS)
    args = build_parser(argv).parse_args(argv)
    if args.verb in NO_MPI_VERBS:
        _run_without_mpi(args)
    from mpipaint.parallel import run_or_abort  # noqa: PLC0415 - the verbs above never start MPI

    run_or_abort(args.handler, args)
    sys.exit(0)


def _run_without_mpi(args) -> None:
    try:
        args.handler(args)
    except (InputError, RuntimeError, ValueError, OSError) as exc:
        print(f"mpipaint {args.verb}: error: {exc}", file=sys.stderr)
        sys.exit(2 if isinstance(exc, InputError) else 1)
    sys.exit(0)
