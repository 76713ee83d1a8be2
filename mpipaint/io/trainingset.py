"""The training-set file written by `mpipaint prepare`: one image per halo and projection axis.

Datasets (N x npix x npix, one image per chunk, gzip): `dm` always; `gas`, `temperature`, `xray` and `y`
(Compton-y) for a full-physics run. float32, except `xray` (cluster cores reach 1e40 erg/s/kpc^2, beyond
float32) and `y` in float64. Per image: `halo_id`, `snapshot`, `redshift`, `axis` (0=x, 1=y, 2=z), `m200c`, `r200c`,
`dmo_halo_id`, `box_size` [physical kpc], and `done` (1 once the image is written; a re-run fills in the
rest). The root attribute `complete` becomes True only when every image is done. Root attributes also
carry the maps' `MapSpec` and the run's settings. `lay_out`, `write_images` and `done_flags` write it (for
prepare); `TrainingSet` reads it (for train, evaluate, calibrate and the demo).
"""
from __future__ import annotations

import hashlib

import h5py
import numpy as np

from mpipaint.errors import InputError
from mpipaint.io.hdf5 import FinishedFile, require_dataset
from mpipaint.maps.gas import MAP_DESCRIPTIONS, MAP_UNITS
from mpipaint.maps.geometry import MapSpec

MAP_DTYPES = {"dm": "float32", "gas": "float32", "temperature": "float32", "xray": "float64", "y": "float64"}
TARGET_MAPS = ("gas", "temperature", "xray", "y")  # the truth a full-physics set holds beside `dm`
PER_IMAGE = {
    "halo_id": ("int64", ""), "snapshot": ("int32", ""), "redshift": ("float64", ""), "axis": ("int8", ""),
    "m200c": ("float64", "Msun"), "r200c": ("float64", "kpc"), "dmo_halo_id": ("int64", ""),
    "box_size": ("float64", "kpc"),  # physical side of the periodic box at the image's redshift
}


def lay_out(f: h5py.File, targets, npix: int, per_image: dict, attrs: dict) -> None:
    """An empty training set in the new file `f` for len(per_image['halo_id']) images of map `targets`."""
    n = len(per_image["halo_id"])
    for name in targets:
        dset = f.create_dataset(name, shape=(n, npix, npix), dtype=MAP_DTYPES[name], chunks=(1, npix, npix),
                                compression="gzip", compression_opts=1, shuffle=True, fillvalue=np.nan)
        dset.attrs["units"] = MAP_UNITS[name]
        dset.attrs["description"] = MAP_DESCRIPTIONS[name]
    for name, (dtype, unit) in PER_IMAGE.items():
        f.create_dataset(name, data=np.asarray(per_image[name], dtype=dtype)).attrs["units"] = unit
    f.create_dataset("done", data=np.zeros(n, dtype="uint8")).attrs["units"] = ""
    for key, value in attrs.items():
        f.attrs[key] = value
    f.attrs["complete"] = False


def done_flags(path) -> tuple[np.ndarray, int]:
    """(per image: marked done and every map's chunk on disk, number of images marked done without their
    maps). A flag without its data (a crash before the ordering in `write_images`, or a damaged file) counts
    as not done, so a resume maps the image again."""
    with h5py.File(path, "r") as f:
        done = f["done"][()].astype(bool)
        maps = [f[name] for name in MAP_DTYPES if name in f]
        without_maps = [index for index in np.flatnonzero(done)
                        if any(d.id.get_chunk_info_by_coord((int(index), 0, 0)).byte_offset is None for d in maps)]
    done[without_maps] = False
    return done, len(without_maps)


def write_images(f: h5py.File, images: list, flush) -> None:
    """Write (index, {target: map}) pairs, `flush`, then mark them done and `flush` again: a done flag never
    reaches the file before its images (a kill between the two leaves them to be mapped again). The
    datasets stay open through each flush, so a failed write raises there (h5py ignores the error when a
    dropped handle's chunk cache fails to reach the disk)."""
    datasets = {name: f[name] for name in images[0][1]}
    for index, maps in images:
        for name, image in maps.items():
            stored = image.astype(MAP_DTYPES[name])
            if not np.isfinite(stored).all():
                raise ValueError(f"{f.filename}: image {index} of '{name}' has non-finite pixels")
            datasets[name][index] = stored
    flush()
    done = f["done"]
    for index, _ in images:
        done[index] = 1
    flush()


class TrainingSet(FinishedFile):
    """A complete training set open for reading (a context manager): its MapSpec and attributes, per-image
    columns (`column`, PER_IMAGE), maps. A missing, unreadable, unfinished or foreign file is an InputError
    naming it."""

    kind = "training set"
    finish_hint = "re-run mpipaint prepare"

    def _check(self) -> None:
        for name in ("dm", *PER_IMAGE):
            require_dataset(self.file, name)
        self.attrs = {key: self.file.attrs[key] for key in self.file.attrs}
        self.spec = MapSpec.from_attrs(self.attrs)

    def __len__(self) -> int:
        return len(self.file["dm"])

    @property
    def targets(self) -> tuple[str, ...]:
        """The true maps held beside `dm` (none in a DM-only set)."""
        return tuple(name for name in TARGET_MAPS if name in self.file)

    def require_target(self, target: str) -> None:
        if target not in self.file:
            if "xray" in self.file:  # a full-physics set made before its prepare wrote this map
                raise InputError(f"{self.path}: no '{target}' maps: this full-physics set was prepared before "
                                 f"mpipaint wrote them; run mpipaint prepare again with another --out to have "
                                 f"them (a set's maps are made in one pass, so it is not extended in place)")
            raise InputError(f"{self.path}: no '{target}' maps (a DM-only training set?)")

    def halo_keys(self) -> np.ndarray:
        """(snapshot, halo id) of every image: a halo's projections share a key."""
        return np.stack([self.column("snapshot"), self.column("halo_id")], axis=1)

    def images(self, name: str, indices) -> np.ndarray:
        """Maps `indices` of `name` as stored (float32, or float64 for X-ray)."""
        return self.file[name][indices]

    def maps(self, name: str, indices) -> np.ndarray:
        """Maps `indices` of `name` as float64; an image with non-finite or negative pixels is an InputError
        naming the file, the dataset, the image and its halo."""
        maps = self.file[name][indices].astype(np.float64)
        bad = ~np.all(np.isfinite(maps) & (maps >= 0), axis=(1, 2))
        if bad.any():
            image = int(np.asarray(indices)[np.argmax(bad)])
            raise InputError(f"{self.path}: '{name}' image {image} (halo {int(self.file['halo_id'][image])} of "
                             f"snapshot {int(self.file['snapshot'][image])}) has non-finite or negative pixels")
        return maps

    def fingerprint(self) -> str:
        """sha256 over the set's identity: its settings, the per-image metadata and the first and last image
        of each map (cheap, yet changes when the set is regenerated differently); bundles record it."""
        digest = hashlib.sha256()
        for key in sorted(self.attrs):
            digest.update(f"{key}={np.asarray(self.attrs[key]).tolist()}".encode())
        for name in ("halo_id", "snapshot", "axis"):
            digest.update(np.ascontiguousarray(self.column(name)).tobytes())
        for name in MAP_DTYPES:
            if name in self.file and len(self.file[name]):
                digest.update(self.file[name][0].tobytes())
                digest.update(self.file[name][-1].tobytes())
        return digest.hexdigest()
