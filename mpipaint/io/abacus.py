"""AbacusSummit: CompaSO halo catalogs and their particle subsamples, read with the suite's own maintained
reader, abacusutils (`pip install mpipaint[abacus]`), from a redshift directory `halos/zX.XXX/`
(`halo_info/halo_info_NNN.asdf` with `halo_rv_A/`, `halo_rv_B/`, `halo_pid_A/`, `halo_pid_B/` beside it).

The suite's conventions, made explicit here:
- positions are comoving Mpc/h in a box centred on zero ([-L/2, L/2)); they are shifted by L/2 into [0, L);
  velocities are peculiar km/s;
- the halo centre is the centre of mass of the L2 (innermost) subhalo, `x_L2com`, as the suite recommends;
- there is no M200c: the CompaSO mass, N x ParticleMassHMsun (an SO-based halo at the L1 density threshold,
  SODensityL1 x the mean density), stands in for it and is named so (`m200c_definition`); R200c follows
  from it; catalogs are read uncleaned (the cleaning files are a separate download);
- the header gives the cosmology (H0, Omega_M, Omega_DE), the time and the box.

Particles: the halos' A and B subsamples (ParticleSubsampleA + ParticleSubsampleB of each halo's particles,
3 + 7 % in AbacusSummit) as a snapshot of DM particles stored halo by halo, one chunk per superslab file,
each halo's A particles followed by its B particles, so that `group` deposition reads a halo's subsample as
an index range (`npstartA/npoutA`, `npstartB/npoutB`). Every particle weighs ParticleMassHMsun / (A + B
fraction); the snapshot says so (`subsample_fraction` in its header), painted files record it and flag
rows against bundles trained on denser runs. Field particles (not in halos) are not in it, so `cube` maps
are refused there; they come from a full timeslice (`slices/zX.XXX/`, TIMESLICE), every particle once.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path

import numpy as np

from mpipaint import units as u
from mpipaint.cosmology import Cosmology
from mpipaint.errors import InputError
from mpipaint.io.halo_catalog import CatalogKind, HaloCatalog
from mpipaint.io.particle_types import DM, NTYPES, SnapshotFormat, SnapshotHeader

HALO_FIELDS = ("id", "N", "x_L2com", "v_L2com", "npstartA", "npoutA", "npstartB", "npoutB")
M200C_DEFINITION = ("CompaSO mass N x ParticleMassHMsun (SO-based, L1 threshold SODensityL1 x mean density; "
                    "uncleaned) standing in for M200c; R200c from it")
FIELDS = {"Coordinates": ("pos", (3,), np.float32), "Velocities": ("vel", (3,), np.float32),
          "ParticleIDs": ("pid", (), np.int64)}
_INFO_NAME = re.compile(r"^halo_info_\d{3}\.asdf$")


def _abacusutils():
    try:
        from abacusnbody.data.compaso_halo_catalog import CompaSOHaloCatalog  # noqa: PLC0415 - optional extra
    except ImportError:
        raise InputError("AbacusSummit catalogs are read with abacusutils: pip install 'mpipaint[abacus]'") from None
    return CompaSOHaloCatalog


def redshift_directory(path: Path) -> Path | None:
    """The `halos/zX.XXX/` a path names (it, its halo_info/, or a file of either), or None."""
    path = Path(path)
    for candidate in (path, path.parent, path.parent.parent):
        if (candidate / "halo_info").is_dir() and any(_INFO_NAME.match(p.name)
                                                      for p in (candidate / "halo_info").iterdir()):
            return candidate
    return None


def info_files(directory: Path) -> list[Path]:
    return sorted(p for p in (directory / "halo_info").iterdir() if _INFO_NAME.match(p.name))


def _load(path: Path, subsamples: bool):
    """One superslab's halos (and its A and B subsamples' positions, velocities and IDs)."""
    reader = _abacusutils()
    try:
        return reader(str(path), fields=list(HALO_FIELDS), cleaned=False,
                      subsamples=dict(A=True, B=True, rv=True, pid=True) if subsamples else False)
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"{path}: abacusutils cannot read it as a CompaSO halo_info file: {exc}") from None


def _halo_order(halos) -> np.ndarray:
    """Positions in a superslab's subsample table of each halo's A then B particles, halo by halo."""
    starts = np.stack([np.asarray(halos["npstartA"], np.int64), np.asarray(halos["npstartB"], np.int64)], axis=1)
    counts = np.stack([np.asarray(halos["npoutA"], np.int64), np.asarray(halos["npoutB"], np.int64)], axis=1)
    starts, counts = starts.ravel(), counts.ravel()
    first = np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
    return first + np.arange(int(counts.sum()))


def _header_values(header: dict, path: Path) -> dict:
    missing = [key for key in ("BoxSizeHMpc", "H0", "Omega_M", "Omega_DE", "ScaleFactor", "Redshift",
                               "ParticleMassHMsun", "ParticleSubsampleA", "ParticleSubsampleB") if key not in header]
    if missing:
        raise InputError(f"{path}: the CompaSO header lacks {', '.join(missing)}")
    return header


def _snapshot_header(h: dict, total: int, num_files: int, fraction: float, halo_particles_only: bool):
    """The SnapshotHeader of an Abacus particle set from its CompaSO/timeslice header: code units Mpc/h
    (comoving) and Msun/h, every particle weighing ParticleMassHMsun / `fraction`."""
    mass_table, totals = np.zeros(NTYPES), np.zeros(NTYPES, np.int64)
    mass_table[DM], totals[DM] = float(h["ParticleMassHMsun"]) / fraction, total
    return SnapshotHeader(box_size=float(h["BoxSizeHMpc"]), hubble=float(h["H0"]) / 100.0,
                          scale_factor=float(h["ScaleFactor"]), redshift=float(h["Redshift"]), mass_table=mass_table,
                          num_part_total=totals, num_files=num_files, omega_m=float(h["Omega_M"]),
                          omega_lambda=float(h["Omega_DE"]), flavour="abacus", subsample_fraction=fraction,
                          halo_particles_only=halo_particles_only)


def _code_units(header: SnapshotHeader) -> u.CodeUnits:
    return u.CodeUnits(u.MPC_CM, u.MSUN_G, u.KM_CM, hubble=header.hubble, scale_factor=header.scale_factor,
                       comoving=True, velocity_sqrt_a=False)


class AbacusChunk:
    """One superslab (halo_info_NNN.asdf) of an Abacus halo-subsample snapshot as a chunk reader; its
    subsample particles are loaded whole on first read (a superslab's, not the box's)."""

    def __init__(self, path: Path, open_files=None):
        self.path = Path(path)
        catalog = _load(self.path, subsamples=False)
        h = _header_values(catalog.header, self.path)
        fraction = float(h["ParticleSubsampleA"]) + float(h["ParticleSubsampleB"])
        halos = catalog.halos
        self.counts = np.zeros(NTYPES, np.int64)
        self.counts[DM] = int(np.sum(halos["npoutA"], dtype=np.int64) + np.sum(halos["npoutB"], dtype=np.int64))
        self.stored = self.counts
        directory = redshift_directory(self.path)
        self.header = _snapshot_header(h, _total_subsample(directory), len(info_files(directory)), fraction,
                                       halo_particles_only=True)
        self.units = _code_units(self.header)
        self._particles = None

    def has(self, ptype: int, field: str) -> bool:
        return ptype == DM and field in FIELDS

    def row_format(self, ptype: int, field: str) -> tuple[tuple, np.dtype]:
        if not self.has(ptype, field):
            raise InputError(f"{self.path}: an Abacus halo subsample holds DM {', '.join(FIELDS)}, not "
                             f"PartType{ptype}/{field}")
        _, shape, dtype = FIELDS[field]
        return shape, np.dtype(dtype)

    def read_into(self, ptype: int, field: str, lo: int, hi: int, out: np.ndarray) -> None:
        self.row_format(ptype, field)
        if self._particles is None:
            catalog = _load(self.path, subsamples=True)
            order = _halo_order(catalog.halos)
            box = self.header.box_size
            self._particles = {name: np.asarray(catalog.subsamples[column])[order]
                               for name, (column, _, _) in FIELDS.items()}
            self._particles["Coordinates"] = np.mod(self._particles["Coordinates"] + box / 2, box)
        out[...] = self._particles[field][lo:hi]


class TimesliceChunk:
    """One file of a full Abacus timeslice (`slices/zX.XXX/L0_pack9/slabNNN.L0.pack9.asdf` or its field_pack9
    twin: the particles in and out of L0 halos) as a chunk reader. pack9 interleaves cell records with the
    particles, so a file is unpacked once to count them (abacusutils' read_asdf); its particles (and IDs,
    from the `_pid` twin) are unpacked again on first read, one file at a time."""

    def __init__(self, path: Path, open_files=None):
        _abacusutils()
        from abacusnbody.data.read_abacus import read_asdf  # noqa: PLC0415 - optional extra

        self.path = Path(path)
        try:
            table = read_asdf(str(self.path), load=("pos",))
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"{self.path}: abacusutils cannot read it as a timeslice file: {exc}") from None
        h = dict(table.meta)
        self.counts = np.zeros(NTYPES, np.int64)
        self.counts[DM] = len(table)
        self.stored = self.counts
        self.header = _snapshot_header(_header_values(h, self.path), int(h.get("NP", 0)),
                                       len(timeslice_files(self.path)), 1.0, halo_particles_only=False)
        self.units = _code_units(self.header)
        self._particles = {}

    has, row_format = AbacusChunk.has, AbacusChunk.row_format

    def read_into(self, ptype: int, field: str, lo: int, hi: int, out: np.ndarray) -> None:
        from abacusnbody.data.read_abacus import read_asdf  # noqa: PLC0415 - optional extra

        self.row_format(ptype, field)
        if field not in self._particles:
            if field == "ParticleIDs":
                twin = self.path.parent.with_name(self.path.parent.name + "_pid") / self.path.name.replace(
                    ".asdf", ".pid.asdf")
                if not twin.is_file():
                    raise InputError(f"{twin}: the particle IDs of {self.path} are missing")
                self._particles[field] = np.asarray(read_asdf(str(twin), load=("pid",))["pid"])
            else:
                table = read_asdf(str(self.path), load=("pos", "vel"))
                box = self.header.box_size
                self._particles = {"Coordinates": np.mod(np.asarray(table["pos"]) + box / 2, box),
                                   "Velocities": np.asarray(table["vel"]), **self._particles}
        out[...] = self._particles[field][lo:hi]


TIMESLICE_PARTS = ("L0_pack9", "field_pack9")
_SLAB_NAME = re.compile(r"^slab\d{3}\.(L0|field)\.pack9\.asdf$")


def timeslice_directory(path: Path) -> Path | None:
    """The `slices/zX.XXX/` a path names (it or a file in its L0_pack9/ or field_pack9/), or None."""
    for candidate in (Path(path), Path(path).parent.parent):
        if all((candidate / part).is_dir() for part in TIMESLICE_PARTS):
            return candidate
    return None


def timeslice_files(path: Path) -> list[Path]:
    """Every L0 and field file of the timeslice `path` belongs to: slab by slab, L0 then field."""
    directory = timeslice_directory(path)
    files = [p for part in TIMESLICE_PARTS for p in (directory / part).iterdir() if _SLAB_NAME.match(p.name)]
    return sorted(files, key=lambda p: (p.name.split(".")[0], p.parent.name != "L0_pack9"))


def _timeslice_mismatch(path: Path) -> str | None:
    if not _SLAB_NAME.match(path.name) or timeslice_directory(path) is None:
        return "not a slabNNN.L0/field.pack9.asdf file of an Abacus timeslice (slices/zX.XXX/)"
    return None


@functools.lru_cache(maxsize=8)
def _total_subsample(directory: Path) -> int:
    """A + B subsample particles of every halo of the redshift directory (the halo tables alone); once per
    directory and process, not once per superslab that opens."""
    return int(sum(np.sum(c.halos["npoutA"], dtype=np.int64) + np.sum(c.halos["npoutB"], dtype=np.int64)
                   for c in (_load(f, subsamples=False) for f in info_files(directory))))


def read_compaso(path) -> HaloCatalog:
    """Every CompaSO halo of the redshift directory at `path`, membership as ranges of its A+B subsample."""
    directory = redshift_directory(path)
    ids, centres, velocities, masses, counts = [], [], [], [], []
    header = None
    for file in info_files(directory):
        catalog = _load(file, subsamples=False)
        header = _header_values(catalog.header, file)
        halos = catalog.halos
        ids.append(np.asarray(halos["id"], np.int64))
        centres.append(np.asarray(halos["x_L2com"], np.float64))
        velocities.append(np.asarray(halos["v_L2com"], np.float64))
        masses.append(np.asarray(halos["N"], np.float64) * float(header["ParticleMassHMsun"]))
        counts.append(np.asarray(halos["npoutA"], np.int64) + np.asarray(halos["npoutB"], np.int64))
    a, h, box = float(header["ScaleFactor"]), float(header["H0"]) / 100.0, float(header["BoxSizeHMpc"])
    cosmology = Cosmology(a, float(header["Redshift"]), h, float(header["Omega_M"]), float(header["Omega_DE"]),
                          box * 1e3 * a / h)
    subsample = np.concatenate(counts)
    per_type = np.zeros((len(subsample), NTYPES), np.int64)
    per_type[:, DM] = subsample
    offsets = np.full_like(per_type, -1)
    offsets[:, DM] = np.concatenate([[0], np.cumsum(subsample)[:-1]])
    mass = u.mass_to_msun(np.concatenate(masses), "Msun/h", h)
    centre = u.length_to_kpc(np.mod(np.concatenate(centres) + box / 2, box), "cMpc/h", a, h)
    return HaloCatalog(Path(directory), COMPASO.name, cosmology, np.concatenate(ids), centre, mass,
                       cosmology.r200c_kpc(mass), mass, "m200c", velocity_kms=np.concatenate(velocities),
                       offsets=offsets, counts=per_type, m200c_definition=M200C_DEFINITION, offsets_of=directory)


def _catalog_mismatch(path: Path) -> str | None:
    return None if redshift_directory(path) is not None else "no halo_info/halo_info_NNN.asdf (a CompaSO halos/zX.XXX/)"


def _read(path, snapshot, mass_column, hosts_only) -> HaloCatalog:
    if mass_column != "m200c":
        raise InputError(f"{path}: this catalog's cut uses m200c (the CompaSO mass), not {mass_column!r}")
    return read_compaso(path)


def _snapshot_mismatch(path: Path) -> str | None:
    if not _INFO_NAME.match(path.name) or redshift_directory(path) is None:
        return "not a halo_info_NNN.asdf file of a CompaSO redshift directory"
    return None


COMPASO = CatalogKind("CompaSO (AbacusSummit)", _catalog_mismatch, _read)
SUBSAMPLES = SnapshotFormat("abacus", "AbacusSummit halo A+B subsamples (CompaSO)", _snapshot_mismatch, AbacusChunk,
                            chunk_list=lambda path: info_files(redshift_directory(path)),
                            directory_entry=lambda path: (info_files(path)[0] if redshift_directory(path) == path
                                                          else None))
TIMESLICE = SnapshotFormat("abacus-timeslice", "AbacusSummit full timeslice (pack9)", _timeslice_mismatch,
                           TimesliceChunk, chunk_list=timeslice_files,
                           directory_entry=lambda path: (timeslice_files(path)[0] if timeslice_directory(path) == path
                                                         else None))
