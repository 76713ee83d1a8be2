"""Model bundles: one directory holding the trained Keras model and everything needed to use it right.

    BUNDLE/model.h5       tf-keras model (architecture, weights)
    BUNDLE/bundle.json    target and its units, input and target normalisation constants, image size
                          and width, deposition mode, emission model, training-set fingerprint, split
                          seed and halos per split, the training options, software versions

`load_bundle(path, maps=...)` refuses a bundle whose metadata do not fit the maps it is given.

A deep ensemble (`train --members K`) is a directory of K bundles of one target, trained on one split from
different initialisations, listed in `ensemble.json`; `member_paths` expands it wherever a bundle is named.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from mpipaint.errors import InputError
from mpipaint.model.keras_env import keras
from mpipaint.model.norm import Normalisation

MODEL_FILE, META_FILE, ENSEMBLE_FILE = "model.h5", "bundle.json", "ensemble.json"
MAP_KEYS = ("npix", "width_kpc", "deposition_mode")  # what maps a bundle fits (training-set attributes too)


@dataclass
class Bundle:
    model: object  # a tf-keras Model
    meta: dict

    @property
    def input_norm(self) -> Normalisation:
        return Normalisation(**self.meta["input_normalisation"])

    @property
    def target_norm(self) -> Normalisation:
        return Normalisation(**self.meta["target_normalisation"])


def fingerprint(trainset_path) -> str:
    """sha256 over a training set's identity: its settings, the per-image metadata and the maps' checksums
    of the first and last image (cheap, yet changes when the set is regenerated differently)."""
    digest = hashlib.sha256()
    with h5py.File(trainset_path, "r") as f:
        for key in sorted(f.attrs):
            digest.update(f"{key}={np.asarray(f.attrs[key]).tolist()}".encode())
        for name in ("halo_id", "snapshot", "axis"):
            digest.update(np.ascontiguousarray(f[name][()]).tobytes())
        for name in ("dm", "gas", "temperature", "xray"):
            if name in f and len(f[name]):
                digest.update(f[name][0].tobytes())
                digest.update(f[name][-1].tobytes())
    return digest.hexdigest()


def save_bundle(path, model, meta: dict) -> Path:
    """Write model + metadata atomically enough: the metadata file, written last, marks a usable bundle."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / META_FILE).unlink(missing_ok=True)
    model.save(path / MODEL_FILE, include_optimizer=False)
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
    members = json.loads(listing.read_text()).get("members")
    if not members or not all(isinstance(m, str) and "/" not in m and m not in (".", "..") for m in members):
        raise InputError(f"{listing}: 'members' must list the member bundles' directory names")
    return [path / m for m in members]


def load_bundles_by_target(paths, maps: dict | None = None) -> dict[str, list[Bundle]]:
    """Every bundle behind `paths` (ensembles expanded), grouped by target; all must fit the same maps
    (MAP_KEYS) and the members of one target the same training split and normalisation."""
    grouped: dict[str, list[Bundle]] = {}
    first_path, first = None, None
    for path in (p for given in paths for p in member_paths(given)):
        bundle = load_bundle(path, maps)
        if first is None:
            first_path, first = path, bundle.meta
        for key in MAP_KEYS:
            if bundle.meta[key] != first[key]:
                raise InputError(f"{path}: {key} {bundle.meta[key]!r} differs from {first_path}'s {first[key]!r}")
        members = grouped.setdefault(bundle.meta["target"], [])
        for key in ("split_halos", "target_normalisation", "input_normalisation"):
            if members and bundle.meta[key] != members[0].meta[key]:
                raise InputError(f"{path}: a second '{bundle.meta['target']}' bundle with another {key}: "
                                 "bundles of one target form an ensemble and must share their training")
        members.append(bundle)
    return grouped


def validation_residual(members) -> float | None:
    """A target's residual scatter [dex]: the mean of its members' validation residuals (the ensemble mean
    scatters less than a member, so this errs wide); None unless every member records one."""
    values = [b.meta.get("validation_residual_dex") for b in members]
    return None if any(v is None for v in values) else float(np.mean(values))


def load_bundle(path, maps: dict | None = None) -> Bundle:
    """Load a bundle; with `maps` (npix, width_kpc, target, deposition_mode of the maps it will be used on),
    refuse one that does not fit them."""
    path = Path(path)
    meta_path = path / META_FILE
    if not meta_path.exists() or not (path / MODEL_FILE).exists():
        raise InputError(f"{path}: not a model bundle (expected {MODEL_FILE} and {META_FILE})")
    meta = json.loads(meta_path.read_text())
    if maps:
        for key, label in (("npix", "image size"), ("width_kpc", "map width [kpc]"), ("target", "target"),
                           ("deposition_mode", "deposition mode")):
            if key in maps and maps[key] is not None and maps[key] != meta[key]:
                raise InputError(f"{path}: bundle was trained for {label} {meta[key]!r}, but the maps have "
                                 f"{maps[key]!r}")
    model = keras().models.load_model(path / MODEL_FILE, compile=False)
    return Bundle(model=model, meta=meta)
