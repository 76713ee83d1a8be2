"""Model bundles: one directory holding a trained U-net's weights and everything needed to use it right.

    BUNDLE/weights.npz    the weight arrays, w0, w1, ... in the model's order (numpy, no pickles)
    BUNDLE/bundle.json    `format`, the U-net's `architecture` (unet.ARCHITECTURE), `weights_sha256`,
                          target and its units, input and target normalisation constants, image size
                          and width, deposition mode, emission model, training-set fingerprint, split
                          seed and halos per split, the training options, software versions, and the
                          net's offset of map totals on its training halos (`total_offset_dex`, and per
                          training redshift `total_offset_by_redshift`) and residual scatter on its
                          validation halos (`validation_residual_dex`)

Bundles are shared between groups, so loading one never executes anything from it: the network is rebuilt
by mpipaint's own code from the architecture (plain numbers), and only arrays are read into it, after their
digest matched `weights_sha256`. (A Keras model file deserialises layers, and a Lambda layer in a legacy
.h5 runs its code on load, safe_mode or not.) `load_bundle(path, spec)` refuses a bundle trained on maps
of another `MapSpec` than those it is given.

A deep ensemble (`train --members K`) is a directory of K bundles of one target, trained on one split from
different initialisations, listed in `ensemble.json`; `member_paths` expands it wherever a bundle is named.
"""
from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mpipaint.errors import InputError
from mpipaint.maps.geometry import DEPOSITION_MODES, MapSpec
from mpipaint.model.keras_env import dtype_policy
from mpipaint.model.norm import Normalisation
from mpipaint.model.unet import build_unet, check_architecture, weight_shapes
from mpipaint.science.summaries import SUMMARY

FORMAT = "mpipaint-bundle-2"
WEIGHTS_FILE, META_FILE, ENSEMBLE_FILE = "weights.npz", "bundle.json", "ensemble.json"
LEGACY_MODEL_FILE = "model.h5"  # format 1: a whole Keras model, refused (it can run code when loaded)
REQUIRED_KEYS = ("architecture", "weights_sha256", "target", "npix", "width_kpc", "deposition_mode",
                 "input_normalisation", "target_normalisation")
MAX_TOTAL_OFFSET_DEX = 0.3  # a net's totals may be rescaled by at most a factor 2 (see Bundle.total_scale)
BACKENDS = ("tf", "jax")  # what runs a bundle's net: tf-keras (training and inference) or JAX (inference)
BACKEND_HELP = ("what runs the nets (jax runs where TensorFlow is not installed, e.g. CUDA 13 GPU nodes; see "
                "README, Backend)")


@dataclass
class Bundle:
    model: object  # a tf-keras Model, or a jax_unet.JaxUnet: both called as model(inputs)
    meta: dict
    precision: str = "fp32"  # what the model computes in (keras_env.PRECISION_POLICIES)
    backend: str = "tf"  # BACKENDS

    @property
    def spec(self) -> MapSpec:
        """The maps this bundle paints from."""
        return MapSpec.from_attrs(self.meta)

    @property
    def target(self) -> str:
        return self.meta["target"]

    @property
    def masked(self) -> bool:
        """Whether the net takes the mask of pixels holding DM as a second input."""
        return bool(self.meta.get("mask"))

    @property
    def input_norm(self) -> Normalisation:
        return Normalisation(**self.meta["input_normalisation"])

    @property
    def target_norm(self) -> Normalisation:
        return Normalisation(**self.meta["target_normalisation"])

    def total_scale(self, redshift: float | None = None) -> float:
        """Factor on every painted map at `redshift`, 10**-offset: removes the net's offset of the map totals
        measured on its training halos (train.calibrate_totals; `total_offset_dex`); 1 where none was
        measured."""
        return 10.0 ** -total_offset_dex(self.meta, redshift)


def total_offset_dex(meta: dict, redshift: float | None) -> float:
    """A bundle's offset of map totals at `redshift` [dex]: from its per-redshift table where it has one
    (linear in z between training redshifts, the nearest one's beyond them), else its pooled offset (also
    where no redshift is given); 0 where none was measured."""
    table = meta.get("total_offset_by_redshift")
    if table is None or redshift is None:
        return float(meta.get("total_offset_dex", 0.0))
    return float(np.interp(redshift, table["redshift"], table["offset_dex"]))


def description_digest(path) -> str:
    """sha256 of a bundle's bundle.json: it holds the weights' digest, the normalisation and the total
    offset, so it changes with anything that changes what the bundle paints."""
    return hashlib.sha256((Path(path) / META_FILE).read_bytes()).hexdigest()


def weights_digest(arrays) -> str:
    """sha256 over weight arrays in order (a model's get_weights()): what bundle.json records."""
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def save_bundle(path, arrays, architecture: dict, meta: dict) -> Path:
    """Write the weight arrays (a model's get_weights()) and the metadata (with `architecture`, the
    build_unet arguments of the net they belong to, and the weights' digest); bundle.json, written last,
    marks a usable bundle."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / META_FILE).unlink(missing_ok=True)
    write_weight_arrays(path / WEIGHTS_FILE, arrays)
    meta = {**meta, "format": FORMAT, "architecture": dict(architecture), "weights_sha256": weights_digest(arrays)}
    (path / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))
    return path


def write_ensemble(path, target: str, members: list[str]) -> Path:
    """List an ensemble's member bundles (directories relative to `path`) in its ensemble.json."""
    path = Path(path)
    (path / ENSEMBLE_FILE).write_text(json.dumps({"target": target, "members": members}, indent=2))
    return path


def member_paths(path) -> list[Path]:
    """The bundle directories behind a model path: an ensemble's members, or the bundle itself."""
    path = Path(path)
    listing = path / ENSEMBLE_FILE
    if not listing.exists():
        return [path]
    try:
        members = json.loads(listing.read_text()).get("members")
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError, RecursionError) as exc:
        raise InputError(f"{listing}: not an ensemble listing ({type(exc).__name__}: {exc})") from None
    if not members or not all(isinstance(m, str) and "/" not in m and m not in (".", "..") for m in members):
        raise InputError(f"{listing}: 'members' must list the member bundles' directory names")
    return [path / m for m in members]


@dataclass(frozen=True)
class BundleSet(Mapping):
    """What a set of bundles knows, read once: target -> its members (an ensemble; a Mapping), and the
    facts they share, checked when loaded (`load_bundle_set`): the maps they paint, the training run's DM
    particle mass, the halo split, the X-ray emission model and each target's residual scatter."""

    by_target: dict
    source: str  # the model paths, for messages

    def __getitem__(self, target: str) -> list:
        return self.by_target[target]

    def __iter__(self):
        return iter(self.by_target)

    def __len__(self) -> int:
        return len(self.by_target)

    @property
    def _first(self) -> Bundle:
        return next(iter(self.by_target.values()))[0]

    @property
    def spec(self) -> MapSpec:
        """The maps every bundle of the set was trained on (the same for all: checked on loading)."""
        return self._first.spec

    @property
    def trained_particle_mass_msun(self) -> float | None:
        """The DM particle mass of the run the bundles were trained on [Msun], where recorded."""
        return self._first.meta.get("dm_particle_mass_msun")

    @property
    def precision(self) -> str:
        return self._first.precision

    @property
    def emission_model(self) -> str:
        """The X-ray emission model the X-ray bundles were trained on ('' without X-ray bundles)."""
        return str(self.by_target["xray"][0].meta.get("emission_model", "")) if "xray" in self.by_target else ""

    @property
    def split_halos(self) -> dict:
        """{'train'|'validation'|'test': [(snapshot, halo_id), ...]}: the one split every target was trained
        with; an error where targets differ (evaluate's splits would mean other halos per target)."""
        splits = {json.dumps(members[0].meta["split_halos"], sort_keys=True) for members in self.by_target.values()}
        if len(splits) != 1:
            raise InputError(f"{self.source}: bundles were trained with different halo splits")
        return self._first.meta["split_halos"]

    @property
    def residuals(self) -> dict:
        """target -> the members' validation residual scatter [dex] (`validation_residual`; None unknown)."""
        return {target: validation_residual(members) for target, members in self.by_target.items()}


def load_bundle_set(paths, spec: MapSpec | None = None, precision: str = "fp32", backend: str = "tf") -> BundleSet:
    """Every bundle behind `paths` (ensembles expanded), grouped by target; all must fit the same maps
    (`spec` where given) and the members of one target the same training split and normalisation."""
    grouped: dict[str, list[Bundle]] = {}
    first_path, first = None, None
    for path in (p for given in paths for p in member_paths(given)):
        bundle = load_bundle(path, spec, precision, backend)
        if first is None:
            first_path, first = path, bundle
        mismatch = bundle.spec.mismatch(first.spec)
        if mismatch:
            raise InputError(f"{path}: trained on other maps than {first_path}: {mismatch}")
        members = grouped.setdefault(bundle.target, [])
        for key in ("split_halos", "target_normalisation", "input_normalisation"):
            if members and bundle.meta[key] != members[0].meta[key]:
                raise InputError(f"{path}: a second '{bundle.target}' bundle with another {key}: "
                                 "bundles of one target form an ensemble and must share their training")
        members.append(bundle)
    return BundleSet(grouped, ", ".join(map(str, paths)))


def validation_residual(members) -> float | None:
    """A target's residual scatter [dex]: the mean of its members' validation residuals (the ensemble mean
    scatters less than a member, so this errs wide); None unless every member records one."""
    values = [b.meta.get("validation_residual_dex") for b in members]
    return None if any(v is None for v in values) else float(np.mean(values))


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and bool(np.isfinite(value))


def _is_offset(value) -> bool:
    return _is_number(value) and abs(value) <= MAX_TOTAL_OFFSET_DEX


def _is_offset_table(table) -> bool:
    """{"redshift": increasing, "offset_dex": bounded offsets, "halos": counts}, all of one length >= 1."""
    if not isinstance(table, dict) or set(table) != {"redshift", "offset_dex", "halos"}:
        return False
    columns = [table[key] for key in ("redshift", "offset_dex", "halos")]
    if not all(isinstance(c, list) and len(c) == len(columns[0]) > 0 for c in columns):
        return False
    redshift, offsets, halos = columns
    return (all(_is_number(z) and z > -1 for z in redshift) and bool(np.all(np.diff(redshift) > 0))
            and all(map(_is_offset, offsets)) and all(isinstance(n, int) and n > 0 for n in halos))


META_RULES = {  # key -> (what it must be, test); keys not always present are checked where they are
    "target": (f"one of {tuple(SUMMARY)}", lambda v: v in SUMMARY and v != "dm"),
    "npix": ("a positive integer", lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0),
    "width_kpc": ("a positive number", lambda v: _is_number(v) and v > 0),
    "deposition_mode": (f"one of {DEPOSITION_MODES}", lambda v: v in DEPOSITION_MODES),
    "weights_sha256": ("a sha256 hex digest", lambda v: isinstance(v, str) and len(v) == 64),
    "total_offset_dex": (f"a number within +-{MAX_TOTAL_OFFSET_DEX} dex", _is_offset),
    "total_offset_by_redshift": ("{'redshift': increasing redshifts, 'offset_dex': as many offsets within "
                                 f"+-{MAX_TOTAL_OFFSET_DEX} dex, 'halos': as many positive counts}}", _is_offset_table),
    "validation_residual_dex": ("a non-negative number [dex]", lambda v: v is None or (_is_number(v) and v >= 0)),
    "dm_particle_mass_msun": ("a positive number [Msun]", lambda v: v is None or (_is_number(v) and v > 0)),
}


def _check_values(meta: dict, meta_path) -> None:
    for key, (expected, valid) in META_RULES.items():
        if key in meta and not valid(meta[key]):
            raise InputError(f"{meta_path}: {key} must be {expected}, got {meta[key]!r}")


def read_meta(path) -> dict:
    """A bundle's bundle.json, checked to be this format's (an InputError naming the file otherwise)."""
    path = Path(path)
    meta_path = path / META_FILE
    if not meta_path.is_file():
        raise InputError(f"{path}: not a model bundle (no {META_FILE})")
    try:
        meta = json.loads(meta_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{meta_path}: not valid JSON ({exc})") from None
    except RecursionError:
        raise InputError(f"{meta_path}: nested too deeply to be a bundle description") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        if (path / LEGACY_MODEL_FILE).exists():
            raise InputError(f"{path}: a bundle of an older mpipaint, a whole Keras model ({LEGACY_MODEL_FILE}), "
                             "which can run code when loaded; mpipaint loads only weights now: retrain it")
        raise InputError(f"{meta_path}: not an mpipaint bundle description (format {FORMAT!r} expected)")
    missing = [key for key in REQUIRED_KEYS if key not in meta]
    if missing:
        raise InputError(f"{meta_path}: missing {', '.join(missing)}")
    for key in ("input_normalisation", "target_normalisation"):
        Normalisation.checked(meta[key], f"{meta_path}: {key}")
    _check_values(meta, meta_path)
    if not isinstance(meta["architecture"], dict):
        raise InputError(f"{meta_path}: architecture must map build_unet's arguments to values, got "
                         f"{meta['architecture']!r}")
    if meta["architecture"].get("image_size") != meta["npix"]:
        raise InputError(f"{meta_path}: architecture image_size {meta['architecture'].get('image_size')!r} "
                         f"differs from npix {meta['npix']!r}")
    return meta


def write_weight_arrays(file, arrays) -> None:
    """Weight arrays w0, w1, ... in order as plain numpy (no pickles), replacing `file` atomically."""
    file = Path(file)
    partial = file.with_name(f"{file.stem}.partial.npz")
    with open(partial, "wb") as f:
        np.savez(f, **{f"w{i}": w for i, w in enumerate(arrays)})
    os.replace(partial, file)


WEIGHT_DTYPE = np.dtype("<f4")  # what train writes (a tf-keras model's get_weights() in float32)


def read_weight_arrays(file, expected_shapes, dtypes=None) -> list[np.ndarray]:
    """The arrays of a weights file (`write_weight_arrays`), checked against the shapes the network that
    will hold them expects and the dtypes (default: WEIGHT_DTYPE for each), from each array's header before
    its data are read (a header may claim any size), and then to be finite; anything else is an InputError
    naming the file."""
    file = Path(file)
    expected = [tuple(s) for s in expected_shapes]
    dtypes = [WEIGHT_DTYPE] * len(expected) if dtypes is None else [np.dtype(d).newbyteorder("<") for d in dtypes]
    try:
        with zipfile.ZipFile(file) as archive:
            names = archive.namelist()
            if sorted(names) != sorted(f"w{i}.npy" for i in range(len(expected))):
                raise InputError(f"{file}: holds {len(names)} arrays, the network has {len(expected)} (w0.npy ... "
                                 f"w{len(expected) - 1}.npy expected)")
            arrays = [_read_array(archive, f"w{i}.npy", shape, dtype, file)
                      for i, (shape, dtype) in enumerate(zip(expected, dtypes))]
    except FileNotFoundError:
        raise InputError(f"{file.parent}: no {file.name}") from None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise InputError(f"{file}: not readable weight arrays ({exc})") from None
    return arrays


def _read_array(archive: zipfile.ZipFile, name: str, shape: tuple, expected_dtype, file: Path) -> np.ndarray:
    with archive.open(name) as member:
        version = np.lib.format.read_magic(member)
        header = (np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0)
        stored_shape, fortran, dtype = header(member, max_header_size=10_000)
        if tuple(stored_shape) != shape:
            raise InputError(f"{file}: does not fit the architecture of the network it is loaded into: array "
                             f"{name[:-4]} has shape {tuple(stored_shape)}, the network needs {shape}")
        if dtype != expected_dtype or fortran:
            raise InputError(f"{file}: array {name[:-4]} holds {dtype} ({'Fortran' if fortran else 'C'} order); "
                             f"it must be {expected_dtype} in C order, as train writes it")
        data = member.read(int(np.prod(shape)) * dtype.itemsize)
    array = np.frombuffer(data, dtype=dtype).reshape(shape)
    if not np.isfinite(array).all():
        raise InputError(f"{file}: array {name[:-4]} has non-finite weights")
    return array.copy()


def load_bundle(path, spec: MapSpec | None = None, precision: str = "fp32", backend: str = "tf") -> Bundle:
    """Load a bundle: metadata checked, weights verified against `weights_sha256` and the U-net rebuilt
    from its architecture by `backend` (BACKENDS) to compute at `precision`; with `spec` (the maps it will
    be used on), refuse one trained on other maps."""
    path = Path(path)
    meta = read_meta(path)
    mismatch = MapSpec.from_attrs(meta).mismatch(spec) if spec is not None else None
    if mismatch:
        raise InputError(f"{path}: bundle was trained for {mismatch} (the bundle's, then the maps')")
    architecture = check_architecture(meta["architecture"], path / META_FILE)
    arrays = read_weight_arrays(path / WEIGHTS_FILE, weight_shapes(architecture))
    if weights_digest(arrays) != meta["weights_sha256"]:
        raise InputError(f"{path / WEIGHTS_FILE}: the weights do not match the weights_sha256 in {META_FILE} "
                         "(altered or damaged after training)")
    if backend == "jax":
        from mpipaint.model.jax_unet import JaxUnet  # noqa: PLC0415 - JAX only where chosen

        return Bundle(model=JaxUnet(architecture, arrays, precision), meta=meta, precision=precision, backend=backend)
    with dtype_policy(precision):  # the network always comes from mpipaint's code, never from a file
        model = build_unet(**architecture)
    model.set_weights(arrays)
    return Bundle(model=model, meta=meta, precision=precision, backend=backend)


MODELS_ENV = "MPIPAINT_MODELS"  # a directory of bundles: what `mpipaint paint BOX` uses without --model


def configured_models() -> list[Path]:
    """The bundles and ensembles in the directory $MPIPAINT_MODELS (its subdirectories holding bundle.json
    or ensemble.json, or the directory itself if it is one); an InputError that says how to name models
    where there are none."""
    how = (f"name bundles with --model BUNDLE (once per target), in a config's 'paint: models:' list, or set "
           f"{MODELS_ENV} to a directory of bundles")
    directory = os.environ.get(MODELS_ENV)
    if not directory:
        raise InputError(f"no model bundles: {how}")
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"{directory} ({MODELS_ENV}): not a directory; {how}")
    if (directory / META_FILE).exists() or (directory / ENSEMBLE_FILE).exists():
        return [directory]
    found = sorted(p for p in directory.iterdir() if (p / META_FILE).exists() or (p / ENSEMBLE_FILE).exists())
    if not found:
        raise InputError(f"{directory} ({MODELS_ENV}): holds no bundle (no */{META_FILE} or */{ENSEMBLE_FILE}); "
                         f"{how}")
    return found
