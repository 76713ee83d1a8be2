"""What each verb accepts: one frozen dataclass per verb, whose fields are its options (`config.option`
gives each its flag, help and YAML key once). Apart from the verbs so that `mpipaint VERB --help` and config
checks import neither MPI nor TensorFlow (login nodes, `jobs render`)."""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from mpipaint import units as u
from mpipaint.config import Options, option
from mpipaint.halos.particles import (READ_STRATEGIES, READ_STRATEGY_HELP, SUBSAMPLE_HELP, check_subsample,
                                      read_strategy_for)
from mpipaint.io.halolists import MASS_COLUMNS
from mpipaint.io.trainingset import TARGET_MAPS
from mpipaint.maps.geometry import DEPOSITION_MODES, MapSpec, check_axes
from mpipaint.model.bundle import BACKEND_HELP, BACKENDS
from mpipaint.model.keras_env import DEFAULT_PRECISION, PRECISION_HELP, PRECISIONS, TRAINING_PRECISION
from mpipaint.sky.lightcone import SKY_KINDS, Sky

# (normalisation scheme, mask) per target when several are trained in one job: the paper's best, except gas
# without the mask. FoF-member DM maps leave pixels empty that hold gas: at 128^2 on the example 57 % of
# pixels, with 10 % of Mgas, which a masked net cannot paint (fidelity benchmark: Mgas -11.7 % masked, -5.2 %
# unmasked, same data and split). y: log minmax unmasked, by measurement (BENCHMARKS.md, "Compton-y
# normalisation"): 4.9 % of Y (median; up to 14 %) lies in DM-empty pixels at 128^2, and minmax resolves
# 0.080 dex per 0.01 of output against 4sigma's 0.105.
TARGET_RECIPES = {"xray": ("minmax", True), "gas": ("4sigma", False), "temperature": ("minmax", True),
                  "y": ("minmax", False)}


def recipes_text(targets=tuple(TARGET_RECIPES)) -> str:
    """'xray minmax + mask, gas 4sigma, ...': the recipes of `targets`, for help and errors."""
    return ", ".join(f"{t} {TARGET_RECIPES[t][0]}{' + mask' if TARGET_RECIPES[t][1] else ''}" for t in targets)

SPLITS = ("train", "validation", "test", "all")  # halos of a training set that evaluate and calibrate use
MAX_NPIX = 8192  # one image is one HDF5 chunk, which must stay below 4 GB (float64 X-ray maps: 512 MB here)
TIME_FORMAT = re.compile(r"^(\d+-)?\d{1,2}:\d{2}:\d{2}$")  # SLURM wall time
# job name, account, partition: one #SBATCH token each (a newline in one would add a line to the script)
SLURM_NAME = re.compile(r"[A-Za-z0-9_.:+-]+")
LAUNCHERS = ("srun", "mpirun")


@dataclass(frozen=True)
class SynthConfig(Options):
    """Size and cosmology of the example universe; the defaults generate in well under a minute."""

    seed: int = option(42, "random seed of the universe")
    box_size_ckpc_h: float = option(100_000.0, "comoving box side [ckpc/h]", flag="--box-size")
    hubble: float = 0.6774
    omega_m: float = 0.3089
    omega_lambda: float = 0.6911
    omega_b: float = 0.0486
    snapshots: tuple = option(((67, 0.5), (99, 0.0)), "TNG snapshot numbers to write, at their TNG redshifts "
                              "(known: 50 67 78 84 91 99)", flag="--snap", item_type=int, to_value=u.tng_snapshots,
                              shown=lambda pairs: [number for number, _ in pairs])
    halos: int = option(32, "halos per snapshot")
    min_mass: float = 5e13  # M200c range of the drawn halos [Msun]
    max_mass: float = 1.5e15
    edge_halos: int = 3  # per snapshot, centred within 0.3 R200c of a box face
    dm_particles: int = option(250_000, "DM particles in halos per snapshot (FP and DMO)")
    background_fraction: float = 0.05  # unbound particles, relative to the halo particles
    num_files: int = option(4, "chunks per snapshot and catalog", flag="--files")
    degraded: tuple = (("FP-2", 8), ("FP-3", 64))  # lower-resolution FP runs and their particle factors
    flavour: str = option("tng", "on-disk header flavour", choices=("tng", "gadget4"))

    def __post_init__(self):
        super().__post_init__()
        if self.halos < 1 or self.dm_particles < 1000 or self.num_files < 1:
            raise ValueError("halos >= 1, dm_particles >= 1000 and num_files >= 1 are required")
        if not 0 < self.min_mass < self.max_mass:
            raise ValueError(f"need 0 < min_mass < max_mass, got {self.min_mass:g}, {self.max_mass:g}")
        if self.edge_halos > self.halos:
            raise ValueError(f"edge_halos ({self.edge_halos}) cannot exceed halos ({self.halos})")

    @property
    def baryon_fraction(self) -> float:
        return self.omega_b / self.omega_m


@dataclass(frozen=True)
class SelectOptions(Options):
    """Options of `mpipaint select` (CLI flags or the `select:` section of a YAML config)."""

    source: str = option(None, "a run's output/ directory, or Rockstar list(s) comma-separated with "
                         "--catalog-type rockstar", positional=True)
    out: str = option(None, "halo table to write (HDF5)")
    snapshots: tuple = option((), "snapshot numbers (for Rockstar, one per list file)", flag="--snap",
                              item_type=int)
    min_m200c: float = option(1e14, "mass cut in Msun (on M200c, or --mass-column)")
    catalog_type: str = option("subfind", "subfind: a run's output/ directory; rockstar: catalog files of any kind "
                               "(out_*.list, halos_*.ascii, hlist_*.list, AHF_halos, VELOCIraptor properties, SOAP, "
                               "groups_NNN/; with --box where the kind needs its snapshot)",
                               choices=("subfind", "rockstar"))
    mass_column: str = option("m200c", "Rockstar lists: the mass the cut applies to", choices=MASS_COLUMNS)
    subhalos: bool = option(False, "Rockstar lists: keep subhalos too (pid != -1)")
    dmo: str = option(None, "the DMO twin's output/ directory: adds matched DMO halo ids")
    box: str = option(None, "--catalog-type rockstar: the snapshot the catalog(s) belong to, for kinds that need it "
                      "(AHF, VELOCIraptor, Gadget-III, plain tables: its box, cosmology and particle IDs)")

    def __post_init__(self):
        super().__post_init__()
        if self.source is None or self.out is None:
            raise ValueError("both 'source' and 'out' are required")
        if self.catalog_type == "subfind" and not self.snapshots:
            raise ValueError("'snapshots' is required for a subfind catalog")
        if self.min_m200c < 0:
            raise ValueError(f"min_m200c must be >= 0, got {self.min_m200c}")


@dataclass(frozen=True)
class PrepareOptions(Options):
    """Options of `mpipaint prepare` (CLI flags or the `prepare:` section of a YAML config)."""

    run: str = option(None, "the run's output/ directory", positional=True)
    halos: str = option(None, "halo table of this run (from mpipaint select)")
    out: str = option(None, "training set to write (HDF5); re-running resumes it")
    npix: int = option(512, "pixels per side")
    width: float = option(4000.0, "map width in physical kpc")
    axes: tuple = option((0, 1, 2), "projection axes, 0=x 1=y 2=z")
    deposition_mode: str = option("group", "FoF members (group) or every particle in the map's cube (cube; see "
                                  "halos/particles.py)", choices=DEPOSITION_MODES)
    read_strategy: str = option(None, READ_STRATEGY_HELP, choices=READ_STRATEGIES)
    chunk_particles: int = option(4_000_000, "slabs: particles read per rank per step")
    subsample: float = option(1.0, SUBSAMPLE_HELP)

    def __post_init__(self):
        super().__post_init__()
        read_strategy_for(self.deposition_mode, self.read_strategy)  # refused combinations; prepare chooses
        check_subsample(self.subsample)
        if not (self.run and self.halos and self.out):
            raise ValueError("'run', 'halos' and 'out' are required")
        if not 8 <= self.npix <= MAX_NPIX or self.width <= 0:
            raise ValueError(f"need 8 <= npix <= {MAX_NPIX} and width > 0, got {self.npix}, {self.width}")
        check_axes(self.axes)

    @property
    def spec(self) -> MapSpec:
        return MapSpec(self.npix, float(self.width), self.deposition_mode)


@dataclass(frozen=True)
class TrainOptions(Options):
    """Options of `mpipaint train` (CLI flags or the `train:` section of a YAML config)."""

    data: str = option(None, "training set from mpipaint prepare (full-physics run)")
    out: str = option(None, "model bundle directory; re-running resumes from its checkpoint")
    target: tuple = option(("xray",), "what the nets paint, one bundle each: OUT for one target; several are "
                           "trained one after another in this job (one start-up) into OUT/TARGET, each with its "
                           f"recipe ({recipes_text()})", choices=TARGET_MAPS)
    scheme: str = option(None, "normalisation scheme of one target's net (default minmax)",
                         choices=("minmax", "4sigma"))
    space: str = option("log", "normalisation space (linear: the paper's T_lin model)", choices=("log", "linear"))
    mask: bool = option(False, "zero the output of one target's net where the DM map is empty")
    epochs: int = option(20, "at most this many epochs (training stops earlier when the validation loss "
                         "stops improving)")
    batch_size: int = option(4, "images per rank per step")
    learning_rate: float = option(1e-3, "Adam learning rate per rank (x ranks)", flag="--lr")
    warmup_epochs: int = option(2, "epochs of linear learning-rate warm-up")
    lr_patience: int = option(4, "halve the learning rate after this many epochs without a better validation "
                              "loss")
    patience: int = option(10, "stop after this many epochs without a better validation loss at the floor "
                           "rate (0: never)")
    total_weight: float = option(0.01, "weight of the squared log10 error of each map's total in the loss "
                                 "[1/dex^2] (0: the paper's pixel MSE alone)")
    augment: bool = option(True, "random flips and 90-degree rotations of each training image (--no-augment: "
                           "none)", flag="--no-augment")
    base_filters: int = option(64, "first-level filters (64 = the paper's)")
    depth: int = option(4, "pooling levels (4 = the paper's)")
    seed: int = option(1234, "split and shuffle seed (member K initialises with seed + K)")
    members: int = option(1, "deep ensemble: train this many bundles from different initialisations into "
                          "OUT/member_K")
    split: tuple = option((0.8, 0.1, 0.1), "fractions of the halos in each split", nargs=3,
                          metavar=("TRAIN", "VALIDATION", "TEST"))
    precision: str = option(TRAINING_PRECISION, "compute policy (bf16 on CPUs with AVX512_BF16/AMX or GPUs; "
                            "fp16 on GPUs only; auto as for inference; weights stay fp32)", choices=PRECISIONS)
    # The net sees no redshift and painted Y 12 % bright at z = 0 and 4-10 % faint at z = 0.3-1 (BENCHMARKS.md);
    # 30 halos know their median log error to ~1.25 x 0.12 dex / sqrt(30) = 0.03 dex, below those offsets.
    min_halos_per_redshift: int = option(30, "calibrate the totals per training redshift where every one has at "
                                         "least this many training halos (else one offset for all)")

    def __post_init__(self):
        super().__post_init__()
        if not (self.data and self.out):
            raise ValueError("'data' and 'out' are required")
        if not self.target or len(set(self.target)) != len(self.target):
            raise ValueError(f"target must name each target once, got {self.target}")
        if len(self.target) > 1 and (self.scheme is not None or self.mask):
            raise ValueError(f"scheme and mask choose one net's variant; with several targets each takes its "
                             f"recipe ({recipes_text(self.target)}): train a target alone for another variant")
        if len(self.target) == 1 and self.scheme is None:
            object.__setattr__(self, "scheme", "minmax")
        if len(self.split) != 3 or abs(sum(self.split) - 1) > 1e-9 or min(self.split) < 0:
            raise ValueError(f"split must be three non-negative fractions summing to 1, got {self.split}")
        if (self.epochs < 1 or self.batch_size < 1 or self.learning_rate <= 0 or self.members < 1
                or self.min_halos_per_redshift < 1):
            raise ValueError("epochs, batch_size, learning_rate, members and min_halos_per_redshift must be positive")
        if self.lr_patience < 1 or self.patience < 0 or not self.total_weight >= 0:
            raise ValueError("lr_patience must be positive, patience and total_weight non-negative")

    @property
    def net_target(self) -> str:
        """The target of one net's options (those that for_each_target makes)."""
        (target,) = self.target
        return target

    def for_each_target(self) -> list[TrainOptions]:
        """One net's options per target: these options for one target, else each target's recipe into
        OUT/TARGET."""
        if len(self.target) == 1:
            return [self]
        return [replace(self, target=(t,), scheme=TARGET_RECIPES[t][0], mask=TARGET_RECIPES[t][1],
                        out=str(Path(self.out) / t)) for t in self.target]


@dataclass(frozen=True)
class EvaluateOptions(Options):
    """Options of `mpipaint evaluate` and `mpipaint calibrate` (CLI flags or their YAML sections)."""

    models: tuple = option((), "model bundle or ensemble, trained on --data (repeat for several targets)",
                           flag="--model", repeat=True)
    data: str = option(None, "the full-physics training set the bundles were trained on: DM maps and truth")
    out: str = option(None, "evaluate: report directory; calibrate: corrections file (HDF5)")
    split: str = option("test", "halos of --data to use", choices=SPLITS)
    inputs: tuple = option(None, "DM-only training set (dmo=..., fp2=..., fp3=...) predicted against FP truth "
                           "(YAML: a mapping name -> path)", flag="--input", repeat=True, metavar="NAME=TRAINSET")
    per_dex: int = option(4, "distribution-function bins per dex")
    profile_bins: int = 20
    pdf_bins: int = 50
    bootstrap: int = option(1000, "bootstrap resamples for the scaling relation and the MPE intervals",
                            verbs=("evaluate",))
    snapshots: tuple = option(None, "only images of these snapshots (default all; e.g. calibrate on some, check "
                              "on another)", item_type=int, nargs="+")
    precision: str = option(DEFAULT_PRECISION, PRECISION_HELP, choices=PRECISIONS)
    backend: str = option("tf", BACKEND_HELP, choices=BACKENDS)

    def __post_init__(self):
        super().__post_init__()
        inputs = self.inputs or ()
        if isinstance(inputs, dict):  # YAML: {dmo: path, fp2: path}
            inputs = [f"{k}={v}" for k, v in inputs.items()]
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"inputs must be NAME=TRAINSET items or a mapping, got {inputs!r}")
        object.__setattr__(self, "inputs", tuple(str(item) for item in inputs))
        if self.snapshots is not None:
            object.__setattr__(self, "snapshots", tuple(int(n) for n in self.snapshots))
        if not (self.models and self.data and self.out):
            raise ValueError("'models', 'data' and 'out' are required")
        for item in self.inputs:
            if item.count("=") != 1 or not all(item.split("=")):
                raise ValueError(f"inputs are NAME=TRAINSET, got {item!r}")
        if self.per_dex < 1 or self.profile_bins < 1 or self.pdf_bins < 1 or self.bootstrap < 0:
            raise ValueError("per_dex, profile_bins and pdf_bins must be positive, bootstrap >= 0")

    def named_inputs(self) -> dict[str, str]:
        return dict(item.split("=") for item in self.inputs)


@dataclass(frozen=True)
class PaintOptions(Options):
    """Options of `mpipaint paint` (CLI flags or the `paint:` section of a YAML config)."""

    box: str = option(None, "snapshot file, one chunk of it, or its snapdir", positional=True)
    models: tuple = option((), "model bundle or ensemble directory (repeat for several targets; bundles of one "
                           "target are painted as an ensemble: mean and std; default: every bundle in the "
                           "directory $MPIPAINT_MODELS)", flag="--model", repeat=True)
    out: str = option(None, "painted catalog (HDF5; default BOXNAME_painted.hdf5 here); re-running resumes it")
    catalog: str = option(None, "halos: a group catalog, a halo table from mpipaint select, a Rockstar / "
                          "consistent-trees list, or a plain CSV/HDF5 table with units (default: the group catalog "
                          "beside BOX in the TNG layout)")
    min_m200c: float = option(1e14, "halos painted: M200c (or --mass-column) above this [Msun]")
    mass_column: str = option("m200c", "Rockstar lists: the mass the cut applies to", choices=MASS_COLUMNS)
    axes: tuple = option((0, 1, 2), "projection axes, 0=x 1=y 2=z")
    maps: bool = option(False, "also store DM and painted maps")
    read_strategy: str = option(None, READ_STRATEGY_HELP, choices=READ_STRATEGIES)
    chunk_particles: int = option(4_000_000, "slabs: particles read per rank per step")
    corrections: str = option(None, "correction tables from mpipaint calibrate: adds per-halo weights")
    correction_input: str = option("dmo", "which table of --corrections: the input kind of BOX (dmo, fp, fp2, "
                                   "fp3 ...)")
    precision: str = option(DEFAULT_PRECISION, PRECISION_HELP, choices=PRECISIONS)
    backend: str = option("tf", BACKEND_HELP, choices=BACKENDS)
    batch_halos: int = option(1, "halos whose maps go through a net in one call (8-16 keep a GPU busy)")
    subsample: float = option(1.0, SUBSAMPLE_HELP)

    def __post_init__(self):
        super().__post_init__()
        if self.batch_halos < 1:
            raise ValueError(f"batch_halos must be at least 1, not {self.batch_halos}")
        if self.chunk_particles < 1:
            raise ValueError("chunk_particles must be positive")
        if not self.box:
            raise ValueError("'box' is required")
        check_subsample(self.subsample)
        check_axes(self.axes)


@dataclass(frozen=True)
class LightconeOptions(Options):
    """Options of `mpipaint lightcone` (CLI flags or the `lightcone:` section of a YAML config)."""

    painted: tuple = option((), "painted catalogs of snapshots of one box (mpipaint paint)", positional=True,
                            nargs="+")
    out: str = option(None, "light-cone catalog (HDF5)")
    halos: str = option(None, "your own light-cone halo list (CSV or HDF5: ra [deg], dec [deg], z, snapshot, halo_id) "
                        "joined to the painted catalogs instead of tiling the box; --zmax must reach its highest z")
    observer: tuple = option((0.0, 0.0, 0.0), "observer's position in box units (0..1)", nargs=3, item_type=float,
                             metavar=("X", "Y", "Z"))
    zmin: float = option(0.0, "lowest cosmological redshift kept")
    zmax: float = option(1.0, "highest cosmological redshift kept")
    sky: str = option("full", "full sky, the octant x, y, z >= 0, or the cone of --cone", choices=SKY_KINDS)
    cone: tuple = option(None, "a cone of the sky: centre RA DEC and radius [deg] (sets --sky cone)", nargs=3,
                         item_type=float, metavar=("RA", "DEC", "RADIUS_DEG"))
    shuffle_replicas: int = option(None, "seed of random axis permutations and reflections per replica (none: "
                                   "every replica is the box)", item_type=int)
    band: tuple = option((0.5, 2.0), "observer-frame X-ray band [keV] of flux_x and rate", nargs=2, item_type=float,
                         metavar=("E1", "E2"))
    nh: float = option(0.0, "Galactic hydrogen column [cm^-2] (tbabs): adds flux_x_absorbed")
    arf: str = option(None, "an instrument's OGIP ARF file: adds the count rate `rate` [counts/s]")
    healpix: int = option(None, "also write HEALPix maps of X-ray surface brightness and halo counts at this "
                          "NSIDE (OUT_healpix.fits)", item_type=int)
    draws: int = option(0, "seeded lognormal realisations of every painted quantity per halo")
    seed: int = option(0, "seed of the realisations")
    sky_region: Sky = None  # from sky and cone

    def __post_init__(self):
        super().__post_init__()
        if not (self.painted and self.out):
            raise ValueError("'painted' (at least one catalog) and 'out' are required")
        if not 0.0 <= self.zmin < self.zmax:
            raise ValueError(f"need 0 <= zmin < zmax, got {self.zmin}, {self.zmax}")
        if not all(0.0 <= x <= 1.0 for x in self.observer) or len(self.observer) != 3:
            raise ValueError(f"observer must be three coordinates in box units 0..1, got {self.observer}")
        if self.draws < 0:
            raise ValueError(f"draws must be >= 0, got {self.draws}")
        if self.healpix is not None and not (self.healpix >= 1 and self.healpix & (self.healpix - 1) == 0):
            raise ValueError(f"healpix: NSIDE must be a power of 2, got {self.healpix}")
        if self.cone is not None:
            object.__setattr__(self, "sky", "cone")
        object.__setattr__(self, "sky_region", Sky(self.sky, *(self.cone or (0.0, 0.0, 180.0))))  # checks it


@dataclass(frozen=True)
class ExportSimputOptions(Options):
    """Options of `mpipaint export-simput` (CLI flags or the `export-simput:` section of a YAML config)."""

    lightcone: str = option(None, "light-cone catalog from mpipaint lightcone", positional=True)
    out: str = option(None, "SIMPUT file to write")
    flux_min: float = option(0.0, "sources with the light-cone's observed flux at least this [erg/s/cm^2]")
    images: bool = option(True, "each source's painted X-ray map as its SIMPUT image, where the light-cone's "
                                "painted catalogs have maps (paint --maps); --no-images: point sources")
    rebin: int = option(1, "sum K x K blocks of each painted map into one image pixel (K divides npix)")
    painted: tuple = option((), "the painted catalogs, where they are no longer at the paths the light-cone "
                                "names", nargs="+")

    def __post_init__(self):
        super().__post_init__()
        if not (self.lightcone and self.out):
            raise ValueError("'lightcone' and 'out' are required")
        if not self.flux_min >= 0:
            raise ValueError(f"flux_min must be >= 0, got {self.flux_min}")
        if not self.rebin >= 1:
            raise ValueError(f"rebin must be >= 1, got {self.rebin}")


@dataclass(frozen=True)
class DemoOptions(Options):
    """Options of `mpipaint demo` (CLI flags or the `demo:` section of a YAML config)."""

    out: str = option("example", "working directory")
    ranks: int = option(2, "MPI ranks per step")
    seed: int = 42
    halos: int = 32  # per snapshot
    dm_particles: int = 250_000
    snapshots: tuple = (67, 99)
    paint_snapshot: int = 99
    min_m200c: float = 1e14  # Msun
    npix: int = 64  # the paper's 512 is minutes per image on 2 cores
    base_filters: int = 8  # the paper's U-net: 64 wide, 4 deep
    depth: int = 3
    epochs: int = option(30, "training epochs per U-net (at most; training stops when the validation loss "
                         "stops improving)")
    batch_size: int = 2  # per rank: about 14 steps per epoch on the example's ~55 training maps
    learning_rate: float = 1e-3  # per rank
    patience: int = 10
    members: int = 1  # ensemble members per target (per-halo uncertainties from 2 on)
    total_weight: float = 0.01  # train: weight of the map-total term of the loss
    split: tuple = (0.8, 0.1, 0.1)  # train/validation/test fractions of the halos
    targets: tuple = ("xray", "gas", "temperature", "y")

    def __post_init__(self):
        super().__post_init__()
        if self.ranks < 1 or self.epochs < 1 or self.npix < 16:
            raise ValueError("need ranks >= 1, epochs >= 1 and npix >= 16")
        if not set(self.targets) <= set(TARGET_MAPS) or not self.targets:
            raise ValueError(f"targets must be among {TARGET_MAPS}, got {self.targets}")
        if self.paint_snapshot not in self.snapshots or len(self.snapshots) < 2:
            raise ValueError(f"paint_snapshot {self.paint_snapshot} must be one of at least two snapshots "
                             f"{self.snapshots}: the others calibrate the corrections it is checked with")
        if self.members < 1:
            raise ValueError("members must be at least 1")



@dataclass(frozen=True)
class JobOptions(Options):
    """Values for a job template (CLI flags or the `jobs:` section of a YAML config)."""

    template: str = option(None, "select, prepare, train, paint, or a template file", positional=True)
    config: str = None  # the mpipaint config the job runs with (the command's --config)
    nodes: int = option(1, "nodes")
    ntasks_per_node: int = option(None, "MPI ranks per node (default: GPUs per node, or 16)", item_type=int)
    gpus_per_node: int = option(0, "GPUs per node")
    cpus_per_task: int = option(1, "cores per MPI rank")
    time: str = option("01:00:00", "wall-time limit, [D-]HH:MM:SS")
    account: str = option(None, "SLURM account")
    partition: str = option(None, "SLURM partition")
    job_name: str = option(None, "job name (default: mpipaint-TEMPLATE)")
    modules: tuple = ()  # `module load` these, in order
    setup: tuple = ()  # shell lines run before mpipaint (e.g. "source ~/venvs/mpipaint/bin/activate")
    launcher: str = option("srun", "what starts the MPI ranks", choices=LAUNCHERS)
    stop_before_s: int = option(120, "paint, prepare and train: seconds before the time limit that SLURM sends "
                                "SIGUSR1, on which they stop resumably and the job requeues itself")
    args: str = option(None, "more flags for the job's mpipaint command, as one quoted string that wins over the "
                       "config (e.g. \"--target y --out bundles/y\": one config, a job per target)")

    def __post_init__(self):
        super().__post_init__()
        if not (self.template and self.config):
            raise ValueError("'template' and 'config' are required")
        if self.nodes < 1 or self.gpus_per_node < 0 or self.cpus_per_task < 1 or self.stop_before_s < 1:
            raise ValueError("need nodes >= 1, gpus_per_node >= 0, cpus_per_task >= 1 and stop_before_s >= 1")
        if self.ntasks_per_node is not None and self.ntasks_per_node < 1:
            raise ValueError("ntasks_per_node must be >= 1")
        if not TIME_FORMAT.match(str(self.time)):
            raise ValueError(f"time must be [D-]HH:MM:SS, got {self.time!r}")
        for key in ("job_name", "account", "partition"):
            value = getattr(self, key)
            if value is not None and not SLURM_NAME.fullmatch(str(value)):
                raise ValueError(f"{key} may hold letters, digits and _.:+- only, got {value!r}")
