"""`mpipaint demo`: the whole chain on the example universe, as the commands a user would type.

synth -> select (FP with its DMO match, DMO, FP-2, FP-3) -> prepare (FP maps; DM maps of DMO, FP-2, FP-3)
-> train (one small U-net per target, one Horovod job) -> evaluate (test split; DMO, FP-2, FP-3 inputs) ->
calibrate (correction tables, on every snapshot but the painted one) -> paint (the DMO box at the held-out
snapshot, with DMO corrections) -> report. Every MPI step runs under `mpirun -n RANKS`. The report gives
each target's MPE with its 68 % bootstrap interval over test halos, the Lx-M_DM relation predicted vs true,
the ensemble's uncertainty coverage, how many low-resolution maps were out of range, and the corrected DMO
distribution functions at the held-out snapshot against the FP truth within Poisson errors. The fidelity
benchmark (benchmarks/bench_fidelity.py) is this chain at a size that gives statistics.
"""
from __future__ import annotations

import json
import logging
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from mpipaint.errors import InputError
from mpipaint.io.lightcone import LightconeCatalog
from mpipaint.io.painted import PaintedCatalog
from mpipaint.io.trainingset import TrainingSet
from mpipaint.options import TARGET_RECIPES, DemoOptions
from mpipaint.science import corrections, stats
from mpipaint.science.evaluation import corrected_against_truth
from mpipaint.science.summaries import totals


def get_logger() -> logging.Logger:
    """The demo's own logger: the demo process stays out of MPI, so its mpirun children start clean."""
    logger = logging.getLogger("mpipaint.demo")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[demo] %(asctime)s %(message)s", datefmt="%H:%M:%S"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


LOWER_RESOLUTION = ("DMO", "FP-2", "FP-3")


class Chain:
    """Runs and logs each step's command line, stopping at the first that fails."""

    def __init__(self, options: DemoOptions):
        self.options, self.log = options, get_logger()
        self.mpirun = shutil.which("mpirun")
        if self.mpirun is None:
            raise InputError("mpirun not found: install Open MPI (scripts/install.sh) to run the demo")

    def __call__(self, *args, mpi=True):
        base = [sys.executable, "-m", "mpipaint", *map(str, args)]
        command = [self.mpirun, "-n", str(self.options.ranks), "--oversubscribe", *base] if mpi else base
        self.log.info("$ %s", shlex.join(["mpirun", "-n", str(self.options.ranks), "mpipaint", *map(str, args)]
                                         if mpi else ["mpipaint", *map(str, args)]))
        start = time.monotonic()
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            sys.stderr.write(result.stdout + result.stderr)
            raise RuntimeError(f"demo step 'mpipaint {args[0]}' failed with exit code {result.returncode}")
        self.log.info("  done in %.1f s", time.monotonic() - start)
        return result


def run_demo(options: DemoOptions) -> None:
    out, o = Path(options.out), options
    run, log = Chain(options), get_logger()
    started = time.monotonic()
    universe, snaps = out / "universe", [str(s) for s in o.snapshots]
    run("synth", "--out", universe, "--seed", o.seed, "--halos", o.halos, "--dm-particles", o.dm_particles,
        "--snap", *snaps, mpi=False)
    run("select", universe / "FP" / "output", "--snap", *snaps, "--min-m200c", f"{o.min_m200c:g}",
        "--dmo", universe / "DMO" / "output", "--out", out / "halos_fp.hdf5")
    run("prepare", universe / "FP" / "output", "--halos", out / "halos_fp.hdf5", "--npix", o.npix,
        "--out", out / "maps_fp.hdf5")
    for run_name in LOWER_RESOLUTION:
        key = input_key(run_name)
        run("select", universe / run_name / "output", "--snap", *snaps, "--min-m200c", f"{o.min_m200c:g}",
            "--out", out / f"halos_{key}.hdf5")
        run("prepare", universe / run_name / "output", "--halos", out / f"halos_{key}.hdf5", "--npix", o.npix,
            "--out", out / f"maps_{key}.hdf5")
    bundles = out / "bundles"
    for target in o.targets:
        shutil.rmtree(bundles / target, ignore_errors=True)
    # every target in one Horovod job (one TensorFlow start-up), each with its recipe into bundles/TARGET; a
    # target alone gets its recipe as flags and --out is its bundle
    if len(o.targets) == 1:
        scheme, mask = TARGET_RECIPES[o.targets[0]]
        bundle_flags = [bundles / o.targets[0], "--scheme", scheme, *(["--mask"] if mask else [])]
    else:
        bundle_flags = [bundles]
    run("train", "--data", out / "maps_fp.hdf5", "--out", *bundle_flags,
        "--target", *o.targets, "--base-filters", o.base_filters, "--depth", o.depth,
        "--epochs", o.epochs, "--batch-size", o.batch_size, "--lr", o.learning_rate, "--patience", o.patience,
        "--members", o.members, "--total-weight", o.total_weight, "--split", *o.split, "--seed", o.seed)
    run("evaluate", *model_args(o), "--data", out / "maps_fp.hdf5", "--split", "test", *input_args(o),
        "--out", out / "report")
    painted = calibrate_and_paint(run, o, o.paint_snapshot)
    lightcone = None
    if FLUX_TARGETS <= set(o.targets):
        lightcone = out / "lightcone.hdf5"
        lightcone.unlink(missing_ok=True)
        run("lightcone", painted, "--out", lightcone, "--zmax", f"{LIGHTCONE_ZMAX:g}", "--shuffle-replicas", o.seed)
    report = write_report(out, painted, o, time.monotonic() - started, lightcone)
    for line in report["lines"]:
        print(line)
    log.info("demo finished in %.0f s; report in %s", time.monotonic() - started, out / "report")


def model_args(o: DemoOptions) -> list:
    return [arg for target in o.targets for arg in ("--model", Path(o.out) / "bundles" / target)]


def input_key(run_name: str) -> str:
    """'FP-2' -> 'fp2': the name of a lower-resolution run's files and of its --input."""
    return run_name.lower().replace("-", "")


def input_args(o: DemoOptions, runs=LOWER_RESOLUTION) -> list:
    """--input NAME=MAPS for the DM maps of each of `runs`."""
    keys = [input_key(run_name) for run_name in runs]
    return [arg for key in keys for arg in ("--input", f"{key}={Path(o.out) / f'maps_{key}.hdf5'}")]


def calibrate_and_paint(run: Chain, o: DemoOptions, snapshot: int, input_runs=LOWER_RESOLUTION) -> Path:
    """Correction tables for `input_runs` (DMO among them) from every snapshot but `snapshot`, then the DMO
    box painted there with them: the painted catalog's path."""
    out = Path(o.out)
    name = "corrections.hdf5" if snapshot == o.paint_snapshot else f"corrections_without_{snapshot:03d}.hdf5"
    tables = out / name
    run("calibrate", *model_args(o), "--data", out / "maps_fp.hdf5", "--split", "all", *input_args(o, input_runs),
        "--snapshots", *[s for s in o.snapshots if s != snapshot], "--out", tables)
    painted = out / f"painted_dmo_{snapshot:03d}.hdf5"
    painted.unlink(missing_ok=True)
    run("paint", out / "universe" / "DMO" / "output" / f"snapdir_{snapshot:03d}", *model_args(o), "--out", painted,
        "--min-m200c", f"{o.min_m200c:g}", "--corrections", tables, "--correction-input", "dmo")
    return painted


def corrected_agreement(painted_path, truth_path, snapshot: int, quantity: str, target: str, per_dex: int):
    """phi of the painted DMO catalog, raw and corrected, against the FP truth at the same snapshot."""
    with PaintedCatalog(painted_path) as painted:  # per halo: the mean over projections, as in calibrate
        values, weights = painted.per_halo(quantity), painted.per_halo(f"{quantity}_weight")
        sigma = painted.per_halo(f"{quantity}_sigma_dex") if f"{quantity}_sigma_dex" in painted else 0.0
        box, z = painted.box_size_kpc, float(painted.column("redshift")[0])
        flagged = int(painted.column("out_of_range").any(axis=1).sum())
        naxes = len(painted.axes)
    with TrainingSet(truth_path) as truth_set:
        here = np.flatnonzero(truth_set.column("snapshot") == snapshot)
        per_image = totals(target, truth_set.images(target, here), truth_set.images("dm", here),
                           truth_set.spec.pixel_area)
    truth = per_image.reshape(-1, naxes).mean(axis=1)  # images are stored halo by halo, axes innermost
    return {**corrected_against_truth(values, weights, sigma, truth, stats.comoving_volume_mpc3(box, z, 1), per_dex),
            "halos_flagged_out_of_range": flagged}


def _interval(values: dict, key: str) -> str:
    low, high = values[f"{key}_interval"]
    return f"{values[f'{key}_percent']:+.1f} % [{low:+.1f}, {high:+.1f}]"


RELATION_NAMES = {"lx": "Lx", "y_int": "Y"}  # how the report names a scaling relation's quantity


def report_lines(evaluation: dict, agreement: dict, paint_snapshot: int) -> list[str]:
    """The science part of the report: MPEs with intervals, the Lx-M_DM and Y-M_DM relations, uncertainty
    coverage, out-of-range inputs and the corrected DMO distribution functions on the held-out snapshot."""
    lines = []
    for target, values in evaluation["targets"].items():
        lines.append(f"  {target}: MPE of {values['quantity']}: median {_interval(values, 'mpe_median')}, mean "
                     f"{_interval(values, 'mpe_mean')} (68 % bootstrap over {values['halos']} test halos, "
                     f"{values['images']} images)")
        if len(values.get("mpe_by_snapshot", ())) > 1:
            lines.append("    median per snapshot: " + "; ".join(f"z = {v['redshift']:.2f}: {_interval(v, 'mpe_median')} "
                                                             f"({v['halos']})" for v in values["mpe_by_snapshot"]))
        if "uncertainty" in values:
            u = values["uncertainty"]
            ensemble, total = u["ensemble"], u["with_residual"]
            spread = (f"ensemble of {values['members']} alone {100 * ensemble['fraction_within_1sigma']:.0f} +- "
                      f"{100 * ensemble['error']:.0f} % (median sigma {ensemble['median_sigma']:.3f} dex); "
                      if values["members"] > 1 else "")
            lines.append(f"    truth within +-1 sigma of {total['count']} test halos: {spread}with the validation "
                         f"halos' residual scatter ({u['residual_scatter_dex']:.3f} dex) "
                         f"{100 * total['fraction_within_1sigma']:.0f} +- {100 * total['error']:.0f} %")
    for quantity, relation in evaluation.get("scaling_relation", {}).items():
        if "slope" in relation.get("true", {}) and "slope" in relation.get("fp", {}):
            true, fp, name = relation["true"], relation["fp"], RELATION_NAMES.get(quantity, quantity)
            lines.append(f"  {name}-M_DM on test images (log10 {name} at M_DM = {true['pivot']:.0e} Msun, slope, "
                         f"scatter): {fp['norm']:.2f} +- {fp['norm_error']:.2f}, {fp['slope']:.2f} +- "
                         f"{fp['slope_error']:.2f}, {fp['scatter']:.3f} dex; true {true['norm']:.2f} +- "
                         f"{true['norm_error']:.2f}, {true['slope']:.2f} +- {true['slope_error']:.2f}, "
                         f"{true['scatter']:.3f} dex (scatter ratio {fp['scatter'] / true['scatter']:.2f}"
                         + (f"; a painted population {fp['scatter_of_population'] / true['scatter']:.2f}, each "
                            f"value spread by the {fp['population_spread_dex']:.3f} dex the net misses on "
                            "training and validation halos" if "scatter_of_population" in fp else "") + ")")
    for name, diagnostics in evaluation.get("range_diagnostics", {}).items():
        against = diagnostics.get("lx_vs_true_relation", {})
        extra = (f"; unflagged Lx beyond 3x the true Lx-M_DM relation: {against['unflagged_beyond_factor_3']}/"
                 f"{against['unflagged_images']}") if against else ""
        lines.append(f"  {name} maps out of the trained range: {100 * diagnostics['flagged_fraction']:.0f} % of "
                     f"{diagnostics['images']}{extra}")
    for quantity, check in agreement.items():
        lines.append(f"  phi({quantity}) from DMO maps at held-out snapshot {paint_snapshot}, spread by sigma_dex and "
                     "corrected: "
                     f"{check['bins_within_poisson']}/{check['bins']} bins within 1 sigma (Poisson) of FP truth, "
                     f"chi2 {check['chi2']:.1f} for {check['bins']} bins (p = {check['p_value']:.2f}); "
                     f"{check['halos_outside_calibration']}/{check['halos']} halos outside the calibrated range, "
                     f"{check['halos_flagged_out_of_range']} flagged out of range")
    return lines


LIGHTCONE_ZMAX = 0.2  # the demo's full-sky light-cone: its one painted snapshot fills every shell
FLUX_LIMITS = (1e-13, 1e-12, 1e-11)  # erg/s/cm^2, 0.5-2 keV: eROSITA's all-sky survey reaches ~5e-14
FLUX_TARGETS = {"xray", "temperature"}  # an observed flux needs Lx and the temperature of its K-correction


def lightcone_lines(path: Path | None, report: Path) -> list[str]:
    """The light-cone's halo count and N(> S) per square degree (logN-logS) at FLUX_LIMITS; its figures.
    `path` None: no light-cone was built (targets without an observed flux)."""
    from mpipaint.plots import lightcone_figures  # noqa: PLC0415 - matplotlib only for the report

    if path is None:
        return [f"  no light-cone: its fluxes need the targets {sorted(FLUX_TARGETS)}"]
    with LightconeCatalog(path) as lc:
        columns = {name: lc.column(name) for name in ("z_cos", "flux_x", "ra", "dec")}
        solid_angle = float(lc.file.attrs["sky_solid_angle_sr"])
    lightcone_figures(columns, solid_angle, report)
    flux, area_deg2 = columns["flux_x"], solid_angle * (180 / np.pi) ** 2
    counts = ", ".join(f"{(flux >= s).sum() / area_deg2:.3g} (>{s:.0e})" for s in FLUX_LIMITS)
    return [f"  light-cone to z = {LIGHTCONE_ZMAX:g}, full sky, the one painted snapshot tiled: {len(flux)} halos "
            f"on the sky; N(>S) per deg^2 at S [erg/s/cm^2, observed 0.5-2 keV]: {counts}"]


def write_report(out: Path, painted: Path, o: DemoOptions, seconds: float, lightcone: Path | None) -> dict:
    evaluation = json.loads((out / "report" / "summary.json").read_text())
    agreement = {}
    for target, (quantity, _) in corrections.QUANTITIES.items():
        if target in o.targets:
            agreement[quantity] = corrected_agreement(painted, out / "maps_fp.hdf5", o.paint_snapshot, quantity,
                                                      target, 4)
    halos = max(v["halos"] for v in evaluation["targets"].values())
    lines = [f"mpipaint demo on the example universe ({seconds:.0f} s, {o.ranks} ranks, {o.npix}^2 maps, "
             f"U-net base {o.base_filters} depth {o.depth}, at most {o.epochs} epochs, {o.members} member(s) per "
             "target):", *report_lines(evaluation, agreement, o.paint_snapshot),
             *lightcone_lines(lightcone, out / "report"),
             f"  figures and summary.json: {out / 'report'}; painted catalog: {painted}; "
             f"corrections: {out / 'corrections.hdf5'}",
             f"  What this can show: the chain runs end to end and the errors are those of this small net on "
             f"{halos} test halos, with their sampling intervals. What it cannot: the paper's accuracy at "
             "512^2 with the full U-net on TNG300 (see BENCHMARKS.md, fidelity benchmark)."]
    keep = ("quantity", "units", "mpe_median_percent", "mpe_median_interval", "mpe_mean_percent",
            "mpe_mean_interval", "images", "halos", "members", "uncertainty", "mpe_by_snapshot")
    report = {"evaluation": {t: {k: v[k] for k in keep if k in v} for t, v in evaluation["targets"].items()},
              "scaling_relation": {k: v for k, v in evaluation.get("scaling_relation", {}).items()},
              "range_diagnostics": evaluation.get("range_diagnostics", {}),
              "agreement_after_correction": agreement, "lines": lines, "seconds": seconds,
              "options": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(o).items()}}
    (out / "report" / "demo_summary.json").write_text(json.dumps(report, indent=1, sort_keys=True, default=str))
    return report
