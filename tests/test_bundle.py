"""Bundles are shared between groups: loading one never executes anything it holds, and its weights and
metadata are checked before a single pixel is painted."""
import json
import shutil
import zipfile

import numpy as np
import pytest

from mpipaint.errors import InputError
from mpipaint.model.bundle import LEGACY_MODEL_FILE, META_FILE, WEIGHTS_FILE, load_bundle, save_bundle
from mpipaint.model.keras_env import keras
from mpipaint.model.norm import Normalisation
from mpipaint.model.unet import build_unet
from one_map import normalised_output

pytestmark = pytest.mark.tf  # TensorFlow (tf-keras) builds, trains or runs the nets here

ARCHITECTURE = {"image_size": 32, "base_filters": 2, "depth": 1, "head": "minmax", "mask": False}
NORM = Normalisation("minmax", "log", 0.0, 10.0, 1.0).to_dict()


@pytest.fixture
def bundle(tmp_path):
    keras().utils.set_random_seed(1)
    meta = {"target": "xray", "target_units": "erg/s/kpc^2", "npix": 32, "width_kpc": 4000.0,
            "deposition_mode": "group", "input_normalisation": NORM, "target_normalisation": NORM}
    return save_bundle(tmp_path / "bundle", build_unet(**ARCHITECTURE).get_weights(), ARCHITECTURE, meta)


def edit_meta(path, **changes):
    meta = json.loads((path / META_FILE).read_text())
    meta.update(changes)
    (path / META_FILE).write_text(json.dumps(meta))


def test_a_bundle_round_trips_its_weights(bundle):
    loaded = load_bundle(bundle)
    with np.load(bundle / WEIGHTS_FILE) as saved:
        assert all(np.array_equal(w, saved[f"w{i}"]) for i, w in enumerate(loaded.model.get_weights()))
    assert loaded.model.count_params() == build_unet(**ARCHITECTURE).count_params()


def test_a_keras_model_with_a_lambda_layer_is_refused_without_running_it(bundle, tmp_path):
    """The attack that worked on format 1: a legacy .h5 whose Lambda layer writes a file when loaded."""
    marker = tmp_path / "code_ran"
    k = keras()
    inputs = k.Input((32, 32, 1), name="dm")
    payload = k.layers.Lambda(lambda x, path=str(marker): (open(path, "w").close(), x)[1])(inputs)
    k.Model(inputs, payload).save(bundle / LEGACY_MODEL_FILE)
    marker.unlink(missing_ok=True)  # building the model above called the lambda once
    legacy = json.loads((bundle / META_FILE).read_text())
    del legacy["format"]  # as format 1 wrote it
    (bundle / META_FILE).write_text(json.dumps(legacy))
    (bundle / WEIGHTS_FILE).unlink()
    with pytest.raises(InputError, match="can run code when loaded"):
        load_bundle(bundle)  # what paint, evaluate and calibrate call
    assert not marker.exists()


def test_altered_weights_are_refused(bundle):
    with np.load(bundle / WEIGHTS_FILE) as saved:
        arrays = {name: saved[name] for name in saved.files}
    arrays["w0"] = arrays["w0"] * 1e30  # what painted Lx = 5e84 erg/s under format 1
    np.savez(bundle / WEIGHTS_FILE, **arrays)
    with pytest.raises(InputError, match="do not match the weights_sha256"):
        load_bundle(bundle)


def test_truncated_weights_are_refused_with_the_file_named(bundle):
    data = (bundle / WEIGHTS_FILE).read_bytes()
    (bundle / WEIGHTS_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=f"{WEIGHTS_FILE}: not readable weight arrays"):
        load_bundle(bundle)


def test_weights_of_another_architecture_are_refused(bundle, tmp_path):
    other = save_bundle(tmp_path / "other", build_unet(**{**ARCHITECTURE, "base_filters": 4}).get_weights(),
                        {**ARCHITECTURE, "base_filters": 4}, json.loads((bundle / META_FILE).read_text()))
    shutil.copy(other / WEIGHTS_FILE, bundle / WEIGHTS_FILE)
    with pytest.raises(InputError, match="does not fit the architecture"):
        load_bundle(bundle)


@pytest.mark.parametrize("changes,message", [
    ({"architecture": {**ARCHITECTURE, "depth": 40}}, "depth must be a int in 1..8"),
    ({"architecture": {**ARCHITECTURE, "head": "lambda"}}, "head must be one of"),
    ({"architecture": {**ARCHITECTURE, "module": "os"}}, "must give exactly"),
    ({"architecture": {**ARCHITECTURE, "image_size": 64}}, "differs from npix"),
    ({"architecture": "unet"}, "architecture must map build_unet's arguments"),
    ({"input_normalisation": {**NORM, "high": float("nan")}}, "must be finite numbers"),
    ({"target_normalisation": {"scheme": "minmax"}}, "needs exactly scheme, space, low, high and floor"),
    ({"target_normalisation": {**NORM, "high": 1e300}}, r"needs -100 <= low < high <= 100"),  # painted Lx = inf
    ({"target_normalisation": {**NORM, "space": "exp"}}, "space one of"),
    ({"target_normalisation": {**NORM, "low": "0"}}, "must be finite numbers"),
    ({"target_normalisation": {**NORM, "floor": 0.0}}, "0 < floor"),
    ({"total_offset_dex": -30.0}, "total_offset_dex must be a number within"),  # would paint 1e30 x the bound
    ({"total_offset_dex": "0.1"}, "total_offset_dex must be a number within"),
    ({"total_offset_by_redshift": {"redshift": [0.5, 0.0], "offset_dex": [0.1, 0.1], "halos": [30, 30]}},
     "total_offset_by_redshift must be .* increasing redshifts"),
    ({"total_offset_by_redshift": {"redshift": [0.0, 0.5], "offset_dex": [0.1, 3.0], "halos": [30, 30]}},
     "total_offset_by_redshift must be"),  # would paint 1000 x the bound at z = 0.5
    ({"total_offset_by_redshift": {"redshift": [0.0, 0.5], "offset_dex": [0.1], "halos": [30, 30]}},
     "total_offset_by_redshift must be"),
    ({"validation_residual_dex": "0.1"}, "validation_residual_dex must be a non-negative number"),
    ({"dm_particle_mass_msun": "x"}, "dm_particle_mass_msun must be a positive number"),
    ({"npix": "32"}, "npix must be a positive integer"),
    ({"target": "dm"}, "target must be one of"),
])
def test_inconsistent_metadata_is_refused(bundle, changes, message):
    edit_meta(bundle, **changes)
    with pytest.raises(InputError, match=message):
        load_bundle(bundle)


def test_a_bundle_description_that_is_not_json_is_refused(bundle):
    (bundle / META_FILE).write_text('{"format": "mpipaint-bundle-2", ')
    with pytest.raises(InputError, match="not valid JSON"):
        load_bundle(bundle)
    (bundle / META_FILE).write_text('{"format": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(InputError, match="nested too deeply"):
        load_bundle(bundle)


def _rewritten(bundle, change):
    """The bundle saved again with its weight arrays changed by `change(arrays)`, digest and all (as a
    careless or hostile writer would: the sha256 matches)."""
    meta = json.loads((bundle / META_FILE).read_text())
    with np.load(bundle / WEIGHTS_FILE) as saved:
        arrays = [saved[f"w{i}"] for i in range(len(saved.files))]
    return save_bundle(bundle, change(arrays), meta.pop("architecture"), meta)


@pytest.mark.parametrize("change,message", [
    (lambda a: [a[0] * np.nan, *a[1:]], "array w0 has non-finite weights"),
    (lambda a: [a[0].astype(np.int32), *a[1:]], "array w0 holds int32"),
    (lambda a: [a[0].astype(np.uint8), *a[1:]], "array w0 holds uint8"),
    (lambda a: [a[0].astype(np.float64), *a[1:]], "array w0 holds float64"),
])
def test_weights_train_could_not_have_written_are_refused_with_a_matching_digest(bundle, change, message):
    """NaN weights paint NaN and integer weights paint nonsense (Lx 5.6e8 erg/s for a 1.8e44 halo) with no
    flag raised: weights are float32 and finite, as train writes them, whatever the digest says."""
    with pytest.raises(InputError, match=message):
        load_bundle(_rewritten(bundle, change))


def test_a_weights_header_claiming_a_huge_array_is_refused_before_reading(bundle):
    """A .npy header may claim any shape: 1e12 elements would be a 3.6 TiB allocation. The shapes the
    architecture needs are compared with the headers before any data are read."""
    with np.load(bundle / WEIGHTS_FILE) as saved:
        arrays = {name: saved[name] for name in saved.files}
    header = {"descr": "<f4", "fortran_order": False, "shape": (1_000_000, 1_000_000)}
    with zipfile.ZipFile(bundle / WEIGHTS_FILE, "w") as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w") as member:
                if name == "w0":
                    np.lib.format.write_array_header_1_0(member, header)
                    member.write(b"\0" * 64)
                else:
                    np.lib.format.write_array(member, array)
    with pytest.raises(InputError, match=r"array w0 has shape \(1000000, 1000000\), the network needs"):
        load_bundle(bundle)


@pytest.mark.parametrize("architecture", [
    {"image_size": 32, "base_filters": 4, "depth": 3, "head": "minmax", "mask": True},
    {"image_size": 16, "base_filters": 3, "depth": 2, "head": "4sigma", "mask": False},
])
def test_the_jax_net_computes_what_the_tensorflow_net_computes(architecture, tmp_path):
    """One bundle, two backends: the weight layout (unet.weight_shapes) is the one tf-keras stores, and the
    JAX forward pass equals TensorFlow's to float32 rounding in fp32; at bf16 and fp16 it stays within
    their rounding of fp32 (weights with trained-like batch-norm statistics, random inputs)."""
    from mpipaint.model.infer import Predictor  # noqa: PLC0415
    from mpipaint.model.unet import weight_shapes  # noqa: PLC0415

    keras().utils.set_random_seed(5)
    net = build_unet(**architecture)
    assert [tuple(w.shape) for w in net.weights] == weight_shapes(architecture)
    rng = np.random.default_rng(5)  # moving statistics away from 0 and 1, so batch norm is exercised
    net.set_weights([w + rng.normal(0, 0.1, w.shape) if w.ndim == 1 else w for w in net.get_weights()])
    net.set_weights([np.abs(w) + 0.5 if i % 6 == 5 else w for i, w in enumerate(net.get_weights())])
    size = architecture["image_size"]
    meta = {"target": "xray", "target_units": "erg/s/kpc^2", "npix": size, "width_kpc": 4000.0,
            "mask": architecture["mask"],
            "deposition_mode": "group", "input_normalisation": NORM, "target_normalisation": NORM}
    path = save_bundle(tmp_path / "b", net.get_weights(), architecture, meta)
    dm = 10.0 ** rng.uniform(0, 10, (5, size, size))
    dm[:, :3] = 0.0  # empty pixels: masked where the net has a mask
    outputs = {(backend, precision): normalised_output(Predictor(load_bundle(path, precision=precision,
                                                                             backend=backend), batch_size=2), dm)
               for backend, precision in (("tf", "fp32"), ("jax", "fp32"), ("jax", "bf16"), ("jax", "fp16"))}
    reference = outputs["tf", "fp32"]
    scale = np.abs(reference).max()
    assert scale > 0
    np.testing.assert_allclose(outputs["jax", "fp32"], reference, rtol=0, atol=1e-5 * scale)
    for precision, mantissa_bits in (("bf16", 8), ("fp16", 11)):
        error = np.abs(outputs["jax", precision] - reference).max() / scale
        assert 0 < error < 8 * 2.0**-mantissa_bits, precision  # measured: 1.5 and 2.2 x 2^-bits


@pytest.mark.parametrize("target, target_norm, mask", [
    ("xray", Normalisation("minmax", "log", 32.0, 40.0, 1e32), True),  # float32 overflows past 3.4e38
    ("temperature", Normalisation("minmax", "log", -1.0, 1.5, 0.1), False),  # mean over DM pixels
    ("gas", Normalisation("4sigma", "log", 4.0, 9.0, 1e4), False),
])
def test_the_device_chain_paints_what_the_host_chain_paints(target, target_norm, mask, tmp_path):
    """JAX's whole chain in one jit-compiled function (jax_chain.DevicePredictor: normalisation, net,
    bounded inverse and sums on the device) against the host chain around the TensorFlow net, fp32, one
    bundle, on maps with DM pixels above the fitted input range and outputs at the bound: per-map summaries
    within 1e-5 relative, maps within 5e-5, the same fractions outside and at the bound up to a pixel or two
    at the threshold; without kept maps the same summaries."""
    from mpipaint.model.infer import EnsemblePredictor  # noqa: PLC0415

    architecture = {"image_size": 32, "base_filters": 4, "depth": 2, "head": "minmax", "mask": mask}
    keras().utils.set_random_seed(7)
    weights = build_unet(**architecture).get_weights()
    weights[-1] = weights[-1] + 1.0  # head bias: part of the output above the bound (z_max 1.04-1.12)
    meta = {"target": target, "target_units": "", "npix": 32, "width_kpc": 4000.0, "mask": mask,
            "deposition_mode": "group", "input_normalisation": NORM, "target_normalisation": target_norm.to_dict(),
            "total_offset_dex": 0.05, "total_offset_by_redshift": {"redshift": [0.0, 1.0], "offset_dex": [0.1, -0.1],
                                                                    "halos": [30, 30]}}
    path = save_bundle(tmp_path / "b", weights, architecture, meta)
    dm = 10.0 ** np.random.default_rng(7).uniform(0, 10.3, (5, 32, 32))  # 3 % of pixels above the range
    dm[:, :4] = 0.0
    host = EnsemblePredictor([load_bundle(path, precision="fp32", backend="tf")], batch_size=2)(dm, 0.75)
    device = EnsemblePredictor([load_bundle(path, precision="fp32", backend="jax")], batch_size=2)(dm, 0.75)
    pooled = EnsemblePredictor([load_bundle(path, precision="fp32", backend="jax")], batch_size=2)(dm)
    np.testing.assert_allclose(device.totals / pooled.totals, 10.0 ** (0.05 + 0.05), rtol=1e-12)  # -0.05 at z 0.75
    assert host.at_bound.min() > 0 and host.dm_outside.min() > 0.01 and host.images.max() > 0
    np.testing.assert_allclose(device.totals, host.totals, rtol=1e-5, atol=0)
    np.testing.assert_allclose(device.images, host.images, rtol=5e-5, atol=0)
    np.testing.assert_allclose(device.dm_outside, host.dm_outside, rtol=0, atol=2 / 32**2)
    np.testing.assert_allclose(device.at_bound, host.at_bound, rtol=0, atol=2 / 32**2)
    lean = EnsemblePredictor([load_bundle(path, precision="fp32", backend="jax")], batch_size=2,
                             keep_maps=False)(dm, 0.75)
    assert lean.images is None
    np.testing.assert_array_equal(lean.totals, device.totals)
