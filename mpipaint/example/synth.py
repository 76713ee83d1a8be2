"""The embedded example universe: a small FP run, its DMO twin, and FP-2 / FP-3 runs with 8x and 64x
fewer particles, written in the real TNG on-disk layout (see `mpipaint.example.tng_writer`).

Each snapshot holds halos drawn from a power-law mass function (dN/dlnM ~ M^-1 between `min_mass` and
`max_mass` in M200c), some centred across the periodic box edge. Dark matter follows triaxial NFW profiles
with log-normal concentration scatter and NFW subhalos. The FP gas follows a triaxial beta model whose core
radius shrinks with DM concentration and grows with substructure, a temperature profile whose cool core
deepens with concentration, cold gas clumps in the subhalos, cold star-forming gas and dense hot gas in
the centre (both dropped by the hot-gas filter), cold inflowing gas in the outskirts, and a metallicity
gradient. So the gas maps depend on the DM structure and a U-net has a real mapping to learn.

The DMO twin holds the same halos with the same DM particle IDs, but its DM is 15 % less concentrated
(no baryonic contraction), its particles are re-drawn (chaos) and its centres and subhalos are displaced
a little, so FoF masses and ranks differ from the FP run as they do in TNG. Unbound background particles
follow the groups in every run. Everything is deterministic from the seed, whatever the number of ranks.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mpipaint import units as u
from mpipaint.config import plain
from mpipaint.example.assemble import write_model
from mpipaint.io.outputs import make_parent
from mpipaint.io.particle_types import DM, GAS, STARS
from mpipaint.maps.geometry import minimum_image
from mpipaint.options import SynthConfig
from mpipaint.parallel import COMM, my_share

G_KPC_KMS2_MSUN = 4.30091e-6  # gravitational constant in kpc (km/s)^2 / Msun
SOLAR_METALLICITY = 0.0127
RUNS = ("FP", "DMO")
MIN_SUBHALO_PARTICLES = 32  # lighter satellites are left out of the halo (their mass stays in the central)


@dataclass
class HaloSpec:
    """One halo's drawn properties, shared by all runs."""

    m200c: float
    r200c: float
    concentration: float
    axes: np.ndarray  # ellipsoid axis ratios, product 1
    rotation: np.ndarray  # 3x3
    centre: np.ndarray  # physical kpc, inside the box
    sub_mass: np.ndarray  # satellite masses [Msun]
    sub_offset: np.ndarray  # satellite positions relative to the centre [kpc]
    gas_fraction: float  # hot-atmosphere gas mass / total halo mass
    core_radius: float  # beta-model core [kpc]
    beta: float
    kt_mean_kev: float
    cool_core_floor: float  # central T / T(outer core), lower is a stronger cool core


@dataclass
class Component:
    """Particles of one subhalo (or of the unbound background): {ptype: {field: physical array}}."""

    centre: np.ndarray
    parts: dict = field(default_factory=dict)

    def count(self, ptype: int) -> int:
        return len(self.parts[ptype]["ParticleIDs"]) if ptype in self.parts else 0


# ---------------------------------------------------------------- profiles and sampling

def _nfw_mu(x):
    return np.log1p(x) - x / (1.0 + x)


def _sample_radii(radii, enclosed, n, rng):
    """Inverse-transform sample of n radii from a tabulated enclosed-mass profile (radii ascending)."""
    return np.interp(rng.random(n) * enclosed[-1], enclosed, radii)


def _isotropic(n, rng):
    v = rng.normal(size=(n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _random_rotation(rng):
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    return q * np.sign(np.diag(r))


def _nfw_positions(n, r200, conc, r_max_over_r200, rng):
    radii = np.geomspace(1e-4, r_max_over_r200, 512) * r200
    return _isotropic(n, rng) * _sample_radii(radii, _nfw_mu(radii * conc / r200), n, rng)[:, None]


def _beta_shell_mass(radii, core, beta):
    shell = radii**2 * (1.0 + (radii / core) ** 2) ** (-1.5 * beta)
    return np.concatenate([[0.0], np.cumsum(0.5 * (shell[1:] + shell[:-1]) * np.diff(radii))]) * 4 * np.pi


def _ellipsoidal(offsets, spec):
    """Map spherical offsets onto the halo's rotated ellipsoid (volume preserving)."""
    return (offsets * spec.axes) @ spec.rotation.T


def _elliptical_radius(offsets, spec, axes):
    return np.linalg.norm((offsets @ spec.rotation) / axes, axis=1)


def _velocities(n, m200c, r200c, rng):
    sigma = np.sqrt(G_KPC_KMS2_MSUN * m200c / r200c / 3.0)
    return rng.normal(scale=sigma, size=(n, 3))


# ---------------------------------------------------------------- drawing halos

def _e_of_z(cfg, z):
    return np.sqrt(cfg.omega_m * (1 + z) ** 3 + cfg.omega_lambda)


def draw_halos(cfg: SynthConfig, snapnum: int, redshift: float) -> list[HaloSpec]:
    """Draw the halos of one snapshot: masses, shapes, positions, substructure and gas properties."""
    rng = np.random.default_rng([cfg.seed, snapnum, 0])
    a = 1.0 / (1.0 + redshift)
    box_kpc = cfg.box_size_ckpc_h * a / cfg.hubble
    rho_crit = u.critical_density_msun_kpc3(cfg.hubble, cfg.omega_m, cfg.omega_lambda, redshift)
    log_lo, log_hi = np.log(cfg.min_mass), np.log(cfg.max_mass)
    # dN/dlnM ~ M^-1: inverse CDF of exp(-lnM)
    masses = -np.log(np.exp(-log_lo) - rng.random(cfg.halos) * (np.exp(-log_lo) - np.exp(-log_hi)))
    masses = np.sort(np.exp(masses))[::-1]
    r200 = u.r200c_kpc(masses, rho_crit)
    centres = _place_centres(r200, box_kpc, cfg.edge_halos, rng)
    specs = []
    for m, r, centre in zip(masses, r200, centres):
        c_mean = 5.5 * (m / 1e14) ** -0.1 / (1 + redshift) ** 0.4
        conc = c_mean * 10 ** rng.normal(0, 0.12)
        q = rng.uniform(0.55, 0.95)
        s = q * rng.uniform(0.65, 1.0)
        axes = np.array([1.0, q, s]) / np.cbrt(q * s)
        n_sub = rng.poisson(2 + 3 * np.log10(m / 3e13))
        sub_fraction = rng.uniform(0.02, 0.15) if n_sub else 0.0
        sub_mass = m * sub_fraction * rng.dirichlet(np.full(n_sub, 0.7)) if n_sub else np.zeros(0)
        sub_offset = _isotropic(n_sub, rng) * rng.uniform(0.25, 1.0, size=(n_sub, 1)) * r
        concentration_ratio = conc / c_mean
        specs.append(HaloSpec(
            m200c=m, r200c=r, concentration=conc, axes=axes, rotation=_random_rotation(rng),
            centre=centre, sub_mass=np.sort(sub_mass)[::-1], sub_offset=sub_offset,
            gas_fraction=cfg.baryon_fraction * np.clip(
                0.6 + 0.15 * np.log10(m / 1e14) + 0.15 * np.log(concentration_ratio) + rng.normal(0, 0.04),
                0.3, 0.95),
            core_radius=r * 0.12 * concentration_ratio ** -1.2 * (1 + 3 * sub_fraction) * 10 ** rng.normal(0, 0.05),
            beta=rng.uniform(0.6, 0.75),
            kt_mean_kev=2.2 * (m * _e_of_z(cfg, redshift) / 1e14) ** (2 / 3) * 10 ** rng.normal(0, 0.03),
            cool_core_floor=float(np.clip(1.0 - 1.2 * (concentration_ratio - 0.8), 0.3, 1.0)),
        ))
    return specs


def _place_centres(r200, box_kpc, edge_halos, rng):
    """Non-overlapping centres; the first `edge_halos` of them straddle a box face."""
    centres = []
    for i, r in enumerate(r200):
        for _ in range(10_000):
            centre = rng.random(3) * box_kpc
            if i < edge_halos:
                axis = rng.integers(3)
                centre[axis] = (rng.uniform(-0.3, 0.3) * r) % box_kpc
            separations = [np.linalg.norm(minimum_image(centre - c, box_kpc)) for c in centres]
            if all(d > 1.6 * (r + r200[j]) for j, d in enumerate(separations)):
                centres.append(centre)
                break
        else:
            raise RuntimeError("box too small to place non-overlapping halos; raise box_size_ckpc_h")
    return np.array(centres)


# ---------------------------------------------------------------- particles of one halo

def _dm_components(spec, m_particle, conc, centre, sub_offsets, ids, rng):
    """Central + satellite DM components for one halo; ids are the halo's DM IDs in order."""
    fof_factor = _nfw_mu(1.5 * conc) / _nfw_mu(conc)
    n_sat = np.round(spec.sub_mass * fof_factor / m_particle).astype(int)
    n_central = len(ids) - n_sat.sum()
    components = []
    offsets = _ellipsoidal(_nfw_positions(n_central, spec.r200c, conc, 1.5, rng), spec)
    start = 0
    pieces = [(centre, offsets, n_central)]
    for mass, offset, n in zip(spec.sub_mass, sub_offsets, n_sat):
        r_sub = spec.r200c * np.cbrt(mass / spec.m200c)
        pieces.append((centre + offset, offset + _nfw_positions(n, r_sub, 10.0, 0.6, rng), n))
    for sub_centre, offsets, n in pieces:
        components.append(Component(centre=sub_centre, parts={DM: {
            "Coordinates": centre + offsets,
            "Velocities": _velocities(n, spec.m200c, spec.r200c, rng),
            "ParticleIDs": ids[start:start + n],
            "Masses": np.full(n, m_particle),
        }}))
        start += n
    return components


def _hot_gas(spec, n, m_cell, rng):
    """The hot atmosphere: triaxial beta model, cool-core temperature profile, metallicity gradient."""
    gas_axes = np.sqrt(spec.axes) / np.cbrt(np.prod(np.sqrt(spec.axes)))
    radii = np.geomspace(1e-4, 1.5, 512) * spec.r200c
    shell_mass = _beta_shell_mass(radii, spec.core_radius, spec.beta)
    offsets = (_isotropic(n, rng) * _sample_radii(radii, shell_mass, n, rng)[:, None] * gas_axes) @ spec.rotation.T
    r_ell = _elliptical_radius(offsets, spec, gas_axes)
    rho0 = n * m_cell / shell_mass[-1]
    density = rho0 * (1 + (r_ell / spec.core_radius) ** 2) ** (-1.5 * spec.beta) * 10 ** rng.normal(0, 0.08, n)
    x = r_ell / spec.r200c
    core = ((x / 0.05) ** 1.9 + spec.cool_core_floor) / ((x / 0.05) ** 1.9 + 1.0)
    kt = 1.35 * spec.kt_mean_kev * core * (1 + (x / 0.6) ** 2) ** -0.45 * 10 ** rng.normal(0, 0.03, n)
    metallicity = 0.3 * SOLAR_METALLICITY * (1 + x / 0.1) ** -0.4 * 10 ** rng.normal(0, 0.1, n)
    return offsets, density, kt * u.KEV_ERG / u.BOLTZMANN_ERG_K, metallicity


def _gas_fields(offsets, density_msun_kpc3, temperature, metallicity, m_cell, sfr, spec, rng):
    n = len(offsets)
    return {
        "Coordinates": spec.centre + offsets,
        "Velocities": _velocities(n, spec.m200c, spec.r200c, rng),
        "Masses": np.full(n, m_cell),
        "Density": density_msun_kpc3 * u.MSUN_G / u.KPC_CM**3,
        "Temperature": temperature,
        "ElectronAbundance": np.where(temperature > 1e5, u.FULLY_IONISED_ELECTRON_ABUNDANCE, 0.05),
        "StarFormationRate": sfr,
        "GFM_Metallicity": metallicity,
    }


def _central_gas(spec, n_hot, m_cell, rng):
    """Hot atmosphere plus the phases the hot-gas filter must drop: SF gas, dense hot gas, cold inflow."""
    offsets, density, temperature, metallicity = _hot_gas(spec, n_hot, m_cell, rng)
    n_sf, n_dense, n_cold = max(n_hot // 100, 1), max(n_hot // 200, 1), max(n_hot // 50, 1)
    to_msun_kpc3 = u.KPC_CM**3 / u.MSUN_G
    centre_r = 0.015 * spec.r200c
    extra = [
        # cold star-forming gas: 1e4 K, rho ~ 1e-23 g/cm^3, SFR = m / 1 Gyr
        (rng.normal(0, centre_r, (n_sf, 3)), 1e-23 * to_msun_kpc3 * 10 ** rng.normal(0, 0.2, n_sf),
         np.full(n_sf, 1e4), np.full(n_sf, SOLAR_METALLICITY), np.full(n_sf, m_cell / 1e9)),
        # dense hot gas, not star forming: above the 5e-25 g/cm^3 cut
        (rng.normal(0, centre_r, (n_dense, 3)), 2e-24 * to_msun_kpc3 * 10 ** rng.normal(0, 0.2, n_dense),
         10 ** rng.uniform(6, 7, n_dense), np.full(n_dense, SOLAR_METALLICITY), np.zeros(n_dense)),
        # cold inflowing gas in the outskirts: below 3e5 K
        (_isotropic(n_cold, rng) * rng.uniform(1.0, 1.5, (n_cold, 1)) * spec.r200c,
         1e-28 * to_msun_kpc3 * 10 ** rng.normal(0, 0.3, n_cold), 10 ** rng.uniform(4.3, 5.3, n_cold),
         np.full(n_cold, 0.05 * SOLAR_METALLICITY), np.zeros(n_cold)),
    ]
    pieces = [(offsets, density, temperature, metallicity, np.zeros(n_hot))] + extra
    return {name: np.concatenate([p[k] for p in pieces]) for k, name in
            enumerate(("offsets", "density", "temperature", "metallicity", "sfr"))}


def _satellite_gas(spec, sub_mass, sub_offset, m_cell, rng):
    """A cool, dense gas clump in a subhalo: 5 % of its mass, at 0.3 of the host's mean temperature."""
    n = int(round(0.05 * sub_mass / m_cell))
    if n == 0:
        return None
    r_sub = spec.r200c * np.cbrt(sub_mass / spec.m200c)
    core = 0.1 * r_sub
    radii = np.geomspace(1e-4, 0.5, 256) * r_sub
    shell_mass = _beta_shell_mass(radii, core, 0.7)
    r = _sample_radii(radii, shell_mass, n, rng)
    density = n * m_cell / shell_mass[-1] * (1 + (r / core) ** 2) ** (-1.05)
    kt = 0.3 * spec.kt_mean_kev * 10 ** rng.normal(0, 0.05, n)
    return {"offsets": sub_offset + _isotropic(n, rng) * r[:, None], "density": density,
            "temperature": kt * u.KEV_ERG / u.BOLTZMANN_ERG_K,
            "metallicity": np.full(n, 0.2 * SOLAR_METALLICITY), "sfr": np.zeros(n)}


def _stars(spec, m_star, ids, rng):
    """Central stellar body: Hernquist profile with a = 0.015 R200c."""
    n, a = len(ids), 0.015 * spec.r200c
    radii = np.geomspace(1e-5, 0.2, 256) * spec.r200c
    offsets = _isotropic(n, rng) * _sample_radii(radii, radii**2 / (radii + a) ** 2, n, rng)[:, None]
    return {"Coordinates": spec.centre + offsets, "Velocities": _velocities(n, spec.m200c, spec.r200c, rng),
            "Masses": np.full(n, m_star), "ParticleIDs": ids,
            "GFM_Metallicity": np.full(n, SOLAR_METALLICITY)}


# ---------------------------------------------------------------- whole runs

@dataclass
class SnapshotModel:
    """All particles of one snapshot of one run, grouped as halos -> components, plus the background."""

    halos: list  # list[list[Component]], central component first
    background: Component


def _particle_masses(cfg, specs):
    """FP DM particle mass such that the halos hold about cfg.dm_particles DM particles."""
    fof = sum(s.m200c * _nfw_mu(1.5 * s.concentration) / _nfw_mu(s.concentration) for s in specs)
    m_dm_dmo = fof / cfg.dm_particles
    m_dm_fp = m_dm_dmo * (1.0 - cfg.baryon_fraction)
    m_gas = 0.19 * m_dm_fp  # the TNG300-1 ratio of gas cell to DM particle mass
    return m_dm_dmo, m_dm_fp, m_gas


def build_snapshot(cfg: SynthConfig, snapnum: int, redshift: float) -> dict[str, SnapshotModel]:
    """Generate the FP and DMO particle sets of one snapshot."""
    specs = draw_halos(cfg, snapnum, redshift)
    m_dm_dmo, m_dm_fp, m_gas = _particle_masses(cfg, specs)
    box_kpc = cfg.box_size_ckpc_h / (1 + redshift) / cfg.hubble
    next_dm, next_gas, next_star = 1, 10**9, 2 * 10**9
    models = {run: SnapshotModel(halos=[], background=Component(centre=np.zeros(3))) for run in RUNS}
    for index, spec in enumerate(specs):
        fof = _nfw_mu(1.5 * spec.concentration) / _nfw_mu(spec.concentration)
        resolved = np.round(spec.sub_mass * fof / m_dm_dmo) >= MIN_SUBHALO_PARTICLES
        spec.sub_mass, spec.sub_offset = spec.sub_mass[resolved], spec.sub_offset[resolved]
        n_dm = int(round(spec.m200c * fof / m_dm_dmo))
        ids = np.arange(next_dm, next_dm + n_dm, dtype=np.uint64)
        next_dm += n_dm
        fp_rng = np.random.default_rng([cfg.seed, snapnum, index + 1, 1])
        dmo_rng = np.random.default_rng([cfg.seed, snapnum, index + 1, 2])
        fp = _dm_components(spec, m_dm_fp, spec.concentration, spec.centre, spec.sub_offset, ids, fp_rng)
        dmo_centre = spec.centre + dmo_rng.normal(0, 0.005 * spec.r200c, 3)
        dmo_subs = spec.sub_offset + dmo_rng.normal(0, 0.1 * spec.r200c, spec.sub_offset.shape)
        dmo = _dm_components(spec, m_dm_dmo, spec.concentration / 1.15, dmo_centre, dmo_subs, ids, dmo_rng)
        # gas and stars of the FP run
        n_hot = int(round(spec.gas_fraction * spec.m200c * fof / m_gas))
        gas = [_central_gas(spec, n_hot, m_gas, fp_rng)]
        gas += [_satellite_gas(spec, m, off, m_gas, fp_rng) for m, off in zip(spec.sub_mass, spec.sub_offset)]
        for component, cells in zip(fp, gas):
            if cells is None:
                continue
            n = len(cells["offsets"])
            fields = _gas_fields(cells["offsets"], cells["density"], cells["temperature"], cells["metallicity"],
                                 m_gas, cells["sfr"], spec, fp_rng)
            fields["ParticleIDs"] = np.arange(next_gas, next_gas + n, dtype=np.uint64)
            next_gas += n
            component.parts[GAS] = fields
        n_star = int(round(0.01 * spec.m200c / m_gas))
        fp[0].parts[STARS] = _stars(spec, m_gas, np.arange(next_star, next_star + n_star, dtype=np.uint64), fp_rng)
        next_star += n_star
        models["FP"].halos.append(fp)
        models["DMO"].halos.append(dmo)
    _add_background(cfg, models, next_dm, next_gas, (m_dm_dmo, m_dm_fp, m_gas), box_kpc, redshift, snapnum)
    for model in models.values():
        _into_box(model, box_kpc)
    return models


def _add_background(cfg, models, first_dm_id, first_gas_id, masses, box_kpc, redshift, snapnum):
    """Unbound, uniformly spread DM (both runs) and warm diffuse gas (FP), stored after all groups."""
    rng = np.random.default_rng([cfg.seed, snapnum, 0, 3])
    m_dm_dmo, m_dm_fp, m_gas = masses
    n = int(cfg.background_fraction * cfg.dm_particles)
    positions = rng.random((n, 3)) * box_kpc
    ids = np.arange(first_dm_id, first_dm_id + n, dtype=np.uint64)
    velocities = rng.normal(0, 200.0, (n, 3))
    for run, mass in (("FP", m_dm_fp), ("DMO", m_dm_dmo)):
        models[run].background.parts[DM] = {"Coordinates": positions, "Velocities": velocities,
                                            "ParticleIDs": ids, "Masses": np.full(n, mass)}
    rho_mean = cfg.omega_b * u.critical_density_msun_kpc3(cfg.hubble, cfg.omega_m, cfg.omega_lambda, redshift)
    temperature = 10 ** rng.uniform(4, 6, n)
    models["FP"].background.parts[GAS] = {
        "Coordinates": rng.random((n, 3)) * box_kpc, "Velocities": rng.normal(0, 200.0, (n, 3)),
        "Masses": np.full(n, m_gas), "Density": np.full(n, rho_mean * u.MSUN_G / u.KPC_CM**3),
        "Temperature": temperature,
        "ElectronAbundance": np.where(temperature > 1e5, u.FULLY_IONISED_ELECTRON_ABUNDANCE, 0.05),
        "StarFormationRate": np.zeros(n), "GFM_Metallicity": np.full(n, 0.01 * SOLAR_METALLICITY),
        "ParticleIDs": np.arange(first_gas_id, first_gas_id + n, dtype=np.uint64)}


def _components(model: SnapshotModel):
    for halo in model.halos:
        yield from halo
    yield model.background


def _into_box(model: SnapshotModel, box_kpc: float):
    """Centres and particle positions moved into [0, box) by periodicity, as a snapshot stores them."""
    for component in _components(model):
        component.centre = component.centre % box_kpc
        for fields in component.parts.values():
            fields["Coordinates"] = fields["Coordinates"] % box_kpc


def degrade(model: SnapshotModel, factor: int) -> SnapshotModel:
    """A lower-resolution twin: particles whose (ID - 1) is a multiple of `factor`, masses times `factor`.

    Thinning by ID keeps the total mass to within one particle per component; satellites left with no
    particles are dropped, as Subfind would not find them.
    """
    def thin(component):
        parts = {}
        for ptype, fields in component.parts.items():
            keep = (fields["ParticleIDs"] - 1) % factor == 0
            kept = {name: values[keep] for name, values in fields.items()}
            kept["Masses"] = kept["Masses"] * factor
            parts[ptype] = kept
        return Component(centre=component.centre, parts=parts)

    def resolved(halo):
        thinned = [thin(c) for c in halo]
        return thinned[:1] + [c for c in thinned[1:] if c.count(DM) > 0]

    return SnapshotModel(halos=[resolved(halo) for halo in model.halos], background=thin(model.background))


def generate(cfg: SynthConfig, out_dir) -> Path:
    """Write every run (FP, DMO, degraded FP) under out_dir; snapshots are dealt to the MPI ranks."""
    out_dir = Path(out_dir)
    make_parent(out_dir / "synth.yaml")  # before any work: an --out under a file is an input error
    for snapnum, redshift in my_share(cfg.snapshots):
        models = build_snapshot(cfg, snapnum, redshift)
        for name, factor in cfg.degraded:
            models[name] = degrade(models["FP"], factor)
        meta = {"box_size": cfg.box_size_ckpc_h, "hubble": cfg.hubble, "omega_m": cfg.omega_m,
                "omega_lambda": cfg.omega_lambda, "omega_b": cfg.omega_b,
                "scale_factor": 1.0 / (1.0 + redshift), "redshift": redshift}
        for run, model in models.items():
            write_model(out_dir / run, snapnum, model, meta, cfg.num_files, cfg.flavour)
    COMM.Barrier()
    if COMM.rank == 0:
        # JSON is YAML (1.2): `synth --config` reads it back, and no YAML writer is needed
        (out_dir / "synth.yaml").write_text(json.dumps({"synth": plain(cfg)}, indent=1))
    return out_dir

