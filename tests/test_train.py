"""U-net, normalisation, split, bundles, and real 2-process Horovod training (under mpirun)."""
import dataclasses
import json
import shutil

import numpy as np
import pytest

from conftest import TINY_TRAINING, run_mpipaint
from one_map import normalised_output
from mpipaint.errors import PREEMPTED_EXIT, InputError
from mpipaint.faults import FAULT_ENV, spec
from mpipaint.maps.geometry import MapSpec
from mpipaint.model.bundle import load_bundle
from mpipaint.model.callbacks import LR_HALVINGS, ValidationSchedule
from mpipaint.model.norm import Normalisation, RunningStats
from mpipaint.model.training import SYMMETRIES, dihedral, epoch_plan, map_and_total_loss, split_by_halo
from mpipaint.model.unet import build_unet
from mpipaint.options import TrainOptions
from mpipaint.science import stats
from mpipaint.science.ranges import coarser_than_trained, out_of_range

pytestmark = pytest.mark.tf  # TensorFlow (tf-keras) builds, trains or runs the nets here

TINY = TINY_TRAINING


def test_full_size_unet_has_the_papers_parameter_count():
    model = build_unet(512, 64, 4, "minmax", mask=True)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert model.count_params() == 31_054_145 and trainable == 31_042_369  # Table A1
    assert model.output_shape == (None, 512, 512, 1)


@pytest.mark.parametrize("scheme,space", [("minmax", "log"), ("4sigma", "log"), ("minmax", "linear")])
def test_normalisation_round_trip(scheme, space):
    rng = np.random.default_rng(1)
    images = [10 ** rng.normal(6, 0.8, (32, 32)) for _ in range(4)]  # within the default 8-dex range
    images[0][:4] = 0.0  # empty pixels
    stats = RunningStats(space)
    for image in images:
        stats.add(image)
    norm = stats.fit(scheme)
    norm = Normalisation(**norm.to_dict())  # as stored in a bundle
    z = norm.forward(images[1])
    assert z.min() >= 0 and z.max() <= 1
    inside = (z > 0) & (z < 1)
    assert inside.mean() > 0.99
    np.testing.assert_allclose(norm.inverse_and_at_bound(z)[0][inside], images[1][inside], rtol=1e-6)
    assert np.all(norm.inverse_and_at_bound(norm.forward(images[0]))[0][:4] == 0.0)  # zeros stay zero


def test_log_minmax_range_is_capped_below_the_brightest_pixel():
    """A 16-dex spread: the fitted range is 8 dex below the peak; fainter pixels become empty (z = 0) and
    hold a negligible share of the total, which the round trip keeps to 1e-6."""
    rng = np.random.default_rng(2)
    image = 10 ** rng.uniform(20, 36, (64, 64))
    stats = RunningStats("log")
    stats.add(image)
    norm = stats.fit("minmax")
    assert norm.high == pytest.approx(np.log10(image.max())) and norm.high - norm.low == pytest.approx(8.0)
    back = norm.inverse_and_at_bound(norm.forward(image))[0]
    faint = image < 10**norm.low
    assert faint.mean() > 0.4 and np.all(back[faint] == 0)
    assert back.sum() == pytest.approx(image.sum(), rel=1e-6)


@pytest.mark.parametrize("scheme,space,limit", [("minmax", "log", lambda n: 2 * 10**n.high),
                                                ("minmax", "linear", lambda n: 2 * n.high),
                                                ("4sigma", "log", lambda n: 10**n.high)])
def test_painted_values_are_bounded_and_counted_at_the_bound(scheme, space, limit):
    rng = np.random.default_rng(3)
    stats = RunningStats(space)
    stats.add(10 ** rng.normal(1, 0.3, (32, 32)))
    norm = stats.fit(scheme)
    z = np.zeros((2, 8, 8))
    z[0, :2] = 1e6  # a runaway output: 16 of 64 pixels
    x = norm.inverse_and_at_bound(z)[0]
    assert np.isfinite(x).all() and x.max() == pytest.approx(limit(norm), rel=1e-9)
    np.testing.assert_allclose(norm.inverse_and_at_bound(z)[1], [0.25, 0.0])


def test_the_outside_fraction_counts_pixels_brighter_than_the_fitted_input_range():
    norm = Normalisation(scheme="minmax", space="log", low=2.0, high=6.0, floor=100.0)
    maps = np.full((3, 10, 10), 1e4)
    maps[1, :3] = 1e7  # 30 % above
    maps[2, 0, :5], maps[2, 1, :5] = 10.0, 0.0  # 5 % below and 5 % empty: both map to z = 0, as trained
    np.testing.assert_allclose(norm.forward_and_outside(maps)[1], [0.0, 0.3, 0.0])
    np.testing.assert_array_equal(out_of_range(norm.forward_and_outside(maps)[1], [0.0, 0.0, 0.0]), [0, 1, 0])
    np.testing.assert_array_equal(out_of_range([0.0, 0.0], [0.0, 0.002]), [0, 1])
    np.testing.assert_array_equal(out_of_range([0.0, 0.0], [0.0, 0.0], coarser=True), [1, 1])
    assert coarser_than_trained(8.0e9, 1.0e9) and not coarser_than_trained(1.19e9, 1.0e9)
    assert not coarser_than_trained(None, 1.0e9)


def test_the_eight_symmetries_of_the_square_are_distinct_and_keep_the_total():
    image = np.arange(16.0).reshape(4, 4) ** 2
    variants = [dihedral(image, k) for k in range(SYMMETRIES)]
    assert len({v.tobytes() for v in variants}) == 8
    assert all(v.sum() == image.sum() for v in variants)
    centre = np.zeros((5, 5))
    centre[2, 2] = 1.0
    assert all(dihedral(centre, k)[2, 2] == 1.0 for k in range(SYMMETRIES))  # the halo centre stays put


def test_total_loss_term_is_the_squared_log10_error_of_the_map_total():
    """The TensorFlow loss against numpy: MSE in z plus weight x (log10 of the physical totals' ratio)^2."""
    import tensorflow as tf

    norm = Normalisation(scheme="minmax", space="log", low=30.0, high=40.0, floor=1e30)
    rng = np.random.default_rng(4)
    z_true = rng.uniform(0, 1, (2, 8, 8, 1)).astype(np.float32)
    z_pred = np.clip(z_true + rng.normal(0, 0.05, z_true.shape), 0, 1).astype(np.float32)
    loss = map_and_total_loss(tf, norm, 0.5)(tf.constant(z_true), tf.constant(z_pred)).numpy()
    x_true = norm.inverse_and_at_bound(z_true[..., 0])[0]
    x_pred = norm.inverse_and_at_bound(z_pred[..., 0])[0]
    expected = ((z_true - z_pred) ** 2).mean(axis=(1, 2, 3)) + 0.5 * np.log10(
        x_pred.sum(axis=(1, 2)) / x_true.sum(axis=(1, 2))) ** 2
    np.testing.assert_allclose(loss, expected, rtol=2e-4)


def test_schedule_halves_to_the_floor_before_it_stops_and_keeps_the_best_weights(tmp_path):
    """A validation loss that never improves after epoch 1: the rate halves every lr_patience epochs down to
    1/2^LR_HALVINGS, and training stops only after `patience` more epochs at that floor."""
    model = build_unet(16, 2, 1, "minmax", mask=False)
    model.compile(optimizer="adam", loss="mse")
    options = TrainOptions(data="unused", out="unused", lr_patience=2, patience=3, warmup_epochs=0)
    state = {"epoch": 0, "schedule": {"best": float("inf"), "best_epoch": 0, "wait": 0, "lr_wait": 0,
                                      "halvings": 0, "stopped": False}}
    schedule = ValidationSchedule("val_loss", options, state, tmp_path, [w.shape for w in model.weights])
    schedule.set_model(model)
    initial_rate, best = float(model.optimizer.learning_rate.numpy()), model.get_weights()
    epoch = 0
    while not model.stop_training:
        schedule.on_epoch_end(epoch, {"val_loss": 1.0 if epoch == 0 else 2.0})
        epoch += 1
        model.set_weights([w + 1 for w in model.get_weights()])  # later epochs' weights differ from the best
    assert epoch == 1 + LR_HALVINGS * options.lr_patience + options.patience
    assert np.isclose(float(model.optimizer.learning_rate.numpy()), initial_rate / 2**LR_HALVINGS)
    assert schedule.state["best_epoch"] == 1
    assert all(np.array_equal(a, b) for a, b in zip(schedule.best_weights, best))


def test_nan_and_negative_pixels_are_refused():
    stats = RunningStats("log")
    with pytest.raises(InputError, match="NaN pixels"):
        stats.add(np.array([[1.0, np.nan]]))
    with pytest.raises(InputError, match="negative pixels"):
        stats.add(np.array([[1.0, -2.0]]))


def test_split_by_halo_keeps_projections_together():
    rng = np.random.default_rng(2)
    halo_ids = np.repeat(rng.permutation(200), 3)
    snapshots = np.repeat(rng.choice([67, 99], 200), 3)
    splits = split_by_halo(snapshots, halo_ids, seed=9)
    keys = {name: {(s, h) for s, h in zip(snapshots[idx], halo_ids[idx])} for name, idx in splits.items()}
    assert not keys["train"] & keys["validation"] and not keys["train"] & keys["test"]
    assert not keys["validation"] & keys["test"]
    assert sum(len(idx) for idx in splits.values()) == 600
    assert [len(keys[n]) for n in ("train", "validation", "test")] == [160, 20, 20]
    again = split_by_halo(snapshots, halo_ids, seed=9)
    assert all(np.array_equal(splits[n], again[n]) for n in splits)
    assert not np.array_equal(split_by_halo(snapshots, halo_ids, seed=10)["test"], splits["test"])


@pytest.fixture
def trainset(small_trainset):
    return small_trainset


@pytest.fixture
def trained(xray_bundle):
    return xray_bundle


def test_two_horovod_ranks_lower_the_loss_and_end_with_identical_weights(trained):
    bundle, log = trained
    meta = json.loads((bundle / "bundle.json").read_text())
    assert meta["ranks"] == 2
    loss = meta["history"]["loss"]
    assert len(loss) == 5 and loss[-1] < 0.5 * loss[0]
    assert "weights identical on 2 ranks" in log
    train_halos = {tuple(h) for h in meta["split_halos"]["train"]}
    assert not train_halos & {tuple(h) for h in meta["split_halos"]["test"]}
    assert meta["target"] == "xray" and meta["target_units"] == "erg/s/kpc^2"
    assert meta["versions"]["horovod"] == "0.28.1" and meta["versions"]["tf_keras"].startswith("2.18")


def test_bundle_refuses_maps_it_was_not_trained_for(trained):
    bundle, _ = trained
    maps = MapSpec(npix=32, width_kpc=4000.0, deposition_mode="group")
    ok = load_bundle(bundle, maps)
    assert ok.model.output_shape == (None, 32, 32, 1)
    for other, label in ((dataclasses.replace(maps, npix=64), "image size"),
                         (dataclasses.replace(maps, width_kpc=2000.0), "map width"),
                         (dataclasses.replace(maps, deposition_mode="cube"), "deposition mode")):
        with pytest.raises(InputError, match=f"trained for {label}"):
            load_bundle(bundle, other)


def test_training_under_keras3_is_refused(trainset, tmp_path, monkeypatch):
    monkeypatch.setenv("TF_USE_LEGACY_KERAS", "0")
    result = run_mpipaint("train", "--data", trainset, "--out", tmp_path / "b", "--epochs", "1", *TINY,
                          check=False)
    assert result.returncode != 0 and "Keras 3" in result.stderr
    assert not (tmp_path / "b" / "bundle.json").exists()


def _weights(bundle):
    with np.load(bundle / "weights.npz") as weights:
        return {name: weights[name] for name in weights.files}


@pytest.fixture(scope="module")
def uninterrupted(small_trainset, tmp_path_factory):
    """Four epochs of two ranks without a stop: what every resumed run must reproduce."""
    bundle = tmp_path_factory.mktemp("uninterrupted") / "b"
    run_mpipaint("train", "--data", small_trainset, "--out", bundle, "--epochs", "4", *TINY, ranks=2)
    return bundle


def assert_same_bundle(a, b):
    """Weights bit for bit, and the schedule, history and calibration that training recorded."""
    wa, wb = _weights(a), _weights(b)
    assert sorted(wa) == sorted(wb) and all(np.array_equal(wa[k], wb[k]) for k in wa)
    ma, mb = (json.loads((bundle / "bundle.json").read_text()) for bundle in (a, b))
    for key in ("history", "schedule", "total_offset_dex", "validation_residual_dex"):
        assert ma[key] == mb[key], key


def test_killed_training_resumes_to_the_uninterrupted_bundle(trainset, uninterrupted, tmp_path, monkeypatch):
    """kill -9 after epoch 2's checkpoint, then the same command: it resumes there, and the bundle is the
    uninterrupted run's (data order and symmetries are seeded per epoch; the checkpoint holds the optimizer,
    schedule, batch-norm statistics and best weights)."""
    bundle = tmp_path / "b"
    monkeypatch.setenv(FAULT_ENV, spec("kill", "epochs-checkpointed", 2))
    killed = run_mpipaint("train", "--data", trainset, "--out", bundle, "--epochs", "4", *TINY, ranks=2,
                          check=False)
    assert killed.returncode != 0 and not (bundle / "bundle.json").exists()
    state = json.loads((bundle / "checkpoint" / "state.json").read_text())
    assert state["epoch"] == 2 and state["checkpoint"] == "epoch-2.npz"
    assert {p.name.split(".")[0] for p in (bundle / "checkpoint").glob("epoch-*")} == {"epoch-2"}
    monkeypatch.delenv(FAULT_ENV)
    resumed = run_mpipaint("train", "--data", trainset, "--out", bundle, "--epochs", "4", *TINY, ranks=2)
    assert "resuming from the checkpoint of epoch 2" in resumed.stderr
    assert_same_bundle(uninterrupted, bundle)
    other = run_mpipaint("train", "--data", trainset, "--out", bundle, "--epochs", "5", "--scheme", "4sigma",
                         *TINY, check=False)
    assert other.returncode == 2
    assert "checkpoint was made from another training set or with other options" in other.stderr


def test_a_stop_signal_ends_training_after_the_epochs_checkpoint_and_it_resumes(trainset, uninterrupted, tmp_path,
                                                                               monkeypatch):
    """SIGTERM (what SLURM sends at preemption) during epoch 2's checkpoint: every rank ends after that epoch
    with exit 143 and no bundle; the same command then gives the uninterrupted bundle."""
    bundle = tmp_path / "b"
    monkeypatch.setenv(FAULT_ENV, spec("term", "epochs-checkpointed", 2))
    stopped = run_mpipaint("train", "--data", trainset, "--out", bundle, "--epochs", "4", *TINY, ranks=2,
                           check=False)
    assert stopped.returncode == PREEMPTED_EXIT and "stopped on a signal after epoch 2" in stopped.stderr
    assert not (bundle / "bundle.json").exists() and not (bundle.parent / "b.lock").exists()
    assert json.loads((bundle / "checkpoint" / "state.json").read_text())["epoch"] == 2
    monkeypatch.delenv(FAULT_ENV)
    run_mpipaint("train", "--data", trainset, "--out", bundle, "--epochs", "4", *TINY, ranks=2)
    assert_same_bundle(uninterrupted, bundle)


def test_a_checkpoint_that_does_not_fit_the_network_is_refused(trainset, uninterrupted, tmp_path):
    """Resuming reads plain arrays into the rebuilt net and optimizer: an older mpipaint's TensorFlow checkpoint,
    or an array of another dtype, ends with exit 2 naming the checkpoint, before any epoch runs (shapes are
    checked by the same reader: tests/test_bundle.py)."""
    for case in ("older", "dtype"):
        bundle = tmp_path / case / "b"
        shutil.copytree(uninterrupted / "checkpoint", bundle / "checkpoint")
        state_file = bundle / "checkpoint" / "state.json"
        state = json.loads(state_file.read_text())
        if case == "older":
            state_file.write_text(json.dumps({**state, "checkpoint": "epoch-4"}))
        else:
            with np.load(bundle / "checkpoint" / state["checkpoint"]) as saved:
                arrays = {name: saved[name] for name in saved.files}
            np.savez(bundle / "checkpoint" / state["checkpoint"], **{**arrays, "w0": arrays["w0"].astype(np.float64)})
        result = run_mpipaint("train", "--data", trainset, "--out", bundle, "--epochs", "5", *TINY, check=False)
        assert result.returncode == 2, result.stderr
        expected = "a checkpoint of an older mpipaint" if case == "older" else "array w0 holds float64"
        assert expected in result.stderr and str(bundle / "checkpoint") in result.stderr
        assert not (bundle / "bundle.json").exists()


def test_epoch_plans_depend_on_the_epoch_alone():
    shard = np.arange(10, 40)
    order, symmetries = epoch_plan(shard, 3, 1, 5, 24, True)
    again = epoch_plan(shard, 3, 1, 5, 24, True)
    assert np.array_equal(order, again[0]) and np.array_equal(symmetries, again[1])
    assert len(set(order)) == 24 and set(order) <= set(shard) and set(symmetries) <= set(range(SYMMETRIES))
    assert not np.array_equal(order, epoch_plan(shard, 3, 1, 6, 24, True)[0])
    assert not np.array_equal(order, epoch_plan(shard, 3, 0, 5, 24, True)[0])
    assert not epoch_plan(shard, 3, 1, 5, 24, False)[1].any()


def test_predictor_gives_physical_maps_independent_of_batching(trained, trainset):
    import h5py  # noqa: PLC0415

    from mpipaint.model.infer import Predictor  # noqa: PLC0415

    bundle = load_bundle(trained[0])
    with h5py.File(trainset) as f:
        dm, truth = f["dm"][:5], f["xray"][:5]
    by_three = Predictor(bundle, batch_size=3)(dm)  # one full batch, one padded
    # oneDNN picks other float32 kernels for other batch sizes: the network's outputs (0 to ~1) agree to float32
    # rounding accumulated over its ~20 layers, ~20 ulps (1.05e-6 at most here with AVX2 kernels; paint never
    # relies on this: its batches are fixed)
    z_three = normalised_output(Predictor(bundle, batch_size=3), dm)
    np.testing.assert_allclose(z_three, normalised_output(Predictor(bundle, batch_size=1), dm), rtol=0, atol=3e-6)
    assert by_three.shape == truth.shape and (by_three >= 0).all()
    z = bundle.model.predict(Predictor(bundle).normalised_inputs(dm)[0], verbose=0)[..., 0]
    expected = bundle.target_norm.inverse_and_at_bound(z)[0] * bundle.total_scale()
    np.testing.assert_allclose(by_three, expected, rtol=1e-5)


@pytest.fixture(scope="module")
def gas_trained(small_trainset, tmp_path_factory):
    """A tiny gas U-net (its totals within the offsets' bounds after 5 epochs, unlike the X-ray one's), its
    totals calibrated per training redshift where each has 3 training halos."""
    bundle = tmp_path_factory.mktemp("gas") / "gas"
    run_mpipaint("train", "--data", small_trainset, "--out", bundle, "--target", "gas", "--scheme", "4sigma",
                 "--epochs", "5", *TINY_TRAINING, "--min-halos-per-redshift", "3", ranks=2)
    return bundle


def test_targets_trained_in_one_job_are_the_nets_trained_alone_with_their_recipes(gas_trained, trainset,
                                                                                       tmp_path):
    """`--target y gas`: one Horovod job trains y, then gas, each with its recipe into OUT/TARGET; the gas net
    trained after another in the same process is the one trained alone, bit for bit (seeds, Keras session,
    optimizer and batch-norm statistics start afresh for each target)."""
    from mpipaint.options import TARGET_RECIPES  # noqa: PLC0415

    out = tmp_path / "bundles"
    run_mpipaint("train", "--data", trainset, "--out", out, "--target", "y", "gas", "--epochs", "5",
                 *TINY_TRAINING, "--min-halos-per-redshift", "3", ranks=2)
    assert_same_bundle(out / "gas", gas_trained)
    for target in ("y", "gas"):
        meta = json.loads((out / target / "bundle.json").read_text())
        assert meta["target"] == meta["options"]["target"] == target
        assert (meta["architecture"]["head"], meta["mask"]) == TARGET_RECIPES[target]


def test_a_variant_flag_with_several_targets_is_refused_naming_the_recipes(trainset, tmp_path):
    result = run_mpipaint("train", "--data", trainset, "--out", tmp_path / "b", "--target", "xray", "gas",
                          "--mask", check=False)
    assert result.returncode == 2
    assert "xray minmax + mask, gas 4sigma" in result.stderr and not (tmp_path / "b").exists()


def test_recorded_total_offsets_are_the_median_log_errors_of_training_halo_totals(gas_trained, trainset):
    """An independent single-process recomputation of what two ranks measured and removed: the median over
    training halos of log10(predicted / true) map totals, pooled and per training redshift; painted totals
    scaled by exactly 10**-offset at the redshift asked for (linear in z between training redshifts, the
    nearest one's beyond); the validation residual measured after those offsets."""
    import h5py  # noqa: PLC0415

    from mpipaint.science.summaries import totals  # noqa: PLC0415
    from mpipaint.model.bundle import MAX_TOTAL_OFFSET_DEX  # noqa: PLC0415
    from mpipaint.model.infer import Predictor  # noqa: PLC0415

    bundle = load_bundle(gas_trained)
    meta, table = bundle.meta, bundle.meta["total_offset_by_redshift"]
    with h5py.File(trainset) as f:
        keys = np.stack([f["snapshot"][()], f["halo_id"][()]], axis=1)
        redshift = f["redshift"][()]
        dm, truth = f["dm"][()], f["gas"][()]
    raw = Predictor(bundle)(dm) / bundle.total_scale()  # the net's own maps, before any offset
    true_totals, raw_totals = totals("gas", truth, dm, 1.0), totals("gas", raw, dm, 1.0)

    def per_halo(split):
        members = {tuple(h) for h in meta["split_halos"][split]}
        images = np.flatnonzero([tuple(k) in members for k in keys])
        return tuple(stats.means_by_group(keys[images], values[images])[1]
                     for values in (redshift, true_totals, raw_totals))

    z, true, predicted = per_halo("train")
    errors = np.log10(predicted / true)
    assert table["redshift"] == sorted(set(redshift.tolist())) == [0.0, 0.5]
    assert table["halos"] == [int(np.sum(z == value)) for value in table["redshift"]]
    assert np.ptp(table["offset_dex"]) > 1e-3 and np.all(np.abs(table["offset_dex"]) < MAX_TOTAL_OFFSET_DEX)
    for value, offset in zip(table["redshift"], table["offset_dex"]):
        assert offset == pytest.approx(np.median(errors[z == value]), abs=1e-6)
        painted = Predictor(bundle)(dm[:3], value)
        np.testing.assert_allclose(painted[raw[:3] > 0] / raw[:3][raw[:3] > 0], 10.0 ** -offset, rtol=1e-12)
    assert meta["total_offset_dex"] == pytest.approx(np.median(errors), abs=1e-6)
    assert bundle.total_scale() == pytest.approx(10.0 ** -meta["total_offset_dex"])
    assert bundle.total_scale(0.25) == pytest.approx(10.0 ** -np.mean(table["offset_dex"]))  # linear in z
    assert bundle.total_scale(2.0) == pytest.approx(10.0 ** -table["offset_dex"][-1])  # the nearest beyond
    z, true, predicted = per_halo("validation")
    removed = predicted * 10.0 ** -np.interp(z, table["redshift"], table["offset_dex"])
    assert meta["validation_residual_dex"] == pytest.approx(np.sqrt(np.mean(np.log10(true / removed) ** 2)), rel=1e-6)
